"""Image pyramid: one fixed window slid over rescaled copies of the image.

Shape shorthand: K = windows of one image, K_s = windows found at pyramid scale s. Boxes are
x1y1x2y2 in network-input pixels.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from mmdet.registry import MODELS
from torch import Tensor

from .base_window_proposals import BaseWindowProposals, grid_windows, positive_pair
from .multi_scale_window_proposals import positive_list

# Absorbs float error in H * scale so that e.g. 100 * 0.7 counts as 70 pixels, not 69.
_SIZE_EPS = 1e-6


def rescaled_size(length: int, scale: float) -> int:
    """Pixels of an image side of ``length`` rescaled by ``scale``: ``floor(length * scale)``.

    Flooring keeps every window of the rescaled image inside the original once mapped back.
    """
    return math.floor(length * scale + _SIZE_EPS)


@MODELS.register_module()
class ImagePyramidProposals(BaseWindowProposals):
    """One ``window_size`` window slid by ``stride`` over the image rescaled by each of
    ``scales`` (the course's image pyramid); windows are mapped back by dividing by the scale.

    At scale s the image is ``floor(H * s) x floor(W * s)`` and gives
    ``(floor((floor(H * s) - h) / stride_y) + 1) * (floor((floor(W * s) - w) / stride_x) + 1)``
    windows (0 when the window does not fit); on the original image they are windows of
    ``w / s x h / s`` every ``stride / s`` pixels. With a feature score a window is
    scored on the feature map rescaled by s, as a detector looking at the rescaled image would.

    Args:
        window_size (int | Sequence[int]): w = h, or (w, h), in pixels of the rescaled image.
        stride (int | Sequence[int]): one step for both axes, or (stride_x, stride_y).
        scales (Sequence[float]): image scales of the pyramid, e.g. (2.0, 1.0, 0.5); a scale
            above 1 finds objects smaller than the window.
        **kwargs: scoring and post-processing of :class:`BaseWindowProposals`.
    """

    def __init__(self, window_size: int | Sequence[int], stride: int | Sequence[int],
                 scales: Sequence[float], **kwargs) -> None:
        super().__init__(**kwargs)
        name = type(self).__name__
        self.window_size = positive_pair(window_size, 'window_size', name)
        self.stride = positive_pair(stride, 'stride', name)
        self.scales = positive_list(scales, 'scales', name)

    def windows_per_scale(self, img_h: int, img_w: int,
                          device: torch.device | str = 'cpu') -> list[tuple[float, Tensor]]:
        """One group per pyramid scale, boxes on the rescaled image. See the base class."""
        win_w, win_h = self.window_size
        stride_x, stride_y = self.stride
        return [(scale,
                 grid_windows(rescaled_size(img_h, scale), rescaled_size(img_w, scale), win_w,
                              win_h, stride_x, stride_y, device)) for scale in self.scales]
