"""Detection on a video: an annotated video out and one JSON line per frame.

``tools/infer.py VIDEO CONFIG CKPT --out-dir DIR [--frame-stride N]`` runs
:func:`predict_video`: every N-th frame is detected; DIR/NAME.mp4 shows those frames with
their detections (at the video's frame rate / N), and DIR/NAME.jsonl has one line per
detected frame, ``{"frame", "time", "bboxes", "labels", "scores", "names"}`` (the keys of the
per-image JSON, boxes x1, y1, x2, y2 in pixels). A progress bar shows frames per second.
"""
from __future__ import annotations

import json
import math
import os
import os.path as osp
from dataclasses import dataclass

import cv2
from tqdm import tqdm

from custom.core.errors import InputError

from .config import ensure_writable_dir
from .predict_files import prediction_to_json

__all__ = ['VIDEO_EXTENSIONS', 'VideoReport', 'is_video', 'open_video', 'predict_video']

# FFmpeg prints its own complaints (``moov atom not found``) straight to stderr, past the one
# line a bad video gets; read before FFmpeg's first use, so set on import.
os.environ.setdefault('OPENCV_FFMPEG_LOGLEVEL', '-8')

VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mov', '.mkv', '.webm', '.m4v', '.mpg', '.mpeg', '.wmv')


def is_video(path: str) -> bool:
    """Whether ``path`` is a file with a video extension."""
    return osp.isfile(path) and path.lower().endswith(VIDEO_EXTENSIONS)


@dataclass
class VideoReport:
    """What :func:`predict_video` wrote."""
    frames_read: int
    frames_detected: int
    video: str
    jsonl: str
    fps: float


def open_video(path: str) -> cv2.VideoCapture:
    """An opened capture whose first frame decodes.

    Raises:
        InputError: the file is missing, not a video, or its codec cannot be decoded here.
    """
    if not osp.isfile(path):
        raise InputError(f'{path}: no such video file')
    level = cv2.getLogLevel()
    cv2.setLogLevel(0)  # silent
    try:  # FFmpeg only: other backends would take a broken file for an image sequence
        capture = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
        ok = capture.isOpened() and capture.read()[0]
    finally:
        cv2.setLogLevel(level)
    if not ok:
        capture.release()
        raise InputError(f'{path}: cannot read this video (not a video, or its codec is not '
                       "available to OpenCV's video backend)")
    capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
    return capture


def predict_video(detector, path: str, out_dir: str, score_thr: float = 0.3,
                  frame_stride: int = 1, progress: bool = True) -> VideoReport:
    """Detect on every ``frame_stride``-th frame of ``path``; write ``out_dir/NAME.mp4`` and
    ``out_dir/NAME.jsonl`` (see the module docstring).

    Args:
        detector: A :class:`custom.apis.Detector`.
        frame_stride (int): Detect on frames 0, N, 2N, ...; the others are skipped
            undecoded. Defaults to 1.

    Raises:
        InputError: an unreadable video, a stride below 1, or a video that cannot be written.
    """
    if frame_stride < 1:
        raise InputError(f'--frame-stride: must be >= 1, got {frame_stride}')
    capture = open_video(path)
    ensure_writable_dir(out_dir)
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    name = osp.splitext(osp.basename(path))[0]
    video_out, jsonl_out = osp.join(out_dir, name + '.mp4'), osp.join(out_dir, name + '.jsonl')
    writer = None
    index = detected = 0
    bar = tqdm(total=math.ceil(total / frame_stride) if total else None, disable=not progress,
               desc=osp.basename(path), unit='frame')
    try:
        with open(jsonl_out, 'w') as lines:
            while True:
                if index % frame_stride:
                    if not capture.grab():
                        break
                    index += 1
                    continue
                ok, frame = capture.read()
                if not ok:
                    break
                result = detector.predict(frame, score_thr=score_thr, return_vis=True)
                if writer is None:
                    height, width = frame.shape[:2]
                    writer = cv2.VideoWriter(video_out, cv2.VideoWriter_fourcc(*'mp4v'),
                                             fps / frame_stride, (width, height))
                    if not writer.isOpened():
                        raise InputError(f'{video_out}: cannot write an mp4 video here')
                writer.write(cv2.cvtColor(result['vis'], cv2.COLOR_RGB2BGR))
                record = prediction_to_json(path, result)
                del record['image']
                lines.write(json.dumps(dict(frame=index, time=round(index / fps, 4),
                                            **record)) + '\n')
                detected += 1
                index += 1
                bar.update(1)
    finally:
        bar.close()
        capture.release()
        if writer is not None:
            writer.release()
    return VideoReport(index, detected, video_out, jsonl_out, fps)
