"""The digits shift sets: reproducible, val scans only, tight boxes kept, each shift changing
what it names and nothing else."""
import hashlib
import json

import cv2
import numpy as np
import pytest
from pycocotools.coco import COCO

from custom.datasets.digits_canvas import (
    CanvasConfig,
    nonzero_box,
    read_digit_scans,
    render_canvas,
    split_scans,
)
from custom.datasets.digits_shifts import (
    PHOTO_MIN,
    SHIFTS,
    Shift,
    generate_shift_set,
    render_shifted,
    shift_stream,
)

SEED = 3


@pytest.fixture(scope='module')
def scans():
    images, labels = read_digit_scans()
    return images, labels, split_scans(labels, SEED)


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_seed_same_bytes_any_workers_and_val_scans_only(tmp_path, scans):
    first = generate_shift_set(tmp_path / 'a', 'noise', num_images=4, img_size=160, seed=SEED,
                               workers=1, progress=False)
    generate_shift_set(tmp_path / 'b', 'noise', num_images=4, img_size=160, seed=SEED,
                       workers=2, progress=False)
    for name in ('00001.png', '00004.png'):
        assert digest(tmp_path / 'a/noise' / name) == digest(tmp_path / 'b/noise' / name)
    data = json.loads(first.read_text())
    coco = COCO(str(first))
    assert len(coco.getImgIds()) == 4 and len(data['annotations']) >= 4
    used = {ann['scan_id'] for ann in data['annotations']}
    _, _, pools = scans
    assert used <= set(pools['val'].tolist()) and not used & set(pools['train'].tolist())


def test_a_shift_without_options_is_the_generator_page(scans):
    images, labels, pools = scans
    cfg = CanvasConfig(160, 24, 48, 5)
    plain = Shift('plain')
    image, instances = render_shifted(SEED, plain, 0, images, labels, pools['val'], cfg)
    layout_seed = int(shift_stream(SEED, plain, 0).integers(0, 2**31))
    reference = render_canvas(layout_seed, 'val', 0, images, labels, pools['val'], cfg)
    assert np.array_equal(image, reference.image)
    assert [i.box for i in instances] == [i.box for i in reference.instances]


def test_photo_background_keeps_the_ink_boxes_tight_and_visible(scans):
    images, labels, pools = scans
    cfg = SHIFTS['photo'].canvas_config(CanvasConfig(160, 24, 48, 5))
    image, instances = render_shifted(SEED, SHIFTS['photo'], 1, images, labels, pools['val'],
                                      cfg)
    assert instances
    for inst in instances:
        x, y = inst.offset
        x0, y0, x1, y1 = nonzero_box(inst.alpha)
        assert inst.box == (x + x0, y + y0, x + x1, y + y1)
    # Only ink may be darker than the photo background's floor.
    ink = np.zeros(image.shape[:2], bool)
    for inst in instances:
        x, y = inst.offset
        h, w = inst.alpha.shape
        ink[y:y + h, x:x + w] |= inst.alpha > 0
    assert image[~ink].min() >= PHOTO_MIN


@pytest.mark.parametrize('name', ['blur', 'noise', 'contrast', 'jpeg'])
def test_a_capture_shift_changes_pixels_not_boxes(scans, name):
    images, labels, pools = scans
    cfg = CanvasConfig(160, 24, 48, 5)
    shifted, instances = render_shifted(SEED, SHIFTS[name], 2, images, labels, pools['val'], cfg)
    clean, clean_instances = render_shifted(
        SEED, Shift(name), 2, images, labels, pools['val'], cfg)
    assert [i.box for i in instances] == [i.box for i in clean_instances]
    assert not np.array_equal(shifted, clean)
    if name == 'contrast':
        assert shifted.astype(float).std() < 0.6 * clean.astype(float).std()
    if name == 'blur':
        sharp = cv2.Laplacian(cv2.cvtColor(clean, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var()
        soft = cv2.Laplacian(cv2.cvtColor(shifted, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var()
        assert soft < 0.5 * sharp


def test_layout_shifts_change_size_and_count(scans, tmp_path):
    small = generate_shift_set(tmp_path, 'small', num_images=6, img_size=320, seed=SEED,
                               workers=1, progress=False)
    heights = [ann['bbox'][3] for ann in json.loads(small.read_text())['annotations']]
    # A 24 px scan side gives ink at most about 24 px tall (training digits: up to 96).
    assert max(heights) <= 26
    dense = SHIFTS['dense'].canvas_config(CanvasConfig())
    assert dense.max_digits > CanvasConfig().max_digits


def test_unknown_shift_and_negative_count_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown shift 'fog'"):
        generate_shift_set(tmp_path, 'fog', num_images=1)
    with pytest.raises(ValueError, match='num_images must be >= 0'):
        generate_shift_set(tmp_path, 'blur', num_images=-1)


def test_capture_degradation_transform_changes_pixels_only_and_checks_its_options():
    from mmdet.registry import TRANSFORMS

    from custom.core.errors import InputError
    from custom.datasets import CaptureDegradation

    rng = np.random.default_rng(0)
    image = rng.integers(100, 200, (64, 80, 3)).astype(np.uint8)
    boxes = np.array([[1.0, 2.0, 30.0, 40.0]], np.float32)
    always = TRANSFORMS.build(dict(type='CaptureDegradation', blur_prob=1, noise_prob=1,
                                   jpeg_prob=1))
    np.random.seed(0)
    out = always(dict(img=image.copy(), gt_bboxes=boxes.copy()))
    assert out['img'].dtype == np.uint8 and out['img'].shape == image.shape
    assert not np.array_equal(out['img'], image)
    assert np.array_equal(out['gt_bboxes'], boxes)
    never = CaptureDegradation(blur_prob=0, noise_prob=0, jpeg_prob=0)
    assert np.array_equal(never(dict(img=image.copy()))['img'], image)
    # seeded like mmdet's transforms: the same global seed, the same pixels
    np.random.seed(0)
    again = always(dict(img=image.copy()))
    assert np.array_equal(again['img'], out['img'])
    with pytest.raises(InputError, match='blur_prob must be in'):
        CaptureDegradation(blur_prob=1.5)
    with pytest.raises(InputError, match='jpeg_quality must be at most 100'):
        CaptureDegradation(jpeg_quality=(50, 120))
