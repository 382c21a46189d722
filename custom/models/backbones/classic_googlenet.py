"""GoogLeNet / Inception v1 (Szegedy et al., 2014) as a multi-scale detection backbone.

Shape shorthand: N = images, H, W = input height and width. Stage i returns about
(N, C_i, H / s_i, W / s_i) with C = (64, 192, 480, 832, 1024) and s = (2, 4, 8, 16, 32);
the max-pools round up (``ceil_mode=True``), so a 224 x 224 input gives 112, 56, 28, 14, 7.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmdet.registry import MODELS
from mmdet.utils import ConfigType, OptMultiConfig
from torch import Tensor

from ._utils import StagedBackbone

# (ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj) of each Inception block, from the paper.
INCEPTION_SETTINGS = {
    'inception3a': (64, 96, 128, 16, 32, 32),
    'inception3b': (128, 128, 192, 32, 96, 64),
    'inception4a': (192, 96, 208, 16, 48, 64),
    'inception4b': (160, 112, 224, 24, 64, 64),
    'inception4c': (128, 128, 256, 24, 64, 64),
    'inception4d': (112, 144, 288, 32, 64, 64),
    'inception4e': (256, 160, 320, 32, 128, 128),
    'inception5a': (256, 160, 320, 32, 128, 128),
    'inception5b': (384, 192, 384, 48, 128, 128),
}
# Module names of each stage, in the order they run (torchvision's attribute names).
GOOGLENET_STAGES = (
    ('conv1', ),
    ('maxpool1', 'conv2', 'conv3'),
    ('maxpool2', 'inception3a', 'inception3b'),
    ('maxpool3', 'inception4a', 'inception4b', 'inception4c', 'inception4d', 'inception4e'),
    ('maxpool4', 'inception5a', 'inception5b'),
)
GOOGLENET_STAGE_CHANNELS = (64, 192, 480, 832, 1024)


class ConvNormAct(nn.Module):
    """Conv (no bias) -> norm -> act, torchvision's ``BasicConv2d`` with configurable layers.

    The norm layer is always named ``bn`` whatever ``norm_cfg`` builds, so torchvision's
    ``*.conv.weight`` / ``*.bn.*`` keys load unchanged.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, norm_cfg: ConfigType = dict(type='BN', eps=1e-3),
                 act_cfg: ConfigType = dict(type='ReLU')) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                              padding=padding, bias=False)
        self.bn = build_norm_layer(norm_cfg, out_channels)[1]
        self.act = build_activation_layer(act_cfg)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.bn(self.conv(x)))


class InceptionBlock(nn.Module):
    """Inception v1 module: four parallel branches concatenated along channels.

    branch1: 1x1; branch2: 1x1 -> 3x3; branch3: 1x1 -> 3x3 (torchvision's weights use 3x3
    where the paper has 5x5, pytorch/vision#906; kept so they load); branch4: 3x3 max-pool
    stride 1 -> 1x1. Output channels: ch1x1 + ch3x3 + ch5x5 + pool_proj.
    """

    def __init__(self, in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int,
                 ch5x5: int, pool_proj: int, norm_cfg: ConfigType,
                 act_cfg: ConfigType) -> None:
        super().__init__()
        cfg = dict(norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.branch1 = ConvNormAct(in_channels, ch1x1, 1, **cfg)
        self.branch2 = nn.Sequential(
            ConvNormAct(in_channels, ch3x3red, 1, **cfg),
            ConvNormAct(ch3x3red, ch3x3, 3, padding=1, **cfg))
        self.branch3 = nn.Sequential(
            ConvNormAct(in_channels, ch5x5red, 1, **cfg),
            ConvNormAct(ch5x5red, ch5x5, 3, padding=1, **cfg))
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
            ConvNormAct(in_channels, pool_proj, 1, **cfg))
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj

    def forward(self, x: Tensor) -> Tensor:
        """(N, C_in, H, W) -> (N, out_channels, H, W)."""
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)],
                         dim=1)


@MODELS.register_module()
class ClassicGoogLeNet(StagedBackbone):
    """GoogLeNet (Inception v1) without its classifier, in five stages split by stride.

    Module names and layers are those of ``torchvision.models.googlenet`` (``conv1``,
    ``maxpool1``, ..., ``inception5b``), so its weights load unchanged; its ``fc.*`` and the
    auxiliary heads ``aux1.*``, ``aux2.*`` are not part of the backbone. torchvision's
    ``transform_input`` is not applied: torchvision's ImageNet weights expect inputs scaled to
    [-1, 1], i.e. a data preprocessor with ``mean=[127.5] * 3, std=[127.5] * 3`` (RGB).

    =====  =====================================  ========  ======
    stage  layers                                 channels  stride
    =====  =====================================  ========  ======
    0      conv1 7x7/2                            64        2
    1      maxpool1, conv2 1x1, conv3 3x3         192       4
    2      maxpool2, inception3a, 3b              480       8
    3      maxpool3, inception4a .. 4e            832       16
    4      maxpool4, inception5a, 5b              1024      32
    =====  =====================================  ========  ======

    Args:
        in_channels (int): input channels. Defaults to 3.
        out_indices (Sequence[int]): stages to return. Defaults to (1, 2, 3, 4).
        frozen_stages (int): freeze the first ``frozen_stages`` stages; -1 freezes nothing.
        norm_eval (bool): keep BN layers in eval mode while training. Defaults to False.
        act_cfg (dict): activation after every conv. Defaults to ``dict(type='ReLU')``.
        norm_cfg (dict): norm after every conv. Defaults to ``dict(type='BN', eps=1e-3)``,
            torchvision's.
        init_cfg (dict or list[dict], optional): defaults to torchvision's initialization:
            convs truncated-normal (std 0.01, cut at +-2), norm weights 1.

    Example:
        >>> import torch
        >>> from custom.models.backbones import ClassicGoogLeNet
        >>> self = ClassicGoogLeNet(out_indices=(0, 1, 2, 3, 4))
        >>> _ = self.eval()
        >>> inputs = torch.rand(1, 3, 64, 64)
        >>> level_outputs = self.forward(inputs)
        >>> for level_out in level_outputs:
        ...     print(tuple(level_out.shape))
        (1, 64, 32, 32)
        (1, 192, 16, 16)
        (1, 480, 8, 8)
        (1, 832, 4, 4)
        (1, 1024, 2, 2)
    """

    def __init__(self,
                 in_channels: int = 3,
                 out_indices: Sequence[int] = (1, 2, 3, 4),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 act_cfg: ConfigType = dict(type='ReLU'),
                 norm_cfg: ConfigType = dict(type='BN', eps=1e-3),
                 init_cfg: OptMultiConfig = None) -> None:
        if init_cfg is None:
            init_cfg = [
                dict(type='TruncNormal', std=0.01, a=-2, b=2, layer='Conv2d'),
                dict(type='Constant', val=1, bias=0, layer=['_BatchNorm', 'GroupNorm']),
            ]
        super().__init__(len(GOOGLENET_STAGES), out_indices, frozen_stages, norm_eval,
                         init_cfg)
        cfg = dict(norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.conv1 = ConvNormAct(in_channels, 64, 7, stride=2, padding=3, **cfg)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = ConvNormAct(64, 64, 1, **cfg)
        self.conv3 = ConvNormAct(64, 192, 3, padding=1, **cfg)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        channels = 192
        for name, setting in INCEPTION_SETTINGS.items():
            block = InceptionBlock(channels, *setting, **cfg)
            self.add_module(name, block)
            channels = block.out_channels
        self.stage_channels = GOOGLENET_STAGE_CHANNELS
        self.stage_strides = (2, 4, 8, 16, 32)
        self._freeze_stages()

    def stage_layers(self, index: int) -> list[nn.Module]:
        return [getattr(self, name) for name in GOOGLENET_STAGES[index]]
