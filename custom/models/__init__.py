"""Registered model parts: backbones, data preprocessors, layers, heads, RoI parts, proposal
generators and task modules (assigners, samplers, box coders, IoU)."""
from .backbones import *  # noqa: F401,F403
from .data_preprocessors import *  # noqa: F401,F403
from .dense_heads import *  # noqa: F401,F403
from .layers import *  # noqa: F401,F403
from .proposals import *  # noqa: F401,F403
from .roi_heads import *  # noqa: F401,F403
from .task_modules import *  # noqa: F401,F403
