"""Evaluate a checkpoint, or an exported ONNX model: COCO mAP and a per-class AP table.

``python tools/test.py CONFIG CKPT|MODEL.onnx [--out preds.json] [--show-dir DIR] [--work-dir DIR]
[--slice-size S | H W] [--slice-overlap R] [--no-full-pass]``
"""
import argparse
import os
import sys

from custom.apis.cli import exit_on_error
from custom.apis.config import DictAction, load_config, resolve_device
from custom.apis.runs import prepare_test_config
from custom.apis.slicing_options import add_slicing_args, set_slicing, slicing_from_args


def parse_args(argv):
    parser = argparse.ArgumentParser(description='Test (evaluate) a detector')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file, or an exported .onnx '
                        '(run by onnxruntime)')
    parser.add_argument('--out', help='write COCO-format detections to this JSON file')
    parser.add_argument('--show-dir', help='draw predictions beside ground truth here')
    parser.add_argument('--work-dir', help='where logs go')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    parser.add_argument('--debug', action='store_true', help='show tracebacks')
    add_slicing_args(parser)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


@exit_on_error
def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    slicing = slicing_from_args(args)
    if slicing is not None:
        set_slicing(cfg, slicing)
    prepare_test_config(cfg, args.config, args.checkpoint, args.work_dir, args.out,
                        args.show_dir, args.launcher)
    from mmengine.runner import Runner

    from custom.apis.onnx_models import is_onnx, use_onnx_model
    from custom.apis.runs import move_results_file
    from custom.core.checkpoints import check_checkpoint_matches
    if is_onnx(args.checkpoint):
        use_onnx_model(cfg, args.checkpoint, resolve_device(None), args.launcher)
    runner = Runner.from_cfg(cfg)
    if not is_onnx(args.checkpoint):
        check_checkpoint_matches(runner.model, args.checkpoint)
    metrics = runner.test()
    if args.out:
        move_results_file(args.out)
        print(f'detections written to {args.out}')
    print('metrics: ' + ', '.join(f'{k}={v:.4f}' if isinstance(v, float) else f'{k}={v}'
                                  for k, v in metrics.items()))
    return 0


if __name__ == '__main__':
    sys.exit(main())
