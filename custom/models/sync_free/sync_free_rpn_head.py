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
    BaseBoxes,
    cat_boxes,
    get_box_tensor,
)
from mmdet.utils import InstanceList, OptInstanceList
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData
from torch import Tensor

from .batch_sampling import (
    batch_sampling_applies,
    checked_batch_sampling,
    draws_like_random_sampler,
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

    - with a :class:`SyncFreeMaxIoUAssigner`, anchor targets are computed on all anchors of
      an image, those outside it flagged for the assigner to ignore, instead of selecting
      the inside ones and scattering the targets back (mmdet's ``unmap``): six waits fewer
      per image, same targets (the sampler draws the same anchors for the same seed);
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
        scores, deltas, priors, level_ids = self._batch_candidates(
            cls_scores, bbox_preds, mlvl_priors, cfg.get('nms_pre', -1))
        bboxes = self._decode_clipped(priors, deltas, batch_img_metas)
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

    def _batch_candidates(self, cls_scores: List[Tensor], bbox_preds: List[Tensor],
                          mlvl_priors: List[Tensor], nms_pre: int
                          ) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """Each level's ``nms_pre`` best-scoring anchors of every image, as mmdet picks them.

        Returns:
            tuple: scores (B, P), box deltas (B, P, 4), their anchors (B, P, 4) and level
            ids (P,), levels in order.
        """
        num_imgs = cls_scores[0].size(0)
        reg_dim = self.bbox_coder.encode_size
        mlvl_scores, mlvl_deltas, mlvl_anchors, level_ids = [], [], [], []
        for level, (cls_score, bbox_pred, priors) in enumerate(
                zip(cls_scores, bbox_preds, mlvl_priors)):
            cls_score = cls_score.detach().permute(0, 2, 3, 1).reshape(
                num_imgs, -1, self.cls_out_channels)
            deltas = bbox_pred.detach().permute(0, 2, 3, 1).reshape(num_imgs, -1, reg_dim)
            scores = (cls_score.sigmoid() if self.use_sigmoid_cls
                      else cls_score.softmax(-1)[..., :-1]).reshape(num_imgs, -1)
            anchors = priors.expand(num_imgs, -1, -1)
            if 0 < nms_pre < scores.size(1):
                scores, rank_inds = scores.sort(dim=1, descending=True)
                scores, top = scores[:, :nms_pre], rank_inds[:, :nms_pre, None]
                deltas = deltas.gather(1, top.expand(-1, -1, reg_dim))
                anchors = anchors.gather(1, top.expand(-1, -1, anchors.size(-1)))
            mlvl_scores.append(scores)
            mlvl_deltas.append(deltas)
            mlvl_anchors.append(anchors)
            level_ids.append(scores.new_full((scores.size(1), ), level, dtype=torch.long))
        return (torch.cat(mlvl_scores, 1), torch.cat(mlvl_deltas, 1),
                torch.cat(mlvl_anchors, 1), torch.cat(level_ids))

    def _decode_clipped(self, anchors: Tensor, deltas: Tensor,
                        batch_img_metas: List[dict]) -> Tensor:
        """Boxes (B, P, 4) from anchors and deltas (B, P, 4), clipped to each image as
        mmdet's decoding with ``max_shape=img_shape`` clips them."""
        num_imgs, num_boxes = deltas.shape[:2]
        bboxes = self.bbox_coder.decode(anchors.reshape(-1, 4), deltas.reshape(-1, 4))
        bboxes = bboxes.reshape(num_imgs, num_boxes, 4)
        if not self.bbox_coder.clip_border:
            return bboxes
        heights_widths = bboxes.new_tensor([meta['img_shape'][:2] for meta in batch_img_metas])
        zero = bboxes.new_zeros(())
        x = bboxes[..., 0::2].clamp(min=zero, max=heights_widths[:, None, 1:2])
        y = bboxes[..., 1::2].clamp(min=zero, max=heights_widths[:, None, 0:1])
        return torch.stack((x[..., 0], y[..., 0], x[..., 1], y[..., 1]), dim=-1)

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
        target_dim = 4 if self.reg_decoded_bbox else self.bbox_coder.encode_size
        labels = gt_inds.new_full((num_imgs, num_anchors), self.num_classes)
        label_weights = anchors.new_zeros(num_imgs, num_anchors)
        bbox_targets = anchors.new_zeros(num_imgs, num_anchors, target_dim)
        bbox_weights = anchors.new_zeros(num_imgs, num_anchors, target_dim)
        # Sampled indices of a row are distinct, and the invalid ones (padding of a short
        # row) point at anchors of the other kind, so writing zeros there changes nothing.
        if max(len(gts) for gts in batch_gt_instances) > 0:
            gt_boxes = torch.nn.utils.rnn.pad_sequence(
                [get_box_tensor(gts.bboxes) for gts in batch_gt_instances], batch_first=True)
            assigned_gt = (gt_inds.gather(1, pos_idx) - 1).clamp(min=0)  # (B, P)
            pos_gt_boxes = gt_boxes.gather(1, assigned_gt[..., None].expand(-1, -1, 4))
            pos_targets = pos_gt_boxes if self.reg_decoded_bbox else self.bbox_coder.encode(
                anchors[pos_idx].reshape(-1, 4), pos_gt_boxes.reshape(-1, 4)).view(
                    num_imgs, -1, target_dim)
            pos_targets = torch.where(pos_valid[..., None], pos_targets, 0.0)
            index = pos_idx[..., None].expand(-1, -1, target_dim)
            bbox_targets.scatter_(1, index, pos_targets.to(bbox_targets.dtype))
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

    def _get_targets_single(self,
                            flat_anchors: Union[Tensor, BaseBoxes],
                            valid_flags: Tensor,
                            gt_instances: InstanceData,
                            img_meta: dict,
                            gt_instances_ignore: Optional[InstanceData] = None,
                            unmap_outputs: bool = True) -> tuple:
        """mmdet's anchor targets of one image, computed on all A anchors at once.

        Falls back to mmdet's method unless the assigner is a :class:`SyncFreeMaxIoUAssigner`
        (which can ignore flagged anchors) and the targets are wanted for all anchors.

        Args:
            flat_anchors (Tensor | BaseBoxes): (A, 4) anchors of all levels.
            valid_flags (Tensor): (A,) bool, anchors inside the unpadded feature maps.
            gt_instances (InstanceData): ``bboxes`` (G, 4) and ``labels`` (G,).
            img_meta (dict): Meta information of the image.
            gt_instances_ignore (InstanceData, optional): Boxes to ignore.
            unmap_outputs (bool): Targets for all anchors (True) or the inside ones only.

        Returns:
            tuple: labels (A,), label_weights (A,), bbox_targets (A, 4), bbox_weights
            (A, 4), pos_inds, neg_inds (indices into the A anchors) and the sampling
            result, as mmdet's method returns.

        Raises:
            ValueError: no anchor of the image could be sampled, which is what happens
                when none lies inside the image boundary.
        """
        if not (unmap_outputs and isinstance(self.assigner, SyncFreeMaxIoUAssigner)):
            return super()._get_targets_single(flat_anchors, valid_flags, gt_instances,
                                               img_meta, gt_instances_ignore, unmap_outputs)
        inside_flags = anchor_inside_flags(flat_anchors, valid_flags, img_meta['img_shape'][:2],
                                           self.train_cfg['allowed_border'])
        pred_instances = InstanceData(priors=flat_anchors, valid_flags=inside_flags)
        assign_result = self.assigner.assign(pred_instances, gt_instances, gt_instances_ignore)
        sampling_result = self.sampler.sample(assign_result, pred_instances, gt_instances)
        pos_inds, neg_inds = sampling_result.pos_inds, sampling_result.neg_inds
        if len(pos_inds) + len(neg_inds) == 0:
            # mmdet checks ``inside_flags.any()`` first; sample sizes are known on the host.
            raise ValueError(
                'SyncFreeRPNHead: no anchor of the image could be sampled: none lies inside '
                'the image boundary. Please check the image size and anchor sizes, or set '
                '``allowed_border`` to -1 to skip the condition.')
        labels, label_weights, bbox_targets, bbox_weights = self._anchor_targets(
            sampling_result, len(flat_anchors), gt_instances)
        return (labels, label_weights, bbox_targets, bbox_weights, pos_inds, neg_inds,
                sampling_result)

    def _anchor_targets(self, sampling_result, num_anchors: int,
                        gt_instances: InstanceData) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """Targets of A anchors from their sampling: mmdet's, written at the sampled indices.

        Returns:
            tuple: labels (A,) (``num_classes`` = background), label_weights (A,),
            bbox_targets (A, target_dim), bbox_weights (A, target_dim).
        """
        pos_inds, neg_inds = sampling_result.pos_inds, sampling_result.neg_inds
        priors = get_box_tensor(sampling_result.priors)
        target_dim = gt_instances.bboxes.size(-1) if self.reg_decoded_bbox \
            else self.bbox_coder.encode_size
        bbox_targets = priors.new_zeros(num_anchors, target_dim)
        bbox_weights = priors.new_zeros(num_anchors, target_dim)
        labels = priors.new_full((num_anchors, ), self.num_classes, dtype=torch.long)
        label_weights = priors.new_zeros(num_anchors, dtype=torch.float)
        if len(pos_inds) > 0:
            if self.reg_decoded_bbox:
                pos_bbox_targets = get_box_tensor(sampling_result.pos_gt_bboxes)
            else:
                pos_bbox_targets = self.bbox_coder.encode(sampling_result.pos_priors,
                                                          sampling_result.pos_gt_bboxes)
            bbox_targets[pos_inds, :] = pos_bbox_targets
            bbox_weights[pos_inds, :] = 1.0
            labels[pos_inds] = sampling_result.pos_gt_labels
            pos_weight = self.train_cfg['pos_weight']
            label_weights[pos_inds] = 1.0 if pos_weight <= 0 else pos_weight
        if len(neg_inds) > 0:
            label_weights[neg_inds] = 1.0
        return labels, label_weights, bbox_targets, bbox_weights
