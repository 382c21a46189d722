"""Parameters, FLOPs, channels and strides of the backbones next to torchvision's figures.

Shape shorthand: a backbone is measured on one (1, C_in, S, S) image, S = 224 unless stated
(LeNet-5: 1 x 32 x 32). FLOPs are counted by ``mmengine.analysis`` (fvcore's convention: one
multiply-add = one FLOP, as in torchvision's "GFLOPS" figures; batch norm counts 2 per element,
which torchvision's figures leave out).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn as nn
import torchvision
from mmdet.registry import MODELS
from mmengine.analysis import FlopAnalyzer

from custom.models.backbones._utils import StagedBackbone
from custom.models.backbones.torchvision_keys import TORCHVISION_ARCHS, backbone_cfg_for_arch

_RESNET_STRIDES = (4, 8, 16, 32)


@dataclass
class BackboneRow:
    """One line of the backbone table; FLOPs in units of 1e9 (GFLOPs)."""

    name: str
    backbone: str
    input_shape: tuple[int, int, int]
    channels: tuple[int, ...]
    strides: tuple[int, ...]
    sizes: tuple[int, ...]
    params: int
    gflops: float
    tv_feature_params: int | None = None
    tv_feature_gflops: float | None = None
    tv_params: int | None = None
    tv_gflops: float | None = None
    tv_gflops_measured: float | None = None


def count_params(module: nn.Module) -> int:
    """Number of parameters (not buffers) of ``module``."""
    return sum(p.numel() for p in module.parameters())


def measure_gflops(module: nn.Module, input_shape: Sequence[int]) -> float:
    """FLOPs of one forward pass of ``module`` on a (1, *input_shape) input, in GFLOPs.

    The counter of ``mmengine.analysis.get_model_complexity_info``, called directly so that
    its per-operator warnings (pools, activations: counted as 0) stay quiet.
    """
    module.eval()
    with torch.no_grad():
        analyzer = FlopAnalyzer(module, torch.zeros(1, *input_shape))
        analyzer.unsupported_ops_warnings(False)
        analyzer.uncalled_modules_warnings(False)
        return analyzer.total() / 1e9


def torchvision_feature_part(arch: str, model: nn.Module) -> nn.Module:
    """torchvision ``model`` without its classifier (what our backbone of ``arch`` holds)."""
    if arch.startswith('resnet'):
        names = ('conv1', 'bn1', 'relu', 'maxpool', 'layer1', 'layer2', 'layer3', 'layer4')
    elif arch == 'googlenet':
        names = ('conv1', 'maxpool1', 'conv2', 'conv3', 'maxpool2', 'inception3a',
                 'inception3b', 'maxpool3', 'inception4a', 'inception4b', 'inception4c',
                 'inception4d', 'inception4e', 'maxpool4', 'inception5a', 'inception5b')
    else:  # vgg*, alexnet
        names = ('features', )
    return nn.Sequential(*[getattr(model, name) for name in names])


def build_torchvision(arch: str) -> nn.Module:
    """torchvision's ``arch`` with random weights (googlenet without auxiliary heads)."""
    kwargs = dict(aux_logits=False, init_weights=False) if arch == 'googlenet' else {}
    return torchvision.models.get_model(arch, weights=None, **kwargs)


def torchvision_official_figures(arch: str) -> tuple[int, float]:
    """(params, GFLOPs) torchvision publishes for its ImageNet-1k V1 weights of ``arch``."""
    meta = torchvision.models.get_model_weights(arch).IMAGENET1K_V1.meta
    return meta['num_params'], meta['_ops']


def describe_stages(backbone: nn.Module, input_shape: Sequence[int]) -> tuple[tuple, tuple]:
    """(channels, output sizes) of every stage for a (1, *input_shape) input."""
    backbone.eval()
    with torch.no_grad():
        outs = backbone(torch.zeros(1, *input_shape))
    return tuple(o.shape[1] for o in outs), tuple(o.shape[2] for o in outs)


def backbone_row(name: str, cfg: dict, input_shape: Sequence[int],
                 torchvision_arch: str | None = None) -> BackboneRow:
    """Measure the backbone built from ``cfg`` and, if given, torchvision's ``arch``."""
    backbone = MODELS.build(cfg)
    if isinstance(backbone, StagedBackbone):
        # Describe every stage, whatever the default out_indices (FLOPs do not change: every
        # stage runs anyway).
        backbone.out_indices = tuple(range(backbone.num_stages))
        strides = backbone.stage_strides
    else:  # mmdet's ResNet, whose default out_indices are all four stages
        strides = _RESNET_STRIDES
    channels, sizes = describe_stages(backbone, input_shape)
    row = BackboneRow(
        name=name, backbone=_format_cfg(cfg), input_shape=tuple(input_shape),
        channels=channels, strides=tuple(strides), sizes=sizes,
        params=count_params(backbone), gflops=measure_gflops(backbone, input_shape))
    if torchvision_arch is not None:
        model = build_torchvision(torchvision_arch)
        features = torchvision_feature_part(torchvision_arch, model)
        row.tv_feature_params = count_params(features)
        row.tv_feature_gflops = measure_gflops(features, input_shape)
        row.tv_params, row.tv_gflops = torchvision_official_figures(torchvision_arch)
        row.tv_gflops_measured = measure_gflops(model, input_shape)
    return row


def _format_cfg(cfg: dict) -> str:
    cfg = dict(cfg)
    name = cfg.pop('type')
    return f'{name}(' + ', '.join(f'{k}={v!r}' for k, v in cfg.items()) + ')'


def all_backbone_rows(archs: Sequence[str] | None = None, size: int = 224) -> list[BackboneRow]:
    """Rows for the torchvision ``archs`` (default: all known) plus LeNet-5 at 1 x 32 x 32."""
    rows = [
        backbone_row(arch, backbone_cfg_for_arch(arch), (3, size, size), arch)
        for arch in (archs or TORCHVISION_ARCHS)
    ]
    rows.append(backbone_row('lenet5', dict(type='ClassicLeNet5'), (1, 32, 32)))
    return rows


def _fmt_int(value: int | None) -> str:
    return '-' if value is None else f'{value:,}'


def _fmt_flops(value: float | None) -> str:
    if value is None:
        return '-'
    return f'{value:.2f}' if value >= 0.01 else f'{value * 1e9:,.0f} FLOPs'


def format_markdown(rows: Sequence[BackboneRow]) -> tuple[str, str]:
    """Two markdown tables: stage layout, and parameters / FLOPs against torchvision."""
    layout = ['| arch | backbone config | input | stage channels | stage strides | '
              'stage output sizes |', '|---|---|---|---|---|---|']
    numbers = ['| arch | params (ours) | torchvision feature part params | GFLOPs (ours) | '
               'torchvision feature part GFLOPs | torchvision full model: params | '
               'GFLOPs published | GFLOPs measured |', '|---|---:|---:|---:|---:|---:|---:|---:|']
    for row in rows:
        shape = 'x'.join(map(str, row.input_shape))
        layout.append(f'| {row.name} | `{row.backbone}` | {shape} | '
                      f'{", ".join(map(str, row.channels))} | '
                      f'{", ".join(map(str, row.strides))} | '
                      f'{", ".join(map(str, row.sizes))} |')
        numbers.append(f'| {row.name} | {_fmt_int(row.params)} | '
                       f'{_fmt_int(row.tv_feature_params)} | {_fmt_flops(row.gflops)} | '
                       f'{_fmt_flops(row.tv_feature_gflops)} | {_fmt_int(row.tv_params)} | '
                       f'{_fmt_flops(row.tv_gflops)} | {_fmt_flops(row.tv_gflops_measured)} |')
    return '\n'.join(layout), '\n'.join(numbers)
