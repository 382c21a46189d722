"""Registered data preprocessors."""
from .sync_free_det_data_preprocessor import SyncFreeDetDataPreprocessor

__all__ = ['SyncFreeDetDataPreprocessor']
