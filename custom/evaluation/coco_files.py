"""Reading a COCO annotation file and a COCO results file, with one-line errors.

Box shorthand: N = detections, G = ground-truth boxes; ``xywh`` is COCO's
(x, y, width, height), ``xyxy`` is (x1, y1, x2, y2) in pixels.
"""
from __future__ import annotations

import contextlib
import io
import json
import os.path as osp
from typing import Any

import numpy as np
from pycocotools.coco import COCO

from custom.core.errors import InputError

__all__ = ['read_json', 'load_ground_truth', 'load_results', 'results_as_coco', 'xywh_to_xyxy',
           'class_names']

RESULT_KEYS = ('image_id', 'category_id', 'bbox', 'score')


def read_json(path: str) -> Any:
    """Parse ``path`` as JSON, naming the file in any error."""
    if not osp.isfile(path):
        raise InputError(f'{path}: file not found')
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f'{path}: not valid JSON ({err})') from err


def load_ground_truth(ann_file: str) -> COCO:
    """A pycocotools ``COCO`` index over a COCO-format annotation file."""
    data = read_json(ann_file)
    if not isinstance(data, dict) or not all(
            isinstance(data.get(key), list) for key in ('images', 'annotations', 'categories')):
        raise InputError(f'{ann_file}: not a COCO annotation file '
                       "(needs lists 'images', 'annotations' and 'categories')")
    if not data['categories']:
        raise InputError(f'{ann_file}: no categories')
    gt = COCO()
    gt.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):  # createIndex prints progress lines
        gt.createIndex()
    return gt


def load_results(results_file: str, gt: COCO, ann_file: str = 'the annotation file') -> list[dict]:
    """COCO results (a list of detections) checked against the ground truth they refer to.

    Raises:
        InputError: the file is not a list of detections, or one names an image or category
            that the annotation file does not have.
    """
    dets = read_json(results_file)
    if isinstance(dets, dict) and 'annotations' in dets:
        raise InputError(f'{results_file}: this is an annotation file, not a results file '
                       '(expected a list of {image_id, category_id, bbox, score})')
    if not isinstance(dets, list):
        raise InputError(f'{results_file}: expected a list of detections, '
                         f'got {type(dets).__name__}')
    image_ids, cat_ids = set(gt.getImgIds()), set(gt.getCatIds())
    for index, det in enumerate(dets):
        where = f'{results_file}: detection {index}'
        if not isinstance(det, dict) or any(key not in det for key in RESULT_KEYS):
            raise InputError(f'{where}: needs keys {", ".join(RESULT_KEYS)}')
        if det['image_id'] not in image_ids:
            raise InputError(f'{where}: image_id {det["image_id"]} is not in {ann_file}')
        if det['category_id'] not in cat_ids:
            raise InputError(f'{where}: category_id {det["category_id"]} is not in {ann_file}')
        if not (isinstance(det['bbox'], list) and len(det['bbox']) == 4):
            raise InputError(f'{where}: bbox must be [x, y, width, height]')
    return dets


def results_as_coco(gt: COCO, dets: list[dict]) -> COCO:
    """Detections as a ``COCO`` index, as ``COCO.loadRes`` builds it (which rejects [])."""
    if dets:
        with contextlib.redirect_stdout(io.StringIO()):
            return gt.loadRes([dict(det) for det in dets])
    dt = COCO()
    dt.dataset = {'images': list(gt.dataset['images']),
                  'categories': list(gt.dataset['categories']), 'annotations': []}
    with contextlib.redirect_stdout(io.StringIO()):
        dt.createIndex()
    return dt


def xywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) xywh -> (N, 4) xyxy."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.concatenate([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], axis=1)


def class_names(gt: COCO) -> tuple[list[int], list[str]]:
    """Category ids in ascending order (COCOeval's K axis) and their names."""
    cat_ids = sorted(gt.getCatIds())
    return cat_ids, [gt.cats[cat_id].get('name', str(cat_id)) for cat_id in cat_ids]
