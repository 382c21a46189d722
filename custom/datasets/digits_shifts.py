"""Shift sets: digits pages that differ from the training distribution the way real scans do.

A detector trained on the digits set meets, on real pages, what its training never showed:
pages that are denser, photo-like backgrounds instead of paper, smaller handwriting, and the
capture itself (blur, sensor noise, low contrast, JPEG compression). Each shift set changes one
of these and keeps the rest of the val recipe, so a drop in mAP names its cause.

Every shift set draws from the val scan pool (scans training never saw) and from its own
random stream, seeded by (seed, shift name, index): the same seed gives the same bytes, and no
shift set repeats a val image. Boxes stay the generator's exactly tight ink boxes; a capture
shift changes pixels only, never where the ink is.

Shape shorthand: H, W = canvas height, width.
"""
from __future__ import annotations

import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .digits_canvas import (
    INK_MAX,
    PNG_PARAMS,
    CanvasConfig,
    coco_skeleton,
    file_name_of,
    largest_fitting_size,
    paste,
    read_digit_scans,
    render_canvas,
    run_jobs,
    smooth_noise,
    split_scans,
    write_coco,
)

__all__ = ['SHIFTS', 'Shift', 'generate_shift_set', 'photo_background', 'render_shifted']

# A photo-like background stays at least this bright, so ink (<= INK_MAX) keeps a visible edge.
PHOTO_MIN = INK_MAX + 35


@dataclass(frozen=True)
class Shift:
    """One way a page differs from the val recipe; the defaults change nothing.

    Args:
        name (str): the set's name (also its random stream).
        min_size (int | None): smallest digit size in px (None: the val recipe's).
        max_size (int | None): largest digit size in px (None: the val recipe's).
        max_digits (int | None): most digits per page (None: the val recipe's).
        photo (bool): a photo-like background (coloured shapes, edges and shading) in place
            of paper.
        blur (tuple[float, float]): Gaussian blur sigma range in px; (0, 0) is none.
        noise (tuple[float, float]): per-pixel Gaussian noise std range in grey levels.
        contrast (tuple[float, float]): contrast factor range; 1 keeps the page, 0.5 pulls
            every pixel half way to the page's mean.
        jpeg (tuple[int, int]): JPEG quality range; (0, 0) is none.
    """

    name: str
    min_size: int | None = None
    max_size: int | None = None
    max_digits: int | None = None
    photo: bool = False
    blur: tuple[float, float] = (0.0, 0.0)
    noise: tuple[float, float] = (0.0, 0.0)
    contrast: tuple[float, float] = (1.0, 1.0)
    jpeg: tuple[int, int] = (0, 0)

    def canvas_config(self, base: CanvasConfig) -> CanvasConfig:
        """The val recipe ``base`` with this shift's layout options."""
        max_size = self.max_size or base.max_size
        max_size = min(max_size, largest_fitting_size(base.img_size, base.aspect_jitter))
        return CanvasConfig(base.img_size, self.min_size or base.min_size, max_size,
                            self.max_digits or base.max_digits, base.aspect_jitter)


# What real digit pages change. Sizes are px of the 8x8 scan's side (training: 24..96).
SHIFTS = {shift.name: shift for shift in (
    Shift('dense', min_size=24, max_size=56, max_digits=14),
    Shift('photo', photo=True),
    Shift('small', min_size=12, max_size=24, max_digits=8),
    Shift('blur', blur=(1.2, 2.2)),
    Shift('noise', noise=(10.0, 18.0)),
    Shift('contrast', contrast=(0.35, 0.5)),
    Shift('jpeg', jpeg=(12, 25)),
)}


def photo_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A photo-like canvas: colour shading at several scales, overlapping coloured shapes with
    hard and soft edges, and fine grain.

    Returns:
        np.ndarray: (size, size, 3) uint8 BGR, every value >= ``PHOTO_MIN``.
    """
    base = rng.uniform(130, 220, size=3).astype(np.float32)
    canvas = np.empty((size, size, 3), np.float32)
    for c in range(3):
        canvas[..., c] = (base[c] + smooth_noise(rng, 3, size) * rng.uniform(15, 30)
                          + smooth_noise(rng, max(2, size // 24), size) * rng.uniform(4, 10))
    for _ in range(int(rng.integers(4, 12))):
        colour = tuple(float(v) for v in rng.uniform(PHOTO_MIN, 250, size=3))
        centre = tuple(int(v) for v in rng.integers(0, size, 2))
        extent = int(rng.integers(size // 12, size // 3))
        kind = int(rng.integers(0, 3))
        if kind == 0:
            corner = (centre[0] + extent, centre[1] + int(rng.integers(size // 16, size // 3)))
            cv2.rectangle(canvas, centre, corner, colour, -1)
        elif kind == 1:
            cv2.circle(canvas, centre, extent, colour, -1)
        else:
            end = tuple(int(v) for v in rng.integers(0, size, 2))
            cv2.line(canvas, centre, end, colour, int(rng.integers(2, 9)))
    canvas = cv2.GaussianBlur(canvas, (0, 0), float(rng.uniform(0.6, 2.0)))
    canvas += rng.normal(0, rng.uniform(1, 4), canvas.shape).astype(np.float32)
    return np.clip(np.rint(canvas), PHOTO_MIN, 255).astype(np.uint8)


def capture(image: np.ndarray, shift: Shift, rng: np.random.Generator) -> np.ndarray:
    """Degrade a rendered (H, W, 3) uint8 page as a camera or scanner would: contrast, blur,
    noise, then JPEG, each only when ``shift`` asks for it."""
    out = image.astype(np.float32)
    if shift.contrast != (1.0, 1.0):
        factor = rng.uniform(*shift.contrast)
        out = out.mean() + (out - out.mean()) * np.float32(factor)
    if shift.blur[1] > 0:
        out = cv2.GaussianBlur(out, (0, 0), float(rng.uniform(*shift.blur)))
    if shift.noise[1] > 0:
        out += rng.normal(0, rng.uniform(*shift.noise), out.shape).astype(np.float32)
    out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    if shift.jpeg[1] > 0:
        quality = int(rng.integers(shift.jpeg[0], shift.jpeg[1] + 1))
        ok, buffer = cv2.imencode('.jpg', out, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise OSError('OpenCV could not encode a JPEG')
        out = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    return out


def shift_stream(seed: int, shift: Shift, index: int) -> np.random.Generator:
    """The random stream of image ``index`` of ``shift``: its own, apart from train and val."""
    return np.random.default_rng(np.random.SeedSequence(
        [seed, 1000 + zlib.crc32(shift.name.encode()) % 100_000, index]))


def render_shifted(seed: int, shift: Shift, index: int, scans: np.ndarray, labels: np.ndarray,
                   pool: np.ndarray, cfg: CanvasConfig) -> tuple[np.ndarray, list]:
    """Draw image ``index`` of a shift set.

    Returns:
        tuple[np.ndarray, list[DigitInstance]]: (H, W, 3) uint8 BGR page and its digits.
    """
    rng = shift_stream(seed, shift, index)
    # The layout comes from the generator itself (a stream seeded apart from val's), so the
    # digits, sizes and ink obey the same rules as the training pages.
    layout_seed = int(rng.integers(0, 2**31))
    canvas = render_canvas(layout_seed, 'val', index, scans, labels, pool, cfg)
    image = canvas.image
    if shift.photo:
        image = photo_background(rng, cfg.img_size)
        for inst in canvas.instances:
            paste(image, inst.alpha, inst.offset, inst.colour)
    return capture(image, shift, rng), canvas.instances


@dataclass(frozen=True)
class ShiftJob:
    """Everything a worker needs to render and write the images of one shift set."""

    img_dir: Path
    shift: Shift
    seed: int
    scans: np.ndarray
    labels: np.ndarray
    pool: np.ndarray
    cfg: CanvasConfig
    split: str = field(default='')

    def __call__(self, index: int) -> list[tuple[int, int, list[int]]]:
        image, instances = render_shifted(self.seed, self.shift, index, self.scans, self.labels,
                                          self.pool, self.cfg)
        path = self.img_dir / file_name_of(index + 1)
        if not cv2.imwrite(str(path), image, PNG_PARAMS):
            raise OSError(f'{path}: OpenCV could not write the image')
        return [(inst.label, inst.scan_id, inst.coco_bbox()) for inst in instances]


def generate_shift_set(out_dir: str | os.PathLike, shift: Shift | str, num_images: int = 150,
                       img_size: int = 320, seed: int = 0, val_fraction: float = 0.2,
                       workers: int | None = None, progress: bool = True) -> Path:
    """Write one shift set in COCO format: ``out_dir/<name>/NNNNN.png`` and
    ``out_dir/annotations/instances_<name>.json``.

    Args:
        out_dir (str | PathLike): output folder (created).
        shift (Shift | str): the shift, or the name of one in :data:`SHIFTS`.
        num_images (int): images in the set.
        img_size (int): canvas side in px.
        seed (int): the digits set's seed (the scan split must be val's).
        val_fraction (float): as the digits set was generated with.
        workers (int | None): processes; None: one per CPU (at most 8). No effect on output.
        progress (bool): show a tqdm progress bar.

    Returns:
        Path: the annotation file.

    Raises:
        ValueError: an unknown shift name or a negative image count.
    """
    if isinstance(shift, str):
        if shift not in SHIFTS:
            raise ValueError(f'unknown shift {shift!r}; known: {", ".join(SHIFTS)}')
        shift = SHIFTS[shift]
    if num_images < 0:
        raise ValueError(f'num_images must be >= 0, got {num_images}')
    scans, labels = read_digit_scans()
    pool = split_scans(labels, seed, val_fraction)['val']
    base = CanvasConfig(img_size, 24, min(96, largest_fitting_size(img_size)))
    cfg = shift.canvas_config(base)
    out_dir = Path(out_dir)
    img_dir = out_dir / shift.name
    img_dir.mkdir(parents=True, exist_ok=True)
    job = ShiftJob(img_dir, shift, seed, scans, labels, pool, cfg, split=shift.name)
    workers = min(os.cpu_count() or 1, 8) if workers is None else workers
    coco = coco_skeleton('val', pool, cfg, seed)
    coco['info']['description'] = f'classicdet digits shift set {shift.name!r} (val scans)'
    coco['info']['shift'] = {k: v for k, v in shift.__dict__.items()}
    return write_coco(coco, run_jobs(job, num_images, workers, progress), img_size,
                      out_dir / 'annotations' / f'instances_{shift.name}.json')

