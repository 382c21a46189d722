"""Box head whose training targets and losses are computed for the whole batch at once.

Shape shorthand: C = foreground classes, S = sampled RoIs of a batch (each image's positives,
then negatives).
"""
from typing import List, Optional, Tuple

import torch
from mmdet.models.losses import CrossEntropyLoss, L1Loss, SmoothL1Loss
from mmdet.models.roi_heads import Shared2FCBBoxHead
from mmdet.models.task_modules.samplers import SamplingResult
from mmdet.registry import MODELS
from mmdet.structures.bbox import get_box_tensor
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData
from torch import Tensor


@MODELS.register_module()
class SyncFreeShared2FCBBoxHead(Shared2FCBBoxHead):
    """mmdet's ``Shared2FCBBoxHead``, whose training waits less for the GPU.

    Same arguments, detections and losses as ``Shared2FCBBoxHead``. Training targets are
    mmdet's, built for the whole batch at once (one box encoding, not one per image: about 60
    ops per image fewer, same tensors). With mmdet's cross-entropy
    classification loss and an L1 or smooth-L1 box loss on deltas, the losses are mmdet's
    computed without picking the positive rows by boolean mask: six host synchronisations
    per step fewer, equal up to float rounding (other losses take mmdet's path). Rows with a
    zero label weight (slots ``SyncFreeStandardRoIHead`` could not fill) count in no average.
    """

    def loss(self,
             cls_score: Tensor,
             bbox_pred: Tensor,
             rois: Tensor,
             labels: Tensor,
             label_weights: Tensor,
             bbox_targets: Tensor,
             bbox_weights: Tensor,
             reduction_override: Optional[str] = None) -> dict:
        """mmdet's ``BBoxHead.loss`` without waiting for the GPU where it can.

        mmdet reads the number of weighted samples back to the host and selects the
        positive rows with boolean masks. Here the classification loss divides by that
        count on the device, and the box loss runs on every row, each row's deltas for its
        label, with the weights of rows that are not positives zeroed: the same sum.

        Args:
            cls_score (Tensor): (S, C + 1) class logits.
            bbox_pred (Tensor): (S, 4) or (S, C * 4) box deltas.
            rois (Tensor): (S, 5) the sampled RoIs.
            labels (Tensor): (S,) targets, C = background.
            label_weights (Tensor): (S,).
            bbox_targets (Tensor): (S, 4) deltas.
            bbox_weights (Tensor): (S, 4).
            reduction_override (str, optional): As mmdet's.

        Returns:
            dict: ``loss_cls``, ``acc`` and ``loss_bbox``, as mmdet's.
        """
        if not self.averages_over_weighted_rows():
            return super().loss(cls_score, bbox_pred, rois, labels, label_weights,
                                bbox_targets, bbox_weights, reduction_override)
        losses = dict()
        # Rows with a zero label weight are slots a batch sampler left unfilled; mmdet's
        # targets have none, and then ``rows`` is mmdet's S.
        sampled = label_weights > 0
        rows = sampled.sum().float().clamp(min=1.0)
        if cls_score is not None and cls_score.numel() > 0:
            losses['loss_cls'] = self.loss_cls(cls_score, labels, label_weights,
                                               avg_factor=rows,
                                               reduction_override=reduction_override)
            losses['acc'] = self._sampled_accuracy(cls_score, labels, sampled, rows)
        if bbox_pred is not None:
            positive = (labels >= 0) & (labels < self.num_classes)
            losses['loss_bbox'] = self.loss_bbox(
                self._label_deltas(bbox_pred, labels), bbox_targets,
                bbox_weights * positive[:, None], avg_factor=rows,
                reduction_override=reduction_override)
        return losses

    def averages_over_weighted_rows(self) -> bool:
        """Whether :meth:`loss` takes the mask-free path (mmdet's cross-entropy, an L1 or
        smooth-L1 loss on deltas), whose averages and accuracy count only the rows with a
        positive label weight: rows a batch sampler could not fill (weight 0) count
        nowhere. mmdet's path counts every row."""
        return (not self.reg_decoded_bbox and type(self.loss_bbox) in (L1Loss, SmoothL1Loss)
                and type(self.loss_cls) is CrossEntropyLoss)

    @staticmethod
    def _sampled_accuracy(cls_score: Tensor, labels: Tensor, sampled: Tensor,
                          rows: Tensor) -> Tensor:
        """mmdet's top-1 ``accuracy`` (in %, shape (1,)) over the ``sampled`` rows only.

        Args:
            cls_score (Tensor): (S, C + 1) class logits.
            labels (Tensor): (S,) targets.
            sampled (Tensor): (S,) bool, the rows that count.
            rows (Tensor): () float, their number (at least 1).
        """
        predicted = cls_score.topk(1, dim=1).indices.squeeze(1)  # ranked as mmdet's
        correct = (predicted == labels) & sampled
        return correct.float().sum(0, keepdim=True) * (100.0 / rows)

    def _label_deltas(self, bbox_pred: Tensor, labels: Tensor) -> Tensor:
        """(S, 4) deltas each row predicts for its label (any class's for background rows,
        whose weight is zero)."""
        num_rows = bbox_pred.size(0)
        if self.reg_class_agnostic:
            return bbox_pred.view(num_rows, -1)
        per_class = bbox_pred.view(num_rows, self.num_classes, -1)
        index = labels.clamp(0, self.num_classes - 1).view(-1, 1, 1)
        return per_class.gather(1, index.expand(-1, 1, per_class.size(-1))).squeeze(1)

    def get_targets(self,
                    sampling_results: List[SamplingResult],
                    rcnn_train_cfg: ConfigDict,
                    concat: bool = True) -> Tuple:
        """Classification and regression targets of the sampled RoIs, as mmdet's.

        Args:
            sampling_results (list[SamplingResult]): Per image, its sampled RoIs.
            rcnn_train_cfg (ConfigDict): ``rcnn`` training settings (``pos_weight``).
            concat (bool): One tensor per target for the batch (True) or lists per image.

        Returns:
            tuple: labels (S,) (``num_classes`` = background), label_weights (S,),
            bbox_targets (S, reg_dim), bbox_weights (S, reg_dim); lists of per-image
            pieces if not ``concat``.
        """
        num_pos = [len(res.pos_priors) for res in sampling_results]
        num_neg = [len(res.neg_priors) for res in sampling_results]
        pos_labels = torch.cat([res.pos_gt_labels for res in sampling_results])
        pos_targets = self._positive_bbox_targets(sampling_results)
        pos_weight = 1.0 if rcnn_train_cfg.pos_weight <= 0 else rcnn_train_cfg.pos_weight
        # Each image's rows: its positives, then its negatives (background, zero targets).
        # Slices of these filler tensors are views: one cat per target for the batch.
        like = sampling_results[0].pos_priors
        longest, reg_dim = max(num_pos + num_neg), pos_targets.size(-1)
        background = pos_labels.new_full((longest, ), self.num_classes)
        zeros = like.new_zeros(longest, reg_dim)
        ones, weighted = like.new_ones(longest, reg_dim), like.new_full((longest, ), pos_weight)
        pieces = ([], [], [], [])  # labels, label weights, bbox targets, bbox weights
        for labels, targets, pos, neg in zip(pos_labels.split(num_pos),
                                             pos_targets.split(num_pos), num_pos, num_neg):
            for out, positives, negatives in zip(
                    pieces, (labels, weighted[:pos], targets.to(like.dtype), ones[:pos]),
                    (background[:neg], ones[:neg, 0], zeros[:neg], zeros[:neg])):
                out.append((positives, negatives))
        if concat:
            return tuple(torch.cat([t for pair in per_image for t in pair])
                         for per_image in pieces)
        return tuple([torch.cat(pair) for pair in per_image] for per_image in pieces)

    def _positive_bbox_targets(self, sampling_results: List[SamplingResult]) -> Tensor:
        """(P, reg_dim) regression targets of all positives of the batch, image by image."""
        gt_bboxes = torch.cat([get_box_tensor(res.pos_gt_bboxes) for res in sampling_results])
        if self.reg_decoded_bbox:
            return gt_bboxes
        priors = torch.cat([get_box_tensor(res.pos_priors) for res in sampling_results])
        return self.bbox_coder.encode(priors, gt_bboxes)

    def _predict_by_feat_single(self, roi: Tensor, cls_score: Tensor, bbox_pred: Tensor,
                                img_meta: dict, rescale: bool = False,
                                rcnn_test_cfg: Optional[ConfigDict] = None) -> InstanceData:
        """mmdet's detections of one image; with ``rcnn_test_cfg.min_bbox_size`` (not an
        mmdet key), boxes narrower or lower than it in network-input pixels are dropped
        before NMS, as torchvision's box head drops them (``remove_small_boxes``).

        Args:
            roi (Tensor): (R, 5) RoIs (image index, x1, y1, x2, y2).
            cls_score (Tensor): (R, C + 1) class logits.
            bbox_pred (Tensor): (R, C * 4) box deltas (R, 4 if class agnostic).
            img_meta (dict): Image meta info.
            rescale (bool): Boxes in original-image pixels. Defaults to False.
            rcnn_test_cfg (ConfigDict, optional): ``test_cfg.rcnn``.

        Returns:
            InstanceData: ``bboxes`` (K, 4), ``scores`` (K,), ``labels`` (K,).
        """
        min_size = rcnn_test_cfg.get('min_bbox_size', 0) if rcnn_test_cfg else 0
        if not min_size or roi.shape[0] == 0:
            return super()._predict_by_feat_single(roi, cls_score, bbox_pred, img_meta,
                                                   rescale, rcnn_test_cfg)
        from mmdet.models.layers import multiclass_nms
        raw = super()._predict_by_feat_single(roi, cls_score, bbox_pred, img_meta,
                                              rescale=False, rcnn_test_cfg=None)
        boxes = raw.bboxes.view(raw.bboxes.size(0), -1, 4)  # (R, C or 1, 4), input pixels
        small = ((boxes[..., 2] - boxes[..., 0] < min_size)
                 | (boxes[..., 3] - boxes[..., 1] < min_size))  # (R, C or 1)
        scores = raw.scores.clone()
        scores[:, :-1] = scores[:, :-1].masked_fill(small, 0.0)
        if rescale:
            scale = boxes.new_tensor(img_meta['scale_factor']).repeat(2)
            boxes = boxes / scale
        dets, labels = multiclass_nms(boxes.reshape(boxes.size(0), -1), scores,
                                      rcnn_test_cfg.score_thr, rcnn_test_cfg.nms,
                                      rcnn_test_cfg.max_per_img, box_dim=4)
        results = InstanceData()
        results.bboxes, results.scores, results.labels = dets[:, :4], dets[:, -1], labels
        return results
