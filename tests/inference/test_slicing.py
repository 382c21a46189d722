"""Sliced inference: tiles that cover the image exactly, boxes shifted back, the merges, and
one-line errors for bad settings."""
import argparse

import numpy as np
import pytest
import torch
import torchvision
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.structures import InstanceData

from custom.apis.cli import CLIError
from custom.apis.slicing_options import FLAGS, slicing_from_args
from custom.inference.slicing import (
    SliceSettings,
    axis_starts,
    merge_detections,
    sliced_predict,
    tile_pipeline,
    tile_windows,
)

CONFIG = 'configs/digits/faster-rcnn_r18_fpn_540it_digits.py'


@pytest.mark.parametrize('length, tile, overlap', [(1280, 160, 0.2), (1000, 256, 0.0),
                                                    (300, 128, 0.5), (97, 40, 0.25)])
def test_tiles_cover_the_axis_exactly_with_the_overlap_asked(length, tile, overlap):
    starts = axis_starts(length, tile, overlap)
    assert starts[0] == 0 and starts[-1] + tile == length  # last tile moved in, no padding
    covered = np.zeros(length, bool)
    for start in starts:
        covered[start:start + tile] = True
    assert covered.all()
    shared = [a + tile - b for a, b in zip(starts, starts[1:])]
    assert min(shared) >= round(tile * overlap)
    assert max(shared[:-1], default=0) <= round(tile * overlap) + 1  # only the last is wider


def test_tile_windows_of_an_image_and_a_tile_larger_than_it():
    windows = tile_windows(300, 500, SliceSettings.from_options([160, 200], 0.2))
    assert windows[0] == (0, 0, 200, 160) and windows[-1] == (300, 140, 500, 300)
    assert len({w[2] - w[0] for w in windows}) == 1 and len({w[3] - w[1] for w in windows}) == 1
    assert tile_windows(300, 500, SliceSettings.from_options(512)) == [(0, 0, 500, 300)]


@pytest.mark.parametrize('options, message', [
    (dict(size=0), r"size: must be one or two positive pixel counts \(H W\), got 0"),
    (dict(size=['-5']), r"size: must be one or two positive .*got \['-5'\]"),
    (dict(size=['a']), r"size: expected one or two whole pixel counts, got \['a'\]"),
    (dict(size=[1, 2, 3]), r'size: must be one or two positive'),
    (dict(size=64, overlap=1.0), r'overlap: must be in \[0, 1\), got 1.0'),
    (dict(size=64, overlap=-0.1), r'overlap: must be in \[0, 1\), got -0.1'),
    (dict(size=64, merge='wbf'), r"merge: must be one of \('ios', 'nms', 'nmm'\), got 'wbf'"),
    (dict(size=64, batch_size=0), r'batch_size: must be >= 1, got 0'),
])
def test_bad_settings_are_one_line_errors_naming_the_setting(options, message):
    """The settings check themselves once, when made, and name the setting in their own
    spelling; the tools and the Python API name it as their user knows it."""
    field = message.split(':')[0]
    with pytest.raises(CLIError, match='^slicing.' + message) as caught:
        SliceSettings(**options)
    assert caught.value.key == field
    if field in FLAGS:
        args = argparse.Namespace(slice_size=options['size'],
                                  slice_overlap=options.get('overlap', 0.2),
                                  no_full_pass=False, slice_merge=options.get('merge', 'ios'))
        with pytest.raises(CLIError, match=f'^{FLAGS[field]}:' + message[len(field) + 1:]):
            slicing_from_args(args)


def test_settings_are_normalised_once():
    settings = SliceSettings('160', 0, True)
    assert settings.size == (160, 160) and isinstance(settings.overlap, float)
    assert SliceSettings.from_options([96, 128]) == SliceSettings((96, 128))


def test_config_settings_are_named_by_their_key():
    cfg = Config(dict(model=dict(test_cfg=dict(slicing=dict(size=64, overlap=2)))))
    with pytest.raises(CLIError, match=r'model\.test_cfg\.slicing\.overlap: must be in'):
        SliceSettings.from_config(cfg)
    assert SliceSettings.from_config(Config(dict(model=dict(test_cfg=dict())))) is None
    cfg.model.test_cfg.slicing.overlap = 0.25
    assert SliceSettings.from_config(cfg) == SliceSettings((64, 64), 0.25)


def test_ios_merge_removes_a_box_cut_at_a_tile_border_that_nms_keeps():
    # A digit's whole box (from the full pass) and the half of it a tile border cut off.
    bboxes = torch.tensor([[100., 100., 120., 140.], [100., 100., 120., 118.],
                           [100., 100., 120., 118.], [300., 300., 330., 340.]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    labels = torch.tensor([3, 3, 5, 3])  # the third is another class: never suppressed
    assert merge_detections(bboxes, scores, labels, 'ios').tolist() == [0, 2, 3]
    assert merge_detections(bboxes, scores, labels, 'nms').tolist() == [0, 1, 2, 3]
    assert merge_detections(bboxes, scores, labels, 'ios', max_per_img=2).tolist() == [0, 2]


def test_nms_merge_is_class_aware_nms():
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(200, 2, generator=g) * 100
    bboxes = torch.cat([xy, xy + 5 + torch.rand(200, 2, generator=g) * 30], 1)
    scores = torch.rand(200, generator=g)
    labels = torch.randint(0, 3, (200,), generator=g)
    keep = merge_detections(bboxes, scores, labels, 'nms', 0.5, max_per_img=1000)
    assert torch.equal(keep, torchvision.ops.batched_nms(bboxes, scores, labels, 0.5))


class OneBoxPerTile(torch.nn.Module):
    """A stand-in detector: one box at (5, 6, 15, 18) in each tile's own pixels, its score
    the tile's width / 1000 and its label the tile's height % 7."""

    def test_step(self, data):
        results = []
        for inputs, sample in zip(data['inputs'], data['data_samples']):
            height, width = sample.ori_shape
            assert tuple(inputs.shape[1:]) == sample.img_shape  # the test pipeline ran
            result = DetDataSample(metainfo=sample.metainfo)
            result.pred_instances = InstanceData(
                bboxes=torch.tensor([[5., 6., 15., 18.]]),
                scores=torch.tensor([width / 1000]), labels=torch.tensor([height % 7]))
            results.append(result)
        return results


def test_sliced_predict_runs_the_pipeline_per_tile_and_shifts_boxes_back():
    pipeline = tile_pipeline(Config.fromfile(CONFIG).test_dataloader.dataset.pipeline)
    image = np.zeros((300, 500, 3), np.uint8)
    settings = SliceSettings.from_options([160, 200], 0.2, merge='nms', batch_size=4)
    pred = sliced_predict(OneBoxPerTile(), image, pipeline, settings)
    windows = tile_windows(300, 500, settings)
    assert pred.num_tiles == len(windows) + 1  # and the full pass
    got = {tuple(box.tolist()) for box in pred.bboxes}
    expected = {(x + 5., y + 6., x + 15., y + 18.) for x, y, _, _ in windows}
    assert got == expected  # the full pass's box at (5, 6) is the first tile's, merged
    # the full pass ran on the whole image: its score, 500 / 1000, is the best
    assert pred.scores[0] == 0.5 and pred.labels[0] == 300 % 7
    without = sliced_predict(OneBoxPerTile(), image, pipeline,
                             SliceSettings.from_options([160, 200], 0.2, full_pass=False))
    assert without.num_tiles == len(windows) and 0.5 not in without.scores.tolist()


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
def test_sliced_predict_on_cuda_equals_the_cpu():
    from custom.core.build_detector import build_detector
    cfg = Config.fromfile(CONFIG)
    cfg.model.test_cfg.rcnn.score_thr = 0.0  # random weights: keep their low scores
    pipeline = tile_pipeline(cfg.test_dataloader.dataset.pipeline)
    image = np.random.default_rng(0).integers(0, 255, (300, 420, 3), dtype=np.uint8)
    settings = SliceSettings.from_options(160, 0.2)
    preds = {}
    for device in ('cpu', 'cuda'):
        torch.backends.cudnn.allow_tf32 = False
        model = build_detector(cfg, None, device, seed=0)
        preds[device] = sliced_predict(model, image, pipeline, settings)
    assert preds['cuda'].bboxes.is_cuda and len(preds['cpu']) > 0
    assert preds['cuda'].num_tiles == preds['cpu'].num_tiles == len(
        tile_windows(300, 420, settings)) + 1
    torch.testing.assert_close(preds['cuda'].scores.cpu()[:10], preds['cpu'].scores[:10],
                               rtol=1e-3, atol=1e-4)


def test_sliced_model_detects_on_the_image_the_dataloader_decoded(tmp_path):
    """The test dataset's pipeline, wrapped by KeepDecodedImage, hands the decoded image on;
    SlicedInferenceModel slices it and reads no file; the result keeps no copy of the image;
    a sample without it is read from its path."""
    from mmengine.dataset import Compose

    from custom.inference import KeepDecodedImage, SlicedInferenceModel
    cfg = Config.fromfile(CONFIG)
    image = np.random.default_rng(1).integers(0, 255, (300, 500, 3), dtype=np.uint8)
    pipeline = [dict(type='mmdet.LoadImageFromNDArray')] + [
        t for t in cfg.test_dataloader.dataset.pipeline
        if t['type'] not in ('LoadImageFromFile', 'CheckedLoadImageFromFile', 'LoadAnnotations')]
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmdet'):
        wrapped = KeepDecodedImage(Compose(pipeline))
    packed = wrapped(dict(img=image, img_id=3))
    assert packed['data_samples'].decoded_image is image
    settings = SliceSettings([160, 200], 0.2, merge='nms', batch_size=4)
    model = SlicedInferenceModel(OneBoxPerTile(), cfg.test_dataloader.dataset.pipeline,
                                 settings)
    result, = model.test_step(dict(inputs=[packed['inputs']],
                                   data_samples=[packed['data_samples']]))
    expected = sliced_predict(OneBoxPerTile(), image, model.pipeline, settings)
    torch.testing.assert_close(result.pred_instances.bboxes, expected.bboxes)
    assert 'decoded_image' not in result.metainfo and result.img_id == 3
    with pytest.raises(CLIError, match='gone.png: no such image file'):
        model.test_step(dict(inputs=[packed['inputs']], data_samples=[
            DetDataSample(metainfo=dict(img_path=str(tmp_path / 'gone.png')))]))
