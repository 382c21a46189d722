"""Per-image latency of an exported ONNX detector in onnxruntime vs classicdet's PyTorch path
and torchvision's.

    python bench/onnx_speed.py [--models r50 digits] [--repeats 5] [--threads N]
        [--quick] [--no-record]

Two detectors, random weights (10 classes), eval mode, one image per call, interleaved:
- ``r50``: configs/faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py on an 800x1333 digits canvas;
  torchvision: ``fasterrcnn_resnet50_fpn`` with mmdet's test counts (bench/common);
- ``digits``: configs/digits/faster-rcnn_r18_fpn_540it_digits.py at its own 256x256;
  torchvision: its FasterRCNN with the same parts (R18-FPN of 64 channels, 3 anchors of
  24-192 px per position, RoIAlign 7x7 with 1 sample, a 256-wide two-FC head, 500 / 300
  proposals; torchvision has no refine step, so it runs one box-head pass to our two).

Contenders: ``classicdet PyTorch`` is ``model.test_step`` as ``tools/test.py`` runs it
(channels-last weights, folded batch norms); ``onnxruntime`` runs the graph of
``tools/deploy/export_onnx.py`` (normalisation and padding included) exported with dynamic
height and width, ``onnxruntime fixed`` the same exported for the one input size. The
CPU provider uses as many threads as torch (``--threads``); the time includes turning the
packed uint8 image into the graph's float input.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench.common import (  # noqa: E402
    MMDET_R50_COUNTS,
    add_common_args,
    apply_common_args,
    build_mmdet_model,
    digit_canvases,
    fmt,
    interleaved,
    load_model_config,
    markdown_table,
    mmdet_batch,
    ratio,
    register_modules,
    report,
    skip_resize,
    torchvision_batch,
    torchvision_faster_rcnn,
)
from custom.engine import apply_test_time_hooks  # noqa: E402

NUM_CLASSES = 10
MODELS = dict(
    r50=dict(config='configs/faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py', size=(800, 1333)),
    digits=dict(config='configs/digits/faster-rcnn_r18_fpn_540it_digits.py', size=(256, 256)))


def torchvision_digits_r18(size: tuple[int, int]) -> torch.nn.Module:
    """torchvision's FasterRCNN built with the digits R18-FPN config's parts and counts."""
    from torchvision.models import resnet18
    from torchvision.models.detection import FasterRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.backbone_utils import BackboneWithFPN
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
    from torchvision.models.detection.rpn import RPNHead
    from torchvision.ops import MultiScaleRoIAlign
    from torchvision.ops.feature_pyramid_network import ExtraFPNBlock

    class NoExtraLevel(ExtraFPNBlock):  # mmdet's FPN here has 4 outputs, no pooled 5th
        def forward(self, results, x, names):
            return results, names

    backbone = BackboneWithFPN(
        resnet18(weights=None), {f'layer{i}': str(i - 1) for i in range(1, 5)},
        [64, 128, 256, 512], 64, extra_blocks=NoExtraLevel())
    anchors = AnchorGenerator(((24, ), (48, ), (96, ), (192, )),
                              ((1.0, 1.5, 2.5), ) * 4)  # ratio = h / w, as mmdet's
    model = FasterRCNN(
        backbone, num_classes=None, min_size=min(size), max_size=max(size),
        rpn_anchor_generator=anchors, rpn_head=RPNHead(64, 3),
        box_roi_pool=MultiScaleRoIAlign(['0', '1', '2', '3'], 7, sampling_ratio=1),
        box_head=TwoMLPHead(64 * 7 * 7, 256), box_predictor=FastRCNNPredictor(256, 11),
        rpn_pre_nms_top_n_test=500, rpn_post_nms_top_n_test=300, rpn_nms_thresh=0.7,
        box_score_thresh=0.05, box_nms_thresh=0.5, box_detections_per_img=100)
    skip_resize(model)
    return model


def contenders(name: str, size: tuple[int, int], folder: str, threads: int) -> dict:
    """Contender name -> one inference call on the same image, for one detector."""
    from custom.deploy import OnnxRuntimeDetector, export_onnx
    cfg = load_model_config(MODELS[name]['config'], NUM_CLASSES)
    torch.manual_seed(0)
    model = build_mmdet_model(cfg, 'cpu', train=False)
    model.dataset_meta = dict(classes=[str(i) for i in range(NUM_CLASSES)])
    canvases = digit_canvases(size, 1, seed=1)
    batch = mmdet_batch(canvases, 'cpu', with_gt=False)
    runtimes = {}
    for label, dynamic in (('onnxruntime', True), ('onnxruntime fixed', False)):
        path = f'{folder}/{name}_{"dynamic" if dynamic else "fixed"}.onnx'
        export_onnx(model, path, size, dynamic=dynamic)
        runtimes[label] = OnnxRuntimeDetector(path, num_threads=threads)
    prepared = apply_test_time_hooks(model, cfg)  # exported first: the hooks change it

    def pytorch():
        with torch.no_grad():
            return prepared.test_step(batch)
    calls = {'classicdet PyTorch': pytorch}
    image = batch['inputs'][0]
    for label, runtime in runtimes.items():
        calls[label] = (lambda runtime=runtime: runtime.predict_array(
            image.numpy()[None].astype(np.float32), size))
    tv_model = (torchvision_faster_rcnn(NUM_CLASSES, size, **MMDET_R50_COUNTS) if name == 'r50'
                else torchvision_digits_r18(size)).eval()
    images, _ = torchvision_batch(canvases, 'cpu')

    def tv():
        with torch.no_grad():
            return tv_model(images)
    calls['torchvision'] = tv
    return calls


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--models', nargs='+', choices=sorted(MODELS), default=['r50', 'digits'])
    add_common_args(parser, repeats=5, warmup=1)
    args = parser.parse_args(argv)
    if args.device != 'cpu':
        raise SystemExit('--device: this benchmark times the CPU provider only')
    apply_common_args(args)
    register_modules()
    threads = torch.get_num_threads()
    rows, results = [], {}
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models:
            size = (64, 96) if args.quick else MODELS[name]['size']
            timings = interleaved(contenders(name, size, folder, threads), args.repeats,
                                  args.warmup, 'cpu', verbose=True)
            results[name] = timings
            ours = timings['classicdet PyTorch'].median
            for label, timing in timings.items():
                rows.append([f'{name} {size[0]}x{size[1]}', label,
                             fmt(timing.median * 1e3, 4) if timing.ok else f'n/a ({timing.error})',
                             '' if label == 'classicdet PyTorch' else ratio(timing.median, ours)])
    body = markdown_table(['detector', 'contender', 'median ms / image',
                           'latency / classicdet PyTorch'], rows)
    body += (f'\n\nBatch 1, float32, CPU, {threads} threads (torch and onnxruntime), '
             f'{args.repeats} timed rounds after {args.warmup} warm-up. Ratio < 1: faster than '
             "classicdet's PyTorch path.")
    report(args, __file__, argv if argv is not None else sys.argv[1:],
           'ONNX export: onnxruntime vs PyTorch vs torchvision latency (cpu, float32)', body)
    return results


if __name__ == '__main__':
    main()
