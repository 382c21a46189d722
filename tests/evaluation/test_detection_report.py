"""The detection report: TIDE's error breakdown on hand-made cases with exact values, the
per-class report at a threshold, and tools/analysis_tools/detection_report.py.

Hand-made scene: class 1 ('a') boxes A = [0, 0, 10, 10] and B = [20, 20, 10, 10] (xywh); a
true positive on B at score 0.8. AP is COCO's 101-point AP at IoU 0.5: one class with 2 boxes
and only B found gives 51/101 (precision 1 at recall 0..0.5).
"""
import contextlib
import io
import json

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from custom.evaluation.coco_files import load_ground_truth
from custom.evaluation.tide_errors import ERROR_KINDS, interpolated_ap, tide_breakdown

A, B, C = [0, 0, 10, 10], [20, 20, 10, 10], [40, 40, 10, 10]


def ground_truth(boxes=((1, A), (1, B))) -> COCO:
    data = dict(images=[dict(id=1, file_name='1.png', width=120, height=120)],
                categories=[dict(id=1, name='a'), dict(id=2, name='b')],
                annotations=[dict(id=i + 1, image_id=1, category_id=c, bbox=list(box),
                                  area=box[2] * box[3], iscrowd=0)
                             for i, (c, box) in enumerate(boxes)])
    gt = COCO()
    gt.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
    return gt


def det(category_id, box, score, image_id=1):
    return dict(image_id=image_id, category_id=category_id, bbox=list(box), score=score)


TP_B = det(1, B, 0.8)


def expect(result, counts, dap, ap50, dap_fp, dap_fn):
    assert result.counts == {k: counts.get(k, 0) for k in ERROR_KINDS}
    assert result.ap50 == pytest.approx(ap50, abs=1e-12)
    for kind in ERROR_KINDS:
        assert result.dap[kind] == pytest.approx(dap.get(kind, 0.0), abs=1e-12), kind
    assert result.dap_fp == pytest.approx(dap_fp, abs=1e-12)
    assert result.dap_fn == pytest.approx(dap_fn, abs=1e-12)


def test_classification_error():
    # Class 2 on A exactly: right place, wrong class. Class 2 has a detection and no box: AP 0.
    r = tide_breakdown(ground_truth(), [det(2, A, 0.9), TP_B])
    expect(r, {'Cls': 1}, {'Cls': 1 - 51 / 202}, ap50=51 / 202, dap_fp=51 / 202,
           dap_fn=0.5 - 51 / 202)


def test_localisation_error():
    # Class 1 on [0, 0, 10, 4]: IoU 0.4 with A. Class 1: precision 0.5 up to recall 0.5.
    r = tide_breakdown(ground_truth(), [det(1, [0, 0, 10, 4], 0.9), TP_B])
    expect(r, {'Loc': 1}, {'Loc': 1 - 25.5 / 101}, ap50=25.5 / 101, dap_fp=25.5 / 101,
           dap_fn=0.5 - 25.5 / 101)


def test_both_error_and_the_box_it_leaves_missed():
    # Class 2 with IoU 0.4 with A (class 1): wrong class and poor box. A stays missed.
    r = tide_breakdown(ground_truth(), [det(2, [0, 0, 10, 4], 0.9), TP_B])
    expect(r, {'Both': 1, 'Miss': 1}, {'Both': 51 / 202, 'Miss': 0.5 - 51 / 202},
           ap50=51 / 202, dap_fp=51 / 202, dap_fn=0.5 - 51 / 202)


def test_duplicate_error():
    # A and B and C found; a second box on B (IoU 0.9) scored between them.
    gt = ground_truth(((1, A), (1, B), (1, C)))
    dets = [det(1, A, 0.95), TP_B, det(1, [20, 20, 10, 9], 0.7), det(1, C, 0.6)]
    # Precision 1 up to recall 2/3 (67 points), then 3/4 (34 points).
    ap = (67 + 34 * 0.75) / 101
    r = tide_breakdown(gt, dets)
    expect(r, {'Dupe': 1}, {'Dupe': 1 - ap}, ap50=ap, dap_fp=1 - ap, dap_fn=0.0)


def test_background_error():
    r = tide_breakdown(ground_truth(), [det(1, [100, 100, 10, 10], 0.9), TP_B])
    expect(r, {'Bkg': 1, 'Miss': 1}, {'Bkg': 25.5 / 101, 'Miss': 0.5 - 25.5 / 101},
           ap50=25.5 / 101, dap_fp=25.5 / 101, dap_fn=0.5 - 25.5 / 101)


def test_missed_error():
    r = tide_breakdown(ground_truth(), [TP_B])
    expect(r, {'Miss': 1}, {'Miss': 50 / 101}, ap50=51 / 101, dap_fp=0.0, dap_fn=50 / 101)


def test_a_fix_turns_only_the_best_error_per_box_into_a_match():
    # Two localisation errors on A: fixing makes the higher one a match, removes the other.
    dets = [det(1, [0, 0, 10, 4], 0.9), det(1, [0, 0, 10, 3], 0.85), TP_B]
    r = tide_breakdown(ground_truth(), dets)
    assert r.counts['Loc'] == 2 and r.counts['Miss'] == 0
    assert r.ap50 + r.dap['Loc'] == pytest.approx(1.0)


def test_interpolated_ap_equals_cocoeval_ap50():
    """On a random scene, the AP this module uses equals pycocotools' AP50 (one class)."""
    rng = np.random.default_rng(0)
    boxes = [(1, [float(x), float(y), 10.0, 10.0]) for x, y in rng.uniform(0, 100, (15, 2))]
    gt = ground_truth(boxes)
    dets = [det(1, [b[0] + rng.uniform(-4, 4), b[1] + rng.uniform(-4, 4), 10, 10],
                float(rng.uniform())) for _, b in boxes]
    dets += [det(1, [float(x), float(y), 8, 8], float(rng.uniform()))
             for x, y in rng.uniform(0, 100, (10, 2))]
    gt.dataset['categories'] = gt.dataset['categories'][:1]
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        coco_eval = COCOeval(gt, gt.loadRes(dets), 'bbox')
        coco_eval.params.areaRng = [[0, 1e10]]
        coco_eval.params.areaRngLbl = ['all']
        coco_eval.params.maxDets = [100]
        coco_eval.evaluate()
        coco_eval.accumulate()
    reference = coco_eval.eval['precision'][0, :, 0, 0, 0].mean()
    assert tide_breakdown(gt, dets).ap50 == pytest.approx(reference, abs=1e-12)
    assert interpolated_ap(np.array([]), np.array([], bool), 3) == 0.0


def test_load_ground_truth_reads_the_same_scene(tmp_path):
    path = tmp_path / 'ann.json'
    path.write_text(json.dumps(ground_truth().dataset))
    assert tide_breakdown(load_ground_truth(str(path)), [TP_B]).counts['Miss'] == 1


# ----------------------------------------------------------------- the tool, end to end
def run_report(argv: list) -> tuple[int, str, str]:
    import importlib.util
    from pathlib import Path
    path = Path('tools/analysis_tools/detection_report.py')
    spec = importlib.util.spec_from_file_location('detection_report_tool', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = module.main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def scene(tmp_path):
    """The hand-made scene on disk: annotation file, an image, and results with a true
    positive on B (0.8), a localisation error on A (0.9) and a class-b box below 0.3."""
    import cv2
    ann = tmp_path / 'ann.json'
    ann.write_text(json.dumps(ground_truth().dataset))
    (tmp_path / 'img').mkdir()
    cv2.imwrite(str(tmp_path / 'img' / '1.png'), np.full((120, 120, 3), 255, np.uint8))
    results = tmp_path / 'results.json'
    results.write_text(json.dumps([det(1, [0, 0, 10, 4], 0.9), TP_B, det(2, A, 0.2)]))
    return ann, results, tmp_path


def test_report_tool_writes_exact_counts_tide_and_drawings(scene):
    ann, results, root = scene
    code, out, err = run_report([ann, results, '--img-dir', root / 'img', '--out-dir',
                                 root / 'report'])
    assert code == 0, err
    report = json.loads((root / 'report' / 'report.json').read_text())
    a, b = report['classes']
    assert (a['name'], a['gt'], a['tp'], a['fp'], a['fn']) == ('a', 2, 1, 1, 1)
    assert (a['precision'], a['recall'], a['f1']) == (0.5, 0.5, 0.5)
    assert (a['best_f1'], a['best_thr']) == (0.5, 0.8)
    assert (b['gt'], b['tp'], b['fp'], b['fn'], b['precision'], b['recall']) == (
        0, 0, 0, 0, None, None)
    # COCOeval's AP50 for class a: precision 0.5 up to recall 0.5.
    assert a['ap50'] == pytest.approx(25.5 / 101)
    # TIDE sees every detection (no threshold): the class-b box on A is a Cls error.
    assert report['tide']['counts'] == dict(Cls=1, Loc=1, Both=0, Dupe=0, Bkg=0, Miss=0)
    assert report['worst_images'][0]['fn'] == 1 and report['worst_images'][0]['fp'] == 1
    for name in ('report.md', 'report.png', 'worst/1.png'):
        assert (root / 'report' / name).stat().st_size > 0, name
    markdown = (root / 'report' / 'report.md').read_text()
    assert '| a | 2 | 1 | 1 | 1 | 0.500 | 0.500 | 0.500 | 0.500 | 0.800 |' in markdown
    assert 'worst/1.png' in markdown


@pytest.mark.parametrize('results, message', [
    ([det(1, B, 0.8, image_id=7)], 'detection 0: image_id 7 is not in'),
    ([det(1, B, 0.8), det(9, B, 0.5)], 'detection 1: category_id 9 is not in'),
    ([], 'no detections in the results file'),
    ('[{"image_id": 1,', 'not valid JSON'),
])
def test_bad_results_are_one_line_errors(scene, results, message):
    ann, path, root = scene
    path.write_text(results if isinstance(results, str) else json.dumps(results))
    code, _, err = run_report([ann, path, '--out-dir', root / 'report'])
    errors = [line for line in err.splitlines() if line.startswith('error: ')]
    assert code == 1 and 'Traceback' not in err, err
    assert len(errors) == 1 and message in errors[0] and 'results.json' in errors[0], err
    assert not (root / 'report' / 'report.json').exists()
