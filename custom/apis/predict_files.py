"""Inference over many images: collect inputs, predict, write drawings and JSON."""
from __future__ import annotations

import glob
import json
import os
import os.path as osp
from dataclasses import dataclass, field

import cv2
import numpy as np
from tqdm import tqdm

from custom.core.errors import InputError
from custom.datasets.image_reading import read_image
from custom.evaluation.coco_results import CocoResults

from .config import ensure_writable_dir
from .output_names import output_names

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp')


def collect_images(inputs: str) -> list[str]:
    """An image path, a folder (its images, sorted) or a glob pattern → image paths.

    Raises:
        InputError: nothing matches, or the folder has no images.
    """
    if osp.isdir(inputs):
        paths = sorted(osp.join(inputs, f) for f in os.listdir(inputs)
                       if f.lower().endswith(IMAGE_EXTENSIONS))
        if not paths:
            raise InputError(f'{inputs}: folder has no images ({", ".join(IMAGE_EXTENSIONS)})')
        return paths
    if osp.isfile(inputs):
        return [inputs]
    paths = sorted(p for p in glob.glob(inputs, recursive=True) if osp.isfile(p))
    if not paths:
        raise InputError(f'{inputs}: no such image, folder or matching files')
    return paths


@dataclass
class InferenceReport:
    """What happened to each input."""
    written: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def infer_images(detector, paths: list[str], out_dir: str, score_thr: float = 0.3,
                 progress: bool = True, batch_size: int = 1,
                 coco: CocoResults | None = None) -> InferenceReport:
    """Predict on every path; write ``out_dir/vis/NAME.png`` and ``out_dir/preds/NAME.json``
    (:func:`prediction_to_json`; NAME from :func:`custom.apis.output_names.output_names`,
    distinct for every input), and add each image's detections to ``coco``.

    Unreadable images, images the model cannot take, and with an annotation file images it
    does not list, are named in the returned report and skipped; the others go on.

    Args:
        batch_size (int): Images per forward pass. Images are grouped by size (an image
            waits for ``batch_size - 1`` others of its size, or the end), so a batch gives
            the detections its images give one by one. Defaults to 1.
        coco (CocoResults, optional): Collects the COCO results; the caller writes them.
    """
    names = output_names(paths)
    vis_dir = ensure_writable_dir(osp.join(out_dir, 'vis'))
    pred_dir = ensure_writable_dir(osp.join(out_dir, 'preds'))
    report = InferenceReport()
    bar = tqdm(total=len(paths), disable=not progress, desc='inference', unit='img')
    waiting: dict[tuple[int, ...], list[tuple[int, str, np.ndarray]]] = {}

    def run(batch: list[tuple[int, str, np.ndarray]]) -> None:
        try:
            results = detector.predict_batch([image for _, _, image in batch],
                                             score_thr=score_thr, return_vis=True)
        except (InputError, RuntimeError, ValueError, cv2.error) as err:
            # an image the model cannot take (too many tiles, say): find it, name it, go on
            if len(batch) > 1:
                for item in batch:
                    run([item])
                return
            path = batch[0][1]
            problem = (str(err) if isinstance(err, InputError) else
                       f'inference failed on this image ({type(err).__name__})')
            report.failed.append((path, problem if path in problem else f'{path}: {problem}'))
            bar.update(1)
            return
        for (index, path, image), result in zip(batch, results):
            if 'num_tiles' in result:  # sliced inference: detector runs on this image
                bar.set_postfix_str(f'{osp.basename(path)}: {result["num_tiles"]} tiles')
            name = names[path]
            os.makedirs(osp.dirname(osp.join(vis_dir, name)), exist_ok=True)
            os.makedirs(osp.dirname(osp.join(pred_dir, name)), exist_ok=True)
            cv2.imwrite(osp.join(vis_dir, name + '.png'),
                        cv2.cvtColor(result['vis'], cv2.COLOR_RGB2BGR))
            with open(osp.join(pred_dir, name + '.json'), 'w') as f:
                json.dump(prediction_to_json(path, result), f, indent=1)
            if coco is not None:
                coco.add(path, *image.shape[:2], result['boxes'], result['scores'],
                         result['labels'], index=index)
            report.written.append(path)
        bar.update(len(batch))

    for index, path in enumerate(paths):
        try:
            if coco is not None:
                coco.image_id(path, index)  # an --ann-file that lacks it: named, skipped
            image = read_image(path)
        except InputError as err:
            problem = str(err)
            report.failed.append((path, problem if path in problem else f'{path}: {problem}'))
            bar.update(1)
            continue
        group = waiting.setdefault(image.shape, [])
        group.append((index, path, image))
        if len(group) == batch_size:
            run(waiting.pop(image.shape))
    for group in waiting.values():
        run(group)
    bar.close()
    return report


def prediction_to_json(path: str, result: dict) -> dict:
    """A JSON-ready record with the keys of mmdet's ``DetInferencer``: ``bboxes`` (K lists
    of x1, y1, x2, y2 pixels), ``labels`` (K 0-based class indices), ``scores`` (K), and
    ``names`` (K class names) and ``image`` (the input path)."""
    return dict(image=path,
                bboxes=[[round(float(v), 2) for v in box] for box in result['boxes']],
                labels=[int(label) for label in result['labels']],
                scores=[round(float(score), 4) for score in result['scores']],
                names=list(result['names']))
