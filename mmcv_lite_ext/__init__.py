"""mmcv's compiled-op module (``mmcv._ext``) for the ``mmcv-lite`` wheel, on torch and torchvision.

``mmcv-lite`` is mmcv's Python code without its compiled extension; its ops call functions of
``mmcv._ext`` by name (``ext_module.nms(...)``, ``ext_module.roi_align_forward(...)``). This
package provides the ones a Faster R-CNN needs, with mmcv's signatures, in-place output
arguments included, on CPU and CUDA tensors:

- ``nms``, ``softnms``, ``nms_match`` (:mod:`.nms`);
- ``roi_align_forward`` / ``roi_align_backward``, average pooling (:mod:`.roi_align`);
- ``roi_pool_forward`` / ``roi_pool_backward`` (:mod:`.roi_pool`);
- ``get_compiler_version`` / ``get_compiling_cuda_version``.

Any other name resolves to a function that raises, when called, an error naming the op and
saying it needs a compiled mmcv, so that importing ``mmcv.ops`` (which checks that its
functions exist) works. ``python -m mmcv_lite_ext.install`` writes the ``mmcv/_ext.py`` that
re-exports this package; ``tools/setup_env.sh`` runs it.
"""
import importlib
import importlib.util
from typing import Callable, NoReturn

import torch
import torchvision

from .errors import needs_compiled_mmcv
from .nms import nms, nms_match, softnms
from .roi_align import roi_align_backward, roi_align_forward
from .roi_pool import roi_pool_backward, roi_pool_forward

# Nothing here is compiled; a compiled ``mmcv._ext`` has no such attribute.
COMPILED = False


def get_compiler_version() -> str:
    """What ``mmcv.ops.get_compiler_version()`` reports: nothing was compiled."""
    return (f'none: mmcv_lite_ext on torch {torch.__version__}, '
            f'torchvision {torchvision.__version__}')


def get_compiling_cuda_version() -> str:
    """mmcv's answer for an extension built without CUDA; CUDA tensors still run here."""
    return 'not available'


__all__ = [
    'COMPILED', 'get_compiler_version', 'get_compiling_cuda_version', 'nms', 'nms_match',
    'softnms', 'roi_align_backward', 'roi_align_forward', 'roi_pool_backward',
    'roi_pool_forward'
]


def __getattr__(name: str) -> Callable[..., NoReturn]:
    """Any other op: present, so that ``mmcv.ops`` imports, but an error when called."""
    if name.startswith('_'):  # the import machinery's and tools' probes stay AttributeErrors
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    if importlib.util.find_spec(f'{__name__}.{name}') is not None:
        # ``from mmcv_lite_ext import install`` asks for the attribute before the submodule.
        return importlib.import_module(f'{__name__}.{name}')

    def missing_op(*args, **kwargs) -> NoReturn:
        raise needs_compiled_mmcv(name)

    missing_op.__name__ = missing_op.__qualname__ = name
    return missing_op
