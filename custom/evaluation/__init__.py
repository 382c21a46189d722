"""Everything that measures a detector or a dataset: COCO metrics, proposal recall, PR curves,
confusion matrices, training curves, dataset statistics and drawings, speed and FLOPs, and
:func:`build_detector`, the one way a detector is built from a config and a checkpoint.

Importing the package registers its metrics (``metrics/``) and nothing else; the tools import
the module they use (``custom.evaluation.pr_curves``, ...), so a training run does not load
matplotlib or pycocotools through classicdet.
"""
from .metrics import FastCocoMetric

__all__ = ['FastCocoMetric']
