"""Checks at the start of a run: a head whose num_classes is not the dataset's class count is
refused in one line naming both numbers and the config key (training and testing), and a
training set says how many of its images have no boxes and whether they are kept."""
import json
from pathlib import Path

import pytest
import torch
from helpers import make_digits, run_tool
from mmengine.config import Config

from custom.core.errors import InputError
from custom.engine.class_count_check_hook import check_class_count, head_class_counts

CONFIG = 'configs/digits/faster-rcnn_r18_fpn_540it_digits.py'
HEAD_KEY = 'model.roi_head.bbox_head.num_classes'


class FakeDataset:
    metainfo = dict(classes=('cat', 'dog', 'bird'))


def test_the_heads_num_classes_are_found_by_their_config_key_the_rpns_left_out():
    cfg = Config.fromfile(CONFIG)
    assert head_class_counts(cfg.model) == [(HEAD_KEY, 10)]
    cascade = dict(rpn_head=dict(num_classes=1),
                   roi_head=dict(bbox_head=[dict(num_classes=3), dict(num_classes=4)]))
    assert head_class_counts(cascade) == [('model.roi_head.bbox_head.0.num_classes', 3),
                                          ('model.roi_head.bbox_head.1.num_classes', 4)]


def test_a_mismatch_is_one_line_naming_both_numbers_and_the_key():
    cfg = Config.fromfile(CONFIG)
    with pytest.raises(InputError) as info:
        check_class_count(cfg.model, FakeDataset(), 'train_dataloader')
    assert str(info.value) == (
        f'{HEAD_KEY} = 10 but train_dataloader.dataset has 3 classes (cat, dog, bird): set '
        f'{HEAD_KEY}=3 or give the dataset metainfo=dict(classes=...)')
    cfg.model.roi_head.bbox_head.num_classes = 3
    check_class_count(cfg.model, FakeDataset(), 'train_dataloader')  # a match passes


@pytest.fixture(scope='module')
def digits(tmp_path_factory) -> Path:
    """Two training images, the second with its boxes taken away."""
    root = tmp_path_factory.mktemp('digits')
    make_digits(root, train=3, val=2, img_size=96, min_size=30, max_size=48,
                seed=5, max_digits=2)
    ann = root / 'annotations' / 'instances_train.json'
    data = json.loads(ann.read_text())
    data['annotations'] = [a for a in data['annotations'] if a['image_id'] != 2]
    ann.write_text(json.dumps(data))
    return root


def build_train_set(digits: Path, filter_empty_gt: bool):
    from mmdet.registry import DATASETS
    cfg = Config.fromfile(CONFIG).train_dataloader.dataset
    cfg.update(data_root=f'{digits}/', pipeline=[],
               filter_cfg=dict(filter_empty_gt=filter_empty_gt, min_size=0))
    return DATASETS.build(cfg)


@pytest.mark.parametrize('filter_empty_gt', [True, False])
def test_the_training_set_says_how_many_images_have_no_boxes(digits, filter_empty_gt):
    dataset = build_train_set(digits, filter_empty_gt)
    ann = f'{digits}/annotations/instances_train.json'
    if filter_empty_gt:
        assert len(dataset) == 2
        assert dataset.empty_images_note == (
            f'{ann}: 1 of 3 training images have no boxes, dropped (filter_cfg.filter_empty_gt'
            '=True; set it to False to train on them as background); 2 images used')
    else:
        assert len(dataset) == 3
        assert dataset.empty_images_note == (
            f'{ann}: 1 of 3 training images have no boxes, kept as background '
            '(filter_cfg.filter_empty_gt=False); 3 images used')


def data_options(digits: Path) -> list[str]:
    root = f'{digits}/'
    ann = f'{root}annotations/instances_val.json'
    return [f'train_dataloader.dataset.data_root={root}',
            f'val_dataloader.dataset.data_root={root}',
            f'test_dataloader.dataset.data_root={root}', f'val_evaluator.ann_file={ann}',
            f'test_evaluator.ann_file={ann}']


def one_error_line(proc) -> str:
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert 'Traceback' not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith('error: ')]
    assert len(errors) == 1, proc.stderr
    return errors[0]


def test_training_refuses_a_head_of_another_class_count(digits, tmp_path):
    proc = run_tool('tools/train.py', CONFIG, '--work-dir', tmp_path, '--cfg-options',
                    *data_options(digits), f'{HEAD_KEY}=3', 'train_cfg.max_iters=1',
                    check=False)
    assert one_error_line(proc) == (
        f'error: {HEAD_KEY} = 3 but train_dataloader.dataset has 10 classes (0, 1, 2, 3, 4, 5, '
        f'6, 7, 8, 9): set {HEAD_KEY}=10 or give the dataset metainfo=dict(classes=...)')
    # the training set was built, and said what became of its image without boxes
    assert '1 of 3 training images have no boxes, dropped' in proc.stdout + proc.stderr
    assert not list(tmp_path.glob('*.pth'))


def test_testing_refuses_a_dataset_of_another_class_count(digits, tmp_path):
    from custom.core.build_detector import build_detector
    cfg = Config.fromfile(CONFIG)
    cfg.model.roi_head.bbox_head.num_classes = 3  # a checkpoint of a 3-class head loads
    checkpoint = tmp_path / 'three_classes.pth'
    torch.save(dict(state_dict=build_detector(cfg, None, 'cpu', seed=0).state_dict()),
               checkpoint)
    proc = run_tool('tools/test.py', CONFIG, checkpoint, '--work-dir', tmp_path,
                    '--cfg-options', *data_options(digits), f'{HEAD_KEY}=3', check=False)
    assert one_error_line(proc).startswith(
        f'error: {HEAD_KEY} = 3 but test_dataloader.dataset has 10 classes (0, 1, 2, ')
