"""CropPretrainHook: crops of the training set's instances, classifier pre-training, skipping."""
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from mmdet.models.backbones import ResNet
from mmdet.models.data_preprocessors import DetDataPreprocessor
from mmengine.logging import MMLogger
from torch import nn

from custom.engine import CropPretrainHook
from custom.engine.crop_pretrain_hook import collect_instance_crops, square_crop, warmup_cosine


class ListDataset:
    """The two methods of an mmdet dataset that the hook reads."""

    def __init__(self, infos: list[dict]) -> None:
        self.infos = infos

    def __len__(self) -> int:
        return len(self.infos)

    def get_data_info(self, index: int) -> dict:
        return self.infos[index]


class TinyDetector(nn.Module):
    """What the hook touches on a detector: ``backbone`` and ``data_preprocessor``."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = ResNet(depth=18, out_indices=(2, 3), norm_eval=False)
        self.data_preprocessor = DetDataPreprocessor(
            mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=True)
        self.neck = nn.Linear(2, 2)  # stands for every part that is not the backbone


def bar_images(count: int, seed: int, size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Dark bars on light noise: class 0 vertical, class 1 horizontal. (K, S, S, 3) uint8."""
    rng = np.random.default_rng(seed)
    images = rng.integers(170, 255, size=(count, size, size, 3)).astype(np.uint8)
    labels = rng.integers(0, 2, size=count)
    for image, label in zip(images, labels):
        start = rng.integers(4, size - 12)
        if label == 0:
            image[4:-4, start:start + 6] = rng.integers(0, 60)
        else:
            image[start:start + 6, 4:-4] = rng.integers(0, 60)
    return images, labels.astype(np.int64)


def test_square_crop_at_scale_one_is_the_box_itself():
    image = np.random.default_rng(0).integers(0, 255, size=(60, 80, 3)).astype(np.uint8)
    crop = square_crop(image, [10, 20, 30, 40], context=0.0, size=20)
    assert np.array_equal(crop, image[20:40, 10:30])


def test_square_crop_keeps_the_aspect_and_adds_context():
    image = np.full((100, 100, 3), 255, np.uint8)
    image[40:60, 45:55] = 0  # a 10 wide, 20 tall box
    crop = square_crop(image, [45, 40, 55, 60], context=1.0, size=40)  # side 40: scale 1
    dark = np.argwhere(crop[..., 0] < 128)
    assert dark[:, 0].min() == 10 and dark[:, 0].max() == 29  # 20 rows, centred
    assert dark[:, 1].min() == 15 and dark[:, 1].max() == 24  # 10 columns, centred
    # past the image border the edge pixels repeat (no black frame that would be learned)
    corner = square_crop(image, [0, 0, 10, 10], context=1.0, size=20)
    assert corner.min() == 255


def test_collect_instance_crops_reads_every_kept_instance(tmp_path):
    image = np.full((50, 50, 3), 200, np.uint8)
    cv2.imwrite(str(tmp_path / 'a.png'), image)
    infos = [
        dict(img_path=str(tmp_path / 'a.png'), instances=[
            dict(bbox=[0, 0, 10, 10], bbox_label=3, ignore_flag=0),
            dict(bbox=[5, 5, 25, 30], bbox_label=7, ignore_flag=1),  # ignored: no crop
            dict(bbox=[20, 20, 40, 45], bbox_label=1, ignore_flag=0)]),
        dict(img_path=str(tmp_path / 'missing.png'), instances=[]),  # no instances: not read
    ]
    crops, labels = collect_instance_crops(ListDataset(infos), size=16, context=0.2)
    assert crops.shape == (2, 16, 16, 3) and crops.dtype == np.uint8
    assert labels.tolist() == [3, 1]


def test_collect_instance_crops_names_a_missing_image_and_an_empty_set(tmp_path):
    missing = str(tmp_path / 'gone.png')
    infos = [dict(img_path=missing, instances=[dict(bbox=[0, 0, 4, 4], bbox_label=0)])]
    with pytest.raises(FileNotFoundError, match='gone.png'):
        collect_instance_crops(ListDataset(infos), 16, 0.2)
    with pytest.raises(ValueError, match='no annotated instances'):
        collect_instance_crops(ListDataset([dict(img_path=missing, instances=[])]), 16, 0.2)


def test_normalise_equals_the_detectors_preprocessor():
    crops, _ = bar_images(3, seed=1)
    preprocessor = TinyDetector().data_preprocessor
    ours = CropPretrainHook.normalise(preprocessor, torch.from_numpy(crops), torch.device('cpu'))
    data = dict(inputs=[torch.from_numpy(c).permute(2, 0, 1) for c in crops],
                data_samples=None)
    reference = preprocessor(data)['inputs']
    torch.testing.assert_close(ours, reference, rtol=0, atol=1e-5)
    # and that is BGR -> RGB, then (x - mean) / std
    rgb = torch.from_numpy(crops[..., ::-1].copy()).permute(0, 3, 1, 2).float()
    mean = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
    std = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)
    torch.testing.assert_close(ours, (rgb - mean) / std, rtol=0, atol=1e-5)
    assert ours.is_contiguous(memory_format=torch.channels_last)


def test_warmup_cosine_schedule():
    assert warmup_cosine(0, 100, 10) == pytest.approx(0.1)
    assert warmup_cosine(9, 100, 10) == pytest.approx(1.0)
    assert warmup_cosine(10, 100, 10) == pytest.approx(1.0)
    assert warmup_cosine(55, 100, 10) == pytest.approx(0.5)
    assert warmup_cosine(99, 100, 10) == pytest.approx(0.5 * (1 + np.cos(np.pi * 89 / 90)))


def test_pretraining_learns_the_crops_and_touches_only_the_backbone():
    torch.manual_seed(0)
    model = TinyDetector()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    crops, labels = bar_images(256, seed=0)
    hook = CropPretrainHook(epochs=5, batch_size=32, crop_size=32,
                            optimizer=dict(type='SGD', lr=0.05, momentum=0.9))
    accuracy = hook.pretrain(model, crops, labels, num_classes=2)
    assert len(hook.losses) == 40  # 5 epochs of 256 crops in steps of 32
    assert accuracy >= 0.9
    assert np.mean(hook.losses[-5:]) < 0.5 * np.mean(hook.losses[:5])
    after = model.state_dict()
    assert not torch.equal(before['backbone.layer4.1.conv2.weight'],
                           after['backbone.layer4.1.conv2.weight'])
    for key in before:
        if not key.startswith('backbone.'):
            assert torch.equal(before[key], after[key]), key
    assert all(p.grad is None for p in model.backbone.parameters())  # no stale gradients


def test_hook_skips_when_weights_were_loaded():
    model = TinyDetector()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    runner = SimpleNamespace(_has_loaded=True, iter=0, model=model,
                             logger=MMLogger.get_instance('crop_pretrain_test'))
    CropPretrainHook(epochs=5).before_train(runner)
    for key, value in model.state_dict().items():
        assert torch.equal(before[key], value), key


def test_steps_follow_the_epochs_and_never_drop_to_zero():
    hook = CropPretrainHook(epochs=1.5, batch_size=64)
    assert hook.num_steps(5968) == 140
    assert hook.num_steps(10) == 1


@pytest.mark.parametrize('kwargs, message', [
    (dict(epochs=0), 'epochs must be > 0'),
    (dict(crop_size=0), 'crop_size must be >= 1'),
    (dict(batch_size=0), 'batch_size must be >= 1'),
    (dict(context=-0.1), 'context must be >= 0'),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CropPretrainHook(**kwargs)
