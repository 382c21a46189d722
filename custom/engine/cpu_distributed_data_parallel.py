"""Distributed data parallel training on CPU-only machines (gloo)."""
from __future__ import annotations

import os

import torch
import torch.distributed as dist
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import MODEL_WRAPPERS

from custom.core.model_preparation import to_channels_last


@MODEL_WRAPPERS.register_module()
class CPUDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` for a module on the CPU.

    mmengine always passes ``device_ids=[LOCAL_RANK]``, which torch's DDP refuses for CPU
    modules; here they are dropped so that each process trains on the CPU and gradients are
    all-reduced over gloo.

    Args:
        channels_last (bool): Convert the module to channels-last before DDP lays out its
            gradient buckets (see ``ChannelsLastDistributedDataParallel``). Defaults to False.
        **kwargs: ``MMDistributedDataParallel``'s arguments.
    """

    def __init__(self, module, device_ids=None, channels_last: bool = False, **kwargs) -> None:
        if channels_last:
            module = to_channels_last(module)
        super().__init__(module=module, device_ids=None, **kwargs)


def init_cpu_process_group(launcher: str) -> bool:
    """Start a gloo process group for ``--launcher pytorch`` on a machine without CUDA.

    mmengine's own initialisation calls ``torch.cuda.set_device`` and fails without a GPU;
    once a group exists it is used as is.

    Returns:
        bool: whether a group was started here.
    """
    if launcher != 'pytorch' or torch.cuda.is_available() or dist.is_initialized():
        return False
    if 'RANK' not in os.environ:
        raise RuntimeError('--launcher pytorch: RANK/WORLD_SIZE are not set; start the run '
                           'with torchrun (tools/dist_train.sh)')
    dist.init_process_group(backend='gloo')
    return True
