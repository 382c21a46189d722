"""The test-time changes a config's hooks make to a model, as plain functions.

``ChannelsLastHook`` and ``FuseConvBNHook`` (``custom.engine``) call them inside a runner;
:func:`apply_test_time_hooks` calls them for code that builds a model without one
(:func:`custom.core.build_detector.build_detector`, the benchmarks).
"""
from __future__ import annotations

import torch
from torch import nn

from .hook_lists import lists_hook

__all__ = ['apply_test_time_hooks', 'count_batch_norms', 'fold_batch_norms',
           'lists_channels_last_hook', 'nchw_only_layers', 'to_channels_last']


def nchw_only_layers(model: nn.Module) -> list[str]:
    """Names of the layers that compute wrong results on channels-last input.

    Under a compiled mmcv, ``RoIAlign`` hands its input to mmcv's CPU kernel, which reads the
    raw buffer as NCHW without checking strides: on channels-last features it pools the wrong
    values, with no error. classicdet's ``mmcv_lite_ext`` (the set-up's ``mmcv._ext``) and
    torchvision's kernel (``use_torchvision=True``) honour strides.
    """
    import mmcv._ext
    if not getattr(mmcv._ext, 'COMPILED', True):
        return []
    from mmcv.ops import RoIAlign
    return [name for name, module in model.named_modules()
            if isinstance(module, RoIAlign) and not module.use_torchvision]


def lists_channels_last_hook(cfg) -> bool:
    """Whether a config's ``custom_hooks`` hold ``ChannelsLastHook``."""
    return lists_hook(cfg, 'ChannelsLastHook')


def to_channels_last(model: nn.Module) -> nn.Module:
    """Convert ``model``'s weights to channels-last, in place (see ``ChannelsLastHook``).

    Raises:
        ValueError: When the model holds a layer that reads its input as NCHW whatever its
            strides (:func:`nchw_only_layers`); nothing is converted then.
    """
    wrong = nchw_only_layers(model)
    if wrong:
        raise ValueError(
            f"ChannelsLastHook: compiled mmcv's RoIAlign ({', '.join(wrong)}) reads features "
            'as NCHW whatever their strides and would pool channels-last features wrongly; '
            "set roi_layer=dict(..., use_torchvision=True) or drop ChannelsLastHook from "
            'custom_hooks')
    return model.to(memory_format=torch.channels_last)


def count_batch_norms(model: nn.Module) -> int:
    """Number of batch-norm layers in ``model``."""
    return sum(isinstance(module, nn.modules.batchnorm._BatchNorm)
               for module in model.modules())


def fold_batch_norms(model: nn.Module) -> int:
    """Fold every batch norm that directly follows a convolution into it, in place.

    At test time a batch norm is a fixed per-channel scale and shift, which the preceding
    convolution's weight and bias can absorb: one op less per layer, the same outputs to
    float rounding. mmcv's ``fuse_conv_bn`` pairs a ``_BatchNorm`` with the ``nn.Conv2d``
    registered just before it in the same parent (the order mmdet's ResNet, VGG and
    ConvModule register them in) and leaves an ``nn.Identity`` in the norm's place, so
    checkpoints still load into an unfused model only.

    Returns:
        int: How many batch norms were folded.
    """
    from mmcv.cnn import fuse_conv_bn
    before = count_batch_norms(model)
    fuse_conv_bn(model)
    return before - count_batch_norms(model)


def apply_test_time_hooks(model: nn.Module, cfg) -> nn.Module:
    """Do to ``model`` what ``runner.test()`` would with ``cfg``'s ``custom_hooks``:
    channels-last weights (``ChannelsLastHook``) and batch norms folded into their
    convolutions (``FuseConvBNHook``). Call it after the weights are loaded.

    Returns:
        nn.Module: ``model``, changed in place.
    """
    if lists_hook(cfg, 'ChannelsLastHook'):
        to_channels_last(model)
    if lists_hook(cfg, 'FuseConvBNHook'):
        fold_batch_norms(model)
    return model
