"""What each stage of a two-stage detector produced on one image, as plain arrays.

Boxes are x1y1x2y2 float32 in network-input pixels (the image after the config's test-time
resize, before padding); ``scale_factor`` maps them back to the original image. Shape shorthand:
Hf, Wf = a feature map's height and width, A = base anchors per location, K = boxes.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ['FeatureMap', 'AnchorLevel', 'ProposalStage', 'ClassCounts', 'RoIStage',
           'Saliency', 'CourseWindows', 'DetectionStages']


@dataclass
class FeatureMap:
    """One feature map: where it comes from, its stride and its activation heat map.

    Attributes:
        name (str): 'backbone C2', 'FPN P3', ...
        stride (float): network-input pixels per feature cell.
        shape (tuple[int, int, int]): (C, Hf, Wf).
        heat (np.ndarray): (Hf, Wf) float32 channel-mean absolute activation.
    """
    name: str
    stride: float
    shape: tuple[int, int, int]
    heat: np.ndarray


@dataclass
class AnchorLevel:
    """The anchors of one RPN level.

    Attributes:
        stride (float): anchor step in pixels.
        feature_size (tuple[int, int]): (Hf, Wf).
        base_anchors (np.ndarray): (A, 4) anchors at one location, centred on (0, 0).
        count (int): Hf * Wf * A.
    """
    stride: float
    feature_size: tuple[int, int]
    base_anchors: np.ndarray
    count: int


@dataclass
class ProposalStage:
    """Region proposals (区域提议) of the RPN, or of the window proposer in its place.

    Attributes:
        source (str): 'rpn' or the window proposer's class name.
        level_counts (list[int]): boxes each level hands to NMS (the per-level top-k of an RPN;
            for windows one entry, the ``nms_pre`` best of all windows).
        candidate_boxes (np.ndarray): (K, 4) every box that enters NMS, in the model's order
            (level by level, best first within a level).
        candidate_scores (np.ndarray): (K,).
        candidate_levels (np.ndarray): (K,) int, the level of each candidate (an RPN runs NMS
            level by level).
        nms_boxes (np.ndarray): (K_nms, 4) the boxes that survive NMS, best first, before the
            per-image cap.
        nms_scores (np.ndarray): (K_nms,).
        proposals (np.ndarray): (P, 4), what the RoI head receives.
        proposal_scores (np.ndarray): (P,).
        num_windows (int): windows before the ``nms_pre`` cut (window proposers), else -1.
        max_per_img (int): the per-image cap.
    """
    source: str
    level_counts: list[int]
    candidate_boxes: np.ndarray
    candidate_scores: np.ndarray
    candidate_levels: np.ndarray
    nms_boxes: np.ndarray
    nms_scores: np.ndarray
    proposals: np.ndarray
    proposal_scores: np.ndarray
    num_windows: int
    max_per_img: int

    @property
    def counts(self) -> dict[str, int]:
        """Boxes at each step: 'top-k' (into NMS), 'after NMS', 'after cap'."""
        return {'top-k': int(sum(self.level_counts)), 'after NMS': int(len(self.nms_boxes)),
                'after cap': int(len(self.proposals))}


@dataclass
class ClassCounts:
    """Boxes of one class: before NMS (one per proposal), after NMS, after the score threshold."""
    before_nms: int
    after_nms: int
    after_thr: int


@dataclass
class RoIStage:
    """The RoI head's class-wise boxes before and after NMS (非极大值抑制).

    Attributes:
        boxes (np.ndarray): (P, C, 4) each proposal's box for each class (the same box for
            every class when the regressor is class-agnostic).
        scores (np.ndarray): (P, C) softmax score of each class (background dropped).
        score_thr (float): the head's ``test_cfg.rcnn.score_thr`` (kept: score > thr).
        iou_threshold (float): its NMS IoU threshold.
        max_per_img (int): its cap on detections.
        per_class (list[ClassCounts]): counts of each class.
        det_boxes (np.ndarray): (D, 4) the detector's output boxes.
        det_scores (np.ndarray): (D,).
        det_labels (np.ndarray): (D,) int.
    """
    boxes: np.ndarray
    scores: np.ndarray
    score_thr: float
    iou_threshold: float
    max_per_img: int
    per_class: list[ClassCounts]
    det_boxes: np.ndarray
    det_scores: np.ndarray
    det_labels: np.ndarray


@dataclass
class Saliency:
    """Grad-CAM of one detection: where the last backbone features support its class score.

    Attributes:
        index (int): the detection's row in ``RoIStage.det_*``.
        heat (np.ndarray): (H, W) float32 in [0, 1], at network-input size.
    """
    index: int
    heat: np.ndarray


@dataclass
class CourseWindows:
    """The windows of one step of the course's road (equal, sliding, multi-scale, pyramid).

    Attributes:
        key (str): 'equal', 'sliding', 'multi_scale' or 'pyramid'.
        groups (list[tuple[float, np.ndarray]]): (image scale, (K_s, 4) windows on the image
            rescaled by that scale).
        strides (list[tuple[float, float]]): (stride_x, stride_y) of each window shape.
    """
    key: str
    groups: list[tuple[float, np.ndarray]]
    strides: list[tuple[float, float]]

    @property
    def count(self) -> int:
        return int(sum(len(boxes) for _, boxes in self.groups))


@dataclass
class DetectionStages:
    """Everything the page and the PNG panels show, for one image and one model.

    Attributes:
        image (np.ndarray): (H, W, 3) uint8 RGB network input (resized, not padded).
        scale_factor (tuple[float, float]): (w, h) network input / original image.
        classes (tuple[str, ...]): class names.
        backbone (list[FeatureMap]): the backbone's outputs, finest first.
        neck (list[FeatureMap]): the neck's (FPN) outputs; empty without a neck.
        anchors (list[AnchorLevel]): empty when a window proposer replaces the RPN.
        proposals (ProposalStage): the proposal step.
        roi (RoIStage): the RoI head.
        saliency (list[Saliency]): Grad-CAM of the best detections.
        windows (list[CourseWindows]): the course's windows on this image.
    """
    image: np.ndarray
    scale_factor: tuple[float, float]
    classes: tuple[str, ...]
    backbone: list[FeatureMap]
    neck: list[FeatureMap]
    anchors: list[AnchorLevel]
    proposals: ProposalStage
    roi: RoIStage
    saliency: list[Saliency] = field(default_factory=list)
    windows: list[CourseWindows] = field(default_factory=list)

    def counts(self) -> dict:
        """Every count the page shows, as JSON-ready numbers."""
        return {
            'anchors': int(sum(level.count for level in self.anchors)),
            'proposals': self.proposals.counts,
            'rpn_level_counts': [int(c) for c in self.proposals.level_counts],
            'roi_per_class': {self.classes[c] if c < len(self.classes) else str(c):
                              vars(counts) for c, counts in enumerate(self.roi.per_class)},
            'detections': int(len(self.roi.det_boxes)),
            'windows': {w.key: w.count for w in self.windows},
        }
