"""The benchmark scripts in bench/: fair timing, recording, the contenders' set-up, --quick runs,
and FastCocoMetric's parity with mmdet's CocoMetric (pycocotools)."""
import json
import re

import numpy as np
import pytest
import torch
from mmengine.fileio import dump as mmengine_dump

from bench import (
    common,
    digits_time_to_map,
    eval_speed,
    infer_speed,
    nms_speed,
    onnx_speed,
    sliced_inference,
    sync_count,
    train_speed,
)

R18_DIGITS = 'configs/digits/faster-rcnn_r18_fpn_540it_digits.py'


# ----------------------------------------------------------------------------- timing


class FakeClock:
    """perf_counter that only moves when a contender says how long it took."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_interleaved_alternates_contenders_and_keeps_medians(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(common.timing.time, 'perf_counter', clock)
    calls = []
    durations = {'A': iter([100.0, 3.0, 1.0, 2.0]), 'B': iter([100.0, 5.0, 7.0, 6.0])}

    def unit(name):
        def run():
            calls.append(name)
            clock.now += next(durations[name])
        return run

    timings = common.interleaved({'A': unit('A'), 'B': unit('B')}, repeats=3, warmup=1)
    assert calls == ['A', 'B'] * 4
    assert timings['A'].samples == [3.0, 1.0, 2.0]  # the warm-up's 100 s is dropped
    assert timings['A'].median == 2.0 and timings['B'].median == 6.0
    assert common.ratio(timings['A'].median, timings['B'].median) == pytest.approx(1 / 3)


def test_interleaved_records_a_failing_contender_and_goes_on():
    calls = []

    def broken():
        calls.append('broken')
        raise RuntimeError('nms_impl: implementation for device cuda:0 not found.\nmore')

    timings = common.interleaved({'broken': broken, 'fine': lambda: calls.append('fine')},
                                 repeats=2, warmup=1)
    assert calls == ['broken', 'fine', 'fine', 'fine']
    assert timings['broken'].error == ('RuntimeError: nms_impl: implementation for device '
                                       'cuda:0 not found.')
    assert not timings['broken'].ok and np.isnan(timings['broken'].median)
    assert timings['fine'].ok and len(timings['fine'].samples) == 2


def test_interleaved_rejects_bad_counts():
    with pytest.raises(ValueError, match='need repeats >= 1 and warmup >= 0, got 0 and 1'):
        common.interleaved({'A': lambda: None}, repeats=0)


def test_table_and_ratio_formatting():
    assert common.ratio(2.0, 0.0) != common.ratio(2.0, 0.0)  # NaN
    assert common.fmt(float('nan')) == 'n/a' and common.fmt(0.012345) == '0.0123'
    table = common.markdown_table(['a', 'b'], [[1, 2.5], ['x', None]])
    assert table.splitlines() == ['| a | b |', '|---|---|', '| 1 | 2.5 |', '| x | n/a |']


def test_append_results_writes_header_once_then_sections(tmp_path):
    results = tmp_path / 'RESULTS.md'
    command = common.command_line('/somewhere/bench/nms_speed.py', ['--sizes', '100', 'a b'])
    assert command == "python bench/nms_speed.py --sizes 100 'a b'"
    common.append_results('First', command, 'machine one', '| t |', results)
    common.append_results('Second', 'python bench/x.py', 'machine two', 'body', results)
    text = results.read_text()
    assert text.count('# Benchmark results') == 1
    assert text.index('## First') < text.index('## Second')
    assert f'`{command}`\n\nMachine: machine one\n\n| t |\n' in text


def test_machine_description_names_cores_threads_versions_and_date():
    line = common.machine_description('cpu')
    assert f'{torch.get_num_threads()} torch threads' in line
    assert f'torch {torch.__version__}' in line and 'mmdet 3.3.0' in line
    assert 'mmcv-lite 2.1.0' in line and 'onnxruntime 1.32.0' in line and 'absent' not in line
    assert re.search(r'\d{4}-\d\d-\d\d \d\d:\d\d UTC', line)


# ----------------------------------------------------------------------------- contenders


def test_stock_parts_twin_builds_mmdet_and_mmcv_modules():
    import mmcv.ops
    from mmdet.models.dense_heads import RPNHead
    from mmdet.models.roi_heads import Shared2FCBBoxHead, SingleRoIExtractor

    from custom.models.sync_free import SyncFreeRPNHead

    ours = common.load_model_config(R18_DIGITS, num_classes=10)
    twin = train_speed.config_for('stock-parts', R18_DIGITS, {})
    assert twin.model['backbone'] == ours.model.backbone.to_dict()  # only the parts differ
    ours_model = common.build_mmdet_model(ours, 'cpu', train=False)
    twin_model = common.build_mmdet_model(twin, 'cpu', train=False)
    assert type(ours_model.rpn_head) is SyncFreeRPNHead and type(twin_model.rpn_head) is RPNHead
    extractor = twin_model.roi_head.bbox_roi_extractor
    assert type(extractor) is SingleRoIExtractor
    assert type(ours_model.roi_head.bbox_roi_extractor) is SingleRoIExtractor
    assert isinstance(extractor.roi_layers[0], mmcv.ops.RoIAlign)
    # both keep the config's RoIAlign settings
    ours_layer = ours_model.roi_head.bbox_roi_extractor.roi_layers[0]
    assert extractor.roi_layers[0].sampling_ratio == ours_layer.sampling_ratio == \
        ours.model.roi_head.bbox_roi_extractor.roi_layer.sampling_ratio
    assert type(twin_model.roi_head.bbox_head) is Shared2FCBBoxHead
    assert twin_model.roi_head.bbox_head.num_classes == 10
    # Same parameters, so the two train the same network.
    assert {k: v.shape for k, v in ours_model.state_dict().items()} == \
        {k: v.shape for k, v in twin_model.state_dict().items()}


def test_stock_parts_twin_and_ours_train_channels_last_and_nchw_is_ours_without():
    ours = train_speed.config_for(R18_DIGITS, R18_DIGITS, {})
    twin = train_speed.config_for('stock-parts', R18_DIGITS, {})
    assert common.uses_channels_last(ours) and common.uses_channels_last(twin)
    nchw = train_speed.config_for('nchw', R18_DIGITS, {})
    assert not common.uses_channels_last(nchw) and nchw.model == ours.model
    assert [h for h in nchw.custom_hooks if h not in ours.custom_hooks] == []
    for cfg in (ours, twin):
        assert common.build_mmdet_model(cfg, 'cpu', train=True).backbone.conv1.weight \
            .is_contiguous(memory_format=torch.channels_last)
    assert common.build_mmdet_model(nchw, 'cpu', train=True).backbone.conv1.weight \
        .is_contiguous()


def test_stock_mmdet_config_is_mmdets_own_without_pretrained_weights():
    path = common.mmdet_config_path('faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py')
    cfg = common.load_model_config(path, num_classes=10)
    assert cfg.model.backbone.init_cfg is None
    assert cfg.model.roi_head.bbox_roi_extractor.roi_layer.type == 'RoIAlign'
    with pytest.raises(FileNotFoundError, match='not in the installed mmdet package'):
        common.mmdet_config_path('faster_rcnn/no-such-config.py')


def test_torchvision_contender_is_torchvisions_r50_fpn_with_mmdets_counts():
    from torchvision.models.detection import fasterrcnn_resnet50_fpn
    from torchvision.ops.misc import FrozenBatchNorm2d

    model = common.torchvision_faster_rcnn(10, (96, 128), sampling_ratio=0,
                                           **common.MMDET_R50_COUNTS)
    reference = fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=11)
    shapes = {k: v.shape for k, v in reference.state_dict().items()}
    unfrozen = common.torchvision_faster_rcnn(10, (96, 128), frozen_backbone=False)
    assert {k: v.shape for k, v in unfrozen.state_dict().items()} == shapes
    # FrozenBatchNorm2d keeps no batch counter; everything else is the same network.
    assert {k: v.shape for k, v in model.state_dict().items()} == \
        {k: v for k, v in shapes.items() if not k.endswith('num_batches_tracked')}
    body = model.backbone.body
    assert isinstance(body.bn1, FrozenBatchNorm2d)
    assert not any(p.requires_grad for p in body.layer1.parameters())
    assert all(p.requires_grad for p in body.layer2.parameters())
    assert model.rpn._pre_nms_top_n == dict(training=2000, testing=1000)
    assert model.rpn._post_nms_top_n == dict(training=1000, testing=1000)
    assert model.roi_heads.fg_bg_sampler.batch_size_per_image == 512
    assert model.roi_heads.box_roi_pool.sampling_ratio == 0
    assert model.roi_heads.detections_per_img == 100
    image = torch.rand(3, 96, 128)
    assert model.transform.resize(image, None)[0] is image  # not even resampled at scale 1
    batched, _ = model.transform([image])
    assert batched.image_sizes == [(96, 128)]  # no resampling: the input size is kept
    mean = torch.tensor(model.transform.image_mean)[:, None, None]
    std = torch.tensor(model.transform.image_std)[:, None, None]
    torch.testing.assert_close(batched.tensors[0], (image - mean) / std)


@pytest.mark.parametrize('size', [(96, 96), (64, 160)])
def test_digit_canvases_keep_whole_digits_inside_the_crop(size):
    canvases = common.digit_canvases(size, 3, seed=0)
    assert len(canvases) == 3
    for canvas in canvases:
        assert canvas.image.shape == (*size, 3) and canvas.image.dtype == np.uint8
        assert len(canvas.boxes) == len(canvas.labels) >= 1
        assert (canvas.boxes[:, :2] >= 0).all() and (canvas.boxes[:, 2] <= size[1]).all()
        assert (canvas.boxes[:, 3] <= size[0]).all()
        assert (canvas.boxes[:, 2:] > canvas.boxes[:, :2]).all()
        assert set(canvas.labels.tolist()) <= set(range(10))
    batch = common.mmdet_batch(canvases[:2], 'cpu')
    torch.testing.assert_close(batch['data_samples'][0].gt_instances.bboxes,
                               torch.from_numpy(canvases[0].boxes))
    images, targets = common.torchvision_batch(canvases[:2], 'cpu')
    # BGR uint8 -> RGB float: the red channel of ours is the last one of the canvas.
    torch.testing.assert_close(images[0][0], torch.from_numpy(canvases[0].image[:, :, 2]) / 255)
    assert targets[0]['labels'].tolist() == (canvases[0].labels + 1).tolist()


# ----------------------------------------------------------------------------- --quick runs


def test_nms_quick_runs_both_without_recording(tmp_path):
    results = tmp_path / 'RESULTS.md'
    timings = nms_speed.main(['--quick', '--results', str(results)])
    assert all(t.ok for t in timings[200].values())
    assert not results.exists()
    boxes, scores = nms_speed.candidate_boxes(200)
    assert nms_speed.same_kept(nms_speed.nms_calls(boxes, scores, 0.5)) == 'yes'


def test_nms_full_mode_records_command_and_machine(tmp_path, capsys):
    results = tmp_path / 'RESULTS.md'
    argv = ['--sizes', '50', '--repeats', '1', '--warmup', '0', '--results', str(results)]
    nms_speed.main(argv + ['--no-record'])
    assert not results.exists()
    nms_speed.main(argv)
    text = results.read_text()
    assert f'`python bench/nms_speed.py {" ".join(argv)}`' in text
    assert 'Machine: ' in text and '| 50 |' in text


def test_train_quick_runs_every_contender_on_cpu(tmp_path):
    results = tmp_path / 'RESULTS.md'
    timings = train_speed.main(['--quick', '--results', str(results)])
    assert set(timings) == {('r50', 'fp32'), ('r18-digits', 'fp32'), ('vgg16-digits', 'fp32')}
    assert list(timings[('r50', 'fp32')]) == ['classicdet', 'mmdet stock', 'torchvision']
    for per_model in timings.values():
        for name, timing in per_model.items():
            assert timing.ok, f'{name}: {timing.error}'
    assert not results.exists()


def test_onnx_quick_runs_every_contender_for_both_detectors(tmp_path):
    results = tmp_path / 'RESULTS.md'
    timings = onnx_speed.main(['--quick', '--results', str(results)])
    assert list(timings) == ['r50', 'digits']
    for per_model in timings.values():
        assert list(per_model) == ['classicdet PyTorch', 'onnxruntime', 'onnxruntime fixed',
                                   'torchvision']
        for name, timing in per_model.items():
            assert timing.ok, f'{name}: {timing.error}'
    assert not results.exists()


def test_onnx_torchvision_digits_twin_has_the_configs_sizes():
    model = onnx_speed.torchvision_digits_r18((256, 256)).eval()
    assert model.rpn.anchor_generator.num_anchors_per_location() == [3] * 4
    assert model.roi_heads.box_head.fc7.out_features == 256
    with torch.no_grad():
        features = model.backbone(torch.zeros(1, 3, 256, 256))
    assert [f.shape[1:] for f in features.values()] == [(64, 64, 64), (64, 32, 32),
                                                          (64, 16, 16), (64, 8, 8)]


def test_train_nchw_adds_our_config_in_nchw_layout():
    timings = train_speed.main(['--quick', '--models', 'r50', '--nchw', '--repeats', '1'])
    assert list(timings[('r50', 'fp32')]) == ['classicdet', 'classicdet NCHW', 'mmdet stock',
                                              'torchvision']
    assert all(timing.ok for timing in timings[('r50', 'fp32')].values())


def test_train_profile_times_the_same_phases_in_every_contender(capsys):
    train_speed.main(['--quick', '--models', 'r50', '--profile'])
    sections = capsys.readouterr().out.split('Profile, r50 fp32, ')[1:]
    assert [section.split(' (one step)')[0] for section in sections] == [
        'classicdet', 'mmdet stock', 'torchvision']
    for section in sections:
        assert 'Profile failed' not in section
        for phase in ('1 preprocess', '2 backbone + neck', '3 RPN', '4 RoI head',
                      '5 backward + optimizer'):
            assert f'| {phase} | 1 |' in section, (section[:40], phase)


def test_sync_count_quick_counts_every_contender_and_restores_the_backends():
    import mmcv_lite_ext.roi_align as ext_roi_align
    gather = ext_roi_align.roi_align_gather
    results = sync_count.main(['--quick'])
    assert list(results) == ['classicdet', 'mmdet stock', 'torchvision']
    for name, counter in results.items():
        assert counter.ops > 100, name
        assert counter.syncs['nonzero'] > 0, name  # every detector samples with nonzero
        # every op falls in a phase: the model's four and the update
        assert sum(counter.phase_ops.values()) == counter.ops, name
        assert sum(counter.phase_syncs.values()) == sum(counter.syncs.values()), name
        assert counter.phase_ops['5 backward + optimizer'] > 0, name
    # Both mmdet-based models ran mmcv's NMS on torchvision's kernel (mmcv_lite_ext), whose
    # compiled CPU kernel ended in a masked_select.
    assert results['classicdet'].syncs['masked_select'] == 0
    assert results['mmdet stock'].syncs['masked_select'] == 0
    # its RPN targets and losses skip mmdet's unmap and per-level checks
    assert (sum(results['classicdet'].syncs.values())
            < sum(results['mmdet stock'].syncs.values()))
    assert ext_roi_align.roi_align_gather is gather
    from custom.models.sync_free import SyncFreeRPNHead, SyncFreeStandardRoIHead
    for head in (SyncFreeRPNHead, SyncFreeStandardRoIHead):
        assert head._samples_batch.__qualname__.startswith(head.__name__)  # restored
    # as on CUDA, both stages sampled the batch at once: no sampler nonzero is left
    ours = results['classicdet']
    assert ours.phase_syncs['3 RPN'] < results['torchvision'].phase_syncs['3 RPN']
    assert ours.syncs['nonzero'] <= 4 + 1  # the RoI extractor's levels, the RPN loss's check


def test_sync_count_quick_inference():
    results = sync_count.main(['--quick', '--inference'])
    assert list(results) == ['classicdet', 'torchvision', 'mmdet stock']
    for name, counter in results.items():
        assert counter.ops > 100, name
        assert sum(counter.syncs.values()) > 0, name  # NMS has a data-dependent size


def test_sync_counter_sees_reads_and_boolean_masks():
    x = torch.arange(6.0)
    with common.SyncCounter() as counter:
        _ = float(x.sum())
        _ = x[x > 2]
        x[x > 4] = 0
        _ = torch.nonzero(x)
        _ = x + 1
        _ = x.new_tensor([1.0, 2.0])  # copied to the device with a blocking copy on CUDA
        x[0] = 1.0  # a 0-d value: a fill on CUDA, not counted
    assert counter.syncs == {'_local_scalar_dense': 1, 'index[bool]': 1,
                             'index_put[bool]': 1, 'nonzero': 1, 'lift_fresh': 1}
    assert counter.ops >= 8


def test_train_refuses_amp_on_cpu(capsys):
    with pytest.raises(SystemExit):
        train_speed.main(['--quick', '--precision', 'amp'])
    assert '--precision amp needs --device cuda' in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the no-CUDA error')
def test_cuda_asked_without_cuda():
    with pytest.raises(SystemExit, match='--device cuda: no CUDA device is available here'):
        nms_speed.main(['--quick', '--device', 'cuda'])


def test_infer_quick_times_three_contenders(tmp_path):
    timings = infer_speed.main(['--quick', '--results', str(tmp_path / 'R.md')])
    assert list(timings) == ['classicdet', 'torchvision', 'mmdet stock']
    assert all(t.ok for t in timings.values())


def test_infer_nchw_adds_our_config_in_nchw_layout():
    calls = infer_speed.inference_calls((64, 96), 'cpu', amp=False, stock=False, proposals=32,
                                        nchw=True)
    assert list(calls) == ['classicdet', 'classicdet NCHW', 'torchvision']
    nhwc, nchw = calls['classicdet'](), calls['classicdet NCHW']()
    # the same weights (same seed) give the same detections in both layouts
    torch.testing.assert_close(nhwc[0].pred_instances.scores, nchw[0].pred_instances.scores,
                               rtol=1e-4, atol=1e-5)


def test_eval_quick_evaluators_agree_with_pycocotools(tmp_path):
    out = eval_speed.main(['--quick', '--data', str(tmp_path / 'digits')])
    outputs = out['outputs']
    reference = outputs['pycocotools']
    assert 0.2 < reference[0] < 0.9  # a realistic AP, not a trivial 0 or 1
    np.testing.assert_allclose(outputs['faster-coco-eval'], reference, rtol=0, atol=1e-4)
    assert outputs['classicdet FastCocoMetric'] == outputs['mmdet CocoMetric']
    assert eval_speed.largest_difference(outputs['mmdet CocoMetric'], reference) < 1e-9


def test_time_to_map_quick_trains_records_and_plots(tmp_path):
    work_dir = tmp_path / 'run'
    curves = digits_time_to_map.main(['--quick', '--work-dir', str(work_dir), '--configs',
                                      R18_DIGITS])
    points = curves['faster-rcnn_r18_fpn_540it_digits']
    assert [p['iter'] for p in points] == [1, 2]
    assert 0 < points[0]['train_seconds'] < points[1]['train_seconds']
    assert points[1]['wall_seconds'] > points[1]['train_seconds']
    assert json.loads((work_dir / 'time_to_map.json').read_text()) == curves
    assert (work_dir / 'time_to_map.png').read_bytes()[:4] == b'\x89PNG'


# ----------------------------------------------------------------------------- FastCocoMetric


def coco_pairs(tmp_path):
    gt_file = eval_speed.ground_truth(tmp_path / 'digits', unique=12, images=24)
    coco = json.loads(gt_file.read_text())
    return gt_file, eval_speed.as_metric_results(eval_speed.fake_detections(coco, seed=3), coco)


@pytest.mark.parametrize('classwise', [False, True])
def test_fast_coco_metric_equals_coco_metric(tmp_path, classwise):
    from mmdet.evaluation.metrics import CocoMetric
    from mmdet.evaluation.metrics import coco_metric as coco_metric_module
    from pycocotools.cocoeval import COCOeval

    from custom.evaluation.metrics import FastCocoMetric
    gt_file, pairs = coco_pairs(tmp_path)
    results = {}
    for cls in (CocoMetric, FastCocoMetric):
        metric = cls(ann_file=str(gt_file), metric='bbox', classwise=classwise)
        metric.dataset_meta = dict(classes=eval_speed.CLASSES)
        results[cls.__name__] = metric.compute_metrics(pairs)
    assert results['FastCocoMetric'] == results['CocoMetric']
    assert len(results['CocoMetric']) == (16 if classwise else 6)
    assert coco_metric_module.COCOeval is COCOeval  # the swap is undone
    assert coco_metric_module.dump is mmengine_dump


def test_one_shot_json_dump_writes_what_mmengine_writes(tmp_path):
    from custom.evaluation.metrics.fast_coco_metric import dump_json_at_once
    results = [dict(image_id=np.int64(3), bbox=[1.5, 2.0, 1 / 3, 4.0], score=np.float32(0.7),
                    category_id=1), dict(image_id=4, bbox=np.array([0.1, 0.2, 5.0, 6.0]),
                                         score=0.05, category_id=10)]
    mmengine_dump(results, str(tmp_path / 'streamed.json'))
    dump_json_at_once(results, str(tmp_path / 'at_once.json'))
    assert (tmp_path / 'at_once.json').read_bytes() == (tmp_path / 'streamed.json').read_bytes()
    assert dump_json_at_once(results, file_format='json') == mmengine_dump(results,
                                                                           file_format='json')


def test_fast_coco_metric_is_registered_and_refuses_mp_eval():
    from mmdet.registry import METRICS

    from custom.evaluation.metrics import FastCocoMetric
    assert METRICS.get('FastCocoMetric') is FastCocoMetric
    with pytest.raises(ValueError, match='FastCocoMetric: use_mp_eval=True is for pycocotools'):
        FastCocoMetric(metric='bbox', use_mp_eval=True)


# ----------------------------------------------------------------------------- CUDA


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
@pytest.mark.parametrize('script, extra', [
    (nms_speed, []), (nms_speed, ['--dtype', 'float16']), (infer_speed, ['--amp']),
    (train_speed, ['--precision', 'fp32', 'amp', '--models', 'r50', '--profile'])])
def test_quick_runs_on_cuda(tmp_path, script, extra):
    out = script.main(['--quick', '--device', 'cuda', '--results', str(tmp_path / 'R.md')]
                      + extra)
    timings = [t for group in out.values() for t in group.values()] \
        if script is not infer_speed else list(out.values())
    ours = [t for t in timings if t.ok]
    assert ours, 'no contender ran on CUDA'


def test_sliced_inference_quick_runs_every_setting(tmp_path, capsys):
    """On a checkpoint of the digits detector with random weights, saved as mmengine saves."""
    from mmengine.config import Config

    from custom.core.build_detector import build_detector
    model = build_detector(Config.fromfile(R18_DIGITS), None, 'cpu', seed=0)
    checkpoint = tmp_path / 'random.pth'
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=dict(classes=tuple('0123456789')))), checkpoint)
    results = sliced_inference.main(['--quick', '--checkpoint', str(checkpoint),
                                     '--data', str(tmp_path / 'large')])
    assert list(results) == ['whole image (no slicing)', '256 px tiles',
                             '256 px tiles, IoU merge (NMS)', '256 px tiles, no full pass']
    assert results['256 px tiles']['tiles'] == 37  # 6 x 6 tiles of a 1280 px canvas + 1
    assert results['256 px tiles, no full pass']['tiles'] == 36
    assert results['whole image (no slicing)']['tiles'] == 1
    assert (tmp_path / 'large' / 'quick' / 'annotations' / 'instances_val.json').is_file()
    assert '| 256 px tiles | 37 |' in capsys.readouterr().out


# ----------------------------------------------------------------------------- GPU check


def test_gpu_check_stage_caps_fit_its_budget_and_nothing_is_built(repo_root):
    """A lent GPU has 15 minutes of device time, its start included: the stage caps must add
    up to the script's budget, which must leave minutes for the start."""
    script = (repo_root / 'bench' / 'gpu_check.sh').read_text()
    budget = int(re.search(r'BUDGET=\$\{GPU_CHECK_BUDGET:-(\d+)\}', script).group(1))
    caps = {name: int(cap) for name, cap in re.findall(r'^stage ([\w-]+) (\d+) ', script, re.M)}
    assert {'install', 'cuda-tests', 'train-r50', 'infer-fp32', 'digits-demo'} <= set(caps)
    assert sum(caps.values()) <= budget <= 15 * 60 - 4 * 60
    carried = (repo_root / 'bench' / 'prepare_gpu.sh').read_text()
    assert 'mmcv-lite==2.1.0' in carried
    for text in (script, carried):
        assert 'pip wheel' not in text and '--no-binary' not in text
