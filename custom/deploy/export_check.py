"""Which detectors :class:`~custom.deploy.faster_rcnn_graph.FasterRCNNGraph` can express;
the first part it cannot is named in one line instead of being changed quietly."""
from __future__ import annotations

from mmdet.models.dense_heads import RPNHead
from mmdet.models.detectors import TwoStageDetector
from mmdet.models.roi_heads import StandardRoIHead
from mmdet.models.roi_heads.roi_extractors import SingleRoIExtractor
from mmdet.models.task_modules.coders import DeltaXYWHBBoxCoder
from torch import nn

from custom.core.errors import InputError
from custom.models.roi_heads.iterative_bbox_roi_head import refine_steps

__all__ = ['check_exportable']


def check_exportable(detector: nn.Module, cfg=None) -> None:
    """Raise a one-line error naming the first part of ``detector`` that the graph cannot
    express; return None when it can express them all.

    Args:
        detector (nn.Module): A built mmdet detector.
        cfg (Config, optional): Its config (checked for ``model.test_cfg.slicing``).

    Raises:
        InputError: ``model.<part>`` and why it cannot be exported.
    """
    def refuse(part: str, why: str):
        raise InputError(f'model.{part}: {why}; ONNX export supports Faster R-CNN with an '
                       'RPN, RoIAlign and plain NMS')

    if not isinstance(detector, TwoStageDetector) or not detector.with_rpn:
        refuse('type', f'{type(detector).__name__} has no RPN head (proposals come from '
               'elsewhere)' if isinstance(detector, TwoStageDetector)
               else f'{type(detector).__name__} is not a two-stage detector')
    if cfg is not None and (cfg.model.get('test_cfg') or {}).get('slicing'):
        refuse('test_cfg.slicing', 'sliced inference runs tile by tile in Python; export '
               'without it (tools/test.py and tools/infer.py slice with --slice-size)')
    rpn = detector.rpn_head
    if not isinstance(rpn, RPNHead):
        refuse('rpn_head.type', f'{type(rpn).__name__} is not an RPNHead')
    _check_coder('rpn_head.bbox_coder', rpn.bbox_coder, refuse)
    _check_nms('test_cfg.rpn.nms', rpn.test_cfg.get('nms', {}), refuse)
    roi = detector.roi_head
    if not isinstance(roi, StandardRoIHead) or roi.with_mask:
        refuse('roi_head.type', f'{type(roi).__name__}' + (' has a mask head' if isinstance(
            roi, StandardRoIHead) else ' is not a StandardRoIHead'))
    extractor = roi.bbox_roi_extractor
    if type(extractor) is not SingleRoIExtractor:
        refuse('roi_head.bbox_roi_extractor.type',
               f'{type(extractor).__name__} is not a SingleRoIExtractor')
    for layer in extractor.roi_layers:
        if type(layer).__name__ != 'RoIAlign' or getattr(layer, 'pool_mode', 'avg') != 'avg':
            refuse('roi_head.bbox_roi_extractor.roi_layer',
                   f'{type(layer).__name__} (pool_mode {getattr(layer, "pool_mode", "?")}) '
                   'is not RoIAlign with average pooling')
    head = roi.bbox_head
    if head.custom_activation or getattr(head.loss_cls, 'use_sigmoid', False):
        refuse('roi_head.bbox_head.loss_cls', 'the graph scores classes with a softmax')
    _check_coder('roi_head.bbox_head.bbox_coder', head.bbox_coder, refuse)
    _check_nms('test_cfg.rcnn.nms', roi.test_cfg.get('nms', {}), refuse)
    refine_steps(roi.test_cfg)


def _check_coder(part: str, coder, refuse) -> None:
    if not isinstance(coder, DeltaXYWHBBoxCoder) or coder.use_box_type:
        refuse(f'{part}.type', f'{type(coder).__name__} is not a DeltaXYWHBBoxCoder '
               'returning plain tensors')


def _check_nms(part: str, nms_cfg: dict, refuse) -> None:
    kind = nms_cfg.get('type', 'nms')
    if kind != 'nms':
        refuse(f'{part}.type', f"{kind!r} has no ONNX operator (NonMaxSuppression is plain "
               "NMS); export a config with type='nms'")
    unknown = set(nms_cfg) - {'type', 'iou_threshold', 'class_agnostic', 'split_thr'}
    if unknown:
        refuse(f'{part}.{sorted(unknown)[0]}', 'the graph runs NMS with an IoU threshold, '
               'per class or class-agnostic, and nothing else')
