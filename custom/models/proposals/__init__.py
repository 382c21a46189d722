"""Learning-free window proposal generators with the RPN's interface (the road to detection)."""
from .base_window_proposals import BaseWindowProposals
from .image_pyramid_proposals import ImagePyramidProposals
from .multi_scale_window_proposals import MultiScaleWindowProposals
from .sliding_window_proposals import SlidingWindowProposals

__all__ = [
    'BaseWindowProposals', 'ImagePyramidProposals', 'MultiScaleWindowProposals',
    'SlidingWindowProposals'
]
