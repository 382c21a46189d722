"""The course's fundamentals in code: perceptron, feed-forward net, LeNet-5 digit classifier,
non-maximum suppression."""
from .classifier import (
    COURSE_ACTIVATIONS,
    DigitClassifier,
    DigitSplit,
    TrainingHistory,
    build_optimizer,
    compare_activations,
    evaluate,
    format_accuracy_table,
    load_digit_scans,
    run_digit_experiment,
    train_classifier,
)
from .mlp import FeedForwardNet
from .nms import greedy_nms
from .perceptron import (
    LOGIC_GATES,
    PerceptronNotConvergedError,
    PerceptronResult,
    logic_gate_samples,
    predict,
    sgn,
    train_perceptron,
    with_threshold_input,
)

__all__ = [
    'COURSE_ACTIVATIONS', 'DigitClassifier', 'DigitSplit', 'TrainingHistory', 'build_optimizer',
    'compare_activations', 'evaluate', 'format_accuracy_table', 'load_digit_scans',
    'run_digit_experiment', 'train_classifier', 'FeedForwardNet', 'LOGIC_GATES',
    'PerceptronNotConvergedError', 'PerceptronResult', 'logic_gate_samples', 'predict', 'sgn',
    'train_perceptron', 'with_threshold_input', 'greedy_nms'
]
