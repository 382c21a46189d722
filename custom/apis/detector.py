"""Python API for inference, built on mmdet's ``DetInferencer``.

Example:
    >>> from custom.apis import Detector  # doctest: +SKIP
    >>> det = Detector('configs/digits/faster-rcnn_r18_fpn_540it_digits.py', 'epoch_12.pth')
    >>> det.predict('digits.png')['boxes']  # (K, 4) x1y1x2y2 in image pixels
"""
from __future__ import annotations

import os.path as osp
from typing import Any

import cv2
import numpy as np
from mmdet.apis import DetInferencer

from ..engine import apply_test_time_hooks
from ..utils.safe_load import load_checkpoint_safely
from .checkpoint_check import mismatched_keys, state_dict_of
from .cli import CLIError
from .config import load_config, resolve_device


class ClassicDetInferencer(DetInferencer):
    """``DetInferencer`` that refuses a checkpoint of another architecture, and prepares the
    model as ``tools/test.py`` does when the config's ``custom_hooks`` ask for it
    (channels-last weights, batch norms folded into convolutions).

    mmdet's inferencer loads with ``strict=False`` and only warns about mismatched keys, so a
    wrong checkpoint gives a detector that silently predicts noise.
    """

    def __init__(self, *args, **kwargs) -> None:
        self.checkpoint_path = kwargs.get('weights') or 'checkpoint'
        super().__init__(*args, **kwargs)

    def _init_model(self, cfg, weights, device: str = 'cpu'):
        return apply_test_time_hooks(super()._init_model(cfg, weights, device), cfg)

    def _load_weights_to_model(self, model, checkpoint, cfg) -> None:
        if checkpoint is not None:
            problem = check_loaded_state(model, checkpoint)
            if problem:
                raise CLIError(f'{self.checkpoint_path}: {problem}')
        super()._load_weights_to_model(model, checkpoint, cfg)


def check_loaded_state(model, checkpoint: dict) -> str:
    """An error message when ``checkpoint`` does not fit ``model``, else ''."""
    state = state_dict_of(checkpoint, 'checkpoint')
    missing, unexpected, shapes = mismatched_keys(model, state)
    if missing or unexpected or shapes:
        return (f'checkpoint of another architecture: {len(missing)} keys missing '
                f'(e.g. {missing[:3]}), {len(unexpected)} unexpected (e.g. {unexpected[:3]}), '
                f'{len(shapes)} shapes differ (e.g. {shapes[:3]})')
    return ''


class Detector:
    """Load a config and checkpoint once; predict on images.

    Args:
        config (str): config file.
        checkpoint (str): checkpoint file (loaded with the safe, weights-only loader).
        device (str, optional): 'cpu', 'cuda' or 'cuda:N'; default: CUDA when present.
    """

    def __init__(self, config: str, checkpoint: str, device: str | None = None) -> None:
        cfg = load_config(config)
        self.device = resolve_device(device)
        if not osp.isfile(checkpoint):
            raise CLIError(f'{checkpoint}: no such checkpoint file')
        # Load once through the safe loader first, so a bad file is named with its problem.
        try:
            load_checkpoint_safely(checkpoint)
        except Exception as err:
            raise CLIError(str(err)) from err
        self.inferencer = ClassicDetInferencer(
            model=cfg, weights=checkpoint, device=self.device, show_progress=False)
        self.classes = tuple(self.inferencer.model.dataset_meta.get('classes', ()))

    def predict(self, image: str | np.ndarray, score_thr: float = 0.0,
                return_vis: bool = False) -> dict[str, Any]:
        """Detect objects in one image.

        Args:
            image (str | ndarray): a file path or a BGR uint8 array (H, W, 3).
            score_thr (float): drop detections below this score. Defaults to 0.
            return_vis (bool): also return an RGB drawing of the detections.

        Returns:
            dict: ``boxes`` (K, 4) float x1y1x2y2 pixels, ``scores`` (K,), ``labels`` (K,)
            int, ``names`` list of K class names; ``vis`` (H, W, 3) RGB when asked.
        """
        if isinstance(image, str):
            image = read_image(image)
        out = self.inferencer(image, return_vis=return_vis, no_save_vis=True,
                              pred_score_thr=score_thr, return_datasamples=True)
        pred = out['predictions'][0].pred_instances
        keep = pred.scores >= score_thr
        boxes = pred.bboxes[keep].cpu().numpy()
        scores = pred.scores[keep].cpu().numpy()
        labels = pred.labels[keep].cpu().numpy().astype(int)
        result = dict(boxes=boxes, scores=scores, labels=labels,
                      names=[self.class_name(i) for i in labels])
        if return_vis:
            result['vis'] = out['visualization'][0]
        return result

    def class_name(self, label: int) -> str:
        return self.classes[label] if label < len(self.classes) else str(label)


def read_image(path: str) -> np.ndarray:
    """Read an image as BGR uint8 (H, W, 3); grayscale, RGBA and 16-bit are converted.

    Raises:
        CLIError: the file is missing, unreadable or not an image.
    """
    if not osp.isfile(path):
        raise CLIError(f'{path}: no such image file')
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise CLIError(f'{path}: unreadable or corrupt image')
    return img
