"""Draw a dataset's ground truth after its train pipeline, to check boxes and labels by eye.

Shape shorthand: H, W = image height, width after the pipeline; N = boxes in an image. Boxes are
``x1y1x2y2`` in pixels spanning [x1, x2) x [y1, y2).
"""
from __future__ import annotations

import colorsys
import math
import os
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
from mmengine.config import Config

__all__ = ['browse_dataset', 'class_colours', 'draw_boxes']

IGNORED_COLOUR = (160, 160, 160)


def class_colours(num_classes: int) -> list[tuple[int, int, int]]:
    """Distinct saturated BGR colours, one per class (evenly spaced hues)."""
    colours = []
    for i in range(num_classes):
        r, g, b = colorsys.hsv_to_rgb(i / max(num_classes, 1), 1.0, 0.9)
        colours.append((int(b * 255), int(g * 255), int(r * 255)))
    return colours


def outside_rectangle(box: Sequence[float], scale: int) -> tuple[tuple[int, int], ...]:
    """Corners of a 1-px rectangle drawn on the pixels just outside ``box`` (x1y1x2y2), so the
    object's own edge pixels stay visible: tight ink touches the line from inside."""
    x1, y1, x2, y2 = (v * scale for v in box)
    return (math.floor(x1) - 1, math.floor(y1) - 1), (math.ceil(x2), math.ceil(y2))


def draw_boxes(img: np.ndarray, bboxes: np.ndarray, labels: np.ndarray, classes: Sequence[str],
               ignored: np.ndarray | None = None, scale: int = 1) -> np.ndarray:
    """Draw boxes and class names.

    Args:
        img (np.ndarray): (H, W, 3) uint8 BGR; not modified.
        bboxes (np.ndarray): (N, 4) x1y1x2y2 pixels.
        labels (np.ndarray): (N,) class indices into ``classes``.
        classes (Sequence[str]): class names.
        ignored (np.ndarray | None): (M, 4) ignored boxes (iscrowd/difficult), drawn grey.
        scale (int): nearest-neighbour upscaling before drawing, to see single pixels.

    Returns:
        np.ndarray: (H * scale, W * scale, 3) uint8 BGR.
    """
    canvas = np.ascontiguousarray(img)
    if scale != 1:
        canvas = cv2.resize(canvas, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    else:
        canvas = canvas.copy()
    colours = class_colours(len(classes))
    for box in (ignored if ignored is not None else np.zeros((0, 4))):
        pt1, pt2 = outside_rectangle(box, scale)
        cv2.rectangle(canvas, pt1, pt2, IGNORED_COLOUR, 1)
    for box, label in zip(bboxes, labels):
        label = int(label)
        colour = colours[label % len(colours)] if colours else (0, 0, 255)
        pt1, pt2 = outside_rectangle(box, scale)
        cv2.rectangle(canvas, pt1, pt2, colour, 1)
        name = classes[label] if 0 <= label < len(classes) else f'#{label}'
        put_label(canvas, name, pt1, colour)
    return canvas


def put_label(canvas: np.ndarray, text: str, corner: tuple[int, int],
              colour: tuple[int, int, int]) -> None:
    """Class name on a filled tag above the box corner (below it at the top border)."""
    font, font_scale = cv2.FONT_HERSHEY_SIMPLEX, 0.4
    (tw, th), base = cv2.getTextSize(text, font, font_scale, 1)
    x, y = max(corner[0], 0), corner[1]
    top = y - th - base - 1 if y - th - base - 1 >= 0 else y + 1
    cv2.rectangle(canvas, (x, top), (x + tw + 2, top + th + base + 1), colour, -1)
    cv2.putText(canvas, text, (x + 1, top + th), font, font_scale, (255, 255, 255), 1,
                cv2.LINE_AA)


def browse_dataset(cfg: Config, out_dir: str | os.PathLike, num_images: int = 20,
                   scale: int = 1, split: str = 'train') -> list[Path]:
    """Build ``cfg.<split>_dataloader.dataset`` with its pipeline and write the first
    ``num_images`` samples with their ground truth drawn, as PNGs.

    Args:
        cfg (Config): a full config (``custom_imports`` already imported).
        out_dir (str | PathLike): output folder (created).
        num_images (int): samples to draw (fewer if the dataset is smaller).
        scale (int): nearest-neighbour upscaling of the drawings.
        split (str): 'train', 'val' or 'test' dataloader.

    Returns:
        list[Path]: the written files.

    Raises:
        KeyError: the config has no such dataloader.
        OSError: ``out_dir`` cannot be created or written.
    """
    from mmdet.registry import DATASETS
    from mmengine.registry import init_default_scope

    key = f'{split}_dataloader'
    if key not in cfg or 'dataset' not in cfg[key]:
        raise KeyError(f'the config has no {key}.dataset')
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    dataset = DATASETS.build(cfg[key].dataset)
    classes = list(dataset.metainfo.get('classes', ()))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for i in range(min(num_images, len(dataset))):
        item = dataset[i]
        sample = item['data_samples']
        img = item['inputs'].permute(1, 2, 0).numpy()  # (H, W, 3) BGR as loaded
        ignored = sample.get('ignored_instances')
        drawing = draw_boxes(
            img, box_array(sample.gt_instances.bboxes), sample.gt_instances.labels.numpy(),
            classes, box_array(ignored.bboxes) if ignored is not None else None, scale)
        path = out_dir / f'{i:04d}_{Path(sample.img_path).stem}.png'
        if not cv2.imwrite(str(path), drawing):
            raise OSError(f'{path}: cannot write the image')
        written.append(path)
    return written


def box_array(bboxes) -> np.ndarray:
    """(N, 4) float numpy boxes from mmdet's HorizontalBoxes or a tensor."""
    tensor = getattr(bboxes, 'tensor', bboxes)
    return tensor.detach().cpu().numpy().reshape(-1, 4)
