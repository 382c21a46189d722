"""Small helpers around mmdet's CocoMetric output files."""
from __future__ import annotations

import os
import os.path as osp

from custom.core.errors import InputError


def results_file_for(out: str) -> str:
    """The file CocoMetric writes for ``outfile_prefix = splitext(out)[0]``."""
    return osp.splitext(osp.abspath(out))[0] + '.bbox.json'


def move_results_file(out: str) -> None:
    """Rename CocoMetric's ``<prefix>.bbox.json`` to the path the user asked for."""
    written = results_file_for(out)
    if not osp.isfile(written):
        raise InputError(f'{out}: the evaluator wrote no detections file ({written} missing)')
    if osp.abspath(out) != written:
        os.replace(written, out)
