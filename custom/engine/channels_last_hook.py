"""Run convolutions in channels-last (NHWC) memory format."""
from __future__ import annotations

import torch
from mmdet.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from torch import nn

from .hook_lists import lists_hook


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
    """Whether a config's ``custom_hooks`` hold :class:`ChannelsLastHook`."""
    return lists_hook(cfg, 'ChannelsLastHook')


def to_channels_last(model: nn.Module) -> nn.Module:
    """Convert ``model``'s weights to channels-last, in place (see :class:`ChannelsLastHook`).

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


@HOOKS.register_module()
class ChannelsLastHook(Hook):
    """Convert the model's weights to channels-last before training, validation and testing.

    oneDNN's CPU convolutions (and cuDNN's tensor-core kernels) are faster on NHWC data; a
    convolution whose weight is channels-last produces channels-last output, so converting
    the weights once is enough. The numbers computed are the same up to float rounding.

    Raises:
        ValueError: Before the run, when the model holds a layer that reads its input as
            NCHW whatever its strides (:func:`nchw_only_layers`).
    """

    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        to_channels_last(model)
