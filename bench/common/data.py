"""The same inputs for every contender: digits canvases at benchmark size, batched for each.

Shape shorthand: B = images in a batch, H x W = input size, K = boxes of one image."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch


@functools.lru_cache(maxsize=1)
def digit_scans() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The digit scans, their labels and the train pool, as the digits data set uses them."""
    from custom.datasets.digits_canvas import read_digit_scans, split_scans
    scans, labels = read_digit_scans()
    return scans, labels, split_scans(labels, seed=0)['train']


@dataclass
class Canvas:
    """One digits image: ``image`` (H, W, 3) uint8 BGR, ``boxes`` (K, 4) float32 x1y1x2y2 in
    pixels, ``labels`` (K,) int64 digits 0..9."""

    image: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray


def digit_canvases(size: tuple[int, int], count: int, seed: int = 0) -> list[Canvas]:
    """``count`` digits canvases of ``size`` = (H, W), digits scaled with the canvas.

    A square canvas of the longer side is drawn (digits of 24-96 px per 320 px of canvas, so
    objects keep their share of the image at any size) and cropped to H x W; digits the crop
    cuts are dropped, and a canvas left without any is skipped.
    """
    from custom.datasets.digits_canvas import CanvasConfig, render_canvas
    height, width = size
    side = max(size)
    cfg = CanvasConfig(img_size=side, min_size=max(8, round(24 * side / 320)),
                       max_size=max(8, round(96 * side / 320)), max_digits=5)
    scans, labels, pool = digit_scans()
    canvases, index = [], 0
    while len(canvases) < count:
        drawn = render_canvas(seed, 'train', index, scans, labels, pool, cfg)
        index += 1
        kept = [inst for inst in drawn.instances if inst.box[2] < width and inst.box[3] < height]
        if not kept:
            continue
        # Inclusive pixel boxes (x0, y0, x1, y1) cover [x0, x1 + 1) in continuous coordinates.
        boxes = np.array([[x0, y0, x1 + 1, y1 + 1] for x0, y0, x1, y1 in
                          (inst.box for inst in kept)], dtype=np.float32)
        canvases.append(Canvas(np.ascontiguousarray(drawn.image[:height, :width]), boxes,
                               np.array([inst.label for inst in kept], dtype=np.int64)))
    return canvases


def mmdet_batch(canvases: Sequence[Canvas], device: str, with_gt: bool = True) -> dict:
    """What mmdet's ``train_step``/``test_step`` take: uint8 (3, H, W) BGR inputs on
    ``device`` and DetDataSamples (GT boxes and labels when ``with_gt``)."""
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    inputs, samples = [], []
    for index, canvas in enumerate(canvases):
        inputs.append(torch.from_numpy(canvas.image).permute(2, 0, 1).contiguous().to(device))
        shape = canvas.image.shape[:2]
        sample = DetDataSample(metainfo=dict(img_id=index, img_shape=shape, ori_shape=shape,
                                             scale_factor=(1.0, 1.0)))
        if with_gt:
            sample.gt_instances = InstanceData(bboxes=torch.from_numpy(canvas.boxes).to(device),
                                               labels=torch.from_numpy(canvas.labels).to(device))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def torchvision_batch(canvases: Sequence[Canvas], device: str
                      ) -> tuple[list[torch.Tensor], list[dict]]:
    """What torchvision's detectors take: (3, H, W) float RGB in [0, 1] on ``device``, and
    targets with ``boxes`` and ``labels`` (digit + 1: torchvision's 0 is the background)."""
    images, targets = [], []
    for canvas in canvases:
        rgb = torch.from_numpy(canvas.image[:, :, ::-1].copy()).permute(2, 0, 1)
        images.append((rgb.float() / 255).to(device))
        targets.append(dict(boxes=torch.from_numpy(canvas.boxes).to(device),
                            labels=torch.from_numpy(canvas.labels + 1).to(device)))
    return images, targets
