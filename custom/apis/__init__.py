"""User-facing Python API and the logic behind the command-line tools."""
from custom.core.errors import InputError

from .cli import exit_on_error
from .detector import ClassicDetInferencer, Detector, read_image
from .predict_files import InferenceReport, collect_images, infer_images

__all__ = [
    'InputError', 'ClassicDetInferencer', 'Detector', 'InferenceReport', 'collect_images',
    'exit_on_error', 'infer_images', 'read_image'
]
