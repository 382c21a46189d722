"""Registered RoI heads."""
from .iterative_bbox_roi_head import IterativeBBoxRoIHead

__all__ = ['IterativeBBoxRoIHead']
