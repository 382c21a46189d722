"""Hard NMS, Soft-NMS and NMS matching with mmcv's extension signatures.

Shape shorthand: N = boxes, K = kept boxes. Boxes are (x1, y1, x2, y2). ``offset`` (0 or 1)
is mmcv's legacy pixel convention: a box is ``x2 - x1 + offset`` wide.

Hard NMS runs torchvision's kernel on the boxes' device. mmcv's Python wrappers move Soft-NMS
and NMS matching to the CPU before they call these functions; both are greedy loops whose
every step depends on the last, so they run one vectorised step per kept box in numpy.
"""
import numpy as np
import torch
import torchvision
from torch import Tensor

SOFT_NMS_NAIVE, SOFT_NMS_LINEAR, SOFT_NMS_GAUSSIAN = 0, 1, 2  # mmcv's ``method`` codes


def nms(boxes: Tensor, scores: Tensor, iou_threshold: float, offset: int) -> Tensor:
    """mmcv's ``nms``: indices of the boxes kept, highest score first.

    A box is dropped when its IoU with a higher-scoring kept box is > ``iou_threshold``.

    Args:
        boxes (Tensor): (N, 4) boxes.
        scores (Tensor): (N,) scores.
        iou_threshold (float): Suppression threshold.
        offset (int): 0 or 1, see the module docstring.

    Returns:
        Tensor: (K,) long indices into the N boxes, on their device.
    """
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.long, device=boxes.device)
    dtype = torch.promote_types(boxes.dtype, scores.dtype)
    if dtype in (torch.float16, torch.bfloat16):
        dtype = torch.float32
    boxes, scores = boxes.to(dtype), scores.to(dtype)
    if offset:
        # A box x2 - x1 + 1 wide is the box with x2 moved by 1: same areas and intersections.
        boxes = boxes + boxes.new_tensor([0, 0, offset, offset])
    return torchvision.ops.nms(boxes, scores, float(iou_threshold))


def _overlaps(box: np.ndarray, others: np.ndarray, offset: float) -> np.ndarray:
    """(M,) IoU of one box (4,) with each of ``others`` (M, 4+), with areas in column 5."""
    width = np.maximum(0, np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0])
                       + offset)
    height = np.maximum(0, np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1])
                        + offset)
    inter = width * height
    with np.errstate(invalid='ignore', divide='ignore'):  # empty boxes: NaN, as the kernel
        return inter / (box[5] + others[:, 5] - inter)


def _survivor_order(drop: np.ndarray) -> np.ndarray:
    """Positions of the boxes that stay, in the order mmcv's in-place removal leaves them.

    mmcv removes a box by moving the last live box into its slot and re-examining that slot,
    so the first dropped slot gets the last survivor, the next one the survivor before it, and
    so on. The order matters: ties in the next arg-max go to the first slot.

    Args:
        drop (ndarray): (M,) bool, the boxes after the current top box that fall below
            ``min_score``.

    Returns:
        ndarray: (M - dropped,) positions (into the M) of the survivors, in their new order.
    """
    num_kept = int((~drop).sum())
    order = np.arange(num_kept)
    tail = np.arange(num_kept, drop.size)[~drop[num_kept:]]
    order[drop[:num_kept]] = tail[::-1]
    return order


def softnms(boxes: Tensor, scores: Tensor, dets: Tensor, iou_threshold: float, sigma: float,
            min_score: float, method: int, offset: int) -> Tensor:
    """mmcv's ``softnms`` (Bodla et al., 2017): rescore overlapping boxes instead of dropping.

    Repeatedly the highest-scoring remaining box is kept, and every other remaining box's
    score is multiplied by a weight of its IoU ``o`` with it: naive (0): 0 if
    ``o >= iou_threshold`` else 1; linear (1): ``1 - o`` if ``o >= iou_threshold`` else 1;
    gaussian (2): ``exp(-o**2 / sigma)``. Boxes rescored below ``min_score`` are dropped.
    The kept boxes and their order equal mmcv's kernel's, ties included.

    Args:
        boxes (Tensor): (N, 4) CPU boxes.
        scores (Tensor): (N,) CPU scores.
        dets (Tensor): (N, 5) CPU float32; its first K rows are written with the kept boxes
            and their new scores, in selection order.
        iou_threshold (float): IoU from which naive and linear act.
        sigma (float): Width of the gaussian penalty.
        min_score (float): Boxes rescored below this are dropped.
        method (int): 0, 1 or 2, see above.
        offset (int): 0 or 1, see the module docstring.

    Returns:
        Tensor: (K,) long indices into the N boxes, in selection order.
    """
    num = boxes.size(0)
    if num == 0:
        return torch.empty(0, dtype=torch.long)
    x1, y1, x2, y2 = boxes.detach().float().numpy().T
    # Columns: x1, y1, x2, y2, score, area; rows are permuted in place like mmcv's arrays.
    state = np.stack((x1, y1, x2, y2, scores.detach().float().numpy(),
                      (x2 - x1 + offset) * (y2 - y1 + offset)), axis=1).astype(np.float32)
    # The kernel compares in float32; so do we, so that boxes at the thresholds agree.
    iou_threshold, sigma, min_score = np.float32([iou_threshold, sigma, min_score])
    inds = np.arange(num)
    live = num
    i = 0
    while i < live:
        top = i + int(np.argmax(state[i:live, 4]))  # the first of equal maxima, as mmcv
        if top != i:
            state[[i, top]] = state[[top, i]]
            inds[[i, top]] = inds[[top, i]]
        rest = state[i + 1:live]
        if len(rest):
            ovr = _overlaps(state[i], rest, np.float32(offset))
            if method == SOFT_NMS_GAUSSIAN:
                # The argument in float32 as the kernel computes it, its exponential
                # correctly rounded to float32 (as the C library's expf).
                weight = np.exp((-(ovr * ovr) / sigma).astype(np.float64)).astype(np.float32)
            elif method == SOFT_NMS_LINEAR:
                weight = np.where(ovr >= iou_threshold, 1 - ovr, np.float32(1))
            else:
                weight = np.where(ovr >= iou_threshold, np.float32(0), np.float32(1))
            rest[:, 4] *= weight
            drop = rest[:, 4] < min_score
            if drop.any():
                order = _survivor_order(drop)
                state[i + 1:i + 1 + order.size] = rest[order]
                inds[i + 1:i + 1 + order.size] = inds[i + 1:live][order]
                live = i + 1 + order.size
        i += 1
    dets[:live] = torch.from_numpy(state[:live, :5])
    return torch.from_numpy(inds[:live].copy())


def nms_match(dets: Tensor, iou_threshold: float) -> list[list[int]]:
    """mmcv's ``nms_match``: group each box with the kept box that suppresses it.

    Greedy as hard NMS, highest score first, but without ``offset`` and suppressing at
    IoU >= ``iou_threshold``; each group is the kept box's index followed by the boxes it
    suppressed, in score order.

    Args:
        dets (Tensor): (N, 5) CPU boxes with their scores.
        iou_threshold (float): Suppression threshold.

    Returns:
        list[list[int]]: The groups, in the order their kept boxes were selected.
    """
    values = dets.detach().float().numpy()
    boxes = np.concatenate(
        (values[:, :4], values[:, 4:5],
         ((values[:, 2] - values[:, 0]) * (values[:, 3] - values[:, 1]))[:, None]), axis=1)
    order = torch.from_numpy(values[:, 4]).sort(descending=True)[1].numpy()
    iou_threshold = np.float32(iou_threshold)
    suppressed = np.zeros(len(values), dtype=bool)
    groups = []
    for rank, i in enumerate(order):
        if suppressed[i]:
            continue
        later = order[rank + 1:]
        later = later[~suppressed[later]]
        matched = later[_overlaps(boxes[i], boxes[later], np.float32(0)) >= iou_threshold]
        suppressed[matched] = True
        groups.append([int(i)] + matched.tolist())
    return groups
