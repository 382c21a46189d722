"""The layers of classicdet, written once: ``tests/test_architecture.py`` checks every import
against them and ``docs/draw_architecture.py`` draws them (docs/architecture.png).

A package imports only from the layers below its own; packages of one layer do not import
each other. When two packages of a layer need the same code, it moves down a layer.
"""
from __future__ import annotations

# Layer of each subpackage of ``custom``: 1 is the lowest.
PACKAGES: dict[str, int] = {
    'core': 1,
    'models': 2, 'engine': 2, 'datasets': 2, 'inference': 2,
    'evaluation': 3, 'profiling': 3, 'deploy': 3, 'fundamentals': 3,
    'apis': 4,
}

# What each package holds, in a line or two (the drawing's notes).
NOTES: dict[str, str] = {
    'core': 'build_detector, checkpoint checks and safe loading, boxes (IoU, greedy\n'
            'suppression), InputError, hook lists, library patches',
    'models': 'backbones, layers, window proposals,\nIterativeBBoxRoIHead, sync_free/',
    'engine': 'training hooks,\ndistributed wrappers',
    'datasets': 'digits set, COCO validation,\nconverters, statistics, browsing',
    'inference': 'sliced inference and its hook,\ndrawing detections',
    'evaluation': 'COCO metrics, PR curves,\nconfusion, recall, curves',
    'profiling': 'speed, FLOPs,\nbackbone complexity',
    'deploy': 'ONNX graph, export,\nonnxruntime model',
    'fundamentals': 'the course: perceptron,\nMLP, LeNet-5, NMS',
    'apis': "Detector (the Python API), the tools' logic, one-line errors",
}

# Layer number -> its packages, lowest first.
LAYERS: dict[int, list[str]] = {
    layer: [name for name, at in PACKAGES.items() if at == layer]
    for layer in sorted(set(PACKAGES.values()))
}
