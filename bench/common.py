"""What every benchmark script shares: the machine, fair timing, tables, RESULTS.md, test data.

Fairness rules (see bench/README.md): contenders run interleaved, one timed unit each per round
(A B C A B C ...), so a load spike from other processes hits all of them alike; the report is
the median per contender over the timed rounds, and ratios are taken between medians.

Shape shorthand: B = images in a batch, H x W = input size, K = boxes of one image.
"""
from __future__ import annotations

import argparse
import collections
import datetime as dt
import functools
import os
import platform
import shlex
import statistics
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from custom.evaluation.speed import synchronize

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_FILE = BENCH_DIR / 'RESULTS.md'
RESULTS_HEADER = """# Benchmark results

Each section was appended by a script in `bench/` (see bench/README.md): the exact command,
the machine and the date, then the table. Contenders ran interleaved (A B A B ...); figures
are medians over the timed rounds; ratios are between medians.
"""


# ----------------------------------------------------------------------------- machine


def cpu_model() -> str:
    """The CPU's marketing name (Linux /proc/cpuinfo), else what ``platform`` knows."""
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def package_version(name: str) -> str:
    """Installed version of ``name``, or 'absent'."""
    from importlib import metadata
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return 'absent'


def machine_description(device: str = 'cpu') -> str:
    """One line: cores, torch threads, CPU or GPU name, library versions, UTC date."""
    parts = [f'{os.cpu_count()} CPU cores ({cpu_model()}), {torch.get_num_threads()} torch threads']
    if device.startswith('cuda') and torch.cuda.is_available():
        parts.append(f'GPU {torch.cuda.get_device_name(torch.device(device))} '
                     f'(CUDA {torch.version.cuda})')
    import torchvision
    versions = ', '.join([f'torch {torch.__version__}', f'torchvision {torchvision.__version__}']
                         + [f'{name} {package_version(name)}'
                            for name in ('mmcv', 'mmdet', 'mmengine')])
    parts += [f'python {platform.python_version()}', versions, utc_now()]
    return '; '.join(parts)


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')


# ----------------------------------------------------------------------------- timing


@dataclass
class Timing:
    """Seconds of each timed round of one contender, or the error that stopped it."""

    samples: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.samples)

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float('nan')


def interleaved(contenders: dict[str, Callable[[], object]], repeats: int, warmup: int = 1,
                device: str = 'cpu', verbose: bool = False) -> dict[str, Timing]:
    """Time each contender once per round, in turn, for ``warmup + repeats`` rounds.

    A contender that raises is recorded with its error (last line of the traceback) and skipped
    from then on; the others go on. Warm-up rounds are run but not kept.

    Args:
        contenders (dict[str, callable]): name -> one unit of work (a step, a call).
        repeats (int): timed rounds (>= 1).
        warmup (int): untimed rounds first (>= 0).
        device (str): 'cuda...' synchronises around each unit.
        verbose (bool): print each unit's seconds as it ends (long runs show progress).

    Returns:
        dict[str, Timing]: per contender, in the given order.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f'need repeats >= 1 and warmup >= 0, got {repeats} and {warmup}')
    timings = {name: Timing() for name in contenders}
    for round_index in range(warmup + repeats):
        for name, unit in contenders.items():
            timing = timings[name]
            if timing.error is not None:
                continue
            synchronize(device)
            start = time.perf_counter()
            try:
                unit()
                synchronize(device)
            except Exception as err:  # noqa: BLE001 - a failing contender is a result too
                timing.error = f'{type(err).__name__}: {err}'.splitlines()[0][:200]
                timing.samples.clear()
                traceback.print_exc()
                continue
            seconds = time.perf_counter() - start
            if round_index >= warmup:
                timing.samples.append(seconds)
            if verbose:
                kind = 'warm-up' if round_index < warmup else 'timed'
                print(f'  round {round_index + 1}/{warmup + repeats} ({kind}) {name}: '
                      f'{seconds:.3f} s', flush=True)
    return timings


def ratio(ours: float, theirs: float) -> float:
    """``ours / theirs``; NaN when either is missing or ``theirs`` is 0."""
    if not (np.isfinite(ours) and np.isfinite(theirs)) or theirs == 0:
        return float('nan')
    return ours / theirs


# ----------------------------------------------------------------------------- reporting


def fmt(value: float | str | None, digits: int = 3) -> str:
    """A table cell: floats with ``digits`` significant figures, NaN/None as 'n/a'."""
    if value is None:
        return 'n/a'
    if isinstance(value, str):
        return value
    if not np.isfinite(value):
        return 'n/a'
    return f'{value:.{digits}g}' if abs(value) < 10 ** digits else f'{value:.0f}'


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub Markdown table; floats go through :func:`fmt`."""
    cells = [[fmt(c) if isinstance(c, float) or c is None else str(c) for c in row]
             for row in rows]
    lines = ['| ' + ' | '.join(headers) + ' |', '|' + '|'.join('---' for _ in headers) + '|']
    lines += ['| ' + ' | '.join(row) + ' |' for row in cells]
    return '\n'.join(lines)


def command_line(script: str, argv: Sequence[str]) -> str:
    """The exact command that reproduces a run, from the repository root."""
    return shlex.join(['python', f'bench/{Path(script).name}', *argv])


def append_results(title: str, command: str, machine: str, body: str,
                   results_file: Path = RESULTS_FILE) -> None:
    """Append one section (title, command, machine and date, body) to RESULTS.md."""
    results_file = Path(results_file)
    is_new = not results_file.exists()
    with open(results_file, 'a') as f:
        if is_new:
            f.write(RESULTS_HEADER)
        f.write(f'\n## {title}\n\n`{command}`\n\nMachine: {machine}\n\n{body.rstrip()}\n')


def report(args: argparse.Namespace, script: str, argv: Sequence[str], title: str, body: str,
           device: str = 'cpu') -> None:
    """Print ``body`` and, unless ``--quick`` or ``--no-record``, append it to RESULTS.md."""
    print(f'\n## {title}\n\n{body}\n')
    if args.quick or args.no_record:
        return
    append_results(title, command_line(script, argv), machine_description(device), body,
                   Path(args.results))
    print(f'appended to {args.results}')


def add_common_args(parser: argparse.ArgumentParser, repeats: int = 5,
                    warmup: int = 1) -> None:
    """--quick, --no-record, --results, --repeats, --warmup, --threads, --device."""
    parser.add_argument('--quick', action='store_true',
                        help='tiny sizes and one round, to check the script runs (not recorded)')
    parser.add_argument('--no-record', action='store_true', help='do not append to RESULTS.md')
    parser.add_argument('--results', default=str(RESULTS_FILE), help='results file to append to')
    parser.add_argument('--repeats', type=int, default=repeats, help='timed rounds')
    parser.add_argument('--warmup', type=int, default=warmup, help='untimed rounds first')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch CPU threads (default: torch default, one per core)')
    parser.add_argument('--device', default='cpu', help="'cpu' or 'cuda[:N]'")


def apply_common_args(args: argparse.Namespace) -> None:
    """Check the device, set the threads, and shrink repeats for --quick."""
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        raise SystemExit(f'--device {args.device}: no CUDA device is available here')
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.repeats, args.warmup = 1, 0


# ----------------------------------------------------------------------------- models


def register_modules() -> None:
    """Import classicdet and mmdet's modules into their registries, as configs do."""
    from mmdet.utils import register_all_modules

    import custom  # noqa: F401
    register_all_modules(init_default_scope=True)


def mmdet_config_path(relative: str) -> Path:
    """Path of a config shipped inside the installed mmdet package (what ``mmdet::`` names)."""
    import mmdet
    path = Path(mmdet.__file__).parent / '.mim' / 'configs' / relative
    if not path.is_file():
        raise FileNotFoundError(f'{path}: not in the installed mmdet package')
    return path


def load_model_config(path: str | Path, num_classes: int | None = None):
    """A config's ``model`` dict without pre-trained weights (nothing is downloaded)."""
    from mmengine.config import Config
    cfg = Config.fromfile(str(path))
    model = cfg.model
    if model.get('backbone') is not None:
        model.backbone.init_cfg = None
    if num_classes is not None:
        model.roi_head.bbox_head.num_classes = num_classes
    return cfg


def stock_name(name: str) -> str:
    """The mmdet part a classicdet part stands in for: ``SyncFree<Name>`` -> ``<Name>``
    (``custom.models.sync_free``); IterativeBBoxRoIHead trains exactly as StandardRoIHead,
    only its test-time prediction differs. RoIAlign and NMS are mmcv's in both."""
    from custom.models.sync_free import mmdet_name
    return 'StandardRoIHead' if name == 'IterativeBBoxRoIHead' else mmdet_name(name)


def with_stock_parts(node):
    """A copy of a model config with classicdet's parts swapped for mmdet's own."""
    if isinstance(node, dict):
        return {key: (stock_name(value) if key == 'type' and isinstance(value, str)
                      else with_stock_parts(value))
                for key, value in node.items()}
    if isinstance(node, (list, tuple)):
        return type(node)(with_stock_parts(value) for value in node)
    return node


def uses_channels_last(cfg) -> bool:
    """Whether the config trains channels-last (it lists classicdet's ChannelsLastHook)."""
    from custom.engine import lists_channels_last_hook
    return lists_channels_last_hook(cfg)


def without_channels_last_hook(cfg) -> list:
    """The config's ``custom_hooks`` without ChannelsLastHook (its model then runs NCHW)."""
    return [hook for hook in cfg.get('custom_hooks', []) if hook.get('type') != 'ChannelsLastHook']


def build_mmdet_model(cfg, device: str, train: bool) -> torch.nn.Module:
    """The config's detector (:func:`custom.evaluation.build_detector`, no checkpoint: the
    weights stay PyTorch's initialisation) on ``device``, in training or eval mode.
    Channels-last when the config lists ChannelsLastHook, as the runner would make it."""
    from custom.engine import to_channels_last
    from custom.evaluation.build_detector import build_detector
    model = build_detector(cfg, None, device)
    if uses_channels_last(cfg):
        to_channels_last(model)
    return model.train(train)


def torchvision_faster_rcnn(num_classes: int, size: tuple[int, int], sampling_ratio: int = 0,
                            frozen_backbone: bool = True, **counts) -> torch.nn.Module:
    """torchvision's ``fasterrcnn_resnet50_fpn`` with random weights, set up like mmdet's.

    Built by the same code as ``fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None)``,
    with the training set-up torchvision gives it on ImageNet weights, which is mmdet's:
    FrozenBatchNorm and the stem plus the first stage frozen (``frozen_backbone=True``;
    ``False`` is what the builder does without weights: plain BN, everything trainable).
    ``min_size``/``max_size`` equal the input's sides, so its transform keeps the size, and
    RoIAlign samples as mmdet's config (``sampling_ratio``, 0 = adaptive).

    Args:
        num_classes (int): foreground classes (torchvision adds the background).
        size (tuple[int, int]): (H, W) of the inputs.
        sampling_ratio (int): RoIAlign samples per bin and axis.
        frozen_backbone (bool): FrozenBN and 3 trainable stages, else BN and all 5.
        **counts: FasterRCNN's proposal/sampling arguments (``rpn_post_nms_top_n_train``...).
    """
    from torchvision.models import resnet50
    from torchvision.models.detection import FasterRCNN
    from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
    from torchvision.ops import MultiScaleRoIAlign
    from torchvision.ops import misc as misc_nn_ops

    norm_layer = misc_nn_ops.FrozenBatchNorm2d if frozen_backbone else torch.nn.BatchNorm2d
    backbone = _resnet_fpn_extractor(resnet50(weights=None, norm_layer=norm_layer),
                                     3 if frozen_backbone else 5)
    roi_pool = MultiScaleRoIAlign(['0', '1', '2', '3'], output_size=7,
                                  sampling_ratio=sampling_ratio)
    model = FasterRCNN(backbone, num_classes=num_classes + 1, min_size=min(size),
                       max_size=max(size), box_roi_pool=roi_pool, **counts)
    skip_resize(model)
    return model


def skip_resize(model: torch.nn.Module) -> None:
    """Make torchvision's transform keep the input size without resampling it.

    With min/max size equal to the input sides its resize is a bilinear pass at scale 1; in
    mmdet resizing belongs to the data pipeline, outside the model, so both are timed without.
    """
    model.transform.resize = lambda image, target=None: (image, target)


# mmdet's faster-rcnn_r50_fpn counts, as torchvision's FasterRCNN arguments.
MMDET_R50_COUNTS = dict(
    rpn_pre_nms_top_n_train=2000, rpn_post_nms_top_n_train=1000,  # nms_pre / max_per_img
    rpn_pre_nms_top_n_test=1000, rpn_post_nms_top_n_test=1000,
    rpn_nms_thresh=0.7, rpn_fg_iou_thresh=0.7, rpn_bg_iou_thresh=0.3,
    rpn_batch_size_per_image=256, rpn_positive_fraction=0.5,
    box_fg_iou_thresh=0.5, box_bg_iou_thresh=0.5,
    box_batch_size_per_image=512, box_positive_fraction=0.25,
    box_score_thresh=0.05, box_nms_thresh=0.5, box_detections_per_img=100)


# ----------------------------------------------------------------------------- data


@functools.lru_cache(maxsize=1)
def digit_scans() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The digit scans, their labels and the train pool, as the digits data set uses them."""
    from custom.datasets.digits_canvas import read_digit_scans, split_scans
    scans, labels = read_digit_scans()
    return scans, labels, split_scans(labels, seed=0)['train']


@dataclass
class Canvas:
    """One digits image: ``image`` (H, W, 3) uint8 BGR, ``boxes`` (K, 4) float32 x1y1x2y2 in
    pixels, ``labels`` (K,) int64 digits 0..9."""

    image: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray


def digit_canvases(size: tuple[int, int], count: int, seed: int = 0) -> list[Canvas]:
    """``count`` digits canvases of ``size`` = (H, W), digits scaled with the canvas.

    A square canvas of the longer side is drawn (digits of 24-96 px per 320 px of canvas, so
    objects keep their share of the image at any size) and cropped to H x W; digits the crop
    cuts are dropped, and a canvas left without any is skipped.
    """
    from custom.datasets.digits_canvas import CanvasConfig, render_canvas
    height, width = size
    side = max(size)
    cfg = CanvasConfig(img_size=side, min_size=max(8, round(24 * side / 320)),
                       max_size=max(8, round(96 * side / 320)), max_digits=5)
    scans, labels, pool = digit_scans()
    canvases, index = [], 0
    while len(canvases) < count:
        drawn = render_canvas(seed, 'train', index, scans, labels, pool, cfg)
        index += 1
        kept = [inst for inst in drawn.instances if inst.box[2] < width and inst.box[3] < height]
        if not kept:
            continue
        # Inclusive pixel boxes (x0, y0, x1, y1) cover [x0, x1 + 1) in continuous coordinates.
        boxes = np.array([[x0, y0, x1 + 1, y1 + 1] for x0, y0, x1, y1 in
                          (inst.box for inst in kept)], dtype=np.float32)
        canvases.append(Canvas(np.ascontiguousarray(drawn.image[:height, :width]), boxes,
                               np.array([inst.label for inst in kept], dtype=np.int64)))
    return canvases


def mmdet_batch(canvases: Sequence[Canvas], device: str, with_gt: bool = True) -> dict:
    """What mmdet's ``train_step``/``test_step`` take: uint8 (3, H, W) BGR inputs on
    ``device`` and DetDataSamples (GT boxes and labels when ``with_gt``)."""
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    inputs, samples = [], []
    for index, canvas in enumerate(canvases):
        inputs.append(torch.from_numpy(canvas.image).permute(2, 0, 1).contiguous().to(device))
        shape = canvas.image.shape[:2]
        sample = DetDataSample(metainfo=dict(img_id=index, img_shape=shape, ori_shape=shape,
                                             scale_factor=(1.0, 1.0)))
        if with_gt:
            sample.gt_instances = InstanceData(bboxes=torch.from_numpy(canvas.boxes).to(device),
                                               labels=torch.from_numpy(canvas.labels).to(device))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def torchvision_batch(canvases: Sequence[Canvas], device: str
                      ) -> tuple[list[torch.Tensor], list[dict]]:
    """What torchvision's detectors take: (3, H, W) float RGB in [0, 1] on ``device``, and
    targets with ``boxes`` and ``labels`` (digit + 1: torchvision's 0 is the background)."""
    images, targets = [], []
    for canvas in canvases:
        rgb = torch.from_numpy(canvas.image[:, :, ::-1].copy()).permute(2, 0, 1)
        images.append((rgb.float() / 255).to(device))
        targets.append(dict(boxes=torch.from_numpy(canvas.boxes).to(device),
                            labels=torch.from_numpy(canvas.labels + 1).to(device)))
    return images, targets


# ----------------------------------------------------------------------------- profiling


# Ops after which the host must wait for a CUDA device: they read a value back (item, bool),
# or their output size depends on the data (nonzero, unique, boolean-mask indexing,
# torchvision's NMS; mmcv's NMS is not an aten op and goes uncounted).
SYNCING_OPS = ('_local_scalar_dense', 'is_nonzero', 'nonzero', 'masked_select', '_unique2',
               'unique_dim', 'unique_consecutive', 'nms')


class SyncCounter(TorchDispatchMode):
    """Counts the aten ops run inside it, and those that would make the host wait for a GPU.

    Works on any device, so a CPU run can count the waits a CUDA run of the same code has:
    each is a point where the GPU's queue drains before Python goes on. Device-to-host copies
    are not seen on a CPU run.

    Attributes:
        ops (int): aten ops dispatched (about the number of kernels a GPU would launch).
        syncs (Counter): syncing op name -> calls; boolean-mask indexing counts as
            ``index[bool]`` / ``index_put[bool]``, tensors made of Python data with at least
            one dimension as ``lift_fresh``.
        phase_ops, phase_syncs (Counter): the same totals per phase labelled by
            :func:`labelled` (the innermost one running), ``'unlabelled'`` outside them.
    """

    def __init__(self):
        super().__init__()
        self.ops = 0
        self.syncs = collections.Counter()
        self.phase_ops = collections.Counter()
        self.phase_syncs = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        phase = _RUNNING_PHASES[-1] if _RUNNING_PHASES else 'unlabelled'
        self.ops += 1
        self.phase_ops[phase] += 1
        name = func.__name__.split('.')[0]
        kind = None
        if name in SYNCING_OPS:
            kind = name
        elif name == 'lift_fresh' and args[0].dim() > 0:
            # A tensor of Python data (``torch.tensor``, ``new_tensor``): on CUDA it is copied
            # over with a blocking copy, which waits for the stream. (0-d ones are mostly the
            # value of ``x[i] = 1.0``, which CUDA fills on the device.)
            kind = name
        elif name.startswith('index') and _has_bool_index(args):
            kind = 'index_put[bool]' if 'put' in name else 'index[bool]'
        if kind:
            self.syncs[kind] += 1
            self.phase_syncs[phase] += 1
        return func(*args, **(kwargs or {}))


def _has_bool_index(args: tuple) -> bool:
    indices = args[1] if len(args) > 1 and isinstance(args[1], (list, tuple)) else ()
    return any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in indices)


PHASE_PREFIX = 'phase: '
_RUNNING_PHASES: list[str] = []  # labelled phases now running, innermost last (SyncCounter)


def labelled(function: Callable, phase: str) -> Callable:
    """``function`` run inside a profiler range ``phase: <phase>`` (shown by profile_table
    and counted per phase by :class:`SyncCounter`)."""
    @functools.wraps(function)
    def run_labelled(*args, **kwargs):
        _RUNNING_PHASES.append(phase)
        try:
            with torch.profiler.record_function(PHASE_PREFIX + phase):
                return function(*args, **kwargs)
        finally:
            _RUNNING_PHASES.pop()
    return run_labelled


def label_phase(owner: object, method: str, phase: str) -> None:
    """Replace ``owner.method`` with :func:`labelled` of it."""
    setattr(owner, method, labelled(getattr(owner, method), phase))


def profile_table(unit: Callable[[], object], device: str, rows: int = 15) -> str:
    """torch.profiler of one call of ``unit`` as Markdown (see :func:`_profile_table`).

    A profile is an addition to the timings: if it fails, its text says why and the
    benchmark's table is still written.
    """
    try:
        return _profile_table(unit, device, rows)
    except Exception as err:  # noqa: BLE001
        return f'Profile failed: {type(err).__name__}: {err}'


def _profile_table(unit: Callable[[], object], device: str, rows: int) -> str:
    """torch.profiler of one call of ``unit``: the ops with the most self time, as Markdown.

    On CUDA there are two tables, the GPU time of the kernels each op launched and CPU self
    time, after one line that compares the call's wall time with the time the GPU kernels
    were busy: a step whose kernels fill a small part of its wall time is held back by the
    CPU (launches, synchronisations), and the CPU table then says where. Ranges labelled by
    :func:`label_phase` come first, as a table of their own (CPU time includes the waits).
    """
    from torch.profiler import ProfilerActivity, profile
    on_cuda = device.startswith('cuda')
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if on_cuda else [])
    synchronize(device)
    began = time.perf_counter()
    with profile(activities=activities) as prof:
        unit()
        synchronize(device)
    wall_ms = (time.perf_counter() - began) * 1e3
    events = prof.key_averages()
    phases = _phase_table(events, on_cuda)
    if not on_cuda:
        return phases + _self_time_table(events, 'self_cpu_time_total', rows)
    from torch.autograd import DeviceType
    # Kernels are events of their own and also count in the self time of the op that
    # launched them: busy time sums the kernels, the GPU table lists the launching ops.
    # Labelled ranges also appear as GPU-side annotations: neither kernels nor ops.
    kernels = [e for e in events
               if e.device_type == DeviceType.CUDA and not e.key.startswith(PHASE_PREFIX)]
    ops = [e for e in events if e.device_type != DeviceType.CUDA]
    gpu_ms = sum(e.self_device_time_total for e in kernels) / 1e3
    return phases + (f'Wall time {wall_ms:.1f} ms (profiler on); GPU kernels busy {gpu_ms:.1f} ms '
            f'({100 * gpu_ms / wall_ms:.0f}%); {sum(e.count for e in kernels)} kernels.\n\n'
            'GPU time of the kernels each op launched:\n\n'
            + _self_time_table(ops, 'self_device_time_total', rows)
            + '\n\nCPU self time:\n\n' + _self_time_table(events, 'self_cpu_time_total', rows))


def _phase_table(events, on_cuda: bool) -> str:
    """Markdown table of the ``phase: ...`` ranges on the CPU side, or '' if none.

    CPU time is inclusive and counts the waits for the GPU (a range that synchronises waits
    for the kernels queued before it). GPU time is that of the kernels launched from the
    range's own thread: autograd runs backward on a thread of its own, so backward kernels
    are not in it.
    """
    from torch.autograd import DeviceType
    phases = [e for e in events
              if e.key.startswith(PHASE_PREFIX) and e.device_type == DeviceType.CPU]
    if not phases:
        return ''
    header = ['phase', 'calls', 'CPU ms (incl. waits)'] + (
        ['GPU ms of kernels it launched'] if on_cuda else [])
    table = [[e.key[len(PHASE_PREFIX):], e.count, e.cpu_time_total / 1e3]
             + ([e.device_time_total / 1e3] if on_cuda else []) for e in phases]
    return 'Phases:\n\n' + markdown_table(header, table) + '\n\n'


def _self_time_table(events, attr: str, rows: int) -> str:
    """Markdown table of the ``rows`` profiler events with the most ``attr`` (microseconds)."""
    events = sorted(events, key=lambda e: getattr(e, attr), reverse=True)
    total = sum(getattr(e, attr) for e in events) or 1.0
    table = [[event.key[:60], event.count, getattr(event, attr) / 1e3,
              100.0 * getattr(event, attr) / total] for event in events[:rows]]
    return markdown_table(['op', 'calls', 'self ms', '% of self time'], table)
