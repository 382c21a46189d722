"""Registered RoI-head parts."""
from .batch_sampled_roi_head import BatchSampledRoIHead
from .iterative_bbox_roi_head import IterativeBBoxRoIHead
from .portable_bbox_head import PortableShared2FCBBoxHead

__all__ = ['BatchSampledRoIHead', 'IterativeBBoxRoIHead', 'PortableShared2FCBBoxHead']
