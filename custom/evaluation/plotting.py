"""Figures drawn with matplotlib's object API on the Agg canvas, and PNG saving.

``matplotlib.figure.Figure`` needs no display and, unlike pyplot, does not switch the global
backend of a process (a notebook) that imports this package.
"""
from __future__ import annotations

import os
import os.path as osp

from matplotlib.figure import Figure

from custom.core.errors import InputError

__all__ = ['new_figure', 'save_figure']


def new_figure(panels: int, panel_size: tuple[float, float] = (7.0, 4.5)):
    """A figure with ``panels`` side-by-side axes; returns (figure, list of axes)."""
    fig = Figure(figsize=(panel_size[0] * panels, panel_size[1]))
    axes = fig.subplots(1, panels, squeeze=False)
    return fig, list(axes[0])


def save_figure(fig: Figure, out: str, dpi: int = 120) -> str:
    """Write ``fig`` to ``out`` as PNG, creating the folder."""
    try:
        os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
        if fig.get_layout_engine() is None:  # a figure may bring its own layout
            fig.tight_layout()
        fig.savefig(out, dpi=dpi, format='png')
    except OSError as err:
        raise InputError(f'{out}: cannot write the figure ({err.strerror or err})') from err
    return out
