"""Registered task modules (assigners, samplers)."""
from .device_random_sampler import DeviceRandomSampler
from .sync_free_max_iou_assigner import SyncFreeMaxIoUAssigner

__all__ = ['DeviceRandomSampler', 'SyncFreeMaxIoUAssigner']
