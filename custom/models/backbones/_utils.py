"""Machinery shared by classicdet's staged backbones (VGG, LeNet-5, AlexNet, GoogLeNet).

Shape shorthand: N = images in the batch, C_i = output channels of stage i, H, W = input height
and width, s_i = output stride of stage i (stage i's map is about (N, C_i, H / s_i, W / s_i)).

A staged backbone runs its stages one after the other and returns the outputs of the stages in
``out_indices``. ``frozen_stages = k`` freezes the first k stages (stages 0 .. k-1), as
``mmcv.cnn.VGG`` does; -1 and 0 freeze nothing.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch.nn as nn
from mmdet.utils import OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm


def check_out_indices(out_indices: Sequence[int], num_stages: int, owner: str) -> tuple[int, ...]:
    """Validate ``out_indices`` against ``num_stages`` stages.

    Args:
        out_indices (Sequence[int]): stage indices to return, strictly increasing.
        num_stages (int): number of stages of the backbone.
        owner (str): class name used in the error message.

    Returns:
        tuple[int, ...]: ``out_indices`` as a tuple.

    Raises:
        ValueError: empty, not integers, out of ``[0, num_stages)`` or not strictly increasing.
    """
    if isinstance(out_indices, int) or not isinstance(out_indices, Sequence):
        raise ValueError(f'{owner}: out_indices must be a sequence of stage indices, '
                         f'got {out_indices!r}')
    indices = tuple(out_indices)
    if not indices:
        raise ValueError(f'{owner}: out_indices is empty; give at least one of '
                         f'0..{num_stages - 1}')
    for index in indices:
        if isinstance(index, bool) or not isinstance(index, int):
            raise ValueError(f'{owner}: out_indices {indices!r} holds {index!r}, not an int')
        if not 0 <= index < num_stages:
            raise ValueError(f'{owner}: out_indices {indices!r} holds {index}, out of range: '
                             f'this backbone has {num_stages} stages (0..{num_stages - 1})')
    if any(b <= a for a, b in zip(indices, indices[1:])):
        raise ValueError(f'{owner}: out_indices {indices!r} must be strictly increasing')
    return indices


def check_frozen_stages(frozen_stages: int, num_stages: int, owner: str) -> int:
    """Validate ``frozen_stages`` (-1 .. num_stages) and return it."""
    if isinstance(frozen_stages, bool) or not isinstance(frozen_stages, int) \
            or not -1 <= frozen_stages <= num_stages:
        raise ValueError(f'{owner}: frozen_stages {frozen_stages!r} is out of range: '
                         f'give -1 (none) .. {num_stages} (all {num_stages} stages)')
    return frozen_stages


class StagedBackbone(BaseModule):
    """Base of a backbone made of ``num_stages`` stages run in sequence.

    Subclasses build their layers in ``__init__``, set ``stage_channels`` and ``stage_strides``
    (tuples with one entry per stage, for docs and necks), implement :meth:`stage_layers` and
    call :meth:`_freeze_stages` last. The stage boundaries are therefore the only thing a
    subclass states; freezing, ``norm_eval`` and the multi-scale forward live here.

    Args:
        num_stages (int): number of stages.
        out_indices (Sequence[int]): stages whose outputs :meth:`forward` returns.
        frozen_stages (int): freeze the first ``frozen_stages`` stages (parameters get
            ``requires_grad=False`` and the stages stay in eval mode); -1 freezes nothing.
        norm_eval (bool): keep every BatchNorm in eval mode while training (running
            statistics fixed). Defaults to False.
        init_cfg (dict or list[dict], optional): initialization config.
    """

    def __init__(self,
                 num_stages: int,
                 out_indices: Sequence[int],
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        owner = type(self).__name__
        self.num_stages = num_stages
        self.out_indices = check_out_indices(out_indices, num_stages, owner)
        self.frozen_stages = check_frozen_stages(frozen_stages, num_stages, owner)
        self.norm_eval = norm_eval

    def stage_layers(self, index: int) -> list[nn.Module]:
        """The layers of stage ``index``, in the order they run."""
        raise NotImplementedError

    def init_weights(self) -> None:
        """Initialise; a ``Pretrained`` ``init_cfg`` (a torchvision classifier's file, a
        ``torchvision://NAME`` checkpoint, or a converted one) loads checked.

        The backbones keep torchvision's module names, so its weights need no renaming:
        the classifier's keys are dropped, missing BN counters added, and every backbone
        key must be in the file with its shape (mmengine's own ``Pretrained`` loading is
        non-strict, and a wrong file would half-load with log lines only).

        Raises:
            ValueError: The file lacks backbone keys or has them in other shapes, naming
                them.
        """
        cfg = self.init_cfg
        if not (isinstance(cfg, dict) and cfg.get('type') == 'Pretrained'
                and not cfg.get('prefix')):
            super().init_weights()
            return
        from .torchvision_keys import load_pretrained_checked
        load_pretrained_checked(self, cfg['checkpoint'])
        self._is_init = True

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        """Run every stage.

        Args:
            x (Tensor): (N, C_in, H, W) images.

        Returns:
            tuple[Tensor, ...]: one (N, C_i, H_i, W_i) map per index in ``out_indices``, in
            stage order.
        """
        outs = []
        for index in range(self.num_stages):
            for layer in self.stage_layers(index):
                x = layer(x)
            if index in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def _freeze_stages(self) -> None:
        for index in range(max(self.frozen_stages, 0)):
            for layer in self.stage_layers(index):
                layer.eval()
                for param in layer.parameters():
                    param.requires_grad = False

    def train(self, mode: bool = True) -> StagedBackbone:
        """Set train mode, keeping frozen stages (and every BN if ``norm_eval``) in eval."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self
