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
from mmengine.config import Config

from custom.core.build_detector import build_detector
from custom.core.errors import InputError
from custom.datasets.image_reading import read_image
from custom.inference import SliceSettings, draw_detections, sliced_predict, tile_pipeline
from custom.inference.slicing import max_detections

from .config import load_config, resolve_device
from .limits import check_score_thr
from .onnx_models import is_onnx, onnx_model_config


class ClassicDetInferencer(DetInferencer):
    """``DetInferencer`` whose model comes from :func:`custom.core.build_detector`:
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
        config (str | Config): config file, or a loaded config.
        checkpoint (str): checkpoint file (loaded with the safe, weights-only loader), or
            an exported ``.onnx`` (run by onnxruntime; the config gives its data pipeline).
        device (str, optional): 'cpu', 'cuda' or 'cuda:N'; default: CUDA when present.
        slice_size (int | tuple, optional): Sliced inference (``custom.inference.slicing``):
            tile side in pixels, or (height, width); the keywords below complete it. Give
            either these keywords or ``slicing``.
        slice_overlap (float): Fraction a tile shares with its neighbour. Defaults to 0.2.
        full_pass (bool): With slicing, also detect on the whole image. Defaults to True.
        slice_merge (str): 'ios', 'nms' or 'nmm', how tiles' detections merge. Defaults
            to 'ios'.
        max_tiles (int): Most tiles one image may be cut into. Defaults to 10,000.
        slicing (SliceSettings, optional): The slicing settings as one object (what
            ``tools/infer.py`` passes). Default: from ``slice_size`` if given, else the
            config's ``model.test_cfg.slicing`` if it has one, else no slicing.

    Raises:
        InputError: A bad slicing keyword (named as the keyword), config or checkpoint.
    """

    # How the keywords above are named in errors, by the settings' own field names.
    KEYWORDS = dict(size='slice_size', overlap='slice_overlap', full_pass='full_pass',
                    merge='slice_merge', max_tiles='max_tiles')

    def __init__(self, config: str | Config, checkpoint: str, device: str | None = None,
                 slice_size: int | tuple[int, int] | None = None, slice_overlap: float = 0.2,
                 full_pass: bool = True, slice_merge: str = 'ios',
                 max_tiles: int = 10_000, *, slicing: SliceSettings | None = None) -> None:
        cfg = config if isinstance(config, Config) else load_config(config)
        self.cfg = cfg
        self.checkpoint = checkpoint
        self.device = resolve_device(device)
        if slicing is not None and slice_size is not None:
            raise InputError('slicing: give either slicing=SliceSettings(...) or slice_size, '
                             'not both')
        if slicing is None and slice_size is not None:
            try:
                slicing = SliceSettings(slice_size, slice_overlap, full_pass, slice_merge,
                                        max_tiles=max_tiles)
            except InputError as err:
                raise err.renamed(self.KEYWORDS.get(err.key, f'slice_{err.key}')) from None
        self.slicing = slicing if slicing is not None else SliceSettings.from_config(cfg)
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
        if self.slicing is None:
            return self.predict_batch([image], score_thr, return_vis)[0]
        pred = sliced_predict(self.inferencer.model, image, self.tile_pipeline, self.slicing,
                              max_per_img=max_detections(self.inferencer.model))
        return self._as_result(pred, image, score_thr, return_vis, num_tiles=pred.num_tiles)

    def predict_batch(self, images: list[np.ndarray], score_thr: float = 0.0,
                      return_vis: bool = False) -> list[dict[str, Any]]:
        """:meth:`predict` on several BGR uint8 arrays, in one forward pass when they can be.

        Images of one size give the detections they give one by one; images of different
        sizes are padded to the largest, which can change a few proposals near the padding
        (``tools/infer.py --batch-size`` groups images by size for that reason). With
        slicing, the tiles of each image are what is batched, one image after the other.

        Returns:
            list[dict]: One :meth:`predict` result per image, in order.
        """
        check_score_thr(score_thr, 'score_thr')
        if self.slicing is not None:
            return [self.predict(image, score_thr, return_vis) for image in images]
        out = self.inferencer(list(images), batch_size=len(images), no_save_vis=True,
                              return_datasamples=True)
        return [self._as_result(sample.pred_instances, image, score_thr, return_vis)
                for sample, image in zip(out['predictions'], images)]

    def _as_result(self, pred, image: np.ndarray, score_thr: float, return_vis: bool,
                   **extra) -> dict[str, Any]:
        keep = pred.scores >= score_thr
        labels = pred.labels[keep].cpu().numpy().astype(int)
        result = dict(boxes=pred.bboxes[keep].cpu().numpy(),
                      scores=pred.scores[keep].cpu().numpy(), labels=labels,
                      names=[self.class_name(i) for i in labels], **extra)
        if return_vis:
            result['vis'] = draw_detections(self.inferencer.visualizer, image, pred, score_thr)
        return result

    def stages(self, image: str | np.ndarray, windows_config: str | None = None,
               saliency_top: int = 6):
        """Every stage of the detector on one image, recorded with the model's own modules:
        backbone and FPN maps, anchors, RPN candidates and proposals, the RoI head's
        class-wise boxes before and after NMS, detections with Grad-CAM maps, and the
        course's windows. ``custom.evaluation.detection_stages.write_stages`` draws them.

        Args:
            image (str | ndarray): a file path or a BGR uint8 array (H, W, 3).
            windows_config (str, optional): a config whose ``proposal_generators`` give the
                course's windows (default: this config's, else windows sized to the image).
            saliency_top (int): Grad-CAM maps for this many best detections. Defaults to 6.

        Returns:
            DetectionStages: boxes in network-input pixels (``scale_factor`` maps back).
        """
        from custom.evaluation.detection_stages import collect_stages
        if is_onnx(self.checkpoint):
            raise InputError(f'{self.checkpoint}: the stages need the PyTorch model; an '
                           'exported .onnx hides them')
        if isinstance(image, str):
            image = read_image(image)
        windows_cfg = load_config(windows_config) if windows_config else None
        return collect_stages(self.inferencer.model, self.cfg, image, windows_cfg=windows_cfg,
                              saliency_top=saliency_top)

    def class_name(self, label: int) -> str:
        return self.classes[label] if label < len(self.classes) else str(label)


