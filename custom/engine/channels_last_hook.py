"""Run convolutions in channels-last (NHWC) memory format."""
from __future__ import annotations

from mmdet.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from custom.core.model_preparation import to_channels_last


@HOOKS.register_module()
class ChannelsLastHook(Hook):
    """Convert the model's weights to channels-last before training, validation and testing.

    oneDNN's CPU convolutions (and cuDNN's tensor-core kernels) are faster on NHWC data; a
    convolution whose weight is channels-last produces channels-last output, so converting
    the weights once is enough. The numbers computed are the same up to float rounding.

    Raises:
        ValueError: Before the run, when the model holds a layer that reads its input as
            NCHW whatever its strides (:func:`custom.core.model_preparation.nchw_only_layers`).
    """

    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        to_channels_last(model)
