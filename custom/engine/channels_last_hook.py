"""Run convolutions in channels-last (NHWC) memory format."""
from __future__ import annotations

import torch
from mmdet.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper


@HOOKS.register_module()
class ChannelsLastHook(Hook):
    """Convert the model's weights to channels-last before training, validation and testing.

    oneDNN's CPU convolutions (and cuDNN's tensor-core kernels) are faster on NHWC data; a
    convolution whose weight is channels-last produces channels-last output, so converting
    the weights once is enough. The numbers computed are the same up to float rounding.
    """

    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        model.to(memory_format=torch.channels_last)
