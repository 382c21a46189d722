"""Tiling of a COCO training set (SAHI's ``coco slice``): small objects in large images get
trained at the size sliced inference shows them.

Every image is cut on the grid of sliced inference (:func:`custom.core.tile_grid.tile_grid`,
overlapping tiles that cover it exactly). Each box is clipped to each tile it touches; a
piece that keeps less than ``min_visible`` of its box's area is dropped (a sliver of an object
teaches nothing but noise). Tiles left without boxes are kept, or a seeded sample of them at
``empty_rate``.

Box shorthand: COCO's ``xywh`` (x, y, width, height) in pixels; a window is (x1, y1, x2, y2).
"""
from __future__ import annotations

import os
import os.path as osp
import random
from collections import defaultdict
from dataclasses import dataclass, field

import cv2

from custom.core.errors import InputError
from custom.core.tile_grid import tile_grid

__all__ = ['TilingReport', 'clip_to_tile', 'tile_coco']


@dataclass
class TilingReport:
    """What tiling made of a dataset."""
    images: int = 0
    tiles: int = 0
    empty_tiles_kept: int = 0
    empty_tiles_dropped: int = 0
    boxes: int = 0
    pieces: int = 0
    pieces_dropped: int = 0
    files: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def clip_to_tile(bbox: list[float], window: tuple[int, int, int, int],
                 min_visible: float) -> list[float] | None:
    """The part of ``bbox`` (xywh, image pixels) inside ``window``, in the tile's pixels, or
    None when it keeps less than ``min_visible`` of the box's area (or none of it)."""
    x, y, w, h = bbox
    x1, y1 = max(x, window[0]), max(y, window[1])
    x2, y2 = min(x + w, window[2]), min(y + h, window[3])
    if x2 <= x1 or y2 <= y1 or w <= 0 or h <= 0:
        return None
    if (x2 - x1) * (y2 - y1) < min_visible * w * h:
        return None
    return [x1 - window[0], y1 - window[1], x2 - x1, y2 - y1]


def tile_coco(data: dict, img_dir: str, out_img_dir: str, tile_size: tuple[int, int],
              overlap: float = 0.2, min_visible: float = 0.3, empty_rate: float = 1.0,
              seed: int = 0, name: str = 'the COCO file') -> tuple[dict, TilingReport]:
    """Cut every image of ``data`` into tiles written under ``out_img_dir``.

    Args:
        data (dict): A COCO detection file whose ``file_name`` are relative to ``img_dir``.
        img_dir (str): Folder of the images.
        out_img_dir (str): Folder for the tiles (``NAME_x{X}_y{Y}.png``, the image's sub
            folders kept); the returned ``file_name`` are relative to it.
        tile_size (tuple): (height, width) of a tile.
        overlap (float): Fraction a tile shares with its neighbour, in [0, 1).
        min_visible (float): Smallest share of a box's area a piece keeps, in (0, 1].
        empty_rate (float): Share of the tiles without boxes that are kept, in [0, 1].
        seed (int): Seed of that sampling.

    Returns:
        (dict, TilingReport): The tiled COCO dict (each image records its ``source_image_id``
        and ``tile`` window) and the counts.

    Unreadable images are skipped and named in ``report.failed``.

    Raises:
        InputError: a setting out of range, or an image smaller than the tile (named with
            both sizes) -- checked for every image before any tile is written.
    """
    tile_h, tile_w = tile_size
    if min(tile_h, tile_w) <= 0:
        raise InputError(f'--tile-size: must be positive, got {tile_h}x{tile_w}')
    if not 0 <= overlap < 1:
        raise InputError(f'--overlap: must be in [0, 1), got {overlap}')
    if not 0 < min_visible <= 1:
        raise InputError(f'--min-visible: must be in (0, 1], got {min_visible}')
    if not 0 <= empty_rate <= 1:
        raise InputError(f'--empty-rate: must be in [0, 1], got {empty_rate}')
    if not data['images']:
        raise InputError(f'{name}: no images to tile')
    for image in data['images']:
        if image['height'] < tile_h or image['width'] < tile_w:
            raise InputError(
                f"{name}: image {image['id']} ({image['file_name']}) is "
                f"{image['height']}x{image['width']}, smaller than the {tile_h}x{tile_w} tile "
                '(--tile-size H W); choose a tile no larger than the smallest image')
    anns_of = defaultdict(list)
    for ann in data['annotations']:
        anns_of[ann['image_id']].append(ann)
    rng = random.Random(seed)
    report = TilingReport(images=len(data['images']), boxes=len(data['annotations']))
    images, annotations = [], []
    for image in data['images']:
        path = osp.join(img_dir, image['file_name'])
        pixels = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if pixels is None:  # named and skipped; the others go on
            report.failed.append(f'{path}: unreadable or corrupt image')
            continue
        stem, _ = osp.splitext(image['file_name'])
        for window in tile_grid(image['height'], image['width'], tile_h, tile_w, overlap):
            pieces = []
            for ann in anns_of[image['id']]:
                box = clip_to_tile(ann['bbox'], window, min_visible)
                if box is None:
                    touches = clip_to_tile(ann['bbox'], window, 1e-12) is not None
                    report.pieces_dropped += touches
                    continue
                pieces.append((ann, box))
            if not pieces:
                if rng.random() >= empty_rate:
                    report.empty_tiles_dropped += 1
                    continue
                report.empty_tiles_kept += 1
            file_name = f'{stem}_x{window[0]}_y{window[1]}.png'
            out_path = osp.join(out_img_dir, file_name)
            os.makedirs(osp.dirname(out_path), exist_ok=True)
            x1, y1, x2, y2 = window
            if not cv2.imwrite(out_path, pixels[y1:y2, x1:x2]):
                raise InputError(f'{out_path}: cannot be written')
            report.files.append(out_path)
            tile_id = len(images) + 1
            images.append(dict(id=tile_id, file_name=file_name, width=x2 - x1, height=y2 - y1,
                               source_image_id=image['id'], tile=list(window)))
            for ann, box in pieces:
                box = [round(float(v), 3) for v in box]
                annotations.append(dict(id=len(annotations) + 1, image_id=tile_id,
                                        category_id=ann['category_id'], bbox=box,
                                        area=round(box[2] * box[3], 3),
                                        iscrowd=ann.get('iscrowd', 0)))
            report.pieces += len(pieces)
    report.tiles = len(images)
    return dict(data, images=images, annotations=annotations), report
