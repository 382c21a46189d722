"""Per-image inference latency: classicdet's R50-FPN vs torchvision's and stock mmdet's.

    python bench/infer_speed.py [--size 800 1333] [--device cpu|cuda] [--amp]
        [--repeats 5] [--threads N] [--nchw] [--profile] [--quick] [--no-record]

Contenders, random weights, eval mode, one image per call, interleaved:
- classicdet: configs/faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py, ``model.test_step``
  (normalisation, padding, forward, NMS, rescaling), prepared as its hooks make
  ``tools/test.py`` run it (channels-last weights, batch norms folded into convolutions);
- torchvision: ``fasterrcnn_resnet50_fpn`` (bench/common/torchvision_model.py builds it as
  that builder does)
  with mmdet's test counts: 1000 RPN boxes per level before NMS, 1000 proposals after,
  score threshold 0.05, NMS 0.5, 100 detections, RoIAlign sampling ratio 0 as mmdet's config;
- mmdet stock: mmdet's own faster-rcnn_r50_fpn_1x_coco.py (mmcv's ops, on mmcv_lite_ext);
- with ``--nchw``, classicdet NCHW: classicdet's config without its ChannelsLastHook, so the
  table shows what the channels-last layout buys on the device.
All take the same digits canvas of the given size, already resized (resizing is the data
pipeline's job in mmdet, so torchvision's transform is told to keep the size). ``--amp`` runs
all under ``torch.autocast`` (float16 on CUDA, bfloat16 on CPU).
"""
from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from bench.common import (  # noqa: E402
    MMDET_R50_COUNTS,
    add_common_args,
    apply_common_args,
    build_mmdet_model,
    digit_canvases,
    fmt,
    interleaved,
    load_model_config,
    markdown_table,
    mmdet_batch,
    mmdet_config_path,
    profile_table,
    ratio,
    register_modules,
    report,
    torchvision_batch,
    torchvision_faster_rcnn,
    without_channels_last_hook,
)
from custom.engine import apply_test_time_hooks  # noqa: E402

OUR_CONFIG = 'configs/faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
STOCK_CONFIG = 'faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
NUM_CLASSES = 10  # the digits


def autocast(device: str, enabled: bool):
    """Mixed precision for inference, or nothing."""
    if not enabled:
        return contextlib.nullcontext()
    device_type = torch.device(device).type
    dtype = torch.float16 if device_type == 'cuda' else torch.bfloat16
    return torch.autocast(device_type, dtype=dtype)


def inference_calls(size: tuple[int, int], device: str, amp: bool, stock: bool,
                    proposals: int | None = None, nchw: bool = False) -> dict:
    """Contender name -> one inference call on the same image.

    ``proposals`` overrides the RPN proposals kept per image (1000 in the configs) for all;
    ``nchw`` adds classicdet's config in NCHW layout.
    """
    canvases = digit_canvases(size, 1, seed=1)
    calls = {}

    def mmdet_call(config, keep_channels_last: bool = True):
        cfg = load_model_config(config, NUM_CLASSES)
        if not keep_channels_last:
            cfg.custom_hooks = without_channels_last_hook(cfg)
        if proposals:
            cfg.model.test_cfg.rpn.max_per_img = proposals
        torch.manual_seed(0)  # our configs in both layouts get the same weights
        # prepared as tools/test.py and the Python API prepare it
        model = apply_test_time_hooks(build_mmdet_model(cfg, device, train=False), cfg)
        batch = mmdet_batch(canvases, device, with_gt=False)

        def call():
            with torch.no_grad(), autocast(device, amp):
                return model.test_step(batch)
        return call

    calls['classicdet'] = mmdet_call(OUR_CONFIG)
    if nchw:
        calls['classicdet NCHW'] = mmdet_call(OUR_CONFIG, keep_channels_last=False)
    tv_counts = dict(MMDET_R50_COUNTS)
    if proposals:
        tv_counts['rpn_post_nms_top_n_test'] = proposals
    tv_model = torchvision_faster_rcnn(NUM_CLASSES, size, sampling_ratio=0,
                                       **tv_counts).to(device).eval()
    images, _ = torchvision_batch(canvases, device)

    def tv_call():
        with torch.no_grad(), autocast(device, amp):
            return tv_model(images)
    calls['torchvision'] = tv_call
    if stock:
        calls['mmdet stock'] = mmdet_call(mmdet_config_path(STOCK_CONFIG))
    return calls


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--size', type=int, nargs=2, default=[800, 1333], metavar=('H', 'W'))
    parser.add_argument('--amp', action='store_true', help='mixed precision (torch.autocast)')
    parser.add_argument('--no-stock', action='store_true', help="leave out stock mmdet")
    parser.add_argument('--proposals', type=int, default=None,
                        help='RPN proposals kept per image, all contenders (default 1000)')
    parser.add_argument('--nchw', action='store_true',
                        help="also time classicdet's config in NCHW layout")
    parser.add_argument('--profile', action='store_true',
                        help='also profile one call of each contender (torch.profiler)')
    add_common_args(parser, repeats=5, warmup=1)
    args = parser.parse_args(argv)
    apply_common_args(args)
    if args.quick:
        args.size, args.proposals = [64, 96], 64
    size = tuple(args.size)
    register_modules()

    calls = inference_calls(size, args.device, args.amp, not args.no_stock, args.proposals,
                            args.nchw)
    timings = interleaved(calls, args.repeats, args.warmup, args.device, verbose=True)
    ours = timings['classicdet'].median
    rows = []
    for name, timing in timings.items():
        latency = fmt(timing.median * 1e3, 4) if timing.ok else f'n/a ({timing.error})'
        rows.append([name, latency, ratio(ours, timing.median) if name != 'classicdet' else ''])
    precision = 'autocast' if args.amp else 'float32'
    body = markdown_table(['contender', 'median ms / image', 'ours / theirs latency'], rows)
    body += (f'\n\nInput {size[0]}x{size[1]}, batch 1, {precision}, device {args.device}, '
             f'{args.proposals or 1000} proposals, {torch.get_num_threads()} threads, '
             f'{args.repeats} timed rounds after '
             f'{args.warmup} warm-up. Ratio < 1: classicdet is faster.')
    if args.profile:
        for name, call in calls.items():
            if timings[name].ok:
                body += f'\n\nProfile, {name} (one call):\n\n' + profile_table(call, args.device)
    report(args, __file__, argv if argv is not None else sys.argv[1:],
           f'Inference latency, R50-FPN ({args.device}, {precision}, {size[0]}x{size[1]})',
           body, args.device)
    return timings


if __name__ == '__main__':
    main()
