"""Starting from trained weights: mmdet model-zoo checkpoints (tested with a randomly
initialised stock mmdet model saved in mmengine's checkpoint layout)."""
import numpy as np
import pytest
import torch
from mmengine.config import Config

from custom.evaluation.build_detector import build_detector

OURS_R50 = 'configs/faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'


def with_trained_looking_norms(model: torch.nn.Module, seed: int = 1) -> torch.nn.Module:
    """Batch-norm statistics and affine terms away from their identity defaults."""
    g = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            size = module.num_features
            module.running_mean.copy_(torch.randn(size, generator=g) * 0.1)
            module.running_var.copy_(torch.rand(size, generator=g) + 0.5)
            module.weight.data.copy_(torch.rand(size, generator=g) + 0.5)
            module.bias.data.copy_(torch.randn(size, generator=g) * 0.1)
    return model


def predict(model, image: np.ndarray):
    from mmdet.structures import DetDataSample
    height, width = image.shape[:2]
    sample = DetDataSample(metainfo=dict(img_shape=(height, width), ori_shape=(height, width),
                                         scale_factor=(1.0, 1.0)))
    data = dict(inputs=[torch.from_numpy(image).permute(2, 0, 1).contiguous()],
                data_samples=[sample])
    with torch.no_grad():
        return model.test_step(data)[0].pred_instances


@pytest.fixture(scope='module')
def zoo_checkpoint(tmp_path_factory):
    """A stock mmdet R50-FPN saved as mmdet's model zoo saves: meta and state_dict."""
    from mmdet.registry import MODELS

    from bench.common import mmdet_config_path
    cfg = Config.fromfile(mmdet_config_path('faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'))
    cfg.model.backbone.init_cfg = None
    torch.manual_seed(0)
    model = with_trained_looking_norms(MODELS.build(cfg.model)).eval()
    # confident classes, so that detections pass the score threshold
    model.roi_head.bbox_head.fc_cls.bias.data[:] = -4.0
    model.roi_head.bbox_head.fc_cls.bias.data[[0, 2, 15]] = 4.0
    path = tmp_path_factory.mktemp('zoo') / 'faster_rcnn_r50_fpn_1x_coco.pth'
    torch.save(dict(meta=dict(mmdet_version='3.3.0', dataset_meta=dict(
        classes=tuple(f'class{i}' for i in range(80)))), state_dict=model.state_dict()), path)
    return cfg, model, path


def test_a_model_zoo_checkpoint_detects_in_classicdet_as_in_stock_mmdet(zoo_checkpoint):
    stock_cfg, stock, path = zoo_checkpoint
    ours = build_detector(Config.fromfile(OURS_R50), str(path), 'cpu', test_time_hooks=True)
    assert ours.dataset_meta['classes'][:2] == ('class0', 'class1')
    image = np.random.default_rng(0).integers(0, 255, (320, 416, 3), dtype=np.uint8)
    expected, got = predict(stock, image), predict(ours, image)
    assert len(expected) > 10 and len(got) == len(expected)
    torch.testing.assert_close(got.bboxes, expected.bboxes, rtol=0, atol=1e-2)
    torch.testing.assert_close(got.scores, expected.scores, rtol=0, atol=1e-4)
    assert torch.equal(got.labels, expected.labels)


def test_a_zoo_checkpoint_loads_strictly_through_the_safe_loader(zoo_checkpoint, tmp_path):
    from custom.utils.errors import CLIError
    _, _, path = zoo_checkpoint
    state = torch.load(path, weights_only=True)
    del state['state_dict']['roi_head.bbox_head.fc_cls.bias']
    broken = tmp_path / 'broken.pth'
    torch.save(state, broken)
    with pytest.raises(CLIError, match=r'broken\.pth: checkpoint of another architecture; '
                                       r'missing in file: roi_head\.bbox_head\.fc_cls\.bias'):
        build_detector(Config.fromfile(OURS_R50), str(broken), 'cpu')


# ----------------------------------------------------------------------------- ImageNet


@pytest.mark.parametrize('arch', ['resnet18', 'vgg11', 'vgg11_bn', 'alexnet', 'googlenet'])
def test_imagenet_backbone_from_a_torchvision_file_in_one_line(arch, tmp_path):
    """init_cfg=dict(type='Pretrained', checkpoint=FILE), FILE a torchvision classifier's
    state_dict as torchvision saves it: the stages compute what torchvision's layers do."""
    from test_backbones import (
        build_ours,
        random_torchvision,
        reference_outputs,
        reference_stage_modules,
    )
    reference = random_torchvision(arch)
    path = tmp_path / f'{arch}.pth'
    torch.save(reference.state_dict(), path)
    ours = build_ours(arch, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    ours.init_weights()
    ours.eval()
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    expected = reference_outputs(reference, reference_stage_modules(arch, reference), x)
    with torch.no_grad():
        got = ours(x)
    for stage, (g, e) in enumerate(zip(got, expected)):
        torch.testing.assert_close(g, e, rtol=0, atol=1e-5, msg=f'{arch} stage {stage}')


def test_a_file_of_another_arch_is_refused_by_name(tmp_path):
    from test_backbones import build_ours, random_torchvision
    path = tmp_path / 'vgg11.pth'
    torch.save(random_torchvision('vgg11').state_dict(), path)
    ours = build_ours('vgg16', init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    with pytest.raises(ValueError, match=r'vgg11\.pth: not weights for this ClassicVGG '
                                         r'\(the keys fit vgg11\); missing: features\.'):
        ours.init_weights()
