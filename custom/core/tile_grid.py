"""The grid of overlapping tiles that sliced inference detects on and that the tiling of a
training set (``tools/dataset_converters/coco_tile.py``) cuts: one grid, so a model trained on
tiles sees at training the tiles it is shown at test time.

Shape shorthand: H, W = image size; a window is (x1, y1, x2, y2) in image pixels.
"""
from __future__ import annotations

import math

__all__ = ['axis_starts', 'tile_grid']


def axis_starts(length: int, tile: int, overlap: float) -> list[int]:
    """Starts of the tiles along one axis: a step of ``tile * (1 - overlap)``, the last tile
    moved inwards to end at the image's edge (no padding); one tile if it covers the axis."""
    if tile >= length:
        return [0]
    step = max(1, int(round(tile * (1 - overlap))))
    count = math.ceil((length - tile) / step) + 1
    return sorted({min(i * step, length - tile) for i in range(count)})


def tile_grid(height: int, width: int, tile_height: int, tile_width: int,
              overlap: float) -> list[tuple[int, int, int, int]]:
    """(x1, y1, x2, y2) of every tile, row by row; together they cover the image exactly.

    A tile larger than the image along an axis is cut to the image there (one tile).
    """
    tile_h, tile_w = min(tile_height, height), min(tile_width, width)
    return [(x, y, x + tile_w, y + tile_h)
            for y in axis_starts(height, tile_h, overlap)
            for x in axis_starts(width, tile_w, overlap)]
