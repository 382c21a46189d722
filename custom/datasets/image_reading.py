"""The one way classicdet reads an image: checked before it is decoded, named when it fails.

Training, testing and inference all read through :func:`decode_image` (training and testing by
the ``CheckedLoadImageFromFile`` transform, inference by ``custom.apis.Detector``), so an image
that one of them refuses, every one refuses, with the same line. The checks, in order:

* the header must be an image's (PIL identifies it without decoding the pixels);
* width x height must not pass ``max_pixels`` (a 400 KB PNG can decode to 20000 x 20000
  pixels, 1.2 GB of BGR): refused *before* any pixel buffer is allocated (PIL itself stops
  at twice ``PIL.Image.MAX_IMAGE_PIXELS``; a larger ``max_pixels`` needs that raised too);
* the shorter side must be at least ``min_side`` (a 5000 x 1 image resizes to a zero side);
* a PNG must end with its ``IEND`` chunk and a JPEG with its end-of-image marker (OpenCV
  decodes a truncated file and fills the missing part with grey, without a word);
* the decoder (mmcv's ``imfrombytes``, OpenCV by default) must return an image.
"""
from __future__ import annotations

import io
import os
import re
import warnings

import mmcv
import numpy as np
from PIL import Image

from custom.core.errors import InputError

__all__ = ['DEFAULT_MAX_PIXELS', 'DEFAULT_MIN_SIDE', 'decode_image', 'read_image',
           'check_image_bytes']

# PIL's own decompression-bomb limit (Image.MAX_IMAGE_PIXELS), 1024 * 1024 * 1024 // 4 // 3.
DEFAULT_MAX_PIXELS = 89_478_485
DEFAULT_MIN_SIDE = 8

JPEG_END = b'\xff\xd9'
PNG_END = b'IEND\xaeB`\x82'


def check_image_bytes(content: bytes, name: str, max_pixels: int | None = DEFAULT_MAX_PIXELS,
                      min_side: int = DEFAULT_MIN_SIDE) -> tuple[int, int]:
    """Check an encoded image without decoding its pixels; return its (width, height).

    Args:
        content (bytes): The file's bytes.
        name (str): What the error names (the file's path).
        max_pixels (int, optional): Most pixels (width x height) accepted; None: no limit.
        min_side (int): Shortest side accepted, in pixels.

    Raises:
        InputError: ``'<name>: <problem>'``.
    """
    if not content:
        raise InputError(f'{name}: empty file, not an image')
    try:
        # PIL warns between its limit and twice it; the max_pixels check below decides.
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(content)) as img:
                width, height, kind = img.width, img.height, img.format
    # PIL raises UnidentifiedImageError, SyntaxError, ValueError... on what is not an image,
    # and DecompressionBombError past twice its own limit: the checks below name them.
    except Image.DecompressionBombError as exc:
        # PIL stops at twice its own limit before telling the size; its text has the count.
        found = re.search(r'\((\d+) pixels\)', str(exc))
        count = f'{int(found.group(1)):,} pixels' if found else 'too many pixels'
        raise InputError(f'{name}: {count}, over the limit of {max_pixels or 0:,} '
                         '(max_pixels); refused before decoding') from None
    except Exception:  # noqa: BLE001
        raise InputError(f'{name}: not an image, or its header is corrupt') from None
    if max_pixels is not None and width * height > max_pixels:
        raise InputError(f'{name}: {width}x{height} is {width * height:,} pixels, over the limit '
                         f'of {max_pixels:,} (max_pixels); refused before decoding')
    if min(width, height) < min_side:
        raise InputError(f'{name}: {width}x{height} has a side under {min_side} pixels '
                         '(min_side)')
    tail = content.rstrip(b'\x00')
    if kind == 'JPEG' and not tail.endswith(JPEG_END):
        raise InputError(f'{name}: truncated JPEG (no end-of-image marker)')
    if kind == 'PNG' and PNG_END not in tail[-64:]:
        raise InputError(f'{name}: truncated PNG (no IEND chunk)')
    return width, height


def decode_image(content: bytes, name: str, flag: str = 'color', backend: str = 'cv2',
                 max_pixels: int | None = DEFAULT_MAX_PIXELS,
                 min_side: int = DEFAULT_MIN_SIDE) -> np.ndarray:
    """Check and decode an image as mmcv's ``LoadImageFromFile`` does.

    Args:
        content (bytes): The file's bytes.
        name (str): What the error names.
        flag (str): mmcv's colour flag ('color': BGR uint8 (H, W, 3), EXIF orientation applied).
        backend (str): mmcv's decoding backend. Defaults to 'cv2'.
        max_pixels, min_side: as for :func:`check_image_bytes`.

    Returns:
        ndarray: the image, (H, W, 3) BGR uint8 for ``flag='color'``.

    Raises:
        InputError: the file is not an image, too large, too small, truncated or undecodable.
    """
    check_image_bytes(content, name, max_pixels, min_side)
    try:
        img = mmcv.imfrombytes(content, flag=flag, backend=backend)
    except Exception:  # noqa: BLE001 - the decoder's own text names no file
        img = None
    if img is None or img.size == 0:
        raise InputError(f'{name}: corrupt image data (the decoder could not read it)')
    return img


def read_image(path: str | os.PathLike, max_pixels: int | None = DEFAULT_MAX_PIXELS,
               min_side: int = DEFAULT_MIN_SIDE, flag: str = 'color') -> np.ndarray:
    """Read an image file as BGR uint8 (H, W, 3); grayscale, RGBA and 16-bit are converted.

    Raises:
        InputError: the file is missing or unreadable, or :func:`decode_image` refuses it.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError(f'{path}: no such image file')
    try:
        with open(path, 'rb') as f:
            content = f.read()
    except OSError as err:
        raise InputError(f'{path}: cannot read ({err.strerror})') from err
    return decode_image(content, path, flag=flag, max_pixels=max_pixels, min_side=min_side)
