"""classicdet: classic backbones and Faster R-CNN-style detectors on MMDetection 3.x.

Importing this package (configs do it through
``custom_imports = dict(imports=['custom'], allow_failed_imports=False)``) registers every
module into MMDetection's registries and installs the safe checkpoint loader.
"""
from .utils.safe_load import install_safe_loading

install_safe_loading()

from . import analysis, apis, datasets, engine, evaluation, fundamentals, models, ops  # noqa: E402,F401,I001

__version__ = '0.1.0'

__all__ = [
    'analysis', 'apis', 'datasets', 'engine', 'evaluation', 'fundamentals', 'models', 'ops',
    '__version__'
]
