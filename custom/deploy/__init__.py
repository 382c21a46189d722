"""Deployment: a detector exported as one ONNX graph, and that graph run by onnxruntime
(registered as ``OnnxRuntimeDetector``)."""
from .export_check import check_exportable
from .faster_rcnn_graph import FasterRCNNGraph
from .onnx_export import DEFAULT_OPSET, MIN_OPSET, export_onnx, read_sidecar, sidecar_path
from .onnx_runtime_detector import OnnxRuntimeDetector

__all__ = [
    'DEFAULT_OPSET', 'FasterRCNNGraph', 'MIN_OPSET', 'OnnxRuntimeDetector', 'check_exportable',
    'export_onnx', 'read_sidecar', 'sidecar_path'
]
