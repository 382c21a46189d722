"""VGG (Simonyan and Zisserman, 2014) as a multi-scale detection backbone.

Shape shorthand: N = images, H, W = input height and width. Stage i returns
(N, C_i, H / s_i, W / s_i) with C = (64, 128, 256, 512, 512) and s = (2, 4, 8, 16, 32)
(floor division at each 2x2 max-pool).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch.nn as nn
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmdet.registry import MODELS
from mmdet.utils import ConfigType, OptMultiConfig

from ._utils import StagedBackbone

# Convolutions per stage, as in the paper's configurations A, B, D and E.
VGG_STAGE_BLOCKS = {
    11: (1, 1, 2, 2, 2),
    13: (2, 2, 2, 2, 2),
    16: (2, 2, 3, 3, 3),
    19: (2, 2, 4, 4, 4),
}
VGG_STAGE_CHANNELS = (64, 128, 256, 512, 512)


@MODELS.register_module()
class ClassicVGG(StagedBackbone):
    """VGG backbone with 5 conv stages, each ending in a 2x2 max-pool.

    The layers sit in one flat ``nn.Sequential`` named ``features`` with torchvision's indices
    (conv, [norm], act, ..., pool), the layout of ``torchvision.models.vgg*`` and
    ``mmcv.cnn.VGG``. torchvision's ``features.*`` weights therefore load unchanged; only its
    ``classifier.*`` is not part of the backbone. Activations and pools have no parameters, so
    ``act_cfg`` and ``with_last_pool`` do not move any key.

    ======  ====================  ========  ===========================================
    stage   layers                channels  stride
    ======  ====================  ========  ===========================================
    0       conv1_x, pool1        64        2
    1       conv2_x, pool2        128       4
    2       conv3_x, pool3        256       8
    3       conv4_x, pool4        512       16
    4       conv5_x, pool5        512       32 (16 with ``with_last_pool=False``)
    ======  ====================  ========  ===========================================

    Faster R-CNN's VGG-16 uses ``out_indices=(4,), with_last_pool=False``: conv5_3 at
    stride 16.

    Args:
        depth (int): 11, 13, 16 or 19.
        with_bn (bool): a norm layer (``norm_cfg``) after every conv, as in torchvision's
            ``vgg*_bn``. Defaults to False.
        in_channels (int): input channels. Defaults to 3.
        out_indices (Sequence[int]): stages to return. Defaults to (0, 1, 2, 3, 4).
        frozen_stages (int): freeze the first ``frozen_stages`` stages; -1 freezes nothing.
        norm_eval (bool): keep BN layers in eval mode while training. Defaults to False.
        with_last_pool (bool): keep pool5. Defaults to True.
        act_cfg (dict): activation after every conv (mmcv's activation registry).
            Defaults to ``dict(type='ReLU')``.
        norm_cfg (dict): norm layer used when ``with_bn``. Defaults to ``dict(type='BN')``.
        init_cfg (dict or list[dict], optional): defaults to Kaiming-normal convs (fan_out,
            as torchvision) and norm weights 1.

    Example:
        >>> import torch
        >>> from custom.models.backbones import ClassicVGG
        >>> self = ClassicVGG(depth=16)
        >>> _ = self.eval()
        >>> inputs = torch.rand(1, 3, 64, 64)
        >>> level_outputs = self.forward(inputs)
        >>> for level_out in level_outputs:
        ...     print(tuple(level_out.shape))
        (1, 64, 32, 32)
        (1, 128, 16, 16)
        (1, 256, 8, 8)
        (1, 512, 4, 4)
        (1, 512, 2, 2)
        >>> self = ClassicVGG(depth=16, out_indices=(4,), with_last_pool=False).eval()
        >>> print(tuple(self(inputs)[0].shape))
        (1, 512, 4, 4)
    """

    def __init__(self,
                 depth: int,
                 with_bn: bool = False,
                 in_channels: int = 3,
                 out_indices: Sequence[int] = (0, 1, 2, 3, 4),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_last_pool: bool = True,
                 act_cfg: ConfigType = dict(type='ReLU'),
                 norm_cfg: ConfigType = dict(type='BN'),
                 init_cfg: OptMultiConfig = None) -> None:
        if depth not in VGG_STAGE_BLOCKS:
            raise ValueError(f'ClassicVGG: invalid depth {depth!r}; choose from '
                             f'{sorted(VGG_STAGE_BLOCKS)}')
        if init_cfg is None:
            init_cfg = [
                dict(type='Kaiming', layer='Conv2d', mode='fan_out', nonlinearity='relu'),
                dict(type='Constant', val=1, bias=0, layer=['_BatchNorm', 'GroupNorm']),
            ]
        super().__init__(len(VGG_STAGE_CHANNELS), out_indices, frozen_stages, norm_eval,
                         init_cfg)
        self.depth = depth
        self.with_bn = with_bn
        self.with_last_pool = with_last_pool

        layers: list[nn.Module] = []
        self.stage_ranges: list[tuple[int, int]] = []
        channels = in_channels
        for stage, (num_convs, out_channels) in enumerate(
                zip(VGG_STAGE_BLOCKS[depth], VGG_STAGE_CHANNELS)):
            start = len(layers)
            for _ in range(num_convs):
                layers.append(nn.Conv2d(channels, out_channels, kernel_size=3, padding=1))
                if with_bn:
                    layers.append(build_norm_layer(norm_cfg, out_channels)[1])
                layers.append(build_activation_layer(act_cfg))
                channels = out_channels
            if with_last_pool or stage < len(VGG_STAGE_CHANNELS) - 1:
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            self.stage_ranges.append((start, len(layers)))
        self.features = nn.Sequential(*layers)
        self.stage_channels = VGG_STAGE_CHANNELS
        self.stage_strides = (2, 4, 8, 16, 32 if with_last_pool else 16)
        self._freeze_stages()

    def stage_layers(self, index: int) -> list[nn.Module]:
        start, end = self.stage_ranges[index]
        return [self.features[i] for i in range(start, end)]
