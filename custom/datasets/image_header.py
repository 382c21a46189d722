"""Image size, mode and orientation from the file header, without decoding the pixels.

The training loader (mmcv's ``imfrombytes`` with OpenCV, flag ``'color'``) applies a JPEG's EXIF
orientation, turns grayscale, palette, RGBA and 16-bit images into 8-bit 3-channel BGR. So the
size that matters for annotations is the size *after* that rotation: :attr:`ImageHeader.size`.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

__all__ = ['ImageHeader', 'decode_problem', 'mode_note', 'read_image_header']

EXIF_ORIENTATION = 0x0112
# EXIF orientations 5..8 rotate by 90 degrees: width and height swap when loaded.
TRANSPOSING_ORIENTATIONS = (5, 6, 7, 8)


@dataclass(frozen=True)
class ImageHeader:
    """What the header says.

    Attributes:
        stored_width (int): width as stored in the file.
        stored_height (int): height as stored.
        mode (str): PIL mode, e.g. 'RGB', 'L', 'RGBA', 'I;16'.
        format (str): PIL format name, e.g. 'PNG', 'JPEG'.
        orientation (int): EXIF orientation OpenCV applies when loading (1: none).
    """

    stored_width: int
    stored_height: int
    mode: str
    format: str
    orientation: int = 1

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the image as the training loader returns it."""
        if self.orientation in TRANSPOSING_ORIENTATIONS:
            return self.stored_height, self.stored_width
        return self.stored_width, self.stored_height


def read_image_header(path: str | os.PathLike) -> ImageHeader:
    """Read an image's header; the pixel data is not decoded.

    Raises:
        OSError: the file is missing or unreadable, or PIL cannot identify it (PIL's
            ``UnidentifiedImageError`` is an ``OSError``).
    """
    with Image.open(path) as img:
        return ImageHeader(img.width, img.height, img.mode, img.format or '?',
                           loader_orientation(img))


def loader_orientation(img: Image.Image) -> int:
    """EXIF orientation of a JPEG (which OpenCV applies); 1 for other formats or no tag.

    Only JPEG is considered because that is where OpenCV's decoder honours the tag, and a PNG
    may keep its EXIF after the pixel data, where reading it would mean decoding the image."""
    if img.format != 'JPEG':
        return 1
    try:
        orientation = img.getexif().get(EXIF_ORIENTATION, 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block is not the loader's concern
        return 1
    return orientation if isinstance(orientation, int) and 1 <= orientation <= 8 else 1


def decode_problem(path: str | os.PathLike) -> str | None:
    """Decode the whole image with PIL and with OpenCV; None if both succeed, else why not.

    PIL finds truncated or corrupt data that OpenCV may silently fill with grey; OpenCV is what
    the training loader uses, so it must decode the file too."""
    with open(path, 'rb') as f:
        content = f.read()
    try:
        with Image.open(io.BytesIO(content)) as img:
            img.load()
    # PIL raises OSError, SyntaxError, ValueError, EOFError, zlib.error... on broken data.
    except Exception as exc:  # noqa: BLE001
        return f'corrupt or truncated image data ({type(exc).__name__}: {exc})'
    if cv2.imdecode(np.frombuffer(content, np.uint8), cv2.IMREAD_COLOR) is None:
        return 'OpenCV, which the training loader uses, cannot decode it'
    return None


def mode_note(header: ImageHeader) -> str | None:
    """An information line for images that are not plain 8-bit RGB; None for RGB."""
    mode = header.mode
    if mode == 'RGB':
        return None
    kind = {
        'L': 'grayscale', 'LA': 'grayscale with alpha', 'P': 'palette', 'PA': 'palette with alpha',
        'RGBA': 'RGBA', 'CMYK': 'CMYK', '1': '1-bit', 'YCbCr': 'YCbCr', 'F': '32-bit float',
        'I': '32-bit integer',
    }.get(mode, '16-bit' if mode.startswith('I;16') else mode)
    return (f'{kind} image (mode {mode}); the loader converts it to 8-bit 3-channel BGR'
            + (', dropping alpha' if 'A' in mode else ''))
