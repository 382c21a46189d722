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
- ``merge``: ``'ios'`` (default), ``'nms'`` or ``'nmm'``, see :func:`merge_detections` and
  :func:`non_maximum_merge`;
- ``iou_threshold``: the merge's threshold, default 0.5;
- ``batch_size``: tiles per forward pass, default 8;
- ``max_tiles``: most tiles one image may be cut into, default 10,000 (``--max-tiles``): a
  1-pixel tile over a 320 x 320 image would be 102,400 detector runs.
"""
from __future__ import annotations

import copy
import numbers
from dataclasses import dataclass

import numpy as np
import torch
from mmengine.dataset import Compose, pseudo_collate
from mmengine.logging import print_log
from mmengine.structures import InstanceData
from torch import Tensor, nn

from custom.core.boxes import greedy_suppression, intersection_over_smaller
from custom.core.errors import InputError
from custom.core.tile_grid import axis_starts, tile_grid  # noqa: F401  (axis_starts: API)

MERGES = ('ios', 'nms', 'nmm')


@dataclass(frozen=True)
class SliceSettings:
    """Slicing settings (see the module docstring), checked once, when they are made.

    ``size`` may be given as one side (``160``, ``'160'``, ``[160]``) or (height, width); it
    is kept as (height, width).

    Raises:
        InputError: A bad value, named ``slicing.<field>`` and with ``key`` = the field, so
            that a caller names it as its user knows it (``err.renamed('--slice-size')``).
    """
    size: tuple[int, int]
    overlap: float = 0.2
    full_pass: bool = True
    merge: str = 'ios'
    iou_threshold: float = 0.5
    batch_size: int = 8
    max_tiles: int = 10_000

    def __post_init__(self) -> None:
        size = self.size
        sizes = [size] if isinstance(size, (int, float, str)) else list(size)
        try:
            sizes = [int(value) for value in sizes]
        except (TypeError, ValueError):
            raise _bad('size', f'expected one or two whole pixel counts, got {size!r}') from None
        if len(sizes) not in (1, 2) or min(sizes) <= 0:
            raise _bad('size', f'must be one or two positive pixel counts (H W), got {size!r}')
        if not _number(self.overlap) or not 0 <= self.overlap < 1:
            raise _bad('overlap', f'must be in [0, 1), got {self.overlap!r}')
        if self.merge not in MERGES:
            raise _bad('merge', f'must be one of {MERGES}, got {self.merge!r}')
        if not _number(self.iou_threshold) or not 0 < self.iou_threshold <= 1:
            raise _bad('iou_threshold', f'must be in (0, 1], got {self.iou_threshold!r}')
        if not _number(self.batch_size) or self.batch_size < 1:
            raise _bad('batch_size', f'must be >= 1, got {self.batch_size!r}')
        if not _number(self.max_tiles) or int(self.max_tiles) != self.max_tiles \
                or self.max_tiles < 1:
            raise _bad('max_tiles', f'must be a whole number >= 1, got {self.max_tiles!r}')
        height, width = (sizes * 2)[:2]
        for name, value in (('size', (height, width)), ('overlap', float(self.overlap)),
                            ('full_pass', bool(self.full_pass)),
                            ('iou_threshold', float(self.iou_threshold)),
                            ('batch_size', int(self.batch_size)),
                            ('max_tiles', int(self.max_tiles))):
            object.__setattr__(self, name, value)

    @classmethod
    def from_options(cls, size, overlap: float = 0.2, full_pass: bool = True,
                     merge: str = 'ios', iou_threshold: float = 0.5,
                     batch_size: int = 8, max_tiles: int = 10_000) -> 'SliceSettings':
        """The settings from positional options, as the constructor checks them."""
        return cls(size, overlap, full_pass, merge, iou_threshold, batch_size, max_tiles)

    @classmethod
    def from_config(cls, cfg) -> 'SliceSettings | None':
        """``model.test_cfg.slicing`` of a config, checked (errors name the config key);
        None when it has none."""
        slicing = (cfg.get('model', {}).get('test_cfg') or {}).get('slicing')
        if not slicing:
            return None
        slicing = dict(slicing)
        unknown = sorted(set(slicing) - set(cls.__dataclass_fields__))
        if unknown:
            raise InputError(f'model.test_cfg.slicing.{unknown[0]}: unknown setting '
                             f'(known: {", ".join(cls.__dataclass_fields__)})', key=unknown[0])
        if 'size' not in slicing:
            raise InputError('model.test_cfg.slicing.size: missing', key='size')
        try:
            return cls(**slicing)
        except InputError as err:
            raise err.renamed(f'model.test_cfg.slicing.{err.key}') from None

    def as_config(self) -> dict:
        """The ``model.test_cfg.slicing`` dict that gives these settings."""
        return dict(size=self.size, overlap=self.overlap, full_pass=self.full_pass,
                    merge=self.merge, iou_threshold=self.iou_threshold,
                    batch_size=self.batch_size, max_tiles=self.max_tiles)


def _number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _bad(field: str, problem: str) -> InputError:
    return InputError(f'slicing.{field}: {problem}', key=field)


def tile_windows(height: int, width: int, settings: SliceSettings) -> list[tuple[int, ...]]:
    """(x1, y1, x2, y2) of every tile, row by row; together they cover the image exactly
    (:func:`custom.core.tile_grid.tile_grid`, the grid the tiled training sets use too).

    Raises:
        InputError: more tiles than ``settings.max_tiles`` (key ``size``).
    """
    tile_h, tile_w = min(settings.size[0], height), min(settings.size[1], width)
    count = (len(axis_starts(height, tile_h, settings.overlap))
             * len(axis_starts(width, tile_w, settings.overlap)))
    if count > settings.max_tiles:
        # Counted before any tile is made: a 1 px tile over 320 x 320 would be 102,400 runs.
        raise InputError(f'slicing.size: {settings.size[0]}x{settings.size[1]} tiles cut a '
                         f'{height}x{width} image into {count:,} tiles, over the limit of '
                         f'{settings.max_tiles:,} (raise it with --max-tiles N or '
                         'model.test_cfg.slicing.max_tiles)', key='size')
    return tile_grid(height, width, *settings.size, settings.overlap)


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
        kept = greedy_suppression(bboxes[members], scores[members], iou_threshold,
                                  overlap=intersection_over_smaller)
        keep.append(members[kept])
    keep = torch.cat(keep)
    return keep[scores[keep].argsort(descending=True, stable=True)][:max_per_img]


def non_maximum_merge(bboxes: Tensor, scores: Tensor, labels: Tensor,
                      threshold: float = 0.5,
                      max_per_img: int = 100) -> tuple[Tensor, Tensor]:
    """Greedy non-maximum merging (SAHI's ``GREEDYNMM`` with its IoS measure): the pieces of
    an object cut at tile borders fuse into one box.

    Class by class, best score first: the best box left takes every box of its class left
    whose intersection over the smaller of the two boxes is above ``threshold`` (measured
    against the best box itself), and becomes the union (enclosing box) of them all, keeping
    the best box's score, the maximum of the group's.

    Args:
        bboxes (Tensor): (K, 4) x1y1x2y2.
        scores (Tensor): (K,).
        labels (Tensor): (K,).

    Returns:
        tuple[Tensor, Tensor]: (M,) long indices of the best box of each group, best score
        first, M <= max_per_img; (M, 4) the merged boxes.
    """
    if len(bboxes) == 0:
        return torch.empty(0, dtype=torch.long, device=bboxes.device), bboxes[:0]
    keep, merged = [], []
    for label in labels.unique().tolist():
        members = (labels == label).nonzero().squeeze(1)
        order = members[scores[members].argsort(descending=True, stable=True)]
        while order.numel():
            best, order = order[0], order[1:]
            fused = intersection_over_smaller(bboxes[best][None], bboxes[order])[0] > threshold
            group = torch.cat([bboxes[best][None], bboxes[order[fused]]])
            keep.append(best)
            merged.append(torch.cat([group[:, :2].min(0).values, group[:, 2:].max(0).values]))
            order = order[~fused]
    keep, merged = torch.stack(keep), torch.stack(merged)
    rank = scores[keep].argsort(descending=True, stable=True)[:max_per_img]
    return keep[rank], merged[rank]


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
    if settings.merge == 'nmm':
        keep, fused = non_maximum_merge(bboxes, scores, labels, settings.iou_threshold,
                                        max_per_img)
    else:
        keep = merge_detections(bboxes, scores, labels, settings.merge,
                                settings.iou_threshold, max_per_img)
        fused = bboxes[keep]
    merged.bboxes, merged.scores, merged.labels = fused, scores[keep], labels[keep]
    return merged


def max_detections(model: nn.Module, default: int = 100) -> int:
    """The detector's own ``max_per_img`` for its final detections."""
    test_cfg = getattr(model, 'test_cfg', None) or {}
    rcnn = test_cfg.get('rcnn') if hasattr(test_cfg, 'get') else None
    return int(rcnn.get('max_per_img', default)) if rcnn else default


DECODED_IMAGE = 'decoded_image'


class KeepDecodedImage:
    """A dataset's test pipeline that also hands the decoded image on to the model.

    The pipeline's loader decodes each file; the resizing that follows makes the image the
    model sees. :class:`SlicedInferenceModel` slices the decoded image itself, so this wrapper
    keeps the first ``img`` the pipeline produced in the packed sample's metainfo
    (``decoded_image``) instead of the model reading the file a second time.

    Args:
        pipeline (Compose): The dataset's pipeline (``transforms`` run in order).
    """

    def __init__(self, pipeline: Compose) -> None:
        self.pipeline = pipeline

    @property
    def transforms(self) -> list:
        return self.pipeline.transforms

    def __call__(self, results: dict) -> dict | None:
        image = None
        for transform in self.pipeline.transforms:
            results = transform(results)
            if results is None:
                return None
            if image is None and isinstance(results, dict) and 'img' in results:
                image = results['img']
        if image is not None and 'data_samples' in results:
            # set_field keeps the array itself; set_metainfo would deep-copy it.
            results['data_samples'].set_field(image, DECODED_IMAGE, field_type='metainfo')
        return results


class SlicedInferenceModel(nn.Module):
    """A detector whose ``test_step`` detects on each image tile by tile (what ``tools/test.py
    --slice-size`` runs through mmengine's test loop and evaluator).

    Each sample's decoded image comes from the dataloader (:class:`KeepDecodedImage`, which
    :class:`SlicedInferenceHook` puts around the test dataset's pipeline); a sample without it
    is read from its ``img_path``. The predictions are in original-image pixels, as the
    unsliced ``test_step``'s are, so the same evaluator scores them.

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
        outputs = []
        for sample in data['data_samples']:
            path = sample.metainfo.get('img_path')
            image = sample.metainfo.get(DECODED_IMAGE)
            if image is None:
                image = read_decoded(path)
            else:
                del sample.decoded_image  # the result keeps no copy of the image
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


# The name this class had first.
SlicedDetector = SlicedInferenceModel


def read_decoded(path: str) -> np.ndarray:
    """The image at ``path`` as the dataset's loader decodes it (BGR uint8, H, W, 3)."""
    import os.path as osp

    import mmcv
    if not path or not osp.isfile(path):
        raise InputError(f'{path}: no such image file')
    image = mmcv.imread(path)
    if image is None:
        raise InputError(f'{path}: unreadable or corrupt image')
    return image
