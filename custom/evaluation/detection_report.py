"""A detector judged at a deployment threshold: the per-class table
(:mod:`.threshold_report`), TIDE's error breakdown (:mod:`.tide_errors`) and the worst
images, written as report.md, report.json and PNG figures."""
from __future__ import annotations

import json
import os
import os.path as osp

import numpy as np

from custom.core.errors import InputError

from .coco_files import load_ground_truth, load_results, xywh_to_xyxy
from .plotting import new_figure, save_figure
from .threshold_report import class_reports, image_errors
from .tide_errors import ERROR_KINDS, tide_breakdown

__all__ = ['read_inputs', 'build_report', 'write_report']


def read_inputs(ann_file: str, results_file: str):
    """The ground truth and the checked detections; an empty results file is an error."""
    gt = load_ground_truth(ann_file)
    dets = load_results(results_file, gt, ann_file)
    if not dets:
        raise InputError(f'{results_file}: no detections in the results file')
    return gt, dets


def build_report(gt, dets: list[dict], score_thr: float = 0.3, iou_thr: float = 0.5,
                 fg_iou: float = 0.5, bg_iou: float = 0.1, worst: int = 6) -> dict:
    """Every figure of the report as plain data (what report.json holds)."""
    classes = class_reports(gt, dets, score_thr, iou_thr)
    tide = tide_breakdown(gt, dets, fg_iou, bg_iou)
    totals = {key: sum(getattr(c, key) for c in classes) for key in ('gt', 'tp', 'fp', 'fn')}
    p = totals['tp'] / (totals['tp'] + totals['fp']) if totals['tp'] + totals['fp'] else None
    r = totals['tp'] / totals['gt'] if totals['gt'] else None
    totals.update(precision=p, recall=r,
                  f1=(2 * p * r / (p + r) if p is not None and r is not None and p + r else None))
    return dict(score_thr=score_thr, iou_thr=iou_thr, images=len(gt.getImgIds()),
                detections=len(dets), totals=totals, classes=[vars(c) for c in classes],
                tide=dict(fg_iou=fg_iou, bg_iou=bg_iou, **tide.as_dict()),
                worst_images=image_errors(gt, dets, score_thr, iou_thr)[:worst])


def fmt(value, digits: int = 3) -> str:
    if value is None:
        return '-'
    return f'{value:.{digits}f}' if isinstance(value, float) else str(value)


def markdown(report: dict, figures: list[str], drawn: list[str], note: str | None) -> str:
    t = report['totals']
    lines = [
        '# Detection report', '',
        f"{report['images']} images, {report['detections']} detections; counts at score >= "
        f"{report['score_thr']} and IoU >= {report['iou_thr']}.", '',
        f"All classes: TP {t['tp']}, FP {t['fp']}, FN {t['fn']}, precision "
        f"{fmt(t['precision'])}, recall {fmt(t['recall'])}, F1 {fmt(t['f1'])}.", '',
        '## Per class', '',
        '| class | GT | TP | FP | FN | precision | recall | F1 | best F1 | at score | AP | AP50 '
        '| APs | APm | APl |',
        '| --- ' * 15 + '|']
    for c in report['classes']:
        lines.append('| ' + ' | '.join(fmt(c[k]) for k in (
            'name', 'gt', 'tp', 'fp', 'fn', 'precision', 'recall', 'f1', 'best_f1', 'best_thr',
            'ap', 'ap50', 'ap_small', 'ap_medium', 'ap_large')) + ' |')
    tide = report['tide']
    lines += ['', '## Errors by kind (TIDE)', '',
              f"AP50 {fmt(tide['ap50'])} (foreground IoU {tide['fg_iou']}, background IoU "
              f"{tide['bg_iou']}). dAP: the AP50 gained when an oracle fixes every error of "
              'that kind alone.', '',
              '| error | count | dAP |', '| --- | --- | --- |']
    lines += [f"| {k} | {tide['counts'][k]} | {fmt(tide['dap'][k], 4)} |" for k in ERROR_KINDS]
    lines += [f"| all false positives | - | {fmt(tide['dap_fp'], 4)} |",
              f"| all false negatives | - | {fmt(tide['dap_fn'], 4)} |", '',
              'Cls: right place, wrong class. Loc: right class, box IoU 0.1-0.5. Both: wrong '
              'class and poor box. Dupe: a second detection of a found object. Bkg: nothing '
              'there. Miss: an object no detection points at.', '',
              '## Worst images', '', '| image | missed (FN) | false positives | TP |',
              '| --- | --- | --- | --- |']
    lines += [f"| {w.get('file_name', w['image_id'])} | {w['fn']} | {w['fp']} | {w['tp']} |"
              for w in report['worst_images']]
    if note:
        lines += ['', note]
    lines += ['', '## Figures', ''] + [f'![{osp.basename(f)}]({f})' for f in figures + drawn]
    return '\n'.join(lines) + '\n'


def plot_classes(report: dict, out: str) -> str:
    classes = report['classes']
    fig, (ax_prf, ax_tide) = new_figure(2, panel_size=(7.0, 4.5))
    x = np.arange(len(classes))
    for i, key in enumerate(('precision', 'recall', 'f1')):
        values = [c[key] if c[key] is not None else 0.0 for c in classes]
        ax_prf.bar(x + (i - 1) * 0.27, values, width=0.27, label=key)
    ax_prf.set_xticks(x, [c['name'] for c in classes], rotation=45 if len(classes) > 12 else 0)
    ax_prf.set_ylim(0, 1.05)
    ax_prf.set_title(f"per class at score >= {report['score_thr']}, IoU >= {report['iou_thr']}")
    ax_prf.legend(fontsize=8)
    ax_prf.grid(True, axis='y', alpha=0.3)
    tide = report['tide']
    labels = list(ERROR_KINDS) + ['FP', 'FN']
    values = [tide['dap'][k] for k in ERROR_KINDS] + [tide['dap_fp'], tide['dap_fn']]
    bars = ax_tide.bar(labels, values, color=['C0'] * 6 + ['C3', 'C2'])
    for bar, count in zip(bars, [tide['counts'][k] for k in ERROR_KINDS] + [None, None]):
        if count is not None:
            ax_tide.annotate(str(count), (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                             ha='center', va='bottom', fontsize=8)
    ax_tide.set_title(f"TIDE: AP50 gained by fixing each error kind (AP50 {tide['ap50']:.3f};"
                      ' numbers: counts)', fontsize=9)
    ax_tide.set_ylabel('dAP50')
    ax_tide.grid(True, axis='y', alpha=0.3)
    return save_figure(fig, out)


def draw_image(gt, dets: list[dict], image_id: int, img_dir: str, score_thr: float,
               iou_thr: float, out: str) -> str | None:
    """Ground truth (green; missed ones orange) and detections at the threshold (blue true
    positives, red false positives) on one image; None when the image cannot be read."""
    import cv2

    from .threshold_report import match_detections
    info = gt.imgs[image_id]
    image = cv2.imread(osp.join(img_dir, info['file_name']))
    if image is None:
        return None
    kept = [d for d in dets if d['image_id'] == image_id and d['score'] >= score_thr]
    is_tp, matched = match_detections(gt, kept, iou_thr)
    names = {c['id']: c.get('name', str(c['id'])) for c in gt.dataset['categories']}
    scale = max(1, round(600 / max(image.shape[:2])))
    image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    for ann in gt.imgToAnns.get(image_id, []):
        colour = (0, 170, 0) if ann['id'] in matched else (0, 140, 255)
        box(image, ann['bbox'], scale, colour, names[ann['category_id']], below=True)
    for d, tp in zip(kept, is_tp):
        box(image, d['bbox'], scale, (200, 80, 0) if tp else (0, 0, 220),
            f"{names[d['category_id']]} {d['score']:.2f}")
    legend = (('ground truth found', (0, 170, 0)), ('missed', (0, 140, 255)),
              ('true positive', (200, 80, 0)), ('false positive', (0, 0, 220)))
    for i, (text, colour) in enumerate(legend):
        cv2.putText(image, text, (6, 16 + 16 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1,
                    cv2.LINE_AA)
    os.makedirs(osp.dirname(out), exist_ok=True)
    if not cv2.imwrite(out, image):
        raise InputError(f'{out}: cannot write the drawing')
    return out


def box(image, xywh, scale: int, colour, label: str, below: bool = False) -> None:
    import cv2
    x1, y1, x2, y2 = (xywh_to_xyxy([xywh])[0] * scale).round().astype(int)
    cv2.rectangle(image, (x1, y1), (x2, y2), colour, 2)
    y = min(y2 + 14, image.shape[0] - 4) if below else max(y1 - 4, 12)
    cv2.putText(image, label, (x1, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)


def write_report(report: dict, gt, dets: list[dict], out_dir: str,
                 img_dir: str | None = None) -> dict[str, str]:
    """Write report.json, report.md, report.png and (with ``img_dir``) worst/*.png.

    Returns:
        dict: the paths written, by kind.
    """
    os.makedirs(out_dir, exist_ok=True)
    for w in report['worst_images']:
        w['file_name'] = gt.imgs[w['image_id']].get('file_name', str(w['image_id']))
    figure = plot_classes(report, osp.join(out_dir, 'report.png'))
    drawn, unreadable = [], []
    note = None
    if img_dir:
        for w in report['worst_images']:
            out = osp.join(out_dir, 'worst', f"{osp.splitext(osp.basename(w['file_name']))[0]}"
                           '.png')
            path = draw_image(gt, dets, w['image_id'], img_dir, report['score_thr'],
                              report['iou_thr'], out)
            (drawn if path else unreadable).append(path or w['file_name'])
        if unreadable:
            note = f"Not drawn (unreadable under {img_dir}): {', '.join(unreadable)}."
    else:
        note = 'Worst images not drawn: give --img-dir (the folder of the images).'
    paths = dict(json=osp.join(out_dir, 'report.json'), markdown=osp.join(out_dir, 'report.md'),
                 figure=figure)
    with open(paths['json'], 'w', encoding='utf-8') as f:
        json.dump(report, f, indent=1)
    rel = [osp.relpath(p, out_dir) for p in drawn]
    with open(paths['markdown'], 'w', encoding='utf-8') as f:
        f.write(markdown(report, [osp.relpath(figure, out_dir)], rel, note))
    paths['drawn'] = drawn
    paths['note'] = note
    return paths
