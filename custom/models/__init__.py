"""Registered model parts: backbones, layers, window proposal generators, the iterative RoI
head, and the ``sync_free`` parts (mmdet's classes, computed without host waits)."""
from .backbones import *  # noqa: F401,F403
from .layers import *  # noqa: F401,F403
from .prior_generators import *  # noqa: F401,F403
from .proposals import *  # noqa: F401,F403
from .roi_heads import *  # noqa: F401,F403
from .sync_free import *  # noqa: F401,F403
