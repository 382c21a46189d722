"""FLOPs and parameters of a config at an input size.

``python tools/analysis_tools/get_flops.py CONFIG [--shape H W] [--table] [--verbose]``
"""
import argparse
import sys

from custom.apis.cli import exit_on_error
from custom.apis.config import DictAction, load_config
from custom.profiling.flops import model_complexity


def parse_args(argv):
    parser = argparse.ArgumentParser(description='FLOPs and parameters of a detector')
    parser.add_argument('config', help='config file')
    parser.add_argument('--shape', type=int, nargs='+', default=[800, 1333],
                        help='input size: H W, or one number for a square')
    parser.add_argument('--table', action='store_true', help='print the per-module table')
    parser.add_argument('--verbose', action='store_true',
                        help='list the operators the counter skips')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys')
    parser.add_argument('--debug', action='store_true', help='show tracebacks')
    args = parser.parse_args(argv)
    if len(args.shape) == 1:
        args.shape = args.shape * 2
    elif len(args.shape) != 2:
        parser.error('--shape takes H W or one number')
    return args


@exit_on_error
def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    result = model_complexity(cfg, tuple(args.shape), show_table=args.table,
                              verbose=args.verbose)
    if args.table:
        print(result.table)
    print(f'{args.config}\n{result.summary()}')
    rpn_cfg = (cfg.model.get('test_cfg') or {}).get('rpn') or {}
    cap = f' (test_cfg.rpn.max_per_img = {rpn_cfg["max_per_img"]})' \
        if 'max_per_img' in rpn_cfg else ''
    print('Not counted: operators without a FLOP counter (NMS, RoIAlign; --verbose lists '
          f'them). A two-stage RoI head is counted over the proposals the RPN keeps{cap}.')
    return 0


if __name__ == '__main__':
    sys.exit(main())
