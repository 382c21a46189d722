"""COCO box evaluation of one results file: pycocotools vs faster-coco-eval vs mmdet's CocoMetric.

    python bench/eval_speed.py [--images 5000] [--unique 500] [--data DIR] [--repeats 3]
        [--quick] [--no-record]

Ground truth: ``--unique`` digits val canvases (generated into ``--data`` once), tiled with
new image ids up to ``--images`` (COCO's val has 5,000). Results: what a fair detector
would write: 90% of the digits found with jittered boxes (10% of those under a wrong class,
some duplicated), plus 20-80 false positives per image, at most 100 detections per image,
scores above 0.05. Timed per evaluator: loading the results file, matching, accumulating
and summarising (ground truth is loaded once, outside the timing, as CocoMetric does):

- pycocotools: ``COCO.loadRes`` + ``COCOeval`` evaluate/accumulate/summarize;
- faster-coco-eval: the same with its ``COCO`` and C++ ``COCOeval_faster``;
- mmdet CocoMetric / classicdet FastCocoMetric: ``compute_metrics`` on the per-image
  predictions (it writes the results JSON itself, then evaluates).

The table gives median seconds, the speed-up over pycocotools (its time / this one's) and
the largest difference of the 12 COCO statistics from pycocotools'.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from bench.common import (  # noqa: E402
    add_common_args,
    apply_common_args,
    interleaved,
    markdown_table,
    ratio,
    report,
)

CLASSES = tuple(str(d) for d in range(10))
MAX_DETS = 100


def ground_truth(data_dir: Path, unique: int, images: int) -> Path:
    """A COCO GT file of ``images`` images tiled from ``unique`` generated digits canvases."""
    from custom.datasets import generate_digits_dataset
    source = data_dir / 'annotations' / 'instances_val.json'
    if not source.exists() or len(json.loads(source.read_text())['images']) != unique:
        generate_digits_dataset(data_dir, num_train=0, num_val=unique, progress=False)
    coco = json.loads(source.read_text())
    tiled = dict(coco, images=[], annotations=[])
    for copy in range(-(-images // unique)):
        for image in coco['images']:
            if len(tiled['images']) == images:
                break
            tiled['images'].append(dict(image, id=image['id'] + copy * unique))
    kept = {image['id'] for image in tiled['images']}
    for copy in range(-(-images // unique)):
        for ann in coco['annotations']:
            image_id = ann['image_id'] + copy * unique
            if image_id in kept:
                tiled['annotations'].append(
                    dict(ann, id=len(tiled['annotations']) + 1, image_id=image_id))
    path = data_dir / 'annotations' / f'instances_val_{images}.json'
    path.write_text(json.dumps(tiled))
    return path


def fake_detections(coco: dict, seed: int = 0) -> list[dict]:
    """COCO results a fair detector could write for ``coco``'s images (see module doc)."""
    rng = np.random.default_rng(seed)
    by_image: dict[int, list[dict]] = {image['id']: [] for image in coco['images']}
    for ann in coco['annotations']:
        by_image[ann['image_id']].append(ann)
    sizes = {image['id']: (image['width'], image['height']) for image in coco['images']}
    cat_ids = [cat['id'] for cat in coco['categories']]
    results = []
    for image_id, anns in by_image.items():
        width, height = sizes[image_id]
        dets = []
        for ann in anns:
            if rng.random() > 0.9:
                continue
            for duplicate in range(1 + (rng.random() < 0.3)):
                x, y, w, h = ann['bbox']
                spread = 0.06 * (1 + 2 * duplicate)
                box = [x + rng.normal(0, spread) * w, y + rng.normal(0, spread) * h,
                       w * np.exp(rng.normal(0, 0.08)), h * np.exp(rng.normal(0, 0.08))]
                wrong = rng.random() < 0.1
                category = int(rng.choice(cat_ids)) if wrong else ann['category_id']
                score = rng.uniform(0.5, 1.0) * (rng.uniform(0.3, 0.8) if duplicate else 1.0)
                dets.append((box, category, score))
        for _ in range(int(rng.integers(20, 81))):
            w, h = rng.uniform(16, 110, size=2)
            x, y = rng.uniform(0, width - w), rng.uniform(0, height - h)
            dets.append(([x, y, w, h], int(rng.choice(cat_ids)), rng.uniform(0.05, 0.5)))
        dets.sort(key=lambda det: -det[2])
        results += [dict(image_id=image_id, category_id=category,
                         bbox=[round(float(v), 2) for v in box], score=round(float(score), 4))
                    for box, category, score in dets[:MAX_DETS]]
    return results


def as_metric_results(results: list[dict], coco: dict) -> list[tuple[dict, dict]]:
    """The (gt, pred) pairs CocoMetric.process() would have stored for these detections."""
    label_of = {cat['id']: index for index, cat in
                enumerate(sorted(coco['categories'], key=lambda c: c['id']))}
    per_image: dict[int, list[dict]] = {image['id']: [] for image in coco['images']}
    for det in results:
        per_image[det['image_id']].append(det)
    pairs = []
    for image in coco['images']:
        dets = per_image[image['id']]
        xywh = np.array([det['bbox'] for det in dets], dtype=np.float32).reshape(-1, 4)
        pred = dict(img_id=image['id'],
                    bboxes=np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], 1),
                    scores=np.array([det['score'] for det in dets], dtype=np.float32),
                    labels=np.array([label_of[det['category_id']] for det in dets]))
        pairs.append((dict(width=image['width'], height=image['height'], img_id=image['id']),
                      pred))
    return pairs


def evaluators(gt_file: Path, results_file: Path, pairs: list) -> tuple[dict, dict]:
    """Evaluator name -> one evaluation call; and name -> what it returned last (filled in)."""
    from faster_coco_eval import COCO as FastCOCO
    from faster_coco_eval import COCOeval_faster
    from mmdet.evaluation.metrics import CocoMetric
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from custom.evaluation.metrics import FastCocoMetric

    outputs: dict[str, object] = {}

    def coco_api_call(name, coco_cls, eval_cls):
        with contextlib.redirect_stdout(io.StringIO()):
            gt = coco_cls(str(gt_file))

        def call():
            with contextlib.redirect_stdout(io.StringIO()):
                evaluator = eval_cls(gt, gt.loadRes(str(results_file)), 'bbox')
                evaluator.evaluate()
                evaluator.accumulate()
                evaluator.summarize()
            outputs[name] = np.asarray(evaluator.stats[:12], dtype=float)
        return call

    def metric_call(name, metric_cls):
        with contextlib.redirect_stdout(io.StringIO()):
            metric = metric_cls(ann_file=str(gt_file), metric='bbox')
        metric.dataset_meta = dict(classes=CLASSES)

        def call():
            with contextlib.redirect_stdout(io.StringIO()):
                outputs[name] = metric.compute_metrics(pairs)
        return call

    calls = {
        'pycocotools': coco_api_call('pycocotools', COCO, COCOeval),
        'faster-coco-eval': coco_api_call('faster-coco-eval', FastCOCO, COCOeval_faster),
        'mmdet CocoMetric': metric_call('mmdet CocoMetric', CocoMetric),
        'classicdet FastCocoMetric': metric_call('classicdet FastCocoMetric', FastCocoMetric),
    }
    return calls, outputs


METRIC_STATS = ('bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75', 'bbox_mAP_s', 'bbox_mAP_m',
                'bbox_mAP_l')


def largest_difference(output, reference: np.ndarray) -> float:
    """Largest |difference| from pycocotools' 12 stats (6 rounded APs for the metrics)."""
    if isinstance(output, dict):
        return float(np.max(np.abs(np.array([output[k] for k in METRIC_STATS])
                                   - np.round(reference[:6], 3))))
    return float(np.max(np.abs(output - reference)))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--images', type=int, default=5000, help='images in the GT file')
    parser.add_argument('--unique', type=int, default=500, help='distinct canvases generated')
    parser.add_argument('--data', default='work_dirs/bench/digits_eval',
                        help='folder for the generated canvases and files')
    add_common_args(parser, repeats=3, warmup=1)
    args = parser.parse_args(argv)
    apply_common_args(args)
    if args.quick:
        args.images, args.unique = 40, 20
    from mmengine.logging import MMLogger
    MMLogger.get_instance('eval_speed', log_level='WARNING')  # CocoMetric logs through it

    data_dir = Path(args.data)
    gt_file = ground_truth(data_dir, args.unique, args.images)
    coco = json.loads(gt_file.read_text())
    results = fake_detections(coco)
    results_file = data_dir / f'results_{args.images}.json'
    results_file.write_text(json.dumps(results))
    calls, outputs = evaluators(gt_file, results_file, as_metric_results(results, coco))
    timings = interleaved(calls, args.repeats, args.warmup)

    reference = outputs['pycocotools']
    base = timings['pycocotools'].median
    rows = []
    for name, timing in timings.items():
        ap = outputs[name]['bbox_mAP'] if isinstance(outputs[name], dict) else outputs[name][0]
        rows.append([name, timing.median, ratio(base, timing.median), ap,
                     f'{largest_difference(outputs[name], reference):.1e}'])
    metric_speedup = ratio(timings['mmdet CocoMetric'].median,
                           timings['classicdet FastCocoMetric'].median)
    body = markdown_table(['evaluator', 'median s', 'speed-up vs pycocotools', 'AP',
                           'max abs stat diff vs pycocotools'], rows)
    body += (f'\n\n{args.images} images ({args.unique} distinct canvases), '
             f'{len(coco["annotations"])} GT boxes, {len(results)} detections; '
             f'{args.repeats} timed rounds after {args.warmup} warm-up. FastCocoMetric / '
             f'CocoMetric speed-up: {metric_speedup:.2f}x. The metrics round to 3 decimals, '
             'so their difference is taken from rounded pycocotools values.')
    report(args, __file__, argv if argv is not None else sys.argv[1:],
           f'COCO bbox evaluation speed ({args.images} images)', body)
    return dict(timings=timings, outputs=outputs)


if __name__ == '__main__':
    main()
