"""classicdet: classic backbones and Faster R-CNN-style detectors on MMDetection 3.x.

Importing this package (configs do it through
``custom_imports = dict(imports=['custom'], allow_failed_imports=False)``) does two things:
it registers classicdet's modules into MMDetection's registries (the subpackages that hold
registered classes: datasets, deploy, engine, evaluation's metrics, inference, models), and
it installs the safe checkpoint loader (``custom.core.safe_load``, with the patches of
``custom.core.library_patches``), so that every run of a classicdet config loads mmengine
checkpoints with torch's weights-only unpickler. The tool logic (``apis``,
the analysis modules of ``evaluation``) and the course's fundamentals are imported where they
are used.
"""
import warnings

from .core.safe_load import install_safe_loading

# mmengine 0.10.7 resolves `mmdet::` config bases through pkg_resources; setuptools warns.
warnings.filterwarnings('ignore', message='pkg_resources is deprecated', category=UserWarning)

install_safe_loading()

from . import datasets, deploy, engine, evaluation, inference, models  # noqa: E402,F401,I001

__version__ = '0.1.0'

__all__ = ['datasets', 'deploy', 'engine', 'evaluation', 'inference', 'models', '__version__']
