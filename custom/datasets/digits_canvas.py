"""An offline detection set built from the real handwritten digit scans scikit-learn ships.

``sklearn.datasets.load_digits`` holds 1,797 scans (8x8, intensities 0..16, 10 classes) from
the UCI "Optical Recognition of Handwritten Digits" data (CC BY 4.0). The scans are split into
a train and a val pool first (stratified, seeded), so val images only show scans train never
saw. Each image is a light, textured canvas with 1..``max_digits`` digits pasted at random sizes
and places, one COCO box per digit, tight around the ink.

Shape shorthand: H, W = canvas height, width; h, w = sprite height, width; N = digits on a
canvas. Boxes are COCO ``[x, y, w, h]`` in pixel units: a box covering the pixel columns
x0..x1 (inclusive) has ``x = x0`` and ``w = x1 - x0 + 1``, i.e. it spans the continuous
interval [x0, x1 + 1), which is what mmdet's CocoDataset turns into ``x1y1x2y2``.

Why the boxes are exactly tight: each digit is an alpha mask (scan intensity / 16, upscaled
smoothly) whose faint values below ``1/16`` are set to exactly 0. The box is the bounding box of
the nonzero alpha, and since ink and background differ by at least ``MIN_CONTRAST`` grey
levels, every nonzero alpha pixel changes the image by at least ``MIN_CONTRAST / 16`` levels:
the ink visibly touches all four sides of its box, and the pixels just outside are untouched
background (unless another digit's ink lies there).

Same seed, same bytes: every image draws from its own generator seeded by (seed, split,
index), nothing depends on time or on the order of work, and OpenCV's PNG writer is
deterministic.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

__all__ = [
    'CanvasConfig', 'CanvasImage', 'DigitInstance', 'DIGIT_CATEGORIES', 'SPLITS',
    'generate_digits_dataset', 'read_digit_scans', 'render_canvas', 'split_scans',
]

SPLITS = ('train', 'val')
# Category id = digit + 1 (COCO ids start at 1; 0 means background to many tools).
DIGIT_CATEGORIES = [
    dict(id=d + 1, name=str(d), supercategory='digit') for d in range(10)]
# Scan intensities below this (of 16) become alpha 0, so no invisible ink widens a box.
ALPHA_FLOOR = 1.0 / 16.0
# Background darkest level and ink brightest level: every nonzero alpha pixel is visible.
BACKGROUND_MIN = 150
INK_MAX = 60
MIN_CONTRAST = BACKGROUND_MIN - INK_MAX
# A new digit may cover at most this fraction of a smaller placed box (and vice versa).
MAX_OVERLAP = 0.1
PLACEMENT_TRIES = 50
# zlib level 3: 20% smaller than OpenCV's default 1 at about the same speed.
PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, 3]
LICENSE = dict(id=1, name='CC BY 4.0', url='https://creativecommons.org/licenses/by/4.0/')


@dataclass(frozen=True)
class CanvasConfig:
    """How one canvas is drawn.

    Args:
        img_size (int): canvas side S; images are S x S RGB.
        min_size (int): smallest digit size in pixels (the 8x8 scan's side after scaling).
        max_size (int): largest digit size in pixels.
        max_digits (int): a canvas holds 1..max_digits digits (fewer when no place is free).
        aspect_jitter (float): sprite width = size * u with u uniform in
            [1 - aspect_jitter, 1 + aspect_jitter].
    """

    img_size: int = 320
    min_size: int = 24
    max_size: int = 96
    max_digits: int = 5
    aspect_jitter: float = 0.15

    def __post_init__(self) -> None:
        if not 8 <= self.min_size <= self.max_size:
            raise ValueError(f'need 8 <= min_size <= max_size, got min_size={self.min_size}, '
                             f'max_size={self.max_size}')
        # The widest sprite (size * (1 + jitter), plus the 1-cell zero border) must fit.
        widest = sprite_shape(self.max_size, 1 + self.aspect_jitter)[1]
        if self.img_size < widest:
            raise ValueError(f'img_size={self.img_size} is too small for max_size='
                             f'{self.max_size}: a sprite can be {widest} px wide')
        if self.max_digits < 1:
            raise ValueError(f'max_digits must be >= 1, got {self.max_digits}')
        if not 0 <= self.aspect_jitter < 1:
            raise ValueError(f'aspect_jitter must be in [0, 1), got {self.aspect_jitter}')


@dataclass
class DigitInstance:
    """One pasted digit.

    Attributes:
        label (int): the digit 0..9.
        scan_id (int): index of the scan in ``load_digits()``.
        box (tuple[int, int, int, int]): tight box, inclusive pixels ``(x0, y0, x1, y1)``.
        alpha (np.ndarray): (h, w) float32 in [0, 1], the sprite's alpha; exactly 0 where no ink.
        offset (tuple[int, int]): ``(x, y)`` of the sprite's top-left pixel on the canvas.
        colour (np.ndarray): (3,) float32 BGR ink colour.
    """

    label: int
    scan_id: int
    box: tuple[int, int, int, int]
    alpha: np.ndarray
    offset: tuple[int, int]
    colour: np.ndarray

    def coco_bbox(self) -> list[int]:
        """COCO ``[x, y, w, h]`` of :attr:`box`."""
        x0, y0, x1, y1 = self.box
        return [x0, y0, x1 - x0 + 1, y1 - y0 + 1]


@dataclass
class CanvasImage:
    """A rendered canvas: ``image`` (H, W, 3) uint8 BGR; ``background`` the same canvas
    before any digit was pasted; ``instances`` in paste order."""

    image: np.ndarray
    background: np.ndarray
    instances: list[DigitInstance] = field(default_factory=list)


def read_digit_scans() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 scans and their digits: ``(1797, 8, 8)`` float64 in 0..16, ``(1797,)`` int."""
    from sklearn.datasets import load_digits  # slow import; only the generator needs it

    digits = load_digits()
    return digits.images, digits.target.astype(np.int64)


def split_scans(labels: np.ndarray, seed: int, val_fraction: float = 0.2
                ) -> dict[str, np.ndarray]:
    """Stratified, seeded split of scan indices into disjoint ``train`` and ``val`` pools.

    Args:
        labels (np.ndarray): (num_scans,) digit of every scan.
        seed (int): seed of the split.
        val_fraction (float): share of each digit's scans that go to val.

    Returns:
        dict[str, np.ndarray]: sorted scan indices per split.
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f'val_fraction must be in (0, 1), got {val_fraction}')
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7919]))
    train, val = [], []
    for digit in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == digit))
        num_val = max(1, int(round(len(idx) * val_fraction)))
        val.append(idx[:num_val])
        train.append(idx[num_val:])
    return dict(train=np.sort(np.concatenate(train)), val=np.sort(np.concatenate(val)))


def sprite_shape(size: int, aspect: float) -> tuple[int, int]:
    """(h, w) of a sprite whose 8x8 scan is ``size`` px tall: the scan plus a 1-cell zero
    border on every side (10 cells), so the ink fades out inside the sprite."""
    cell_h, cell_w = size / 8.0, size * aspect / 8.0
    return int(round(10 * cell_h)), int(round(10 * cell_w))


def largest_fitting_size(img_size: int, aspect_jitter: float = 0.15) -> int:
    """The largest digit size whose widest sprite still fits an ``img_size`` canvas."""
    size = int(img_size * 8 / (10 * (1 + aspect_jitter))) + 1
    while size > 0 and sprite_shape(size, 1 + aspect_jitter)[1] > img_size:
        size -= 1
    return size


def digit_alpha(scan: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Smoothly upscaled alpha mask of one scan.

    Args:
        scan (np.ndarray): (8, 8) intensities in 0..16.
        shape (tuple[int, int]): (h, w) of the sprite.

    Returns:
        np.ndarray: (h, w) float32 in [0, 1]; values below ``ALPHA_FLOOR`` are exactly 0.
    """
    padded = np.pad(scan.astype(np.float32), 1)
    h, w = shape
    alpha = cv2.resize(padded, (w, h), interpolation=cv2.INTER_CUBIC) / 16.0
    alpha = np.clip(alpha, 0.0, 1.0)  # cubic over/undershoot
    alpha[alpha < ALPHA_FLOOR] = 0.0
    return alpha


def nonzero_box(alpha: np.ndarray) -> tuple[int, int, int, int]:
    """Inclusive ``(x0, y0, x1, y1)`` of the nonzero pixels of an (h, w) mask."""
    rows = np.flatnonzero(alpha.any(axis=1))
    cols = np.flatnonzero(alpha.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1])


def overlap_ratio(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    """Intersection over the smaller area of two inclusive pixel boxes (x0, y0, x1, y1).

    Stricter than IoU: a small digit inside a big digit's box is rejected too."""
    iw = min(a[2], b[2]) - max(a[0], b[0]) + 1
    ih = min(a[3], b[3]) - max(a[1], b[1]) + 1
    if iw <= 0 or ih <= 0:
        return 0.0
    area = lambda r: (r[2] - r[0] + 1) * (r[3] - r[1] + 1)
    return iw * ih / min(area(a), area(b))


def make_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A light paper-like canvas: tinted base, low-frequency shading, fine texture and dust.

    Per-pixel Gaussian grain would triple the PNG size; sparse dust specks give the detector
    high-frequency clutter to ignore at a fraction of the bytes.

    Returns:
        np.ndarray: (size, size, 3) uint8 BGR, every value >= ``BACKGROUND_MIN``.
    """
    tint = (rng.uniform(185, 230) + rng.uniform(-10, 10, size=3)).astype(np.float32)
    luminance = smooth_noise(rng, 4, size) * np.float32(rng.uniform(4, 12))
    luminance += smooth_noise(rng, max(2, size // 10), size) * np.float32(rng.uniform(1, 3))
    num_specks = int(rng.binomial(size * size, rng.uniform(0.002, 0.01)))
    specks = rng.integers(0, size * size, num_specks)
    luminance.ravel()[specks] += rng.normal(-10, 8, num_specks).astype(np.float32)
    canvas = np.rint(luminance)[..., None] + tint
    return np.clip(canvas, BACKGROUND_MIN, 255).astype(np.uint8)


def smooth_noise(rng: np.random.Generator, cells: int, size: int) -> np.ndarray:
    """(size, size) float32 noise: a cells x cells Gaussian grid upscaled bicubically.

    Large factors go through a size/8 intermediate (cubic, then linear): the same smooth
    field at a fifth of the cost of one big cubic resize."""
    grid = rng.normal(0, 1, (cells, cells)).astype(np.float32)
    mid = max(cells, size // 8)
    grid = cv2.resize(grid, (mid, mid), interpolation=cv2.INTER_CUBIC)
    return cv2.resize(grid, (size, size), interpolation=cv2.INTER_LINEAR)


def ink_colour(rng: np.random.Generator) -> np.ndarray:
    """A dark pen tone, (3,) float32 BGR, every channel <= ``INK_MAX``."""
    tone = rng.uniform(0, INK_MAX - 15)
    return np.clip(tone + rng.uniform(-15, 15, size=3), 0, INK_MAX).astype(np.float32)


def paste(canvas: np.ndarray, alpha: np.ndarray, offset: tuple[int, int],
          colour: np.ndarray) -> None:
    """Alpha-blend ``colour`` onto ``canvas`` (H, W, 3) uint8 in place over an (h, w) mask at
    ``offset`` (x, y); pixels where alpha is 0 keep their exact value."""
    x, y = offset
    h, w = alpha.shape
    region = canvas[y:y + h, x:x + w].astype(np.float32)
    a = alpha[..., None]
    blended = np.rint(region * (1.0 - a) + colour * a)
    canvas[y:y + h, x:x + w] = np.where(a > 0, blended, region).astype(np.uint8)


def place_digit(rng: np.random.Generator, alpha: np.ndarray, img_size: int,
                placed: list[tuple[int, int, int, int]]
                ) -> tuple[tuple[int, int], tuple[int, int, int, int]] | None:
    """Random offset for a sprite fully inside the canvas whose tight box overlaps every placed
    box by at most ``MAX_OVERLAP``; None after ``PLACEMENT_TRIES`` failures."""
    h, w = alpha.shape
    bx0, by0, bx1, by1 = nonzero_box(alpha)
    for _ in range(PLACEMENT_TRIES):
        x = int(rng.integers(0, img_size - w + 1))
        y = int(rng.integers(0, img_size - h + 1))
        box = (x + bx0, y + by0, x + bx1, y + by1)
        if all(overlap_ratio(box, other) <= MAX_OVERLAP for other in placed):
            return (x, y), box
    return None


def render_canvas(seed: int, split: str, index: int, scans: np.ndarray, labels: np.ndarray,
                  pool: np.ndarray, cfg: CanvasConfig = CanvasConfig()) -> CanvasImage:
    """Draw image ``index`` of ``split``; the same arguments always give the same pixels.

    Args:
        seed (int): dataset seed.
        split (str): 'train' or 'val'; picks the generator stream.
        index (int): image index within the split (0-based).
        scans (np.ndarray): (num_scans, 8, 8) all scans.
        labels (np.ndarray): (num_scans,) their digits.
        pool (np.ndarray): scan indices this split may use.
        cfg (CanvasConfig): canvas options.

    Returns:
        CanvasImage: the image, its background and its N digits.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, SPLITS.index(split), index]))
    background = make_background(rng, cfg.img_size)
    image = background.copy()
    pool_by_digit = [pool[labels[pool] == d] for d in range(10)]
    instances: list[DigitInstance] = []
    for _ in range(int(rng.integers(1, cfg.max_digits + 1))):
        digit = int(rng.integers(0, 10))
        scan_id = int(rng.choice(pool_by_digit[digit]))
        size = int(rng.integers(cfg.min_size, cfg.max_size + 1))
        aspect = float(rng.uniform(1 - cfg.aspect_jitter, 1 + cfg.aspect_jitter))
        alpha = digit_alpha(scans[scan_id], sprite_shape(size, aspect))
        spot = place_digit(rng, alpha, cfg.img_size, [inst.box for inst in instances])
        colour = ink_colour(rng)  # drawn even when skipped, so later digits do not shift
        if spot is None:
            continue
        offset, box = spot
        paste(image, alpha, offset, colour)
        instances.append(DigitInstance(digit, scan_id, box, alpha, offset, colour))
    return CanvasImage(image, background, instances)


def file_name_of(image_id: int) -> str:
    """PNG name of an image id."""
    return f'{image_id:05d}.png'


def coco_skeleton(split: str, pool: np.ndarray, cfg: CanvasConfig, seed: int) -> dict:
    """The COCO dict of a split without images and annotations."""
    return dict(
        info=dict(
            description=f'classicdet digits detection set, {split} split',
            source='sklearn.datasets.load_digits (UCI Optical Recognition of Handwritten '
                   'Digits, CC BY 4.0)',
            version='1.0',
            generator=dict(seed=seed, img_size=cfg.img_size, min_size=cfg.min_size,
                           max_size=cfg.max_size, max_digits=cfg.max_digits),
            # Which load_digits() scans this split may show; disjoint across splits.
            scan_ids=[int(i) for i in pool]),
        licenses=[LICENSE],
        images=[],
        annotations=[],
        categories=DIGIT_CATEGORIES)


def write_json_atomic(obj: dict, path: Path) -> None:
    """Write JSON through a temporary file, so a killed run never leaves half a file."""
    tmp = path.with_suffix(path.suffix + '.tmp')
    with open(tmp, 'w') as f:
        json.dump(obj, f, separators=(',', ':'))
    os.replace(tmp, path)


@dataclass(frozen=True)
class SplitJob:
    """Everything a worker needs to render and write the images of one split."""

    img_dir: Path
    split: str
    seed: int
    scans: np.ndarray
    labels: np.ndarray
    pool: np.ndarray
    cfg: CanvasConfig

    def __call__(self, index: int) -> list[tuple[int, int, list[int]]]:
        """Render image ``index``, write its PNG; returns ``(label, scan_id, bbox)`` per digit."""
        canvas = render_canvas(self.seed, self.split, index, self.scans, self.labels, self.pool,
                               self.cfg)
        path = self.img_dir / file_name_of(index + 1)
        if not cv2.imwrite(str(path), canvas.image, PNG_PARAMS):
            raise OSError(f'{path}: OpenCV could not write the image')
        return [(inst.label, inst.scan_id, inst.coco_bbox()) for inst in canvas.instances]


def run_jobs(job: SplitJob, num_images: int, workers: int, progress: bool
             ) -> list[list[tuple[int, int, list[int]]]]:
    """``job(i)`` for every image, in order, on ``workers`` processes (1: in this process)."""
    from tqdm import tqdm

    bar = dict(total=num_images, desc=f'digits {job.split}', unit='img', disable=not progress)
    if workers <= 1 or num_images < 2 * workers:
        return [job(i) for i in tqdm(range(num_images), **bar)]
    # fork: workers inherit the scans without pickling and skip re-importing the package.
    ctx = mp.get_context('fork' if 'fork' in mp.get_all_start_methods() else None)
    with ctx.Pool(workers) as pool:
        return list(tqdm(pool.imap(job, range(num_images), chunksize=16), **bar))


def generate_split(out_dir: Path, split: str, num_images: int, scans: np.ndarray,
                   labels: np.ndarray, pool: np.ndarray, cfg: CanvasConfig, seed: int,
                   workers: int, progress: bool) -> Path:
    """Render and write one split's PNGs and its annotation file; returns the JSON path."""
    img_dir = out_dir / split
    img_dir.mkdir(parents=True, exist_ok=True)
    job = SplitJob(img_dir, split, seed, scans, labels, pool, cfg)
    coco = coco_skeleton(split, pool, cfg, seed)
    return write_coco(coco, run_jobs(job, num_images, workers, progress), cfg.img_size,
                      out_dir / 'annotations' / f'instances_{split}.json')


def write_coco(coco: dict, per_image: list[list[tuple[int, int, list[int]]]], img_size: int,
               ann_path: Path) -> Path:
    """Add the rendered images (ids 1..N, in order) and their digits' ``(label, scan_id,
    bbox)`` to ``coco``, and write it atomically to ``ann_path``; returns ``ann_path``."""
    for index, digits in enumerate(per_image):
        image_id = index + 1
        coco['images'].append(dict(id=image_id, file_name=file_name_of(image_id),
                                   width=img_size, height=img_size, license=LICENSE['id']))
        for label, scan_id, bbox in digits:
            coco['annotations'].append(dict(
                id=len(coco['annotations']) + 1, image_id=image_id, category_id=label + 1,
                bbox=bbox, area=bbox[2] * bbox[3], iscrowd=0, scan_id=scan_id))
    ann_path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(coco, ann_path)
    return ann_path


def generate_digits_dataset(out_dir: str | os.PathLike, num_train: int = 2000,
                            num_val: int = 300, img_size: int = 320, min_size: int = 24,
                            max_size: int = 96, max_digits: int = 5, seed: int = 0,
                            val_fraction: float = 0.2, workers: int | None = None,
                            progress: bool = True) -> dict[str, Path]:
    """Write the digits detection set in COCO format.

    Layout: ``out_dir/{train,val}/NNNNN.png`` and
    ``out_dir/annotations/instances_{train,val}.json``.

    Args:
        out_dir (str | PathLike): output folder (created).
        num_train (int): train images.
        num_val (int): val images.
        img_size (int): canvas side in pixels.
        min_size (int): smallest digit size (px of the 8x8 scan's side).
        max_size (int): largest digit size.
        max_digits (int): most digits per image (at least one).
        seed (int): seed of the scan split and of every image.
        val_fraction (float): share of each digit's scans reserved for val.
        workers (int | None): processes that render images; None: one per CPU (at most 8).
            The output does not depend on it.
        progress (bool): show a tqdm progress bar.

    Returns:
        dict[str, Path]: annotation file per split, e.g. ``{'train': .../instances_train.json}``.

    Raises:
        ValueError: on impossible options (e.g. ``min_size`` larger than the canvas allows).

    A ``max_size`` too large for ``img_size`` is lowered to the largest size that fits, with a
    warning, so small canvases (e.g. 128 px for quick tests) work with the default sizes.
    """
    for name, value in (('num_train', num_train), ('num_val', num_val)):
        if value < 0:
            raise ValueError(f'{name} must be >= 0, got {value}')
    fits = largest_fitting_size(img_size)
    if fits < min_size <= max_size:
        raise ValueError(f'img_size={img_size} is too small for min_size={min_size}: the largest '
                         f'digit size that fits is {fits}')
    if max_size > fits >= min_size:
        warnings.warn(f'max_size={max_size} does not fit a {img_size} px canvas; using {fits}',
                      stacklevel=2)
        max_size = fits
    cfg = CanvasConfig(img_size, min_size, max_size, max_digits)
    scans, labels = read_digit_scans()
    pools = split_scans(labels, seed, val_fraction)
    out_dir = Path(out_dir)
    counts = dict(train=num_train, val=num_val)
    workers = min(os.cpu_count() or 1, 8) if workers is None else workers
    return {split: generate_split(out_dir, split, counts[split], scans, labels, pools[split],
                                  cfg, seed, workers, progress)
            for split in SPLITS}
