"""Per-class precision-recall curves from COCOeval's accumulated ``precision`` array.

Shape shorthand (COCOeval): T = IoU thresholds (0.50:0.05:0.95), R = 101 recall thresholds,
K = categories, A = area ranges (all, small, medium, large), M = max detections (1, 10, 100).
"""
from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

import numpy as np
from pycocotools.cocoeval import COCOeval

from custom.core.errors import InputError

from .coco_files import class_names, load_ground_truth, load_results, results_as_coco
from .plotting import new_figure, save_figure

__all__ = ['PRCurves', 'evaluate_bbox', 'pr_curves_from_eval', 'compute_pr_curves',
           'plot_pr_curves']


@dataclass
class PRCurves:
    """Precision at COCO's recall thresholds, one row per class, at one IoU threshold.

    Attributes:
        iou (float): IoU threshold of these curves.
        recall (np.ndarray): (R,) recall thresholds 0.00:0.01:1.00.
        precision (np.ndarray): (K, R) interpolated precision; -1 where a class has no
            ground truth (COCOeval's convention).
        class_names (list[str]): K names, in ascending category-id order.
        ap (np.ndarray): (K,) mean precision over recall thresholds (COCO AP at ``iou``);
            -1 for classes without ground truth.
    """
    iou: float
    recall: np.ndarray
    precision: np.ndarray
    class_names: list[str]
    ap: np.ndarray


def evaluate_bbox(ann_file: str, results_file: str) -> tuple[COCOeval, list[str]]:
    """Run COCOeval (bbox) evaluate + accumulate, silently; also return the class names."""
    gt = load_ground_truth(ann_file)
    dt = results_as_coco(gt, load_results(results_file, gt, ann_file))
    coco_eval = COCOeval(gt, dt, iouType='bbox')
    with contextlib.redirect_stdout(io.StringIO()):  # COCOeval prints timing lines
        coco_eval.evaluate()
        coco_eval.accumulate()
    return coco_eval, class_names(gt)[1]


def pr_curves_from_eval(coco_eval: COCOeval, names: list[str], iou: float = 0.5,
                        area: str = 'all', max_dets: int = 100) -> PRCurves:
    """Slice ``coco_eval.eval['precision']`` (T, R, K, A, M) at one IoU, area and maxDets.

    Raises:
        InputError: ``iou`` is not one of COCOeval's thresholds, or area/maxDets is unknown.
    """
    params = coco_eval.params
    t = np.flatnonzero(np.isclose(params.iouThrs, iou))
    if t.size == 0:
        known = ', '.join(f'{v:.2f}' for v in params.iouThrs)
        raise InputError(f'--iou {iou}: not a COCO IoU threshold (one of {known})')
    if area not in params.areaRngLbl:
        raise InputError(f'area {area!r}: not one of {", ".join(params.areaRngLbl)}')
    if max_dets not in params.maxDets:
        raise InputError(f'max_dets {max_dets}: not one of {params.maxDets}')
    a, m = params.areaRngLbl.index(area), list(params.maxDets).index(max_dets)
    precision = coco_eval.eval['precision'][t[0], :, :, a, m].T.copy()  # (K, R)
    has_gt = (precision > -1).all(axis=1)
    ap = np.where(has_gt, precision.mean(axis=1), -1.0)
    return PRCurves(iou=float(params.iouThrs[t[0]]), recall=np.asarray(params.recThrs),
                    precision=precision, class_names=list(names), ap=ap)


def compute_pr_curves(ann_file: str, results_file: str,
                      ious: tuple[float, ...] = (0.5, )) -> list[PRCurves]:
    """Per-class PR curves of a results file at each IoU in ``ious`` (one COCOeval run)."""
    coco_eval, names = evaluate_bbox(ann_file, results_file)
    return [pr_curves_from_eval(coco_eval, names, iou) for iou in ious]


def plot_pr_curves(curves_per_iou: list[PRCurves], out: str) -> str:
    """One panel per IoU threshold, one line per class (legend gives AP); writes a PNG."""
    fig, axes = new_figure(len(curves_per_iou), panel_size=(6.0, 5.0))
    for ax, curves in zip(axes, curves_per_iou):
        for name, precision, ap in zip(curves.class_names, curves.precision, curves.ap):
            if ap < 0:  # no ground truth of this class: no curve to draw
                continue
            ax.plot(curves.recall, precision, linewidth=1.2, label=f'{name} (AP {ap:.3f})')
        valid = curves.ap[curves.ap >= 0]
        mean_ap = float(valid.mean()) if valid.size else float('nan')
        ax.set_title(f'Precision-recall @ IoU {curves.iou:.2f} (mAP {mean_ap:.3f})')
        ax.set_xlabel('recall')
        ax.set_ylabel('precision')
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc='lower left', ncol=1 + len(valid) // 12)
    return save_figure(fig, out)
