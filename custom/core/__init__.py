"""The lowest layer of classicdet, which every other package may build on.

- ``errors``: :class:`InputError`, the library's error type for input it cannot use;
- ``safe_load``: weights-only checkpoint loading; ``checkpoints``: checking a checkpoint
  against a model; ``build_detector``: the one way a detector is built from a config and a
  checkpoint; ``model_preparation``: the test-time model changes the hooks make;
- ``hook_lists``: what a config's ``custom_hooks`` ask for;
- ``library_patches``: every change classicdet makes to mmengine's and mmdet's code.

Only the error type is imported here; the modules are imported where they are used.
"""
from .errors import InputError

__all__ = ['InputError']
