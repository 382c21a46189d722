"""Inference latency and FPS of a config (random weights unless a checkpoint is given).

``python tools/analysis_tools/benchmark.py CONFIG [CKPT] [--device cpu|cuda] [--size 320 320]
[--warmup 5] [--runs 20] [--batch-size 1] [--image IMG]``
"""
import argparse
import sys

from custom.apis.cli import exit_on_error
from custom.apis.config import DictAction, load_config, resolve_device
from custom.profiling.speed import benchmark_config


def parse_args(argv):
    parser = argparse.ArgumentParser(description='Benchmark inference speed')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', nargs='?', help='checkpoint (default: random weights)')
    parser.add_argument('--device', default='auto', help="cpu, cuda[:N] or auto (default)")
    parser.add_argument('--size', type=int, nargs=2, default=[320, 320], metavar=('H', 'W'),
                        help='input height and width')
    parser.add_argument('--warmup', type=int, default=5, help='untimed runs first')
    parser.add_argument('--runs', type=int, default=20, help='timed runs')
    parser.add_argument('--batch-size', type=int, default=1, help='images per run')
    parser.add_argument('--image', help='time on this image resized to --size (default: noise)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, e.g. model.test_cfg.rcnn.max_per_img=50')
    parser.add_argument('--debug', action='store_true', help='show tracebacks')
    return parser.parse_args(argv)


@exit_on_error
def main(argv=None):
    args = parse_args(argv)
    device = resolve_device(args.device)
    cfg = load_config(args.config, args.cfg_options)
    report = benchmark_config(cfg, args.checkpoint, device, tuple(args.size), args.warmup,
                              args.runs, args.batch_size, args.image)
    print(f'{args.config} ({args.checkpoint or "random weights"})')
    print(report.summary())
    return 0


if __name__ == '__main__':
    sys.exit(main())
