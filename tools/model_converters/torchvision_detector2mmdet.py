"""Convert torchvision's COCO Faster R-CNN R50-FPN weights to a classicdet checkpoint.

    python tools/model_converters/torchvision_detector2mmdet.py SRC DST

SRC: the ``fasterrcnn_resnet50_fpn`` state dict torchvision downloads
(``fasterrcnn_resnet50_fpn_coco-258fb6c6.pth``), or any file in that layout. DST is used with
``configs/faster_rcnn/faster-rcnn_r50_fpn_tv-coco.py`` (docs/pretrained.md).
"""
import argparse
import sys

from custom.apis.cli import CLIError, exit_on_error


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help="torchvision's fasterrcnn_resnet50_fpn weights")
    parser.add_argument('dst', help='classicdet checkpoint to write')
    parser.add_argument('--debug', action='store_true', help='tracebacks on errors')
    return parser.parse_args(argv)


@exit_on_error
def main(argv=None):
    args = parse_args(argv)
    import os.path as osp

    from custom.apis.config import ensure_writable_dir
    from custom.models.torchvision_faster_rcnn import convert_torchvision_detector_checkpoint
    ensure_writable_dir(osp.dirname(osp.abspath(args.dst)))
    try:
        written = convert_torchvision_detector_checkpoint(args.src, args.dst)
    except (ValueError, FileNotFoundError) as err:
        raise CLIError(f'{args.src}: {err}') from err
    print(f'{args.dst}: {written["num_tensors"]} tensors, {written["num_params"]:,} '
          'parameters, COCO\'s 80 classes')
    return 0


if __name__ == '__main__':
    sys.exit(main())
