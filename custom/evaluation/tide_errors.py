"""Detection errors split by kind, as defined by TIDE (Bolya et al., "TIDE: A General Toolbox
for Identifying Object Detection Errors", ECCV 2020), and what fixing each kind is worth in AP.

Each false positive gets one kind, checked in the paper's order (IoU_max is a detection's
largest IoU; t_f = foreground 0.5, t_b = background 0.1):

- Loc: t_b <= IoU_max < t_f with a box of its own class (right class, poor box);
- Cls: IoU_max >= t_f with a box of another class (right place, wrong class);
- Dupe: IoU_max >= t_f with a box of its class already matched by a higher-scoring detection;
- Bkg: IoU_max < t_b with every box (nothing there);
- Both: anything else (t_b <= IoU_max < t_f with a box of another class).

and each ground-truth box that no detection matched and that no Cls or Loc error points at is
Miss. The dAP of a kind is AP50 after an oracle fixes every error of that kind alone, minus
AP50: Cls and Loc errors become true positives of the box they point at (the highest-scoring
one per box; the others, and those whose box is already matched, are removed), Dupe, Bkg and
Both detections are removed, and Miss boxes leave the ground truth. The FP dAP removes every
false positive, the FN dAP every unmatched ground-truth box.

AP here is COCO's 101-point interpolated AP at IoU t_f, averaged over the classes that have a
ground-truth box or a detection, with at most ``max_dets`` detections per image.

Box shorthand: N = detections of an image, G = its ground-truth boxes; xyxy pixels.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from custom.core.boxes import box_iou

from .coco_files import xywh_to_xyxy

__all__ = ['ERROR_KINDS', 'TideBreakdown', 'tide_breakdown', 'interpolated_ap']

ERROR_KINDS = ('Cls', 'Loc', 'Both', 'Dupe', 'Bkg', 'Miss')


@dataclass
class TideBreakdown:
    """TIDE's error counts and dAPs.

    Attributes:
        ap50 (float): AP at IoU ``fg_iou`` before any fix (0-1).
        counts (dict[str, int]): errors of each kind in :data:`ERROR_KINDS`.
        dap (dict[str, float]): AP gained by fixing each kind alone.
        dap_fp (float): AP gained by removing every false positive.
        dap_fn (float): AP gained by removing every unmatched ground-truth box.
        errors (list[dict]): one entry per error: kind, image_id, category_id, score (for
            detections), gt_id (the box it points at or missed, if any).
    """
    ap50: float
    counts: dict[str, int]
    dap: dict[str, float]
    dap_fp: float
    dap_fn: float
    errors: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return dict(ap50=self.ap50, counts=self.counts, dap=self.dap, dap_fp=self.dap_fp,
                    dap_fn=self.dap_fn)


def interpolated_ap(scores: np.ndarray, is_tp: np.ndarray, num_gt: int) -> float:
    """COCO's 101-point interpolated AP of one class.

    Args:
        scores (np.ndarray): (N,) detection scores.
        is_tp (np.ndarray): (N,) bool, each detection a true positive.
        num_gt (int): ground-truth boxes of the class.
    """
    if num_gt <= 0 or len(scores) == 0:
        return 0.0
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind='stable')
    tp = np.asarray(is_tp, dtype=bool)[order]
    tp_sum, fp_sum = np.cumsum(tp), np.cumsum(~tp)
    recall = tp_sum / num_gt
    # Precision made non-increasing in recall (the envelope), sampled at recall 0, .01, ..., 1.
    precision = np.maximum.accumulate((tp_sum / (tp_sum + fp_sum))[::-1])[::-1]
    where = np.searchsorted(recall, np.linspace(0.0, 1.0, 101), side='left')
    sampled = np.zeros(101)
    inside = where < len(precision)
    sampled[inside] = precision[where[inside]]
    return float(np.mean(sampled))


class _APData:
    """Per class: (score, is_tp) points and the ground-truth count."""

    def __init__(self) -> None:
        self.points: dict[int, list[tuple[float, bool]]] = defaultdict(list)
        self.num_gt: dict[int, int] = defaultdict(int)

    def mean_ap(self) -> float:
        classes = [c for c in set(self.points) | set(self.num_gt)
                   if self.points[c] or self.num_gt[c] > 0]
        if not classes:
            return 0.0
        aps = []
        for c in classes:
            pts = self.points[c]
            scores = np.array([p[0] for p in pts], dtype=np.float64)
            tps = np.array([p[1] for p in pts], dtype=bool)
            aps.append(interpolated_ap(scores, tps, self.num_gt[c]))
        return float(np.mean(aps))


@dataclass
class _Detection:
    index: int
    image_id: int
    category_id: int
    score: float
    matched_gt: int | None = None
    kind: str | None = None
    target_gt: int | None = None  # Cls / Loc: the box a fix turns it into a match of


def tide_breakdown(gt, dets: list[dict], fg_iou: float = 0.5, bg_iou: float = 0.1,
                   max_dets: int = 100) -> TideBreakdown:
    """Classify every error of ``dets`` against ``gt`` and measure each kind's dAP.

    Args:
        gt (pycocotools.coco.COCO): the ground truth; crowd boxes are left out.
        dets (list[dict]): COCO results (image_id, category_id, bbox xywh, score), checked.
        fg_iou (float): IoU of a match (t_f).
        bg_iou (float): below it a detection overlaps nothing (t_b).
        max_dets (int): highest-scoring detections kept per image.
    """
    by_image: dict[int, list[int]] = defaultdict(list)
    for i, det in enumerate(dets):
        by_image[det['image_id']].append(i)
    detections: list[_Detection] = []
    gt_class: dict[int, int] = {}
    gt_image: dict[int, int] = {}
    matched_gts: set[int] = set()
    for image_id in gt.getImgIds():
        anns = [a for a in gt.imgToAnns.get(image_id, []) if not a.get('iscrowd', 0)]
        gt_ids = [a['id'] for a in anns]
        for a in anns:
            gt_class[a['id']], gt_image[a['id']] = a['category_id'], image_id
        chosen = sorted(by_image.get(image_id, []), key=lambda i: -dets[i]['score'])[:max_dets]
        image_dets = [_Detection(i, image_id, dets[i]['category_id'], float(dets[i]['score']))
                      for i in chosen]
        detections.extend(image_dets)
        if not image_dets:
            continue
        if not anns:
            for d in image_dets:
                d.kind = 'Bkg'
            continue
        iou = box_iou(xywh_to_xyxy([dets[d.index]['bbox'] for d in image_dets]),
                      xywh_to_xyxy([a['bbox'] for a in anns]))  # (N, G)
        same = (np.array([d.category_id for d in image_dets])[:, None]
                == np.array([a['category_id'] for a in anns])[None, :])
        used = np.zeros(len(anns), dtype=bool)
        for n, d in enumerate(image_dets):  # greedy, by score: COCO's matching
            candidates = np.where(same[n] & ~used, iou[n], -1.0)
            g = int(np.argmax(candidates))
            if candidates[g] >= fg_iou:
                used[g] = True
                d.matched_gt = gt_ids[g]
                matched_gts.add(gt_ids[g])
        same_iou = np.where(same, iou, 0.0)
        other_iou = np.where(same, 0.0, iou)
        used_same_iou = np.where(used[None, :], same_iou, 0.0)
        for n, d in enumerate(image_dets):
            if d.matched_gt is not None:
                continue
            g_same, g_other = int(np.argmax(same_iou[n])), int(np.argmax(other_iou[n]))
            if bg_iou <= same_iou[n, g_same] < fg_iou:
                d.kind, d.target_gt = 'Loc', gt_ids[g_same]
            elif other_iou[n, g_other] >= fg_iou:
                d.kind, d.target_gt = 'Cls', gt_ids[g_other]
            elif used_same_iou[n].max() >= fg_iou:
                d.kind = 'Dupe'
            elif iou[n].max() < bg_iou:
                d.kind = 'Bkg'
            else:
                d.kind = 'Both'

    # The Cls/Loc error that a fix turns into a match: the highest-scoring one per unmatched box.
    best_fix: dict[int, _Detection] = {}
    for d in detections:
        if d.kind in ('Cls', 'Loc') and d.target_gt not in matched_gts:
            best = best_fix.get(d.target_gt)
            if best is None or d.score > best.score:
                best_fix[d.target_gt] = d
    missed = [g for g in gt_class if g not in matched_gts and g not in best_fix]

    def ap_after(fix: str | None) -> float:
        data = _APData()
        missed_set = set(missed)
        for g, c in gt_class.items():
            if not ((fix == 'Miss' and g in missed_set) or (fix == 'FN' and g not in matched_gts)):
                data.num_gt[c] += 1
        for d in detections:
            if d.matched_gt is not None:
                data.points[d.category_id].append((d.score, True))
            elif fix == 'FP' or fix == d.kind and d.kind in ('Dupe', 'Bkg', 'Both'):
                continue
            elif fix == d.kind:  # Cls / Loc: the best one becomes a match, others go
                if best_fix.get(d.target_gt) is d:
                    data.points[gt_class[d.target_gt]].append((d.score, True))
            else:
                data.points[d.category_id].append((d.score, False))
        return data.mean_ap()

    base = ap_after(None)
    errors = [dict(kind=d.kind, image_id=d.image_id, category_id=d.category_id, score=d.score,
                   gt_id=d.target_gt) for d in detections if d.kind is not None]
    errors += [dict(kind='Miss', image_id=gt_image[g], category_id=gt_class[g], score=None,
                    gt_id=g) for g in missed]
    counts = {kind: sum(e['kind'] == kind for e in errors) for kind in ERROR_KINDS}
    return TideBreakdown(ap50=base, counts=counts,
                         dap={kind: ap_after(kind) - base for kind in ERROR_KINDS},
                         dap_fp=ap_after('FP') - base, dap_fn=ap_after('FN') - base,
                         errors=errors)
