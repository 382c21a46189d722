"""The library's error type (:class:`custom.core.errors.InputError`) under its earlier name."""
from custom.core.errors import InputError as CLIError

__all__ = ['CLIError']
