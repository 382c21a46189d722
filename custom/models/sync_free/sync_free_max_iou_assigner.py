"""Max-IoU assignment without host synchronisations.

Shape shorthand: G = ground-truth boxes of one image, N = priors (anchors or proposals).
"""
import contextlib
from typing import Iterator, Optional

import torch
from mmdet.models.task_modules.assigners import AssignResult, MaxIoUAssigner
from mmdet.registry import TASK_UTILS
from mmengine.structures import InstanceData
from torch import Tensor


@TASK_UTILS.register_module()
class SyncFreeMaxIoUAssigner(MaxIoUAssigner):
    """mmdet's ``MaxIoUAssigner`` with the same assignment, computed without leaving the GPU.

    mmdet's ``assign_wrt_overlaps`` writes through boolean masks, runs a Python loop over the
    ground truths for low-quality matches (two host synchronisations per box) and ends with a
    ``nonzero``: on CUDA each of those waits for the GPU to finish all queued work. For the
    RPN of a batch of 8 with a few boxes per image that is about a hundred waits per training
    step. Here each step is a whole-tensor ``torch.where``, ``amax`` or ``argmax``; the result
    equals mmdet's for every setting (tested on ties, ignored priors, both low-quality modes).

    ``pred_instances`` may also carry ``valid_flags`` (N,) bool: priors flagged False (an
    RPN's anchors outside the image) are assigned to none (-1) and take no part in matching,
    the same assignment as running on the valid priors alone, without the boolean-mask
    indexing (a host synchronisation) that selecting them would take.

    Same arguments as ``MaxIoUAssigner``; the IoU calculator defaults to
    :class:`SyncFreeBboxOverlaps2D` (mmdet's ``BboxOverlaps2D`` values, no wait).
    """

    _ignored_priors: Optional[Tensor] = None  # (N,) bool, set only inside ``assign``

    def __init__(self, *args,
                 iou_calculator: dict = dict(type='SyncFreeBboxOverlaps2D'),
                 **kwargs) -> None:
        super().__init__(*args, iou_calculator=iou_calculator, **kwargs)

    def assign(self,
               pred_instances: InstanceData,
               gt_instances: InstanceData,
               gt_instances_ignore: Optional[InstanceData] = None,
               **kwargs) -> AssignResult:
        """mmdet's ``assign``, honouring ``pred_instances.valid_flags`` when present.

        Args:
            pred_instances (InstanceData): ``priors`` (N, 4); optional ``valid_flags`` (N,).
            gt_instances (InstanceData): ``bboxes`` (G, 4) and ``labels`` (G,).
            gt_instances_ignore (InstanceData, optional): ``bboxes`` to ignore.

        Returns:
            AssignResult: as ``MaxIoUAssigner.assign``; invalid priors get ``gt_inds`` -1.
        """
        valid = pred_instances.get('valid_flags')
        with self._ignoring(None if valid is None else ~valid):
            return super().assign(pred_instances, gt_instances, gt_instances_ignore, **kwargs)

    @contextlib.contextmanager
    def _ignoring(self, ignored: Optional[Tensor]) -> Iterator[None]:
        """Let ``assign_wrt_overlaps`` see which priors ``assign`` was told to leave out."""
        self._ignored_priors = ignored
        try:
            yield
        finally:
            self._ignored_priors = None

    def assign_wrt_overlaps(self, overlaps: Tensor, gt_labels: Tensor) -> AssignResult:
        """Assign each prior to a ground truth (index + 1), to background (0) or to none (-1).

        Args:
            overlaps (Tensor): (G, N) IoU of each ground truth with each prior; -1 marks a
                prior to ignore.
            gt_labels (Tensor): (G,) labels of the ground truths.

        Returns:
            AssignResult: ``gt_inds`` (N,), ``max_overlaps`` (N,), ``labels`` (N,).
        """
        num_gts, num_priors = overlaps.shape
        if self._ignored_priors is not None:
            # IoU -1: neither positive nor negative, and never a ground truth's best prior.
            overlaps = overlaps.masked_fill(self._ignored_priors.to(overlaps.device), -1)
        if num_gts == 0 or num_priors == 0:
            return self._assign_without_gts_or_priors(overlaps, gt_labels)

        max_overlaps, argmax_overlaps = overlaps.max(dim=0)
        gt_max_overlaps, gt_argmax_overlaps = overlaps.max(dim=1)
        unassigned = overlaps.new_full((num_priors, ), -1, dtype=torch.long)
        assigned = torch.where(self._negative(max_overlaps), 0, unassigned)
        assigned = torch.where(max_overlaps >= self.pos_iou_thr, argmax_overlaps + 1, assigned)
        if self.match_low_quality:
            low_quality = self._low_quality_matches(overlaps, gt_max_overlaps,
                                                    gt_argmax_overlaps)
            assigned = torch.where(low_quality > 0, low_quality, assigned)

        labels = torch.where(assigned > 0, gt_labels[(assigned - 1).clamp(min=0)], -1)
        return AssignResult(num_gts=num_gts, gt_inds=assigned, max_overlaps=max_overlaps,
                            labels=labels)

    def _assign_without_gts_or_priors(self, overlaps: Tensor,
                                      gt_labels: Tensor) -> AssignResult:
        """mmdet's assignment when there is no ground truth (all background) or no prior;
        ignored priors stay unassigned (-1)."""
        result = super().assign_wrt_overlaps(overlaps, gt_labels)
        if self._ignored_priors is not None:
            result.gt_inds = result.gt_inds.masked_fill(
                self._ignored_priors.to(result.gt_inds.device), -1)
        return result

    def _negative(self, max_overlaps: Tensor) -> Tensor:
        """(N,) bool: priors whose best IoU falls in the negative range."""
        if isinstance(self.neg_iou_thr, float):
            low, high = 0, self.neg_iou_thr
        elif isinstance(self.neg_iou_thr, tuple) and len(self.neg_iou_thr) == 2:
            low, high = self.neg_iou_thr
        else:
            raise ValueError('SyncFreeMaxIoUAssigner: neg_iou_thr must be a float or a pair, '
                             f'got {self.neg_iou_thr!r}')
        return (max_overlaps >= low) & (max_overlaps < high)

    def _low_quality_matches(self, overlaps: Tensor, gt_max_overlaps: Tensor,
                             gt_argmax_overlaps: Tensor) -> Tensor:
        """(N,) long: the ground truth (index + 1) each prior is matched to as some ground
        truth's best prior, 0 where none.

        mmdet loops over the ground truths in order, so where several claim a prior the last
        one wins: here that is the largest index among the claims.
        """
        num_gts, num_priors = overlaps.shape
        eligible = gt_max_overlaps >= self.min_pos_iou  # (G,)
        ids = torch.arange(1, num_gts + 1, device=overlaps.device)
        if self.gt_max_assign_all:
            # Every prior tying a ground truth's best IoU is claimed by it; the largest
            # claiming id wins (one reduction: 25x faster on a CPU than flip + argmax).
            claims = (overlaps == gt_max_overlaps[:, None]) & eligible[:, None]  # (G, N)
            return torch.where(claims, ids[:, None], 0).amax(dim=0)
        # Only each ground truth's first best prior is claimed.
        return overlaps.new_zeros(num_priors, dtype=torch.long).scatter_reduce_(
            0, gt_argmax_overlaps, torch.where(eligible, ids, 0), reduce='amax')
