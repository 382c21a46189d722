"""tools/analysis_tools/get_flops.py and benchmark.py (custom.profiling): exact parameter
counts, FLOPs that grow by exactly the RoI head's cost per proposal, and the benchmark's
report and errors."""
import re

import pytest
import torch
from helpers import run_analysis_tool as run_main

R50_CONFIG = 'configs/faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'


def roi_head_flops_per_proposal(cfg) -> int:
    """Multiply-adds of Shared2FCBBoxHead for one RoI: fc6, fc7, classifier, box regressor."""
    head = cfg.model.roi_head.bbox_head
    fc_in = head.in_channels * head.roi_feat_size * head.roi_feat_size
    fc = head.fc_out_channels
    return fc_in * fc + fc * fc + fc * (head.num_classes + 1) + fc * 4 * head.num_classes


def test_get_flops_r50_fpn():
    """Exact params; FLOPs grow by exactly the RoI head's per-RoI cost per extra proposal.

    The API runs with 20 proposals, the CLI with 40 (both far fewer than survive NMS among
    the 3072 anchors of a random-init RPN at 96x128).
    """
    from mmdet.registry import MODELS

    from custom.apis.config import load_config
    from custom.profiling.flops import model_complexity
    cfg = load_config(R50_CONFIG, {'model.test_cfg.rpn.max_per_img': 20})
    result = model_complexity(cfg, (96, 128))
    model = MODELS.build(cfg.model)
    assert result.params == sum(p.numel() for p in model.parameters())
    assert result.params > 40_000_000  # the ResNet-50 trunk alone has 23.5M
    assert result.padded_shape == (96, 128)
    assert result.flops > 0.5e9  # ResNet-50 + FPN at 96x128 is about 0.6 GMAC before the heads

    code, out, err = run_main('get_flops', [R50_CONFIG, '--shape', '90', '120', '--cfg-options',
                                            'model.test_cfg.rpn.max_per_img=40'])
    assert code == 0, err
    assert 'input: 90x120 (padded to 96x128)' in out
    assert 'test_cfg.rpn.max_per_img = 40' in out
    assert f'({result.params:,})' in out
    flops_40 = int(re.search(r'flops: \S+ \(([\d,]+)\)', out).group(1).replace(',', ''))
    assert flops_40 - result.flops == 20 * roi_head_flops_per_proposal(cfg)


# Few proposals keep the random-weight RoI head cheap enough for a test on 2 CPU cores.
FEW_PROPOSALS = ['--cfg-options', 'model.test_cfg.rpn.nms_pre=200',
                 'model.test_cfg.rpn.max_per_img=20']


def test_benchmark_cli_on_cpu():
    code, out, err = run_main('benchmark', [R50_CONFIG, '--device', 'cpu', '--size', '64', '64',
                                            '--warmup', '1', '--runs', '2', *FEW_PROPOSALS])
    assert code == 0, err
    assert '1 warm-up + 2 timed runs' in out and 'images/s' in out


def test_benchmark_report_arithmetic():
    from custom.profiling.speed import SpeedReport
    report = SpeedReport(device='cpu', size=(64, 64), batch_size=4, warmup=0,
                         latencies_ms=[100.0, 300.0, 200.0])
    assert report.median_ms == 200.0 and report.fps == pytest.approx(20.0)


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the no-CUDA error')
def test_benchmark_cuda_without_cuda():
    code, _, err = run_main('benchmark', [R50_CONFIG, '--device', 'cuda'])
    assert code == 1 and 'CUDA was asked for but no CUDA device is available' in err


def test_benchmark_missing_checkpoint(tmp_path):
    code, _, err = run_main('benchmark', [R50_CONFIG, tmp_path / 'none.pth', '--runs', '1',
                                          '--device', 'cpu'])
    assert code == 1 and 'none.pth: no such checkpoint file' in err
