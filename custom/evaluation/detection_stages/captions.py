"""Each panel's title and caption, tied to the course's concept and its Chinese term (the
terms of docs/course_map.md). The PNG panels and the page share them."""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ['Caption', 'CAPTIONS']


@dataclass(frozen=True)
class Caption:
    """Title (with the course's term in brackets) and one or two sentences."""
    title: str
    text: str


CAPTIONS = {
    'equal': Caption(
        'Equal windows (等大窗口)',
        'One window size tiling the image without overlap: the first idea of detection, '
        'look at every place once. An object cut by a window border is missed.'),
    'sliding': Caption(
        'Sliding window (滑动窗口)',
        'The same window moved by a stride smaller than itself, so every object is covered '
        'by some window; the two coloured windows are one stride apart. Many more windows.'),
    'multi_scale': Caption(
        'Multi-scale windows (多尺度滑窗)',
        'Several window sizes and shapes slide over the same image, for objects of '
        'different sizes; drawn here: one window of each shape at the centre.'),
    'pyramid': Caption(
        'Image pyramid (图像金字塔)',
        'One fixed window slides over the image rescaled to several sizes: on a smaller '
        'copy the same window covers a larger part of the scene.'),
    'backbone': Caption(
        'Backbone feature maps (卷积层 / 池化层)',
        'Mean absolute activation of each backbone stage; each stride halves the resolution '
        'and grows the receptive field.'),
    'neck': Caption(
        'FPN feature maps (特征)',
        'The feature pyramid: every level has the same channels, fine levels for small '
        'objects, coarse levels for large ones.'),
    'anchors': Caption(
        'Anchors (锚框)',
        'The anchor shapes placed at one location (the image centre) on every level; the '
        'RPN scores every anchor at every feature-map position.'),
    'windows_as_proposals': Caption(
        'Windows in place of anchors (滑动窗口)',
        'This detector has no RPN: a learning-free window proposer stands in its place and '
        'its windows are the candidates.'),
    'proposals': Caption(
        'Region proposals (区域提议) and NMS (非极大值抑制)',
        'Left: the best candidates each level hands to NMS. Right: what NMS keeps (grey: '
        'removed), cut to the per-image cap; these proposals go to the RoI head.'),
    'roi': Caption(
        'RoI head: class-wise NMS (非极大值抑制)',
        'For each class, one box per proposal (grey), the boxes NMS keeps (thin) and those '
        'above the score threshold (thick).'),
    'detections': Caption(
        'Detections (目标检测) and saliency',
        'The final boxes, and for each a Grad-CAM map: where the last backbone features '
        'raised that detection\'s class score (反向传播 gives the gradient).'),
    'live': Caption(
        'Live NMS (非极大值抑制)',
        'Move the sliders: the page re-runs class-wise greedy NMS on the exported candidates '
        'and redraws the boxes and counts.'),
}
