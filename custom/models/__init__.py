"""Registered model parts: backbones, layers, heads, RoI parts and proposal generators."""
from .backbones import *  # noqa: F401,F403
from .dense_heads import *  # noqa: F401,F403
from .layers import *  # noqa: F401,F403
from .proposals import *  # noqa: F401,F403
from .roi_heads import *  # noqa: F401,F403
