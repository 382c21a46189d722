"""Synthetic (or real) input batches for timing and counting a detector.

Shape shorthand: B = images in the batch, H x W = input size before the data preprocessor
pads it to its ``pad_size_divisor``.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch

from custom.core.errors import InputError

__all__ = ['make_batch', 'read_resized']


def read_resized(image_path: str, size: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) uint8 BGR image resized to ``size`` = (H, W), as LoadImageFromFile reads it."""
    image = cv2.imread(image_path, cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f'{image_path}: cannot read the image')
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
        raise InputError(f'input size {height}x{width} and batch size {batch_size} must be >= 1')
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
