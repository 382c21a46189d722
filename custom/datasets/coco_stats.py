"""Statistics of a COCO detection file: images, instances per class, box sizes.

Shape shorthand: A = annotations. Box sizes use the COCO ``bbox`` (w, h); size buckets follow
COCOeval's area ranges (small < 32^2 <= medium < 96^2 <= large) applied to w * h.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ['CocoStats', 'coco_stats', 'format_stats', 'plot_stats']

SIZE_BUCKETS = (('small', 0, 32 ** 2), ('medium', 32 ** 2, 96 ** 2), ('large', 96 ** 2, np.inf))


@dataclass
class CocoStats:
    """Statistics of one COCO file (valid structure assumed; validate it first).

    Attributes:
        num_images (int): images.
        per_class (dict[str, int]): instances per category name, in category order.
        crowd (int): annotations with iscrowd=1.
        widths (np.ndarray): (A,) box widths in pixels.
        heights (np.ndarray): (A,) box heights.
        boxes_per_image (np.ndarray): (num_images,) annotations per image.
    """

    num_images: int
    per_class: dict[str, int]
    crowd: int
    widths: np.ndarray
    heights: np.ndarray
    boxes_per_image: np.ndarray

    @property
    def num_annotations(self) -> int:
        return int(self.widths.size)

    def size_buckets(self) -> dict[str, int]:
        """Annotation counts per COCO size bucket of w * h."""
        area = self.widths * self.heights
        return {name: int(((area >= lo) & (area < hi)).sum()) for name, lo, hi in SIZE_BUCKETS}


def coco_stats(data: dict) -> CocoStats:
    """Compute :class:`CocoStats` of a parsed, valid COCO dict."""
    names = {c['id']: c['name'] for c in data['categories']}
    per_class = {name: 0 for name in names.values()}
    image_index = {img['id']: i for i, img in enumerate(data['images'])}
    boxes_per_image = np.zeros(len(image_index), np.int64)
    anns = data.get('annotations', [])
    for ann in anns:
        per_class[names[ann['category_id']]] += 1
        boxes_per_image[image_index[ann['image_id']]] += 1
    boxes = np.array([ann['bbox'] for ann in anns], np.float64).reshape(-1, 4)
    return CocoStats(num_images=len(image_index), per_class=per_class,
                     crowd=sum(int(ann.get('iscrowd', 0)) for ann in anns),
                     widths=boxes[:, 2], heights=boxes[:, 3], boxes_per_image=boxes_per_image)


def percentiles(values: np.ndarray) -> str:
    """``min / p5 / median / p95 / max`` of a 1-D array."""
    if values.size == 0:
        return '-'
    qs = np.percentile(values, [0, 5, 50, 95, 100])
    return ' / '.join(f'{q:.1f}' for q in qs)


def format_stats(stats: CocoStats, title: str = '') -> str:
    """A plain-text report."""
    n = max(stats.num_annotations, 1)
    lines = [title] if title else []
    lines += [f'images: {stats.num_images}   annotations: {stats.num_annotations}   '
              f'crowd/ignored: {stats.crowd}',
              f'boxes per image (min / p5 / median / p95 / max): '
              f'{percentiles(stats.boxes_per_image.astype(float))}',
              f'images without boxes: {int((stats.boxes_per_image == 0).sum())}',
              '', 'instances per class:']
    width = max((len(k) for k in stats.per_class), default=5)
    lines += [f'  {name:<{width}}  {count:>8}  {100 * count / n:5.1f}%'
              for name, count in stats.per_class.items()]
    lines += ['', 'box size in px (min / p5 / median / p95 / max):',
              f'  width      {percentiles(stats.widths)}',
              f'  height     {percentiles(stats.heights)}',
              f'  sqrt(w*h)  {percentiles(np.sqrt(stats.widths * stats.heights))}',
              'COCO size buckets: ' + ', '.join(
                  f'{k} {v} ({100 * v / n:.1f}%)' for k, v in stats.size_buckets().items())]
    return '\n'.join(lines)


def plot_stats(stats: CocoStats, out_png: str | os.PathLike, title: str = '') -> Path:
    """Four panels (instances per class, sqrt(area) histogram, w vs h, boxes per image) to a
    PNG; uses matplotlib's Agg backend, so no display is needed."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    ax = axes[0, 0]
    ax.bar(range(len(stats.per_class)), list(stats.per_class.values()))
    ax.set_xticks(range(len(stats.per_class)), list(stats.per_class), rotation=90
                  if len(stats.per_class) > 12 else 0, fontsize=7 if len(stats.per_class) > 30
                  else 9)
    ax.set_title('instances per class')
    ax = axes[0, 1]
    ax.hist(np.sqrt(stats.widths * stats.heights), bins=50)
    for _, lo, _hi in SIZE_BUCKETS[1:]:
        ax.axvline(np.sqrt(lo), color='k', ls='--', lw=0.8)
    ax.set_title('box size sqrt(w*h) [px]  (dashed: COCO small/medium/large)')
    ax = axes[1, 0]
    ax.scatter(stats.widths, stats.heights, s=2, alpha=0.3)
    ax.set_xlabel('width [px]')
    ax.set_ylabel('height [px]')
    ax.set_title('box width vs height')
    ax = axes[1, 1]
    most = int(stats.boxes_per_image.max(initial=0))
    ax.hist(stats.boxes_per_image, bins=np.arange(most + 2) - 0.5)
    ax.set_title('boxes per image')
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return out_png
