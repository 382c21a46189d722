"""The course's perceptron and its error-driven learning rule.

Shape shorthand: P = samples, D = length of an augmented input (inputs + 1).

Convention (the course's): the threshold T is the first component of the weight vector,
W = (T, w1, ..., wn), and every input carries -1 as its first component, X = (-1, x1, ..., xn),
so W^T X = w1 x1 + ... + wn xn - T is a plain dot product. The neuron's output is
o = sgn(W^T X) with sgn(0) = 0, targets d are -1 or +1, and after each sample

    W(k+1) = W(k) + eta * [d - sgn(W(k)^T X)] * X,

which changes W only when the sample is misclassified (d - o is then +-2, or +-1 when
W^T X = 0). Samples are presented in order, pass after pass, until one full pass makes no error.

Weights and inputs may hold ``fractions.Fraction`` values: the rule then runs in exact
arithmetic (numpy object arrays), which reproduces the course's worked example to the digit.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

Number = float | int
LOGIC_GATES = ('AND', 'OR', 'NOT')


class PerceptronNotConvergedError(RuntimeError):
    """The learning rule still made errors after ``max_epochs`` passes."""


@dataclass
class PerceptronResult:
    """Outcome of :func:`train_perceptron`.

    Attributes:
        history (list[np.ndarray]): W(0), W(1), ..., one (D,) vector per sample presented, as
            the course numbers them (W(k+1) follows the k-th presentation, changed or not).
        epochs (int): full passes over the samples, the final error-free pass included.
        errors_per_epoch (list[int]): misclassified samples in each pass; the last is 0.
    """

    history: list[np.ndarray]
    epochs: int
    errors_per_epoch: list[int] = field(default_factory=list)

    @property
    def weights(self) -> np.ndarray:
        """np.ndarray: (D,) the final weights, which classify every sample."""
        return self.history[-1]


def sgn(value: Number) -> int:
    """The course's step function: 1 if value > 0, 0 if value == 0, -1 if value < 0."""
    return int(value > 0) - int(value < 0)


def with_threshold_input(inputs: Sequence[Sequence[Number]] | np.ndarray) -> np.ndarray:
    """Prepend the constant -1 input that multiplies the threshold.

    Args:
        inputs (array-like): (P, n) raw inputs.

    Returns:
        np.ndarray: (P, n + 1) augmented inputs, first column -1.
    """
    raw = _as_matrix(inputs, 'inputs')
    return np.concatenate([np.full((raw.shape[0], 1), -1, dtype=raw.dtype), raw], axis=1)


def predict(weights: Sequence[Number] | np.ndarray,
            samples: Sequence[Sequence[Number]] | np.ndarray) -> np.ndarray:
    """Outputs o = sgn(W^T X) of a perceptron.

    Args:
        weights (array-like): (D,) W = (threshold, w1, ..., wn).
        samples (array-like): (P, D) augmented inputs (first component -1).

    Returns:
        np.ndarray: (P,) int outputs in {-1, 0, 1}.
    """
    w = _as_vector(weights, 'weights')
    x = _as_matrix(samples, 'samples')
    _check_lengths(w, x)
    return np.array([sgn(np.dot(w, row)) for row in x], dtype=int)


def train_perceptron(samples: Sequence[Sequence[Number]] | np.ndarray,
                     targets: Sequence[int] | np.ndarray,
                     initial_weights: Sequence[Number] | np.ndarray | None = None,
                     eta: Number = 0.1,
                     max_epochs: int = 100) -> PerceptronResult:
    """Run the perceptron learning rule until a full pass makes no error.

    Args:
        samples (array-like): (P, D) augmented inputs X = (-1, x1, ..., xn).
        targets (array-like): (P,) desired outputs d, each -1 or +1.
        initial_weights (array-like, optional): (D,) W(0) = (threshold, w1, ..., wn).
            Defaults to zeros.
        eta (Number): learning rate, > 0. Defaults to 0.1.
        max_epochs (int): passes allowed before giving up. Defaults to 100.

    Returns:
        PerceptronResult: weight history W(0..K), number of passes, errors per pass.

    Raises:
        ValueError: malformed samples, targets, weights or hyper-parameters.
        PerceptronNotConvergedError: errors remain after ``max_epochs`` passes (the samples
            are likely not linearly separable, XOR for instance).
    """
    x = _as_matrix(samples, 'samples')
    d = _as_targets(targets, len(x))
    w = (np.zeros(x.shape[1], dtype=x.dtype) if initial_weights is None
         else _as_vector(initial_weights, 'initial_weights'))
    _check_lengths(w, x)
    if not eta > 0:
        raise ValueError(f'train_perceptron: eta must be > 0, got {eta!r}')
    if not (isinstance(max_epochs, int) and max_epochs >= 1):
        raise ValueError(f'train_perceptron: max_epochs must be an int >= 1, got {max_epochs!r}')

    history = [w.copy()]
    errors_per_epoch: list[int] = []
    for _ in range(max_epochs):
        errors = 0
        for sample, desired in zip(x, d):
            output = sgn(np.dot(w, sample))
            if output != desired:
                errors += 1
                w = w + eta * (desired - output) * sample
            history.append(w.copy())
        errors_per_epoch.append(errors)
        if errors == 0:
            return PerceptronResult(history, len(errors_per_epoch), errors_per_epoch)
    raise PerceptronNotConvergedError(
        f'train_perceptron: {errors_per_epoch[-1]} of {len(x)} samples still misclassified '
        f'after max_epochs={max_epochs} passes; the samples may not be linearly separable '
        '(e.g. XOR), or more passes are needed')


def logic_gate_samples(gate: str) -> tuple[np.ndarray, np.ndarray]:
    """Truth table of AND, OR or NOT in the course's +-1 convention (-1 false, +1 true).

    Args:
        gate (str): 'AND', 'OR' or 'NOT' (case-insensitive).

    Returns:
        tuple[np.ndarray, np.ndarray]: augmented inputs (P, D) with the -1 threshold input
        first (P = 4, D = 3 for AND/OR; P = 2, D = 2 for NOT) and targets (P,).
    """
    name = gate.upper() if isinstance(gate, str) else gate
    if name == 'NOT':
        inputs = np.array([[-1], [1]])
        targets = -inputs[:, 0]
    elif name in ('AND', 'OR'):
        inputs = np.array([[-1, -1], [-1, 1], [1, -1], [1, 1]])
        truth = np.all if name == 'AND' else np.any
        targets = np.where(truth(inputs == 1, axis=1), 1, -1)
    else:
        raise ValueError(f'logic_gate_samples: unknown gate {gate!r}; choose one of '
                         f'{LOGIC_GATES}')
    return with_threshold_input(inputs), targets


def _as_vector(values, name: str) -> np.ndarray:
    arr = _as_numeric_array(values, name)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f'{name}: expected a non-empty 1-D vector, got shape {arr.shape}')
    return arr


def _as_matrix(values, name: str) -> np.ndarray:
    arr = _as_numeric_array(values, name)
    if arr.ndim != 2 or arr.size == 0:
        raise ValueError(f'{name}: expected a non-empty (P, D) matrix, got shape {arr.shape}')
    return arr


def _as_numeric_array(values, name: str) -> np.ndarray:
    """float64 array, or an object array when the values are exact numbers (Fraction)."""
    arr = np.asarray(values)
    if arr.dtype == object:
        return arr  # exact arithmetic: Fraction, int
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f'{name}: expected real numbers, got dtype {arr.dtype}')
    return arr.astype(np.float64)


def _as_targets(targets, num_samples: int) -> np.ndarray:
    d = np.asarray(targets)
    if d.shape != (num_samples,):
        raise ValueError(f'targets: expected shape ({num_samples},) (one per sample), '
                         f'got {d.shape}')
    if not np.all(np.isin(d, (-1, 1))):
        raise ValueError(f'targets: every desired output must be -1 or +1, got {d.tolist()}')
    return d.astype(int)


def _check_lengths(weights: np.ndarray, samples: np.ndarray) -> None:
    if samples.shape[1] != weights.shape[0]:
        raise ValueError(f'samples have {samples.shape[1]} components but weights have '
                         f'{weights.shape[0]}; both include the threshold component')
    if not np.all(samples[:, 0] == -1):
        raise ValueError('samples: the first component of every input must be -1 (it '
                         'multiplies the threshold W[0]); use with_threshold_input()')
