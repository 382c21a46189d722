"""Names of inference outputs that never collide: one output per input, whatever the inputs.

The rule (stated in the README): an image's outputs keep its path relative to the deepest
folder that holds every input, sub-folders included; the file name is the image's name
without its extension, unless another input in the same folder has the same name without
extension (``a.png`` and ``a.jpg``), in which case both keep the extension (``a.png``,
``a.jpg``). So ``d1/x.png`` and ``d2/x.png`` give ``d1/x`` and ``d2/x``, and ``a.png`` plus
``a.jpg`` give ``a.png`` and ``a.jpg``; ``tools/infer.py`` then writes ``vis/<name>.png`` and
``preds/<name>.json``.
"""
from __future__ import annotations

import os
import os.path as osp
from collections import Counter

__all__ = ['output_names']


def output_names(paths: list[str]) -> dict[str, str]:
    """Each input path → its output name (a relative path without extension), all distinct.

    Args:
        paths (list[str]): the image paths, as collected (no path twice).

    Returns:
        dict[str, str]: path → name such as ``'d1/x'`` or ``'a.png'``.
    """
    if not paths:
        return {}
    absolute = {p: osp.abspath(p) for p in paths}
    root = osp.commonpath([osp.dirname(a) for a in absolute.values()])
    relative = {p: osp.relpath(a, root) for p, a in absolute.items()}
    stems = Counter(osp.normcase(osp.splitext(r)[0]) for r in relative.values())
    names = {}
    for path, rel in relative.items():
        stem = osp.splitext(rel)[0]
        names[path] = (rel if stems[osp.normcase(stem)] > 1 else stem).replace(os.sep, '/')
    taken = Counter(osp.normcase(n) for n in names.values())
    clashing = [n for n, count in taken.items() if count > 1]
    if clashing:  # 'a.png' (stem of 'a.png.png') beside 'a.png' itself: keep every extension
        names = {p: r.replace(os.sep, '/') for p, r in relative.items()}
    return names
