"""What the validation loss adds to a validation: one validation of the digits val set with
and without ValidationLossHook, interleaved (without, with, without, with, ...).

    python bench/validation_loss_cost.py [--config CONFIG] [--data-root data/digits]
        [--rounds 2] [--images N] [--device cpu|cuda]

The model has the config's random initial weights (nothing is trained or downloaded); a
random model keeps few boxes after the score threshold, so its validation is at the cheap
end and the hook's share of it at the high end. Prints the median seconds per validation
of each and the hook's cost as a share of a validation without it, and, robust to a machine
whose load changes between runs, the time spent in the loss itself (validation_losses: target
assignment, sampling, RoI head on the sampled RoIs) as a share of the rest of the same
validations.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CONFIG = 'configs/digits/faster-rcnn_r18_fpn_540it_digits.py'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', default=CONFIG)
    parser.add_argument('--data-root', default='data/digits')
    parser.add_argument('--rounds', type=int, default=2)
    parser.add_argument('--images', type=int, help='validate on the first N val images only')
    parser.add_argument('--device', default=None, help='cpu or cuda (default: cuda if present)')
    return parser.parse_args(argv)


def build_runner(args, work_dir: str, with_hook: bool):
    from mmengine.config import Config
    from mmengine.runner import Runner
    cfg = Config.fromfile(args.config)
    root = args.data_root.rstrip('/') + '/'
    cfg.merge_from_dict({'val_dataloader.dataset.data_root': root,
                         'val_evaluator.ann_file': f'{root}annotations/instances_val.json',
                         'default_hooks.checkpoint.save_best': None})
    if args.images:
        cfg.val_dataloader.dataset.indices = args.images
    hooks = [h for h in cfg.custom_hooks if h['type'] != 'CropPretrainHook']
    if not with_hook:
        hooks = [h for h in hooks if h['type'] != 'ValidationLossHook']
    cfg.custom_hooks = hooks
    cfg.work_dir = work_dir
    cfg.experiment_name = f'val_cost_{uuid.uuid4().hex[:8]}'
    cfg.visualizer.name = cfg.experiment_name
    if args.device:
        cfg.device = args.device
    return Runner.from_cfg(cfg)


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch
    from mmengine.logging import MMLogger

    import custom  # noqa: F401
    import custom.engine.validation_loss_hook as hook_module
    in_loss = [0.0]
    losses = hook_module.validation_losses

    def timed_losses(*a, **k):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = losses(*a, **k)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        in_loss[0] += time.perf_counter() - start
        return out

    hook_module.validation_losses = timed_losses
    if args.device == 'cpu':
        torch.cuda.is_available = lambda: False
    times: dict[str, list[float]] = {'without': [], 'with': []}
    with tempfile.TemporaryDirectory() as work:
        runners = {name: build_runner(args, f'{work}/{name}', name == 'with') for name in times}
        # The same random weights in both.
        runners['with'].model.load_state_dict(runners['without'].model.state_dict())
        for name, runner in runners.items():  # warm-up: first-call costs, not timed
            runner.val()
        in_loss[0] = 0.0
        for _ in range(args.rounds):
            for name, runner in runners.items():
                if torch.cuda.is_available():
                    torch.cuda.synchronize()
                start = time.perf_counter()
                runner.val()
                if torch.cuda.is_available():
                    torch.cuda.synchronize()
                times[name].append(time.perf_counter() - start)
    MMLogger.get_current_instance().info('timing done')
    without, with_hook = (statistics.median(times[k]) for k in ('without', 'with'))
    images = len(runners['with'].val_dataloader.dataset)
    print(f'\n{images} val images, {args.rounds} rounds, device '
          f'{"cuda" if torch.cuda.is_available() else "cpu"}, median seconds per validation')
    print('| validation | s | share |\n| --- | --- | --- |')
    print(f'| without ValidationLossHook | {without:.2f} | 1.00 |')
    print(f'| with ValidationLossHook | {with_hook:.2f} | {with_hook / without:.2f} |')
    print(f'validation loss cost: {100 * (with_hook - without) / without:.1f}% of a validation')
    rest = sum(times['with']) - in_loss[0]
    print(f'in the runs with the hook: {in_loss[0]:.2f} s in the loss, {rest:.2f} s in the '
          f'rest of the validation: {100 * in_loss[0] / rest:.1f}%')
    return 0


if __name__ == '__main__':
    sys.exit(main())
