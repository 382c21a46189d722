"""The main job end to end on a tiny generated digits set: train, resume, test, infer.

One small training run (module fixture) is shared by the tests below; each test then checks
one tool the way a user runs it, as a subprocess.
"""
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from helpers import make_digits, run_tool

CONFIG = 'configs/digits/faster-rcnn_r18_fpn_540it_digits.py'


def data_options(data_root: Path) -> list[str]:
    """--cfg-options pointing every split of the config at ``data_root``."""
    root = f'{data_root}/'
    ann = f'{root}annotations/instances_val.json'
    return [
        f'train_dataloader.dataset.data_root={root}', f'val_dataloader.dataset.data_root={root}',
        f'test_dataloader.dataset.data_root={root}', f'val_evaluator.ann_file={ann}',
        f'test_evaluator.ann_file={ann}'
    ]


def tiny_options(data_root: Path, max_iters: int) -> list[str]:
    return data_options(data_root) + [
        f'train_cfg.max_iters={max_iters}', f'train_cfg.val_interval={max_iters}',
        'default_hooks.checkpoint.interval=2', 'train_dataloader.batch_size=2',
        'default_hooks.logger.interval=1', 'randomness.seed=0',
        'param_scheduler.0.start_factor=1.0',  # no warm-up: learn something in a few steps
        # keep low-score boxes so an almost untrained model still gives a non-trivial mAP
        'model.test_cfg.rcnn.score_thr=0.0'
    ]


@pytest.fixture(scope='module')
def digits(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('digits')
    # Few, large digits: even an almost untrained detector then finds some of them, so the
    # mAP comparison below is between non-zero numbers.
    make_digits(root, train=12, val=6, img_size=160, min_size=64, max_size=96,
                seed=1, max_digits=2)
    return root


@pytest.fixture(scope='module')
def trained(digits, tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp('work')
    run_tool('tools/train.py', CONFIG, '--work-dir', work, '--cfg-options',
             *tiny_options(digits, 8))
    return work


def test_train_writes_checkpoints(trained):
    assert (trained / 'iter_6.pth').is_file() and (trained / 'iter_8.pth').is_file()
    assert (trained / 'last_checkpoint').read_text().strip().endswith('iter_8.pth')
    ckpt = torch.load(trained / 'iter_8.pth', weights_only=True)
    assert ckpt['meta']['iter'] == 8
    assert ckpt['meta']['dataset_meta']['classes'] == tuple(str(i) for i in range(10))


def test_resume_continues_at_next_iteration(digits, trained, tmp_path):
    work = tmp_path / 'resumed'
    work.mkdir()
    ckpt = trained / 'iter_6.pth'
    out = run_tool('tools/train.py', CONFIG, '--work-dir', work, '--resume', ckpt,
                   '--cfg-options', *tiny_options(digits, 8))
    log = out.stdout + out.stderr
    assert 'resumed epoch: 0, iter: 6' in log
    assert re.search(r'Iter\(train\) \[7/8\]', log)
    assert not re.search(r'Iter\(train\) \[[1-6]/8\]', log)
    assert (work / 'iter_8.pth').is_file()


def test_test_tool_map_equals_pycocotools(digits, trained, tmp_path):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    out = tmp_path / 'preds.json'
    proc = run_tool('tools/test.py', CONFIG, trained / 'iter_8.pth', '--work-dir', tmp_path,
                    '--out', out, '--cfg-options', *tiny_options(digits, 4))
    printed = dict(re.findall(r'coco/(bbox_mAP\w*)=(-?[0-9.]+)', proc.stdout))
    assert set(printed) >= {'bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75', 'bbox_mAP_s',
                            'bbox_mAP_m', 'bbox_mAP_l'}
    assert 'bbox_mAP_copypaste' in proc.stdout + proc.stderr
    # the config's FuseConvBNHook: R18's 20 batch norms folded after the checkpoint loaded
    assert 'FuseConvBNHook: folded 20 batch norms' in proc.stdout + proc.stderr
    assert re.search(r'\| category\s+\| mAP', proc.stdout + proc.stderr)  # per-class table

    gt = COCO(str(digits / 'annotations' / 'instances_val.json'))
    dets = gt.loadRes(str(out))
    assert len(dets.getAnnIds()) > 0
    ev = COCOeval(gt, dets, 'bbox')
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    assert ev.stats[1] > 0  # a non-trivial AP50, so the comparison below means something
    # At most 100 detections per image, so mmdet's maxDets (100, 300, 1000) and pycocotools'
    # default (1, 10, 100) give the same AP.
    for key, stat in zip(['bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75'], ev.stats[:3]):
        assert float(printed[key]) == pytest.approx(round(float(stat), 3), abs=1e-4), key


def test_infer_writes_png_and_json_and_names_corrupt_file(digits, trained, tmp_path):
    images = tmp_path / 'images'
    images.mkdir()
    for src in sorted((digits / 'val').glob('*.png'))[:2]:
        (images / src.name).write_bytes(src.read_bytes())
    (images / 'broken.png').write_bytes(b'\x89PNG\r\n\x1a\n not really')
    out = tmp_path / 'out'
    proc = run_tool('tools/infer.py', images, CONFIG, trained / 'iter_8.pth', '--out-dir', out,
                    '--score-thr', '0.0', check=False)
    assert proc.returncode == 1
    assert 'broken.png' in proc.stderr and 'corrupt' in proc.stderr
    good = sorted(p.stem for p in images.glob('*.png') if p.name != 'broken.png')
    assert sorted(p.stem for p in (out / 'vis').glob('*.png')) == good
    for name in good:
        img = cv2.imread(str(out / 'vis' / f'{name}.png'))
        assert img is not None and img.shape[2] == 3
        pred = json.loads((out / 'preds' / f'{name}.json').read_text())
        assert pred['image'].endswith(f'{name}.png')
        assert set(pred) == {'image', 'bboxes', 'labels', 'scores', 'names'}
        assert len(pred['bboxes']) == len(pred['labels']) == len(pred['scores'])
        for (x1, y1, x2, y2), label, score, class_name in zip(
                pred['bboxes'], pred['labels'], pred['scores'], pred['names']):
            assert x2 >= x1 and y2 >= y1 and class_name == str(label) and score >= 0.0


def test_python_api_predicts(digits, trained):
    from custom.apis import Detector
    from custom.engine import count_batch_norms
    det = Detector(CONFIG, str(trained / 'iter_8.pth'), device='cpu')
    image = sorted((digits / 'val').glob('*.png'))[0]
    result = det.predict(str(image))
    assert result['boxes'].shape[1] == 4
    assert len(result['boxes']) == len(result['scores']) == len(result['names'])
    h, w = cv2.imread(str(image)).shape[:2]
    assert (result['boxes'][:, [0, 2]] <= w + 1e-3).all()
    assert (result['boxes'][:, [1, 3]] <= h + 1e-3).all()
    # The config lists ChannelsLastHook: the API predicts channels-last as tools/test.py
    # does, with the detections of the NCHW model.
    model = det.inferencer.model
    assert model.backbone.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    assert count_batch_norms(model) == 0  # and FuseConvBNHook: folded, as tools/test.py does
    model.to(memory_format=torch.contiguous_format)
    nchw = det.predict(str(image))
    # The ten best: this barely trained model's tail has near-ties that rounding reorders.
    top = 10
    assert len(result['boxes']) >= top
    assert nchw['labels'][:top].tolist() == result['labels'][:top].tolist()
    np.testing.assert_allclose(nchw['boxes'][:top], result['boxes'][:top], rtol=0, atol=1e-3)
    np.testing.assert_allclose(nchw['scores'], result['scores'], rtol=0, atol=1e-5)


def test_sliced_test_scores_the_same_detections_when_one_tile_is_the_image(digits, trained,
                                                                          tmp_path):
    """tools/test.py --slice-size through mmengine's test loop and the same evaluator: a
    tile as large as the image (160 px), without a full pass and merged by NMS, is the
    unsliced detector, so the mAPs are equal; smaller tiles give a mAP of their own."""
    def maps(*extra):
        proc = run_tool('tools/test.py', CONFIG, trained / 'iter_8.pth', '--work-dir',
                        tmp_path, *extra, '--cfg-options', *tiny_options(digits, 4))
        return dict(re.findall(r'coco/(bbox_mAP\w*)=(-?[0-9.]+)', proc.stdout)), proc
    whole, _ = maps()
    one_tile, proc = maps('--slice-size', '200', '--no-full-pass', '--slice-merge', 'nms')
    assert 'no slicing' in proc.stdout + proc.stderr  # the note: the tile covers the image
    assert one_tile == whole and float(whole['bbox_mAP_50']) > 0
    tiles, proc = maps('--slice-size', '96', '--slice-overlap', '0.25')
    log = proc.stdout + proc.stderr
    assert 'SlicedInferenceHook: 96x96 tiles, overlap 0.25, full pass True' in log
    assert re.search(r'sliced: .*00001\.png: 5 tiles, \d+ detections', log)  # 2 x 2 + full
    assert set(tiles) == set(whole)


def test_sliced_infer_and_python_api(digits, trained, tmp_path):
    from custom.apis import Detector
    image = digits / 'val' / '00001.png'
    det = Detector(CONFIG, str(trained / 'iter_8.pth'), device='cpu', slice_size=96,
                   slice_overlap=0.25)
    result = det.predict(str(image), return_vis=True)
    assert result['num_tiles'] == 5 and result['vis'].shape == (160, 160, 3)
    assert len(result['boxes']) > 0 and (result['boxes'] <= 160).all()
    proc = run_tool('tools/infer.py', image, CONFIG, trained / 'iter_8.pth', '--out-dir',
                    tmp_path / 'out', '--slice-size', '96', '--slice-overlap', '0.25')
    assert '00001.png: 5 tiles' in proc.stderr  # the progress bar names the tile count
    assert (tmp_path / 'out' / 'preds' / '00001.json').is_file()


@pytest.mark.parametrize('args, message', [
    (['--slice-size', '0'], '--slice-size: must be one or two positive pixel counts'),
    (['--slice-size', '64', '--slice-overlap', '1'], '--slice-overlap: must be in [0, 1), got 1.0'),
])
def test_bad_slicing_options_are_one_line_errors(args, message, tmp_path):
    from in_process import call_tool
    for tool in (['tools/infer.py', 'tests', CONFIG, 'missing.pth', '--out-dir', tmp_path],
                 ['tools/test.py', CONFIG, 'missing.pth']):
        code, out = call_tool(*tool, *args)
        assert code == 1 and 'Traceback' not in out
        assert f'error: {message}' in out, out


def test_fine_tune_to_another_class_count_and_refuse_a_classifier(digits, trained, tmp_path):
    """tools/train.py --load-from: the 10-class checkpoint into the 2-class parity config;
    the box classifier is re-initialised and named; a classifier's file is refused."""
    for split in ('train', 'val'):
        run_tool('tools/dataset_converters/coco_remap.py',
                 digits / 'annotations' / f'instances_{split}.json',
                 digits / 'annotations' / f'parity_{split}.json',
                 '0,2,4,6,8=even', '1,3,5,7,9=odd')
    config = 'configs/digits/faster-rcnn_r18_fpn_150it_digits-parity.py'
    ann = f'{digits}/annotations/parity_val.json'
    options = [f'train_dataloader.dataset.data_root={digits}/',
               f'val_dataloader.dataset.data_root={digits}/',
               f'test_dataloader.dataset.data_root={digits}/', f'val_evaluator.ann_file={ann}',
               f'test_evaluator.ann_file={ann}', 'train_cfg.max_iters=2',
               'train_cfg.val_interval=2', 'train_dataloader.batch_size=2']
    proc = run_tool('tools/train.py', config, '--work-dir', tmp_path / 'ft', '--load-from',
                    trained / 'iter_8.pth', '--cfg-options', *options)
    log = proc.stdout + proc.stderr
    assert re.search(r'load_from \S+iter_8\.pth: 148 of 150 weight tensors loaded; '
                     r'roi_head\.bbox_head\.fc_cls: 10 -> 2 classes, re-initialised', log)
    assert 'CropPretrainHook: weights were loaded; no pre-training' in log
    ckpt = torch.load(tmp_path / 'ft' / 'iter_2.pth', weights_only=True)
    assert ckpt['state_dict']['roi_head.bbox_head.fc_cls.weight'].shape[0] == 3
    classifier = tmp_path / 'resnet18.pth'
    torch.save(__import__('torchvision').models.resnet18().state_dict(), classifier)
    for extra in (['--load-from', classifier], ['--load-from', classifier, '--resume']):
        proc = run_tool('tools/train.py', config, '--work-dir', tmp_path / 'no', *extra,
                        '--cfg-options', *options, check=False)
        assert proc.returncode == 1 and 'Traceback' not in proc.stderr
    assert 'error: --load-from and --resume: give one' in proc.stderr
    proc = run_tool('tools/train.py', config, '--work-dir', tmp_path / 'no', '--load-from',
                    classifier, '--cfg-options', *options, check=False)
    assert re.search(r"error: \S+resnet18\.pth: shares 0% of the model's weights \(0 of 150 "
                     r"tensors\): a classifier's file or another architecture", proc.stderr)


def test_export_onnx_then_test_infer_and_api_give_the_checkpoints_results(digits, trained,
                                                                           tmp_path):
    """tools/deploy/export_onnx.py, then the .onnx where the .pth goes: the same mAP from
    tools/test.py (within the issue's 0.005), the same detections from infer and the API."""
    onnx_file = tmp_path / 'model.onnx'
    proc = run_tool('tools/deploy/export_onnx.py', CONFIG, trained / 'iter_8.pth', onnx_file,
                    '--cfg-options', 'model.test_cfg.rcnn.score_thr=0.0')
    assert f'{onnx_file} written (opset 17, input any size, 10 classes' in proc.stdout
    assert json.loads((tmp_path / 'model.json').read_text())['classes'] == list('0123456789')

    def maps(model_file, *extra):
        proc = run_tool('tools/test.py', CONFIG, model_file, '--work-dir', tmp_path, *extra,
                        '--cfg-options', *tiny_options(digits, 4))
        return {k: float(v) for k, v in re.findall(r'coco/(bbox_mAP\w*)=(-?[0-9.]+)',
                                                   proc.stdout)}

    checkpoint = maps(trained / 'iter_8.pth')
    exported = maps(onnx_file, '--show-dir', tmp_path / 'show', '--out', tmp_path / 'dets.json')
    assert len(list((tmp_path / 'show').glob('*.png'))) == 6  # drawn beside ground truth
    assert len(json.loads((tmp_path / 'dets.json').read_text())) > 0
    assert checkpoint['bbox_mAP_50'] > 0
    assert set(exported) == set(checkpoint)
    for key, value in checkpoint.items():
        assert exported[key] == pytest.approx(value, abs=0.005), key

    image = sorted((digits / 'val').glob('*.png'))[0]
    out = tmp_path / 'infer'
    run_tool('tools/infer.py', image, CONFIG, onnx_file, '--out-dir', out, '--score-thr', '0.0')
    assert (out / 'vis' / f'{image.stem}.png').is_file()
    infer_dets = json.loads((out / 'preds' / f'{image.stem}.json').read_text())['bboxes']

    from custom.apis import Detector
    ours = Detector(CONFIG, str(onnx_file), device='cpu').predict(str(image))
    ref = Detector(CONFIG, str(trained / 'iter_8.pth'), device='cpu').predict(str(image))
    assert len(ours['boxes']) == len(ref['boxes']) == len(infer_dets) == 100
    # The ten best: this barely trained model's tail has near-ties that rounding reorders.
    top = 10
    assert ours['names'][:top] == ref['names'][:top]
    np.testing.assert_allclose(ours['boxes'][:top], ref['boxes'][:top], rtol=0, atol=1.0)
    np.testing.assert_allclose(ours['scores'], ref['scores'], rtol=0, atol=0.01)
