"""Train a detector: ``python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]]
[--load-from CKPT] [--amp] [--tensorboard]``.

Runs on CUDA when present, else on the CPU. Multi-GPU: ``tools/dist_train.sh CONFIG GPUS``.
"""
import argparse
import os
import sys

from custom.apis.cli import exit_on_error
from custom.apis.config import DictAction, load_config
from custom.apis.runs import prepare_train_config


def parse_args(argv):
    parser = argparse.ArgumentParser(description='Train a detector')
    parser.add_argument('config', help='config file')
    parser.add_argument('--work-dir', help='where logs and checkpoints go')
    parser.add_argument('--resume', nargs='?', const='auto', default=None,
                        help='resume from CKPT, or from the work dir\'s last checkpoint')
    parser.add_argument('--load-from', metavar='CKPT',
                        help='start from these weights (fine-tuning): what fits loads, layers '
                             'of another shape (a new class count) are re-initialised')
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision')
    parser.add_argument('--tensorboard', action='store_true',
                        help='also write TensorBoard event files beside the log '
                             '(WORK_DIR/TIMESTAMP/vis_data; tensorboard --logdir WORK_DIR)')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the LR with the total batch size')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, e.g. train_cfg.max_iters=100')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    parser.add_argument('--debug', action='store_true', help='show tracebacks')
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


@exit_on_error
def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    prepare_train_config(cfg, args.config, args.work_dir, args.resume, args.amp,
                         args.auto_scale_lr, args.launcher, args.load_from, args.tensorboard)
    from mmengine.runner import Runner

    from custom.apis.runs import check_start_checkpoint
    runner = Runner.from_cfg(cfg)
    check_start_checkpoint(runner.model, cfg)
    runner.train()
    return 0


if __name__ == '__main__':
    sys.exit(main())
