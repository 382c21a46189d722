"""The offline digits detection set: reproducible bytes, complete COCO, exactly tight boxes,
disjoint scan splits, its dataset config, and the tools that show it."""
import hashlib
import json
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from in_process import tool_module
from pycocotools.coco import COCO

from custom.datasets import generate_digits_dataset
from custom.datasets.digits_canvas import (
    SPLITS,
    CanvasConfig,
    paste,
    read_digit_scans,
    render_canvas,
    split_scans,
)

SEED = 3
SMALL = dict(num_train=10, num_val=5, img_size=160, seed=SEED, workers=1, progress=False)
DIGITS_CONFIG = 'configs/_base_/datasets/digits_detection.py'


@pytest.fixture(scope='module')
def small_set(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('digits')
    generate_digits_dataset(root, **SMALL)
    return root


def digests(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob('*')) if p.is_file()}


def load_split(root: Path, split: str) -> dict:
    return json.loads((root / 'annotations' / f'instances_{split}.json').read_text())


def test_same_seed_same_bytes_with_any_worker_count(small_set, tmp_path):
    generate_digits_dataset(tmp_path, **{**SMALL, 'workers': 2})
    ours = digests(tmp_path)
    assert len(ours) == 10 + 5 + 2 and ours == digests(small_set)


def test_other_seed_other_data(small_set, tmp_path):
    generate_digits_dataset(tmp_path, **{**SMALL, 'num_train': 1, 'num_val': 1, 'seed': SEED + 1})
    assert (tmp_path / 'train/00001.png').read_bytes() != (small_set / 'train/00001.png'
                                                          ).read_bytes()


def test_complete_coco_that_pycocotools_loads(small_set):
    for split, num in (('train', 10), ('val', 5)):
        data = load_split(small_set, split)
        assert {'info', 'licenses', 'images', 'annotations', 'categories'} <= set(data)
        assert data['categories'] == [dict(id=d + 1, name=str(d), supercategory='digit')
                                      for d in range(10)]
        coco = COCO(str(small_set / 'annotations' / f'instances_{split}.json'))
        assert sorted(coco.getImgIds()) == list(range(1, num + 1))
        for img in data['images']:
            assert img['width'] == img['height'] == 160
            png = cv2.imread(str(small_set / split / img['file_name']), cv2.IMREAD_UNCHANGED)
            assert png.shape == (160, 160, 3) and png.dtype == np.uint8
            assert 1 <= len(coco.getAnnIds(imgIds=[img['id']])) <= 5
        ids = [a['id'] for a in data['annotations']]
        assert ids == list(range(1, len(ids) + 1))
        for ann in data['annotations']:
            x, y, w, h = ann['bbox']
            assert ann['area'] == w * h and ann['iscrowd'] == 0
            assert all(isinstance(v, int) for v in ann['bbox'])


def pixel_mask(shape, alpha: np.ndarray, offset) -> np.ndarray:
    """(H, W) bool: where a digit's alpha is nonzero on the canvas."""
    mask = np.zeros(shape, bool)
    x, y = offset
    h, w = alpha.shape
    mask[y:y + h, x:x + w] = alpha > 0
    return mask


def test_boxes_are_inside_and_exactly_tight(small_set):
    scans, labels = read_digit_scans()
    pools = split_scans(labels, SEED)
    checked_alone = 0
    for split in SPLITS:
        data = load_split(small_set, split)
        anns = defaultdict(list)
        for ann in data['annotations']:
            anns[ann['image_id']].append(ann)
        for img in data['images']:
            png = cv2.imread(str(small_set / split / img['file_name']), cv2.IMREAD_UNCHANGED)
            canvas = render_canvas(SEED, split, img['id'] - 1, scans, labels, pools[split],
                                   CanvasConfig(img_size=160))
            assert np.array_equal(png, canvas.image)  # the PNG is this render, bit for bit
            H, W = png.shape[:2]
            insts = canvas.instances
            assert [(a['bbox'], a['category_id']) for a in anns[img['id']]] == [
                (inst.coco_bbox(), inst.label + 1) for inst in insts]
            masks = [pixel_mask((H, W), inst.alpha, inst.offset) for inst in insts]
            for i, (ann, inst) in enumerate(zip(anns[img['id']], insts)):
                x, y, w, h = ann['bbox']
                assert 0 <= x and 0 <= y and x + w <= W and y + h <= H
                # The box is the bounding box of this digit's ink...
                rows, cols = np.flatnonzero(masks[i].any(1)), np.flatnonzero(masks[i].any(0))
                assert [cols[0], rows[0], cols[-1] - cols[0] + 1, rows[-1] - rows[0] + 1] == \
                    [x, y, w, h]
                # ...every ink pixel visibly changes the image and nothing else does, so the
                # ink touches all four sides of the box.
                alone = canvas.background.copy()
                paste(alone, inst.alpha, inst.offset, inst.colour)
                changed = (alone != canvas.background).any(-1)
                assert np.array_equal(changed, masks[i])
                box = changed[y:y + h, x:x + w]
                assert box[0].any() and box[-1].any() and box[:, 0].any() and box[:, -1].any()
                # In the image itself the pixels just outside the box are background, except
                # where another digit's ink lies.
                ring = np.zeros((H, W), bool)
                ring[max(y - 1, 0):y + h + 1, max(x - 1, 0):x + w + 1] = True
                ring[y:y + h, x:x + w] = False
                others = np.zeros((H, W), bool)
                for j, m in enumerate(masks):
                    others |= m if j != i else False
                free = ring & ~others
                assert np.array_equal(png[free], canvas.background[free])
                # A digit with nothing else near it: the changed pixels of the image itself
                # span exactly the annotated box.
                grown = np.zeros((H, W), bool)
                grown[max(y - 2, 0):y + h + 2, max(x - 2, 0):x + w + 2] = True
                if not (grown & others).any():
                    diff = (png != canvas.background).any(-1) & grown
                    r, c = np.flatnonzero(diff.any(1)), np.flatnonzero(diff.any(0))
                    assert [c[0], r[0], c[-1] - c[0] + 1, r[-1] - r[0] + 1] == [x, y, w, h]
                    checked_alone += 1
    assert checked_alone >= 10


def test_train_and_val_use_disjoint_scans(small_set):
    _, labels = read_digit_scans()
    used = {}
    for split in SPLITS:
        data = load_split(small_set, split)
        pool = set(data['info']['scan_ids'])
        for ann in data['annotations']:
            assert ann['scan_id'] in pool
            assert ann['category_id'] - 1 == labels[ann['scan_id']]  # the scan's true digit
        used[split] = pool
    assert not used['train'] & used['val']
    assert len(used['train'] | used['val']) == 1797
    assert 0.18 < len(used['val']) / 1797 < 0.22


def test_bad_options_are_named(tmp_path):
    with pytest.raises(ValueError, match='img_size=20 is too small for min_size=24'):
        generate_digits_dataset(tmp_path, img_size=20, progress=False)
    with pytest.raises(ValueError, match='min_size=50, max_size=40'):
        generate_digits_dataset(tmp_path, min_size=50, max_size=40, progress=False)
    with pytest.raises(ValueError, match='num_val must be >= 0, got -1'):
        generate_digits_dataset(tmp_path, num_val=-1, progress=False)
    with pytest.warns(UserWarning, match='max_size=96 does not fit a 100 px canvas; using 69'):
        generate_digits_dataset(tmp_path, num_train=1, num_val=1, img_size=100, progress=False)


def test_dataset_config_pipeline(small_set):
    from mmdet.registry import DATASETS
    from mmengine.config import Config

    cfg = Config.fromfile(DIGITS_CONFIG)
    types = [t['type'] for t in cfg.train_pipeline]
    assert types == ['CheckedLoadImageFromFile', 'LoadAnnotations', 'Resize', 'PackDetInputs']
    cfg.train_dataloader.dataset.data_root = f'{small_set}/'
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    assert type(dataset).__name__ == 'ValidatedCocoDataset' and len(dataset) == 10
    assert dataset.metainfo['classes'] == tuple(str(d) for d in range(10))
    item = dataset[0]
    assert tuple(item['inputs'].shape) == (3, 256, 256)  # 160 px canvases resized x1.6
    anns = [a for a in load_split(small_set, 'train')['annotations'] if a['image_id'] == 1]
    expected = [[1.6 * x, 1.6 * y, 1.6 * (x + w), 1.6 * (y + h)] for x, y, w, h in
                (a['bbox'] for a in anns)]
    torch.testing.assert_close(item['data_samples'].gt_instances.bboxes.tensor,
                               torch.tensor(expected))
    assert item['data_samples'].gt_instances.labels.tolist() == [a['category_id'] - 1
                                                                 for a in anns]



def test_generator_cli(tmp_path, capsys):
    cli = tool_module('tools/dataset_converters/digits2coco.py')
    assert cli.main([str(tmp_path / 'd'), '--train', '2', '--val', '1', '--img-size', '128',
                     '--no-progress', '--workers', '1']) == 0
    out = capsys.readouterr().out
    assert 'note: max_size=96 does not fit a 128 px canvas; using 89' in out
    assert len(list((tmp_path / 'd' / 'train').glob('*.png'))) == 2
    assert cli.main([str(tmp_path / 'e'), '--min-size', '4', '--no-progress']) == 1
    err = capsys.readouterr().err
    assert err.startswith('error: need 8 <= min_size <= max_size, got min_size=4')


def test_browse_dataset_draws_boxes_just_outside(small_set, tmp_path):
    cli = tool_module('tools/analysis_tools/browse_dataset.py')
    out = tmp_path / 'browse'
    # 160 px canvases shown at 320 px: an x2 upscaling puts box edges on whole pixels.
    assert cli.main([DIGITS_CONFIG, '--out-dir', str(out), '--n', '2', '--cfg-options',
                     f'train_dataloader.dataset.data_root={small_set}/',
                     'train_dataloader.dataset.pipeline.2.scale=(320,320)']) == 0
    files = sorted(out.glob('*.png'))
    assert [f.name for f in files] == ['0000_00001.png', '0001_00002.png']
    drawing = cv2.imread(str(files[0]))
    assert drawing.shape == (320, 320, 3)
    ann = next(a for a in load_split(small_set, 'train')['annotations'] if a['image_id'] == 1)
    x, y, w, h = (2 * v for v in ann['bbox'])
    # The line's left edge sits on column x - 1, just outside the (x2 upscaled) box.
    line = drawing[y + h // 2, x - 1].astype(int)
    inside = drawing[y + h // 2, x].astype(int)
    assert np.abs(line - inside).sum() > 0 and line.max() - line.min() > 100  # saturated colour


def test_dataset_stats(small_set, tmp_path, capsys):
    cli = tool_module('tools/analysis_tools/dataset_stats.py')
    ann_file = small_set / 'annotations' / 'instances_val.json'
    assert cli.main([str(ann_file), '--out', str(tmp_path / 'stats.png')]) == 0
    out = capsys.readouterr().out
    data = load_split(small_set, 'val')
    assert f"images: 5   annotations: {len(data['annotations'])}" in out
    counts = [sum(a['category_id'] == d + 1 for a in data['annotations']) for d in range(10)]
    for d in range(10):
        assert any(line.split()[:2] == [str(d), str(counts[d])] for line in out.splitlines())
    assert cv2.imread(str(tmp_path / 'stats.png')) is not None
    bad = tmp_path / 'bad.json'
    bad.write_text('{"images": []')
    assert cli.main([str(bad)]) == 1
    assert 'truncated' in capsys.readouterr().err
