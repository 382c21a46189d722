"""The logic behind ``tools/deploy/export_onnx.py`` and behind running an exported ``.onnx``
where a checkpoint goes (``tools/test.py``, ``tools/infer.py``, :class:`Detector`)."""
from __future__ import annotations

import os.path as osp

from mmengine.config import Config

from custom.core.build_detector import build_detector
from custom.core.checkpoints import check_class_count, config_num_classes
from custom.core.errors import InputError
from custom.deploy import DEFAULT_OPSET, check_exportable, export_onnx
from custom.deploy.onnx_export import check_sidecar_is_ours, read_sidecar, sidecar_path

from .config import ensure_writable_dir, load_config
from .limits import check_input_size

__all__ = ['export_detector', 'is_onnx', 'onnx_model_config', 'use_onnx_model', 'example_size']


def is_onnx(path: str) -> bool:
    """Whether a model file is an exported ONNX graph (by its extension)."""
    return str(path).lower().endswith('.onnx')


def example_size(cfg: Config) -> tuple[int, int]:
    """(h, w) the test pipeline's ``Resize`` aims at: the traced example's size."""
    for transform in cfg.test_dataloader.dataset.pipeline:
        if transform['type'].split('.')[-1] == 'Resize' and 'scale' in transform:
            scale = transform['scale']
            w, h = (scale, scale) if isinstance(scale, int) else scale
            return (min(w, h), max(w, h)) if transform.get('keep_ratio') else (h, w)
    return (800, 1333)


def export_detector(config: str, checkpoint: str, out: str, opset: int = DEFAULT_OPSET,
                    input_size: tuple[int, int] | None = None,
                    cfg_options: dict | None = None) -> dict:
    """Export a config's detector with a checkpoint's weights to ``out`` (ONNX).

    Args:
        config (str): Config file.
        checkpoint (str): Checkpoint file (loaded strictly, weights only).
        out (str): The ``.onnx`` to write; its sidecar ``.json`` goes beside it.
        opset (int): ONNX opset (16 or newer). Defaults to 17.
        input_size (tuple[int, int], optional): (h, w): a graph for resized images of
            exactly this size. Default: any height and width (dynamic).
        cfg_options (dict, optional): Config overrides (``--cfg-options``); the graph keeps
            the ``model.test_cfg`` it is exported with.

    Returns:
        dict: The sidecar's content.

    Raises:
        InputError: Bad option, unreadable file, or a config part ONNX cannot express.
    """
    if not is_onnx(out):
        raise InputError(f'{out}: the output file must end in .onnx')
    if input_size is not None:
        check_input_size(input_size)
    ensure_writable_dir(osp.dirname(osp.abspath(out)))
    check_sidecar_is_ours(out)
    cfg = load_config(config, cfg_options)
    detector = build_detector(cfg, checkpoint, 'cpu')
    check_exportable(detector, cfg)
    size = tuple(input_size) if input_size is not None else example_size(cfg)
    meta = export_onnx(detector, out, size, opset=opset, dynamic=input_size is None)
    return meta


def use_onnx_model(cfg: Config, onnx_file: str, device: str = 'cpu',
                   launcher: str = 'none') -> Config:
    """Make ``cfg``'s model the exported graph run by onnxruntime (in place).

    The data, evaluator, visualisation and slicing settings stay the config's; nothing is
    loaded from a checkpoint.

    Raises:
        InputError: No such file, or a distributed launcher (the graph has no parameters for
            mmengine's distributed wrapper; one process runs it).
    """
    if not osp.isfile(onnx_file):
        raise InputError(f'{onnx_file}: no such ONNX file')
    if launcher != 'none':
        raise InputError(f'--launcher {launcher}: an .onnx model runs in one process; '
                       'run tools/test.py without a launcher')
    cfg.model = onnx_model_config(cfg, onnx_file, device)
    cfg.load_from = None
    return cfg


def onnx_model_config(cfg: Config, onnx_file: str, device: str = 'cpu') -> dict:
    """The model dict of an exported graph run by onnxruntime, keeping ``cfg``'s
    ``model.test_cfg`` (sliced inference reads it).

    Raises:
        InputError: the sidecar names another number of classes than the config's model has.
    """
    if osp.isfile(onnx_file):
        check_class_count(read_sidecar(onnx_file).get('classes'),
                          config_num_classes(cfg.model), sidecar_path(onnx_file))
    return dict(type='OnnxRuntimeDetector', onnx_file=onnx_file, device=device,
                test_cfg=cfg.model.get('test_cfg'))
