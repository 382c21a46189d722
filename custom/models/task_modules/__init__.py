"""Registered task modules (assigners, samplers, box coders, IoU)."""
from .device_random_sampler import DeviceRandomSampler
from .sync_free_bbox_overlaps_2d import SyncFreeBboxOverlaps2D
from .sync_free_delta_xywh_bbox_coder import SyncFreeDeltaXYWHBBoxCoder
from .sync_free_max_iou_assigner import SyncFreeMaxIoUAssigner

__all__ = ['DeviceRandomSampler', 'SyncFreeBboxOverlaps2D', 'SyncFreeDeltaXYWHBBoxCoder',
           'SyncFreeMaxIoUAssigner']
