"""Inference over many images: collect inputs, predict, write drawings and JSON."""
from __future__ import annotations

import glob
import json
import os
import os.path as osp
from dataclasses import dataclass, field

import cv2
from tqdm import tqdm

from .cli import CLIError
from .config import ensure_writable_dir
from .output_names import output_names

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp')


def collect_images(inputs: str) -> list[str]:
    """An image path, a folder (its images, sorted) or a glob pattern → image paths.

    Raises:
        CLIError: nothing matches, or the folder has no images.
    """
    if osp.isdir(inputs):
        paths = sorted(osp.join(inputs, f) for f in os.listdir(inputs)
                       if f.lower().endswith(IMAGE_EXTENSIONS))
        if not paths:
            raise CLIError(f'{inputs}: folder has no images ({", ".join(IMAGE_EXTENSIONS)})')
        return paths
    if osp.isfile(inputs):
        return [inputs]
    paths = sorted(p for p in glob.glob(inputs, recursive=True) if osp.isfile(p))
    if not paths:
        raise CLIError(f'{inputs}: no such image, folder or matching files')
    return paths


@dataclass
class InferenceReport:
    """What happened to each input."""
    written: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def infer_images(detector, paths: list[str], out_dir: str, score_thr: float = 0.3,
                 progress: bool = True) -> InferenceReport:
    """Predict on every path; write ``out_dir/vis/NAME.png`` and ``out_dir/preds/NAME.json``
    (NAME from :func:`custom.apis.output_names.output_names`: distinct for every input).

    Unreadable images are reported in the returned report and skipped; the others go on.
    """
    names = output_names(paths)
    vis_dir = ensure_writable_dir(osp.join(out_dir, 'vis'))
    pred_dir = ensure_writable_dir(osp.join(out_dir, 'preds'))
    report = InferenceReport()
    bar = tqdm(paths, disable=not progress, desc='inference', unit='img')
    for path in bar:
        try:
            result = detector.predict(path, score_thr=score_thr, return_vis=True)
        except CLIError as err:
            problem = str(err)
            report.failed.append((path, problem if path in problem else f'{path}: {problem}'))
            continue
        except (RuntimeError, ValueError, cv2.error) as err:  # one image the model cannot take
            report.failed.append((path, f'{path}: inference failed on this image '
                                        f'({type(err).__name__})'))
            continue
        if 'num_tiles' in result:  # sliced inference: detector runs on this image
            bar.set_postfix_str(f'{osp.basename(path)}: {result["num_tiles"]} tiles')
        name = names[path]
        os.makedirs(osp.dirname(osp.join(vis_dir, name)), exist_ok=True)
        os.makedirs(osp.dirname(osp.join(pred_dir, name)), exist_ok=True)
        cv2.imwrite(osp.join(vis_dir, name + '.png'), cv2.cvtColor(result['vis'],
                                                                    cv2.COLOR_RGB2BGR))
        with open(osp.join(pred_dir, name + '.json'), 'w') as f:
            json.dump(prediction_to_json(path, result), f, indent=1)
        report.written.append(path)
    return report


def prediction_to_json(path: str, result: dict) -> dict:
    """A JSON-ready record: file, and per detection its box, score, label and class name."""
    return dict(
        image=path,
        detections=[
            dict(bbox=[round(float(v), 2) for v in box], score=round(float(score), 4),
                 label=int(label), name=name)
            for box, score, label, name in zip(result['boxes'], result['scores'],
                                               result['labels'], result['names'])
        ])
