"""An exported ONNX detector as an mmengine model, so mmengine's test loop, mmdet's
inferencer and classicdet's tools run it as they run a checkpoint."""
from __future__ import annotations

import os.path as osp

import numpy as np
import torch
from mmdet.models.utils import samplelist_boxtype2tensor
from mmdet.registry import MODELS
from mmengine.model import BaseModel
from mmengine.structures import InstanceData

from custom.core.errors import InputError

from .onnx_export import read_sidecar

__all__ = ['OnnxRuntimeDetector']


@MODELS.register_module()
class OnnxRuntimeDetector(BaseModel):
    """A detector exported by ``tools/deploy/export_onnx.py``, run by onnxruntime.

    ``test_step`` takes what mmdet's test pipeline packs (``inputs``: per image a (3, h, w)
    uint8 resized image; ``data_samples`` with ``ori_shape``) and returns the data samples
    with ``pred_instances`` (``bboxes`` (K, 4) in original-image pixels, ``scores`` (K,),
    ``labels`` (K,)), as a detector's ``test_step`` does. The graph normalises and pads
    itself, so there is no data preprocessor. Images run one at a time.

    Args:
        onnx_file (str): The exported ``.onnx``; its sidecar ``.json`` lies beside it.
        device (str): 'cpu', or 'cuda'/'cuda:N' to use onnxruntime's CUDA provider when the
            installed onnxruntime has it (else the CPU). Defaults to 'cpu'.
        num_threads (int, optional): onnxruntime's intra-op threads; default: its own
            choice (one per physical core).
        test_cfg (dict, optional): The config's ``model.test_cfg``, read by the parts that
            run around the detector (sliced inference reads ``slicing`` and
            ``rcnn.max_per_img``); the graph's own settings were fixed at export.
    """

    def __init__(self, onnx_file: str, device: str = 'cpu', num_threads: int | None = None,
                 test_cfg: dict | None = None, data_preprocessor=None,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.test_cfg = test_cfg
        if not osp.isfile(onnx_file):
            raise InputError(f'{onnx_file}: no such ONNX file')
        self.onnx_file = onnx_file
        self.meta = read_sidecar(onnx_file)
        self.dataset_meta = dict(classes=tuple(self.meta['classes']))
        self.fixed_size = self.meta.get('input_size')
        self.session = _session(onnx_file, device, num_threads)

    @property
    def providers(self) -> list[str]:
        """The onnxruntime execution providers in use, first preferred."""
        return self.session.get_providers()

    def forward(self, *args, **kwargs):
        raise NotImplementedError('an ONNX detector only predicts: call test_step')

    def test_step(self, data: dict) -> list:
        """Detections for each packed image (see the class docstring)."""
        samples = data['data_samples']
        # What a detector's data preprocessor does (boxtype2tensor): ground-truth boxes as
        # plain tensors, which the visualization hook draws.
        samplelist_boxtype2tensor(samples)
        for image, sample in zip(data['inputs'], samples):
            boxes, scores, labels = self.predict_array(
                image.numpy()[None].astype(np.float32), sample.ori_shape[:2])
            sample.pred_instances = InstanceData(
                bboxes=torch.from_numpy(boxes), scores=torch.from_numpy(scores),
                labels=torch.from_numpy(labels))
        return samples

    val_step = test_step

    def predict_array(self, image: np.ndarray, orig_size) -> tuple[np.ndarray, ...]:
        """Run the graph on one resized image.

        Args:
            image (ndarray): (1, 3, h, w) float32 pixel values, as the test pipeline packs.
            orig_size (tuple[int, int]): the original image's (H, W).

        Returns:
            tuple[ndarray, ndarray, ndarray]: boxes (K, 4), scores (K,), labels (K,) int64.

        Raises:
            InputError: The graph was exported for another input size.
        """
        if self.fixed_size and list(image.shape[-2:]) != list(self.fixed_size):
            raise InputError(
                f'{self.onnx_file}: exported for {self.fixed_size[0]}x{self.fixed_size[1]} '
                f'inputs, but the test pipeline gives {image.shape[-2]}x{image.shape[-1]}; '
                'export with --dynamic')
        boxes, scores, labels = self.session.run(None, dict(
            image=image, orig_size=np.asarray(orig_size, dtype=np.float32)))
        return boxes, scores, labels


def _session(onnx_file: str, device: str, num_threads: int | None):
    """An onnxruntime session: CUDA first when asked for and available, then the CPU."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    if num_threads:
        options.intra_op_num_threads = num_threads
    options.log_severity_level = 3  # errors only: not every node has a CUDA kernel
    # onnxruntime's idle threads otherwise spin after each run, taking the cores from what
    # runs between images (data loading, drawing, another model).
    options.add_session_config_entry('session.intra_op.allow_spinning', '0')
    providers = ['CPUExecutionProvider']
    if str(device).startswith('cuda') and 'CUDAExecutionProvider' in ort.get_available_providers():
        index = str(device).partition(':')[2] or '0'
        providers.insert(0, ('CUDAExecutionProvider', dict(device_id=int(index))))
    try:
        return ort.InferenceSession(onnx_file, sess_options=options, providers=providers)
    except Exception as err:  # onnxruntime raises its own exception types per failure
        raise InputError(f'{onnx_file}: onnxruntime cannot load it '
                       f'({str(err).splitlines()[0][:200]})') from None
