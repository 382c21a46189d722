"""classicdet: classic backbones and Faster R-CNN-style detectors on MMDetection 3.x.

Importing this package (configs do it through
``custom_imports = dict(imports=['custom'], allow_failed_imports=False)``) registers every
module into MMDetection's registries and installs the safe checkpoint loader.
"""
import warnings

from .utils.safe_load import install_safe_loading

# mmengine 0.10.7 resolves `mmdet::` config bases through pkg_resources; setuptools warns.
warnings.filterwarnings('ignore', message='pkg_resources is deprecated', category=UserWarning)

install_safe_loading()

from . import (analysis, apis, datasets, engine, evaluation, fundamentals, metrics,  # noqa: E402,F401,I001
               models)

__version__ = '0.1.0'

__all__ = [
    'analysis', 'apis', 'datasets', 'engine', 'evaluation', 'fundamentals', 'metrics', 'models',
    '__version__'
]
