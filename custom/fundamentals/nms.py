"""Non-maximum suppression as the course states it, in a few readable lines.

Detectors propose many overlapping boxes for one object. NMS keeps the best of each cluster:

1. sort the boxes by score, best first;
2. keep the best remaining box;
3. drop every remaining box whose IoU with it is above the threshold;
4. repeat from 2 until no box remains.

This is the algorithm, written out as the course states it; the detectors run the same one
through fast kernels (mmcv's ``nms`` on ``mmcv_lite_ext``, i.e. torchvision's), a test checks
that both keep the same boxes, and :func:`custom.core.boxes.greedy_suppression` is the same
loop with the overlap measure as a parameter (sliced inference merges with it). IoU is
:func:`custom.core.boxes.box_iou`.

Shape shorthand: N = boxes, K = kept boxes. Boxes are (x1, y1, x2, y2).
"""
import torch
from torch import Tensor

from custom.core.boxes import box_iou


def greedy_nms(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Indices of the boxes NMS keeps, best first.

    Args:
        boxes (Tensor): (N, 4) boxes.
        scores (Tensor): (N,) their scores.
        iou_threshold (float): A box is dropped when its IoU with a kept box is above this.

    Returns:
        Tensor: (K,) long indices into the N boxes, in descending score order.
    """
    order = scores.argsort(descending=True, stable=True)  # 1. best first
    keep = []
    while order.numel() > 0:
        best = order[0]  # 2. keep the best remaining box
        keep.append(best)
        rest = order[1:]
        overlaps = box_iou(boxes[best][None], boxes[rest])[0]  # (1, N) -> (N,)
        order = rest[overlaps <= iou_threshold]  # 3. drop the ones it overlaps; 4. repeat
    return torch.stack(keep) if keep else torch.empty(0, dtype=torch.long)
