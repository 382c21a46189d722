"""The road to detection on one image: every stage of a two-stage detector recorded
(:func:`collect_stages`), drawn as PNG panels (:mod:`.panels`) and put on one self-contained
HTML page with live NMS sliders (:mod:`.page`)."""
from .model_stages import collect_stages, prepare_input
from .records import DetectionStages

__all__ = ['DetectionStages', 'collect_stages', 'prepare_input']
