"""Load an image file in a data pipeline through classicdet's checked reader."""
from __future__ import annotations

import numpy as np
from mmcv.transforms import LoadImageFromFile
from mmdet.registry import TRANSFORMS
from mmengine import fileio

from .image_reading import DEFAULT_MAX_PIXELS, DEFAULT_MIN_SIDE, decode_image


@TRANSFORMS.register_module()
class CheckedLoadImageFromFile(LoadImageFromFile):
    """mmcv's ``LoadImageFromFile`` reading through
    :func:`custom.datasets.image_reading.decode_image`: a decompression bomb is refused
    before decoding, a truncated PNG/JPEG or an image with a side under ``min_side`` is
    refused, and every error names the file
    (:class:`custom.core.errors.InputError`).

    Required keys: ``img_path``. Added: ``img``, ``img_shape``, ``ori_shape``.

    Args:
        max_pixels (int, optional): Most pixels (width x height) accepted; None: no limit.
            Defaults to PIL's limit, 89,478,485.
        min_side (int): Shortest side accepted, in pixels. Defaults to 8.
        **kwargs: as for mmcv's ``LoadImageFromFile``.
    """

    def __init__(self, max_pixels: int | None = DEFAULT_MAX_PIXELS,
                 min_side: int = DEFAULT_MIN_SIDE, **kwargs) -> None:
        super().__init__(**kwargs)
        self.max_pixels = max_pixels
        self.min_side = min_side

    def transform(self, results: dict) -> dict | None:
        filename = results['img_path']
        try:
            if self.file_client_args is not None:
                content = fileio.FileClient.infer_client(self.file_client_args,
                                                         filename).get(filename)
            else:
                content = fileio.get(filename, backend_args=self.backend_args)
            img = decode_image(content, str(filename), flag=self.color_type,
                               backend=self.imdecode_backend, max_pixels=self.max_pixels,
                               min_side=self.min_side)
        except Exception:
            if self.ignore_empty:
                return None
            raise
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return (super().__repr__()[:-1] + f', max_pixels={self.max_pixels}, '
                f'min_side={self.min_side})')
