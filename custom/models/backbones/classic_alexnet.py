"""AlexNet (Krizhevsky et al., 2012; torchvision's single-GPU "one weird trick" variant) as a
multi-scale detection backbone.

Shape shorthand: N = images, H, W = input height and width. At 224 x 224 the stages return
(N, 64, 27, 27), (N, 192, 13, 13) and (N, 256, 6, 6): nominal strides 8, 16, 32 (the 11x11
stride-4 conv and the 3x3 stride-2 pools without padding round down). The input must be at
least 63 x 63.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch.nn as nn
from mmcv.cnn import build_activation_layer
from mmdet.registry import MODELS
from mmdet.utils import ConfigType, OptMultiConfig

from ._utils import StagedBackbone

ALEXNET_STAGE_CHANNELS = (64, 192, 256)


@MODELS.register_module()
class ClassicAlexNet(StagedBackbone):
    """AlexNet's five convs in three stages, each ending in a 3x3 stride-2 max-pool.

    The layers sit in one flat ``nn.Sequential`` named ``features`` with the indices of
    ``torchvision.models.alexnet().features``, so its ``features.*`` weights load unchanged;
    only torchvision's ``classifier.*`` is not part of the backbone.

    =====  ===============================================  ========  ==========================
    stage  layers (torchvision ``features`` indices)         channels  stride
    =====  ===============================================  ========  ==========================
    0      conv1 11x11/4, act, pool (0-2)                   64        8
    1      conv2 5x5, act, pool (3-5)                       192       16
    2      conv3, conv4, conv5 3x3, act each, pool (6-12)   256       32 (16 without last pool)
    =====  ===============================================  ========  ==========================

    Args:
        in_channels (int): input channels. Defaults to 3.
        out_indices (Sequence[int]): stages to return. Defaults to (0, 1, 2).
        frozen_stages (int): freeze the first ``frozen_stages`` stages; -1 freezes nothing.
        with_last_pool (bool): keep the pool after conv5. Defaults to True.
        act_cfg (dict): activation after every conv (mmcv's activation registry).
            Defaults to ``dict(type='ReLU')``.
        init_cfg (dict or list[dict], optional): initialization config. Defaults to None:
            PyTorch's default initialization, as torchvision's AlexNet.

    Example:
        >>> import torch
        >>> from custom.models.backbones import ClassicAlexNet
        >>> self = ClassicAlexNet()
        >>> _ = self.eval()
        >>> inputs = torch.rand(1, 3, 224, 224)
        >>> level_outputs = self.forward(inputs)
        >>> for level_out in level_outputs:
        ...     print(tuple(level_out.shape))
        (1, 64, 27, 27)
        (1, 192, 13, 13)
        (1, 256, 6, 6)
    """

    def __init__(self,
                 in_channels: int = 3,
                 out_indices: Sequence[int] = (0, 1, 2),
                 frozen_stages: int = -1,
                 with_last_pool: bool = True,
                 act_cfg: ConfigType = dict(type='ReLU'),
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(len(ALEXNET_STAGE_CHANNELS), out_indices, frozen_stages,
                         norm_eval=False, init_cfg=init_cfg)
        self.with_last_pool = with_last_pool

        def conv_act(in_ch: int, out_ch: int, kernel_size: int, stride: int = 1,
                     padding: int = 0) -> list[nn.Module]:
            return [nn.Conv2d(in_ch, out_ch, kernel_size, stride=stride, padding=padding),
                    build_activation_layer(act_cfg)]

        def pool() -> list[nn.Module]:
            return [nn.MaxPool2d(kernel_size=3, stride=2)]

        stages = [
            conv_act(in_channels, 64, 11, stride=4, padding=2) + pool(),
            conv_act(64, 192, 5, padding=2) + pool(),
            conv_act(192, 384, 3, padding=1) + conv_act(384, 256, 3, padding=1)
            + conv_act(256, 256, 3, padding=1) + (pool() if with_last_pool else []),
        ]
        self.stage_ranges: list[tuple[int, int]] = []
        start = 0
        for stage in stages:
            self.stage_ranges.append((start, start + len(stage)))
            start += len(stage)
        self.features = nn.Sequential(*[layer for stage in stages for layer in stage])
        self.stage_channels = ALEXNET_STAGE_CHANNELS
        self.stage_strides = (8, 16, 32 if with_last_pool else 16)
        self._freeze_stages()

    def stage_layers(self, index: int) -> list[nn.Module]:
        start, end = self.stage_ranges[index]
        return [self.features[i] for i in range(start, end)]
