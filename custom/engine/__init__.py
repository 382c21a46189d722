"""Training engine parts: atomic checkpoints, loss guards, backbone pre-training."""
from custom.core.hook_lists import ensure_hook, lists_hook
from custom.core.model_preparation import (
    apply_test_time_hooks,
    count_batch_norms,
    fold_batch_norms,
    lists_channels_last_hook,
    nchw_only_layers,
    to_channels_last,
)

from .atomic_checkpoint_hook import AtomicCheckpointHook, assert_finite_parameters
from .atomic_local_backend import AtomicLocalBackend, write_atomically
from .channels_last_distributed_data_parallel import ChannelsLastDistributedDataParallel
from .channels_last_hook import ChannelsLastHook
from .class_count_check_hook import ClassCountCheckHook
from .cpu_distributed_data_parallel import CPUDistributedDataParallel, init_cpu_process_group
from .crop_pretrain_hook import CropPretrainHook
from .fine_tune_checkpoint_hook import FineTuneCheckpointHook, fit_state_dict
from .finite_loss_hook import FiniteLossHook, NonFiniteLossError
from .fuse_conv_bn_hook import FuseConvBNHook
from .random_state_hook import RandomStateHook, capture_random_state, restore_random_state
from .validation_loss_hook import ValidationLossHook

__all__ = [
    'AtomicCheckpointHook', 'AtomicLocalBackend', 'apply_test_time_hooks',
    'ChannelsLastDistributedDataParallel', 'ChannelsLastHook', 'lists_channels_last_hook',
    'nchw_only_layers', 'to_channels_last', 'CPUDistributedDataParallel', 'CropPretrainHook',
    'FiniteLossHook', 'FuseConvBNHook', 'count_batch_norms', 'fold_batch_norms', 'lists_hook',
    'ensure_hook', 'init_cpu_process_group', 'NonFiniteLossError', 'RandomStateHook',
    'assert_finite_parameters', 'capture_random_state', 'restore_random_state',
    'write_atomically', 'FineTuneCheckpointHook', 'fit_state_dict', 'ClassCountCheckHook',
    'ValidationLossHook',
]
