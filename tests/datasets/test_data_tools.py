"""Data tools: the seeded, stratified train/val split (tools/misc/split_coco.py) and the tiling
of a COCO training set (tools/dataset_converters/coco_tile.py), exact counts and boxes, and
one line for an empty split or a tile larger than the image."""
import json

import cv2
import numpy as np
import pytest

from custom.core.errors import InputError
from custom.core.tile_grid import tile_grid
from custom.datasets.coco_split import split_coco, split_counts
from custom.datasets.coco_tiling import clip_to_tile, tile_coco


def coco(image_classes: list[list[int]], size=(100, 100)) -> dict:
    """A COCO dict with one image per entry, a 10 px box per class listed."""
    images, anns = [], []
    for index, classes in enumerate(image_classes, 1):
        images.append(dict(id=index, file_name=f'{index}.png', height=size[0], width=size[1]))
        for cat in classes:
            anns.append(dict(id=len(anns) + 1, image_id=index, category_id=cat,
                             bbox=[1, 1, 10, 10], area=100, iscrowd=0))
    return dict(images=images, annotations=anns,
                categories=[dict(id=i, name=n) for i, n in [(1, 'A'), (2, 'B'), (3, 'C')]])


# 40 images of A, 8 of A and B (their rarest class: B), 1 of C, 10 without boxes.
DATA = coco([[1]] * 40 + [[1, 2]] * 8 + [[3]] + [[]] * 10)


def test_split_is_stratified_by_the_rarest_class_and_keeps_images_without_boxes():
    train, val = split_coco(DATA, 0.2, seed=0)
    # 59 images, 12 to val: A 40 * 0.2 = 8, empty 10 * 0.2 = 2, B 8 * 0.2 = 1.6 and C 0.2
    # share the last one by largest remainder: B.
    assert split_counts(val) == dict(images=12, empty=2, boxes=12,
                                     per_class=dict(A=10, B=2, C=0))
    assert split_counts(train) == dict(images=47, empty=8, boxes=45,
                                       per_class=dict(A=38, B=6, C=1))
    ids = sorted(i['id'] for i in train['images'] + val['images'])
    assert ids == list(range(1, 60))
    for part in (train, val):
        own = {i['id'] for i in part['images']}
        assert {a['image_id'] for a in part['annotations']} <= own
        assert part['categories'] == DATA['categories']


def test_split_is_seeded():
    def val_ids(seed):
        return sorted(i['id'] for i in split_coco(DATA, 0.2, seed)[1]['images'])
    assert val_ids(0) == val_ids(0) and val_ids(0) != val_ids(1)


@pytest.mark.parametrize('data, fraction, message', [
    (coco([]), 0.2, 'x.json: no images to split'),
    (coco([[1]]), 0.2, r'x.json: 1 image\(s\) cannot be split 0.8/0.2 with both splits'),
    (DATA, 1.0, r'--val-fraction: must be in \(0, 1\), got 1.0'),
])
def test_split_refuses_in_one_line(data, fraction, message):
    with pytest.raises(InputError, match=message):
        split_coco(data, fraction, name='x.json')


def test_split_tool_writes_both_files_prints_counts_and_refuses_an_empty_file(tmp_path):
    ann = tmp_path / 'all.json'
    ann.write_text(json.dumps(DATA))
    from in_process import call_tool
    code, out = call_tool('tools/misc/split_coco.py', ann, '--out-dir', tmp_path / 'out')
    assert code == 0, out
    assert f'{tmp_path}/out/val.json: 12 images (2 without boxes), 12 boxes' in out
    assert 'boxes per class (train / val): A 38/10, B 6/2, C 1/0' in out
    val = json.loads((tmp_path / 'out' / 'val.json').read_text())
    assert val == split_coco(DATA, 0.2, 0)[1]
    code, out = call_tool('tools/misc/split_coco.py', ann, '--out-dir', tmp_path / 'out')
    assert code == 1 and 'train.json: exists' in out  # nothing overwritten
    ann.write_text(json.dumps(coco([])))
    code, out = call_tool('tools/misc/split_coco.py', ann, '--out-dir', tmp_path / 'e')
    assert code == 1 and 'Traceback' not in out
    assert out.splitlines()[0] == f'error: {ann}: no images to split'


def test_clip_to_tile_keeps_pieces_above_the_visible_fraction():
    assert clip_to_tile([40, 0, 30, 10], (0, 0, 60, 60), 0.3) == [40, 0, 20, 10]  # 2/3 seen
    assert clip_to_tile([55, 50, 10, 20], (0, 0, 60, 60), 0.3) is None  # 1/4 seen
    assert clip_to_tile([55, 50, 10, 20], (0, 0, 60, 60), 0.25) == [55, 50, 5, 10]
    assert clip_to_tile([0, 0, 5, 5], (40, 40, 100, 100), 0.01) is None


@pytest.fixture
def tile_set(tmp_path):
    """A 100x100 image with three boxes and a 60x60 image without any."""
    data = dict(images=[dict(id=7, file_name='big.png', height=100, width=100),
                        dict(id=8, file_name='sub/small.png', height=60, width=60)],
                annotations=[dict(id=1, image_id=7, category_id=1, bbox=[10, 10, 20, 20]),
                             dict(id=2, image_id=7, category_id=2, bbox=[40, 0, 30, 10]),
                             dict(id=3, image_id=7, category_id=1, bbox=[55, 50, 10, 20])],
                categories=[dict(id=1, name='A'), dict(id=2, name='B')])
    rng = np.random.default_rng(0)
    big = rng.integers(0, 255, (100, 100, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / 'big.png'), big)
    (tmp_path / 'sub').mkdir()
    cv2.imwrite(str(tmp_path / 'sub' / 'small.png'), np.zeros((60, 60, 3), np.uint8))
    return data, big


def test_tiles_overlap_clip_their_boxes_and_drop_small_pieces(tile_set, tmp_path):
    data, big = tile_set
    tiled, report = tile_coco(data, str(tmp_path), str(tmp_path / 'tiles'), (60, 60), 0.2)
    windows = tile_grid(100, 100, 60, 60, 0.2)  # sliced inference's grid
    assert windows == [(0, 0, 60, 60), (40, 0, 100, 60), (0, 40, 60, 100), (40, 40, 100, 100)]
    assert [(i['source_image_id'], tuple(i['tile']), i['file_name']) for i in tiled['images']] \
        == [(7, w, f'big_x{w[0]}_y{w[1]}.png') for w in windows] + [
            (8, (0, 0, 60, 60), 'sub/small_x0_y0.png')]
    boxes = {}
    for ann in tiled['annotations']:
        boxes.setdefault(ann['image_id'], []).append((ann['category_id'], ann['bbox']))
    assert boxes == {1: [(1, [10, 10, 20, 20]), (2, [40, 0, 20, 10])],  # box 3: 1/4, dropped
                     2: [(2, [0, 0, 30, 10]), (1, [15, 50, 10, 10])],
                     3: [(1, [55, 10, 5, 20])],
                     4: [(1, [15, 10, 10, 20])]}
    assert (report.tiles, report.empty_tiles_kept, report.pieces, report.pieces_dropped) == (
        5, 1, 6, 1)
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / 'tiles' / 'big_x40_y0.png')),
                                  big[0:60, 40:100])


def test_empty_tiles_are_sampled_at_the_rate(tile_set, tmp_path):
    data, _ = tile_set
    tiled, report = tile_coco(data, str(tmp_path), str(tmp_path / 't0'), (60, 60), 0.2,
                              empty_rate=0.0)
    assert report.tiles == 4 and report.empty_tiles_dropped == 1
    assert 8 not in {i['source_image_id'] for i in tiled['images']}


def test_a_tile_larger_than_an_image_is_one_line(tile_set, tmp_path):
    data, _ = tile_set
    ann = tmp_path / 'ann.json'
    for image in data['images']:
        image.update(license=1)
    for a in data['annotations']:
        a.update(area=a['bbox'][2] * a['bbox'][3], iscrowd=0)
    ann.write_text(json.dumps(data))
    from in_process import call_tool
    code, out = call_tool('tools/dataset_converters/coco_tile.py', ann, tmp_path,
                          tmp_path / 'out', '--tile-size', 80)
    assert code == 1 and 'Traceback' not in out
    assert out.splitlines()[0] == (
        f'error: {ann}: image 8 (sub/small.png) is 60x60, smaller than the 80x80 tile '
        '(--tile-size H W); choose a tile no larger than the smallest image')
    assert not (tmp_path / 'out').exists()
    code, out = call_tool('tools/dataset_converters/coco_tile.py', ann, tmp_path,
                          tmp_path / 'out', '--tile-size', 60, '--empty-rate', 0)
    assert code == 0, out
    assert '2 images -> 4 tiles of 60x60' in out and '1 below --min-visible' in out
    assert len(json.loads((tmp_path / 'out' / 'annotations.json').read_text())['images']) == 4
