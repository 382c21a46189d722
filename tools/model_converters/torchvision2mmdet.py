"""Convert a torchvision ImageNet classifier's weights to a classicdet / MMDetection backbone.

Usage:
    python tools/model_converters/torchvision2mmdet.py SRC DST --arch NAME

SRC is torchvision's file (e.g. vgg16-397923af.pth), read with the weights-only unpickler.
DST then serves ``init_cfg=dict(type='Pretrained', checkpoint=DST)`` of the backbone printed.
Exits with status 1, listing the keys, when SRC is of another arch or has keys that cannot be
mapped; nothing is written then.
"""
from __future__ import annotations

import argparse
import sys

from custom.core.safe_load import UnsafeCheckpointError
from custom.models.backbones.torchvision_keys import (
    TORCHVISION_ARCHS,
    ArchMismatchError,
    backbone_cfg_for_arch,
    convert_torchvision_checkpoint,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='torchvision state_dict file')
    parser.add_argument('dst', help='output checkpoint for init_cfg Pretrained')
    parser.add_argument('--arch', required=True, choices=list(TORCHVISION_ARCHS),
                        help='torchvision model name of SRC')
    return parser.parse_args(argv)


def print_keys(title: str, keys: list[str]) -> None:
    if keys:
        print(f'{title} ({len(keys)}):', file=sys.stderr)
        for key in keys:
            print(f'  {key}', file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        report = convert_torchvision_checkpoint(args.src, args.dst, args.arch)
    except ArchMismatchError as err:
        print(f'error: {args.src}: {err}', file=sys.stderr)
        print_keys('backbone keys missing', err.missing)
        print_keys('keys of another shape (key: expected vs found)',
                   [f'{k}: {e} vs {g}' for k, e, g in err.wrong_shape])
        print_keys('keys unmapped', err.unmapped)
        return 1
    except (FileNotFoundError, UnsafeCheckpointError, ValueError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    print(f'{args.arch}: wrote {report.num_keys} keys ({report.num_params:,} parameters) to '
          f'{report.dst}; dropped {len(report.dropped)} classifier keys')
    cfg = dict(backbone_cfg_for_arch(args.arch),
               init_cfg=dict(type='Pretrained', checkpoint=report.dst))
    print(f'backbone config: {cfg}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
