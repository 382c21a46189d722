"""Hard NMS: mmcv.ops.nms (on mmcv_lite_ext) vs torchvision.ops.nms.

    python bench/nms_speed.py [--sizes 1000 5000 20000] [--iou 0.5] [--device cpu|cuda]
        [--dtype float32|float16] [--repeats 5] [--quick] [--no-record]

Boxes look like a detector's candidates in a 1333x800 image: clusters of overlapping boxes of
16-256 px around random centres, uniform random scores. mmdet's heads call ``mmcv.ops.nms``;
with mmcv-lite its kernel is torchvision's (mmcv_lite_ext), so the ratio is the cost of
mmcv's wrapper and of the argument conversions. Each size times the two calls interleaved;
the table gives median milliseconds, the mmcv / torchvision time ratio (< 1: mmcv's faster)
and whether both kept the same boxes in the same order.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from bench.common import (  # noqa: E402
    add_common_args,
    apply_common_args,
    fmt,
    interleaved,
    markdown_table,
    ratio,
    report,
)

CONTENDERS = ('mmcv', 'torchvision')


def candidate_boxes(num_boxes: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 4) x1y1x2y2 boxes in clusters of about 20, and (N,) scores in [0, 1)."""
    generator = torch.Generator().manual_seed(seed)
    num_clusters = max(1, num_boxes // 20)
    centres = torch.rand(num_clusters, 2, generator=generator) * torch.tensor([1333.0, 800.0])
    which = torch.randint(0, num_clusters, (num_boxes,), generator=generator)
    sizes = 16 + torch.rand(num_boxes, 1, generator=generator) * 240
    shape = sizes * (0.5 + torch.rand(num_boxes, 2, generator=generator))
    centre = centres[which] + (torch.rand(num_boxes, 2, generator=generator) - 0.5) * sizes * 0.5
    boxes = torch.cat([centre - shape / 2, centre + shape / 2], 1)
    return boxes, torch.rand(num_boxes, generator=generator)


def nms_calls(boxes: torch.Tensor, scores: torch.Tensor, iou: float) -> dict:
    """Contender name -> call returning the kept indices."""
    import mmcv.ops
    import torchvision
    return {
        'mmcv': lambda: mmcv.ops.nms(boxes, scores, iou)[1],
        'torchvision': lambda: torchvision.ops.nms(boxes, scores, iou),
    }


def same_kept(calls: dict) -> str:
    """'yes' when every contender that runs keeps the same boxes in the same order."""
    kept = {}
    for name, call in calls.items():
        try:
            kept[name] = call().tolist()
        except Exception:  # noqa: BLE001 - the timing loop reports the error
            continue
    return 'yes' if len({tuple(k) for k in kept.values()}) == 1 else 'NO'


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--sizes', type=int, nargs='+', default=[1000, 5000, 20000])
    parser.add_argument('--iou', type=float, default=0.5, help='IoU threshold')
    parser.add_argument('--dtype', default='float32', choices=['float32', 'float16'],
                        help='box and score dtype (float16: what mixed precision feeds NMS)')
    add_common_args(parser, repeats=5, warmup=1)
    args = parser.parse_args(argv)
    apply_common_args(args)
    if args.quick:
        args.sizes = [200]
    dtype = getattr(torch, args.dtype)

    rows, results = [], {}
    for size in args.sizes:
        boxes, scores = candidate_boxes(size)
        boxes, scores = boxes.to(args.device, dtype), scores.to(args.device, dtype)
        calls = nms_calls(boxes, scores, args.iou)
        timings = interleaved(calls, args.repeats, args.warmup, args.device)
        results[size] = timings
        ms = {name: timings[name].median * 1e3 for name in CONTENDERS}
        kept = len(calls['torchvision']())
        cells = [fmt(ms[n]) if timings[n].ok else f'n/a ({timings[n].error})'
                 for n in CONTENDERS]
        rows.append([size, kept, *cells, ratio(ms['mmcv'], ms['torchvision']),
                     same_kept(calls)])

    table = markdown_table(
        ['boxes', 'kept', 'mmcv ms', 'torchvision ms', 'mmcv/torchvision', 'same kept'], rows)
    body = (f'{table}\n\nIoU threshold {args.iou}, {args.dtype}, device {args.device}, '
            f'{args.repeats} timed rounds after {args.warmup} warm-up; a time ratio < 1 means '
            "mmcv's call is faster.")
    report(args, __file__, argv if argv is not None else sys.argv[1:],
           f'NMS speed ({args.device}, {args.dtype})', body, args.device)
    return results


if __name__ == '__main__':
    main()
