"""One test per defect that hostile input found (a folder of look-alike names, a 5000x1
image, a decompression bomb, a truncated JPEG, a NaN checkpoint, a killed best-checkpoint
save, a moved work dir...): each failed before its fix."""
import json
import math
import os
import time
import uuid

import numpy as np
import pytest
import torch
from hostile_files import (
    write_image,
    write_png_header_only,
    write_truncated,
)
from in_process import call_tool

from custom.core.errors import InputError

CONFIG = 'configs/digits/faster-rcnn_r18_fpn_540it_digits.py'
CLASSES = tuple(str(i) for i in range(10))


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    """The digits detector with seeded random weights, saved as mmengine saves it."""
    from custom.apis.config import load_config
    from custom.core.build_detector import build_detector
    model = build_detector(load_config(CONFIG), seed=0)
    path = tmp_path_factory.mktemp('ckpt') / 'random.pth'
    torch.save({'state_dict': model.state_dict(),
                'meta': {'dataset_meta': {'classes': CLASSES}}}, path)
    return path


# --- 1. outputs never overwrite each other ------------------------------------------------

def test_output_names_are_distinct_and_keep_sub_paths():
    from custom.apis.output_names import output_names
    assert output_names(['in/a.png', 'in/a.jpg', 'in/b.png']) == {
        'in/a.png': 'a.png', 'in/a.jpg': 'a.jpg', 'in/b.png': 'b'}
    assert output_names(['in/d1/x.png', 'in/d2/x.png']) == {
        'in/d1/x.png': 'd1/x', 'in/d2/x.png': 'd2/x'}
    names = output_names(['in/a.png.png', 'in/a.png', 'in/c/a.png'])
    assert len(set(names.values())) == 3


def test_infer_writes_one_result_per_image_for_look_alike_names(checkpoint, tmp_path):
    images = tmp_path / 'images'
    (images / 'd1').mkdir(parents=True)
    (images / 'd2').mkdir()
    write_image(images / 'a.png', seed=1)
    write_image(images / 'a.jpg', seed=2)
    write_image(images / 'd1' / 'x.png', seed=3)
    write_image(images / 'd2' / 'x.png', seed=4)
    out = tmp_path / 'out'
    code, text = call_tool('tools/infer.py', f'{images}/**/*.*', CONFIG, checkpoint,
                           '--out-dir', out, '--device', 'cpu')
    assert code == 0, text
    assert '4 image(s) written' in text
    preds = sorted(p.relative_to(out / 'preds').as_posix() for p in out.rglob('preds/**/*.json'))
    assert preds == ['a.jpg.json', 'a.png.json', 'd1/x.json', 'd2/x.json']
    assert len(list((out / 'vis').rglob('*.png'))) == 4
    assert json.loads((out / 'preds' / 'a.jpg.json').read_text())['image'].endswith('a.jpg')


# --- 3, 4, 5a. one checked reader: bad images named and skipped ---------------------------

def test_bad_images_among_good_are_named_and_skipped(checkpoint, tmp_path):
    images = tmp_path / 'images'
    images.mkdir()
    write_image(images / 'good1.png', seed=1)
    write_image(images / 'line.png', height=1, width=500)
    write_png_header_only(images / 'bomb.png', 20000, 20000)
    write_truncated(images / 'cut.jpg')
    write_image(images / 'good2.png', seed=2)
    out = tmp_path / 'out'
    code, text = call_tool('tools/infer.py', images, CONFIG, checkpoint, '--out-dir', out,
                           '--device', 'cpu')
    assert code == 1, text
    assert 'Traceback' not in text and 'OpenCV(' not in text
    failed = [line for line in text.splitlines() if line.startswith('failed: ')]
    assert len(failed) == 3
    assert any('line.png' in line and 'min_side' in line for line in failed)
    assert any('bomb.png' in line and 'max_pixels' in line for line in failed)
    assert any('cut.jpg' in line and 'truncated' in line for line in failed)
    assert '2 image(s) written' in text and '3 failed' in text
    assert sorted(p.name for p in (out / 'preds').iterdir()) == ['good1.json', 'good2.json']


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    from custom.datasets.image_reading import DEFAULT_MAX_PIXELS, read_image
    bomb = write_png_header_only(tmp_path / 'bomb.png', 20000, 20000)
    start = time.perf_counter()
    with pytest.raises(InputError, match=r'bomb.png: .*400,000,000 pixels, over the limit of '
                                         r'89,478,485 \(max_pixels\)'):
        read_image(bomb)
    assert time.perf_counter() - start < 1.0
    big = write_png_header_only(tmp_path / 'big.png', 10000, 10000)
    with pytest.raises(InputError, match=r'big.png: 10000x10000 is 100,000,000 pixels'):
        read_image(big)
    assert DEFAULT_MAX_PIXELS == __import__('PIL.Image').Image.MAX_IMAGE_PIXELS


@pytest.mark.parametrize('suffix', ['.jpg', '.png'])
def test_truncated_image_is_refused(suffix, tmp_path):
    import cv2

    from custom.datasets.image_reading import read_image
    cut = write_truncated(tmp_path / f'cut{suffix}')
    if suffix == '.jpg':
        assert cv2.imread(str(cut)) is not None  # OpenCV alone fills the rest with grey
    with pytest.raises(InputError, match=f'cut{suffix}: truncated'):
        read_image(cut)


@pytest.mark.parametrize('size', [(1, 5000), (5000, 1), (7, 100)])
def test_image_with_a_tiny_side_is_refused(size, tmp_path):
    from custom.datasets.image_reading import read_image
    path = write_image(tmp_path / 'thin.png', *size)
    with pytest.raises(InputError, match=r'thin.png: .* side under 8 pixels \(min_side\)'):
        read_image(path)


def test_checked_loader_reads_as_mmcv_and_refuses_what_the_reader_refuses(tmp_path):
    from mmdet.registry import TRANSFORMS
    path = write_image(tmp_path / 'ok.jpg', 30, 40)
    ours = TRANSFORMS.build(dict(type='CheckedLoadImageFromFile'))(dict(img_path=str(path)))
    theirs = TRANSFORMS.build(dict(type='LoadImageFromFile'))(dict(img_path=str(path)))
    assert np.array_equal(ours['img'], theirs['img']) and ours['ori_shape'] == (30, 40)
    loader = TRANSFORMS.build(dict(type='CheckedLoadImageFromFile', max_pixels=1000))
    with pytest.raises(InputError, match='ok.jpg: 40x30 is 1,200 pixels'):
        loader(dict(img_path=str(path)))


def test_every_dataset_config_reads_through_the_checked_loader(repo_root):
    from mmengine.config import Config
    configs = sorted((repo_root / 'configs').rglob('*.py'))
    configs = [c for c in configs if '_base_' not in c.parts or 'datasets' in c.parts]
    checked = 0
    for path in configs:
        cfg = Config.fromfile(str(path))
        for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            pipeline = cfg.get(loader, {}).get('dataset', {}).get('pipeline')
            if pipeline:
                assert pipeline[0]['type'] == 'CheckedLoadImageFromFile', (path, loader)
                checked += 1
    assert checked >= 12


# --- 5b, 5c, 5d. silent wrong results -----------------------------------------------------

def test_checkpoint_with_nan_weights_is_refused(checkpoint, tmp_path):
    from custom.apis.config import load_config
    from custom.core.build_detector import build_detector
    loaded = torch.load(checkpoint, weights_only=True)
    key = next(k for k, v in loaded['state_dict'].items() if v.is_floating_point())
    loaded['state_dict'][key] = loaded['state_dict'][key] * float('nan')
    torch.save(loaded, tmp_path / 'nan.pth')
    with pytest.raises(InputError, match=f'nan.pth: non-finite weights .* in {key}'):
        build_detector(load_config(CONFIG), str(tmp_path / 'nan.pth'))


@pytest.mark.parametrize('value', [2, -0.1, float('nan'), float('inf')])
def test_score_threshold_outside_0_1_is_refused(value):
    from custom.apis.limits import check_score_thr
    with pytest.raises(InputError, match='--score-thr: must be in'):
        check_score_thr(value)
    assert check_score_thr(0) == 0 and check_score_thr(1) == 1


@pytest.mark.parametrize('key,value', [('max_iters', -5), ('max_iters', 0),
                                       ('max_epochs', 0), ('val_interval', -1),
                                       ('max_iters', 2.5)])
def test_schedule_counts_must_be_positive(key, value, tmp_path):
    from custom.apis.config import load_config
    from custom.apis.runs import prepare_train_config
    cfg = load_config(CONFIG)
    cfg.train_cfg[key] = value
    with pytest.raises(InputError, match=f'train_cfg.{key}: must be a whole number >= 1'):
        prepare_train_config(cfg, CONFIG, str(tmp_path))


# --- 2. the best checkpoint never vanishes ------------------------------------------------

class SavingRunner:
    """What ``CheckpointHook._save_best_checkpoint`` uses of a runner; ``killed`` makes the
    next save fail as a SIGKILL in the middle of it would (nothing written)."""

    def __init__(self, work_dir):
        from mmengine.logging import MessageHub, MMLogger
        self.work_dir = str(work_dir)
        self.epoch, self.iter = 0, 0
        self.message_hub = MessageHub.get_instance(f'best-{uuid.uuid4().hex}')
        self.logger = MMLogger.get_instance(f'best-{uuid.uuid4().hex}')
        self.killed = False

    def save_checkpoint(self, out_dir, filename, *args, **kwargs):
        if self.killed:
            raise SystemExit('killed during the save')
        (torch.save({'iter': self.iter}, os.path.join(out_dir, filename)))


def test_best_checkpoint_survives_a_kill_during_its_replacement(tmp_path):
    from mmengine.fileio import get_file_backend

    from custom.engine import AtomicCheckpointHook
    hook = AtomicCheckpointHook(interval=1, by_epoch=False, save_best='acc', rule='greater')
    hook.out_dir = str(tmp_path)
    hook.file_backend = get_file_backend(hook.out_dir, backend_args=hook.backend_args)
    hook.best_ckpt_path, hook.last_ckpt = None, None
    runner = SavingRunner(tmp_path)
    runner.iter = 1
    hook._save_best_checkpoint(runner, {'acc': 0.5})
    assert sorted(p.name for p in tmp_path.iterdir()) == ['best_acc_iter_1.pth']
    runner.iter, runner.killed = 2, True
    with pytest.raises(SystemExit):
        hook._save_best_checkpoint(runner, {'acc': 0.7})
    assert sorted(p.name for p in tmp_path.iterdir()) == ['best_acc_iter_1.pth']
    runner.iter, runner.killed = 3, False
    hook._save_best_checkpoint(runner, {'acc': 0.8})
    assert sorted(p.name for p in tmp_path.iterdir()) == ['best_acc_iter_3.pth']
    assert not hasattr(hook.file_backend, 'remove') or 'remove' not in vars(hook.file_backend)


# --- 10, 11. moved work dirs, leftovers, permissions --------------------------------------

@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_last_checkpoint_is_relative_and_resumes_in_a_moved_work_dir(tmp_path, umask_022):
    from toy import make_runner

    from custom.apis.config import load_config
    from custom.apis.runs import prepare_train_config, resolve_last_checkpoint
    (tmp_path / 'a').mkdir()
    stale = tmp_path / 'a' / '.iter_2.pth.k3j_x9a0.tmp'
    stale.write_bytes(b'half a checkpoint')
    make_runner(tmp_path / 'a', max_iters=4, interval=2).train()
    assert not stale.exists()  # removed at the next save
    assert (tmp_path / 'a' / 'last_checkpoint').read_text() == 'iter_4.pth'
    assert (os.stat(tmp_path / 'a' / 'iter_4.pth').st_mode & 0o777) == 0o644
    assert (os.stat(tmp_path / 'a' / 'last_checkpoint').st_mode & 0o777) == 0o644
    moved = tmp_path / 'b'
    (tmp_path / 'a').rename(moved)
    assert resolve_last_checkpoint(str(moved)) == str(moved / 'iter_4.pth')
    # a record of the older kind: the absolute path of the work dir before the move
    (moved / 'last_checkpoint').write_text(str(tmp_path / 'a' / 'iter_4.pth'))
    stale2 = moved / '.iter_6.pth.abcdefgh.tmp'
    stale2.write_bytes(b'x')
    cfg = prepare_train_config(load_config(CONFIG), CONFIG, str(moved), resume='auto')
    assert cfg.resume is True and cfg.load_from == str(moved / 'iter_4.pth')
    assert not stale2.exists()  # removed at resume


def test_atomic_writes_follow_the_umask(tmp_path):
    from custom.engine import write_atomically
    old = os.umask(0o027)
    try:
        write_atomically(b'x', tmp_path / 'f')
    finally:
        os.umask(old)
    assert (os.stat(tmp_path / 'f').st_mode & 0o777) == 0o640


# --- 6, 7, 8, 12 ----------------------------------------------------------------------------

def test_export_refuses_to_replace_a_json_that_is_not_its_sidecar(tmp_path):
    from custom.deploy.onnx_export import SIDECAR_FORMAT, check_sidecar_is_ours
    annotations = tmp_path / 'X.json'
    annotations.write_text('{"images": [], "annotations": []}')
    code, text = call_tool('tools/deploy/export_onnx.py', CONFIG, tmp_path / 'none.pth',
                           tmp_path / 'X.onnx')
    assert code == 1 and 'X.json: exists and is not an ONNX sidecar' in text, text
    assert annotations.read_text() == '{"images": [], "annotations": []}'
    annotations.write_text(json.dumps({'format': SIDECAR_FORMAT, 'classes': ['a']}))
    check_sidecar_is_ours(str(tmp_path / 'X.onnx'))  # an earlier export's: replaced


def test_tile_count_over_the_limit_needs_a_flag():
    from custom.inference.slicing import SliceSettings, tile_windows
    with pytest.raises(InputError, match=r'slicing.size: 1x1 tiles .* 102,400 tiles, over the '
                                         r'limit of 10,000 \(raise it with --max-tiles'):
        tile_windows(320, 320, SliceSettings.from_options(1))
    assert len(tile_windows(320, 320, SliceSettings.from_options(1, max_tiles=102_400))) \
        == 102_400
    assert len(tile_windows(320, 320, SliceSettings.from_options(160))) == 9


@pytest.mark.parametrize('name', ['../secret.png', 'a/../../secret.png', '/etc/passwd',
                                  '..\\secret.png', 'C:/x.png'])
def test_validate_coco_refuses_file_names_outside_the_image_folder(name, tmp_path):
    from custom.datasets import validate_coco
    from custom.datasets.coco_validation import errors_only
    ann = tmp_path / 'ann.json'
    ann.write_text(json.dumps({
        'images': [{'id': 1, 'file_name': name, 'width': 64, 'height': 48}],
        'annotations': [{'id': 1, 'image_id': 1, 'category_id': 1, 'bbox': [1, 1, 5, 5],
                         'area': 25, 'iscrowd': 0}],
        'categories': [{'id': 1, 'name': 'x'}]}))
    (tmp_path / 'img').mkdir()
    errors = [str(p) for p in errors_only(validate_coco(ann, tmp_path / 'img'))]
    assert any(name in e and 'inside the image folder' in e for e in errors), errors


def test_test_out_that_is_a_folder_is_refused_before_evaluation(tmp_path):
    from custom.apis.config import load_config
    from custom.apis.runs import prepare_test_config
    with pytest.raises(InputError, match=f'--out {tmp_path}: is a folder'):
        prepare_test_config(load_config(CONFIG), CONFIG, 'x.pth', str(tmp_path / 'w'),
                            str(tmp_path))
    assert not (tmp_path / 'w').exists()  # refused before anything else


def test_nan_is_never_a_yolo_or_voc_value(tmp_path):
    from custom.datasets.converters import parse_voc_xml, parse_yolo_line
    with pytest.raises(ValueError, match='a.txt:3: NaN or infinite'):
        parse_yolo_line('0 0.5 nan 0.1 0.1', 'a.txt:3', 1)
    xml = tmp_path / 'a.xml'
    xml.write_text('<annotation><size><width>nan</width><height>5</height></size>'
                   '</annotation>')
    with pytest.raises(ValueError, match="a.xml: <width> is 'nan', not a finite number"):
        parse_voc_xml(xml)
    assert math.isnan(float('nan'))
