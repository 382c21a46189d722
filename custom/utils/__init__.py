"""Small utilities shared by the package and the tools."""
from .safe_load import (
                        UnsafeCheckpointError,
                        install_safe_loading,
                        load_checkpoint_safely,
                        safe_globals,
)

__all__ = [
    'UnsafeCheckpointError', 'install_safe_loading', 'load_checkpoint_safely', 'safe_globals'
]
