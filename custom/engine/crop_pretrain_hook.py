"""Pre-train the backbone as a classifier of the training set's own object crops."""
from __future__ import annotations

import math
import time

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from mmdet.registry import HOOKS
from mmdet.utils import ConfigType
from mmengine import dist
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import OPTIMIZERS
from torch import Tensor, nn


def square_crop(image: np.ndarray, box: list[float], context: float, size: int) -> np.ndarray:
    """A ``size`` x ``size`` crop of ``image`` around ``box``, resized with its aspect kept.

    Args:
        image (np.ndarray): (H, W, 3) uint8.
        box (list[float]): ``[x1, y1, x2, y2]`` in pixels.
        context (float): The square's side is ``(1 + context) * max(w, h)`` of the box.
        size (int): Output side.

    Returns:
        np.ndarray: (size, size, 3) uint8; parts outside the image repeat its border.
    """
    x1, y1, x2, y2 = box
    side = max(x2 - x1, y2 - y1, 1.0) * (1 + context)
    scale = size / side
    centre_x, centre_y = (x1 + x2) / 2, (y1 + y2) / 2
    # Affine map from image to crop: scale about the box centre, centre -> crop centre.
    matrix = np.array([[scale, 0, size / 2 - scale * centre_x],
                       [0, scale, size / 2 - scale * centre_y]], dtype=np.float32)
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_AREA
                          if scale < 1 else cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def collect_instance_crops(dataset, size: int, context: float) -> tuple[np.ndarray, np.ndarray]:
    """Crops of every non-ignored instance of a detection dataset, with their labels.

    Args:
        dataset: An mmdet dataset (or a wrapper) with ``get_data_info``; its data infos hold
            ``img_path`` and ``instances`` with ``bbox`` (x1, y1, x2, y2) and ``bbox_label``.
        size (int): Crop side.
        context (float): See :func:`square_crop`.

    Returns:
        tuple: crops (K, size, size, 3) uint8 in the images' channel order (BGR as read),
        labels (K,) int64.

    Raises:
        FileNotFoundError: An image cannot be read (its path is named).
        ValueError: The dataset has no instances.
    """
    crops, labels = [], []
    for index in range(len(dataset)):
        info = dataset.get_data_info(index)
        instances = [i for i in info.get('instances', []) if not i.get('ignore_flag', 0)]
        if not instances:
            continue
        image = cv2.imread(info['img_path'], cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(f"crop pre-training: cannot read image {info['img_path']}")
        for instance in instances:
            crops.append(square_crop(image, instance['bbox'], context, size))
            labels.append(instance['bbox_label'])
    if not crops:
        raise ValueError('crop pre-training: the training set has no annotated instances')
    return np.stack(crops), np.asarray(labels, dtype=np.int64)


def warmup_cosine(step: int, total: int, warmup: int) -> float:
    """LR factor: linear warm-up over ``warmup`` steps, then cosine decay to 0 at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


@HOOKS.register_module()
class CropPretrainHook(Hook):
    """Before training from scratch, train the backbone to classify the training set's objects.

    Each annotated instance becomes a square crop (the box plus ``context``), resized to
    ``crop_size``; the backbone's last feature map, average-pooled, feeds a linear classifier
    trained for ``epochs`` passes over the crops, which is then dropped. The detector starts
    from a backbone that already tells the classes apart, so its RoI head learns boxes sooner:
    a cheap stand-in for ImageNet weights where none may be downloaded, on the user's own
    data. Crops are normalised by the detector's data preprocessor, so the features match
    what the detector will see.

    Skipped when the run resumes or loads a checkpoint (its weights come from there). Under
    distributed training rank 0 pre-trains and broadcasts the backbone to the others.

    Args:
        epochs (float): Passes over the crops; the steps are
            ``max(1, round(epochs * crops / batch_size))``, so a tiny dataset takes a step or
            two. Defaults to 1.0.
        batch_size (int): Crops per step. Defaults to 64.
        crop_size (int): Crop side in pixels. Defaults to 64.
        context (float): Extra side around the box, as a fraction of its longer side.
            Defaults to 0.2.
        optimizer (dict): Optimizer config; its ``lr`` is the peak of a linear warm-up
            (first 10% of steps) and cosine decay. Defaults to SGD, lr 0.05, momentum 0.9,
            weight decay 1e-4.
        seed (int): Seed of the crop order and the classifier's initialisation. Defaults to 0.
    """

    priority = 'LOW'

    def __init__(self,
                 epochs: float = 1.0,
                 batch_size: int = 64,
                 crop_size: int = 64,
                 context: float = 0.2,
                 optimizer: ConfigType = dict(
                     type='SGD', lr=0.05, momentum=0.9, weight_decay=1e-4),
                 seed: int = 0) -> None:
        for name, value in (('batch_size', batch_size), ('crop_size', crop_size)):
            if value < 1:
                raise ValueError(f'CropPretrainHook: {name} must be >= 1, got {value}')
        if not epochs > 0:
            raise ValueError(f'CropPretrainHook: epochs must be > 0, got {epochs}')
        if context < 0:
            raise ValueError(f'CropPretrainHook: context must be >= 0, got {context}')
        self.epochs = epochs
        self.batch_size = batch_size
        self.crop_size = crop_size
        self.context = context
        self.optimizer = dict(optimizer)
        self.seed = seed
        self.losses: list[float] = []

    def before_train(self, runner) -> None:
        if getattr(runner, '_has_loaded', False) or runner.iter > 0:
            runner.logger.info('CropPretrainHook: weights were loaded; no pre-training')
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if dist.get_rank() == 0:
            start = time.perf_counter()
            crops, labels = collect_instance_crops(runner.train_dataloader.dataset,
                                                   self.crop_size, self.context)
            num_classes = int(labels.max()) + 1
            accuracy = self.pretrain(model, crops, labels, num_classes)
            runner.logger.info(
                f'CropPretrainHook: backbone pre-trained on {len(labels)} crops, '
                f'{len(self.losses)} steps of {self.batch_size}, last-10-step loss '
                f'{np.mean(self.losses[-10:]):.3f}, accuracy on the last batches '
                f'{100 * accuracy:.1f}%, {time.perf_counter() - start:.1f} s')
        if dist.get_world_size() > 1:
            for tensor in model.backbone.state_dict().values():
                dist.broadcast(tensor, src=0)

    def pretrain(self, model: nn.Module, crops: np.ndarray, labels: np.ndarray,
                 num_classes: int) -> float:
        """Train ``model.backbone`` with a temporary linear head; returns recent accuracy.

        Args:
            model (nn.Module): The detector (with ``backbone`` and ``data_preprocessor``).
            crops (np.ndarray): (K, S, S, 3) uint8.
            labels (np.ndarray): (K,) int64 class indices.
            num_classes (int): Classifier outputs.
        """
        backbone = model.backbone
        device = next(backbone.parameters()).device
        generator = torch.Generator().manual_seed(self.seed)
        preprocessor = model.data_preprocessor
        images = torch.from_numpy(crops)  # normalised batch by batch: uint8 is 4x smaller
        targets = torch.from_numpy(labels).to(device)
        head = self.build_head(backbone, self.normalise(preprocessor, images[:1], device),
                               num_classes, generator).to(device)
        params = [p for p in backbone.parameters() if p.requires_grad] + list(head.parameters())
        optimizer = OPTIMIZERS.build(dict(self.optimizer, params=params))
        peak_lrs = [group['lr'] for group in optimizer.param_groups]
        steps = self.num_steps(len(labels))
        warmup = max(1, steps // 10)
        self.losses = []
        was_training = backbone.training
        backbone.train()
        correct = seen = 0
        order = torch.randperm(len(targets), generator=generator)
        position = 0
        for step in range(steps):
            if position + self.batch_size > len(order):
                order, position = torch.randperm(len(targets), generator=generator), 0
            batch = order[position:position + self.batch_size]
            position += self.batch_size
            for group, peak in zip(optimizer.param_groups, peak_lrs):
                group['lr'] = peak * warmup_cosine(step, steps, warmup)
            batch_targets = targets[batch.to(device)]
            logits = head(self.pooled_features(
                backbone, self.normalise(preprocessor, images[batch], device)))
            loss = F.cross_entropy(logits, batch_targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            self.losses.append(loss.item())
            if step >= steps - max(1, steps // 10):
                correct += int((logits.argmax(1) == batch_targets).sum())
                seen += len(batch)
        backbone.train(was_training)
        backbone.zero_grad(set_to_none=True)
        return correct / max(1, seen)

    def num_steps(self, num_crops: int) -> int:
        """Classifier steps for ``epochs`` passes over ``num_crops`` crops (at least 1)."""
        return max(1, round(self.epochs * num_crops / self.batch_size))

    @staticmethod
    def normalise(preprocessor: nn.Module, crops: Tensor, device: torch.device) -> Tensor:
        """(K, S, S, 3) uint8 -> (K, 3, S, S) float through the detector's own preprocessor."""
        images = list(crops.to(device).permute(0, 3, 1, 2))
        batch = preprocessor(dict(inputs=images, data_samples=None), training=False)['inputs']
        return batch.contiguous(memory_format=torch.channels_last)

    @staticmethod
    def pooled_features(backbone: nn.Module, images: Tensor) -> Tensor:
        """(B, C) average-pooled last feature map of the backbone."""
        features = backbone(images)
        last = features[-1] if isinstance(features, (tuple, list)) else features
        return last.mean(dim=(2, 3))

    def build_head(self, backbone: nn.Module, example: Tensor, num_classes: int,
                   generator: torch.Generator) -> nn.Linear:
        """A linear classifier sized to the backbone's last feature map."""
        with torch.no_grad():
            was_training = backbone.training
            backbone.eval()
            channels = self.pooled_features(backbone, example).size(1)
            backbone.train(was_training)
        head = nn.Linear(channels, num_classes)
        bound = 1 / math.sqrt(channels)
        with torch.no_grad():
            head.weight.copy_(torch.rand(head.weight.shape, generator=generator) * 2 * bound
                              - bound)
            head.bias.zero_()
        return head
