"""One COCO results file for a run of inference, as ``tools/test.py --out`` writes one.

Box shorthand: K = detections; ``xyxy`` is (x1, y1, x2, y2) and ``xywh`` COCO's
(x, y, width, height), both in image pixels.

Each detection becomes ``{image_id, category_id, bbox: xywh, score}``. The category of label
``i`` is the category of the annotation file named as the config's class ``i`` (mmdet's
``CocoMetric`` maps them the same way); without an annotation file it is ``i + 1``. With an
annotation file the ``image_id`` of an image is the id of the image whose ``file_name`` the
path ends with, so ``COCO.loadRes`` and ``COCOeval`` accept the results against that file;
without one the images are numbered 1, 2, ... in the order they came, and
:meth:`CocoResults.write` writes a small COCO image list beside the results
(``coco_images.json``: images, categories, no annotations) that the results load against.
"""
from __future__ import annotations

import json
import os.path as osp
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from custom.core.errors import InputError

__all__ = ['CocoResults', 'RESULTS_FILE', 'IMAGES_FILE', 'xyxy_to_xywh', 'detections_to_coco']

RESULTS_FILE = 'coco_results.json'
IMAGES_FILE = 'coco_images.json'


def xyxy_to_xywh(boxes: np.ndarray) -> np.ndarray:
    """(K, 4) xyxy -> (K, 4) xywh."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)


def detections_to_coco(image_id: int, bboxes: np.ndarray, scores: np.ndarray,
                       labels: np.ndarray, category_ids: Sequence[int]) -> list[dict]:
    """COCO result records of one image's detections.

    Args:
        image_id (int): The image's id.
        bboxes (ndarray): (K, 4) xyxy pixels.
        scores (ndarray): (K,).
        labels (ndarray): (K,) 0-based class indices.
        category_ids (Sequence[int]): The category id of each class index.
    """
    return [dict(image_id=int(image_id), category_id=int(category_ids[int(label)]),
                 bbox=[round(float(v), 2) for v in box], score=round(float(score), 5))
            for box, score, label in zip(xyxy_to_xywh(bboxes), scores, labels)]


def matches_file_name(path: str, file_name: str) -> bool:
    """Whether ``path`` ('/'-separated) is the image a COCO ``file_name`` names: equal, or
    ending with it (the file name is relative to the data root)."""
    file_name = str(file_name).replace('\\', '/').lstrip('/')
    return path == file_name or path.endswith('/' + file_name)


class CocoResults:
    """Collects a run's detections image by image, then writes them as COCO results.

    Args:
        classes (Sequence[str]): The detector's class names, label order.
        ann_file (str, optional): A COCO annotation file that gives the image and category
            ids. Defaults to None (ids numbered here).

    Raises:
        InputError: the annotation file is unreadable, or lacks a category named as one of
            the classes.
    """

    def __init__(self, classes: Sequence[str], ann_file: str | None = None) -> None:
        self.classes = list(classes)
        self.ann_file = ann_file
        self.images: list[dict] = []
        self.detections: list[dict] = []
        if ann_file is None:
            self.categories = [dict(id=i + 1, name=name) for i, name in enumerate(self.classes)]
            self.by_file: dict[str, list[dict]] = {}
        else:
            from .coco_files import read_json
            data = read_json(ann_file)
            if not isinstance(data, dict) or not isinstance(data.get('images'), list) \
                    or not isinstance(data.get('categories'), list):
                raise InputError(f"{ann_file}: not a COCO annotation file (needs lists "
                                 "'images' and 'categories')")
            by_name = {cat.get('name'): cat for cat in data['categories']}
            missing = [name for name in self.classes if name not in by_name]
            if missing:
                raise InputError(f'{ann_file}: no category named {missing[0]!r}; the config\'s '
                                 f'classes are {self.classes}')
            self.categories = [by_name[name] for name in self.classes]
            self.by_file = defaultdict(list)
            for image in data['images']:
                name = str(image.get('file_name', '')).replace('\\', '/')
                self.by_file[osp.basename(name)].append(image)
        self.category_ids = [int(cat['id']) for cat in self.categories]

    def image_id(self, path: str, index: int | None = None) -> int:
        """The id ``path`` gets: without an annotation file ``index + 1`` (``index``: its
        place among the run's inputs), or the next number when no index is given.

        Raises:
            InputError: with an annotation file, ``path`` is not one of its images, or
                matches more than one.
        """
        if self.ann_file is None:
            return len(self.images) + 1 if index is None else index + 1
        norm = path.replace('\\', '/')
        matches = [image for image in self.by_file.get(osp.basename(norm), [])
                   if matches_file_name(norm, image['file_name'])]
        if len(matches) != 1:
            problem = 'no image' if not matches else f'{len(matches)} images'
            raise InputError(f'{path}: {problem} of {self.ann_file} has this file_name; '
                             '--ann-file must list every input image once')
        return int(matches[0]['id'])

    def add(self, path: str, height: int, width: int, bboxes: np.ndarray, scores: np.ndarray,
            labels: np.ndarray, index: int | None = None) -> int:
        """Record one image's detections ((K, 4) xyxy, (K,), (K,)); returns its image id
        (see :meth:`image_id` for ``index``)."""
        image_id = self.image_id(path, index)
        self.images.append(dict(id=image_id, file_name=path, height=int(height),
                                width=int(width)))
        self.detections += detections_to_coco(image_id, bboxes, scores, labels,
                                              self.category_ids)
        return image_id

    def write(self, out_dir: str) -> list[str]:
        """Write ``out_dir/coco_results.json`` (and ``coco_images.json`` without an
        annotation file); returns the paths written."""
        written = [osp.join(out_dir, RESULTS_FILE)]
        # images may come out of order (batches group them by size): list them by id
        self.images.sort(key=lambda image: image['id'])
        self.detections.sort(key=lambda det: det['image_id'])  # stable: best score first
        with open(written[0], 'w') as f:
            json.dump(self.detections, f)
        if self.ann_file is None:
            written.append(osp.join(out_dir, IMAGES_FILE))
            with open(written[1], 'w') as f:
                json.dump(dict(images=self.images, annotations=[],
                               categories=self.categories), f, indent=1)
        return written
