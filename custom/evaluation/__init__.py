"""Measuring a detector: COCO metrics (``metrics/``, registered), COCO result files, proposal
recall, PR curves, confusion matrices and training curves.

Importing the package registers its metrics and nothing else; the tools import the module they
use (``custom.evaluation.pr_curves``, ...), so a training run does not load matplotlib or
pycocotools through classicdet. Dataset statistics and drawings live with the datasets
(``custom.datasets``); speed and FLOPs with ``custom.profiling``.
"""
from .metrics import FastCocoMetric

__all__ = ['FastCocoMetric']
