"""RoI head whose training samples the RoIs of the whole batch at once on CUDA.

Shape shorthand: B = images, M = candidate RoIs of one image (its ground truths, if added,
then its proposals; padded to the batch's longest), S = sample slots per image (the
sampler's ``num``, or M if fewer), G = ground truths of one image (padded), C = foreground
classes.
"""
from typing import List, Tuple

import torch
from mmdet.models.roi_heads import StandardRoIHead
from mmdet.models.utils import unpack_gt_instances
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import get_box_tensor
from mmdet.utils import InstanceList
from mmengine.structures import InstanceData
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence

from .batch_sampling import (
    batch_sampling_applies,
    checked_batch_sampling,
    draws_like_random_sampler,
    positive_box_targets,
    random_sampler_draw,
)
from .sync_free_max_iou_assigner import SyncFreeMaxIoUAssigner


@MODELS.register_module()
class SyncFreeStandardRoIHead(StandardRoIHead):
    """mmdet's ``StandardRoIHead``; on CUDA its training samples the batch at once.

    mmdet assigns and samples the RoIs of each image in turn, and its random sampler's
    ``nonzero`` over positives and negatives makes the host wait for the GPU twice per
    image. With ``batch_sampling='cuda'`` (the default; ``'always'``, ``'never'``), a
    :class:`SyncFreeMaxIoUAssigner` and a ``RandomSampler`` (or ``SyncFreeRandomSampler``),
    this head draws every image's sample at once instead: each image's positives and
    negatives are its candidates with the smallest uniform random keys (the sample sizes
    ``RandomSampler`` draws and a uniformly drawn sample, but not mmdet's draw), the
    ground truths are added as candidates as mmdet's sampler adds them, and the targets of
    the batch's ``B x num`` sampled slots are written on the device. Slots an image cannot
    fill (fewer than ``num`` candidates) get zero weights, and the box head's loss leaves
    them out of its averages and accuracy, as mmdet's rows only hold drawn RoIs (the batch
    path needs a box head whose ``averages_over_weighted_rows()`` says so, such as
    ``SyncFreeShared2FCBBoxHead`` with its default losses). On the CPU mmdet's per-image
    sampling is kept by default, so training there reproduces mmdet's for a seed. With a
    mask head, another sampler, assigner or box head, mmdet's path is taken.

    Same arguments as ``StandardRoIHead``, plus ``batch_sampling``.
    """

    def __init__(self, *args, batch_sampling: str = 'cuda', **kwargs) -> None:
        self.batch_sampling = checked_batch_sampling(batch_sampling, type(self).__name__)
        super().__init__(*args, **kwargs)

    def loss(self, x: Tuple[Tensor], rpn_results_list: InstanceList,
             batch_data_samples: List[DetDataSample]) -> dict:
        """Box losses of a batch (see the class docstring for which path is taken).

        Args:
            x (tuple[Tensor]): Per level, (B, C_feat, H, W) features.
            rpn_results_list (list[InstanceData]): Per image, ``bboxes`` of its proposals.
            batch_data_samples (list[DetDataSample]): Ground truths and meta information.

        Returns:
            dict: ``loss_cls``, ``acc``, ``loss_bbox``, as mmdet's.
        """
        if not self._samples_batch(x[0].device):
            return super().loss(x, rpn_results_list, batch_data_samples)
        batch_gt_instances, batch_gt_instances_ignore, _ = unpack_gt_instances(
            batch_data_samples)
        priors, gt_inds, gt_labels = self._assigned_candidates(
            rpn_results_list, batch_gt_instances, batch_gt_instances_ignore)
        slots, valid, positive = self._sampled_slots(gt_inds)
        slot_priors = priors.gather(1, slots[..., None].expand(-1, -1, 4))  # (B, S, 4)
        image_ids = torch.arange(len(slots), device=slots.device, dtype=priors.dtype)
        rois = torch.cat([image_ids[:, None, None].expand(-1, slots.size(1), 1), slot_priors],
                         dim=-1).reshape(-1, 5)
        bbox_results = self._bbox_forward(x, rois)
        targets = self._slot_targets(slot_priors, gt_inds.gather(1, slots),
                                     gt_labels.gather(1, slots), valid, positive,
                                     batch_gt_instances)
        return self.bbox_head.loss(bbox_results['cls_score'], bbox_results['bbox_pred'], rois,
                                   *targets)

    def _samples_batch(self, device: torch.device) -> bool:
        """Whether :meth:`loss` takes the batch path."""
        return (batch_sampling_applies(self.batch_sampling, device)
                and self.with_bbox and not self.with_mask
                and isinstance(self.bbox_assigner, SyncFreeMaxIoUAssigner)
                and draws_like_random_sampler(self.bbox_sampler)
                and getattr(self.bbox_head, 'averages_over_weighted_rows', lambda: False)())

    def _assigned_candidates(self, rpn_results_list: InstanceList,
                             batch_gt_instances: InstanceList,
                             batch_gt_instances_ignore: list) -> Tuple[Tensor, Tensor, Tensor]:
        """Each image's candidates and their assignment, as mmdet's sampler sees them.

        Returns:
            tuple: candidates (B, M, 4), ``gt_inds`` (B, M) (ground truth index + 1, 0
            background, -1 none or padding) and their labels (B, M) (-1 where none).
        """
        all_priors, all_gt_inds, all_labels = [], [], []
        for proposals, gts, ignore in zip(rpn_results_list, batch_gt_instances,
                                          batch_gt_instances_ignore):
            priors = get_box_tensor(proposals.bboxes)
            assigned = self.bbox_assigner.assign(InstanceData(priors=priors), gts, ignore)
            gt_inds, labels = assigned.gt_inds, assigned.labels
            if self.bbox_sampler.add_gt_as_proposals and len(gts) > 0:
                # As mmdet's sampler: the ground truths first, each assigned to itself.
                gt_boxes = get_box_tensor(gts.bboxes)
                priors = torch.cat([gt_boxes.to(priors.dtype), priors])
                gt_inds = torch.cat([torch.arange(1, len(gts) + 1, device=gt_inds.device),
                                     gt_inds])
                labels = torch.cat([gts.labels, labels])
            all_priors.append(priors)
            all_gt_inds.append(gt_inds)
            all_labels.append(labels)
        return (pad_sequence(all_priors, batch_first=True),
                pad_sequence(all_gt_inds, batch_first=True, padding_value=-1),
                pad_sequence(all_labels, batch_first=True, padding_value=-1))

    def _sampled_slots(self, gt_inds: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Draw each image's sample: S slots, the positives first, then the negatives, then
        unfilled slots.

        Returns:
            tuple: candidate index of each slot (B, S), whether it was drawn (B, S) and
            whether it is a positive (B, S).
        """
        pos_idx, pos_valid, neg_idx, neg_valid = random_sampler_draw(self.bbox_sampler,
                                                                     gt_inds)
        slots = torch.cat([pos_idx, neg_idx], dim=1)
        valid = torch.cat([pos_valid, neg_valid], dim=1)
        positive = torch.cat([pos_valid, torch.zeros_like(neg_valid)], dim=1)
        # Drawn slots first, in their order; at most ``num`` are drawn, and at most M.
        order = (~valid).to(torch.uint8).argsort(dim=1, stable=True)
        order = order[:, :min(self.bbox_sampler.num, gt_inds.size(1))]
        return slots.gather(1, order), valid.gather(1, order), positive.gather(1, order)

    def _slot_targets(self, slot_priors: Tensor, slot_gt_inds: Tensor, slot_labels: Tensor,
                      valid: Tensor, positive: Tensor,
                      batch_gt_instances: InstanceList) -> Tuple[Tensor, ...]:
        """The box head's targets of the B x S slots, as its ``get_targets`` writes them
        for sampled RoIs, and zero weights for unfilled slots.

        Returns:
            tuple: labels (B*S,), label_weights (B*S,), bbox_targets (B*S, reg_dim),
            bbox_weights (B*S, reg_dim).
        """
        head = self.bbox_head
        pos_weight = self.train_cfg.pos_weight
        pos_weight = 1.0 if pos_weight <= 0 else pos_weight
        labels = torch.where(positive, slot_labels, head.num_classes)
        label_weights = torch.where(positive, pos_weight, valid.to(slot_priors.dtype))
        bbox_targets = positive_box_targets(slot_priors, slot_gt_inds, positive,
                                            batch_gt_instances, head.bbox_coder,
                                            head.reg_decoded_bbox)
        reg_dim = bbox_targets.size(-1)
        bbox_weights = positive[..., None].expand_as(bbox_targets).to(slot_priors.dtype)
        return (labels.reshape(-1), label_weights.reshape(-1),
                bbox_targets.reshape(-1, reg_dim), bbox_weights.reshape(-1, reg_dim))
