"""SyncFreeDetDataPreprocessor: mmdet's DetDataPreprocessor's tensors, without host waits."""
import pytest
import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample

from bench.common import SyncCounter

SETTINGS = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=True,
                pad_size_divisor=32)


def _images(sizes=((3, 50, 70), (3, 64, 40)), seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(0, 256, size, generator=g, dtype=torch.uint8) for size in sizes]


def _data(inputs):
    count = len(inputs)
    return dict(inputs=inputs, data_samples=[DetDataSample(metainfo=dict(img_shape=(1, 1)))
                                             for _ in range(count)])


def _pair(**overrides):
    settings = dict(SETTINGS, **overrides)
    return (MODELS.build(dict(type='SyncFreeDetDataPreprocessor', **settings)),
            MODELS.build(dict(type='DetDataPreprocessor', **settings)))


@pytest.mark.parametrize('training', [False, True])
@pytest.mark.parametrize('bgr_to_rgb', [True, False])
def test_same_tensors_as_mmdet_for_image_lists(training, bgr_to_rgb):
    ours, theirs = _pair(bgr_to_rgb=bgr_to_rgb)
    images = _images()
    got = ours(_data([i.clone() for i in images]), training)
    expected = theirs(_data([i.clone() for i in images]), training)
    assert torch.equal(got['inputs'], expected['inputs'])
    assert got['inputs'].shape == (2, 3, 64, 96)
    for mine, want in zip(got['data_samples'], expected['data_samples']):
        assert mine.metainfo['batch_input_shape'] == want.metainfo['batch_input_shape']
    assert ours._channel_conversion == bgr_to_rgb  # the flag is restored


def test_same_tensors_as_mmdet_for_a_batch_tensor():
    ours, theirs = _pair()
    batch = torch.stack(_images(((3, 64, 64), (3, 64, 64))))
    assert torch.equal(ours(_data(batch.clone()))['inputs'], theirs(_data(batch.clone()))['inputs'])


def test_flip_needs_no_index_list():
    ours, theirs = _pair()
    counts = []
    for preprocessor in (ours, theirs):
        with SyncCounter() as counter:
            preprocessor(_data(_images()))
        counts.append(counter.syncs['lift_fresh'])
    # mmdet's: one index list per image (a blocking copy each on CUDA); ours: only
    # mmengine's stacking of the sizes, a CPU tensor on every device.
    assert counts[1] - counts[0] == 2, counts


def test_other_channel_counts_take_mmdet_path():
    ours, theirs = _pair(mean=None, std=None)
    images = _images(((4, 32, 32), (4, 32, 32)))
    expected = theirs(_data([i.clone() for i in images]))['inputs']  # mmdet keeps 3 channels
    assert torch.equal(ours(_data([i.clone() for i in images]))['inputs'], expected)
