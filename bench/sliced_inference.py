"""Small objects in large images: COCO mAP and time per image with and without slicing.

    python bench/sliced_inference.py [--checkpoint work_dirs/demo/iter_540.pth]
        [--images 50] [--slice-sizes 128 160 192 256] [--quick] [--no-record]

The data: digits canvases of 1280 px with 12-40 px digits (``digits2coco.py --img-size 1280
--min-size 12 --max-size 40 --max-digits 30``, made under work_dirs/bench/digits_1280 if
missing). The detector: the digits demo's R18-FPN (``make demo`` trains it), which was trained
on 320 px canvases with 24-96 px digits and sees images at 256 px: on a whole 1280 px canvas
the digits shrink to 2-8 px. Contenders, run in turn on the same images: the detector on the
whole image, and sliced inference (``custom.inference.slicing``) at each tile size with
the full pass and the default merge (intersection over the smaller box), plus, at the second
size, the IoU merge (NMS), the fusing merge (greedy NMM, full runs only) and no full pass.
mAP is pycocotools' on the same detections the tools would write.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from bench.common import (  # noqa: E402
    add_common_args,
    apply_common_args,
    fmt,
    markdown_table,
    report,
)

CONFIG = 'configs/digits/faster-rcnn_r18_fpn_540it_digits.py'
LARGE_SET = dict(img_size=1280, min_size=12, max_size=40, max_digits=30)


def large_digits_set(folder: Path, num_val: int) -> Path:
    """The val annotation file of the large-canvas set, made if missing."""
    ann = folder / 'annotations' / 'instances_val.json'
    if not ann.is_file():
        from custom.datasets import generate_digits_dataset
        generate_digits_dataset(folder, num_train=1, num_val=num_val, progress=False,
                                **LARGE_SET)
    return ann


def coco_map(ann_file: Path, results: list[dict]) -> tuple[float, float]:
    """pycocotools' mAP@[.5:.95] and mAP@0.5 of ``results`` (COCO detections)."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(ann_file))
        if not results:
            return 0.0, 0.0
        evaluation = COCOeval(gt, gt.loadRes(results), 'bbox')
        evaluation.params.imgIds = sorted(gt.getImgIds())
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return float(evaluation.stats[0]), float(evaluation.stats[1])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--checkpoint', default='work_dirs/demo/iter_540.pth')
    parser.add_argument('--config', default=CONFIG)
    parser.add_argument('--data', default='work_dirs/bench/digits_1280')
    parser.add_argument('--images', type=int, default=50, help='val images')
    parser.add_argument('--slice-sizes', type=int, nargs='+', default=[128, 160, 192, 256])
    add_common_args(parser, repeats=1, warmup=0)
    args = parser.parse_args(argv)
    apply_common_args(args)
    if not Path(args.checkpoint).is_file():
        parser.error(f'--checkpoint {args.checkpoint}: not found (make demo trains it)')
    if args.quick:
        args.images, args.slice_sizes = 2, [256]
    from pycocotools.coco import COCO

    from custom.apis import Detector
    from custom.inference.slicing import (
        SliceSettings,
        max_detections,
        sliced_predict,
        tile_pipeline,
    )
    ann = large_digits_set(Path(args.data) / ('quick' if args.quick else ''), args.images)
    gt = COCO(str(ann))
    images = [gt.imgs[i] for i in sorted(gt.getImgIds())][:args.images]
    folder = ann.parent.parent / 'val'
    detector = Detector(args.config, args.checkpoint, device=args.device)
    model = detector.inferencer.model
    pipeline = tile_pipeline(detector.inferencer.cfg.test_dataloader.dataset.pipeline)
    cat_of = {c['name']: c['id'] for c in gt.loadCats(gt.getCatIds())}

    settings = {'whole image (no slicing)': None}
    for size in args.slice_sizes:
        settings[f'{size} px tiles'] = SliceSettings.from_options(size)
    second = args.slice_sizes[min(1, len(args.slice_sizes) - 1)]
    settings[f'{second} px tiles, IoU merge (NMS)'] = SliceSettings.from_options(second,
                                                                                 merge='nms')
    if not args.quick:
        settings[f'{second} px tiles, fusing merge (NMM)'] = SliceSettings.from_options(
            second, merge='nmm')
    settings[f'{second} px tiles, no full pass'] = SliceSettings.from_options(
        second, full_pass=False)

    from custom.apis.detector import read_image
    rows, results = [], {}
    for name, setting in settings.items():
        detections, seconds, tiles = [], [], []
        for info in images:
            image = read_image(str(folder / info['file_name']))
            start = time.perf_counter()
            if setting is None:
                pred = detector.predict(image)
                boxes, scores, labels, count = (pred['boxes'], pred['scores'],
                                                pred['labels'], 1)
            else:
                pred = sliced_predict(model, image, pipeline, setting,
                                      max_per_img=max_detections(model))
                boxes, scores = pred.bboxes.cpu().numpy(), pred.scores.cpu().numpy()
                labels, count = pred.labels.cpu().numpy(), pred.num_tiles
            seconds.append(time.perf_counter() - start)
            tiles.append(count)
            for box, score, label in zip(boxes, scores, labels):
                x1, y1, x2, y2 = (float(v) for v in box)
                detections.append(dict(image_id=info['id'],
                                       category_id=cat_of[detector.class_name(int(label))],
                                       bbox=[x1, y1, x2 - x1, y2 - y1], score=float(score)))
        map_all, map_50 = coco_map(ann, detections)
        results[name] = dict(map=map_all, map50=map_50, seconds=float(np.mean(seconds)),
                             tiles=float(np.mean(tiles)))
        print(f'{name}: mAP@0.5 {map_50:.3f}, mAP {map_all:.3f}, '
              f'{np.mean(seconds):.2f} s per image', flush=True)
    whole = results['whole image (no slicing)']['seconds']
    for name, r in results.items():
        rows.append([name, fmt(r['tiles'], 4), fmt(r['map50']), fmt(r['map']),
                     fmt(r['seconds']), fmt(r['seconds'] / whole)])
    table = markdown_table(['setting', 'detector runs / image', 'mAP@0.5', 'mAP@[.5:.95]',
                            's / image', 'time vs whole image'], rows)
    n_gt = sum(len(gt.getAnnIds(imgIds=[i['id']])) for i in images)
    body = (f'{table}\n\n{len(images)} canvases of {LARGE_SET["img_size"]} px with '
            f'{n_gt} digits of {LARGE_SET["min_size"]}-{LARGE_SET["max_size"]} px '
            f'({args.data}); {args.config} with {args.checkpoint}; tiles overlap 0.2, '
            'merged by intersection over the smaller box at 0.5 unless stated; '
            f'device {args.device}, one image at a time.')
    report(args, __file__, argv if argv is not None else sys.argv[1:],
           f'Sliced inference on 1280 px canvases with small digits ({args.device})', body,
           args.device)
    return results


if __name__ == '__main__':
    main()
