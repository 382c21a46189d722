"""mAP@0.5 and mAP@[.5:.95] against training time for the digits configs on CPU (plot + table).

    python bench/digits_time_to_map.py [--configs R18 VGG16 ...] [--data data/digits]
        [--max-iters 600] [--val-interval 100] [--work-dir work_dirs/bench/time_to_map]
        [--threads N] [--seed 0] [--quick] [--no-record]

Each config trains as tools/train.py would (mmengine Runner, the config's schedule and hooks)
with validation every ``--val-interval`` iterations. A hook records, at each validation, the
iteration, the training seconds so far (wall time minus the time spent validating) and the
COCO mAPs; no checkpoints are saved. Writes ``WORK_DIR/time_to_map.json`` and
``WORK_DIR/time_to_map.png`` (both mAPs against training seconds, one line per config) and a
table of the points. The data is ``--data`` (made by tools/dataset_converters/digits2coco.py;
generated with its defaults when missing).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mmengine.hooks import Hook  # noqa: E402

from bench.common import (  # noqa: E402
    add_common_args,
    apply_common_args,
    markdown_table,
    register_modules,
    report,
)

CONFIGS = ['configs/digits/faster-rcnn_r18_fpn_540it_digits.py',
           'configs/digits/faster-rcnn_vgg16_540it_digits.py']


class TimeToMapRecorder(Hook):
    """Training seconds and COCO box mAPs at each validation (kept in ``points``).

    Its ``after_val_epoch`` runs last of all hooks, so the time it leaves out covers the
    whole validation.
    """

    priority = 'LOWEST'

    def __init__(self) -> None:
        self.points: list[dict] = []
        self.start = self.val_start = 0.0
        self.val_seconds = 0.0

    def before_train(self, runner) -> None:
        self.start, self.val_seconds = time.perf_counter(), 0.0

    def before_val_epoch(self, runner) -> None:
        self.val_start = time.perf_counter()

    def after_val_epoch(self, runner, metrics: dict | None = None) -> None:
        now = time.perf_counter()
        self.val_seconds += now - self.val_start
        metrics = metrics or {}
        self.points.append(dict(
            iter=runner.iter, train_seconds=round(now - self.start - self.val_seconds, 2),
            wall_seconds=round(now - self.start, 2),
            mAP_50=metrics.get('coco/bbox_mAP_50', float('nan')),
            mAP=metrics.get('coco/bbox_mAP', float('nan'))))


def prepared_config(config: str, data: Path, work_dir: Path, args: argparse.Namespace):
    """The config with this run's data, schedule, validation interval and work dir."""
    from mmengine.config import Config

    from custom.apis.runs import prepare_train_config
    cfg = Config.fromfile(config)
    root = str(data).rstrip('/') + '/'
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = root
    for evaluator in ('val_evaluator', 'test_evaluator'):
        cfg[evaluator].ann_file = root + 'annotations/instances_val.json'
        cfg[evaluator].type = args.evaluator
    if args.max_iters:
        scale = args.max_iters / cfg.train_cfg.max_iters
        cfg.train_cfg.max_iters = args.max_iters
        for scheduler in cfg.param_scheduler:  # keep the schedule's shape
            scheduler.begin = int(round(scheduler.get('begin', 0) * scale))
            if 'end' in scheduler:
                scheduler.end = max(scheduler.begin + 1, int(round(scheduler.end * scale)))
            if 'milestones' in scheduler:
                scheduler.milestones = [int(round(m * scale)) for m in scheduler.milestones]
    cfg.train_cfg.val_interval = args.val_interval
    cfg.default_hooks.checkpoint = None  # saving weights is not training; the curve is the result
    cfg.randomness = dict(seed=args.seed)
    if args.quick:
        cfg.train_dataloader.batch_size = cfg.val_dataloader.batch_size = 2
        for loader in ('train_dataloader', 'val_dataloader'):
            for step in cfg[loader].dataset.pipeline:
                if step.type == 'Resize':
                    step.scale = (args.quick_size, args.quick_size)
    name = Path(config).stem
    return prepare_train_config(cfg, config, work_dir=str(work_dir / name))


def train_and_record(config: str, data: Path, work_dir: Path, args) -> list[dict]:
    """Train one config; its (iteration, seconds, mAP) points."""
    from mmengine.runner import Runner
    runner = Runner.from_cfg(prepared_config(config, data, work_dir, args))
    recorder = TimeToMapRecorder()
    runner.register_hook(recorder)
    runner.train()
    return recorder.points


def plot(curves: dict[str, list[dict]], path: Path) -> None:
    """Both mAPs against training seconds, one line per config."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, points in curves.items():
        seconds = [p['train_seconds'] for p in points]
        axes[0].plot(seconds, [p['mAP_50'] for p in points], marker='o', label=name)
        axes[1].plot(seconds, [p['mAP'] for p in points], marker='o', label=name)
    for ax, title in zip(axes, ('mAP@0.5', 'mAP@[.5:.95]')):
        ax.set(title=title, xlabel='training seconds (CPU)', ylabel=title, ylim=(0, 1))
        ax.set_xlim(left=0)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def ensure_data(data: Path, quick_size: int | None) -> None:
    """Generate the digits set at ``data`` if it has no annotations (tiny with --quick)."""
    if (data / 'annotations' / 'instances_val.json').exists():
        return
    from custom.datasets import generate_digits_dataset
    if quick_size:
        generate_digits_dataset(data, num_train=8, num_val=4, img_size=quick_size,
                                progress=False)
    else:
        generate_digits_dataset(data)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--configs', nargs='+', default=CONFIGS)
    parser.add_argument('--data', default=None, help='digits set (default data/digits)')
    parser.add_argument('--max-iters', type=int, default=None,
                        help="iterations (default: the config's; the LR schedule is scaled)")
    parser.add_argument('--val-interval', type=int, default=100)
    parser.add_argument('--evaluator', default='CocoMetric',
                        help='CocoMetric or FastCocoMetric (validation time is not counted)')
    parser.add_argument('--work-dir', default='work_dirs/bench/time_to_map')
    parser.add_argument('--seed', type=int, default=0)
    add_common_args(parser, repeats=1, warmup=0)
    args = parser.parse_args(argv)
    apply_common_args(args)
    args.quick_size = 128 if args.quick else None
    if args.device != 'cpu':
        parser.error('this benchmark is about CPU training; leave --device out')
    temp = tempfile.TemporaryDirectory() if args.quick and not args.data else None
    data = Path(temp.name if temp else (args.data or 'data/digits'))
    if args.quick:
        args.max_iters, args.val_interval = 2, 1
    register_modules()
    if args.evaluator == 'FastCocoMetric':
        import custom.evaluation.metrics  # noqa: F401  registers it
    ensure_data(data, args.quick_size)

    work_dir = Path(args.work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    curves = {Path(c).stem: train_and_record(c, data, work_dir, args) for c in args.configs}
    (work_dir / 'time_to_map.json').write_text(json.dumps(curves, indent=1))
    png = work_dir / 'time_to_map.png'
    plot(curves, png)
    if temp:
        temp.cleanup()

    rows = [[name, p['iter'], p['train_seconds'], p['wall_seconds'], p['mAP_50'], p['mAP']]
            for name, points in curves.items() for p in points]
    body = markdown_table(['config', 'iteration', 'training s', 'wall s (with validation)',
                           'mAP@0.5', 'mAP@[.5:.95]'], rows)
    body += f'\n\nPlot: `{png}`; points: `{work_dir / "time_to_map.json"}`.'
    report(args, __file__, argv if argv is not None else sys.argv[1:],
           'Digits: mAP against CPU training time', body)
    return curves


if __name__ == '__main__':
    main()
