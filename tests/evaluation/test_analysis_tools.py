"""tools/analysis_tools: curves, PR curves and confusion matrix.

Known answers on generated COCO data, parity with pycocotools' COCOeval and with mmdet's own
confusion-matrix routine, and a valid PNG from every plotting tool.
"""
import contextlib
import importlib.util
import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from helpers import run_analysis_tool as run_main

from custom.apis.cli import CLIError
from custom.evaluation.confusion_matrix import accumulate_image, compute_confusion_matrix
from custom.evaluation.curves import default_keys, plot_curves, read_scalars, series
from custom.evaluation.pr_curves import compute_pr_curves

CATEGORIES = [dict(id=1, name='cat'), dict(id=3, name='dog'), dict(id=7, name='bird')]
CAT, DOG, BIRD = 1, 3, 7


# --------------------------------------------------------------------------- helpers
def assert_png(path: Path, min_side: int = 100) -> np.ndarray:
    """The file is a PNG that decodes to a non-blank image."""
    assert path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n', path
    image = cv2.imread(str(path))
    assert image is not None and min(image.shape[:2]) >= min_side, path
    assert image.std() > 1.0, f'{path} is blank'
    return image


def write_json(path: Path, data) -> Path:
    path.write_text(json.dumps(data))
    return path


def ground_truth() -> dict:
    """4 images; cats 5 (two in image 4), dogs 4, birds 3 (none in image 3); no overlaps."""
    slots = {CAT: [10, 10, 30, 30], DOG: [50, 10, 30, 30], BIRD: [10, 55, 30, 30]}
    anns = []
    for img_id in (1, 2, 3, 4):
        for cat_id, bbox in slots.items():
            if not (img_id == 3 and cat_id == BIRD):
                anns.append(dict(image_id=img_id, category_id=cat_id, bbox=bbox))
    anns.append(dict(image_id=4, category_id=CAT, bbox=[55, 55, 25, 30]))
    for ann_id, ann in enumerate(anns, start=1):
        ann.update(id=ann_id, area=ann['bbox'][2] * ann['bbox'][3], iscrowd=0)
    images = [dict(id=i, file_name=f'{i}.png', width=100, height=100) for i in (1, 2, 3, 4)]
    return dict(images=images, annotations=anns, categories=[dict(c) for c in CATEGORIES])


def perfect_detections(gt: dict) -> list[dict]:
    return [dict(image_id=a['image_id'], category_id=a['category_id'], bbox=list(a['bbox']),
                 score=0.9 - 0.01 * i) for i, a in enumerate(gt['annotations'])]


def noisy_detections(gt: dict, seed: int = 0) -> list[dict]:
    """Jittered boxes, some wrong classes, some misses and background false positives."""
    rng = np.random.default_rng(seed)
    dets = []
    for ann in gt['annotations']:
        if rng.random() < 0.2:
            continue
        x, y, w, h = ann['bbox']
        jitter = rng.normal(0, 4, size=4)
        cat_id = ann['category_id'] if rng.random() > 0.2 else int(rng.choice([CAT, DOG, BIRD]))
        dets.append(dict(image_id=ann['image_id'], category_id=cat_id,
                         bbox=[x + jitter[0], y + jitter[1], w + jitter[2], h + jitter[3]],
                         score=float(rng.random())))
    for _ in range(12):
        x, y = rng.uniform(0, 70, size=2)
        dets.append(dict(image_id=int(rng.integers(1, 5)), category_id=int(rng.choice([1, 3, 7])),
                         bbox=[x, y, 20.0, 20.0], score=float(rng.random())))
    return dets


@pytest.fixture
def coco_files(tmp_path):
    gt = ground_truth()
    return gt, write_json(tmp_path / 'ann.json', gt)


# --------------------------------------------------------------------------- curves
def scalar_lines(by_epoch: bool = False) -> list[dict]:
    lines = []
    for it in range(10, 101, 10):
        line = dict(lr=0.02, data_time=0.01, loss=3.0 - it / 50, loss_rpn_cls=0.5 - it / 1000,
                    loss_cls=1.0 - it / 200, loss_bbox=0.4, acc=50.0 + it / 4, time=0.5,
                    iter=it, memory=100, step=it)
        if by_epoch:
            line['epoch'] = 1 + (it - 1) // 50
        lines.append(line)
        if it % 50 == 0:
            lines.append({'coco/bbox_mAP': it / 1000, 'coco/bbox_mAP_50': it / 500,
                          'coco/bbox_mAP_75': it / 2000, 'coco/bbox_mAP_s': -1.0,
                          'data_time': 0.01, 'time': 0.2, 'step': it // 50 if by_epoch else it})
    return lines


def write_scalars(path: Path, lines: list[dict]) -> Path:
    path.write_text(''.join(json.dumps(line) + '\n' for line in lines))
    return path


def test_read_scalars_splits_train_and_val(tmp_path):
    log = read_scalars(str(write_scalars(tmp_path / 'scalars.json', scalar_lines())))
    assert (len(log.train), len(log.val), log.by_epoch) == (10, 2, False)
    train_keys, val_keys = default_keys(log)
    assert train_keys == ['loss', 'loss_rpn_cls', 'loss_cls', 'loss_bbox', 'acc']
    assert val_keys == ['coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/bbox_mAP_75']
    x, y = series(log.val, 'coco/bbox_mAP_50')
    np.testing.assert_array_equal(x, [50, 100])
    np.testing.assert_allclose(y, [0.1, 0.2])
    x, y = series(log.train, 'loss')
    np.testing.assert_array_equal(x, np.arange(10, 101, 10))
    np.testing.assert_allclose(y, 3.0 - np.arange(10, 101, 10) / 50)


def test_epoch_based_log_is_recognised(tmp_path):
    log = read_scalars(str(write_scalars(tmp_path / 's.json', scalar_lines(by_epoch=True))))
    assert log.by_epoch
    np.testing.assert_array_equal(series(log.val, 'coco/bbox_mAP')[0], [1, 2])


def test_iteration_run_logged_by_epoch_places_evaluations_at_their_iteration(tmp_path):
    """mmengine's default log_metric_by_epoch=True writes an iteration-based run's
    evaluations with step 0 (its epoch); each goes at the iteration logged before it."""
    lines = scalar_lines()
    for line in lines:
        if 'coco/bbox_mAP' in line:
            line['step'] = 0
    log = read_scalars(str(write_scalars(tmp_path / 's.json', lines)))
    np.testing.assert_array_equal(series(log.val, 'coco/bbox_mAP')[0], [50, 100])


def test_iteration_configs_log_evaluations_at_their_iteration():
    from mmengine.config import Config
    cfg = Config.fromfile('configs/digits/faster-rcnn_r18_fpn_540it_digits.py')
    assert cfg.default_hooks.logger.log_metric_by_epoch is False


def test_plot_curves_cli_writes_png(tmp_path):
    scalars = write_scalars(tmp_path / 'scalars.json', scalar_lines())
    code, out, err = run_main('plot_curves', [scalars, '--out', tmp_path / 'c.png'])
    assert code == 0, err
    assert_png(tmp_path / 'c.png')
    assert '10 training and 2 validation records' in out


def test_plot_curves_unknown_key(tmp_path):
    log = read_scalars(str(write_scalars(tmp_path / 'scalars.json', scalar_lines())))
    with pytest.raises(CLIError, match=r'--keys loss_mask: not in .*scalars.json.*loss_cls'):
        plot_curves(log, str(tmp_path / 'c.png'), keys=['loss', 'loss_mask'])


def test_broken_scalars_line_is_one_clear_error(tmp_path):
    scalars = tmp_path / 'scalars.json'
    scalars.write_text(json.dumps(scalar_lines()[0]) + '\n{"loss": 1.0, "iter"\n')
    code, _, err = run_main('plot_curves', [scalars])
    errors = [line for line in err.splitlines() if line.startswith('error: ')]
    assert code == 1 and 'Traceback' not in err, err
    assert len(errors) == 1 and 'scalars.json:2: not a JSON line' in errors[0], err


def test_missing_scalars_file(tmp_path):
    code, _, err = run_main('plot_curves', [tmp_path / 'nope.json'])
    assert code == 1 and 'nope.json: file not found' in err


# --------------------------------------------------------------------------- PR curves
def cocoeval_precision(ann_file: Path, dets: list[dict]) -> np.ndarray:
    """(T, R, K, A, M) precision from pycocotools, run directly."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(ann_file))
        coco_eval = COCOeval(gt, gt.loadRes(dets), iouType='bbox')
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()
    return coco_eval.eval['precision'], coco_eval.stats


def test_perfect_detections_have_precision_one_everywhere(coco_files, tmp_path):
    gt, ann = coco_files
    results = write_json(tmp_path / 'res.json', perfect_detections(gt))
    curves_50, curves_75 = compute_pr_curves(str(ann), str(results), (0.5, 0.75))
    for curves in (curves_50, curves_75):
        assert curves.class_names == ['cat', 'dog', 'bird']
        assert curves.precision.shape == (3, 101)
        np.testing.assert_array_equal(curves.precision, 1.0)
        np.testing.assert_array_equal(curves.ap, 1.0)


def test_pr_curves_equal_cocoeval(coco_files, tmp_path):
    gt, ann = coco_files
    dets = noisy_detections(gt)
    results = write_json(tmp_path / 'res.json', dets)
    reference, stats = cocoeval_precision(ann, dets)
    curves_50, curves_75 = compute_pr_curves(str(ann), str(results), (0.5, 0.75))
    np.testing.assert_array_equal(curves_50.precision, reference[0, :, :, 0, 2].T)
    np.testing.assert_array_equal(curves_75.precision, reference[5, :, :, 0, 2].T)
    assert not np.all(curves_50.precision == 1.0)  # the noise must cost precision
    assert curves_50.ap.mean() == pytest.approx(stats[1])  # COCO AP50
    assert curves_75.ap.mean() == pytest.approx(stats[2])  # COCO AP75


def test_class_without_ground_truth_is_marked(tmp_path):
    gt = ground_truth()
    gt['categories'].append(dict(id=9, name='fish'))
    ann = write_json(tmp_path / 'ann.json', gt)
    results = write_json(tmp_path / 'res.json', perfect_detections(gt))
    (curves, ) = compute_pr_curves(str(ann), str(results))
    assert curves.class_names[-1] == 'fish' and curves.ap[-1] == -1


def test_pr_curves_cli(coco_files, tmp_path):
    gt, ann = coco_files
    results = write_json(tmp_path / 'res.json', noisy_detections(gt))
    code, out, err = run_main('pr_curves', [ann, results, '--out', tmp_path / 'pr.png',
                                            '--iou', '0.5', '0.75'])
    assert code == 0, err
    assert_png(tmp_path / 'pr.png')
    assert 'AP@0.50 per class:' in out and 'AP@0.75 per class:' in out


@pytest.mark.parametrize('content, message', [
    (None, 'res.json: file not found'),
    ('[{"image_id": 1,', 'res.json: not valid JSON'),
    ('{"a": 1}', 'res.json: expected a list of detections'),
    ('[{"image_id": 99, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.5}]',
     'res.json: detection 0: image_id 99 is not in'),
    ('[{"image_id": 1, "category_id": 2, "bbox": [0, 0, 5, 5], "score": 0.5}]',
     'res.json: detection 0: category_id 2 is not in'),
])
def test_bad_results_file_is_one_clear_error(coco_files, tmp_path, content, message):
    _, ann = coco_files
    results = tmp_path / 'res.json'
    if content is not None:
        results.write_text(content)
    for tool in ('pr_curves', 'confusion_matrix'):
        code, _, err = run_main(tool, [ann, results, '--out', tmp_path / 'x.png'])
        errors = [line for line in err.splitlines() if line.startswith('error: ')]
        assert code == 1 and len(errors) == 1 and message in errors[0], (tool, err)
        assert not (tmp_path / 'x.png').exists()


def test_iou_that_cocoeval_does_not_compute(coco_files, tmp_path):
    gt, ann = coco_files
    results = write_json(tmp_path / 'res.json', perfect_detections(gt))
    with pytest.raises(CLIError, match='--iou 0.42: not a COCO IoU threshold'):
        compute_pr_curves(str(ann), str(results), (0.42, ))


# --------------------------------------------------------------------------- confusion matrix
def test_perfect_detections_give_a_diagonal(coco_files, tmp_path):
    gt, ann = coco_files
    results = write_json(tmp_path / 'res.json', perfect_detections(gt))
    cm = compute_confusion_matrix(str(ann), str(results), score_thr=0.3, iou_thr=0.5)
    assert cm.labels == ['cat', 'dog', 'bird', 'background']
    np.testing.assert_array_equal(cm.matrix, np.diag([5, 4, 3, 0]))
    assert np.isnan(cm.normalized()[-1]).all()  # no false positive: nothing to normalize


def test_confusion_matrix_known_answer(coco_files, tmp_path):
    gt, ann = coco_files
    dets = [d for d in perfect_detections(gt) if d['category_id'] != DOG]  # every dog missed
    dets += [
        dict(image_id=1, category_id=BIRD, bbox=[11, 11, 30, 30], score=0.8),  # cat called bird
        dict(image_id=2, category_id=CAT, bbox=[85, 85, 10, 10], score=0.8),  # on background
        dict(image_id=1, category_id=DOG, bbox=[50, 10, 30, 30], score=0.1),  # below score_thr
        dict(image_id=2, category_id=BIRD, bbox=[50, 10, 30, 30], score=0.7),  # dog called bird:
    ]  # a wrong-class match does not find the dog, so it also stays a miss
    results = write_json(tmp_path / 'res.json', dets)
    cm = compute_confusion_matrix(str(ann), str(results), score_thr=0.3, iou_thr=0.5)
    np.testing.assert_array_equal(cm.matrix, [[5, 0, 1, 0],
                                              [0, 0, 1, 4],
                                              [0, 0, 3, 0],
                                              [1, 0, 0, 0]])
    cm = compute_confusion_matrix(str(ann), str(results), score_thr=0.05, iou_thr=0.5)
    np.testing.assert_array_equal(cm.matrix[1], [0, 1, 1, 3])  # the low-score dog now counts
    np.testing.assert_allclose(cm.normalized()[1], [0, 20, 20, 60])


def load_mmdet_confusion_module():
    """mmdet's own tools/analysis_tools/confusion_matrix.py, shipped inside the package."""
    import mmdet
    path = Path(mmdet.__file__).parent / '.mim' / 'tools' / 'analysis_tools' / 'confusion_matrix.py'
    if not path.is_file():
        pytest.skip('this mmdet install does not ship its tools')
    spec = importlib.util.spec_from_file_location('mmdet_confusion_matrix_tool', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_confusion_matrix_equals_mmdet_reference():
    mmdet_tool = load_mmdet_confusion_module()
    rng = np.random.default_rng(3)
    num_classes = 4
    ours = np.zeros((num_classes + 1, num_classes + 1), dtype=np.int64)
    reference = np.zeros((num_classes + 1, num_classes + 1))
    for _ in range(30):
        num_gt, num_det = int(rng.integers(1, 6)), int(rng.integers(0, 10))
        xy = rng.uniform(0, 60, size=(num_gt, 2))
        gt_boxes = np.concatenate([xy, xy + rng.uniform(10, 40, size=(num_gt, 2))], axis=1)
        gt_labels = rng.integers(0, num_classes, size=num_gt)
        # detections near ground truth (clustered so several IoUs pass) and random ones
        src = rng.integers(0, num_gt, size=num_det)
        det_boxes = gt_boxes[src] + rng.normal(0, 6, size=(num_det, 4))
        det_boxes[:, 2:] = np.maximum(det_boxes[:, 2:], det_boxes[:, :2] + 1)
        det_labels = np.where(rng.random(num_det) < 0.7, gt_labels[src],
                              rng.integers(0, num_classes, size=num_det))
        det_scores = rng.random(num_det)
        accumulate_image(ours, gt_boxes, gt_labels, det_boxes, det_labels, det_scores,
                         score_thr=0.3, iou_thr=0.5)
        gts = [dict(bbox=list(b), bbox_label=int(lab)) for b, lab in zip(gt_boxes, gt_labels)]
        result = dict(bboxes=torch.from_numpy(det_boxes).float(),
                      labels=torch.from_numpy(det_labels), scores=torch.from_numpy(det_scores))
        mmdet_tool.analyze_per_img_dets(reference, gts, result, score_thr=0.3, tp_iou_thr=0.5)
    assert ours.sum() > 50 and np.count_nonzero(ours - np.diag(np.diag(ours))) > 3
    np.testing.assert_array_equal(ours, reference)


def test_confusion_matrix_cli(coco_files, tmp_path):
    gt, ann = coco_files
    results = write_json(tmp_path / 'res.json', perfect_detections(gt))
    code, out, err = run_main('confusion_matrix', [ann, results, '--out', tmp_path / 'cm.png',
                                                   '--score-thr', '0.3', '--iou-thr', '0.5'])
    assert code == 0, err
    assert_png(tmp_path / 'cm.png')
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[2:6]}
    assert rows == {'cat': ['5', '0', '0', '0'], 'dog': ['0', '4', '0', '0'],
                    'bird': ['0', '0', '3', '0'], 'background': ['0', '0', '0', '0']}


def with_val_losses(lines: list[dict]) -> list[dict]:
    """ValidationLossHook's terms on each evaluation line, above the training loss."""
    for line in lines:
        if 'coco/bbox_mAP' in line:
            it = line['step']
            line.update({'val/loss': 3.5 - it / 100, 'val/loss_cls': 1.2 - it / 250,
                         'val/loss_rpn_cls': 0.6 - it / 1000, 'val/acc': 60.0})
    return lines


def test_validation_losses_are_drawn_with_the_training_losses(tmp_path):
    log = read_scalars(str(write_scalars(tmp_path / 's.json', with_val_losses(scalar_lines()))))
    train_keys, val_keys = default_keys(log)
    assert val_keys == ['coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/bbox_mAP_75', 'val/loss',
                        'val/loss_cls', 'val/loss_rpn_cls']
    x, y = series(log.val, 'val/loss')
    np.testing.assert_array_equal(x, [50, 100])
    np.testing.assert_allclose(y, [3.0, 2.5])
    assert_png(Path(plot_curves(log, str(tmp_path / 'c.png'))))


def test_validation_losses_of_an_epoch_run_sit_at_their_iteration(tmp_path):
    log = read_scalars(str(write_scalars(tmp_path / 's.json',
                                         with_val_losses(scalar_lines(by_epoch=True)))))
    np.testing.assert_array_equal(series(log.val, 'val/loss', x_key='_train_step')[0], [50, 100])
    np.testing.assert_array_equal(series(log.val, 'val/loss')[0], [1, 2])
    assert '_train_step' not in log.keys(log.val)


def test_validation_losses_sit_at_the_iteration_of_their_validation(tmp_path):
    """A validation at iteration 90 of a run that logs training every 20 iterations sits at
    90, not at the training line (80) before it."""
    lines = [dict(loss=1.0, lr=0.1, iter=it, step=it) for it in (20, 40, 60, 80, 100)]
    lines.insert(4, {'coco/bbox_mAP': 0.5, 'val/loss': 0.9, 'step': 90})
    log = read_scalars(str(write_scalars(tmp_path / 's.json', lines)))
    np.testing.assert_array_equal(series(log.val, 'val/loss', x_key='_train_step')[0], [90])
    np.testing.assert_array_equal(series(log.val, 'coco/bbox_mAP')[0], [90])
