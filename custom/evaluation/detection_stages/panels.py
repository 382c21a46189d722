"""The stages as PNG panels, one per course concept, drawn with matplotlib's object API.

Each ``draw_*`` returns a Figure; :func:`write_panels` saves them all and returns their paths by
concept key (the keys of :data:`.captions.CAPTIONS`). Titles carry the course's Chinese term, so
a CJK font is used when one is installed (WenQuanYi Zen Hei, Noto Sans CJK, ...).
"""
from __future__ import annotations

import contextlib
import os.path as osp

import matplotlib
import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from custom.evaluation.plotting import save_figure

from .captions import CAPTIONS
from .records import CourseWindows, DetectionStages

__all__ = ['write_panels', 'cjk_fonts', 'PANEL_FILES']

PANEL_FILES = {
    'equal': '01_equal_windows.png', 'sliding': '02_sliding_windows.png',
    'multi_scale': '03_multi_scale_windows.png', 'pyramid': '04_image_pyramid.png',
    'backbone': '05_backbone_features.png', 'neck': '06_fpn_features.png',
    'anchors': '07_anchors.png', 'proposals': '08_proposals_nms.png',
    'roi': '09_roi_head_nms.png', 'detections': '10_detections_saliency.png'}

_CJK_NAMES = ('WenQuanYi Zen Hei', 'WenQuanYi Micro Hei', 'Noto Sans CJK SC', 'Noto Sans CJK JP',
              'Source Han Sans SC', 'SimHei', 'Microsoft YaHei')
# Fixed colours per class index (matplotlib's tab10 repeated).
_PALETTE = matplotlib.colormaps['tab10'].colors


def cjk_fonts() -> list[str]:
    """Installed fonts that have Chinese glyphs, best first, then DejaVu Sans."""
    from matplotlib import font_manager
    installed = {font.name for font in font_manager.fontManager.ttflist}
    return [name for name in _CJK_NAMES if name in installed] + ['DejaVu Sans']


@contextlib.contextmanager
def _font():
    with matplotlib.rc_context({'font.family': 'sans-serif', 'font.sans-serif': cjk_fonts(),
                                'axes.unicode_minus': False}):
        yield


def class_colour(label: int) -> tuple[float, float, float]:
    return _PALETTE[int(label) % len(_PALETTE)]


def write_panels(stages: DetectionStages, out_dir: str) -> dict[str, str]:
    """Draw every panel and save it under ``out_dir``.

    Returns:
        dict[str, str]: concept key -> PNG path, in the course's order.
    """
    drawers = {key: (lambda w=w: draw_windows(stages, w)) for key, w in
               ((w.key, w) for w in stages.windows)}
    drawers['backbone'] = lambda: draw_features(stages, 'backbone')
    if stages.neck:
        drawers['neck'] = lambda: draw_features(stages, 'neck')
    drawers['anchors'] = lambda: draw_anchors(stages)
    drawers['proposals'] = lambda: draw_proposals(stages)
    drawers['roi'] = lambda: draw_roi(stages)
    drawers['detections'] = lambda: draw_detections(stages)
    paths = {}
    with _font():
        for key in PANEL_FILES:
            if key in drawers:
                paths[key] = save_figure(drawers[key](), osp.join(out_dir, PANEL_FILES[key]),
                                         dpi=100)
    return paths


def _outline(ax, boxes: np.ndarray, colour, width: float = 1.0, alpha: float = 1.0) -> None:
    """Rectangles x1y1x2y2 as one line collection (fast for thousands of boxes)."""
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    if len(boxes) == 0:
        return
    x1, y1, x2, y2 = boxes.T
    corners = np.stack([np.stack([x1, y1], 1), np.stack([x2, y1], 1), np.stack([x2, y2], 1),
                        np.stack([x1, y2], 1), np.stack([x1, y1], 1)], axis=1)
    ax.add_collection(LineCollection(corners, colors=[colour], linewidths=width, alpha=alpha))


def _image_axis(ax, image: np.ndarray, title: str) -> None:
    ax.imshow(image)
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])


def _figure(panels: int, rows: int = 1, size: float = 3.6) -> tuple[Figure, list]:
    cols = int(np.ceil(panels / rows))
    fig = Figure(figsize=(size * cols, size * rows + 0.6), layout='constrained')
    axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
    for ax in axes[panels:]:
        ax.axis('off')
    return fig, axes[:panels]


def draw_windows(stages: DetectionStages, windows: CourseWindows) -> Figure:
    """Equal, sliding or multi-scale windows on the image, or the pyramid's levels."""
    image, key = stages.image, windows.key
    caption = CAPTIONS[key].title
    if key == 'pyramid':
        fig, axes = _figure(len(windows.groups), size=3.0)
        for ax, (scale, boxes), in zip(axes, windows.groups):
            h, w = image.shape[:2]
            import cv2
            level = cv2.resize(image, (max(1, int(w * scale)), max(1, int(h * scale))),
                               interpolation=cv2.INTER_AREA)
            _image_axis(ax, level, f'scale {scale:g}: {level.shape[1]}x{level.shape[0]} px, '
                                   f'{len(boxes)} windows')
            ax.set_xlim(-0.5, w * max(s for s, _ in windows.groups))
            ax.set_ylim(h * max(s for s, _ in windows.groups), -0.5)
            if len(boxes):
                _outline(ax, boxes[:1], 'yellow', 2.0)
        fig.suptitle(f'{caption}: one window, {windows.count} windows on all levels',
                     fontsize=11)
        return fig
    fig, axes = _figure(1, size=5.0)
    ax = axes[0]
    boxes = windows.groups[0][1] if windows.groups else np.zeros((0, 4))
    if key == 'multi_scale':
        centre = np.array(image.shape[1::-1]) / 2
        shapes = [(boxes[:, 2] - boxes[:, 0]), (boxes[:, 3] - boxes[:, 1])]
        sizes = sorted({(round(w, 1), round(h, 1)) for w, h in zip(*shapes)})
        _image_axis(ax, image, f'{caption}\n{len(sizes)} shapes, {windows.count} windows')
        for index, (w, h) in enumerate(sizes):
            _outline(ax, [[centre[0] - w / 2, centre[1] - h / 2, centre[0] + w / 2,
                           centre[1] + h / 2]], class_colour(index), 1.5)
    else:
        stride = windows.strides[0] if windows.strides else (0, 0)
        _image_axis(ax, image, f'{caption}\n{windows.count} windows, stride '
                               f'{stride[0]:g} x {stride[1]:g} px')
        _outline(ax, boxes, 'royalblue', 0.6, alpha=0.35 if key == 'sliding' else 0.8)
        _outline(ax, boxes[:1], 'yellow', 2.0)
        _outline(ax, boxes[1:2], 'cyan', 2.0)
    return fig


def draw_features(stages: DetectionStages, part: str) -> Figure:
    """One heat map per level, titled with its stride and shape."""
    maps = stages.backbone if part == 'backbone' else stages.neck
    fig, axes = _figure(len(maps), size=3.0)
    for ax, fmap in zip(axes, maps):
        ax.imshow(fmap.heat, cmap='inferno')
        c, h, w = fmap.shape
        ax.set_title(f'{fmap.name}: stride {fmap.stride:g}\n{c} x {h} x {w}', fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(CAPTIONS[part].title, fontsize=11)
    return fig


def draw_anchors(stages: DetectionStages) -> Figure:
    """Anchor shapes at the image centre, one axis per level; or the window proposer."""
    image = stages.image
    centre = np.array(image.shape[1::-1], dtype=float) / 2
    if not stages.anchors:
        fig, axes = _figure(1, size=5.0)
        prop = stages.proposals
        _image_axis(axes[0], image, f'{CAPTIONS["windows_as_proposals"].title}\n{prop.source}: '
                                    f'{prop.num_windows} windows, no anchors; the 50 best drawn')
        _outline(axes[0], prop.candidate_boxes[:50], 'yellow', 0.8, 0.6)
        return fig
    fig, axes = _figure(len(stages.anchors), size=3.0)
    total = sum(level.count for level in stages.anchors)
    for ax, level in zip(axes, stages.anchors):
        h, w = level.feature_size
        _image_axis(ax, image, f'stride {level.stride:g}: {len(level.base_anchors)} shapes\n'
                               f'{h} x {w} x {len(level.base_anchors)} = {level.count}')
        for index, anchor in enumerate(level.base_anchors):
            _outline(ax, anchor + np.tile(centre, 2), class_colour(index), 1.5)
        ax.plot(*centre, 'w+', markersize=8)
        ax.set_xlim(min(0, centre[0] + level.base_anchors[:, 0].min()) - 2,
                    max(image.shape[1], centre[0] + level.base_anchors[:, 2].max()) + 2)
        ax.set_ylim(max(image.shape[0], centre[1] + level.base_anchors[:, 3].max()) + 2,
                    min(0, centre[1] + level.base_anchors[:, 1].min()) - 2)
    fig.suptitle(f'{CAPTIONS["anchors"].title}: {total} anchors in all', fontsize=11)
    return fig


def draw_proposals(stages: DetectionStages, top: int = 100) -> Figure:
    """The best candidates before NMS; after NMS and the cap, with what NMS removed."""
    prop = stages.proposals
    counts = prop.counts
    fig, axes = _figure(2, size=4.5)
    order = np.argsort(-prop.candidate_scores, kind='stable')[:top]
    levels = ' + '.join(str(c) for c in prop.level_counts)
    _image_axis(axes[0], stages.image, f'before NMS: {counts["top-k"]} candidates ({levels})\n'
                                       f'drawn: the best {len(order)}')
    _outline(axes[0], prop.candidate_boxes[order], 'yellow', 0.8, 0.7)
    _image_axis(axes[1], stages.image, f'after NMS: {counts["after NMS"]}; after the cap of '
                                       f'{prop.max_per_img}: {counts["after cap"]}\n'
                                       f'drawn: the best {min(top, counts["after cap"])}')
    _outline(axes[1], prop.candidate_boxes[order], 'grey', 0.6, 0.5)
    _outline(axes[1], prop.proposals[:top], 'lime', 1.0)
    fig.suptitle(CAPTIONS['proposals'].title, fontsize=11)
    return fig


def shown_classes(stages: DetectionStages, limit: int = 10) -> list[int]:
    """Classes with detections, most first, then the rest by best score, at most ``limit``."""
    roi = stages.roi
    if roi.scores.size == 0:
        return list(range(min(limit, roi.scores.shape[1])))
    kept = np.array([c.after_thr for c in roi.per_class])
    best = roi.scores.max(axis=0)
    order = sorted(range(len(kept)), key=lambda c: (-kept[c], -best[c]))
    return order[:limit]


def draw_roi(stages: DetectionStages, top: int = 30) -> Figure:
    """Per class: its boxes before NMS, after NMS, above the threshold, with counts."""
    import torch
    from torchvision.ops import nms
    roi = stages.roi
    classes = shown_classes(stages)
    fig, axes = _figure(len(classes), rows=2 if len(classes) > 5 else 1, size=2.8)
    for ax, label in zip(axes, classes):
        counts = roi.per_class[label]
        boxes, scores = roi.boxes[:, label], roi.scores[:, label]
        keep = nms(torch.from_numpy(boxes), torch.from_numpy(scores),
                   roi.iou_threshold).numpy() if len(boxes) else np.zeros(0, int)
        above = keep[scores[keep] > roi.score_thr]
        name = stages.classes[label] if label < len(stages.classes) else str(label)
        _image_axis(ax, stages.image, f'{name}: {counts.before_nms} → NMS {counts.after_nms}'
                                      f' → > {roi.score_thr:g}: {counts.after_thr}')
        order = np.argsort(-scores, kind='stable')[:top]
        _outline(ax, boxes[order], 'grey', 0.5, 0.5)
        _outline(ax, boxes[keep[:top]], class_colour(label), 0.8)
        _outline(ax, boxes[above[:top]], class_colour(label), 2.0)
    fig.suptitle(f'{CAPTIONS["roi"].title}: IoU {roi.iou_threshold:g}, score > '
                 f'{roi.score_thr:g}', fontsize=11)
    return fig


def draw_detections(stages: DetectionStages) -> Figure:
    """The detections, then one Grad-CAM map per detection."""
    roi = stages.roi
    fig, axes = _figure(1 + len(stages.saliency), rows=2 if len(stages.saliency) > 3 else 1,
                        size=3.2)
    _image_axis(axes[0], stages.image, f'{len(roi.det_boxes)} detections (best 20 drawn)')
    for box, score, label in list(zip(roi.det_boxes, roi.det_scores, roi.det_labels))[:20]:
        _outline(axes[0], box, class_colour(label), 1.5)
        axes[0].text(box[0], box[1], f'{_name(stages, label)} {score:.2f}', fontsize=7,
                     color='black', backgroundcolor=class_colour(label), va='bottom')
    for ax, sal in zip(axes[1:], stages.saliency):
        ax.imshow(stages.image)
        ax.imshow(sal.heat, cmap='jet', alpha=0.45, vmin=0, vmax=1)
        box = roi.det_boxes[sal.index]
        _outline(ax, box, 'white', 1.5)
        # An all-zero map: no channel of the last map raised the score (ReLU left nothing).
        empty = ' (map all zero)' if not sal.heat.any() else ''
        ax.set_title(f'Grad-CAM #{sal.index + 1}: {_name(stages, roi.det_labels[sal.index])} '
                     f'{roi.det_scores[sal.index]:.2f}{empty}', fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(CAPTIONS['detections'].title, fontsize=11)
    return fig


def _name(stages: DetectionStages, label: int) -> str:
    return stages.classes[label] if label < len(stages.classes) else str(label)
