"""Box overlaps and greedy suppression: the one home of both.

Box shorthand: N, M = boxes of the two sets, (x1, y1, x2, y2) in pixels with COCO's
convention (a box is ``x2 - x1`` wide, no +1).

- :func:`box_iou`: intersection over union, every box of one set with every box of another
  (mmdet's ``bbox_overlaps``); the evaluation code (confusion matrix, proposal recall) and
  the course's NMS use it.
- :func:`intersection_over_smaller`: intersection over the smaller of the two boxes' areas. A
  box cut at a tile's border lies inside the whole object's box: its IoU with it is its share
  of the object, but its intersection over the smaller box is 1 (sliced inference's merge).
- :func:`greedy_suppression`: the course's NMS loop with the overlap measure as a parameter.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import Tensor

__all__ = ['box_iou', 'intersection_over_smaller', 'greedy_suppression', 'OVERLAPS']


def _pairwise(boxes1, boxes2, mode: str):
    from mmdet.structures.bbox import bbox_overlaps
    if isinstance(boxes1, Tensor) and isinstance(boxes2, Tensor):
        return bbox_overlaps(boxes1.reshape(-1, 4), boxes2.reshape(-1, 4), mode=mode)
    boxes1 = torch.as_tensor(np.asarray(boxes1, dtype=np.float64).reshape(-1, 4))
    boxes2 = torch.as_tensor(np.asarray(boxes2, dtype=np.float64).reshape(-1, 4))
    return bbox_overlaps(boxes1, boxes2, mode=mode).numpy()


def box_iou(boxes1: Tensor | np.ndarray, boxes2: Tensor | np.ndarray) -> Tensor | np.ndarray:
    """IoU of every box of ``boxes1`` (N, 4) with every box of ``boxes2`` (M, 4).

    Returns:
        Tensor | ndarray: (N, M), 0 where both boxes are empty; a tensor for two tensors,
        else a float64 array.
    """
    return _pairwise(boxes1, boxes2, 'iou')


def intersection_over_smaller(boxes1: Tensor | np.ndarray,
                              boxes2: Tensor | np.ndarray) -> Tensor | np.ndarray:
    """Intersection of every box of ``boxes1`` (N, 4) with every box of ``boxes2`` (M, 4)
    over the smaller of the two areas: (N, M), a tensor for two tensors, else float64."""
    # Over the smaller area is the larger of mmdet's two intersection-over-foreground ratios.
    over_first = _pairwise(boxes1, boxes2, 'iof')
    over_second = _pairwise(boxes2, boxes1, 'iof').T
    if isinstance(over_first, Tensor):
        return torch.maximum(over_first, over_second)
    return np.maximum(over_first, over_second)


OVERLAPS: dict[str, Callable] = {'iou': box_iou, 'ios': intersection_over_smaller}


def greedy_suppression(boxes: Tensor, scores: Tensor, threshold: float,
                       overlap: str | Callable = 'iou') -> Tensor:
    """Indices of the boxes greedy suppression keeps, best score first.

    Sort by score; keep the best remaining box; drop every remaining box whose overlap with
    it is above ``threshold``; repeat. With ``overlap='iou'`` this is NMS.

    Args:
        boxes (Tensor): (N, 4) boxes.
        scores (Tensor): (N,) their scores.
        threshold (float): A box is dropped when its overlap with a kept box is above this.
        overlap (str | Callable): ``'iou'`` (:func:`box_iou`), ``'ios'``
            (:func:`intersection_over_smaller`) or a function of two box sets (N, 4),
            (M, 4) giving (N, M). Defaults to 'iou'.

    Returns:
        Tensor: (K,) long indices into the N boxes, in descending score order (ties keep
        their input order).
    """
    measure = OVERLAPS[overlap] if isinstance(overlap, str) else overlap
    order = scores.argsort(descending=True, stable=True)
    keep = []
    while order.numel():
        best, order = order[0], order[1:]
        keep.append(best)
        order = order[measure(boxes[best][None], boxes[order])[0] <= threshold]
    if not keep:
        return torch.empty(0, dtype=torch.long, device=boxes.device)
    return torch.stack(keep)
