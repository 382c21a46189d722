"""Print the backbone tables of docs/backbones.md: channels, strides, params and FLOPs of each
backbone next to torchvision's feature part and published figures.

Usage:
    python tools/analysis_tools/backbone_table.py [--archs resnet50 vgg16 ...] [--size 224]

FLOPs come from mmengine.analysis.FlopAnalyzer, the counter of get_model_complexity_info
(one multiply-add = one FLOP).
Builds every torchvision model with random weights: no download; one to two minutes on 2 cores.
"""
from __future__ import annotations

import argparse

import custom  # noqa: F401  registers the backbones
from custom.models.backbones.torchvision_keys import TORCHVISION_ARCHS
from custom.profiling.backbone_complexity import all_backbone_rows, format_markdown


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--archs', nargs='+', choices=list(TORCHVISION_ARCHS),
                        help='torchvision archs to measure (default: all)')
    parser.add_argument('--size', type=int, default=224, help='input side (default 224)')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    layout, numbers = format_markdown(all_backbone_rows(args.archs, args.size))
    print(layout, numbers, sep='\n\n')


if __name__ == '__main__':
    main()
