"""FLOPs and parameters of a detector config at an input size.

As MMDetection's ``tools/analysis_tools/get_flops.py`` does, the model's ``forward`` in
``'tensor'`` mode (``_forward``: backbone, neck, RPN proposals, RoI head on those proposals) is
traced by mmengine's ``get_model_complexity_info`` on one preprocessed image. Operators the
tracer has no handle for (NMS, RoIAlign) are not counted, and the RoI head is counted over the
proposals the RPN keeps (at most ``test_cfg.rpn.max_per_img``), so FLOPs of a two-stage
detector depend on that setting.

Shape shorthand: H x W = requested input size; Hp x Wp = after padding to the data
preprocessor's ``pad_size_divisor``.
"""
from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from functools import partial

import torch
from mmengine.analysis import get_model_complexity_info
from mmengine.config import Config
from mmengine.logging import MMLogger

from custom.core.build_detector import build_detector
from custom.core.errors import InputError

from .model_inputs import make_batch

__all__ = ['Complexity', 'model_complexity']


@dataclass
class Complexity:
    """What ``get_model_complexity_info`` measured.

    Attributes:
        flops (int): multiply-accumulates counted as one FLOP each (fvcore convention).
        params (int): number of parameters of the whole model.
        flops_str (str): e.g. '134G'.
        params_str (str): e.g. '41.5M'.
        activations (int): output elements of the counted operators.
        activations_str (str): e.g. '52.1M'.
        input_shape (tuple[int, int]): requested (H, W).
        padded_shape (tuple[int, int]): (Hp, Wp) the network saw.
        table (str): mmengine's per-module table ('' unless asked for).
    """
    flops: int
    params: int
    flops_str: str
    params_str: str
    activations: int
    activations_str: str
    input_shape: tuple[int, int]
    padded_shape: tuple[int, int]
    table: str = ''

    def summary(self) -> str:
        shape = f'{self.input_shape[0]}x{self.input_shape[1]}'
        if self.padded_shape != self.input_shape:
            shape += f' (padded to {self.padded_shape[0]}x{self.padded_shape[1]})'
        return (f'input: {shape}\nflops: {self.flops_str} ({self.flops:,})\n'
                f'params: {self.params_str} ({self.params:,})\n'
                f'activations: {self.activations_str}')


@contextlib.contextmanager
def quiet_current_logger(enabled: bool = True):
    """Hide the analyzer's per-operator warnings (one line per unsupported op type)."""
    logger = MMLogger.get_current_instance()
    level = logger.level
    if enabled:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


@torch.no_grad()
def model_complexity(cfg: Config, shape: tuple[int, int] = (800, 1333),
                     show_table: bool = False, verbose: bool = False) -> Complexity:
    """FLOPs and params of ``cfg.model`` (random weights, CPU) on a (1, 3, H, W) input.

    ``verbose`` keeps mmengine's warnings about operators it cannot count.

    Raises:
        InputError: the shape is not positive or the model cannot be traced.
    """
    model = build_detector(cfg, checkpoint=None, device='cpu')
    data = model.data_preprocessor(make_batch(tuple(shape)), False)
    inputs = data['inputs']  # (1, 3, Hp, Wp)
    # The tracer calls model(inputs); bind the samples (image shapes for the RPN) to forward.
    model.forward = partial(model.forward, data_samples=data['data_samples'], mode='tensor')
    try:
        with quiet_current_logger(enabled=not verbose):
            info = get_model_complexity_info(model, inputs=inputs, show_table=show_table,
                                             show_arch=False)
    except Exception as err:
        raise InputError(f'cannot trace the model for FLOP counting: {err}') from err
    finally:
        del model.forward  # back to the class's forward
    return Complexity(flops=int(info['flops']), params=int(info['params']),
                      flops_str=info['flops_str'], params_str=info['params_str'],
                      activations=int(info['activations']),
                      activations_str=info['activations_str'],
                      input_shape=tuple(shape), padded_shape=tuple(inputs.shape[-2:]),
                      table=info['out_table'])
