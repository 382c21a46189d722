"""Hard NMS, Soft-NMS and class-aware batched NMS with ``mmcv.ops``' signatures, on any device.

Shape shorthand: N = candidate boxes, K = kept boxes. Boxes are (x1, y1, x2, y2); ``dets``
are boxes with their (possibly rescored) score appended, (K, 5). ``keep`` holds indices into
the N inputs, highest score first.

``offset`` (0 or 1) is mmcv's legacy pixel convention: a box is ``x2 - x1 + offset`` wide.
"""
from typing import Callable

import numpy as np
import torch
import torchvision
from torch import Tensor

from . import backend_for

ArrayLike = Tensor | np.ndarray

SOFT_NMS_METHODS = {'naive': 0, 'linear': 1, 'gaussian': 2}


def _check_boxes(boxes: Tensor, scores: Tensor, offset: int, op: str) -> None:
    if boxes.dim() != 2 or boxes.size(1) != 4:
        raise ValueError(f'{op}: boxes must have shape (N, 4), got {tuple(boxes.shape)}')
    if scores.dim() != 1 or scores.size(0) != boxes.size(0):
        raise ValueError(f'{op}: scores must have shape (N,) = ({boxes.size(0)},), '
                         f'got {tuple(scores.shape)}')
    if offset not in (0, 1):
        raise ValueError(f'{op}: offset must be 0 or 1, got {offset!r}')


def _as_tensors(boxes: ArrayLike, scores: ArrayLike) -> tuple[Tensor, Tensor, bool]:
    """Accept numpy arrays as mmcv does; report whether results go back to numpy."""
    is_numpy = isinstance(boxes, np.ndarray)
    if is_numpy:
        boxes = torch.from_numpy(boxes)
    if isinstance(scores, np.ndarray):
        scores = torch.from_numpy(scores)
    return boxes, scores, is_numpy


# --- hard NMS kernels: (boxes (N, 4), scores (N,), iou_threshold, offset) -> keep (K,) ---

def _nms_keep_mmcv(boxes: Tensor, scores: Tensor, iou_threshold: float, offset: int) -> Tensor:
    if boxes.dtype != torch.float32:  # mmcv's CPU kernel reads float32 only
        return _nms_keep_torchvision(boxes, scores, iou_threshold, offset)
    from mmcv.ops import nms as mmcv_nms
    return mmcv_nms(boxes, scores, iou_threshold, offset=offset)[1]


def _nms_keep_torchvision(boxes: Tensor, scores: Tensor, iou_threshold: float,
                          offset: int) -> Tensor:
    if offset:
        # A box x2 - x1 + 1 wide is the box with x2 moved by 1; the IoU is then the same.
        boxes = boxes + boxes.new_tensor([0, 0, offset, offset])
    return torchvision.ops.nms(boxes, scores, float(iou_threshold))


NMS_KERNELS: dict[str, Callable[[Tensor, Tensor, float, int], Tensor]] = {
    'mmcv': _nms_keep_mmcv,
    'torchvision': _nms_keep_torchvision,
}


def nms(boxes: ArrayLike,
        scores: ArrayLike,
        iou_threshold: float,
        offset: int = 0,
        score_threshold: float = 0,
        max_num: int = -1) -> tuple[ArrayLike, ArrayLike]:
    """Hard NMS: drop every box whose IoU with a higher-scoring kept box exceeds the threshold.

    Same signature and results as ``mmcv.ops.nms``; the kernel is chosen per device by
    ``custom.ops.OP_BACKENDS['nms']``.

    Args:
        boxes (Tensor | ndarray): (N, 4) boxes.
        scores (Tensor | ndarray): (N,) scores.
        iou_threshold (float): A box is suppressed when its IoU is > this.
        offset (int): 0 or 1, see the module docstring. Defaults to 0.
        score_threshold (float): If > 0, boxes scoring <= it are dropped first. Defaults to 0.
        max_num (int): If > 0, keep at most this many boxes. Defaults to -1.

    Returns:
        tuple: dets (K, 5) and keep (K,), as numpy arrays when ``boxes`` is one.
    """
    boxes, scores, is_numpy = _as_tensors(boxes, scores)
    _check_boxes(boxes, scores, offset, 'nms')
    valid_inds = None
    if score_threshold > 0:
        valid_mask = scores > score_threshold
        boxes, scores = boxes[valid_mask], scores[valid_mask]
        valid_inds = torch.nonzero(valid_mask, as_tuple=False).squeeze(dim=1)

    if boxes.numel() == 0:
        keep = torch.empty(0, dtype=torch.long, device=boxes.device)
    else:
        kernel = NMS_KERNELS[backend_for('nms', boxes.device)]
        keep = kernel(boxes, scores, float(iou_threshold), offset)
    if max_num > 0:
        keep = keep[:max_num]
    dets = torch.cat((boxes[keep], scores[keep].reshape(-1, 1)), dim=1)
    if valid_inds is not None:
        keep = valid_inds[keep]
    if is_numpy:
        return dets.cpu().numpy(), keep.cpu().numpy()
    return dets, keep


# --- Soft-NMS kernels: (boxes, scores, iou_threshold, sigma, min_score, method id, offset)
#     -> (dets (K, 5), keep (K,)) ---

def _soft_nms_mmcv(boxes: Tensor, scores: Tensor, iou_threshold: float, sigma: float,
                   min_score: float, method: int, offset: int) -> tuple[Tensor, Tensor]:
    if boxes.dtype != torch.float32:  # mmcv's CPU kernel reads float32 only
        return _soft_nms_torch(boxes, scores, iou_threshold, sigma, min_score, method, offset)
    from mmcv.ops import soft_nms as mmcv_soft_nms
    method_name = {v: k for k, v in SOFT_NMS_METHODS.items()}[method]
    return mmcv_soft_nms(boxes, scores, iou_threshold, sigma, min_score, method_name, offset)


def _soft_nms_weights(ovr: Tensor, iou_threshold: float, sigma: float, method: int) -> Tensor:
    """Score multipliers for boxes overlapping the current top box by ``ovr``."""
    if method == SOFT_NMS_METHODS['gaussian']:
        return torch.exp(-(ovr * ovr) / sigma)
    suppressed = ovr >= iou_threshold
    if method == SOFT_NMS_METHODS['naive']:
        return torch.where(suppressed, torch.zeros_like(ovr), torch.ones_like(ovr))
    return torch.where(suppressed, 1 - ovr, torch.ones_like(ovr))


def _swap_from_last_order(drop: Tensor) -> Tensor:
    """Order of the survivors after mmcv's in-place removal.

    mmcv removes a box by moving the last live box into its slot and re-checking that slot,
    so the first dropped slot gets the last survivor, the next one the survivor before it, and
    so on. The order matters: ties in the next arg-max go to the first slot.

    Args:
        drop (Tensor): (M,) bool, the boxes after the current top box that fall below
            ``min_score``.

    Returns:
        Tensor: (M - dropped,) positions (into the M) of the survivors, in their new order.
    """
    positions = torch.arange(drop.numel(), device=drop.device)
    num_kept = int((~drop).sum())
    order = positions[:num_kept].clone()
    holes = drop[:num_kept]
    order[holes] = positions[num_kept:][~drop[num_kept:]].flip(0)
    return order


def _soft_nms_torch(boxes: Tensor, scores: Tensor, iou_threshold: float, sigma: float,
                    min_score: float, method: int, offset: int) -> tuple[Tensor, Tensor]:
    """mmcv's Soft-NMS loop, one vectorised rescoring step per kept box, on any device.

    It follows mmcv's kernel step by step (selection by first arg-max, in-place swap, removal
    by moving the last box in), so boxes, scores and indices come out equal, ties included.
    """
    boxes, scores = boxes.detach(), scores.detach()  # as mmcv's: no gradient through NMS
    num = boxes.size(0)
    x1, y1, x2, y2 = boxes.unbind(1)
    areas = (x2 - x1 + offset) * (y2 - y1 + offset)
    # Columns: x1, y1, x2, y2, score, area; rows are permuted in place like mmcv's arrays.
    state = torch.stack((x1, y1, x2, y2, scores, areas), dim=1)
    inds = torch.arange(num, device=boxes.device)
    live = num
    i = 0
    while i < live:
        top = i + int(torch.argmax(state[i:live, 4]))
        if top != i:
            state[[i, top]] = state[[top, i]]
            inds[[i, top]] = inds[[top, i]]
        rest = state[i + 1:live]
        if rest.numel():
            xx1 = torch.maximum(state[i, 0], rest[:, 0])
            yy1 = torch.maximum(state[i, 1], rest[:, 1])
            xx2 = torch.minimum(state[i, 2], rest[:, 2])
            yy2 = torch.minimum(state[i, 3], rest[:, 3])
            inter = (xx2 - xx1 + offset).clamp(min=0) * (yy2 - yy1 + offset).clamp(min=0)
            ovr = inter / (state[i, 5] + rest[:, 5] - inter)
            rest[:, 4] *= _soft_nms_weights(ovr, iou_threshold, sigma, method)
            drop = rest[:, 4] < min_score
            if bool(drop.any()):
                order = _swap_from_last_order(drop)
                state[i + 1:i + 1 + order.numel()] = rest[order]
                inds[i + 1:i + 1 + order.numel()] = inds[i + 1:live][order]
                live = i + 1 + order.numel()
        i += 1
    return state[:live, :5].clone(), inds[:live]


SOFT_NMS_KERNELS: dict[str, Callable[..., tuple[Tensor, Tensor]]] = {
    'mmcv': _soft_nms_mmcv,
    'torch': _soft_nms_torch,
}


def soft_nms(boxes: ArrayLike,
             scores: ArrayLike,
             iou_threshold: float = 0.3,
             sigma: float = 0.5,
             min_score: float = 1e-3,
             method: str = 'linear',
             offset: int = 0) -> tuple[ArrayLike, ArrayLike]:
    """Soft-NMS (Bodla et al., 2017): lower overlapping boxes' scores instead of dropping them.

    Same signature and results as ``mmcv.ops.soft_nms``; the kernel is chosen per device by
    ``custom.ops.OP_BACKENDS['soft_nms']``. Repeatedly the highest-scoring box is kept and
    every remaining box's score is multiplied by a weight of its IoU ``o`` with it:
    ``'linear'``: ``1 - o`` if ``o >= iou_threshold`` else 1; ``'gaussian'``:
    ``exp(-o**2 / sigma)``; ``'naive'``: 0 if ``o >= iou_threshold`` else 1 (hard NMS).
    Boxes whose score falls below ``min_score`` are dropped.

    Args:
        boxes (Tensor | ndarray): (N, 4) boxes.
        scores (Tensor | ndarray): (N,) scores.
        iou_threshold (float): IoU from which 'linear' and 'naive' act. Defaults to 0.3.
        sigma (float): Width of the 'gaussian' penalty. Defaults to 0.5.
        min_score (float): Boxes rescored below this are dropped. Defaults to 1e-3.
        method (str): 'linear', 'gaussian' or 'naive'. Defaults to 'linear'.
        offset (int): 0 or 1, see the module docstring. Defaults to 0.

    Returns:
        tuple: dets (K, 5) with the rescored scores, in selection order, and keep (K,), on the
        input's device, or numpy arrays when ``boxes`` is one.
    """
    boxes, scores, is_numpy = _as_tensors(boxes, scores)
    _check_boxes(boxes, scores, offset, 'soft_nms')
    if method not in SOFT_NMS_METHODS:
        raise ValueError(f'soft_nms: method must be one of {sorted(SOFT_NMS_METHODS)}, '
                         f'got {method!r}')
    if boxes.numel() == 0:
        dets = boxes.new_zeros((0, 5))
        keep = torch.empty(0, dtype=torch.long, device=boxes.device)
    else:
        kernel = SOFT_NMS_KERNELS[backend_for('soft_nms', boxes.device)]
        dets, keep = kernel(boxes, scores, float(iou_threshold), float(sigma),
                            float(min_score), SOFT_NMS_METHODS[method], int(offset))
    if is_numpy:
        return dets.cpu().numpy(), keep.cpu().numpy()
    return dets.to(boxes.device), keep.to(boxes.device)


NMS_OPS: dict[str, Callable[..., tuple[Tensor, Tensor]]] = {'nms': nms, 'soft_nms': soft_nms}


def _offset_per_class(boxes: Tensor, idxs: Tensor) -> Tensor:
    """Shift each class's boxes into its own region so that classes never overlap.

    The shift, class id * (largest coordinate + 1), is torchvision's and mmcv's trick.
    """
    max_coordinate = boxes.max()
    offsets = idxs.to(boxes) * (max_coordinate + torch.tensor(1).to(boxes))
    return boxes + offsets[:, None]


def batched_nms(boxes: Tensor,
                scores: Tensor,
                idxs: Tensor,
                nms_cfg: dict | None,
                class_agnostic: bool = False) -> tuple[Tensor, Tensor]:
    """NMS within each group (class or level) of boxes, never across groups.

    Same signature and results as ``mmcv.ops.batched_nms``, with this module's device-portable
    ``nms`` and ``soft_nms``.

    Args:
        boxes (Tensor): (N, 4) boxes.
        scores (Tensor): (N,) scores.
        idxs (Tensor): (N,) group id of each box.
        nms_cfg (dict | None): ``type`` ('nms' (default), 'soft_nms' or a callable with
            their signature) and that op's arguments, e.g. ``iou_threshold``; optional
            ``class_agnostic`` (bool) and ``split_thr`` (int, default 10000: from this many
            boxes on, NMS runs group by group to bound memory; ``max_num`` then caps the
            result). None skips NMS and only sorts by score.
        class_agnostic (bool): Ignore the groups. Defaults to False.

    Returns:
        tuple: dets (K, 5) sorted by score, and keep (K,) indices into the N boxes.
    """
    if nms_cfg is None:
        scores, inds = scores.sort(descending=True)
        return torch.cat([boxes[inds], scores[:, None]], -1), inds
    if boxes.dim() != 2 or boxes.size(-1) != 4:
        raise ValueError(f'batched_nms: boxes must have shape (N, 4), got {tuple(boxes.shape)}')
    if boxes.numel() == 0:  # mmcv's version fails here, on the class offsets' max()
        return boxes.new_zeros((0, 5)), torch.empty(0, dtype=torch.long, device=boxes.device)

    nms_cfg_ = dict(nms_cfg)
    class_agnostic = nms_cfg_.pop('class_agnostic', class_agnostic)
    boxes_for_nms = boxes if class_agnostic else _offset_per_class(boxes, idxs)

    nms_op = nms_cfg_.pop('type', 'nms')
    if isinstance(nms_op, str):
        if nms_op not in NMS_OPS:
            raise ValueError(f'batched_nms: nms_cfg type must be one of {sorted(NMS_OPS)} or '
                             f'a callable, got {nms_op!r}')
        nms_op = NMS_OPS[nms_op]

    split_thr = nms_cfg_.pop('split_thr', 10000)
    if boxes_for_nms.shape[0] < split_thr:
        dets, keep = nms_op(boxes_for_nms, scores, **nms_cfg_)
        boxes = boxes[keep]
        scores = dets[:, -1]
    else:
        max_num = nms_cfg_.pop('max_num', -1)
        total_mask = scores.new_zeros(scores.size(), dtype=torch.bool)
        # Soft-NMS rescores, so keep the scores NMS returns, not the inputs.
        scores_after_nms = scores.new_zeros(scores.size())
        for group in torch.unique(idxs):
            mask = (idxs == group).nonzero(as_tuple=False).view(-1)
            dets, keep = nms_op(boxes_for_nms[mask], scores[mask], **nms_cfg_)
            total_mask[mask[keep]] = True
            scores_after_nms[mask[keep]] = dets[:, -1]
        keep = total_mask.nonzero(as_tuple=False).view(-1)
        scores, inds = scores_after_nms[keep].sort(descending=True)
        keep = keep[inds]
        boxes = boxes[keep]
        if max_num > 0:
            keep, boxes, scores = keep[:max_num], boxes[:max_num], scores[:max_num]
    return torch.cat([boxes, scores[:, None]], -1), keep
