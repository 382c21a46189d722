"""Write a detector as one ONNX file, checked, with a JSON of what a runtime needs beside it.

The graph is :class:`FasterRCNNGraph` traced by PyTorch's TorchScript-based exporter, whose
symbolic functions turn torchvision's ``nms`` and ``roi_align`` into ONNX's
``NonMaxSuppression`` and ``RoiAlign`` (the ``torch.export``-based exporter does not trace
torchvision's detection ops reliably yet). Opset 16 is the first whose ``RoiAlign`` has
``coordinate_transformation_mode='half_pixel'`` (RoIAlign with ``aligned=True``).
"""
from __future__ import annotations

import json
import os
import os.path as osp
import tempfile
import warnings

import torch
from torch import nn

from custom.core.errors import InputError
from custom.engine.atomic_local_backend import current_umask

from .faster_rcnn_graph import FasterRCNNGraph

__all__ = ['MIN_OPSET', 'DEFAULT_OPSET', 'export_onnx', 'sidecar_path', 'read_sidecar']

MIN_OPSET = 16
DEFAULT_OPSET = 17
INPUT_NAMES = ('image', 'orig_size')
OUTPUT_NAMES = ('boxes', 'scores', 'labels')


def sidecar_path(onnx_path: str) -> str:
    """``model.onnx`` -> ``model.json``: the file of class names and input layout."""
    return osp.splitext(onnx_path)[0] + '.json'


def export_onnx(detector: nn.Module, out: str, example_size: tuple[int, int],
                opset: int = DEFAULT_OPSET, dynamic: bool = True) -> dict:
    """Trace ``detector`` into ``out`` (ONNX), check it, and write its sidecar JSON.

    Args:
        detector (nn.Module): A Faster R-CNN-type detector on the CPU in eval mode, with
            ``dataset_meta`` (class names).
        out (str): The ``.onnx`` file to write (atomically: a failed export leaves none).
        example_size (tuple[int, int]): (h, w) of the example input that is traced; with
            ``dynamic=False`` the only size the graph takes.
        opset (int): ONNX opset, at least :data:`MIN_OPSET`. Defaults to 17.
        dynamic (bool): Height and width are graph inputs of any size. Defaults to True.

    Returns:
        dict: What was written to the sidecar JSON.

    Raises:
        InputError: The opset is too old, or a part of the detector cannot be expressed.
    """
    import onnx
    check_sidecar_is_ours(out)
    if opset < MIN_OPSET:
        raise InputError(f'--opset {opset}: RoIAlign with aligned=True needs opset '
                       f'{MIN_OPSET} or newer')
    graph = FasterRCNNGraph(detector).eval()
    h, w = example_size
    image = torch.full((1, 3, h, w), 114.0)  # mid grey: anchors, not detections, get traced
    orig_size = torch.tensor([float(h), float(w)])
    axes = dict(image={2: 'height', 3: 'width'}, boxes={0: 'detections'},
                scores={0: 'detections'}, labels={0: 'detections'})
    if not dynamic:
        axes = {name: dims for name, dims in axes.items() if name != 'image'}
    folder = osp.dirname(osp.abspath(out))
    fd, tmp = tempfile.mkstemp(suffix='.onnx', dir=folder)
    os.close(fd)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            # Tracer warnings name Python values read off tensors; the graph's sizes stay
            # tensors, and the tests run the graph at other sizes than the traced one.
            warnings.simplefilter('ignore')
            torch.onnx.export(graph, (image, orig_size), tmp, dynamo=False,
                              opset_version=opset, input_names=list(INPUT_NAMES),
                              output_names=list(OUTPUT_NAMES), dynamic_axes=axes)
        onnx.checker.check_model(tmp, full_check=True)
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp's 0600 is not what the user asked
        os.replace(tmp, out)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
    pre = detector.data_preprocessor
    meta = dict(
        format=SIDECAR_FORMAT,
        opset=opset,
        classes=list(getattr(detector, 'dataset_meta', {}).get('classes', [])),
        inputs=dict(
            image=dict(shape=[1, 3, 'height' if dynamic else h, 'width' if dynamic else w],
                       dtype='float32',
                       layout='NCHW pixel values 0-255 of the resized image, channels in '
                              'the order the test pipeline loads them (BGR)'),
            orig_size=dict(shape=[2], dtype='float32',
                           layout='original image (height, width); boxes are scaled to it')),
        outputs=dict(boxes='(K, 4) float32 x1, y1, x2, y2 in original-image pixels',
                     scores='(K,) float32, best first',
                     labels='(K,) int64 index into classes'),
        # The graph does these; listed for runtimes that must feed it.
        bgr_to_rgb=graph.bgr_to_rgb,
        mean=[round(float(v), 6) for v in pre.mean.flatten()],
        std=[round(float(v), 6) for v in pre.std.flatten()],
        pad_size_divisor=graph.pad_divisor,
        dynamic=dynamic,
        input_size=None if dynamic else [h, w],
    )
    with open(sidecar_path(out), 'w') as f:
        json.dump(meta, f, indent=1)
    return meta


SIDECAR_FORMAT = 'classicdet Faster R-CNN ONNX graph'


def check_sidecar_is_ours(onnx_path: str) -> None:
    """Refuse to export where the sidecar ``.json`` would replace a file that is not an
    earlier export's sidecar (an annotation file called ``X.json`` beside ``X.onnx``).

    Raises:
        InputError: ``'<X.json>: exists and is not ...'``.
    """
    path = sidecar_path(onnx_path)
    if not osp.exists(path):
        return
    try:
        with open(path, encoding='utf-8') as f:
            ours = json.load(f).get('format') == SIDECAR_FORMAT
    except (OSError, ValueError, AttributeError):
        ours = False
    if not ours:
        raise InputError(f'{path}: exists and is not an ONNX sidecar of classicdet; exporting '
                       f'{osp.basename(onnx_path)} would overwrite it (move it, or choose '
                       'another output name)')


def read_sidecar(onnx_path: str) -> dict:
    """The sidecar JSON of an exported model.

    Raises:
        InputError: The file is missing or not the JSON :func:`export_onnx` writes.
    """
    path = sidecar_path(onnx_path)
    try:
        with open(path) as f:
            meta = json.load(f)
    except FileNotFoundError:
        raise InputError(f'{path}: missing; it is written beside the .onnx by '
                       'tools/deploy/export_onnx.py') from None
    except (OSError, ValueError) as err:
        raise InputError(f'{path}: unreadable ({err})') from None
    if not isinstance(meta, dict) or 'classes' not in meta:
        raise InputError(f'{path}: not a classicdet ONNX sidecar (no "classes")')
    return meta
