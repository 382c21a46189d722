"""Multi-scale windows: several window sizes and aspect ratios slid over the same image.

Shape shorthand: K = windows of one image. Boxes are x1y1x2y2 in network-input pixels.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from mmdet.registry import MODELS
from torch import Tensor

from .base_window_proposals import BaseWindowProposals, grid_windows


@MODELS.register_module()
class MultiScaleWindowProposals(BaseWindowProposals):
    """Windows of every (size, ratio) pair slid over the image (the course's multi-scale
    sliding windows).

    Sizes and ratios follow mmdet's anchor convention: ratio = h / w and the area stays size**2,
    so ``w = size / sqrt(ratio)`` and ``h = size * sqrt(ratio)``. Each (size, ratio) pair gives a
    grid as :class:`SlidingWindowProposals` does (``floor((W - w) / stride_x) + 1`` full windows
    per row, no partial window), ordered size by size, then ratio by ratio.

    Exactly one of ``strides`` and ``relative_stride`` is given.

    Args:
        sizes (Sequence[float]): window sizes (square root of the area), pixels.
        ratios (Sequence[float]): aspect ratios h / w. Defaults to (1.0,).
        strides (Sequence[float], optional): one stride per size, for both axes and all ratios.
        relative_stride (float, optional): stride as a fraction of the window's own width
            (x) and height (y), e.g. 0.25 for windows that overlap by three quarters.
        **kwargs: scoring and post-processing of :class:`BaseWindowProposals`.
    """

    def __init__(self,
                 sizes: Sequence[float],
                 ratios: Sequence[float] = (1.0, ),
                 strides: Sequence[float] | None = None,
                 relative_stride: float | None = None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        name = type(self).__name__
        self.sizes = positive_list(sizes, 'sizes', name)
        self.ratios = positive_list(ratios, 'ratios', name)
        if (strides is None) == (relative_stride is None):
            raise ValueError(f'{name}: give exactly one of strides and relative_stride, got '
                             f'strides={strides!r}, relative_stride={relative_stride!r}')
        if strides is not None:
            self.strides = positive_list(strides, 'strides', name)
            if len(self.strides) != len(self.sizes):
                raise ValueError(f'{name}: strides needs one value per size: '
                                 f'{len(self.sizes)} sizes, {len(self.strides)} strides')
        else:
            if not isinstance(relative_stride, (int, float)) or relative_stride <= 0:
                raise ValueError(f'{name}: relative_stride must be a positive number, '
                                 f'got {relative_stride!r}')
            self.strides = None
        self.relative_stride = relative_stride

    def window_shapes(self) -> list[tuple[float, float, float, float]]:
        """(w, h, stride_x, stride_y) of every (size, ratio) pair, sizes outer, ratios inner."""
        shapes = []
        for i, size in enumerate(self.sizes):
            for ratio in self.ratios:
                win_w, win_h = size / math.sqrt(ratio), size * math.sqrt(ratio)
                if self.strides is not None:
                    stride_x = stride_y = self.strides[i]
                else:
                    stride_x = self.relative_stride * win_w
                    stride_y = self.relative_stride * win_h
                shapes.append((win_w, win_h, stride_x, stride_y))
        return shapes

    def windows_per_scale(self, img_h: int, img_w: int,
                          device: torch.device | str = 'cpu') -> list[tuple[float, Tensor]]:
        """One group at scale 1: the grids of all window shapes. See the base class."""
        grids = [
            grid_windows(img_h, img_w, win_w, win_h, stride_x, stride_y, device)
            for win_w, win_h, stride_x, stride_y in self.window_shapes()
        ]
        return [(1.0, torch.cat(grids))]


def positive_list(values: Sequence[float], name: str, owner: str) -> list[float]:
    """``values`` as a non-empty list of positive floats, or a ValueError naming them."""
    if isinstance(values, (int, float)):
        values = [values]
    values = list(values)
    if not values or not all(isinstance(v, (int, float)) and v > 0 for v in values):
        raise ValueError(f'{owner}: {name} must be a non-empty list of positive numbers, '
                         f'got {values!r}')
    return [float(v) for v in values]
