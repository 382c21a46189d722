"""A Faster R-CNN detector as one tensor graph: image in, detections out, nothing in Python.

mmdet's detector takes a batch of data samples and returns ``InstanceData``; its inference
branches on Python values (empty results, per-image loops, level loops with ``numel()``
checks). :class:`FasterRCNNGraph` computes the same detections from the same modules and
weights with tensor operations only, so that ``torch.onnx.export`` traces the whole detector
(normalisation and padding, backbone, neck, RPN and its NMS, RoIAlign, box head, class-aware
NMS) into standard ONNX operators (``NonMaxSuppression``, ``RoiAlign``, ``TopK``, ...), and
every size that depends on the image stays a graph value (an export with dynamic height and
width works at any size).

Shape shorthand: h, w = the resized image's size (before padding); H, W = the original
image's size; A = anchors of a level; N = proposals; C = foreground classes; K = detections.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from mmdet.models.task_modules.coders import DeltaXYWHBBoxCoder
from torch import Tensor, nn
from torchvision.ops import nms, roi_align

from custom.models.roi_heads.iterative_bbox_roi_head import refine_steps
from custom.models.sync_free.sync_free_delta_xywh_bbox_coder import SyncFreeDeltaXYWHBBoxCoder

from .export_check import check_exportable

__all__ = ['FasterRCNNGraph']


class FasterRCNNGraph(nn.Module):
    """mmdet's two-stage inference for one image, as a traceable graph of tensors.

    The detector's own modules run (data preprocessor constants, ``extract_feat``, the RPN
    head's and box head's layers, the RoI extractor's level mapping);
    what mmdet does in Python around them is written here with tensor operations:
    anchors from the feature maps' sizes, per-level top-k, box decoding with the clip size
    as a tensor, NMS batched by level or class
    with the coordinate-offset trick (as mmcv's ``batched_nms``), RoIAlign per level.
    Supports ``IterativeBBoxRoIHead``'s ``refine_steps``.

    Args:
        detector (nn.Module): A Faster R-CNN-type mmdet detector in eval mode
            (:func:`check_exportable` passes).
    """

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        check_exportable(detector)
        pre = detector.data_preprocessor
        self.detector = detector
        self.bgr_to_rgb = bool(pre._channel_conversion)
        self.normalize = bool(pre._enable_normalize)
        self.pad_divisor = int(pre.pad_size_divisor)
        self.pad_value = float(pre.pad_value)
        rpn_cfg = detector.rpn_head.test_cfg
        self.nms_pre = int(rpn_cfg.get('nms_pre', -1))
        self.min_bbox_size = float(rpn_cfg.get('min_bbox_size', -1))
        self.rpn_iou = float(rpn_cfg.nms.iou_threshold)
        self.rpn_agnostic = bool(rpn_cfg.nms.get('class_agnostic', False))
        self.num_proposals = int(rpn_cfg.max_per_img)
        rcnn_cfg = detector.roi_head.test_cfg
        self.score_thr = float(rcnn_cfg.score_thr)
        self.rcnn_iou = float(rcnn_cfg.nms.iou_threshold)
        self.rcnn_agnostic = bool(rcnn_cfg.nms.get('class_agnostic', False))
        self.max_per_img = int(rcnn_cfg.max_per_img)
        self.refine_steps = refine_steps(rcnn_cfg)

    def forward(self, image: Tensor, orig_size: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Detections of one image.

        Args:
            image (Tensor): (1, 3, h, w) float32 pixel values 0-255 of the resized image,
                in the colour order the test pipeline loads (BGR for mmdet's loaders).
            orig_size (Tensor): (2,) float32, the original image's (H, W).

        Returns:
            tuple[Tensor, Tensor, Tensor]: ``boxes`` (K, 4) float x1y1x2y2 in original-image
            pixels, ``scores`` (K,) float, ``labels`` (K,) int64; best score first.
        """
        img_shape = _shape_of(image)  # (h, w) as a float tensor: boxes are clipped to it
        feats = self.detector.extract_feat(self.preprocess(image))
        proposals = self.proposals(feats, img_shape)
        rois = torch.cat([proposals.new_zeros(proposals.shape[0], 1), proposals], dim=1)
        return self.detections(feats, rois, img_shape, orig_size)

    def detections(self, feats: tuple[Tensor, ...], rois: Tensor, img_shape: Tensor,
                   orig_size: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """mmdet's RoI head at test time: the box head over the RoIs, boxes decoded and
        clipped, scaled to the original image, then class-aware NMS over the scores above
        ``score_thr``, the ``max_per_img`` best kept.

        Args:
            feats (tuple[Tensor]): The neck's maps, each (1, C', fh, fw).
            rois (Tensor): (N, 5) zero, x1, y1, x2, y2 in the resized image.
            img_shape (Tensor): (2,) float (h, w) of the resized image.
            orig_size (Tensor): (2,) float (H, W) of the original image.

        Returns:
            tuple[Tensor, Tensor, Tensor]: boxes (K, 4), scores (K,), labels (K,).
        """
        cls_score, bbox_pred, rois = self.box_head(feats, rois, img_shape)
        head = self.detector.roi_head.bbox_head
        scores = F.softmax(cls_score, dim=-1)[:, :-1]  # (N, C): the background column goes
        boxes = decode(head.bbox_coder, rois[:, 1:], bbox_pred, img_shape)
        scale = (img_shape / orig_size.to(img_shape)).flip(0).repeat(2)  # (w/W, h/H) x 2
        boxes = (boxes.reshape(rois.shape[0], -1, 4) / scale).expand(-1, scores.shape[1], -1)
        labels = torch.arange(scores.shape[1], device=scores.device).expand_as(scores)
        boxes, scores, labels = boxes.reshape(-1, 4), scores.reshape(-1), labels.reshape(-1)
        candidates = (scores > self.score_thr).nonzero().squeeze(1)
        boxes, scores, labels = boxes[candidates], scores[candidates], labels[candidates]
        keep = batched_nms(boxes, scores, _groups(labels, self.rcnn_agnostic),
                           self.rcnn_iou)
        keep = _first(keep, self.max_per_img)
        return boxes[keep], scores[keep], labels[keep]

    def preprocess(self, image: Tensor) -> Tensor:
        """mmdet's ``DetDataPreprocessor`` at test time: colour order, normalisation, then
        padding of the bottom and right up to multiples of ``pad_size_divisor``.

        Args:
            image (Tensor): (1, 3, h, w) pixel values.

        Returns:
            Tensor: (1, 3, h', w') the network's input.
        """
        pre = self.detector.data_preprocessor
        if self.bgr_to_rgb:
            image = image.flip(1)
        image = image.float()
        if self.normalize:
            image = (image - pre.mean.view(1, -1, 1, 1)) / pre.std.view(1, -1, 1, 1)
        if self.pad_divisor > 1:
            h, w = image.shape[-2:]
            pad_h = (h + self.pad_divisor - 1) // self.pad_divisor * self.pad_divisor - h
            pad_w = (w + self.pad_divisor - 1) // self.pad_divisor * self.pad_divisor - w
            image = F.pad(image, (0, pad_w, 0, pad_h), value=self.pad_value)
        return image

    def proposals(self, feats: tuple[Tensor, ...], img_shape: Tensor) -> Tensor:
        """mmdet's RPN proposals: per level the ``nms_pre`` best anchors, decoded and
        clipped, boxes not wider and taller than ``min_bbox_size`` dropped, NMS batched by
        level, the ``max_per_img`` best kept.

        Returns:
            Tensor: (N, 4) proposals, best score first.
        """
        rpn = self.detector.rpn_head
        cls_scores, bbox_preds = rpn(feats)
        scores, deltas, anchors, levels = [], [], [], []
        for level, (cls_score, bbox_pred) in enumerate(zip(cls_scores, bbox_preds)):
            level_anchors = grid_anchors(rpn.prior_generator, level, cls_score)
            score = cls_score[0].permute(1, 2, 0).reshape(-1, rpn.cls_out_channels)
            score = score.sigmoid()[:, 0] if rpn.use_sigmoid_cls else score.softmax(-1)[:, 0]
            delta = bbox_pred[0].permute(1, 2, 0).reshape(-1, 4)
            if self.nms_pre > 0:
                score, top = score.topk(_at_most(score.shape[0], self.nms_pre))
                delta, level_anchors = delta[top], level_anchors[top]
            scores.append(score)
            deltas.append(delta)
            anchors.append(level_anchors)
            levels.append(torch.full_like(score, level, dtype=torch.long))
        scores, levels = torch.cat(scores), torch.cat(levels)
        boxes = decode(rpn.bbox_coder, torch.cat(anchors), torch.cat(deltas), img_shape)
        if self.min_bbox_size >= 0:
            size = boxes[:, 2:] - boxes[:, :2]
            valid = ((size[:, 0] > self.min_bbox_size) &
                     (size[:, 1] > self.min_bbox_size)).nonzero().squeeze(1)
            boxes, scores, levels = boxes[valid], scores[valid], levels[valid]
        keep = batched_nms(boxes, scores, _groups(levels, self.rpn_agnostic), self.rpn_iou)
        return boxes[_first(keep, self.num_proposals)]

    def box_head(self, feats: tuple[Tensor, ...], rois: Tensor,
                 img_shape: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The box head over the RoIs, ``refine_steps`` more times over its own boxes
        (``IterativeBBoxRoIHead``) with the class logits of all passes averaged.

        Args:
            rois (Tensor): (N, 5) zero, x1, y1, x2, y2.

        Returns:
            tuple: class logits (N, C + 1), box deltas (N, 4) or (N, C * 4), and the RoIs
            (N, 5) the deltas apply to.
        """
        head = self.detector.roi_head.bbox_head
        pooled, order = self.roi_features(feats, rois)
        rois = rois[order]
        cls_score, bbox_pred = head(pooled)
        logits = [cls_score]
        for _ in range(self.refine_steps):
            if not head.reg_class_agnostic:  # each RoI moves by its likeliest class's deltas
                labels = cls_score[:, :head.num_classes].argmax(dim=1)
                bbox_pred = bbox_pred.reshape(rois.shape[0], -1, 4)[
                    torch.arange(rois.shape[0], device=rois.device), labels]
            rois = torch.cat([rois[:, :1], decode(head.bbox_coder, rois[:, 1:], bbox_pred,
                                                  img_shape)], dim=1)
            pooled, order = self.roi_features(feats, rois)
            rois, logits = rois[order], [logit[order] for logit in logits]
            cls_score, bbox_pred = head(pooled)
            logits.append(cls_score)
        if len(logits) > 1:
            cls_score = torch.stack(logits).mean(dim=0)
        return cls_score, bbox_pred, rois

    def roi_features(self, feats: tuple[Tensor, ...], rois: Tensor) -> tuple[Tensor, Tensor]:
        """mmdet's ``SingleRoIExtractor``: each RoI pooled from the level its size maps to.

        The features come level by level; the order of RoIs does not change the detections
        (NMS ranks them by score), so the caller takes the RoIs in that order instead of
        the features being scattered back into the RoIs' order.

        Args:
            rois (Tensor): (N, 5).

        Returns:
            tuple[Tensor, Tensor]: (N, C', out_h, out_w) pooled features of ``rois[order]``,
            and ``order`` (N,), a permutation of the RoIs.
        """
        extractor = self.detector.roi_head.bbox_roi_extractor
        num_levels = len(extractor.featmap_strides)
        layers = extractor.roi_layers

        def pool(level: int, level_rois: Tensor) -> Tensor:
            layer = layers[level]
            return roi_align(feats[level], level_rois, layer.output_size, layer.spatial_scale,
                             layer.sampling_ratio, layer.aligned)

        if num_levels == 1:
            return pool(0, rois), torch.arange(rois.shape[0], device=rois.device)
        target = extractor.map_roi_levels(rois, num_levels)
        members = [(target == level).nonzero().squeeze(1) for level in range(num_levels)]
        return torch.cat([pool(level, rois[m]) for level, m in enumerate(members)]), \
            torch.cat(members)


def decode(coder: DeltaXYWHBBoxCoder, priors: Tensor, deltas: Tensor,
           max_shape: Tensor, wh_ratio_clip: float = 16 / 1000) -> Tensor:
    """mmdet's ``delta2bbox`` with the coder's settings and the clip size as a tensor.

    A ``SyncFreeDeltaXYWHBBoxCoder`` (classicdet's configs) decodes with its own
    :meth:`decode_boxes`, the method the detector's heads call too; for mmdet's coder the
    decoding is written here (mmdet 3.3's ONNX variant of it imports a module that no longer
    exists).

    Args:
        coder (DeltaXYWHBBoxCoder): means, stds, clipping and centre clamp.
        priors (Tensor): (N, 4) boxes the deltas move.
        deltas (Tensor): (N, 4 * k) normalised deltas, k boxes per prior.
        max_shape (Tensor): (2,) (h, w) the boxes are clipped to.
        wh_ratio_clip (float): Largest log-scale change allowed, as mmdet's heads call it.

    Returns:
        Tensor: (N, 4 * k) x1y1x2y2 boxes.
    """
    if isinstance(coder, SyncFreeDeltaXYWHBBoxCoder):
        return coder.decode_boxes(priors, deltas, max_shape, wh_ratio_clip)
    num = deltas.shape[0]
    deltas = deltas.reshape(num, -1, 4) * deltas.new_tensor(coder.stds) + deltas.new_tensor(
        coder.means)
    priors = priors[:, None, :]
    centres = (priors[..., :2] + priors[..., 2:]) * 0.5
    sizes = priors[..., 2:] - priors[..., :2]
    shifts = sizes * deltas[..., :2]
    max_ratio = abs(math.log(wh_ratio_clip))
    if coder.add_ctr_clamp:
        shifts = shifts.clamp(min=-coder.ctr_clamp, max=coder.ctr_clamp)
        log_scales = deltas[..., 2:].clamp(max=max_ratio)
    else:
        log_scales = deltas[..., 2:].clamp(min=-max_ratio, max=max_ratio)
    centres = centres + shifts
    sizes = sizes * log_scales.exp()
    boxes = torch.cat([centres - sizes * 0.5, centres + sizes * 0.5], dim=-1)
    if coder.clip_border:
        boxes = torch.min(boxes.clamp(min=0), max_shape.flip(0).repeat(2).to(boxes))
    return boxes.reshape(num, -1)


def grid_anchors(prior_generator, level: int, feat: Tensor) -> Tensor:
    """mmdet's ``AnchorGenerator.single_level_grid_priors`` for ``feat``'s size, with the
    size as a graph value (mmdet's meshgrid takes Python lengths, which tracing freezes).

    Args:
        prior_generator (AnchorGenerator): the RPN head's.
        level (int): Feature level.
        feat (Tensor): (1, *, fh, fw) a map of the level.

    Returns:
        Tensor: (fh * fw * A, 4) anchors, in mmdet's order (row, column, base anchor).
    """
    stride_w, stride_h = prior_generator.strides[level]
    base = prior_generator.base_anchors[level].to(feat)
    fh, fw = feat.shape[-2:]
    xs = torch.arange(fw, device=feat.device).to(feat.dtype) * stride_w
    ys = torch.arange(fh, device=feat.device).to(feat.dtype) * stride_h
    sy, sx = torch.meshgrid(ys, xs, indexing='ij')
    shifts = torch.stack([sx, sy, sx, sy], dim=-1).reshape(-1, 1, 4)
    return (shifts + base[None]).reshape(-1, 4)


def batched_nms(boxes: Tensor, scores: Tensor, groups: Tensor, iou_threshold: float) -> Tensor:
    """NMS within each group, by offsetting each group's boxes apart (mmcv's
    ``batched_nms`` for fewer than its split threshold of boxes).

    Args:
        boxes (Tensor): (M, 4). scores (Tensor): (M,). groups (Tensor): (M,) int.

    Returns:
        Tensor: (M',) int64 indices kept, best score first.
    """
    # The max over boxes and a zero: defined for no boxes too.
    top = torch.cat([boxes.reshape(-1), boxes.new_zeros(1)]).max()
    offsets = groups.to(boxes) * (top + 1)
    return nms(boxes + offsets[:, None], scores, iou_threshold)


def _shape_of(image: Tensor) -> Tensor:
    """(h, w) of ``image`` as a float tensor that stays a graph value when traced."""
    h, w = image.shape[-2:]
    return torch.stack([torch.as_tensor(h), torch.as_tensor(w)]).to(torch.float32)


def _groups(groups: Tensor, agnostic: bool) -> Tensor:
    """NMS groups: ``groups`` itself, or one group for all (``class_agnostic=True``)."""
    return torch.zeros_like(groups) if agnostic else groups


def _first(indices: Tensor, count: int) -> Tensor:
    """The first ``count`` indices; all of them when ``count`` <= 0 (mmdet's "no limit")."""
    return indices[:count] if count > 0 else indices


def _at_most(n, k: int):
    """min(n, k) for a size that is an int, or a tensor while tracing."""
    return torch.clamp(n, max=k) if isinstance(n, Tensor) else min(n, k)
