"""Training throughput (images/s): classicdet vs stock mmdet vs torchvision, same data and batch.

    python bench/train_speed.py [--models r50 r18-digits vgg16-digits] [--size H W]
        [--batch B] [--precision fp32 [amp]] [--device cpu|cuda] [--repeats 3] [--profile]
        [--nchw] [--quick] [--no-record]

One timed unit is one full training step: data preprocessing (normalise, pad), forward with
losses, backward, optimizer step, on a batch of digits canvases that every contender gets
alike. Models, random weights (no ``init_weights``, nothing downloaded):

- ``r50``: classicdet's configs/faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py vs mmdet's own
  faster-rcnn_r50_fpn_1x_coco.py (its RoIAlign and NMS are mmcv's, which run mmcv_lite_ext's
  kernels on CPU and CUDA) vs torchvision's fasterrcnn_resnet50_fpn built as its builder
  does for training from ImageNet weights (FrozenBN, stem and first stage frozen, like mmdet's
  config) with mmdet's proposal and sampling counts (2000 RPN boxes per level before NMS, 1000
  proposals, 256 RPN / 512 RoI samples) and RoIAlign sampling ratio 0 as mmdet's config.
  Default input 512x512 on CPU, 800x1333 on CUDA.
- ``r18-digits``, ``vgg16-digits``: classicdet's digits configs vs the same configs with
  mmdet's own RPN head, RoI head, box head, assigner, sampler, box coder and data
  preprocessor (what classicdet replaced), at the digits size (320) and the config's batch,
  both channels-last. RoIAlign and NMS are mmcv's in both, on mmcv_lite_ext's kernels.
- ``--nchw`` adds ``classicdet NCHW``: classicdet's config without its ChannelsLastHook, so
  the table shows what the channels-last layout buys on the device.

All contenders use SGD (momentum 0.9, weight decay 1e-4, ``--lr``) through the config's optim
wrapper (its gradient clipping included) or, for torchvision, its plain loop. ``amp``:
mmengine's AmpOptimWrapper (float16) for mmdet models, torch.autocast + GradScaler for
torchvision (CUDA only).
"""
from __future__ import annotations

import argparse
import contextlib
import itertools
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
    label_phase,
    labelled,
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
    uses_channels_last,
    with_stock_parts,
    without_channels_last_hook,
)

NUM_CLASSES = 10  # the digits
# model key -> (classicdet config, its counterparts); None marks torchvision's R50-FPN.
MODELS = {
    'r50': ('configs/faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',
            {'mmdet stock': 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',
             'torchvision': None}),
    'r18-digits': ('configs/digits/faster-rcnn_r18_fpn_540it_digits.py',
                   {'mmdet parts': 'stock-parts'}),
    'vgg16-digits': ('configs/digits/faster-rcnn_vgg16_540it_digits.py',
                     {'mmdet parts': 'stock-parts'}),
}
DIGITS_SIZE = 320


def config_for(name: str, ours: str, counts: dict):
    """The config a contender trains: ours, an ``mmdet::`` one, ours with mmdet's parts
    (``'stock-parts'``), or ours in NCHW layout (``'nchw'``, without ChannelsLastHook).

    ``counts`` may set ``proposals`` (RPN proposals kept per image) and ``rois`` (RoIs sampled
    per image for the RoI head); None keeps the config's.
    """
    if name == 'stock-parts':
        cfg = load_model_config(ours, NUM_CLASSES)
        cfg.model = with_stock_parts(cfg.model.to_dict())
    elif name == 'nchw':
        cfg = load_model_config(ours, NUM_CLASSES)
        cfg.custom_hooks = without_channels_last_hook(cfg)
    elif name.startswith('mmdet::'):
        cfg = load_model_config(mmdet_config_path(name[len('mmdet::'):]), NUM_CLASSES)
    else:
        cfg = load_model_config(name, NUM_CLASSES)
    train_cfg = cfg.model['train_cfg']
    if counts.get('proposals'):
        train_cfg['rpn_proposal']['max_per_img'] = counts['proposals']
    if counts.get('rois'):
        train_cfg['rcnn']['sampler']['num'] = counts['rois']
    return cfg


def mmdet_train_step(cfg, batches: list[dict], device: str, amp: bool, lr: float,
                     phases: bool = False, foreach: bool | None = None):
    """One ``model.train_step`` per call, cycling through ``batches``.

    ``phases``: label preprocessing, backbone + neck, RPN, RoI head and backward + optimizer
    for the profiler (:func:`bench.common.label_phase`). ``foreach``: SGD's multi-tensor
    update (None: torch's default, which is foreach on CUDA and a loop per tensor on CPU).
    """
    from mmengine.optim import build_optim_wrapper
    model = build_mmdet_model(cfg, device, train=True)
    wrapper_cfg = cfg.get('optim_wrapper', dict(type='OptimWrapper')).copy()
    wrapper_cfg['optimizer'] = dict(type='SGD', lr=lr, momentum=0.9, weight_decay=1e-4,
                                    foreach=foreach)
    if amp:
        wrapper_cfg.update(type='AmpOptimWrapper', dtype='float16')
    wrapper = build_optim_wrapper(model, wrapper_cfg)
    if phases:
        for owner, method, phase in ((model.data_preprocessor, 'forward', '1 preprocess'),
                                     (model, 'extract_feat', '2 backbone + neck'),
                                     (model.rpn_head, 'loss_and_predict', '3 RPN'),
                                     (model.roi_head, 'loss', '4 RoI head'),
                                     (wrapper, 'update_params', '5 backward + optimizer')):
            label_phase(owner, method, phase)
    stream = itertools.cycle(batches)
    return lambda: model.train_step(next(stream), wrapper)


def torchvision_train_step(size: tuple[int, int], batches: list, device: str, amp: bool,
                           lr: float, counts: dict, phases: bool = False,
                           foreach: bool | None = None):
    """One forward/backward/SGD step of torchvision's R50-FPN per call (``phases``,
    ``foreach``: as :func:`mmdet_train_step`)."""
    tv_counts = dict(MMDET_R50_COUNTS)
    if counts.get('proposals'):
        tv_counts['rpn_post_nms_top_n_train'] = counts['proposals']
    if counts.get('rois'):
        tv_counts['box_batch_size_per_image'] = counts['rois']
    model = torchvision_faster_rcnn(NUM_CLASSES, size, sampling_ratio=0,
                                    **tv_counts).to(device).train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=1e-4,
                                foreach=foreach)
    scaler = torch.amp.GradScaler('cuda') if amp else None
    stream = itertools.cycle(batches)

    def update(loss):
        optimizer.zero_grad()
        if scaler is None:
            loss.backward()
            optimizer.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()

    if phases:
        for owner, method, phase in ((model.transform, 'forward', '1 preprocess'),
                                     (model.backbone, 'forward', '2 backbone + neck'),
                                     (model.rpn, 'forward', '3 RPN'),
                                     (model.roi_heads, 'forward', '4 RoI head')):
            label_phase(owner, method, phase)
        update = labelled(update, '5 backward + optimizer')

    def step():
        images, targets = next(stream)
        with (torch.autocast('cuda', dtype=torch.float16) if amp
              else contextlib.nullcontext()):
            losses = model(images, targets)
        update(sum(losses.values()))
        return losses
    return step


def train_steps(key: str, size: tuple[int, int], batch: int, device: str, amp: bool,
                lr: float, counts: dict | None = None, phases: bool = False,
                foreach: bool | None = None, nchw: bool = False) -> dict:
    """Contender name -> one training step, all on the same two batches of canvases.

    ``nchw``: also classicdet's config in NCHW layout, when it trains channels-last.
    """
    ours, others = MODELS[key]
    if nchw and uses_channels_last(config_for(ours, ours, {})):
        others = {'classicdet NCHW': 'nchw', **others}
    canvases = digit_canvases(size, 2 * batch, seed=0)
    groups = [canvases[:batch], canvases[batch:]]
    mm_batches = [mmdet_batch(group, device) for group in groups]
    counts = counts or {}
    steps = {'classicdet': mmdet_train_step(config_for(ours, ours, counts), mm_batches, device,
                                            amp, lr, phases, foreach)}
    for name, source in others.items():
        if source is None:
            tv_batches = [torchvision_batch(group, device) for group in groups]
            steps[name] = torchvision_train_step(size, tv_batches, device, amp, lr, counts,
                                                 phases, foreach)
        else:
            steps[name] = mmdet_train_step(config_for(source, ours, counts), mm_batches, device,
                                           amp, lr, phases, foreach)
    return steps


def config_batch(key: str) -> int:
    """The batch size the config trains with."""
    from mmengine.config import Config
    return Config.fromfile(MODELS[key][0]).train_dataloader.batch_size


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--models', nargs='+', default=list(MODELS), choices=list(MODELS))
    parser.add_argument('--size', type=int, nargs=2, default=None, metavar=('H', 'W'),
                        help='R50 input (default 512 512 on CPU, 800 1333 on CUDA)')
    parser.add_argument('--batch', type=int, default=None,
                        help='R50 batch (default 2 on CPU, 8 on CUDA)')
    parser.add_argument('--digits-size', type=int, default=DIGITS_SIZE,
                        help='input side of the digits models')
    parser.add_argument('--digits-batch', type=int, default=None,
                        help="digits models' batch (default: the config's)")
    parser.add_argument('--precision', nargs='+', default=['fp32'], choices=['fp32', 'amp'],
                        help='amp: float16 mixed precision, CUDA only')
    parser.add_argument('--lr', type=float, default=0.002, help='SGD learning rate')
    parser.add_argument('--proposals', type=int, default=None,
                        help="RPN proposals kept per image, all contenders (default: config's)")
    parser.add_argument('--rois', type=int, default=None,
                        help="RoIs sampled per image for the RoI head (default: config's)")
    parser.add_argument('--nchw', action='store_true',
                        help="also time classicdet's channels-last configs in NCHW layout")
    parser.add_argument('--profile', action='store_true',
                        help='also profile one step of each contender (torch.profiler)')
    add_common_args(parser, repeats=3, warmup=1)
    args = parser.parse_args(argv)
    apply_common_args(args)
    on_cuda = args.device.startswith('cuda')
    if 'amp' in args.precision and not on_cuda:
        parser.error('--precision amp needs --device cuda (mmengine has no CPU AmpOptimWrapper)')
    size = tuple(args.size or ((800, 1333) if on_cuda else (512, 512)))
    batch = args.batch or (8 if on_cuda else 2)
    if args.quick:
        size, batch, args.digits_size, args.digits_batch = (64, 64), 1, 64, 1
        args.proposals, args.rois = 64, 16
    register_modules()

    rows, profiles, results = [], [], {}
    for key, precision in itertools.product(args.models, args.precision):
        if key == 'r50':
            model_size, model_batch = size, batch
        else:
            model_size = (args.digits_size, args.digits_size)
            model_batch = args.digits_batch or config_batch(key)
        steps = train_steps(key, model_size, model_batch, args.device, precision == 'amp',
                            args.lr, dict(proposals=args.proposals, rois=args.rois),
                            phases=args.profile, nchw=args.nchw)
        print(f'{key} {precision}: {model_size[0]}x{model_size[1]}, batch {model_batch}, '
              f'contenders {list(steps)}', flush=True)
        timings = interleaved(steps, args.repeats, args.warmup, args.device, verbose=True)
        results[(key, precision)] = timings
        ours = timings['classicdet'].median
        for name, timing in timings.items():
            speed = model_batch / timing.median if timing.ok else float('nan')
            rows.append([key, precision, f'{model_size[0]}x{model_size[1]}', model_batch, name,
                         fmt(timing.median) if timing.ok else f'n/a ({timing.error})',
                         speed, ratio(timing.median, ours) if name != 'classicdet' else ''])
        if args.profile:
            for name, step in steps.items():
                if timings[name].ok:
                    profiles.append(f'Profile, {key} {precision}, {name} (one step):\n\n'
                                    + profile_table(step, args.device))
        del steps

    body = markdown_table(['model', 'precision', 'input', 'batch', 'contender', 's / step',
                           'img/s', 'ours / theirs img/s'], rows)
    counts = ''.join(f', {name} {value} per image' for name, value in
                     (('proposals', args.proposals), ('sampled RoIs', args.rois)) if value)
    body += (f'\n\nDevice {args.device}, {torch.get_num_threads()} threads, {args.repeats} timed '
             f'steps after {args.warmup} warm-up, SGD lr {args.lr}{counts}. Ratio > 1: '
             'classicdet trains faster.')
    body += ''.join(f'\n\n{p}' for p in profiles)
    report(args, __file__, argv if argv is not None else sys.argv[1:],
           f'Training throughput ({args.device}, {" + ".join(args.precision)})', body,
           args.device)
    return results


if __name__ == '__main__':
    main()
