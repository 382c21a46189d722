"""Draw docs/architecture.png, the layers of classicdet: ``python docs/draw_architecture.py``.

The layers are the ones ``tests/test_architecture.py`` checks: a package imports only from the
layers below it.
"""
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

# (row, column start, width, label, note); row 0 is the bottom.
BOXES = [
    (5, 0.0, 12.0, 'tools/', 'train.py  test.py  infer.py  deploy/  analysis_tools/  '
     'dataset_converters/ ...\nparse arguments, load the config, call custom.apis'),
    (4, 0.0, 12.0, 'custom/apis', 'Detector (the Python API), the tools\' logic, one-line errors'),
    (3, 0.0, 5.4, 'custom/evaluation', 'build_detector, metrics, curves, PR,\n'
     'confusion matrix, recall, speed, FLOPs'),
    (3, 5.6, 3.0, 'custom/deploy', 'ONNX graph, export,\nonnxruntime model'),
    (3, 8.8, 3.2, 'custom/fundamentals', 'the course: perceptron,\nMLP, LeNet-5, NMS'),
    (2, 0.0, 5.0, 'custom/models', 'backbones, layers, window proposals,\n'
     'IterativeBBoxRoIHead, sync_free/'),
    (2, 5.2, 3.4, 'custom/engine', 'hooks, distributed\nwrappers'),
    (2, 8.8, 3.2, 'custom/datasets', 'digits set, COCO\nvalidation, converters'),
    (1, 0.0, 12.0, 'custom/core', 'build_detector, safe checkpoint loading, InputError'),
    (0, 0.0, 7.8, 'MMDetection 3.3 / mmengine / mmcv-lite', 'registries, runner, base classes'),
    (0, 8.0, 4.0, 'mmcv_lite_ext', 'mmcv\'s ops on torch\nand torchvision'),
]
COLOURS = {5: '#e8eef7', 4: '#dbe7f5', 3: '#cfe3d4', 2: '#f6e7c8', 1: '#eadcf0', 0: '#e6e6e6'}


def draw(out: Path) -> Path:
    fig = Figure(figsize=(10, 7.2))
    ax = fig.add_axes((0.02, 0.02, 0.96, 0.90))
    ax.set_xlim(-0.2, 12.2)
    ax.set_ylim(-0.3, 6.1)
    ax.axis('off')
    fig.suptitle('classicdet: each layer imports only from the layers below it', fontsize=13)
    for row, x, width, label, note in BOXES:
        y = row * 1.0
        ax.add_patch(FancyBboxPatch((x, y), width, 0.78,
                                    boxstyle='round,pad=0.02,rounding_size=0.08',
                                    facecolor=COLOURS[row], edgecolor='#555555', linewidth=1))
        ax.text(x + 0.15, y + 0.62, label, fontsize=10.5, fontweight='bold', va='center')
        ax.text(x + 0.15, y + 0.27, note, fontsize=8.2, va='center', color='#333333')
    for row in range(5, 0, -1):
        ax.add_patch(FancyArrowPatch((11.6, row * 1.0 - 0.01), (11.6, row * 1.0 - 0.2),
                                     arrowstyle='-|>', mutation_scale=12, color='#555555'))
    fig.savefig(out, dpi=110)
    return out


if __name__ == '__main__':
    print(draw(Path(__file__).with_name('architecture.png')))
