"""Hostile files for the tests: images, checkpoints and label files a careless or malicious
user could give the tools, each made in a few milliseconds."""
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import torch


def write_png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims ``width`` x ``height`` (a decompression bomb as far as any
    reader that trusts the header knows) with a few bytes of pixel data and an IEND."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack('>I', len(data)) + kind + data
                + struct.pack('>I', zlib.crc32(kind + data) & 0xffffffff))
    ihdr = struct.pack('>IIBBBBB', width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr)
                     + chunk(b'IDAT', zlib.compress(b'\x00' * 64)) + chunk(b'IEND', b''))
    return path


def write_image(path: Path, height: int = 48, width: int = 64, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    assert cv2.imwrite(str(path), rng.integers(0, 255, (height, width, 3), dtype=np.uint8))
    return path


def write_truncated(path: Path, keep: float = 0.6, height: int = 64, width: int = 64) -> Path:
    """An image file cut after ``keep`` of its bytes (as a broken download leaves it)."""
    write_image(path, height, width)
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])
    return path


class RunsCode:
    """Pickles as a call of ``print``: loading it with full pickle would run code."""

    def __reduce__(self):
        return (print, ('this checkpoint ran code',))


def write_malicious_checkpoint(path: Path) -> Path:
    torch.save({'state_dict': {}, 'payload': RunsCode()}, path)
    return path


def write_truncated_checkpoint(path: Path, source: Path) -> Path:
    data = source.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    return path
