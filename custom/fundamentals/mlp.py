"""A multi-layer feed-forward network (the course's stacked perceptrons).

Shape shorthand: B = batch, F_in / F_out = input / output features.

Each layer is fully connected to the next and has no connections within itself; the
activation between layers is any ``act_cfg`` of mmcv's activation registry (ReLU, Sigmoid,
Tanh, or the course's step ``Sign``). Back-propagation through it is what
``torch.autograd.gradcheck`` verifies in the tests.
"""
from __future__ import annotations

from typing import Sequence

from mmcv.cnn import build_activation_layer
from mmdet.utils import ConfigType
from torch import Tensor, nn


class FeedForwardNet(nn.Sequential):
    """Linear -> act -> ... -> Linear: a fully connected feed-forward network.

    Args:
        in_features (int): F_in.
        hidden_features (Sequence[int]): width of each hidden layer (may be empty: a single
            linear layer, i.e. one perceptron layer without the step).
        out_features (int): F_out.
        act_cfg (dict): activation after every hidden layer. Defaults to ``dict(type='ReLU')``.
    """

    def __init__(self,
                 in_features: int,
                 hidden_features: Sequence[int],
                 out_features: int,
                 act_cfg: ConfigType = dict(type='ReLU')) -> None:
        widths = [in_features, *hidden_features, out_features]
        if any(not isinstance(w, int) or w < 1 for w in widths):
            raise ValueError(f'FeedForwardNet: layer widths must be positive ints, got {widths}')
        layers: list[nn.Module] = []
        for index, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(nn.Linear(fan_in, fan_out))
            if index < len(widths) - 2:  # no activation after the output layer
                layers.append(build_activation_layer(dict(act_cfg)))
        super().__init__(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """Args: x (Tensor): (B, F_in). Returns: Tensor: (B, F_out)."""
        return super().forward(x)
