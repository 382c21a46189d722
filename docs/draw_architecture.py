"""Draw docs/architecture.png, the layers of classicdet: ``python docs/draw_architecture.py``.

The layers and notes come from ``custom.architecture`` (read from its file, so drawing does
not import the package), the table ``tests/test_architecture.py`` checks every import against.
"""
import ast
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

ROOT = Path(__file__).resolve().parents[1]
WIDTH = 12.0
GAP = 0.2
COLOURS = ['#e6e6e6', '#eadcf0', '#f6e7c8', '#cfe3d4', '#dbe7f5', '#e8eef7']


def layer_table(path: Path = ROOT / 'custom' / 'architecture.py') -> tuple[dict, dict]:
    """``PACKAGES`` and ``NOTES`` of custom/architecture.py (literal dicts)."""
    values = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.AnnAssign) and node.target.id in ('PACKAGES', 'NOTES'):
            values[node.target.id] = ast.literal_eval(node.value)
    return values['PACKAGES'], values['NOTES']


def boxes(packages: dict, notes: dict) -> list[tuple]:
    """(row, x, width, label, note) of every box; row 0 is the libraries, the top the tools."""
    top = max(packages.values()) + 1
    rows = [
        (top, 0.0, WIDTH, 'tools/', 'train.py  test.py  infer.py  deploy/  analysis_tools/  '
         'dataset_converters/ ...\nparse arguments, load the config, call custom.apis'),
        (0, 0.0, 7.8, 'MMDetection 3.3 / mmengine / mmcv-lite',
         'registries, runner, base classes'),
        (0, 8.0, 4.0, 'mmcv_lite_ext', "mmcv's ops on torch\nand torchvision"),
    ]
    for layer in range(1, top):
        names = [name for name, at in packages.items() if at == layer]
        width = (WIDTH - GAP * (len(names) - 1)) / len(names)
        for i, name in enumerate(names):
            rows.append((layer, i * (width + GAP), width, f'custom/{name}', notes[name]))
    return rows


def draw(out: Path) -> Path:
    packages, notes = layer_table()
    rows = boxes(packages, notes)
    top = max(row for row, *_ in rows)
    fig = Figure(figsize=(11, 1.25 * (top + 1)))
    ax = fig.add_axes((0.01, 0.01, 0.98, 0.91))
    ax.set_xlim(-0.2, WIDTH + 0.2)
    ax.set_ylim(-0.3, top + 1.0)
    ax.axis('off')
    fig.suptitle('classicdet: each layer imports only from the layers below it '
                 '(custom/architecture.py)', fontsize=12)
    for row, x, width, label, note in rows:
        ax.add_patch(FancyBboxPatch((x, row), width, 0.8,
                                    boxstyle='round,pad=0.02,rounding_size=0.08',
                                    facecolor=COLOURS[row % len(COLOURS)], edgecolor='#555555',
                                    linewidth=1))
        ax.text(x + 0.1, row + 0.64, label, fontsize=9.5, fontweight='bold', va='center')
        ax.text(x + 0.1, row + 0.3, note, fontsize=7.2, va='center', color='#333333')
    for row in range(top, 0, -1):
        ax.add_patch(FancyArrowPatch((WIDTH - 0.3, row - 0.01), (WIDTH - 0.3, row - 0.19),
                                     arrowstyle='-|>', mutation_scale=12, color='#555555'))
    fig.savefig(out, dpi=110)
    return out


if __name__ == '__main__':
    print(draw(Path(__file__).with_name('architecture.png')))
