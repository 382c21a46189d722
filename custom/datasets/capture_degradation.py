"""Degrade a training image as a camera or scanner does: blur, sensor noise, JPEG."""
from __future__ import annotations

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmdet.registry import TRANSFORMS

from custom.core.errors import InputError


@TRANSFORMS.register_module()
class CaptureDegradation(BaseTransform):
    """Each of Gaussian blur, Gaussian noise and JPEG re-compression, applied with its own
    probability and a strength drawn from its range. Pixels change, boxes do not.

    mmdet's photometric distortion changes colours and contrast; what a capture adds (defocus,
    sensor grain, compression blocks) needs albumentations in mmdet (its ``Albu`` wrapper),
    which classicdet does not install. The random draws use NumPy's global generator, which
    mmengine seeds, as mmdet's own transforms do.

    Required keys: ``img`` (H, W, 3) uint8 or float32. Modified: ``img`` (uint8).

    Args:
        blur_prob (float): chance of a Gaussian blur.
        blur_sigma (tuple[float, float]): blur sigma range in px.
        noise_prob (float): chance of per-pixel Gaussian noise.
        noise_std (tuple[float, float]): noise std range in grey levels.
        jpeg_prob (float): chance of a JPEG re-compression.
        jpeg_quality (tuple[int, int]): JPEG quality range (inclusive).
    """

    def __init__(self, blur_prob: float = 0.3, blur_sigma: tuple[float, float] = (0.5, 2.0),
                 noise_prob: float = 0.3, noise_std: tuple[float, float] = (3.0, 15.0),
                 jpeg_prob: float = 0.3, jpeg_quality: tuple[int, int] = (15, 90)) -> None:
        for name, prob in (('blur_prob', blur_prob), ('noise_prob', noise_prob),
                           ('jpeg_prob', jpeg_prob)):
            if not 0 <= prob <= 1:
                raise InputError(f'CaptureDegradation: {name} must be in [0, 1], got {prob}')
        for name, (low, high) in (('blur_sigma', blur_sigma), ('noise_std', noise_std),
                                  ('jpeg_quality', jpeg_quality)):
            if not 0 <= low <= high:
                raise InputError(f'CaptureDegradation: {name} must be a range 0 <= low <= high, '
                                 f'got {(low, high)}')
        if jpeg_quality[1] > 100:
            raise InputError(f'CaptureDegradation: jpeg_quality must be at most 100, got '
                             f'{jpeg_quality}')
        self.blur_prob, self.blur_sigma = blur_prob, tuple(blur_sigma)
        self.noise_prob, self.noise_std = noise_prob, tuple(noise_std)
        self.jpeg_prob, self.jpeg_quality = jpeg_prob, tuple(jpeg_quality)

    def transform(self, results: dict) -> dict:
        image = results['img'].astype(np.float32)
        if np.random.rand() < self.blur_prob:
            image = cv2.GaussianBlur(image, (0, 0), float(np.random.uniform(*self.blur_sigma)))
        if np.random.rand() < self.noise_prob:
            std = np.random.uniform(*self.noise_std)
            image = image + np.random.normal(0, std, image.shape).astype(np.float32)
        image = np.clip(np.rint(image), 0, 255).astype(np.uint8)
        if np.random.rand() < self.jpeg_prob:
            quality = int(np.random.randint(self.jpeg_quality[0], self.jpeg_quality[1] + 1))
            ok, buffer = cv2.imencode('.jpg', image, [cv2.IMWRITE_JPEG_QUALITY, quality])
            if ok:
                image = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED).reshape(image.shape)
        results['img'] = image
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(blur_prob={self.blur_prob}, blur_sigma={self.blur_sigma}, '
                f'noise_prob={self.noise_prob}, noise_std={self.noise_std}, '
                f'jpeg_prob={self.jpeg_prob}, jpeg_quality={self.jpeg_quality})')
