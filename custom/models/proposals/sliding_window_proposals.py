"""Sliding windows: one window size moved over the image with a fixed stride.

Shape shorthand: K = windows of one image. Boxes are x1y1x2y2 in network-input pixels.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from mmdet.registry import MODELS
from torch import Tensor

from .base_window_proposals import BaseWindowProposals, grid_windows, positive_pair


@MODELS.register_module()
class SlidingWindowProposals(BaseWindowProposals):
    """One window of ``window_size`` slid by ``stride`` over the image (the course's sliding
    window, after the single "equal window").

    An image of size (H, W) gives ``ny * nx`` windows with
    ``nx = floor((W - w) / stride_x) + 1`` and ``ny = floor((H - h) / stride_y) + 1`` (0 when the
    window is larger than the image): windows start at 0 and a last window that would cross the
    border is left out, so every window lies inside the image.

    Args:
        window_size (int | Sequence[int]): w = h, or (w, h), in network-input pixels.
        stride (int | Sequence[int]): one step for both axes, or (stride_x, stride_y).
        **kwargs: scoring and post-processing of :class:`BaseWindowProposals`.
    """

    def __init__(self, window_size: int | Sequence[int], stride: int | Sequence[int],
                 **kwargs) -> None:
        super().__init__(**kwargs)
        name = type(self).__name__
        self.window_size = positive_pair(window_size, 'window_size', name)
        self.stride = positive_pair(stride, 'stride', name)

    def windows_per_scale(self, img_h: int, img_w: int,
                          device: torch.device | str = 'cpu') -> list[tuple[float, Tensor]]:
        """One group at scale 1: the grid of ``window_size`` windows. See the base class."""
        win_w, win_h = self.window_size
        stride_x, stride_y = self.stride
        return [(1.0, grid_windows(img_h, img_w, win_w, win_h, stride_x, stride_y, device))]
