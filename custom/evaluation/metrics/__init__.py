"""Evaluation metrics registered in mmdet's METRICS registry."""
from .fast_coco_metric import FastCocoMetric

__all__ = ['FastCocoMetric']
