"""RPN head whose proposal selection and training targets are computed for the whole batch,
so that a training step does not wait for the GPU more than it must.

Shape shorthand: B = images, A = anchors of one image (all levels), C = ``cls_out_channels``,
P = candidate proposals of one image (``nms_pre`` per level, all levels), K = kept proposals
(<= ``max_per_img``).
"""
import copy
from typing import List, Optional, Tuple, Union

import torch
from mmdet.models.dense_heads import RPNHead
from mmdet.models.task_modules.coders import DeltaXYWHBBoxCoder
from mmdet.models.task_modules.prior_generators import anchor_inside_flags
from mmdet.registry import MODELS
from mmdet.structures.bbox import (
    cat_boxes,
    get_box_tensor,
)
from mmdet.utils import InstanceList, OptInstanceList
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData
from torch import Tensor

from .batch_proposals import batch_candidates, decode_clipped
from .batch_sampling import (
    batch_sampling_applies,
    checked_batch_sampling,
    draws_like_random_sampler,
    positive_box_targets,
    random_sampler_draw,
)
from .sync_free_max_iou_assigner import SyncFreeMaxIoUAssigner


@MODELS.register_module()
class SyncFreeRPNHead(RPNHead):
    """mmdet's ``RPNHead``, with proposals selected and targets computed batch-wide.

    Anchors, losses and the ``test_cfg`` keys (``nms_pre``, ``min_bbox_size``, ``nms``,
    ``max_per_img``) are mmdet's; same arguments as ``RPNHead``.

    Training computes mmdet's targets and losses with fewer host synchronisations (each one
    makes a CUDA step wait for the GPU's queue to drain) and fewer kernel launches:

    - the losses are taken once over all levels instead of level by level: the same sums
      over the same anchors divided by the same ``avg_factor``, equal up to float rounding,
      one loss call (and its data-dependent checks) instead of one per level. The logged
      ``loss_rpn_cls`` / ``loss_rpn_bbox`` are these sums, as mmdet's per-level lists add up;
    - anchor valid flags are computed once per distinct padded shape, not once per image;
    - on CUDA (``batch_sampling='cuda'``, the default; ``'always'``, ``'never'``) with a
      ``RandomSampler`` (or :class:`SyncFreeRandomSampler`), the anchors are sampled for the
      whole batch at once with no host synchronisation at all: each image's positives and
      negatives are the ones with the smallest of uniform random keys, a uniformly drawn
      subset of the same sizes as mmdet's sampler draws, but not the same draw. So on the
      CPU mmdet's per-image sampling is kept by default (training there reproduces mmdet's
      for a seed), and with a sampler that takes every candidate both give the same targets
      (tested). Without the per-image path, mmdet's "no anchor inside the image" check is
      not made.

    Proposals (``predict_by_feat``) are selected for the whole batch at once (one sort per
    level and one box decoding, not one of each per image and level) when the coder is a
    ``DeltaXYWHBBoxCoder`` (other coders take mmdet's per-image path); the size filter checks
    the whole batch with one wait. NMS stays per image: the same proposals as mmdet's (when
    no two scores tie at a level's ``nms_pre`` cut, where sort order decides).
    """

    def __init__(self, *args, batch_sampling: str = 'cuda', **kwargs) -> None:
        self.batch_sampling = checked_batch_sampling(batch_sampling, 'SyncFreeRPNHead')
        super().__init__(*args, **kwargs)

    def get_anchors(self, featmap_sizes: List[tuple], batch_img_metas: List[dict],
                    device: Union[torch.device, str] = 'cuda'
                    ) -> Tuple[List[List[Tensor]], List[List[Tensor]]]:
        """mmdet's anchors and valid flags, the flags computed once per padded shape.

        Returns:
            tuple: per image, the per-level anchors (A_level, 4) (one list shared by all
            images, as mmdet's) and valid flags (A_level,).
        """
        multi_level_anchors = self.prior_generator.grid_priors(featmap_sizes, device=device)
        flags_of_shape = {}
        valid_flag_list = []
        for img_meta in batch_img_metas:
            pad_shape = tuple(img_meta['pad_shape'][:2])
            if pad_shape not in flags_of_shape:
                flags_of_shape[pad_shape] = self.prior_generator.valid_flags(
                    featmap_sizes, img_meta['pad_shape'], device)
            valid_flag_list.append(flags_of_shape[pad_shape])
        return [multi_level_anchors] * len(batch_img_metas), valid_flag_list

    def predict_by_feat(self,
                        cls_scores: List[Tensor],
                        bbox_preds: List[Tensor],
                        score_factors: Optional[List[Tensor]] = None,
                        batch_img_metas: Optional[List[dict]] = None,
                        cfg: Optional[ConfigDict] = None,
                        rescale: bool = False,
                        with_nms: bool = True) -> InstanceList:
        """Proposals of a batch: mmdet's, with the per-level selection batched.

        Args:
            cls_scores (list[Tensor]): Per level, (B, num_base_priors * C, H, W).
            bbox_preds (list[Tensor]): Per level, (B, num_base_priors * 4, H, W).
            score_factors (list[Tensor], optional): Must be None for an RPN.
            batch_img_metas (list[dict]): Meta information per image.
            cfg (ConfigDict, optional): Proposal config; ``test_cfg`` if None.
            rescale (bool): Return boxes in original image space.
            with_nms (bool): Must be True for an RPN.

        Returns:
            list[InstanceData]: Per image, K proposals: ``bboxes`` (K, 4), ``scores`` (K,),
            ``labels`` (K,).
        """
        if (score_factors is not None or not with_nms
                or not isinstance(self.bbox_coder, DeltaXYWHBBoxCoder)
                or self.bbox_coder.use_box_type):
            return super().predict_by_feat(cls_scores, bbox_preds, score_factors,
                                           batch_img_metas, cfg, rescale, with_nms)
        cfg = copy.deepcopy(self.test_cfg if cfg is None else cfg)
        featmap_sizes = [score.shape[-2:] for score in cls_scores]
        mlvl_priors = self.prior_generator.grid_priors(
            featmap_sizes, dtype=cls_scores[0].dtype, device=cls_scores[0].device)
        scores, deltas, priors, level_ids = batch_candidates(
            cls_scores, bbox_preds, mlvl_priors, cfg.get('nms_pre', -1), self.cls_out_channels,
            self.use_sigmoid_cls, self.bbox_coder.encode_size)
        bboxes = decode_clipped(self.bbox_coder, priors, deltas, batch_img_metas)
        if not rescale and cfg.get('min_bbox_size', -1) >= 0:
            # One wait for the whole batch; per image only where a box is too small.
            widths, heights = bboxes[..., 2] - bboxes[..., 0], bboxes[..., 3] - bboxes[..., 1]
            if bool(((widths > cfg.min_bbox_size) & (heights > cfg.min_bbox_size)).all()):
                cfg.min_bbox_size = -1
        return [self._bbox_post_process(
                    InstanceData(bboxes=bboxes[img_id], scores=scores[img_id],
                                 level_ids=level_ids),
                    cfg, rescale=rescale, with_nms=True, img_meta=img_meta)
                for img_id, img_meta in enumerate(batch_img_metas)]

    def loss_by_feat(self,
                     cls_scores: List[Tensor],
                     bbox_preds: List[Tensor],
                     batch_gt_instances: InstanceList,
                     batch_img_metas: List[dict],
                     batch_gt_instances_ignore: OptInstanceList = None) -> dict:
        """RPN losses of a batch, over all levels at once.

        Args:
            cls_scores (list[Tensor]): Per level, (B, num_base_priors * C, H, W).
            bbox_preds (list[Tensor]): Per level, (B, num_base_priors * 4, H, W).
            batch_gt_instances (list[InstanceData]): ``bboxes`` and ``labels`` per image.
            batch_img_metas (list[dict]): Meta information per image.
            batch_gt_instances_ignore (list[InstanceData], optional): Boxes to ignore.

        Returns:
            dict: ``loss_rpn_cls`` and ``loss_rpn_bbox``, scalar tensors.
        """
        featmap_sizes = [featmap.size()[-2:] for featmap in cls_scores]
        assert len(featmap_sizes) == self.prior_generator.num_levels
        anchor_list, valid_flag_list = self.get_anchors(
            featmap_sizes, batch_img_metas, device=cls_scores[0].device)
        labels, label_weights, bbox_targets, bbox_weights, avg_factor = self.get_targets(
            anchor_list, valid_flag_list, batch_gt_instances, batch_img_metas,
            batch_gt_instances_ignore=batch_gt_instances_ignore)
        # Per-level targets are (B, A_level, ...) slices of the per-image ones: join them.
        labels, label_weights, bbox_targets, bbox_weights = (
            torch.cat(per_level, dim=1)
            for per_level in (labels, label_weights, bbox_targets, bbox_weights))
        cls_score = self._levels_joined(cls_scores, self.cls_out_channels)
        bbox_pred = self._levels_joined(bbox_preds, self.bbox_coder.encode_size)
        if self.reg_decoded_bbox:
            anchors = torch.cat([get_box_tensor(cat_boxes(levels)) for levels in anchor_list])
            bbox_pred = get_box_tensor(self.bbox_coder.decode(anchors, bbox_pred))
        loss_cls = self.loss_cls(cls_score, labels.reshape(-1), label_weights.reshape(-1),
                                 avg_factor=avg_factor)
        target_dim = bbox_targets.size(-1)
        loss_bbox = self.loss_bbox(bbox_pred, bbox_targets.reshape(-1, target_dim),
                                   bbox_weights.reshape(-1, target_dim), avg_factor=avg_factor)
        return dict(loss_rpn_cls=loss_cls, loss_rpn_bbox=loss_bbox)

    def get_targets(self,
                    anchor_list: List[List[Tensor]],
                    valid_flag_list: List[List[Tensor]],
                    batch_gt_instances: InstanceList,
                    batch_img_metas: List[dict],
                    batch_gt_instances_ignore: OptInstanceList = None,
                    unmap_outputs: bool = True,
                    return_sampling_results: bool = False) -> tuple:
        """mmdet's anchor targets, sampled for the whole batch at once where that applies.

        Returns:
            tuple: per level, labels (B, A_level), label_weights (B, A_level), bbox_targets
            and bbox_weights (B, A_level, 4), then ``avg_factor`` (a tensor on the batch
            path), as mmdet's ``get_targets``.
        """
        if not self._samples_batch(anchor_list[0][0].device, unmap_outputs,
                                   return_sampling_results):
            return super().get_targets(anchor_list, valid_flag_list, batch_gt_instances,
                                       batch_img_metas, batch_gt_instances_ignore,
                                       unmap_outputs, return_sampling_results)
        anchors = get_box_tensor(cat_boxes(anchor_list[0]))
        ignores = batch_gt_instances_ignore or [None] * len(batch_img_metas)
        assigned = []
        for flags, gts, meta, ignore in zip(valid_flag_list, batch_gt_instances,
                                            batch_img_metas, ignores):
            inside = anchor_inside_flags(anchors, torch.cat(flags), meta['img_shape'][:2],
                                         self.train_cfg['allowed_border'])
            assigned.append(self.assigner.assign(
                InstanceData(priors=anchors, valid_flags=inside), gts, ignore))
        gt_inds = torch.stack([result.gt_inds for result in assigned])  # (B, A)
        gt_labels = torch.stack([result.labels for result in assigned])  # (B, A)
        targets = self._batch_anchor_targets(anchors, gt_inds, gt_labels, batch_gt_instances)
        num_level_anchors = [len(level) for level in anchor_list[0]]
        per_level = tuple(list(target.split(num_level_anchors, dim=1))
                          for target in targets[:4])
        return per_level + (targets[4], )

    def _samples_batch(self, device: torch.device, unmap_outputs: bool,
                       return_sampling_results: bool) -> bool:
        """Whether :meth:`get_targets` takes the batch path (see the class docstring)."""
        return (batch_sampling_applies(self.batch_sampling, device)
                and unmap_outputs and not return_sampling_results
                and isinstance(self.assigner, SyncFreeMaxIoUAssigner)
                and draws_like_random_sampler(self.sampler)
                and not self.sampler.add_gt_as_proposals)

    def _batch_anchor_targets(self, anchors: Tensor, gt_inds: Tensor, gt_labels: Tensor,
                              batch_gt_instances: InstanceList) -> tuple:
        """Sample the batch's anchors and write their targets, all on the device.

        Args:
            anchors (Tensor): (A, 4), the same for every image.
            gt_inds (Tensor): (B, A) assignment: ground truth index + 1, 0 background,
                -1 none.
            gt_labels (Tensor): (B, A) the assigned ground truth's label, -1 where none.
            batch_gt_instances (list[InstanceData]): ``bboxes`` per image.

        Returns:
            tuple: labels (B, A), label_weights (B, A), bbox_targets (B, A, 4),
            bbox_weights (B, A, 4), avg_factor (0-d tensor: sampled anchors, at least one
            positive and one negative per image, as mmdet's ``SamplingResult`` counts).
        """
        num_imgs, num_anchors = gt_inds.shape
        pos_idx, pos_valid, neg_idx, neg_valid = random_sampler_draw(self.sampler, gt_inds)
        pos_targets = positive_box_targets(
            anchors[pos_idx], gt_inds.gather(1, pos_idx), pos_valid, batch_gt_instances,
            self.bbox_coder, self.reg_decoded_bbox)  # (B, P, target_dim)
        target_dim = pos_targets.size(-1)
        labels = gt_inds.new_full((num_imgs, num_anchors), self.num_classes)
        label_weights = anchors.new_zeros(num_imgs, num_anchors)
        bbox_targets = anchors.new_zeros(num_imgs, num_anchors, target_dim)
        bbox_weights = anchors.new_zeros(num_imgs, num_anchors, target_dim)
        # Sampled indices of a row are distinct, and the invalid ones (padding of a short
        # row) point at anchors that are not positives, so writing there changes nothing.
        index = pos_idx[..., None].expand(-1, -1, target_dim)
        bbox_targets.scatter_(1, index, pos_targets)
        bbox_weights.scatter_(1, index, pos_valid[..., None].expand_as(index).to(
            bbox_weights.dtype))
        labels.scatter_(1, pos_idx, torch.where(pos_valid, gt_labels.gather(1, pos_idx),
                                                self.num_classes))
        pos_weight = self.train_cfg['pos_weight']
        pos_weight = 1.0 if pos_weight <= 0 else pos_weight
        # Added, not written: a short row's padding may point at an anchor of the other set.
        label_weights.scatter_add_(1, pos_idx, pos_valid.to(label_weights.dtype) * pos_weight)
        label_weights.scatter_add_(1, neg_idx, neg_valid.to(label_weights.dtype))
        avg_factor = (pos_valid.sum(1).clamp(min=1) + neg_valid.sum(1).clamp(min=1)).sum()
        return labels, label_weights, bbox_targets, bbox_weights, avg_factor.float()

    @staticmethod
    def _levels_joined(per_level: List[Tensor], channels: int) -> Tensor:
        """(B, num_base_priors * channels, H, W) per level -> (B * A, channels), each image's
        anchors in mmdet's order (level, then y, x, base prior)."""
        num_imgs = per_level[0].size(0)
        return torch.cat([level.permute(0, 2, 3, 1).reshape(num_imgs, -1, channels)
                          for level in per_level], dim=1).reshape(-1, channels)
