"""Per-class counts at a deployment threshold: TP, FP, FN, precision, recall, F1, the
threshold that maximises F1, and COCO's AP, AP50 and AP for small, medium and large boxes.

Matching is COCO's: within an image and a class, detections in descending score take the
unmatched ground-truth box of largest IoU, a match when IoU >= ``iou_thr``. A detection's
match depends only on higher-scoring ones, so the counts at every threshold come from one
pass over the detections sorted by score.

Box shorthand: N = detections, G = ground-truth boxes; xyxy pixels.
"""
from __future__ import annotations

import contextlib
import io
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from custom.core.boxes import box_iou

from .coco_files import class_names, results_as_coco, xywh_to_xyxy

__all__ = ['ClassReport', 'match_detections', 'class_reports', 'image_errors']


@dataclass
class ClassReport:
    """One class at the threshold.

    Attributes:
        name (str): category name.
        category_id (int): COCO category id.
        gt (int): ground-truth boxes (crowd boxes left out).
        tp, fp, fn (int): at ``score >= score_thr``.
        precision, recall, f1 (float | None): None where undefined (nothing detected / no box).
        best_f1, best_thr (float | None): the largest F1 over thresholds and the score that
            gives it (detections scoring at least this are kept).
        ap, ap50, ap_small, ap_medium, ap_large (float | None): COCOeval's, None where the
            class has no box of that size (COCOeval's -1).
    """
    name: str
    category_id: int
    gt: int
    tp: int
    fp: int
    fn: int
    precision: float | None
    recall: float | None
    f1: float | None
    best_f1: float | None
    best_thr: float | None
    ap: float | None = None
    ap50: float | None = None
    ap_small: float | None = None
    ap_medium: float | None = None
    ap_large: float | None = None


def match_detections(gt, dets: list[dict], iou_thr: float = 0.5):
    """Mark each detection a true positive or not, COCO's greedy way.

    Returns:
        tuple: ``is_tp`` (N,) bool in the order of ``dets``; ``matched`` (set of gt ids).
    """
    is_tp = np.zeros(len(dets), dtype=bool)
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, d in enumerate(dets):
        groups[(d['image_id'], d['category_id'])].append(i)
    matched: set[int] = set()
    for (image_id, category_id), indices in groups.items():
        anns = [a for a in gt.imgToAnns.get(image_id, [])
                if a['category_id'] == category_id and not a.get('iscrowd', 0)]
        if not anns:
            continue
        indices = sorted(indices, key=lambda i: -dets[i]['score'])
        iou = box_iou(xywh_to_xyxy([dets[i]['bbox'] for i in indices]),
                      xywh_to_xyxy([a['bbox'] for a in anns]))
        used = np.zeros(len(anns), dtype=bool)
        for n, i in enumerate(indices):
            candidates = np.where(used, -1.0, iou[n])
            g = int(np.argmax(candidates))
            if candidates[g] >= iou_thr:
                used[g] = True
                is_tp[i] = True
                matched.add(anns[g]['id'])
    return is_tp, matched


def _ratio(num: float, den: float) -> float | None:
    return float(num / den) if den > 0 else None


def _f1(p: float | None, r: float | None) -> float | None:
    if p is None or r is None:
        return None
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def class_reports(gt, dets: list[dict], score_thr: float = 0.3,
                  iou_thr: float = 0.5) -> list[ClassReport]:
    """One :class:`ClassReport` per category of ``gt``, in category-id order."""
    is_tp, _ = match_detections(gt, dets, iou_thr)
    cat_ids, names = class_names(gt)
    coco_ap = per_class_coco_ap(gt, dets)
    reports = []
    for cat_id, name in zip(cat_ids, names):
        num_gt = sum(1 for a in gt.dataset['annotations']
                     if a['category_id'] == cat_id and not a.get('iscrowd', 0))
        idx = [i for i, d in enumerate(dets) if d['category_id'] == cat_id]
        scores = np.array([dets[i]['score'] for i in idx], dtype=np.float64)
        tps = is_tp[idx]
        kept = scores >= score_thr
        tp, fp = int(tps[kept].sum()), int((~tps[kept]).sum())
        p, r = _ratio(tp, tp + fp), _ratio(tp, num_gt)
        best_f1, best_thr = best_threshold(scores, tps, num_gt)
        reports.append(ClassReport(name, cat_id, num_gt, tp, fp, num_gt - tp, p, r, _f1(p, r),
                                   best_f1, best_thr, **coco_ap.get(cat_id, {})))
    return reports


def best_threshold(scores: np.ndarray, is_tp: np.ndarray,
                   num_gt: int) -> tuple[float | None, float | None]:
    """The largest F1 over score thresholds and the threshold (a detection's score) at
    which it is reached; (None, None) without boxes or detections."""
    if num_gt == 0 or len(scores) == 0:
        return None, None
    order = np.argsort(-scores, kind='stable')
    s, t = scores[order], is_tp[order]
    tp, fp = np.cumsum(t), np.cumsum(~t)
    # Only the last detection of a run of equal scores is a threshold one can set.
    last = np.r_[s[1:] != s[:-1], True]
    f1 = 2 * tp / (tp + fp + num_gt)  # 2PR / (P + R) with P = tp/(tp+fp), R = tp/num_gt
    f1 = np.where(last, f1, -1.0)
    k = int(np.argmax(f1))
    return float(f1[k]), float(s[k])


def per_class_coco_ap(gt, dets: list[dict]) -> dict[int, dict[str, float | None]]:
    """COCOeval's AP, AP50, APs, APm, APl per category (None where COCOeval gives -1)."""
    from pycocotools.cocoeval import COCOeval
    if not dets:
        return {}
    with contextlib.redirect_stdout(io.StringIO()):
        coco_eval = COCOeval(gt, results_as_coco(gt, dets), 'bbox')
        coco_eval.evaluate()
        coco_eval.accumulate()
    precision = coco_eval.eval['precision']  # (T iou, R recall, K class, A area, M maxdets)
    out = {}
    for k, cat_id in enumerate(coco_eval.params.catIds):

        def mean(p):
            p = p[p > -1]
            return float(p.mean()) if p.size else None

        out[cat_id] = dict(ap=mean(precision[:, :, k, 0, -1]), ap50=mean(precision[0, :, k, 0, -1]),
                           ap_small=mean(precision[:, :, k, 1, -1]),
                           ap_medium=mean(precision[:, :, k, 2, -1]),
                           ap_large=mean(precision[:, :, k, 3, -1]))
    return out


def image_errors(gt, dets: list[dict], score_thr: float = 0.3,
                 iou_thr: float = 0.5) -> list[dict]:
    """Per image at the threshold: missed boxes (FN) and false positives, worst first
    (most FN + FP, then most FN)."""
    kept = [d for d in dets if d['score'] >= score_thr]
    is_tp, matched = match_detections(gt, kept, iou_thr)
    rows = {}
    for image_id in gt.getImgIds():
        boxes = [a for a in gt.imgToAnns.get(image_id, []) if not a.get('iscrowd', 0)]
        rows[image_id] = dict(image_id=image_id, fn=sum(a['id'] not in matched for a in boxes),
                              fp=0, tp=0)
    for d, tp in zip(kept, is_tp):
        rows[d['image_id']]['tp' if tp else 'fp'] += 1
    return sorted(rows.values(), key=lambda r: (-(r['fn'] + r['fp']), -r['fn'], r['image_id']))
