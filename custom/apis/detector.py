"""Python API for inference, built on mmdet's ``DetInferencer``.

Example:
    >>> from custom.apis import Detector  # doctest: +SKIP
    >>> det = Detector('configs/digits/faster-rcnn_r18_fpn_540it_digits.py', 'epoch_12.pth')
    >>> det.predict('digits.png')['boxes']  # (K, 4) x1y1x2y2 in image pixels
"""
from __future__ import annotations

from typing import Any

import numpy as np
from mmdet.apis import DetInferencer
from mmdet.structures import DetDataSample

from custom.datasets.image_reading import read_image
from custom.engine.sliced_inference import (
    SliceSettings,
    max_detections,
    sliced_predict,
    tile_pipeline,
)
from custom.evaluation.build_detector import build_detector

from .config import load_config, resolve_device
from .deploy import is_onnx, onnx_model_config
from .limits import check_score_thr


class ClassicDetInferencer(DetInferencer):
    """``DetInferencer`` whose model comes from :func:`custom.evaluation.build_detector`:
    the checkpoint loads strictly after its keys and shapes are checked (mmdet's inferencer
    loads with ``strict=False`` and only warns, so a wrong checkpoint would give a detector
    that silently predicts noise), and the model is prepared as ``tools/test.py`` prepares it
    when the config's ``custom_hooks`` ask for it (channels-last weights, batch norms folded
    into convolutions). An exported ``.onnx`` as the weights runs in onnxruntime
    (:class:`custom.deploy.OnnxRuntimeDetector`)."""

    def _get_transform_idx(self, pipeline_cfg, name) -> int:
        # The configs load images with CheckedLoadImageFromFile; the inferencer replaces the
        # loading step with its array loader (Detector passes images read by read_image).
        if isinstance(name, tuple) and 'LoadImageFromFile' in name:
            name = (*name, 'CheckedLoadImageFromFile')
        return super()._get_transform_idx(pipeline_cfg, name)

    def _init_model(self, cfg, weights, device: str = 'cpu'):
        if is_onnx(weights):
            from mmdet.registry import MODELS
            return MODELS.build(onnx_model_config(cfg, weights, device))
        return build_detector(cfg, weights, device, test_time_hooks=True)


class Detector:
    """Load a config and checkpoint once; predict on images.

    Args:
        config (str): config file.
        checkpoint (str): checkpoint file (loaded with the safe, weights-only loader), or
            an exported ``.onnx`` (run by onnxruntime; the config gives its data pipeline).
        device (str, optional): 'cpu', 'cuda' or 'cuda:N'; default: CUDA when present.
        slice_size (int | tuple, optional): Sliced inference (``custom.engine.sliced_inference``):
            tile side in pixels, or (height, width). Default: the config's
            ``model.test_cfg.slicing`` if it has one, else no slicing.
        slice_overlap (float): Fraction a tile shares with its neighbour. Defaults to 0.2.
        full_pass (bool): With slicing, also detect on the whole image. Defaults to True.
        slice_merge (str): 'ios' or 'nms', how tiles' detections merge. Defaults to 'ios'.
        max_tiles (int): Most tiles one image may be cut into. Defaults to 10,000.
    """

    def __init__(self, config: str, checkpoint: str, device: str | None = None,
                 slice_size: int | tuple[int, int] | None = None, slice_overlap: float = 0.2,
                 full_pass: bool = True, slice_merge: str = 'ios',
                 max_tiles: int = 10_000) -> None:
        cfg = load_config(config)
        self.device = resolve_device(device)
        if slice_size is not None:
            self.slicing = SliceSettings.from_options(slice_size, slice_overlap, full_pass,
                                                      slice_merge, max_tiles=max_tiles,
                                                      where='slice_{}')
        else:
            self.slicing = SliceSettings.from_config(cfg)
        self.inferencer = ClassicDetInferencer(
            model=cfg, weights=checkpoint, device=self.device, show_progress=False)
        self.classes = tuple(self.inferencer.model.dataset_meta.get('classes', ()))
        if self.slicing is not None:
            self.tile_pipeline = tile_pipeline(cfg.test_dataloader.dataset.pipeline)

    def predict(self, image: str | np.ndarray, score_thr: float = 0.0,
                return_vis: bool = False) -> dict[str, Any]:
        """Detect objects in one image (tile by tile when slicing is set).

        Args:
            image (str | ndarray): a file path or a BGR uint8 array (H, W, 3).
            score_thr (float): drop detections below this score. Defaults to 0.
            return_vis (bool): also return an RGB drawing of the detections.

        Returns:
            dict: ``boxes`` (K, 4) float x1y1x2y2 pixels, ``scores`` (K,), ``labels`` (K,)
            int, ``names`` list of K class names; ``vis`` (H, W, 3) RGB when asked; with
            slicing, ``num_tiles`` (detector runs, the full pass included).

        Raises:
            InputError: ``score_thr`` outside [0, 1], or an image the reader refuses.
        """
        check_score_thr(score_thr, 'score_thr')
        if isinstance(image, str):
            image = read_image(image)
        if self.slicing is not None:
            pred = sliced_predict(self.inferencer.model, image, self.tile_pipeline,
                                  self.slicing, max_per_img=max_detections(
                                      self.inferencer.model))
            vis = None
            if return_vis:
                sample = DetDataSample(pred_instances=pred)
                vis = self.inferencer.visualize([image], [sample], return_vis=True,
                                                no_save_vis=True, pred_score_thr=score_thr)[0]
            extra = dict(num_tiles=pred.num_tiles)
        else:
            out = self.inferencer(image, return_vis=return_vis, no_save_vis=True,
                                  pred_score_thr=score_thr, return_datasamples=True)
            pred = out['predictions'][0].pred_instances
            vis = out['visualization'][0] if return_vis else None
            extra = {}
        keep = pred.scores >= score_thr
        boxes = pred.bboxes[keep].cpu().numpy()
        scores = pred.scores[keep].cpu().numpy()
        labels = pred.labels[keep].cpu().numpy().astype(int)
        result = dict(boxes=boxes, scores=scores, labels=labels,
                      names=[self.class_name(i) for i in labels], **extra)
        if return_vis:
            result['vis'] = vis
        return result

    def class_name(self, label: int) -> str:
        return self.classes[label] if label < len(self.classes) else str(label)

