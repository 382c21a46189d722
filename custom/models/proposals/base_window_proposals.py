"""Window proposal generators with the RPN's interface: the classic road to detection.

Before region proposal networks, detectors looked at fixed windows: one window slid over the
image, then windows of several sizes, then one window slid over rescaled copies of the image.
The generators here produce those windows, rank them, run NMS and hand the survivors to a RoI
head exactly as an RPN would, so each step of that road can replace ``rpn_head`` in a two-stage
config and be measured with the same tools as the trained RPN.

Nothing here learns. Windows are ranked by one of three learning-free scores, all computed
on one feature map of the detector (``x[feat_level]``) reduced to its channel-mean absolute
activation, an "objectness map" that is high where the features respond:

* ``'feature_contrast'``: centre-surround contrast, the classic objectness cue: the map's mean
  inside the window minus its mean in a ring around it (the window grown by ``context`` of its
  width and height on each side). A window that encloses an object with background around it
  scores high; one inside the object, or cutting through it, has a bright ring and scores low.
* ``'feature_mean'``: the map's mean inside the window. It cannot tell a tight window from one
  lying inside the object, so it favours small windows on strong responses.
* ``'random'``: uniform random scores from a fixed seed, the "no objectness at all" baseline
  (same scores for every image of the same size, so runs are reproducible).

The feature scores cost O(1) per window (an integral image) and are honest: they say where the
features respond, never which class is there, and nothing in them is trained for proposals.
With a trained backbone they are a crude objectness; with a random one they are near noise.

Shape shorthand: N = images in the batch, C = feature channels, Hf, Wf = height and width of the
scored feature map, K = windows of one image (before NMS), P = proposals kept
(P <= ``max_per_img``). Boxes are x1y1x2y2 in network-input pixels unless said otherwise.
"""
from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from mmcv.ops import batched_nms
from mmdet.models.dense_heads.base_dense_head import BaseDenseHead
from mmdet.structures.bbox import scale_boxes
from mmdet.utils import InstanceList, OptConfigType, OptMultiConfig
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData
from torch import Tensor

SCORE_MODES = ('feature_contrast', 'feature_mean', 'random')

# Absorbs float error in (length - window) / stride so that exact fits are not lost.
_FIT_EPS = 1e-6


def num_window_positions(length: float, window: float, stride: float) -> int:
    """Number of full windows along one axis: ``floor((length - window) / stride) + 1``.

    Windows start at 0, stride, 2 * stride, ...; a last window that would cross the image border
    (a partial window) is not included, so every window lies inside the image.

    Args:
        length (float): image size along the axis (pixels).
        window (float): window size along the axis.
        stride (float): distance between consecutive window starts.

    Returns:
        int: the count, 0 when the window is larger than the image.
    """
    if length < window:
        return 0
    return math.floor((length - window) / stride + _FIT_EPS) + 1


def grid_windows(img_h: float, img_w: float, win_w: float, win_h: float, stride_x: float,
                 stride_y: float, device: torch.device | str = 'cpu') -> Tensor:
    """All full windows of one size on a regular grid, row by row.

    Args:
        img_h (float): image height.
        img_w (float): image width.
        win_w (float): window width.
        win_h (float): window height.
        stride_x (float): horizontal step between window starts.
        stride_y (float): vertical step between window starts.
        device (torch.device | str): where the boxes live.

    Returns:
        Tensor: (ny * nx, 4) x1y1x2y2 float32, ny and nx from :func:`num_window_positions`.
    """
    nx = num_window_positions(img_w, win_w, stride_x)
    ny = num_window_positions(img_h, win_h, stride_y)
    xs = torch.arange(nx, dtype=torch.float64, device=device) * stride_x
    ys = torch.arange(ny, dtype=torch.float64, device=device) * stride_y
    yy, xx = torch.meshgrid(ys, xs, indexing='ij')
    boxes = torch.stack([xx, yy, xx + win_w, yy + win_h], dim=-1).reshape(-1, 4)
    # float error may push x2 a hair past the border; the window is meant to touch it.
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, img_w)
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, img_h)
    return boxes.float()


def cell_spans(boxes: Tensor, map_h: int, map_w: int) -> Tensor:
    """The map cells each box covers: between its rounded edges, at least one per axis.

    Args:
        boxes (Tensor): (K, 4) x1y1x2y2 in map cells (image pixels / feature stride).
        map_h (int): map height Hf.
        map_w (int): map width Wf.

    Returns:
        Tensor: (K, 4) long cell spans [x1, x2) x [y1, y2) as x1y1x2y2, inside the map.
    """
    x1 = boxes[:, 0].round().long().clamp(0, map_w - 1)
    y1 = boxes[:, 1].round().long().clamp(0, map_h - 1)
    x2 = torch.maximum(boxes[:, 2].round().long(), x1 + 1).clamp(max=map_w)
    y2 = torch.maximum(boxes[:, 3].round().long(), y1 + 1).clamp(max=map_h)
    return torch.stack([x1, y1, x2, y2], dim=1)


def span_sums(integral: Tensor, spans: Tensor) -> tuple[Tensor, Tensor]:
    """Sum and area of each cell span, from an integral image (O(1) per span).

    Args:
        integral (Tensor): (Hf + 1, Wf + 1) float64, zero first row and column.
        spans (Tensor): (K, 4) long spans from :func:`cell_spans`.

    Returns:
        tuple[Tensor, Tensor]: (K,) float64 sums and (K,) float64 areas in cells.
    """
    x1, y1, x2, y2 = spans.unbind(dim=1)
    sums = integral[y2, x2] - integral[y1, x2] - integral[y2, x1] + integral[y1, x1]
    return sums, ((x2 - x1) * (y2 - y1)).double()


def integral_image(score_map: Tensor) -> Tensor:
    """(Hf + 1, Wf + 1) float64 cumulative sums of an (Hf, Wf) map, zero first row/column."""
    return F.pad(score_map.double().cumsum(0).cumsum(1), (1, 0, 1, 0))


def window_means(score_map: Tensor, boxes: Tensor) -> Tensor:
    """Mean of ``score_map`` over the cells of each box (see :func:`cell_spans`).

    Args:
        score_map (Tensor): (Hf, Wf) values to average.
        boxes (Tensor): (K, 4) x1y1x2y2 in map cells (image pixels / feature stride).

    Returns:
        Tensor: (K,) float32 means.
    """
    sums, areas = span_sums(integral_image(score_map), cell_spans(boxes, *score_map.shape))
    return (sums / areas).float()


def window_contrasts(score_map: Tensor, boxes: Tensor, context: float) -> Tensor:
    """Mean of ``score_map`` inside each box minus its mean in a ring around the box.

    The ring is the box grown by ``context`` times its width (height) on the left and right
    (top and bottom), clipped to the map, minus the box. A box with no ring left (it covers
    the whole map) has contrast 0: nothing shows that it stands out from its surroundings.

    Args:
        score_map (Tensor): (Hf, Wf) objectness map.
        boxes (Tensor): (K, 4) x1y1x2y2 in map cells.
        context (float): ring width as a fraction of the box size, per side.

    Returns:
        Tensor: (K,) float32 contrasts.
    """
    map_h, map_w = score_map.shape
    integral = integral_image(score_map)
    inner = cell_spans(boxes, map_h, map_w)
    grow = torch.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], dim=1) * context
    outer = cell_spans(boxes + torch.cat([-grow, grow], dim=1), map_h, map_w)
    # Rounding must never leave inner cells outside the outer span.
    outer = torch.cat([torch.minimum(outer[:, :2], inner[:, :2]),
                       torch.maximum(outer[:, 2:], inner[:, 2:])], dim=1)
    inner_sum, inner_area = span_sums(integral, inner)
    outer_sum, outer_area = span_sums(integral, outer)
    inner_mean = inner_sum / inner_area
    ring_area = outer_area - inner_area
    ring_mean = torch.where(ring_area > 0, (outer_sum - inner_sum) / ring_area.clamp(min=1),
                            inner_mean)
    return (inner_mean - ring_mean).float()


def boxes_in_image(groups: list[tuple[float, Tensor]], img_h: float, img_w: float,
                   device: torch.device | str) -> Tensor:
    """Map (scale, boxes on the rescaled image) groups back onto the image and concatenate.

    Args:
        groups (list[tuple[float, Tensor]]): (scale, (K_s, 4) boxes) pairs.
        img_h (float): image height; boxes are clamped to it against float error.
        img_w (float): image width, likewise.
        device (torch.device | str): device of the empty result when there are no boxes.

    Returns:
        Tensor: (K, 4) x1y1x2y2, K = sum of K_s.
    """
    boxes = torch.cat([boxes / scale for scale, boxes in groups]
                      + [torch.zeros(0, 4, device=device)])
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, img_w)
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, img_h)
    return boxes


def positive_pair(value: float | Sequence[float], name: str, owner: str) -> tuple[float, float]:
    """``value`` as an (x, y) pair of positive numbers, or a clear error.

    Args:
        value (float | Sequence[float]): one number for both axes, or (x, y).
        name (str): the argument's name, for the error.
        owner (str): the class that received it, for the error.

    Returns:
        tuple[float, float]: (x, y).

    Raises:
        ValueError: not one or two positive numbers.
    """
    pair = (value, value) if isinstance(value, (int, float)) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, float)) and v > 0 for v in pair):
        raise ValueError(f'{owner}: {name} must be a positive number or a pair (x, y) of '
                         f'positive numbers, got {value!r}')
    return float(pair[0]), float(pair[1])


class BaseWindowProposals(BaseDenseHead):
    """Learning-free proposals from fixed windows, with the interface of mmdet's ``RPNHead``.

    ``TwoStageDetector`` calls :meth:`loss_and_predict` in training (returns an empty loss dict
    and the proposals) and :meth:`predict` at test time, so a subclass can stand in for
    ``rpn_head`` in a config. Each image's windows are scored, ranked, cut to the ``nms_pre``
    best, suppressed by NMS (``cfg.nms``, mmdet's format, e.g. ``dict(type='nms',
    iou_threshold=0.7)``) and cut to ``max_per_img`` -- the keys of an RPN's ``test_cfg``.

    Subclasses only say which windows exist: :meth:`windows_per_scale`.

    Args:
        score (str): how windows are ranked, one of ``SCORE_MODES`` (see the module doc).
            Defaults to 'feature_contrast'.
        context (float): ring width of ``'feature_contrast'``, a fraction of the window's width
            and height per side. Defaults to 0.25.
        feat_level (int): which feature map the feature scores read. Defaults to 0 (the finest
            FPN level).
        seed (int): seed of the ``'random'`` scores. Defaults to 0.
        num_classes (int): kept for the RPN interface; ``TwoStageDetector`` sets it to 1 and
            proposals are class-agnostic. Defaults to 1.
        train_cfg (dict, optional): the detector's ``train_cfg.rpn``; unused (nothing learns).
        test_cfg (dict, optional): post-processing (``nms_pre``, ``nms``, ``max_per_img``),
            used when no ``cfg`` is passed.
        init_cfg (dict | list[dict], optional): unused (no weights); kept for mmengine.
    """

    def __init__(self,
                 score: str = 'feature_contrast',
                 context: float = 0.25,
                 feat_level: int = 0,
                 seed: int = 0,
                 num_classes: int = 1,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        name = type(self).__name__
        if score not in SCORE_MODES:
            raise ValueError(f'{name}: score must be one of {SCORE_MODES}, got {score!r}')
        if num_classes != 1:
            raise ValueError(f'{name}: proposals are class-agnostic, num_classes must be 1, '
                             f'got {num_classes}')
        if not isinstance(context, (int, float)) or context <= 0:
            raise ValueError(f'{name}: context must be a positive number, got {context!r}')
        if not isinstance(feat_level, int) or feat_level < 0:
            raise ValueError(f'{name}: feat_level must be an int >= 0, got {feat_level!r}')
        self.score = score
        self.context = float(context)
        self.feat_level = feat_level
        self.seed = seed
        self.num_classes = num_classes
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg

    @abstractmethod
    def windows_per_scale(self, img_h: int, img_w: int,
                          device: torch.device | str = 'cpu') -> list[tuple[float, Tensor]]:
        """The windows of an image of size (img_h, img_w), grouped by image scale.

        Args:
            img_h (int): network-input image height (without padding).
            img_w (int): network-input image width (without padding).
            device (torch.device | str): where the boxes live.

        Returns:
            list[tuple[float, Tensor]]: (scale, boxes) pairs; boxes (K_s, 4) are x1y1x2y2 in the
            image rescaled by ``scale`` (1.0 for windows on the image itself).
        """

    def windows(self, img_h: int, img_w: int, device: torch.device | str = 'cpu') -> Tensor:
        """All windows of an image, in its own coordinates, before scoring and NMS.

        Args:
            img_h (int): image height.
            img_w (int): image width.
            device (torch.device | str): where the boxes live.

        Returns:
            Tensor: (K, 4) x1y1x2y2, every box inside [0, img_w] x [0, img_h].
        """
        return boxes_in_image(self.windows_per_scale(img_h, img_w, device), img_h, img_w, device)

    def forward(self, x: tuple[Tensor, ...]) -> tuple[Tensor]:
        """Objectness map of every image: channel-mean absolute activation of one level.

        Args:
            x (tuple[Tensor]): multi-level features, each (N, C, Hf_l, Wf_l).

        Returns:
            tuple[Tensor]: one (N, Hf, Wf) map, detached (proposals carry no gradient).
        """
        if self.feat_level >= len(x):
            raise ValueError(f'{type(self).__name__}: feat_level={self.feat_level} but the '
                             f'neck gives {len(x)} feature levels')
        return (x[self.feat_level].detach().abs().mean(dim=1), )

    def loss_by_feat(self, *args, **kwargs) -> dict:
        """Nothing learns, so there is no loss: an empty dict (no ``rpn_`` keys)."""
        return dict()

    def predict_by_feat(self,
                        objectness_maps: Tensor,
                        batch_img_metas: list[dict],
                        cfg: ConfigDict | None = None,
                        rescale: bool = False) -> InstanceList:
        """Windows, scores and NMS for every image, as ``RPNHead`` returns proposals.

        Args:
            objectness_maps (Tensor): (N, Hf, Wf) from :meth:`forward`.
            batch_img_metas (list[dict]): per-image meta (``img_shape``, ``batch_input_shape``;
                ``scale_factor`` when ``rescale``).
            cfg (ConfigDict, optional): post-processing; ``self.test_cfg`` when None.
            rescale (bool): map boxes back to the original image. Defaults to False.

        Returns:
            list[InstanceData]: per image ``bboxes`` (P, 4), ``scores`` (P,) descending and
            ``labels`` (P,) zeros, as mmdet's RPN gives them.
        """
        cfg = self._checked_cfg(self.test_cfg if cfg is None else cfg)
        return [
            self._predict_single(objectness_map, img_meta, cfg, rescale)
            for objectness_map, img_meta in zip(objectness_maps, batch_img_metas)
        ]

    def _checked_cfg(self, cfg: ConfigDict | dict | None) -> ConfigDict:
        """The post-processing cfg, or a clear error naming what is missing."""
        missing = [key for key in ('nms', 'max_per_img') if cfg is None or key not in cfg]
        if missing:
            raise ValueError(f'{type(self).__name__}: the proposal cfg (test_cfg.rpn or '
                             f'train_cfg.rpn_proposal) needs {missing}, got {cfg!r}')
        return ConfigDict(cfg)

    def _predict_single(self, objectness_map: Tensor, img_meta: dict, cfg: ConfigDict,
                        rescale: bool) -> InstanceData:
        """Proposals of one image."""
        boxes, scores = self.scored_windows(objectness_map, img_meta)
        return self._post_process(boxes, scores, cfg, rescale, img_meta)

    def scored_windows(self, objectness_map: Tensor, img_meta: dict) -> tuple[Tensor, Tensor]:
        """Every window of one image with its score, before any selection.

        Args:
            objectness_map (Tensor): (Hf, Wf), one image's map from :meth:`forward`.
            img_meta (dict): ``img_shape`` and, when padded, ``batch_input_shape``.

        Returns:
            tuple[Tensor, Tensor]: (K, 4) x1y1x2y2 windows in network-input pixels and (K,)
            scores, in :meth:`windows_per_scale`'s order.
        """
        img_h, img_w = img_meta['img_shape'][:2]
        input_h, input_w = img_meta.get('batch_input_shape', (img_h, img_w))[:2]
        device = objectness_map.device
        groups = self.windows_per_scale(img_h, img_w, device)
        boxes = boxes_in_image(groups, img_h, img_w, device)
        if self.score != 'random':
            scores = torch.cat([
                self._feature_scores(objectness_map, scale, scaled_boxes, input_h, input_w)
                for scale, scaled_boxes in groups
            ] + [objectness_map.new_zeros(0)])
        else:
            generator = torch.Generator().manual_seed(self.seed)
            scores = torch.rand(len(boxes), generator=generator).to(device)
        return boxes, scores

    def _feature_scores(self, objectness_map: Tensor, scale: float, scaled_boxes: Tensor,
                        input_h: int, input_w: int) -> Tensor:
        """Window scores on the objectness map rescaled like the image the windows live in."""
        map_h, map_w = objectness_map.shape
        if scale != 1.0:
            size = (max(1, round(map_h * scale)), max(1, round(map_w * scale)))
            objectness_map = F.interpolate(objectness_map[None, None], size=size,
                                           mode='bilinear', align_corners=False)[0, 0]
        # Feature stride of this map relative to the (rescaled) padded network input.
        stride_x = input_w * scale / objectness_map.shape[1]
        stride_y = input_h * scale / objectness_map.shape[0]
        cells = scaled_boxes / scaled_boxes.new_tensor([stride_x, stride_y, stride_x, stride_y])
        if self.score == 'feature_contrast':
            return window_contrasts(objectness_map, cells, self.context)
        return window_means(objectness_map, cells)

    @staticmethod
    def _post_process(boxes: Tensor, scores: Tensor, cfg: ConfigDict, rescale: bool,
                      img_meta: dict) -> InstanceData:
        """Top ``nms_pre`` by score, NMS, top ``max_per_img``; optionally rescale."""
        order = torch.sort(scores, descending=True, stable=True)[1]
        nms_pre = cfg.get('nms_pre', -1)
        if 0 < nms_pre < len(order):
            order = order[:nms_pre]
        boxes, scores = boxes[order], scores[order]
        if len(boxes) > 0:
            dets, keep = batched_nms(boxes, scores, scores.new_zeros(len(scores), dtype=torch.long),
                                     cfg.nms)
            # NMS variants such as Soft-NMS rescore, so take the scores NMS returns.
            boxes, scores = boxes[keep][:cfg.max_per_img], dets[:cfg.max_per_img, -1]
        if rescale:
            boxes = scale_boxes(boxes, [1 / s for s in img_meta['scale_factor']])
        results = InstanceData()
        results.bboxes = boxes
        results.scores = scores
        results.labels = scores.new_zeros(len(scores), dtype=torch.long)
        return results
