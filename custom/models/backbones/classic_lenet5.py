"""LeNet-5 (LeCun et al., 1998) as a small multi-scale feature backbone.

Shape shorthand: N = images, H, W = input height and width (32 x 32 in the paper).
With ``padding=0`` (the paper) a 32 x 32 input gives (N, 6, 14, 14), (N, 16, 5, 5) and
(N, 120, 1, 1); with ``padding=2`` every conv keeps its input size and an H x W input gives
(N, 6, H/2, W/2), (N, 16, H/4, W/4) and (N, 120, H/4, W/4).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch.nn as nn
from mmcv.cnn import build_activation_layer
from mmdet.registry import MODELS
from mmdet.utils import ConfigType, OptMultiConfig

from ._utils import StagedBackbone

LENET5_STAGE_CHANNELS = (6, 16, 120)
POOL_TYPES = {'max': nn.MaxPool2d, 'avg': nn.AvgPool2d}


@MODELS.register_module()
class ClassicLeNet5(StagedBackbone):
    """LeNet-5's convolutional part: C1, S2, C3, S4, C5 in three stages.

    =====  ====================================  ========  ======
    stage  layers                                channels  stride
    =====  ====================================  ========  ======
    0      C1 conv 5x5, act, S2 pool 2x2 / 2     6         2
    1      C3 conv 5x5, act, S4 pool 2x2 / 2     16        4
    2      C5 conv 5x5, act                      120       4
    =====  ====================================  ========  ======

    Differences from the 1998 paper, all deliberate: S2 and S4 are parameter-free pools (max by
    default; the paper's trainable average-and-scale subsampling is closest to ``'avg'``), C3
    connects every S2 map to every C3 map (the paper's sparse table gave 1,516 weights, full
    connection gives 2,416), and the activation is ``act_cfg`` (the paper's scaled tanh is
    ``dict(type='Tanh')`` up to scale). With 1 input channel and no padding the backbone has
    50,692 parameters; the paper's F6 (120 -> 84) and output (84 -> 10) layers on the flattened
    stage-2 output add 10,164 + 850 for the 61,706 usually quoted.

    Args:
        in_channels (int): input channels. Defaults to 1 (grey digits).
        act_cfg (dict): activation after each conv (mmcv's activation registry, e.g. ReLU,
            Tanh, Sigmoid). Defaults to ``dict(type='ReLU')``.
        out_indices (Sequence[int]): stages to return. Defaults to (0, 1, 2).
        frozen_stages (int): freeze the first ``frozen_stages`` stages; -1 freezes nothing.
        pool_type (str): ``'max'`` or ``'avg'`` for S2 and S4. Defaults to ``'max'``.
        padding (int): zero padding of every 5x5 conv. 0 is the paper (a 32 x 32 input
            reaches C5 as 5 x 5 and leaves it as 1 x 1); 2 keeps sizes, so any input of at
            least 4 x 4 works and stage strides are exact, for use as a detection backbone.
        init_cfg (dict or list[dict], optional): initialization config. Defaults to None,
            i.e. PyTorch's default initialization of each layer.

    Example:
        >>> import torch
        >>> from custom.models.backbones import ClassicLeNet5
        >>> self = ClassicLeNet5(in_channels=1)
        >>> _ = self.eval()
        >>> inputs = torch.rand(1, 1, 32, 32)
        >>> level_outputs = self.forward(inputs)
        >>> for level_out in level_outputs:
        ...     print(tuple(level_out.shape))
        (1, 6, 14, 14)
        (1, 16, 5, 5)
        (1, 120, 1, 1)
        >>> self = ClassicLeNet5(in_channels=3, padding=2, out_indices=(2,)).eval()
        >>> print(tuple(self(torch.rand(1, 3, 64, 48))[0].shape))
        (1, 120, 16, 12)
    """

    def __init__(self,
                 in_channels: int = 1,
                 act_cfg: ConfigType = dict(type='ReLU'),
                 out_indices: Sequence[int] = (0, 1, 2),
                 frozen_stages: int = -1,
                 pool_type: str = 'max',
                 padding: int = 0,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(len(LENET5_STAGE_CHANNELS), out_indices, frozen_stages,
                         norm_eval=False, init_cfg=init_cfg)
        if pool_type not in POOL_TYPES:
            raise ValueError(f'ClassicLeNet5: pool_type {pool_type!r} is not one of '
                             f'{sorted(POOL_TYPES)}')
        if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
            raise ValueError(f'ClassicLeNet5: padding {padding!r} must be an int >= 0')
        pool = POOL_TYPES[pool_type]
        c1, c3, c5 = LENET5_STAGE_CHANNELS
        self.pool_type = pool_type
        self.padding = padding
        self.c1 = nn.Conv2d(in_channels, c1, kernel_size=5, padding=padding)
        self.act1 = build_activation_layer(act_cfg)
        self.s2 = pool(kernel_size=2, stride=2)
        self.c3 = nn.Conv2d(c1, c3, kernel_size=5, padding=padding)
        self.act3 = build_activation_layer(act_cfg)
        self.s4 = pool(kernel_size=2, stride=2)
        self.c5 = nn.Conv2d(c3, c5, kernel_size=5, padding=padding)
        self.act5 = build_activation_layer(act_cfg)
        self.stage_channels = LENET5_STAGE_CHANNELS
        self.stage_strides = (2, 4, 4)
        self._freeze_stages()

    def stage_layers(self, index: int) -> list[nn.Module]:
        return [
            [self.c1, self.act1, self.s2],
            [self.c3, self.act3, self.s4],
            [self.c5, self.act5],
        ][index]
