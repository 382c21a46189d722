"""The machine a figure was measured on: CPU model, cores, threads, library versions, date."""
from __future__ import annotations

import datetime as dt
import os
import platform
from pathlib import Path

import torch


def cpu_model() -> str:
    """The CPU's marketing name (Linux /proc/cpuinfo), else what ``platform`` knows."""
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def package_version(name: str) -> str:
    """Installed version of ``name``, or 'absent'."""
    from importlib import metadata
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return 'absent'


def machine_description(device: str = 'cpu') -> str:
    """One line: cores, torch threads, CPU or GPU name, library versions, UTC date."""
    parts = [f'{os.cpu_count()} CPU cores ({cpu_model()}), {torch.get_num_threads()} torch threads']
    if device.startswith('cuda') and torch.cuda.is_available():
        parts.append(f'GPU {torch.cuda.get_device_name(torch.device(device))} '
                     f'(CUDA {torch.version.cuda})')
    import torchvision
    versions = ', '.join([f'torch {torch.__version__}', f'torchvision {torchvision.__version__}']
                         + [f'{name} {package_version(name)}'
                            for name in ('mmcv', 'mmcv-lite', 'mmdet', 'mmengine',
                                         'onnxruntime')
                            if name not in ('mmcv', 'mmcv-lite', 'onnxruntime')
                            or package_version(name) != 'absent'])
    parts += [f'python {platform.python_version()}', versions, utc_now()]
    return '; '.join(parts)


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')
