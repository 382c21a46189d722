"""Make the offline digits detection set in COCO format from scikit-learn's digit scans.

    python tools/dataset_converters/digits2coco.py data/digits [--train 2000] [--val 300]
        [--img-size 320] [--min-size 24] [--max-size 96] [--max-digits 5] [--seed 0]

Writes OUT_DIR/{train,val}/NNNNN.png and OUT_DIR/annotations/instances_{train,val}.json.
Same options, same bytes.
"""
import argparse
import sys
import warnings

from custom.apis.cli import exit_on_error


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('out_dir', help='output folder, e.g. data/digits')
    parser.add_argument('--train', type=int, default=2000, help='train images')
    parser.add_argument('--val', type=int, default=300, help='val images')
    parser.add_argument('--img-size', type=int, default=320, help='square canvas side in px')
    parser.add_argument('--min-size', type=int, default=24, help='smallest digit size in px')
    parser.add_argument('--max-size', type=int, default=96, help='largest digit size in px')
    parser.add_argument('--max-digits', type=int, default=5, help='most digits per image')
    parser.add_argument('--seed', type=int, default=0, help='seed of the scan split and images')
    parser.add_argument('--workers', type=int, default=None,
                        help='processes (default: one per CPU, at most 8); no effect on output')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    parser.add_argument('--debug', action='store_true', help='tracebacks on errors')
    return parser.parse_args(argv)


@exit_on_error
def main(argv=None):
    args = parse_args(argv)
    from custom.datasets.digits_canvas import generate_digits_dataset

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        paths = generate_digits_dataset(
            args.out_dir, num_train=args.train, num_val=args.val, img_size=args.img_size,
            min_size=args.min_size, max_size=args.max_size, max_digits=args.max_digits,
            seed=args.seed, workers=args.workers, progress=not args.no_progress)
    for warning in caught:
        print(f'note: {warning.message}')
    for split, path in paths.items():
        print(f'{split}: {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
