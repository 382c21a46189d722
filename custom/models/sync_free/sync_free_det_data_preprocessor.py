"""Detection data preprocessor whose BGR-to-RGB flip does not wait for the GPU.

Shape shorthand: B = images, H x W = an image's size.
"""
from typing import Optional

import torch
from mmdet.models.data_preprocessors import DetDataPreprocessor
from mmdet.registry import MODELS
from mmengine.utils import is_seq_of


@MODELS.register_module()
class SyncFreeDetDataPreprocessor(DetDataPreprocessor):
    """mmdet's ``DetDataPreprocessor``, its channel flip done without an index list.

    mmengine flips BGR to RGB by indexing each image with the Python list ``[2, 1, 0]``: for a
    CUDA image the list becomes an index tensor copied from pageable host memory, a copy that
    PyTorch ends with a stream synchronisation, so the host waits for all queued GPU work
    once per image of every step. Here three-channel images are flipped with ``flip`` before
    mmdet's preprocessing runs (with its own flip off), which gives the same tensors (tested).

    Same arguments as ``DetDataPreprocessor``.
    """

    def forward(self, data: dict, training: bool = False) -> dict:
        """mmdet's preprocessing (cast, flip, normalise, pad, batch augmentations).

        Args:
            data (dict): ``inputs``: (3, H, W) images or a (B, 3, H, W) batch, and
                ``data_samples``.
            training (bool): Whether the batch is for training.

        Returns:
            dict: ``inputs`` (B, 3, H', W') float and ``data_samples``, as mmdet's.
        """
        flipped = self._flipped(data['inputs']) if self._channel_conversion else None
        if flipped is None:
            return super().forward(data, training)
        self._channel_conversion = False
        try:
            return super().forward(dict(data, inputs=flipped), training)
        finally:
            self._channel_conversion = True

    @staticmethod
    def _flipped(inputs) -> Optional[object]:
        """Three-channel images with their channels reversed, or None for other inputs
        (which mmdet's own flip handles)."""
        if is_seq_of(inputs, torch.Tensor) and all(
                image.dim() == 3 and image.size(0) == 3 for image in inputs):
            return [image.flip(0) for image in inputs]
        if isinstance(inputs, torch.Tensor) and inputs.dim() == 4 and inputs.size(1) == 3:
            return inputs.flip(1)
        return None
