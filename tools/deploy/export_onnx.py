"""Export a detector to one ONNX graph that stock onnxruntime runs.

``python tools/deploy/export_onnx.py CONFIG CHECKPOINT OUT.onnx [--opset N]
[--input-size H W | --dynamic]``
writes OUT.onnx (normalisation, padding, backbone, neck, RPN and its NMS, RoIAlign, box head
and class-aware NMS; standard operators only) and OUT.json (class names, input layout, mean
and std). Inputs: ``image`` (1, 3, h, w) float32, the test pipeline's resized image, and
``orig_size`` (2,) float32 (H, W); outputs: ``boxes`` (K, 4) in original-image pixels,
``scores`` (K,), ``labels`` (K,). Run it with ``tools/test.py CONFIG OUT.onnx`` or
``tools/infer.py IMAGES CONFIG OUT.onnx``.
"""
import argparse
import sys

from custom.apis.cli import exit_on_error
from custom.apis.config import DictAction


def parse_args(argv):
    parser = argparse.ArgumentParser(description='Export a detector to ONNX')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('out', help='the .onnx file to write')
    parser.add_argument('--opset', type=int, default=17, help='ONNX opset (16 or newer)')
    size = parser.add_mutually_exclusive_group()
    size.add_argument('--input-size', type=int, nargs=2, metavar=('H', 'W'),
                      help='a graph for resized images of exactly this size')
    size.add_argument('--dynamic', action='store_true',
                      help='any image height and width (the default)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys (the graph keeps the model.test_cfg it '
                        'is exported with)')
    parser.add_argument('--debug', action='store_true', help='show tracebacks')
    return parser.parse_args(argv)


@exit_on_error
def main(argv=None):
    args = parse_args(argv)
    from custom.apis.onnx_models import export_detector
    meta = export_detector(args.config, args.checkpoint, args.out, args.opset,
                           None if args.dynamic else args.input_size, args.cfg_options)
    size = 'any size' if meta['dynamic'] else 'x'.join(map(str, meta['input_size']))
    print(f'{args.out} written (opset {meta["opset"]}, input {size}, '
          f'{len(meta["classes"])} classes; checked by onnx.checker)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
