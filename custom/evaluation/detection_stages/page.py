"""One self-contained HTML page of the stages: the PNG panels embedded as data URIs, the counts,
and a live NMS part (sliders for the score and IoU thresholds) whose script runs on the RoI
head's candidates exported into the page. Nothing is loaded from a network.

The page holds two JSON blocks for programs: ``<script id="counts">`` (every count, as
:meth:`DetectionStages.counts`) and ``<script id="candidates">`` (the exported candidates:
``boxes`` (N, 4), ``scores`` (N,), ``labels`` (N,), ``max_per_img``); the live part writes the
indices it keeps into ``<pre id="kept">``.
"""
from __future__ import annotations

import base64
import html
import json
import os
import os.path as osp

import cv2
import numpy as np

from custom.core.errors import InputError

from .captions import CAPTIONS
from .page_script import SCRIPT, STYLE
from .records import DetectionStages

__all__ = ['MAX_CANDIDATES', 'export_candidates', 'write_page', 'write_stages']

# The live part's candidates: the best this many (proposal, class) pairs. Greedy NMS in the
# page is O(N * kept), so this bounds a slider move to a few milliseconds.
MAX_CANDIDATES = 5000
_PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2',
            '#7f7f7f', '#bcbd22', '#17becf']


def export_candidates(stages: DetectionStages, limit: int = MAX_CANDIDATES) -> dict:
    """The RoI head's (proposal, class) boxes, best score first, at most ``limit``.

    Returns:
        dict: ``boxes`` (N, 4) rounded to 0.01 px, ``scores`` (N,), ``labels`` (N,),
        ``total`` (pairs before the limit), ``max_per_img``, ``score_thr``, ``iou_thr``.
    """
    roi = stages.roi
    num_props, num_classes = roi.scores.shape
    scores = roi.scores.reshape(-1)
    order = np.argsort(-scores, kind='stable')[:limit]
    boxes = roi.boxes.reshape(-1, 4)[order]
    return dict(boxes=np.round(boxes.astype(float), 2).tolist(),
                scores=[float(f'{s:.6g}') for s in scores[order]],
                labels=(order % max(num_classes, 1)).astype(int).tolist(),
                total=int(num_props * num_classes), max_per_img=roi.max_per_img,
                score_thr=roi.score_thr, iou_thr=roi.iou_threshold)


def _data_uri(png_path: str | None = None, image: np.ndarray | None = None) -> str:
    if png_path is not None:
        with open(png_path, 'rb') as f:
            payload = f.read()
    else:
        payload = cv2.imencode('.png', np.ascontiguousarray(image[..., ::-1]))[1].tobytes()
    return 'data:image/png;base64,' + base64.b64encode(payload).decode('ascii')


def _json_block(element_id: str, value) -> str:
    text = json.dumps(value, separators=(',', ':')).replace('</', '<\\/')
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def _counts_tables(stages: DetectionStages) -> str:
    prop = stages.proposals
    counts = prop.counts
    rows = ''.join(f'<tr><th>level {i}</th><td>{c}</td></tr>'
                   for i, c in enumerate(prop.level_counts))
    rpn = (f'<table class="counts"><tr><th>{html.escape(prop.source)}</th><th>boxes</th></tr>'
           + (f'<tr><th>windows</th><td>{prop.num_windows}</td></tr>'
              if prop.num_windows >= 0 else '')
           + rows + f'<tr><th>into NMS (top-k)</th><td id="rpn-topk">{counts["top-k"]}</td></tr>'
           f'<tr><th>after NMS</th><td id="rpn-nms">{counts["after NMS"]}</td></tr>'
           f'<tr><th>after the cap ({prop.max_per_img})</th>'
           f'<td id="rpn-cap">{counts["after cap"]}</td></tr></table>')
    roi_rows = ''.join(
        f'<tr><th>{html.escape(_name(stages, c))}</th><td>{k.before_nms}</td>'
        f'<td>{k.after_nms}</td><td>{k.after_thr}</td></tr>'
        for c, k in enumerate(stages.roi.per_class))
    roi = ('<table class="counts" id="roi-counts"><tr><th>class</th><th>before NMS</th>'
           f'<th>after NMS (IoU {stages.roi.iou_threshold:g})</th>'
           f'<th>score &gt; {stages.roi.score_thr:g}</th></tr>{roi_rows}'
           f'<tr><th>detections (cap {stages.roi.max_per_img})</th><td></td><td></td>'
           f'<td id="det-count">{len(stages.roi.det_boxes)}</td></tr></table>')
    return rpn, roi


def _name(stages: DetectionStages, label: int) -> str:
    return stages.classes[label] if label < len(stages.classes) else str(label)


def write_page(stages: DetectionStages, panels: dict[str, str], out: str,
               title: str = 'The road to detection') -> str:
    """Write the page to ``out``.

    Args:
        stages (DetectionStages): the records.
        panels (dict[str, str]): concept key -> PNG path, from ``panels.write_panels``.
        out (str): the HTML file.
        title (str): the page's heading (the image and config it shows).

    Returns:
        str: ``out``.
    """
    rpn_table, roi_table = _counts_tables(stages)
    extra = {'proposals': rpn_table, 'roi': roi_table}
    sections = []
    for key, path in panels.items():
        caption = CAPTIONS['windows_as_proposals' if key == 'anchors' and not stages.anchors
                           else key]
        sections.append(
            f'<section id="{key}"><h2>{html.escape(caption.title)}</h2>'
            f'<p class="caption">{html.escape(caption.text)}</p>'
            f'<img alt="{html.escape(caption.title)}" src="{_data_uri(path)}">'
            f'{extra.get(key, "")}</section>')
    candidates = export_candidates(stages)
    height, width = stages.image.shape[:2]
    scale = 640 / max(height, width)
    classes = [_name(stages, c) for c in range(stages.roi.scores.shape[1])]
    candidates.update(classes=classes, palette=_PALETTE, display_scale=scale)
    live = CAPTIONS['live']
    exported = (f'the best {len(candidates["scores"])} of {candidates["total"]}'
                if len(candidates['scores']) < candidates['total']
                else f'all {candidates["total"]}')
    sections.append(
        f'<section id="live-nms"><h2>{html.escape(live.title)}</h2>'
        f'<p class="caption">{html.escape(live.text)} Candidates: {exported} (proposal, '
        f'class) boxes of the RoI head. At the model\'s thresholds the page keeps what the '
        f'model keeps.</p>'
        '<div id="live-controls">'
        f'<label>score threshold &gt; <b id="score-value"></b></label><input type="range" '
        f'id="score-thr" min="0" max="1" step="0.01" value="{stages.roi.score_thr:g}"><br>'
        f'<label>NMS IoU threshold <b id="iou-value"></b></label><input type="range" '
        f'id="iou-thr" min="0" max="1" step="0.01" value="{stages.roi.iou_threshold:g}">'
        '</div><div id="live"><canvas id="live-canvas" '
        f'width="{round(width * scale)}" height="{round(height * scale)}"></canvas>'
        '<table class="counts"><tr><th>candidates</th><td id="count-candidates"></td></tr>'
        '<tr><th>above the score threshold</th><td id="count-above"></td></tr>'
        '<tr><th>after class-wise NMS</th><td id="count-nms"></td></tr>'
        f'<tr><th>shown (cap {stages.roi.max_per_img})</th><td id="count-shown"></td></tr>'
        '<tr><th>per class</th><td id="per-class" style="text-align:left"></td></tr>'
        '</table></div>'
        f'<img id="live-image" alt="input" style="display:none" '
        f'src="{_data_uri(image=stages.image)}"><pre id="kept"></pre></section>')
    nav = ' '.join(f'<a href="#{key}">{html.escape(CAPTIONS[key].title.split(" (")[0])}</a>'
                   for key in panels if key in CAPTIONS) + ' <a href="#live-nms">Live NMS</a>'
    page = ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>'
            f'<h1>{html.escape(title)}</h1><nav>{nav}</nav>'
            + ''.join(sections)
            + _json_block('counts', stages.counts()) + _json_block('candidates', candidates)
            + f'<script>{SCRIPT}</script></body></html>')
    try:
        os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
        with open(out, 'w', encoding='utf-8') as f:
            f.write(page)
    except OSError as err:
        raise InputError(f'{out}: cannot write the page ({err.strerror or err})') from err
    return out


def write_stages(stages: DetectionStages, out_dir: str, title: str) -> dict[str, str]:
    """The PNG panels, the page and the counts (``counts.json``) under ``out_dir``.

    Returns:
        dict[str, str]: concept key -> PNG path, plus 'page' and 'counts'.
    """
    from .panels import write_panels
    paths = write_panels(stages, osp.join(out_dir, 'panels'))
    counts = osp.join(out_dir, 'counts.json')
    with open(counts, 'w', encoding='utf-8') as f:
        json.dump(stages.counts(), f, indent=1, ensure_ascii=False)
    page = write_page(stages, paths, osp.join(out_dir, 'detection_stages.html'), title)
    return dict(paths, page=page, counts=counts)
