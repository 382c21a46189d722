"""Drawing a detector's predictions on an image: the one drawing of detections that the Python
API and ``tools/infer.py`` make, sliced or not."""
from __future__ import annotations

import numpy as np
from mmengine.structures import InstanceData

__all__ = ['draw_detections']


def draw_detections(visualizer, image: np.ndarray, pred: InstanceData,
                    score_thr: float = 0.0, name: str = 'image') -> np.ndarray:
    """Draw ``pred`` on ``image`` with mmdet's ``DetLocalVisualizer``.

    Args:
        visualizer (DetLocalVisualizer): The visualizer that knows the class names and
            palette (``DetInferencer.visualizer``).
        image (ndarray): (H, W, 3) BGR uint8, the image the boxes are in.
        pred (InstanceData): ``bboxes`` (K, 4), ``scores`` (K,), ``labels`` (K,).
        score_thr (float): Detections below this score are not drawn. Defaults to 0.
        name (str): The drawing's name in the visualizer. Defaults to 'image'.

    Returns:
        ndarray: (H, W, 3) RGB uint8 drawing.
    """
    from mmdet.structures import DetDataSample
    rgb = np.ascontiguousarray(image[..., ::-1])
    visualizer.add_datasample(name, rgb, DetDataSample(pred_instances=pred), show=False,
                              draw_gt=False, pred_score_thr=score_thr)
    return visualizer.get_image()
