"""--slice-merge nmm: greedy non-maximum merging fuses the pieces of an object cut at a tile
border into their union, where 'ios' keeps the best piece and 'nms' keeps both; and the tile
grid that sliced inference and the tiled training sets share."""
import numpy as np
import pytest
import torch
from mmengine.config import Config

from custom.core.tile_grid import tile_grid
from custom.inference.slicing import (
    SliceSettings,
    merge_detections,
    non_maximum_merge,
    sliced_predict,
    tile_pipeline,
    tile_windows,
)

# An object at (100, 100, 140, 160) seen by two tiles that overlap in y 115..140: the upper
# tile sees its top (0), the lower its bottom (1). Their intersection over the smaller is
# 40 * 25 / (40 * 40) = 0.625, their IoU 1000 / 2400 = 0.417. Box 2 is another class on the
# top piece, box 3 an object of class 1 far away.
BOXES = torch.tensor([[100., 100., 140., 140.], [100., 115., 140., 160.],
                      [100., 100., 140., 140.], [300., 300., 320., 330.]])
SCORES = torch.tensor([0.7, 0.9, 0.95, 0.5])
LABELS = torch.tensor([1, 1, 2, 1])


def test_nmm_fuses_the_pieces_into_their_union_with_the_best_score():
    keep, boxes = non_maximum_merge(BOXES, SCORES, LABELS, 0.5)
    assert keep.tolist() == [2, 1, 3]
    assert boxes.tolist() == [[100., 100., 140., 140.], [100., 100., 140., 160.],
                              [300., 300., 320., 330.]]
    assert SCORES[keep].tolist() == pytest.approx([0.95, 0.9, 0.5])


def test_ios_keeps_the_best_piece_and_nms_both():
    assert merge_detections(BOXES, SCORES, LABELS, 'ios', 0.5).tolist() == [2, 1, 3]
    assert merge_detections(BOXES, SCORES, LABELS, 'nms', 0.5).tolist() == [2, 1, 0, 3]


def test_nmm_threshold_and_limit():
    keep, boxes = non_maximum_merge(BOXES, SCORES, LABELS, 0.7)  # 0.625 does not pass 0.7
    assert keep.tolist() == [2, 1, 0, 3] and torch.equal(boxes, BOXES[keep])
    keep, boxes = non_maximum_merge(BOXES, SCORES, LABELS, 0.5, max_per_img=2)
    assert keep.tolist() == [2, 1] and boxes[1].tolist() == [100., 100., 140., 160.]
    keep, boxes = non_maximum_merge(BOXES[:0], SCORES[:0], LABELS[:0])
    assert keep.shape == (0,) and boxes.shape == (0, 4)


def test_nmm_measures_against_the_best_box_not_the_growing_union():
    # b overlaps a by 0.6 of the smaller and fuses; c overlaps b, not a: it stays apart.
    boxes = torch.tensor([[0., 0., 10., 10.], [0., 4., 10., 14.], [0., 12., 10., 22.]])
    keep, merged = non_maximum_merge(boxes, torch.tensor([0.9, 0.8, 0.7]),
                                     torch.zeros(3, dtype=torch.long), 0.5)
    assert keep.tolist() == [0, 2]
    assert merged.tolist() == [[0., 0., 10., 14.], [0., 12., 10., 22.]]


def test_sliced_predict_with_nmm_returns_the_fused_boxes():
    from test_slicing import CONFIG, OneBoxPerTile
    pipeline = tile_pipeline(Config.fromfile(CONFIG).test_dataloader.dataset.pipeline)
    settings = SliceSettings.from_options([160, 200], 0.2, merge='nmm')
    pred = sliced_predict(OneBoxPerTile(), np.zeros((300, 500, 3), np.uint8), pipeline,
                          settings)
    windows = tile_windows(300, 500, settings)
    # every tile's box is apart from the others but the full pass's, which equals the first's
    assert len(pred) == len(windows) and pred.scores[0] == 0.5


def test_tile_grid_is_the_grid_of_sliced_inference():
    settings = SliceSettings.from_options([160, 200], 0.25)
    assert tile_windows(300, 500, settings) == tile_grid(300, 500, 160, 200, 0.25)
    assert tile_grid(100, 80, 256, 256, 0.2) == [(0, 0, 80, 100)]
