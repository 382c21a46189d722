"""Datasets: the offline digits detection set, COCO validation, converters, data tools."""
from .capture_degradation import CaptureDegradation
from .checked_load_image import CheckedLoadImageFromFile
from .coco_validation import CocoValidationError, Problem, check_coco_dict, validate_coco
from .converters import load_class_names, voc_to_coco, voc_xml_paths, write_coco_json, yolo_to_coco
from .digits_canvas import generate_digits_dataset
from .image_reading import decode_image, read_image
from .torchvision_resize import TorchvisionResize
from .validated_coco_dataset import ValidatedCocoDataset

__all__ = [
    'CaptureDegradation', 'CheckedLoadImageFromFile', 'CocoValidationError', 'Problem',
    'ValidatedCocoDataset', 'check_coco_dict', 'decode_image', 'generate_digits_dataset',
    'load_class_names', 'read_image', 'validate_coco', 'voc_to_coco', 'voc_xml_paths',
    'write_coco_json', 'yolo_to_coco', 'TorchvisionResize',
]
