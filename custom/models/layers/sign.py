"""The course's step activation sgn(x), trainable through a straight-through gradient.

Shape shorthand: ``*`` = any shape; the layer is element-wise.

The course defines the step (sign) function as

    sgn(x) = 1 if x > 0,  0 if x = 0,  -1 if x < 0.

Its true derivative is zero almost everywhere, so back-propagation through it would stop every
gradient at the first Sign layer. The straight-through estimator keeps sgn in the forward pass
and uses the gradient of hardtanh (clip(x, -1, 1)) in the backward pass: the incoming gradient
passes unchanged where |x| <= 1 and is zeroed where |x| > 1.

``Sign`` is registered in the root (mmengine) ``MODELS`` registry, the one that holds mmcv's own
activations (ReLU, Sigmoid, Tanh, ...), so ``mmcv.cnn.build_activation_layer(dict(type='Sign'))``
works with or without mmdet's default scope, and every ``act_cfg`` in a config may select it.
"""
from __future__ import annotations

import torch
from mmengine.registry import MODELS
from torch import Tensor, nn


class _SignStraightThrough(torch.autograd.Function):
    """sgn(x) forward, hardtanh'(x) * grad backward."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return torch.sign(x)  # torch.sign(0) == 0, as the course's sgn

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return grad_output * (x.abs() <= 1).to(grad_output.dtype)


def sign_straight_through(x: Tensor) -> Tensor:
    """sgn(x) with the straight-through (hardtanh) gradient.

    Args:
        x (Tensor): (*) any shape, floating point.

    Returns:
        Tensor: (*) values in {-1, 0, 1}, same dtype as ``x``.
    """
    if not torch.is_floating_point(x):
        raise TypeError(f'Sign: expects a floating-point tensor, got dtype {x.dtype}')
    return _SignStraightThrough.apply(x)


@MODELS.register_module()
class Sign(nn.Module):
    """Step activation sgn(x) (sgn(0) = 0) with a straight-through gradient.

    Args:
        inplace (bool): Accepted so that mmcv's ``ConvModule`` (which adds ``inplace=True`` to
            every activation it does not know to lack it) can build this layer. Ignored: the
            backward pass needs the input, so the output is always a new tensor.
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        """Apply sgn element-wise.

        Args:
            x (Tensor): (*) any shape, floating point.

        Returns:
            Tensor: (*) values in {-1, 0, 1}.
        """
        return sign_straight_through(x)
