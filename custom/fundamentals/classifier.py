"""A backbone + fully connected head trained as a digit classifier (the course's LeNet-5).

Shape shorthand: N = images, S = image side (32), C = feature channels, K = classes (10).

The data are the 1,797 handwritten-digit scans scikit-learn ships (8x8, 16 grey levels;
``sklearn.datasets.load_digits``, no download). They are split into a stratified, seeded
training and held-out set, upsampled bilinearly to 32x32 (LeNet-5's input size, so C5 is 1x1)
and standardised with the training set's mean and std.

The classifier is ``backbone -> flatten -> FC 84 -> act -> FC K``; with the default
``ClassicLeNet5`` backbone and one input channel it is the classic LeNet-5 (C1, S2, C3, S4, C5,
F6, output) with 61,706 parameters. The activation is any ``act_cfg`` of mmcv's registry, used
in the backbone and in the head alike, so the same script compares ReLU, Sigmoid, Tanh and the
course's step function ``Sign``.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from mmcv.cnn import build_activation_layer
from mmdet.registry import MODELS
from mmdet.utils import ConfigType
from torch import Tensor, nn

from custom.datasets.digits_canvas import read_digit_scans

OPTIMIZERS = ('SGD', 'Adam')
DIGIT_LEVELS = 16.0  # load_digits pixels are integers 0..16


@dataclass
class DigitSplit:
    """Held-out split of the digit scans, ready for a network.

    Attributes:
        train_images (Tensor): (N_train, 1, S, S) float32, standardised.
        train_labels (Tensor): (N_train,) int64 in [0, 9].
        test_images (Tensor): (N_test, 1, S, S) float32, standardised with the train statistics.
        test_labels (Tensor): (N_test,) int64 in [0, 9].
    """

    train_images: Tensor
    train_labels: Tensor
    test_images: Tensor
    test_labels: Tensor


@dataclass
class TrainingHistory:
    """Per-epoch record of :func:`train_classifier`.

    Attributes:
        train_loss (list[float]): mean cross-entropy over each epoch's batches.
        test_accuracy (list[float]): held-out accuracy in [0, 1] after each epoch.
    """

    train_loss: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)

    @property
    def final_accuracy(self) -> float:
        """float: held-out accuracy after the last epoch."""
        if not self.test_accuracy:
            raise ValueError('TrainingHistory: no epoch has been recorded')
        return self.test_accuracy[-1]


def load_digit_scans(seed: int = 0, test_fraction: float = 0.2,
                     image_size: int = 32) -> DigitSplit:
    """Split, upsample and standardise scikit-learn's 8x8 digit scans.

    Args:
        seed (int): seed of the stratified split. Defaults to 0.
        test_fraction (float): held-out share in (0, 1). Defaults to 0.2 (360 images).
        image_size (int): S, side after bilinear upsampling. Defaults to 32.

    Returns:
        DigitSplit: training and held-out images and labels.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f'load_digit_scans: test_fraction must be in (0, 1), got {test_fraction}')
    if image_size < 8:
        raise ValueError(f'load_digit_scans: image_size must be >= 8 (the scans are 8x8), '
                         f'got {image_size}')
    from sklearn.model_selection import train_test_split  # slow import: on use only

    images, labels = read_digit_scans()
    train_x, test_x, train_y, test_y = train_test_split(
        images, labels, test_size=test_fraction, stratify=labels, random_state=seed)
    train_images = _upsample(train_x, image_size)
    test_images = _upsample(test_x, image_size)
    # Statistics of the training images only, so nothing of the held-out set leaks in.
    mean, std = train_images.mean(), train_images.std()
    return DigitSplit((train_images - mean) / std, torch.as_tensor(train_y, dtype=torch.long),
                      (test_images - mean) / std, torch.as_tensor(test_y, dtype=torch.long))


def _upsample(scans: np.ndarray, image_size: int) -> Tensor:
    """(N, 8, 8) grey levels 0..16 -> (N, 1, S, S) float32 in [0, 1], bilinear."""
    images = torch.as_tensor(scans, dtype=torch.float32).unsqueeze(1) / DIGIT_LEVELS
    return F.interpolate(images, size=(image_size, image_size), mode='bilinear',
                         align_corners=False)


class DigitClassifier(nn.Module):
    """Backbone, then flatten -> FC ``hidden_features`` -> act -> FC ``num_classes``.

    Args:
        backbone (dict): config of a registered backbone; ``act_cfg`` and ``in_channels`` are
            filled in when absent. Defaults to ``dict(type='ClassicLeNet5')``.
        act_cfg (dict): activation of the backbone (unless its config sets one) and of the head.
            Defaults to ``dict(type='ReLU')``.
        in_channels (int): channels of the input images. Defaults to 1.
        image_size (int): S, used once to size the first FC layer. Defaults to 32.
        hidden_features (int): width of the hidden FC layer (LeNet-5's F6). Defaults to 84.
        num_classes (int): K. Defaults to 10.
    """

    def __init__(self,
                 backbone: ConfigType = dict(type='ClassicLeNet5'),
                 act_cfg: ConfigType = dict(type='ReLU'),
                 in_channels: int = 1,
                 image_size: int = 32,
                 hidden_features: int = 84,
                 num_classes: int = 10) -> None:
        super().__init__()
        backbone_cfg = copy.deepcopy(dict(backbone))
        backbone_cfg.setdefault('act_cfg', copy.deepcopy(dict(act_cfg)))
        backbone_cfg.setdefault('in_channels', in_channels)
        self.backbone = MODELS.build(backbone_cfg)
        if getattr(self.backbone, 'init_cfg', None):  # else: PyTorch's default init, as built
            self.backbone.init_weights()
        feature_size = self._feature_size(in_channels, image_size)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(feature_size, hidden_features),
            build_activation_layer(copy.deepcopy(dict(act_cfg))),
            nn.Linear(hidden_features, num_classes),
        )

    @torch.no_grad()
    def _feature_size(self, in_channels: int, image_size: int) -> int:
        """C * H * W of the last backbone output for one S x S image."""
        was_training = self.backbone.training
        self.backbone.eval()  # no BN statistics updated by the probe
        features = self._last_feature(torch.zeros(1, in_channels, image_size, image_size))
        self.backbone.train(was_training)
        return features[0].numel()

    def _last_feature(self, images: Tensor) -> Tensor:
        outputs = self.backbone(images)
        return outputs[-1] if isinstance(outputs, (tuple, list)) else outputs

    def forward(self, images: Tensor) -> Tensor:
        """Args: images (Tensor): (N, in_channels, S, S). Returns: Tensor: (N, K) logits."""
        return self.head(self._last_feature(images))


def build_optimizer(model: nn.Module, name: str, lr: float,
                    momentum: float = 0.9) -> torch.optim.Optimizer:
    """SGD (with momentum) or Adam over all parameters of ``model``."""
    if name == 'SGD':
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    if name == 'Adam':
        return torch.optim.Adam(model.parameters(), lr=lr)
    raise ValueError(f'build_optimizer: unknown optimizer {name!r}; choose one of {OPTIMIZERS}')


@torch.no_grad()
def evaluate(model: nn.Module, images: Tensor, labels: Tensor, batch_size: int = 512) -> float:
    """Accuracy of ``model`` in [0, 1].

    Args:
        model (nn.Module): returns (N, K) logits.
        images (Tensor): (N, C, S, S).
        labels (Tensor): (N,) int64.
        batch_size (int): images per forward pass. Defaults to 512.
    """
    was_training = model.training
    model.eval()
    correct = sum(int((model(images[i:i + batch_size]).argmax(1)
                       == labels[i:i + batch_size]).sum())
                  for i in range(0, len(images), batch_size))
    model.train(was_training)
    return correct / len(images)


def train_classifier(model: nn.Module,
                     split: DigitSplit,
                     epochs: int,
                     optimizer: torch.optim.Optimizer,
                     batch_size: int = 64,
                     seed: int = 0,
                     on_epoch: Callable[[int, float, float], None] | None = None
                     ) -> TrainingHistory:
    """Mini-batch training with cross-entropy; evaluates on the held-out set after each epoch.

    Args:
        model (nn.Module): returns (N, K) logits.
        split (DigitSplit): data.
        epochs (int): passes over the training set, >= 1.
        optimizer (Optimizer): over ``model``'s parameters.
        batch_size (int): images per step. Defaults to 64.
        seed (int): seed of the batch order. Defaults to 0.
        on_epoch (callable, optional): called as ``on_epoch(epoch, train_loss, accuracy)``
            (epoch counted from 1) after each epoch, e.g. to print progress.

    Returns:
        TrainingHistory: per-epoch loss and held-out accuracy.
    """
    if not (isinstance(epochs, int) and epochs >= 1):
        raise ValueError(f'train_classifier: epochs must be an int >= 1, got {epochs!r}')
    if batch_size < 1:
        raise ValueError(f'train_classifier: batch_size must be >= 1, got {batch_size}')
    generator = torch.Generator().manual_seed(seed)
    history = TrainingHistory()
    num_train = len(split.train_images)
    model.train()
    for epoch in range(1, epochs + 1):
        order = torch.randperm(num_train, generator=generator)
        losses = []
        for start in range(0, num_train, batch_size):
            batch = order[start:start + batch_size]
            loss = F.cross_entropy(model(split.train_images[batch]), split.train_labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        history.train_loss.append(float(np.mean(losses)))
        history.test_accuracy.append(evaluate(model, split.test_images, split.test_labels))
        if on_epoch is not None:
            on_epoch(epoch, history.train_loss[-1], history.test_accuracy[-1])
    return history


def run_digit_experiment(act_cfg: ConfigType = dict(type='ReLU'),
                         backbone: ConfigType = dict(type='ClassicLeNet5'),
                         epochs: int = 10,
                         seed: int = 0,
                         lr: float = 1e-3,
                         optimizer: str = 'Adam',
                         batch_size: int = 64,
                         test_fraction: float = 0.2,
                         split: DigitSplit | None = None,
                         on_epoch: Callable[[int, float, float], None] | None = None
                         ) -> TrainingHistory:
    """Seed everything, build a :class:`DigitClassifier`, train it and return its history.

    Same arguments, same machine and thread count -> same numbers.

    Args:
        act_cfg (dict): activation of backbone and head. Defaults to ReLU.
        backbone (dict): backbone config. Defaults to ``dict(type='ClassicLeNet5')``.
        epochs (int): training epochs. Defaults to 10.
        seed (int): seeds the split, the initial weights and the batch order. Defaults to 0.
        lr (float): learning rate. Defaults to 1e-3.
        optimizer (str): 'SGD' or 'Adam'. Defaults to 'Adam'.
        batch_size (int): Defaults to 64.
        test_fraction (float): held-out share. Defaults to 0.2.
        split (DigitSplit, optional): reuse a loaded split (must come from the same seed to
            reproduce a run); loaded from ``seed`` and ``test_fraction`` when None.
        on_epoch (callable, optional): see :func:`train_classifier`.

    Returns:
        TrainingHistory: per-epoch loss and held-out accuracy.
    """
    if split is None:
        split = load_digit_scans(seed=seed, test_fraction=test_fraction)
    torch.manual_seed(seed)
    model = DigitClassifier(backbone=backbone, act_cfg=act_cfg,
                            in_channels=split.train_images.shape[1],
                            image_size=split.train_images.shape[-1])
    return train_classifier(model, split, epochs, build_optimizer(model, optimizer, lr),
                            batch_size=batch_size, seed=seed, on_epoch=on_epoch)


COURSE_ACTIVATIONS = ('ReLU', 'Sigmoid', 'Tanh', 'Sign')


def compare_activations(activations: tuple[str, ...] = COURSE_ACTIVATIONS,
                        **experiment_kwargs) -> dict[str, TrainingHistory]:
    """Train the same classifier once per activation, everything else equal.

    Args:
        activations (tuple[str]): registered activation types. Defaults to the course's four.
        **experiment_kwargs: forwarded to :func:`run_digit_experiment` (epochs, seed, lr, ...).

    Returns:
        dict[str, TrainingHistory]: history per activation, in the given order.
    """
    seed = experiment_kwargs.get('seed', 0)
    split = load_digit_scans(seed=seed, test_fraction=experiment_kwargs.pop('test_fraction', 0.2))
    return {act: run_digit_experiment(act_cfg=dict(type=act), split=split, **experiment_kwargs)
            for act in activations}


def format_accuracy_table(results: dict[str, TrainingHistory], reached: float = 0.95) -> str:
    """Markdown table, one row per activation.

    Columns: epochs, held-out accuracy after the last epoch, the best epoch and its accuracy,
    the first epoch whose accuracy is >= ``reached`` ('never' if none), final train loss.
    """
    lines = [f'| Activation | Epochs | Held-out accuracy (last epoch) | Best epoch (accuracy) '
             f'| First epoch >= {100 * reached:.0f}% | Final train loss |',
             '|---|---:|---:|---:|---:|---:|']
    for act, history in results.items():
        best = int(np.argmax(history.test_accuracy))
        first = next((str(epoch) for epoch, acc in enumerate(history.test_accuracy, 1)
                      if acc >= reached), 'never')
        lines.append(f'| {act} | {len(history.test_accuracy)} | '
                     f'{100 * history.final_accuracy:.1f}% | '
                     f'{best + 1} ({100 * history.test_accuracy[best]:.1f}%) | {first} | '
                     f'{history.train_loss[-1]:.3f} |')
    return '\n'.join(lines)
