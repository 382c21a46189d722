"""Analysis behind tools/analysis_tools: curves, PR curves, confusion matrix, speed, FLOPs."""
from .confusion_matrix import (
    ConfusionMatrix,
    compute_confusion_matrix,
    format_confusion_table,
    plot_confusion_matrix,
)
from .curves import ScalarLog, plot_curves, read_scalars
from .flops import Complexity, model_complexity
from .pr_curves import PRCurves, compute_pr_curves, evaluate_bbox, plot_pr_curves
from .speed import SpeedReport, benchmark_config

__all__ = [
    'Complexity', 'ConfusionMatrix', 'PRCurves', 'ScalarLog', 'SpeedReport', 'benchmark_config',
    'compute_confusion_matrix', 'compute_pr_curves', 'evaluate_bbox', 'format_confusion_table',
    'model_complexity', 'plot_confusion_matrix', 'plot_curves', 'plot_pr_curves', 'read_scalars'
]
