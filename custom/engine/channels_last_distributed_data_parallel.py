"""Distributed data parallel training of a channels-last model."""
from __future__ import annotations

from mmengine.model import MMDistributedDataParallel
from mmengine.registry import MODEL_WRAPPERS

from custom.core.model_preparation import to_channels_last


@MODEL_WRAPPERS.register_module()
class ChannelsLastDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` that converts its module to channels-last first.

    DDP lays out its gradient buckets after the parameters' strides when it is built, and
    mmengine builds it before any hook runs: ``ChannelsLastHook`` converting the weights
    afterwards leaves every convolution's gradient copied across layouts at each step (torch
    warns "Grad strides do not match bucket view strides"). Converting here, before DDP
    sees the parameters, keeps buckets and gradients alike. Same arguments as
    ``MMDistributedDataParallel``.
    """

    def __init__(self, module, **kwargs) -> None:
        super().__init__(module=to_channels_last(module), **kwargs)
