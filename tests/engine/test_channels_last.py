"""ChannelsLastHook: NHWC convolutions give the same losses, and layers that would silently
compute wrong results on NHWC features are refused. FuseConvBNHook: folded batch norms give
the unfolded model's detections."""
from types import SimpleNamespace

import pytest
import torch
import torchvision
from helpers import with_trained_looking_norms
from mmcv.ops import RoIAlign
from mmdet.registry import MODELS
from mmengine.config import Config
from torch import nn

from bench.common import digit_canvases, mmdet_batch, uses_channels_last
from custom.engine import (
    ChannelsLastHook,
    FuseConvBNHook,
    count_batch_norms,
    fold_batch_norms,
    lists_hook,
)

ROIS = torch.tensor([[0, 1.0, 2.0, 15.0, 17.0], [1, 3.0, 3.0, 9.0, 12.0]])


def _features():
    return torch.randn(2, 8, 20, 20, generator=torch.Generator().manual_seed(0))


def test_mmcv_roi_align_pools_channels_last_features_as_nchw_ones():
    # The set-up's mmcv._ext honours strides (a compiled mmcv's CPU kernel does not).
    feats = _features()
    expected = torchvision.ops.roi_align(feats, ROIS, 7, 0.5, 2, True)
    nhwc = feats.contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(RoIAlign(7, 0.5, 2)(nhwc, ROIS), expected)


def test_hook_accepts_mmcv_roi_align_on_the_uncompiled_ops():
    model = nn.ModuleDict(dict(conv=nn.Conv2d(3, 8, 3), pool=RoIAlign(7, 0.5, 2)))
    ChannelsLastHook().before_run(SimpleNamespace(model=model))
    assert model['conv'].weight.is_contiguous(memory_format=torch.channels_last)
    assert not model['conv'].weight.is_contiguous()


def test_hook_refuses_compiled_mmcv_roi_align_and_names_it(monkeypatch):
    import mmcv._ext
    monkeypatch.setattr(mmcv._ext, 'COMPILED', True)
    model = nn.ModuleDict(dict(conv=nn.Conv2d(3, 8, 3), pool=RoIAlign(7, 0.5, 2)))
    with pytest.raises(ValueError, match=r"compiled mmcv's RoIAlign \(pool\).*use_torchvision"):
        ChannelsLastHook().before_run(SimpleNamespace(model=model))
    assert model['conv'].weight.is_contiguous()  # refused before converting anything
    # torchvision's kernel honours strides
    model['pool'] = RoIAlign(7, 0.5, 2, use_torchvision=True)
    ChannelsLastHook().before_run(SimpleNamespace(model=model))
    assert not model['conv'].weight.is_contiguous()


@pytest.mark.parametrize('config', [
    'configs/faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',
    'configs/faster_rcnn/faster-rcnn_r18_fpn_1x_coco.py',
    'configs/faster_rcnn/faster-rcnn_vgg16_1x_coco.py',
    'configs/digits/faster-rcnn_r18_fpn_540it_digits.py',
    'configs/digits/faster-rcnn_vgg16_540it_digits.py',
])
def test_detector_configs_train_channels_last_and_test_folded(config):
    cfg = Config.fromfile(config)
    assert uses_channels_last(cfg), config
    assert lists_hook(cfg, 'FuseConvBNHook'), config


def _losses(cfg, batch, channels_last: bool) -> dict:
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).train()
    if channels_last:
        ChannelsLastHook().before_run(SimpleNamespace(model=model))
    weight = model.backbone.conv1.weight
    assert weight.is_contiguous() != channels_last
    torch.manual_seed(1)  # the same samples drawn in both layouts
    return model(**model.data_preprocessor(batch, True), mode='loss')


def test_r50_fpn_losses_equal_in_both_layouts():
    cfg = Config.fromfile('configs/faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py')
    cfg.model.roi_head.bbox_head.num_classes = 10
    batch = mmdet_batch(digit_canvases((160, 192), 2, seed=3), 'cpu')
    nchw = _losses(cfg, batch, channels_last=False)
    nhwc = _losses(cfg, batch, channels_last=True)
    assert nchw.keys() == nhwc.keys()

    def total(loss):  # mmdet logs the RPN losses per level
        return torch.stack(loss).sum() if isinstance(loss, list) else loss
    for key, value in nchw.items():
        torch.testing.assert_close(total(nhwc[key]), total(value), rtol=1e-4, atol=1e-5,
                                   msg=key)


def _distributed_wrapper(monkeypatch, config: str, cuda: bool, **overrides) -> dict | None:
    from custom.apis import runs
    monkeypatch.setattr(runs.torch.cuda, 'is_available', lambda: cuda)
    monkeypatch.setattr(runs, 'init_cpu_process_group', lambda launcher: True)
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(overrides)
    runs.use_cpu_collectives(cfg, 'pytorch')
    return cfg.get('model_wrapper_cfg')


R50 = 'configs/faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'


def test_distributed_runs_convert_before_ddp_wraps(monkeypatch):
    cpu = _distributed_wrapper(monkeypatch, R50, cuda=False)
    assert cpu['type'] == 'CPUDistributedDataParallel' and cpu['channels_last'] is True
    gpu = _distributed_wrapper(monkeypatch, R50, cuda=True)
    assert gpu == dict(type='ChannelsLastDistributedDataParallel', broadcast_buffers=False,
                       find_unused_parameters=False)
    # a wrapper the user chose is kept; a config without the hook keeps mmengine's default
    mine = dict(type='MMDistributedDataParallel', find_unused_parameters=True)
    assert _distributed_wrapper(monkeypatch, R50, cuda=True, model_wrapper_cfg=mine) == mine
    assert _distributed_wrapper(monkeypatch, R50, cuda=True, custom_hooks=[]) is None
    assert _distributed_wrapper(monkeypatch, R50, cuda=False,
                                custom_hooks=[])['channels_last'] is False


def test_ddp_wrappers_convert_the_module_first(tmp_path):
    import torch.distributed as dist

    from custom.engine import ChannelsLastDistributedDataParallel, CPUDistributedDataParallel
    dist.init_process_group('gloo', init_method=f'file://{tmp_path / "store"}', rank=0,
                            world_size=1)
    try:
        for wrap in (ChannelsLastDistributedDataParallel,
                     lambda module: CPUDistributedDataParallel(module, channels_last=True)):
            model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(8, 4, 1))
            wrapped = wrap(model)
            weight = wrapped.module[0].weight
            assert weight.is_contiguous(memory_format=torch.channels_last)
            assert not weight.is_contiguous()
        with pytest.MonkeyPatch.context() as patch:  # as under a compiled mmcv
            import mmcv._ext
            patch.setattr(mmcv._ext, 'COMPILED', True)
            with pytest.raises(ValueError, match="mmcv's RoIAlign"):
                ChannelsLastDistributedDataParallel(nn.ModuleDict(dict(pool=RoIAlign(7, 1.0))))
    finally:
        dist.destroy_process_group()


def _one_image(device: str) -> dict:
    """A test batch of one 160 x 192 digits image on ``device``."""
    return mmdet_batch(digit_canvases((160, 192), 1, seed=2), device, with_gt=False)


def _eval_model_and_image(config: str):
    """The config (10 classes), its model in eval mode with trained-looking batch norms, and
    :func:`_one_image` on the CPU."""
    cfg = Config.fromfile(config)
    cfg.model.roi_head.bbox_head.num_classes = 10
    torch.manual_seed(0)
    model = with_trained_looking_norms(MODELS.build(cfg.model)).eval()
    return cfg, model, _one_image('cpu')


@pytest.mark.parametrize('config, norms', [
    ('configs/faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py', 53),
    ('configs/digits/faster-rcnn_r18_fpn_540it_digits.py', 20),
    ('configs/digits/faster-rcnn_vgg16_540it_digits.py', 13),
])
def test_folded_batch_norms_give_the_same_detections(config, norms):
    cfg, model, batch = _eval_model_and_image(config)
    with torch.no_grad():
        inputs = model.data_preprocessor(batch)['inputs']
        features, detections = model.extract_feat(inputs), model.test_step(batch)[0]
        assert count_batch_norms(model) == norms
        FuseConvBNHook().before_test(SimpleNamespace(model=model))
        assert count_batch_norms(model) == 0
        folded_features, folded = model.extract_feat(inputs), model.test_step(batch)[0]
    for got, expected in zip(folded_features, features):
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    expected, got = detections.pred_instances, folded.pred_instances
    assert len(expected) > 0 and len(got) == len(expected)
    torch.testing.assert_close(got.scores, expected.scores, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(got.bboxes, expected.bboxes, rtol=1e-4, atol=1e-2)


def test_fold_leaves_a_norm_without_a_convolution_before_it():
    model = nn.Sequential(nn.BatchNorm2d(3), nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4))
    assert fold_batch_norms(model) == 1
    assert isinstance(model[0], nn.BatchNorm2d) and isinstance(model[2], nn.Identity)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
def test_prepared_r50_on_cuda_detects_as_the_plain_model_on_cpu(monkeypatch):
    """Channels-last weights and folded batch norms on CUDA (torchvision's RoIAlign and NMS
    behind classicdet's ops) give the CPU's detections of the unprepared model."""
    from custom.engine import apply_test_time_hooks
    monkeypatch.setattr(torch.backends.cudnn, 'allow_tf32', False)
    monkeypatch.setattr(torch.backends.cuda.matmul, 'allow_tf32', False)
    cfg, model, batch = _eval_model_and_image(R50)
    with torch.no_grad():
        expected = model.test_step(batch)[0].pred_instances
        apply_test_time_hooks(model.cuda(), cfg)
        assert count_batch_norms(model) == 0
        assert model.backbone.conv1.weight.is_contiguous(memory_format=torch.channels_last)
        got = model.test_step(_one_image('cuda'))[0].pred_instances
    assert got.scores.is_cuda and len(got) == len(expected) > 10
    torch.testing.assert_close(got.scores.cpu(), expected.scores, rtol=1e-4, atol=1e-5)
    # random heads score many boxes alike: compare the boxes of the ten best only
    torch.testing.assert_close(got.bboxes[:10].cpu(), expected.bboxes[:10], rtol=1e-4,
                               atol=1e-2)
