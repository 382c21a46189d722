"""ValidationLossHook: the training losses on the validation set, without touching training;
and the TensorBoard event files that ``tools/train.py --tensorboard`` adds.

A tiny generated digits set and the demo's config, trained a few iterations in-process.
"""
import json
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import make_digits
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.runner import Runner

from custom.apis.runs import add_tensorboard
from custom.engine.random_state_hook import capture_random_state, restore_random_state

CONFIG = 'configs/digits/faster-rcnn_r18_fpn_540it_digits.py'


@pytest.fixture(scope='module')
def digits(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('digits')
    make_digits(root, train=6, val=4, img_size=128, min_size=40, max_size=64,
                seed=3, max_digits=2)
    return root


def tiny_config(digits: Path, work_dir: Path, max_iters: int = 2, with_hook: bool = True):
    cfg = Config.fromfile(CONFIG)
    root = f'{digits}/'
    cfg.merge_from_dict({
        'train_dataloader.dataset.data_root': root, 'val_dataloader.dataset.data_root': root,
        'test_dataloader.dataset.data_root': root,
        'val_evaluator.ann_file': f'{root}annotations/instances_val.json',
        'train_cfg.max_iters': max_iters, 'train_cfg.val_interval': 1,
        'train_dataloader.batch_size': 2, 'val_dataloader.batch_size': 2,
        'default_hooks.logger.interval': 1, 'default_hooks.checkpoint.interval': 100,
        'param_scheduler.0.start_factor': 1.0})
    cfg.work_dir = str(work_dir)
    # Two runners in one process: their own message hub and visualizer (both are named
    # singletons), so that each writes its own scalars.json.
    cfg.experiment_name = f'val_loss_{uuid.uuid4().hex[:8]}'
    cfg.visualizer.name = cfg.experiment_name
    hooks = [h for h in cfg.custom_hooks if h['type'] != 'CropPretrainHook']
    if not with_hook:
        hooks = [h for h in hooks if h['type'] != 'ValidationLossHook']
    cfg.custom_hooks = hooks
    return cfg


def state_after_training(cfg) -> tuple[dict, Runner]:
    """Weights and buffers, then the optimizer's moments, after training."""
    runner = Runner.from_cfg(cfg)
    runner.train()
    state = {k: v.detach().clone() for k, v in runner.model.state_dict().items()}
    for index, moments in runner.optim_wrapper.state_dict()['state'].items():
        for name, value in moments.items():
            state[f'optimizer.{index}.{name}'] = torch.as_tensor(value).clone()
    return state, runner


def test_training_with_the_hook_gives_bit_identical_weights_and_logs_val_losses(
        digits, tmp_path):
    """Also: the TensorBoard event file holds every scalar of scalars.json, same names,
    steps and values."""
    without, _ = state_after_training(tiny_config(digits, tmp_path / 'a', with_hook=False))
    with_hook, runner = state_after_training(
        add_tensorboard(tiny_config(digits, tmp_path / 'b')))
    assert without.keys() == with_hook.keys()
    # Weights, batch-norm statistics (buffers) and AdamW's moments alike, bit for bit.
    assert any(k.startswith('optimizer.') for k in without)
    for name in without:
        assert torch.equal(without[name], with_hook[name]), name
    scalars = next((tmp_path / 'b').glob('*/vis_data/scalars.json'))
    records = [json.loads(line) for line in scalars.read_text().splitlines()]
    val = [r for r in records if 'coco/bbox_mAP' in r]
    # A validation after each iteration: the second iteration trains after one.
    assert [r['step'] for r in val] == [1, 2]
    for record in val:
        for key in ('val/loss', 'val/loss_rpn_cls', 'val/loss_rpn_bbox', 'val/loss_cls',
                    'val/loss_bbox'):
            assert key in record and record[key] > 0, (key, record)
        terms = sum(v for k, v in record.items() if k.startswith('val/loss_'))
        assert record['val/loss'] == pytest.approx(terms, rel=1e-6)
    assert_event_file_matches(scalars, records)


def assert_event_file_matches(scalars: Path, records: list[dict]) -> None:
    """Read the event file beside ``scalars`` with TensorBoard's own reader."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = list(scalars.parent.glob('events.out.tfevents.*'))
    assert len(events) == 1, events
    reader = EventAccumulator(str(events[0]), size_guidance={'scalars': 0})
    reader.Reload()
    tags = set(reader.Tags()['scalars'])
    expected = {}
    for record in records:
        for key, value in record.items():
            if key != 'step':
                expected.setdefault(key, []).append((record['step'], value))
    assert {'loss', 'loss_rpn_cls', 'coco/bbox_mAP', 'val/loss', 'val/loss_cls'} <= tags
    for key, points in expected.items():
        assert key in tags, key
        logged = [(e.step, e.value) for e in reader.Scalars(key)]
        assert [s for s, _ in logged] == [s for s, _ in points], key
        np.testing.assert_allclose([v for _, v in logged], [v for _, v in points],
                                   rtol=1e-6, err_msg=key)


def test_tensorboard_option_adds_the_backend_once(tmp_path):
    from custom.apis.runs import prepare_train_config
    cfg = Config.fromfile(CONFIG)
    prepare_train_config(cfg, CONFIG, str(tmp_path), tensorboard=True)
    add_tensorboard(cfg)
    types = [b['type'] for b in cfg.visualizer.vis_backends]
    assert types == ['LocalVisBackend', 'TensorboardVisBackend']


def test_val_losses_equal_model_loss_on_the_same_batches(digits, tmp_path, monkeypatch):
    """The hook (test pipeline: boxes loaded after the resize) against model.loss on the
    same images through the training pipeline (boxes resized by mmdet's Resize), each batch
    from the random state the hook's loss started from."""
    from mmdet.registry import DATASETS

    import custom.engine.validation_loss_hook as module
    cfg = tiny_config(digits, tmp_path)
    cfg.default_hooks.checkpoint.save_best = None  # a validation outside training
    runner = Runner.from_cfg(cfg)
    model = runner.model
    states = []

    def recording_capture():
        states.append(capture_random_state())
        return states[-1]

    monkeypatch.setattr(module, 'capture_random_state', recording_capture)
    params = {k: v.clone() for k, v in model.state_dict().items()}
    metrics = runner.val()
    # The second batch's loss started from the first's state: the sampler's draws were undone.
    assert len(states) == 2 and torch.equal(states[0]['torch'], states[1]['torch'])
    # Validation left the weights and the BN statistics as they were and made no gradients.
    assert all(torch.equal(params[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())

    train_set = cfg.train_dataloader.dataset.copy()
    # The validation images and boxes through the training pipeline.
    train_set.update(filter_cfg=None, ann_file=cfg.val_dataloader.dataset.ann_file,
                     data_prefix=cfg.val_dataloader.dataset.data_prefix)
    dataset = DATASETS.build(train_set)
    val_set = runner.val_dataloader.dataset
    val_ids = [val_set.get_data_info(i)['img_id'] for i in range(len(val_set))]
    by_id = {dataset.get_data_info(i)['img_id']: i for i in range(len(dataset))}
    model.eval()
    sums, images = {}, 0
    for start_index in range(0, len(val_ids), 2):
        batch = pseudo_collate([dataset[by_id[i]] for i in val_ids[start_index:start_index + 2]])
        data = model.data_preprocessor(batch, False)
        restore_random_state(states[0])
        with torch.no_grad():
            losses = model.loss(data['inputs'], data['data_samples'])
        _, log_vars = model.parse_losses(losses)
        for name, value in log_vars.items():
            sums[name] = sums.get(name, 0.0) + float(value) * len(data['data_samples'])
        images += len(data['data_samples'])
    assert images == 4
    for name, total in sums.items():
        assert metrics[f'val/{name}'] == pytest.approx(total / images, rel=1e-5, abs=1e-7), name


def test_without_annotations_in_the_pipeline_no_rescale():
    from mmengine.dataset import Compose

    from custom.engine.validation_loss_hook import gt_in_original_frame
    test = Compose([dict(type='LoadImageFromFile'), dict(type='Resize', scale=(64, 64)),
                    dict(type='LoadAnnotations', with_bbox=True)])
    train = Compose([dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),
                     dict(type='Resize', scale=(64, 64))])
    assert gt_in_original_frame(test) is True
    assert gt_in_original_frame(train) is False
    assert gt_in_original_frame(Compose([dict(type='LoadImageFromFile')])) is False


def test_predictions_are_the_same_with_the_shared_forward(digits, tmp_path):
    """The hook's validation step predicts exactly what the model's own one does."""
    from custom.engine.validation_loss_hook import ValidationLossHook
    cfg = tiny_config(digits, tmp_path)
    cfg.model.test_cfg.rcnn.score_thr = 0.0  # keep the random model's boxes: a real check
    runner = Runner.from_cfg(cfg)
    model = runner.model.eval()
    batch = next(iter(runner.val_dataloader))
    with torch.no_grad():
        plain = model.val_step(batch)
    hook = ValidationLossHook()
    hook.before_val(runner)
    with torch.no_grad():
        hooked = model.val_step(batch)
    hook.after_val(runner)
    assert 'val_step' not in model.__dict__
    for a, b in zip(plain, hooked):
        assert len(a.pred_instances) > 0
        for key in ('bboxes', 'scores', 'labels'):
            assert torch.equal(a.pred_instances[key], b.pred_instances[key]), key
    assert hook._images == 2 and hook._sums['loss'] > 0


def _rank_means(rank: int, port: int, out: str) -> None:
    import torch.distributed as dist

    from custom.engine.validation_loss_hook import ValidationLossHook
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank,
                            world_size=2)
    hook = ValidationLossHook()
    # Rank 0: 3 images of loss 1.0; rank 1: 1 image of loss 5.0 -> mean over images 2.0.
    hook._add({'loss': 1.0 + 4.0 * rank, 'loss_cls': 0.5}, 3 if rank == 0 else 1)
    means = hook._reduced_means()
    Path(f'{out}.{rank}').write_text(json.dumps(means))
    dist.destroy_process_group()


@pytest.mark.slow  # two processes that each import mmdet: over a minute on 2 shared cores
def test_under_ddp_each_term_is_the_mean_over_all_ranks_images(tmp_path):
    import socket

    import torch.multiprocessing as mp
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    mp.spawn(_rank_means, args=(port, str(tmp_path / 'means')), nprocs=2)
    for rank in (0, 1):
        means = json.loads((tmp_path / f'means.{rank}').read_text())
        assert means == pytest.approx({'loss': 2.0, 'loss_cls': 0.5})
