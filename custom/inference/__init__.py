"""Inference in one place: sliced inference (``slicing``: its settings, the tiles, the merge,
the model ``tools/test.py`` runs and the hook that installs it) and the drawing of detections.

Importing the package registers :class:`SlicedInferenceHook`.
"""
from .drawing import draw_detections
from .sliced_inference_hook import SlicedInferenceHook
from .slicing import (
    KeepDecodedImage,
    SlicedDetector,
    SlicedInferenceModel,
    SliceSettings,
    merge_detections,
    sliced_predict,
    tile_pipeline,
    tile_windows,
)

__all__ = [
    'draw_detections', 'KeepDecodedImage', 'SlicedDetector', 'SlicedInferenceHook',
    'SlicedInferenceModel', 'SliceSettings', 'merge_detections', 'sliced_predict',
    'tile_pipeline', 'tile_windows'
]
