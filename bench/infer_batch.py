"""Inference throughput of ``Detector.predict_batch`` (``tools/infer.py --batch-size N``)
against one image at a time.

    python bench/infer_batch.py [--batch-sizes 1 4 8] [--images 16] [--size 320 320]
        [--repeats 3] [--threads N] [--device cpu|cuda] [--quick] [--no-record]

The digits R18-FPN config with random weights (throughput does not depend on them) on
digits canvases of one size, so every batch gives the detections of its images one by one
(tests/test_infer_outputs.py checks that). Each contender detects on all the images, in
batches of its size, interleaved round by round; the table gives images per second and the
speed-up over batch 1.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from bench.common import (  # noqa: E402
    add_common_args,
    apply_common_args,
    digit_canvases,
    fmt,
    interleaved,
    markdown_table,
    report,
)

CONFIG = 'configs/digits/faster-rcnn_r18_fpn_540it_digits.py'


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--batch-sizes', type=int, nargs='+', default=[1, 4, 8])
    parser.add_argument('--images', type=int, default=16, help='images per round')
    parser.add_argument('--size', type=int, nargs=2, default=[320, 320], metavar=('H', 'W'))
    add_common_args(parser, repeats=3)
    return parser.parse_args(argv)


def random_detector(device: str):
    """A :class:`custom.apis.Detector` of the digits config with random weights."""
    from mmengine.config import Config

    from custom.apis import Detector
    from custom.core.build_detector import build_detector
    model = build_detector(Config.fromfile(CONFIG), None, 'cpu', seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / 'random.pth'
        torch.save(dict(state_dict=model.state_dict(),
                        meta=dict(dataset_meta=dict(classes=tuple('0123456789')))), path)
        return Detector(CONFIG, str(path), device=device)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    apply_common_args(args)
    if args.quick:
        args.batch_sizes, args.images, args.size = [1, 2], 2, [96, 96]
    images = [c.image for c in digit_canvases(tuple(args.size), args.images)]  # BGR uint8
    detector = random_detector(args.device)

    def run(batch_size):
        def unit():
            for start in range(0, len(images), batch_size):
                detector.predict_batch(images[start:start + batch_size], score_thr=0.3)
        return unit

    timings = interleaved({f'batch {n}': run(n) for n in args.batch_sizes}, args.repeats,
                          args.warmup, args.device)
    base = timings[f'batch {args.batch_sizes[0]}'].median
    rows = [[name, fmt(len(images) / t.median), fmt(base / t.median)]
            for name, t in timings.items()]
    body = markdown_table(['--batch-size', 'images / s', f'vs batch {args.batch_sizes[0]}'],
                          rows)
    body += (f'\n\n{len(images)} digits canvases of {args.size[0]}x{args.size[1]} per round, '
             f'{CONFIG} with random weights (resized to 256 px by its pipeline), '
             f'Detector.predict_batch without drawing; median of {args.repeats} rounds after '
             f'{args.warmup} warm-up, interleaved.')
    report(args, __file__, argv, f'Inference in batches: --batch-size ({args.device})', body,
           args.device)
    return timings


if __name__ == '__main__':
    main()
