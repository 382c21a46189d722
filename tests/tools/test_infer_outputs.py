"""tools/infer.py's outputs: per-image JSON with mmdet inferencer's keys, one COCO results file
that pycocotools loads (against --ann-file, or the image list written beside it), and
--batch-size giving the detections of one image at a time. A digits detector with random
weights is enough: what is checked is where the detections go, not how good they are."""
import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import make_digits, run_tool
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from custom.core.errors import InputError

CONFIG = 'configs/digits/faster-rcnn_r18_fpn_540it_digits.py'


@pytest.fixture(scope='module')
def digits(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('digits')
    make_digits(root, train=1, val=4, img_size=96, min_size=30, max_size=48,
                seed=3, max_digits=2)
    return root


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory) -> Path:
    from mmengine.config import Config

    from custom.core.build_detector import build_detector
    model = build_detector(Config.fromfile(CONFIG), None, 'cpu', seed=0)
    path = tmp_path_factory.mktemp('ckpt') / 'random.pth'
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=dict(classes=tuple('0123456789')))), path)
    return path


@pytest.fixture(scope='module')
def detector(checkpoint):
    from custom.apis import Detector
    return Detector(CONFIG, str(checkpoint), device='cpu')


def quiet(fn, *args):
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args)


def remapped_ann_file(digits: Path, tmp_path: Path) -> Path:
    """The val annotations with category ids that are not label + 1 (reversed, from 50), and
    its categories listed in another order: the results must map classes by name."""
    data = json.loads((digits / 'annotations' / 'instances_val.json').read_text())
    new_id = {cat['id']: 50 - cat['id'] for cat in data['categories']}
    for cat in data['categories']:
        cat['id'] = new_id[cat['id']]
    data['categories'].reverse()
    for ann in data['annotations']:
        ann['category_id'] = new_id[ann['category_id']]
    for image in data['images']:
        image['file_name'] = f'val/{image["file_name"]}'
        image['id'] += 1000
    path = tmp_path / 'remapped.json'
    path.write_text(json.dumps(data))
    return path


def test_infer_writes_inferencer_keys_and_coco_results_that_load_against_the_ann_file(
        digits, checkpoint, detector, tmp_path):
    ann_file = remapped_ann_file(digits, tmp_path)
    out = tmp_path / 'out'
    proc = run_tool('tools/infer.py', digits / 'val', CONFIG, checkpoint, '--out-dir', out,
                    '--score-thr', '0.05', '--ann-file', ann_file, '--device', 'cpu')
    assert 'coco_results.json' in proc.stdout and not (out / 'coco_images.json').exists()
    gt = quiet(COCO, str(ann_file))
    dets = json.loads((out / 'coco_results.json').read_text())
    assert dets, 'random weights still give detections above 0.05'
    coco_dt = quiet(gt.loadRes, str(out / 'coco_results.json'))  # pycocotools accepts them
    ev = COCOeval(gt, coco_dt, 'bbox')
    quiet(ev.evaluate)
    name_to_id = {image['file_name'].split('/')[-1]: image['id'] for image in gt.dataset['images']}
    cat_of_class = {cat['name']: cat['id'] for cat in gt.dataset['categories']}
    for image in sorted((digits / 'val').glob('*.png')):
        pred = json.loads((out / 'preds' / f'{image.stem}.json').read_text())
        assert set(pred) == {'image', 'bboxes', 'labels', 'scores', 'names'}
        ref = detector.predict(str(image), score_thr=0.05)
        np.testing.assert_allclose(pred['bboxes'], ref['boxes'].reshape(-1, 4), atol=0.01)
        assert pred['labels'] == ref['labels'].tolist() and pred['names'] == ref['names']
        mine = [d for d in dets if d['image_id'] == name_to_id[image.name]]
        assert len(mine) == len(pred['bboxes'])
        for det, box, name, score in zip(mine, pred['bboxes'], pred['names'], pred['scores']):
            x1, y1, x2, y2 = box
            np.testing.assert_allclose(det['bbox'], [x1, y1, x2 - x1, y2 - y1], atol=0.02)
            assert det['category_id'] == cat_of_class[name] == 50 - (int(name) + 1)
            assert det['score'] == pytest.approx(score, abs=1e-4)


def test_without_ann_file_an_image_list_is_written_that_the_results_load_against(
        digits, checkpoint, tmp_path):
    out = tmp_path / 'out'
    run_tool('tools/infer.py', digits / 'val', CONFIG, checkpoint, '--out-dir', out,
             '--score-thr', '0.05', '--device', 'cpu', '--batch-size', '3')
    images = json.loads((out / 'coco_images.json').read_text())
    inputs = sorted((digits / 'val').glob('*.png'))
    assert [(i['id'], Path(i['file_name']).name, i['height'], i['width'])
            for i in images['images']] == [(n + 1, p.name, 96, 96) for n, p in enumerate(inputs)]
    assert [(c['id'], c['name']) for c in images['categories']] == [
        (n + 1, str(n)) for n in range(10)]
    gt = quiet(COCO, str(out / 'coco_images.json'))
    loaded = quiet(gt.loadRes, str(out / 'coco_results.json'))
    assert len(loaded.getAnnIds()) == len(json.loads((out / 'coco_results.json').read_text()))


def test_a_batch_gives_the_detections_of_one_image_at_a_time(digits, detector):
    from custom.apis import read_image
    images = [read_image(str(p)) for p in sorted((digits / 'val').glob('*.png'))]
    one = [detector.predict(image, score_thr=0.05) for image in images]
    batch = detector.predict_batch(images, score_thr=0.05)
    assert sum(len(r['boxes']) for r in one) > 0
    for a, b in zip(one, batch):
        assert a['labels'].tolist() == b['labels'].tolist()
        np.testing.assert_allclose(a['boxes'], b['boxes'], atol=1e-3)
        np.testing.assert_allclose(a['scores'], b['scores'], atol=1e-5)


class RecordingDetector:
    """A stand-in for :class:`custom.apis.Detector` that records its batches."""
    classes = ('a', 'b')

    def __init__(self):
        self.batches = []

    def predict_batch(self, images, score_thr=0.0, return_vis=False):
        self.batches.append([image.shape[:2] for image in images])
        return [dict(boxes=np.array([[1., 2., 5., 9.]]), scores=np.array([0.5]),
                     labels=np.array([1]), names=['b'], vis=image[..., ::-1])
                for image in images]


def test_batches_group_images_of_one_size_and_ids_follow_the_input_order(tmp_path):
    import cv2

    from custom.apis import infer_images
    from custom.evaluation.coco_results import CocoResults
    sizes = [(40, 60), (50, 50), (40, 60), (40, 60), (50, 50), (40, 60)]
    paths = []
    for n, (h, w) in enumerate(sizes):
        paths.append(str(tmp_path / f'{n}.png'))
        cv2.imwrite(paths[-1], np.full((h, w, 3), n * 10, np.uint8))
    (tmp_path / 'bad.png').write_bytes(b'not an image')
    paths.insert(2, str(tmp_path / 'bad.png'))
    fake, coco = RecordingDetector(), CocoResults(RecordingDetector.classes)
    report = infer_images(fake, paths, str(tmp_path / 'out'), batch_size=2, coco=coco,
                          progress=False)
    assert fake.batches == [[(40, 60)] * 2, [(50, 50)] * 2, [(40, 60)] * 2]
    assert report.failed == [(paths[2], f'{paths[2]}: not an image, or its header is corrupt')]
    coco.write(str(tmp_path / 'out'))
    dets = json.loads((tmp_path / 'out' / 'coco_results.json').read_text())
    assert [d['image_id'] for d in dets] == [1, 2, 4, 5, 6, 7]  # input places, bad one left out
    assert dets[0] == dict(image_id=1, category_id=2, bbox=[1.0, 2.0, 4.0, 7.0], score=0.5)


def test_an_image_the_ann_file_lacks_is_named_and_skipped(digits, tmp_path):
    from custom.evaluation.coco_results import CocoResults
    ann = digits / 'annotations' / 'instances_val.json'
    coco = CocoResults(tuple('0123456789'), str(ann))
    first = sorted((digits / 'val').glob('*.png'))[0]
    assert coco.image_id(str(first)) == 1
    with pytest.raises(InputError, match=r'other\.png: no image of .*instances_val\.json has '
                                         r'this file_name; --ann-file must list every input'):
        coco.image_id(str(tmp_path / 'other.png'))
    with pytest.raises(InputError, match=r"instances_val\.json: no category named 'cat'"):
        CocoResults(('0', 'cat'), str(ann))
