"""Train a backbone as a digit classifier on CPU and report held-out accuracy.

Examples (from the repository root)::

    python tools/misc/train_classifier.py --act ReLU --epochs 10
    python tools/misc/train_classifier.py --table --epochs 10   # ReLU, Sigmoid, Tanh, Sign
"""
import argparse
import sys

import torch

from custom.apis.cli import exit_on_error
from custom.fundamentals import (
    COURSE_ACTIVATIONS,
    compare_activations,
    format_accuracy_table,
    run_digit_experiment,
)

BACKBONE_ALIASES = {'lenet5': 'ClassicLeNet5'}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Train backbone + FC head on scikit-learn's digit scans (held-out split).")
    parser.add_argument('--backbone', default='lenet5',
                        help=f'alias {sorted(BACKBONE_ALIASES)} or a registered backbone type')
    parser.add_argument('--act', default='ReLU',
                        help='registered activation type, e.g. ' + ', '.join(COURSE_ACTIVATIONS))
    parser.add_argument('--epochs', type=int, default=10)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--lr', type=float, default=3e-3)
    parser.add_argument('--optimizer', choices=('Adam', 'SGD'), default='Adam')
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--threads', type=int, default=1,
                        help='torch CPU threads (results are reproducible for a fixed count)')
    parser.add_argument('--table', action='store_true',
                        help='train once per activation (' + ', '.join(COURSE_ACTIVATIONS)
                        + ') and print a Markdown table')
    parser.add_argument('--debug', action='store_true', help='show tracebacks')
    args = parser.parse_args(argv)
    for name in ('epochs', 'batch_size', 'threads'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1, got {getattr(args, name)}')
    if not args.lr > 0:
        parser.error(f'--lr must be > 0, got {args.lr}')
    return args


def print_epoch(epoch: int, loss: float, accuracy: float) -> None:
    print(f'epoch {epoch:3d}  train loss {loss:.4f}  held-out accuracy {100 * accuracy:.2f}%',
          flush=True)


@exit_on_error
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    experiment = dict(backbone=dict(type=BACKBONE_ALIASES.get(args.backbone, args.backbone)),
                      epochs=args.epochs, seed=args.seed, lr=args.lr, optimizer=args.optimizer,
                      batch_size=args.batch_size)
    if args.table:
        print(format_accuracy_table(compare_activations(**experiment)))
        return 0
    history = run_digit_experiment(act_cfg=dict(type=args.act), on_epoch=print_epoch,
                                   **experiment)
    print(f'final held-out accuracy ({args.act}, {args.epochs} epochs): '
          f'{100 * history.final_accuracy:.2f}%')
    return 0


if __name__ == '__main__':
    sys.exit(main())
