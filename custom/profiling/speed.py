"""Inference latency and throughput of a detector config, with warm-up.

One timed run = the model's ``test_step`` on a batch: host-to-device copy, normalisation and
padding by the data preprocessor, forward, and post-processing (NMS, rescaling). Image decoding
and the test pipeline are outside the timing. On CUDA each run is bracketed by
``torch.cuda.synchronize`` so that the time covers the kernels, not only their launch.

Shape shorthand: B = images per batch, H x W = input size.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

import torch
from mmengine.config import Config
from torch import nn

from custom.core.build_detector import build_detector
from custom.core.errors import InputError

from .model_inputs import make_batch

__all__ = ['SpeedReport', 'time_inference', 'benchmark_config']


@dataclass
class SpeedReport:
    """Timings of ``runs`` batches after ``warmup`` untimed ones.

    Attributes:
        device (str): where the model ran.
        size (tuple[int, int]): (H, W) input size.
        batch_size (int): B.
        warmup (int): untimed runs before timing.
        latencies_ms (list[float]): wall time of each timed batch, milliseconds.
    """
    device: str
    size: tuple[int, int]
    batch_size: int
    warmup: int
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.latencies_ms)

    @property
    def mean_ms(self) -> float:
        return statistics.fmean(self.latencies_ms)

    @property
    def fps(self) -> float:
        """Images per second at the median batch latency."""
        return self.batch_size * 1000.0 / self.median_ms

    def summary(self) -> str:
        height, width = self.size
        return (f'device {self.device}, input {height}x{width}, batch {self.batch_size}, '
                f'{self.warmup} warm-up + {len(self.latencies_ms)} timed runs\n'
                f'latency per batch: median {self.median_ms:.1f} ms, mean {self.mean_ms:.1f} ms, '
                f'min {min(self.latencies_ms):.1f} ms, max {max(self.latencies_ms):.1f} ms\n'
                f'throughput: {self.fps:.2f} images/s (median)')


def synchronize(device: str) -> None:
    """Wait for queued CUDA kernels so that wall time measures them."""
    if device.startswith('cuda'):
        torch.cuda.synchronize(device)


@torch.no_grad()
def time_inference(model: nn.Module, batch: dict, warmup: int, runs: int,
                   device: str) -> list[float]:
    """Milliseconds of each of ``runs`` ``model.test_step(batch)`` calls after ``warmup``."""
    if warmup < 0 or runs < 1:
        raise InputError(f'--warmup {warmup} / --runs {runs}: need warmup >= 0 and runs >= 1')
    for _ in range(warmup):
        model.test_step(batch)
    latencies = []
    for _ in range(runs):
        synchronize(device)
        start = time.perf_counter()
        model.test_step(batch)
        synchronize(device)
        latencies.append((time.perf_counter() - start) * 1000.0)
    return latencies


def benchmark_config(cfg: Config, checkpoint: str | None = None, device: str = 'cpu',
                     size: tuple[int, int] = (320, 320), warmup: int = 5, runs: int = 20,
                     batch_size: int = 1, image: str | None = None) -> SpeedReport:
    """Build the config's model (random weights unless ``checkpoint``) and time inference.

    Args:
        cfg (Config): a detector config.
        checkpoint (str, optional): weights to load (checked against the model).
        device (str): 'cpu', 'cuda' or 'cuda:N'.
        size (tuple[int, int]): (H, W) of the input images.
        warmup (int): untimed runs first (allocator, cuDNN autotuning, caches).
        runs (int): timed runs.
        batch_size (int): B images per run.
        image (str, optional): a real image resized to ``size``; default random pixels.
    """
    model = build_detector(cfg, checkpoint, device, test_time_hooks=True)
    batch = make_batch(tuple(size), batch_size, image)
    latencies = time_inference(model, batch, warmup, runs, device)
    return SpeedReport(device=device, size=tuple(size), batch_size=batch_size, warmup=warmup,
                       latencies_ms=latencies)
