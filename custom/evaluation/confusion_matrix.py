"""Detection confusion matrix from a COCO annotation file and a COCO results file.

Follows the definition of MMDetection 3.x ``tools/analysis_tools/confusion_matrix.py``:
the matrix is (K + 1, K + 1), rows are ground-truth classes then background, columns are
predicted classes then background. For each detection with score >= ``score_thr``:

- every ground-truth box with IoU >= ``iou_thr`` adds 1 at (gt class, predicted class);
  a same-class match marks that ground truth as found;
- a detection that matches no ground truth adds 1 at (background, predicted class).

Each ground truth never found by a same-class detection adds 1 at (gt class, background).
Ground truth is read as mmdet's CocoDataset reads it: boxes marked ``ignore`` or narrower or
shorter than 1 pixel are dropped; crowd boxes count.

Box shorthand: N = detections in one image, G = ground-truth boxes in it, K = classes;
boxes are (x1, y1, x2, y2) in pixels.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from pycocotools.coco import COCO

from custom.core.boxes import box_iou

from .coco_files import class_names, load_ground_truth, load_results, xywh_to_xyxy
from .plotting import new_figure, save_figure

__all__ = ['ConfusionMatrix', 'accumulate_image', 'compute_confusion_matrix',
           'format_confusion_table', 'plot_confusion_matrix']


@dataclass
class ConfusionMatrix:
    """Counts and labels of a detection confusion matrix.

    Attributes:
        matrix (np.ndarray): (K + 1, K + 1) int64 counts; row = ground truth, column =
            prediction; index K is background.
        labels (list[str]): K class names (ascending category id) followed by 'background'.
        score_thr (float): detections below this score were ignored.
        iou_thr (float): IoU at which a detection matches a ground truth.
    """
    matrix: np.ndarray
    labels: list[str]
    score_thr: float
    iou_thr: float

    def normalized(self) -> np.ndarray:
        """(K + 1, K + 1) row-normalized percentages; NaN for rows without any count."""
        sums = self.matrix.sum(axis=1, keepdims=True).astype(np.float64)
        with np.errstate(invalid='ignore', divide='ignore'):
            return np.where(sums > 0, self.matrix / sums * 100.0, np.nan)


def accumulate_image(matrix: np.ndarray, gt_boxes: np.ndarray, gt_labels: np.ndarray,
                     det_boxes: np.ndarray, det_labels: np.ndarray, det_scores: np.ndarray,
                     score_thr: float, iou_thr: float) -> None:
    """Add one image's counts to ``matrix`` in place.

    Args:
        matrix (np.ndarray): (K + 1, K + 1) counts; the last row/column is background.
        gt_boxes (np.ndarray): (G, 4) xyxy.
        gt_labels (np.ndarray): (G,) class indices in [0, K).
        det_boxes (np.ndarray): (N, 4) xyxy.
        det_labels (np.ndarray): (N,) class indices in [0, K).
        det_scores (np.ndarray): (N,) scores.
        score_thr (float): detections scoring below it are ignored.
        iou_thr (float): IoU at which a detection matches a ground truth.
    """
    keep = np.asarray(det_scores) >= score_thr
    det_boxes, det_labels = np.asarray(det_boxes)[keep], np.asarray(det_labels)[keep]
    gt_labels = np.asarray(gt_labels, dtype=np.int64)
    found = np.zeros(len(gt_labels), dtype=bool)
    ious = box_iou(det_boxes, gt_boxes)  # (N, G)
    for det_label, det_ious in zip(det_labels, ious):
        matched = np.flatnonzero(det_ious >= iou_thr)
        if matched.size == 0:  # a false positive on background
            matrix[-1, det_label] += 1
            continue
        np.add.at(matrix, (gt_labels[matched], det_label), 1)
        found[matched[gt_labels[matched] == det_label]] = True
    np.add.at(matrix, (gt_labels[~found], -1), 1)  # missed ground truth


def ground_truth_by_image(gt: COCO, label_of: dict[int, int]) -> dict[int, tuple]:
    """image id -> ((G, 4) xyxy boxes, (G,) labels), filtered as mmdet's CocoDataset does."""
    boxes, labels = defaultdict(list), defaultdict(list)
    for ann in gt.dataset['annotations']:
        x, y, w, h = ann['bbox']
        if ann.get('ignore', False) or w < 1 or h < 1:
            continue
        boxes[ann['image_id']].append([x, y, w, h])
        labels[ann['image_id']].append(label_of[ann['category_id']])
    return {img_id: (xywh_to_xyxy(np.array(boxes[img_id])), np.array(labels[img_id], np.int64))
            for img_id in gt.getImgIds()}


def compute_confusion_matrix(ann_file: str, results_file: str, score_thr: float = 0.3,
                             iou_thr: float = 0.5) -> ConfusionMatrix:
    """The confusion matrix of a COCO results file against its annotation file."""
    gt = load_ground_truth(ann_file)
    dets = load_results(results_file, gt, ann_file)
    cat_ids, names = class_names(gt)
    label_of = {cat_id: index for index, cat_id in enumerate(cat_ids)}
    matrix = np.zeros((len(cat_ids) + 1, len(cat_ids) + 1), dtype=np.int64)
    dets_by_image = defaultdict(list)
    for det in dets:
        dets_by_image[det['image_id']].append(det)
    for img_id, (gt_boxes, gt_labels) in ground_truth_by_image(gt, label_of).items():
        img_dets = dets_by_image.get(img_id, [])
        accumulate_image(
            matrix, gt_boxes, gt_labels,
            det_boxes=xywh_to_xyxy(np.array([d['bbox'] for d in img_dets])),
            det_labels=np.array([label_of[d['category_id']] for d in img_dets], np.int64),
            det_scores=np.array([d['score'] for d in img_dets], np.float64),
            score_thr=score_thr, iou_thr=iou_thr)
    return ConfusionMatrix(matrix=matrix, labels=names + ['background'], score_thr=score_thr,
                           iou_thr=iou_thr)


def format_confusion_table(cm: ConfusionMatrix) -> str:
    """Counts as a text table: one row per ground-truth label, one column per prediction."""
    corner = 'GT \\ pred'
    width = max(len(corner), *(len(label) for label in cm.labels), len(str(cm.matrix.max())))
    lines = [f'confusion matrix (score >= {cm.score_thr}, IoU >= {cm.iou_thr})',
             ' '.join([corner.ljust(width)] + [label.rjust(width) for label in cm.labels])]
    for label, row in zip(cm.labels, cm.matrix):
        lines.append(' '.join([label.ljust(width)] + [str(v).rjust(width) for v in row]))
    return '\n'.join(lines)


def plot_confusion_matrix(cm: ConfusionMatrix, out: str, cmap: str = 'plasma') -> str:
    """Row-normalized matrix as a heat map with the percentage in each cell; writes a PNG."""
    percent = cm.normalized()
    n = len(cm.labels)
    side = max(4.0, 0.55 * n + 2.0)
    fig, (ax, ) = new_figure(1, panel_size=(side + 1.0, side))
    image = ax.imshow(np.nan_to_num(percent, nan=0.0), cmap=cmap, vmin=0, vmax=100)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_title(f'Normalized confusion matrix (score >= {cm.score_thr}, '
                 f'IoU >= {cm.iou_thr})', fontsize=10)
    ax.set_xlabel('predicted label')
    ax.set_ylabel('ground-truth label')
    ax.set_xticks(np.arange(n))
    ax.set_yticks(np.arange(n))
    ax.set_xticklabels(cm.labels, rotation=45, ha='right', fontsize=8)
    ax.set_yticklabels(cm.labels, fontsize=8)
    for i in range(n):
        for j in range(n):
            text = '-' if np.isnan(percent[i, j]) else f'{percent[i, j]:.0f}%'
            ax.text(j, i, text, ha='center', va='center', color='w', fontsize=7)
    return save_figure(fig, out)
