"""Box IoU for the evaluation code, on numpy arrays: mmdet's ``bbox_overlaps``.

Box shorthand: N, G = boxes of the two sets, x1y1x2y2 with COCO's convention (a box is
``x2 - x1`` wide, no +1).
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ['box_iou']


def box_iou(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
    """IoU of every box of ``boxes1`` (N, 4) with every box of ``boxes2`` (G, 4): (N, G)
    float64, 0 where both boxes are empty."""
    from mmdet.structures.bbox import bbox_overlaps
    boxes1 = torch.as_tensor(np.asarray(boxes1, dtype=np.float64).reshape(-1, 4))
    boxes2 = torch.as_tensor(np.asarray(boxes2, dtype=np.float64).reshape(-1, 4))
    return bbox_overlaps(boxes1, boxes2).numpy()
