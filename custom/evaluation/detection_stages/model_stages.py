"""Run a two-stage detector on one image stage by stage, with the model's own modules, and
record what each stage produced (:class:`~.records.DetectionStages`).

Nothing here re-implements a stage: the backbone, neck, RPN head (its prior generator, its
candidate selection and post-processing), window proposer and RoI head are the model's. Where
a stage's intermediate result is not returned by the model (the boxes that enter NMS), it is
taken from the same functions the model calls, with the step after it left out.

Shape shorthand: P = proposals, C = foreground classes, D = detections.
"""
from __future__ import annotations

import copy

import numpy as np
import torch
from mmcv.ops import batched_nms
from mmdet.models.dense_heads import RPNHead
from mmengine.config import Config, ConfigDict
from mmengine.structures import InstanceData
from torch import nn

from custom.core.errors import InputError
from custom.inference.slicing import tile_pipeline
from custom.models.proposals import BaseWindowProposals
from custom.models.sync_free.batch_proposals import batch_candidates, decode_clipped

from .records import (
    AnchorLevel,
    ClassCounts,
    DetectionStages,
    FeatureMap,
    ProposalStage,
    RoIStage,
)
from .saliency import grad_cam
from .windows import course_windows

__all__ = ['collect_stages', 'prepare_input']

# Without a cap, NMS keeps every box that survives it.
_NO_CAP = 10**9


def prepare_input(model: nn.Module, cfg: Config, image: np.ndarray) -> dict:
    """The image through the config's test pipeline and the model's data preprocessor.

    Args:
        model (nn.Module): The detector.
        cfg (Config): Its config (``test_dataloader.dataset.pipeline``).
        image (np.ndarray): (H0, W0, 3) uint8 BGR.

    Returns:
        dict: ``inputs`` (1, 3, Hp, Wp) float, ``data_samples`` (one DetDataSample with
        ``img_shape``, ``scale_factor``, ``batch_input_shape``) and ``image`` (H, W, 3) uint8
        RGB, the resized input before normalisation and padding.
    """
    pipeline = tile_pipeline(cfg.test_dataloader.dataset.pipeline)
    data = pipeline(dict(img=image, img_id=0))
    batch = model.data_preprocessor(
        dict(inputs=[data['inputs']], data_samples=[data['data_samples']]), False)
    height, width = batch['data_samples'][0].img_shape[:2]
    rgb = data['inputs'].permute(1, 2, 0).numpy()[:height, :width, ::-1]
    return dict(inputs=batch['inputs'], data_samples=batch['data_samples'],
                image=np.ascontiguousarray(rgb))


@torch.no_grad()
def collect_stages(model: nn.Module, cfg: Config, image: np.ndarray, *,
                   windows_cfg: Config | None = None, saliency_top: int = 6) -> DetectionStages:
    """Every stage of ``model`` on ``image``.

    Args:
        model (nn.Module): A two-stage detector in eval mode (``rpn_head`` an mmdet
            ``RPNHead`` or a window proposer, ``roi_head`` with a ``bbox_head``).
        cfg (Config): Its config.
        image (np.ndarray): (H0, W0, 3) uint8 BGR.
        windows_cfg (Config, optional): A config whose ``proposal_generators`` give the
            course's windows; default ``cfg``'s, else windows sized to the image.
        saliency_top (int): Grad-CAM for this many best detections. Defaults to 6.

    Returns:
        DetectionStages: The records.

    Raises:
        InputError: The model is not a two-stage detector with an RPN or window proposer.
    """
    for part in ('backbone', 'rpn_head', 'roi_head'):
        if getattr(model, part, None) is None:
            raise InputError(f'model.{part}: the stages page needs a two-stage detector '
                           f'(backbone, rpn_head, roi_head); {type(model).__name__} has none')
    batch = prepare_input(model, cfg, image)
    inputs, samples = batch['inputs'], batch['data_samples']
    meta = samples[0].metainfo
    backbone_outs = tuple(model.backbone(inputs))
    feats = tuple(model.neck(backbone_outs)) if model.with_neck else backbone_outs
    input_w = inputs.shape[-1]
    proposals, anchors = _proposal_stage(model, feats, samples)
    rpn_results = InstanceData(bboxes=torch.from_numpy(proposals.proposals),
                               scores=torch.from_numpy(proposals.proposal_scores))
    rpn_results.labels = torch.zeros(len(rpn_results), dtype=torch.long)
    roi = _roi_stage(model, feats, rpn_results, samples)
    scale = meta.get('scale_factor', (1.0, 1.0))
    stages = DetectionStages(
        image=batch['image'], scale_factor=(float(scale[0]), float(scale[1])),
        classes=tuple(getattr(model, 'dataset_meta', {}).get('classes', ())),
        backbone=_feature_maps(backbone_outs, input_w, 'C'),
        neck=_feature_maps(feats, input_w, 'P') if model.with_neck else [],
        anchors=anchors, proposals=proposals, roi=roi)
    stages.saliency = grad_cam(model, inputs, roi.det_boxes[:saliency_top],
                               roi.det_labels[:saliency_top], stages.image.shape[:2])
    stages.windows = course_windows(windows_cfg if windows_cfg is not None else cfg,
                                    *stages.image.shape[:2])
    return stages


def _feature_maps(maps, input_w: int, prefix: str) -> list[FeatureMap]:
    """Heat maps of one image's feature maps, named by stride: C3 / P3 for stride 8."""
    out = []
    for level in maps:
        stride = input_w / level.shape[-1]
        out.append(FeatureMap(name=f'{prefix}{round(np.log2(stride))}', stride=float(stride),
                              shape=tuple(int(n) for n in level.shape[1:]),
                              heat=level[0].abs().mean(0).float().numpy()))
    return out


def _proposal_stage(model, feats, samples) -> tuple[ProposalStage, list[AnchorLevel]]:
    """The RPN's (or window proposer's) candidates, NMS survivors and proposals."""
    head = model.rpn_head
    meta = samples[0].metainfo
    cfg = ConfigDict(copy.deepcopy(head.test_cfg))
    final = head.predict(feats, samples, rescale=False)[0]
    if isinstance(head, BaseWindowProposals):
        boxes, scores = head.scored_windows(head(feats)[0][0], meta)
        num_windows = len(boxes)
        order = torch.sort(scores, descending=True, stable=True)[1]
        if 0 < cfg.get('nms_pre', -1) < len(order):
            order = order[:cfg.nms_pre]
        boxes, scores = boxes[order], scores[order]
        levels = torch.zeros(len(boxes), dtype=torch.long)
        if len(boxes):
            dets, keep = batched_nms(boxes, scores, levels, cfg.nms)
            nms_boxes, nms_scores = boxes[keep], dets[:, -1]
        else:
            nms_boxes, nms_scores = boxes, scores
        anchors, source = [], type(head).__name__
    elif isinstance(head, RPNHead):
        cls_scores, bbox_preds = head(feats)
        sizes = [score.shape[-2:] for score in cls_scores]
        priors = head.prior_generator.grid_priors(sizes, dtype=cls_scores[0].dtype,
                                                  device=cls_scores[0].device)
        scores, deltas, cand_priors, levels = batch_candidates(
            cls_scores, bbox_preds, priors, cfg.get('nms_pre', -1), head.cls_out_channels,
            head.use_sigmoid_cls, head.bbox_coder.encode_size)
        boxes = decode_clipped(head.bbox_coder, cand_priors, deltas, [meta])[0]
        scores = scores[0]
        survivors = head._bbox_post_process(
            InstanceData(bboxes=boxes.clone(), scores=scores.clone(), level_ids=levels),
            ConfigDict(cfg, max_per_img=_NO_CAP), rescale=False, with_nms=True,
            img_meta=meta)
        nms_boxes, nms_scores = survivors.bboxes, survivors.scores
        num_windows, source = -1, 'rpn'
        generator = head.prior_generator
        anchors = [AnchorLevel(stride=float(generator.strides[i][0]),
                               feature_size=tuple(int(s) for s in size),
                               base_anchors=generator.base_anchors[i].numpy().copy(),
                               count=int(size[0] * size[1] * generator.num_base_priors[i]))
                   for i, size in enumerate(sizes)]
    else:
        raise InputError(f'model.rpn_head: {type(head).__name__} is neither an RPNHead nor a '
                       'window proposer; the stages page cannot show its proposals')
    counts = torch.bincount(levels, minlength=1 if not anchors else len(anchors))
    stage = ProposalStage(
        source=source, level_counts=[int(c) for c in counts],
        candidate_boxes=boxes.float().numpy(), candidate_scores=scores.float().numpy(),
        candidate_levels=levels.numpy(), nms_boxes=nms_boxes.float().numpy(),
        nms_scores=nms_scores.float().numpy(), proposals=final.bboxes.float().numpy(),
        proposal_scores=final.scores.float().numpy(), num_windows=num_windows,
        max_per_img=int(cfg.max_per_img))
    return stage, anchors


def _roi_stage(model, feats, rpn_results: InstanceData, samples) -> RoIStage:
    """The RoI head's detections, and its class-wise boxes before NMS from the same call."""
    roi_head = model.roi_head
    head = roi_head.bbox_head
    rcnn_cfg = roi_head.test_cfg
    seen = {}
    predict_by_feat = head.predict_by_feat

    def recording(*args, **kwargs):
        seen.update(kwargs)
        return predict_by_feat(*args, **kwargs)

    head.predict_by_feat = recording  # an instance attribute shadows the method for one call
    try:
        dets = roi_head.predict(feats, [rpn_results], samples, rescale=False)[0]
    finally:
        del head.predict_by_feat
    num_classes = head.num_classes
    if seen:
        raw = predict_by_feat(**dict(seen, rcnn_test_cfg=None, rescale=False))[0]
        boxes = raw.bboxes.view(len(raw.bboxes), -1, 4).expand(-1, num_classes, -1)
        scores = raw.scores[:, :num_classes]
    else:  # no proposals: the head returned early
        boxes, scores = torch.zeros(0, num_classes, 4), torch.zeros(0, num_classes)
    per_class = _class_counts(boxes, scores, rcnn_cfg)
    return RoIStage(boxes=boxes.float().numpy().copy(), scores=scores.float().numpy().copy(),
                    score_thr=float(rcnn_cfg.score_thr),
                    iou_threshold=float(rcnn_cfg.nms.get('iou_threshold', 0.5)),
                    max_per_img=int(rcnn_cfg.max_per_img), per_class=per_class,
                    det_boxes=dets.bboxes.float().numpy(), det_scores=dets.scores.float().numpy(),
                    det_labels=dets.labels.numpy().astype(int))


def _class_counts(boxes, scores, rcnn_cfg) -> list[ClassCounts]:
    """Per class: one box per proposal, those the head's NMS keeps, and those it keeps when
    only boxes above ``score_thr`` enter, as mmdet's ``multiclass_nms`` runs it.

    Greedy NMS visits boxes best first, so a box under the threshold never removes one above
    it: the third count is the second one thresholded (up to the float rounding of the class
    offsets that mmcv's ``batched_nms`` adds to the coordinates).
    """
    num_props, num_classes = scores.shape
    if num_props == 0:
        return [ClassCounts(0, 0, 0) for _ in range(num_classes)]
    boxes = boxes.reshape(-1, 4).contiguous()
    scores = scores.reshape(-1).contiguous()
    labels = torch.arange(num_classes).repeat(num_props)
    after_nms = torch.bincount(labels[batched_nms(boxes, scores, labels, rcnn_cfg.nms)[1]],
                               minlength=num_classes)
    above = torch.nonzero(scores > rcnn_cfg.score_thr)[:, 0]
    after_thr = torch.zeros(num_classes, dtype=torch.long)
    if len(above):
        keep = batched_nms(boxes[above], scores[above], labels[above], rcnn_cfg.nms)[1]
        after_thr = torch.bincount(labels[above][keep], minlength=num_classes)
    return [ClassCounts(before_nms=num_props, after_nms=int(after_nms[c]),
                        after_thr=int(after_thr[c])) for c in range(num_classes)]
