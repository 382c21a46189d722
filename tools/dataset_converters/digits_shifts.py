"""Make the digits shift sets: val-scan pages that differ from training as real pages do.

    python tools/dataset_converters/digits_shifts.py data/digits_shifts [--shift dense photo ...]
        [--num 150] [--img-size 320] [--seed 0]

Writes OUT_DIR/<shift>/NNNNN.png and OUT_DIR/annotations/instances_<shift>.json per shift
(dense, photo, small, blur, noise, contrast, jpeg). Same options, same bytes.
"""
import argparse
import sys

from custom.apis.cli import exit_on_error


def parse_args(argv):
    from custom.datasets.digits_shifts import SHIFTS

    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('out_dir', help='output folder, e.g. data/digits_shifts')
    parser.add_argument('--shift', nargs='+', choices=list(SHIFTS), default=list(SHIFTS),
                        help='which shift sets (default: all)')
    parser.add_argument('--num', type=int, default=150, help='images per shift set')
    parser.add_argument('--img-size', type=int, default=320, help='square canvas side in px')
    parser.add_argument('--seed', type=int, default=0,
                        help='the digits set\'s seed (shift sets use its val scans)')
    parser.add_argument('--workers', type=int, default=None,
                        help='processes (default: one per CPU, at most 8); no effect on output')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    parser.add_argument('--debug', action='store_true', help='tracebacks on errors')
    return parser.parse_args(argv)


@exit_on_error
def main(argv=None):
    args = parse_args(argv)
    from custom.datasets.digits_shifts import generate_shift_set

    for name in args.shift:
        path = generate_shift_set(args.out_dir, name, num_images=args.num,
                                  img_size=args.img_size, seed=args.seed, workers=args.workers,
                                  progress=not args.no_progress)
        print(f'{name}: {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
