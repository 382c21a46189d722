"""The test-time model changes a config's hooks make, for code that runs without a runner."""
from __future__ import annotations

from torch import nn

from .channels_last_hook import to_channels_last
from .fuse_conv_bn_hook import fold_batch_norms
from .hook_lists import lists_hook


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
