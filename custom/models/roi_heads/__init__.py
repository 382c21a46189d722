"""Registered RoI-head parts."""
from .portable_bbox_head import PortableShared2FCBBoxHead
from .portable_roi_extractor import PortableSingleRoIExtractor

__all__ = ['PortableShared2FCBBoxHead', 'PortableSingleRoIExtractor']
