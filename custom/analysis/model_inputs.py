"""Building a detector from a config and synthetic (or real) input batches for profiling.

Shape shorthand: B = images in the batch, H x W = input size before the data preprocessor
pads it to its ``pad_size_divisor``.
"""
from __future__ import annotations

import os.path as osp

import cv2
import numpy as np
import torch
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import init_default_scope
from torch import nn

from custom.apis.checkpoint_check import check_checkpoint_matches, state_dict_of
from custom.apis.cli import CLIError
from custom.engine import apply_test_time_hooks

__all__ = ['build_detector', 'make_batch']


def build_detector(cfg: Config, checkpoint: str | None = None, device: str = 'cpu',
                   test_time_hooks: bool = False) -> nn.Module:
    """The config's model in eval mode on ``device``.

    Without a checkpoint the weights keep PyTorch's random initialisation: ``init_weights``
    is not called, so no pre-trained backbone is fetched. Timings and FLOPs do not depend on
    the weights except through the number of proposals, which test_cfg caps.
    ``test_time_hooks``: prepare the model as ``tools/test.py`` would
    (:func:`custom.engine.apply_test_time_hooks`), for timing what users run.

    Raises:
        CLIError: the checkpoint is missing or belongs to another architecture.
    """
    from mmdet.registry import MODELS
    if checkpoint is not None and not osp.isfile(checkpoint):
        raise CLIError(f'{checkpoint}: no such checkpoint file')
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    model = MODELS.build(cfg.model)
    if checkpoint is not None:
        loaded = check_checkpoint_matches(model, checkpoint)
        model.load_state_dict(state_dict_of(loaded, checkpoint))
    model = revert_sync_batchnorm(model)  # SyncBN needs a process group; plain BN is identical
    model = model.to(device).eval()
    return apply_test_time_hooks(model, cfg) if test_time_hooks else model


def read_resized(image_path: str, size: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) uint8 BGR image resized to ``size`` = (H, W), as LoadImageFromFile reads it."""
    image = cv2.imread(image_path, cv2.IMREAD_COLOR)
    if image is None:
        raise CLIError(f'{image_path}: cannot read the image')
    return cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)


def make_batch(size: tuple[int, int], batch_size: int = 1, image: str | None = None,
               seed: int = 0) -> dict:
    """A batch in the format the model's ``test_step`` / data preprocessor takes.

    Args:
        size (tuple[int, int]): (H, W) of every image.
        batch_size (int): B.
        image (str, optional): a real image, resized to ``size``; default random pixels.
        seed (int): seed of the random pixels.

    Returns:
        dict: ``inputs`` (list of B (3, H, W) uint8 tensors) and ``data_samples`` (B
        DetDataSample with img_shape = ori_shape = (H, W) and scale factor 1).
    """
    from mmdet.structures import DetDataSample
    height, width = size
    if height < 1 or width < 1 or batch_size < 1:
        raise CLIError(f'input size {height}x{width} and batch size {batch_size} must be >= 1')
    if image is not None:
        pixels = torch.from_numpy(read_resized(image, size)).permute(2, 0, 1).contiguous()
        inputs = [pixels.clone() for _ in range(batch_size)]
    else:
        generator = torch.Generator().manual_seed(seed)
        inputs = [torch.randint(0, 256, (3, height, width), dtype=torch.uint8,
                                generator=generator) for _ in range(batch_size)]
    samples = [DetDataSample(metainfo=dict(img_shape=(height, width), ori_shape=(height, width),
                                           scale_factor=(1.0, 1.0), img_id=index))
               for index in range(batch_size)]
    return dict(inputs=inputs, data_samples=samples)
