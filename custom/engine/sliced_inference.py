"""Sliced inference: the course's sliding window applied to the whole image.

A detector sees an image at the size its test pipeline resizes it to, so objects much smaller
than the image shrink below its smallest anchors. Slicing cuts the image into overlapping
tiles, runs the detector on each tile through the config's own test pipeline (each tile is
resized as a whole image would be, so small objects get larger), shifts the tiles' boxes back
into the image, adds one pass over the whole image for the large objects, and merges it all,
class by class.

Shape shorthand: H, W = image size, K = detections, T = tiles.

Settings (``model.test_cfg.slicing`` in a config, ``--slice-size`` / ``--slice-overlap`` /
``--no-full-pass`` / ``--slice-merge`` in the tools, the same keywords in the Python API):

- ``size``: tile side in pixels, or (height, width);
- ``overlap``: fraction of a tile shared with its neighbour, in [0, 1), default 0.2;
- ``full_pass``: also detect on the whole image, default True;
- ``merge``: ``'ios'`` (default) or ``'nms'``, see :func:`merge_detections`;
- ``iou_threshold``: the merge's threshold, default 0.5;
- ``batch_size``: tiles per forward pass, default 8;
- ``max_tiles``: most tiles one image may be cut into, default 10,000 (``--max-tiles``): a
  1-pixel tile over a 320 x 320 image would be 102,400 detector runs.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
from mmdet.structures.bbox import bbox_overlaps
from mmengine.dataset import Compose, pseudo_collate
from mmengine.logging import print_log
from mmengine.structures import InstanceData
from torch import Tensor, nn

from custom.utils.errors import CLIError

MERGES = ('ios', 'nms')


@dataclass(frozen=True)
class SliceSettings:
    """Checked slicing settings (see the module docstring)."""
    size: tuple[int, int]
    overlap: float = 0.2
    full_pass: bool = True
    merge: str = 'ios'
    iou_threshold: float = 0.5
    batch_size: int = 8
    max_tiles: int = 10_000

    @classmethod
    def from_options(cls, size, overlap: float = 0.2, full_pass: bool = True,
                     merge: str = 'ios', iou_threshold: float = 0.5, batch_size: int = 8,
                     max_tiles: int = 10_000, where: str = '--slice-{}') -> 'SliceSettings':
        """Settings from tool options, API keywords or a config dict, each checked.

        Args:
            where (str): How an option is named in errors, ``{}`` standing for it:
                ``'--slice-{}'`` for the tools, ``'slice_{}'`` for the Python API,
                ``'model.test_cfg.slicing.{}'`` for a config.

        Raises:
            CLIError: One line naming the option and its bad value.
        """
        def name(option: str) -> str:
            return where.format(option)

        sizes = [size] if isinstance(size, (int, float, str)) else list(size)
        try:
            sizes = [int(value) for value in sizes]
        except (TypeError, ValueError):
            raise CLIError(f'{name("size")}: expected one or two whole pixel counts, '
                           f'got {size!r}') from None
        if len(sizes) not in (1, 2) or min(sizes) <= 0:
            raise CLIError(f'{name("size")}: must be one or two positive pixel counts '
                           f'(H W), got {size!r}')
        if not 0 <= overlap < 1:
            raise CLIError(f'{name("overlap")}: must be in [0, 1), got {overlap!r}')
        if merge not in MERGES:
            raise CLIError(f'{name("merge")}: must be one of {MERGES}, got {merge!r}')
        if not 0 < iou_threshold <= 1:
            raise CLIError(f'{name("iou_threshold")}: must be in (0, 1], got {iou_threshold!r}')
        if batch_size < 1:
            raise CLIError(f'{name("batch_size")}: must be >= 1, got {batch_size!r}')
        if not isinstance(max_tiles, int) or max_tiles < 1:
            raise CLIError(f'{name("max_tiles").replace("slice-max_tiles", "max-tiles")}: '
                           f'must be a whole number >= 1, got {max_tiles!r}')
        height, width = (sizes * 2)[:2]
        return cls((height, width), float(overlap), bool(full_pass), merge,
                   float(iou_threshold), int(batch_size), int(max_tiles))

    @classmethod
    def from_config(cls, cfg) -> 'SliceSettings | None':
        """``model.test_cfg.slicing`` of a config, checked; None when it has none."""
        slicing = (cfg.get('model', {}).get('test_cfg') or {}).get('slicing')
        if not slicing:
            return None
        return cls.from_options(where='model.test_cfg.slicing.{}', **dict(slicing))

    def as_config(self) -> dict:
        """The ``model.test_cfg.slicing`` dict that gives these settings."""
        return dict(size=self.size, overlap=self.overlap, full_pass=self.full_pass,
                    merge=self.merge, iou_threshold=self.iou_threshold,
                    batch_size=self.batch_size, max_tiles=self.max_tiles)


def axis_starts(length: int, tile: int, overlap: float) -> list[int]:
    """Starts of the tiles along one axis: a step of ``tile * (1 - overlap)``, the last tile
    moved inwards to end at the image's edge (no padding); one tile if it covers the axis."""
    if tile >= length:
        return [0]
    step = max(1, int(round(tile * (1 - overlap))))
    count = math.ceil((length - tile) / step) + 1
    return sorted({min(i * step, length - tile) for i in range(count)})


def tile_windows(height: int, width: int, settings: SliceSettings) -> list[tuple[int, ...]]:
    """(x1, y1, x2, y2) of every tile, row by row; together they cover the image exactly.

    Raises:
        CLIError: more tiles than ``settings.max_tiles``.
    """
    tile_h, tile_w = min(settings.size[0], height), min(settings.size[1], width)
    count = (len(axis_starts(height, tile_h, settings.overlap))
             * len(axis_starts(width, tile_w, settings.overlap)))
    if count > settings.max_tiles:
        raise CLIError(f'--slice-size: {settings.size[0]}x{settings.size[1]} tiles cut a '
                       f'{height}x{width} image into {count:,} tiles, over the limit of '
                       f'{settings.max_tiles:,} (raise it with --max-tiles N or '
                       'model.test_cfg.slicing.max_tiles)')
    return [(x, y, x + tile_w, y + tile_h)
            for y in axis_starts(height, tile_h, settings.overlap)
            for x in axis_starts(width, tile_w, settings.overlap)]


def intersection_over_smaller(box: Tensor, boxes: Tensor) -> Tensor:
    """(N,) intersection of ``box`` (4,) with each of ``boxes`` (N, 4) over the smaller area.

    A box cut at a tile's border lies inside the whole object's box: its IoU with it is its
    share of the object, but its intersection over the smaller box is 1.
    """
    # Over the smaller area is the larger of mmdet's two intersection-over-foreground ratios.
    over_box = bbox_overlaps(box[None], boxes, mode='iof')[0]
    over_boxes = bbox_overlaps(boxes, box[None], mode='iof')[:, 0]
    return torch.maximum(over_box, over_boxes)


def merge_detections(bboxes: Tensor, scores: Tensor, labels: Tensor, merge: str = 'ios',
                     iou_threshold: float = 0.5, max_per_img: int = 100) -> Tensor:
    """Indices of the detections kept when all tiles' detections (K, 4) are merged.

    Both merges are class-aware greedy suppression, best score first: ``'nms'`` drops a box
    whose IoU with a kept box of its class is above ``iou_threshold`` (mmcv's batched NMS);
    ``'ios'`` drops it when its intersection over the smaller of the two boxes is, which
    also removes the pieces of an object cut at a tile border.

    Returns:
        Tensor: (<= max_per_img,) long indices, best score first.
    """
    if len(bboxes) == 0:
        return torch.empty(0, dtype=torch.long, device=bboxes.device)
    if merge == 'nms':
        from mmcv.ops import batched_nms
        _, keep = batched_nms(bboxes, scores, labels,
                              dict(type='nms', iou_threshold=iou_threshold))
        return keep[:max_per_img]
    keep = []
    for label in labels.unique().tolist():
        members = (labels == label).nonzero().squeeze(1)
        order = members[scores[members].argsort(descending=True, stable=True)]
        while order.numel():
            best, order = order[0], order[1:]
            keep.append(best)
            order = order[intersection_over_smaller(bboxes[best], bboxes[order])
                          <= iou_threshold]
    keep = torch.stack(keep)
    return keep[scores[keep].argsort(descending=True, stable=True)][:max_per_img]


def tile_pipeline(test_pipeline: list) -> Compose:
    """The config's test pipeline for in-memory tiles: the image comes as an array
    (``LoadImageFromNDArray``) and no annotations are loaded."""
    transforms = []
    for transform in copy.deepcopy(list(test_pipeline)):
        kind = transform['type']
        if kind in ('LoadImageFromFile', 'CheckedLoadImageFromFile'):
            transform = dict(type='mmdet.LoadImageFromNDArray',
                             to_float32=transform.get('to_float32', False))
        elif kind in ('LoadAnnotations', 'mmdet.LoadAnnotations'):
            continue
        transforms.append(transform)
    import mmdet.datasets  # noqa: F401  (registers mmdet's transforms)
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmdet'):
        return Compose(transforms)


def sliced_predict(model: nn.Module, image: np.ndarray, pipeline: Compose,
                   settings: SliceSettings, metainfo: dict | None = None,
                   max_per_img: int = 100) -> InstanceData:
    """Detections of ``model`` on ``image`` (H, W, 3 BGR uint8) by slicing.

    Args:
        model (nn.Module): A detector in eval mode (its ``test_step`` maps each tile's boxes
            back to the tile's own pixels).
        image (ndarray): The whole image.
        pipeline (Compose): :func:`tile_pipeline` of the config's test pipeline.
        settings (SliceSettings): Tile size, overlap, full pass, merge.
        metainfo (dict, optional): Extra meta information for every tile (``img_id``,
            ``img_path``), as the test pipeline packs it. Defaults to None.
        max_per_img (int): Detections kept after merging. Defaults to 100.

    Returns:
        InstanceData: ``bboxes`` (K, 4) in image pixels, ``scores`` (K,), ``labels`` (K,),
        and ``num_tiles``, the detector runs it took, in its metainfo.
    """
    height, width = image.shape[:2]
    windows = tile_windows(height, width, settings)
    if len(windows) == 1:
        print_log(f'slice size {settings.size[0]}x{settings.size[1]} covers the whole '
                  f'{height}x{width} image: no slicing', logger='current')
        if settings.full_pass:
            windows = []  # the one tile is the whole image: the full pass covers it
    if settings.full_pass:
        windows.append((0, 0, width, height))
    boxes, scores, labels = [], [], []
    for start in range(0, len(windows), settings.batch_size):
        batch = windows[start:start + settings.batch_size]
        data = pseudo_collate([
            pipeline(dict(img=np.ascontiguousarray(image[y1:y2, x1:x2]), **(metainfo or {})))
            for x1, y1, x2, y2 in batch])
        with torch.no_grad():
            results = model.test_step(data)
        for (x1, y1, _, _), result in zip(batch, results):
            pred = result.pred_instances
            boxes.append(pred.bboxes + pred.bboxes.new_tensor([x1, y1, x1, y1]))
            scores.append(pred.scores)
            labels.append(pred.labels)
    merged = InstanceData(metainfo=dict(num_tiles=len(windows)))
    bboxes, scores, labels = torch.cat(boxes), torch.cat(scores), torch.cat(labels)
    keep = merge_detections(bboxes, scores, labels, settings.merge, settings.iou_threshold,
                            max_per_img)
    merged.bboxes, merged.scores, merged.labels = bboxes[keep], scores[keep], labels[keep]
    return merged


def max_detections(model: nn.Module, default: int = 100) -> int:
    """The detector's own ``max_per_img`` for its final detections."""
    test_cfg = getattr(model, 'test_cfg', None) or {}
    rcnn = test_cfg.get('rcnn') if hasattr(test_cfg, 'get') else None
    return int(rcnn.get('max_per_img', default)) if rcnn else default


class SlicedDetector(nn.Module):
    """A detector whose ``test_step`` slices each image (what ``tools/test.py
    --slice-size`` runs through mmengine's test loop and evaluator).

    Each input's original image is read again from its ``img_path`` and detected tile by
    tile; the predictions are in original-image pixels, as the unsliced ``test_step``'s are,
    so the same evaluator scores them.

    Args:
        detector (nn.Module): The detector, weights loaded.
        test_pipeline (list): The config's test pipeline.
        settings (SliceSettings): Slicing settings.
    """

    def __init__(self, detector: nn.Module, test_pipeline: list,
                 settings: SliceSettings) -> None:
        super().__init__()
        self.detector = detector
        self.pipeline = tile_pipeline(test_pipeline)
        self.settings = settings
        self.max_per_img = max_detections(detector)

    def test_step(self, data: dict) -> list:
        import mmcv
        outputs = []
        for sample in data['data_samples']:
            path = sample.metainfo['img_path']
            image = mmcv.imread(path)
            if image is None:
                raise CLIError(f'{path}: unreadable or corrupt image')
            pred = sliced_predict(self.detector, image, self.pipeline, self.settings,
                                  dict(img_id=sample.metainfo.get('img_id'), img_path=path),
                                  self.max_per_img)
            print_log(f'sliced: {path}: {pred.num_tiles} tiles, {len(pred)} detections',
                      logger='current')
            result = copy.copy(sample)
            result.pred_instances = pred
            outputs.append(result)
        return outputs

    def val_step(self, data: dict) -> list:
        return self.test_step(data)
