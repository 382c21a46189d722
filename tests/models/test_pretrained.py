"""Starting from trained weights: mmdet model-zoo checkpoints (tested with a randomly
initialised stock mmdet model saved in mmengine's checkpoint layout)."""
import numpy as np
import pytest
import torch
from helpers import run_tool, with_trained_looking_norms
from mmengine.config import Config

from custom.core.build_detector import build_detector

OURS_R50 = 'configs/faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'


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
    # confident, varied classes, so that detections pass the score threshold and few tie
    model.roi_head.bbox_head.fc_cls.weight.data.mul_(50)
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
    image = structured_image(320, 416, seed=0)
    expected, got = predict(stock, image), predict(ours, image)
    assert len(expected) > 10 and len(got) == len(expected)
    assert len(set(expected.labels.tolist())) > 1
    from torchvision.ops import box_iou
    overlap = box_iou(expected.bboxes, got.bboxes) * (expected.labels[:, None] == got.labels)
    match = overlap.argmax(1)
    assert overlap.max(1).values.min() > 0.99  # every detection has its twin, same label
    torch.testing.assert_close(got.bboxes[match], expected.bboxes, rtol=0, atol=1e-2)
    torch.testing.assert_close(got.scores[match], expected.scores, rtol=0, atol=1e-4)


def test_a_zoo_checkpoint_loads_strictly_through_the_safe_loader(zoo_checkpoint, tmp_path):
    from custom.apis.cli import CLIError
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


@pytest.mark.parametrize('source, target, message', [
    ('vgg11', 'vgg16', r'vgg11\.pth: not weights for this ClassicVGG \(the keys fit vgg11\); '
                       r'missing: features\.'),
    # The backbone's BN counters the file lacks must not hide which arch the file fits.
    ('vgg11_bn', 'vgg16_bn', r'vgg11_bn\.pth: not weights for this ClassicVGG \(the keys fit '
                             r'vgg11_bn\); missing: features\.'),
])
def test_a_file_of_another_arch_is_refused_by_name(tmp_path, source, target, message):
    from test_backbones import build_ours, random_torchvision
    path = tmp_path / f'{source}.pth'
    torch.save(random_torchvision(source).state_dict(), path)
    ours = build_ours(target, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    with pytest.raises(ValueError, match=message):
        ours.init_weights()


# ----------------------------------------------------------------------------- torchvision


def tv_like_trained_faster_rcnn() -> torch.nn.Module:
    """torchvision's fasterrcnn_resnet50_fpn with random weights that behave like trained
    ones where the parity depends on it: non-trivial batch norms, features of order 1, varied
    objectness, small box deltas, confident class scores, the ten N/A slots never likely."""
    import torchvision

    from custom.models.torchvision_faster_rcnn import COCO_CATEGORY_IDS
    torch.manual_seed(0)
    model = torchvision.models.detection.fasterrcnn_resnet50_fpn(
        weights=None, weights_backbone=None, num_classes=91)
    with_trained_looking_norms(model)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        feats = model.backbone(torch.rand(1, 3, 256, 256, generator=g))
        scale = 1 / max(v.abs().mean().item() for v in feats.values())
        for block in model.backbone.fpn.layer_blocks:
            for p in block.parameters():
                p.mul_(scale)
        for name, p in model.rpn.head.named_parameters():
            p.normal_(0, {'cls_logits': 0.01, 'bbox_pred': 0.002}.get(name.split('.')[0], 0.05),
                      generator=g)
        model.roi_heads.box_predictor.bbox_pred.weight.normal_(0, 0.002, generator=g)
        cls = model.roi_heads.box_predictor.cls_score
        cls.weight.mul_(12)
        cls.bias.fill_(-3.0)
        cls.bias[0] = 0.0
        cls.bias[[i for i in range(1, 91) if i not in COCO_CATEGORY_IDS]] = -40.0
    return model.eval()


def structured_image(height: int, width: int, seed: int) -> np.ndarray:
    """BGR uint8 blurred noise with regions of other brightness and colour."""
    import cv2
    rng = np.random.default_rng(seed)
    image = cv2.GaussianBlur(rng.integers(0, 255, (height, width, 3), dtype=np.uint8), (0, 0), 3)
    image[:height // 2, :width // 2] //= 4
    image[height // 2:, width // 2:] = 255 - image[height // 2:, width // 2:] // 3
    image[:height // 3, width // 2:, 1] = 30
    return image


@pytest.fixture(scope='module')
def converted_torchvision(tmp_path_factory):
    folder = tmp_path_factory.mktemp('tv')
    model = tv_like_trained_faster_rcnn()
    torch.save(model.state_dict(), folder / 'fasterrcnn_resnet50_fpn.pth')
    proc = run_tool('tools/model_converters/torchvision_detector2mmdet.py',
                    folder / 'fasterrcnn_resnet50_fpn.pth', folder / 'converted.pth')
    assert "COCO's 80 classes" in proc.stdout
    return model, folder / 'converted.pth'


@pytest.mark.parametrize('height, width', [(800, 1216), (480, 640)])  # no resize; a resize
def test_torchvision_coco_detector_converted_detects_what_torchvision_detects(
        converted_torchvision, height, width):
    from torchvision.ops import box_iou

    from custom.apis import Detector
    from custom.models.torchvision_faster_rcnn import COCO_CATEGORY_IDS
    reference, checkpoint = converted_torchvision
    image = structured_image(height, width, seed=height)
    with torch.no_grad():
        expected = reference([torch.from_numpy(image[:, :, ::-1].copy()).permute(2, 0, 1)
                              .float() / 255])[0]
    det = Detector('configs/faster_rcnn/faster-rcnn_r50_fpn_tv-coco.py', str(checkpoint),
                   device='cpu')
    got = det.predict(image)
    assert det.classes[0] == 'person' and len(det.classes) == 80
    labels = torch.tensor([COCO_CATEGORY_IDS[label] for label in got['labels']])
    assert len(expected['boxes']) == len(got['boxes']) == 100
    assert len(set(expected['labels'].tolist())) > 1  # the class layout is exercised
    boxes, scores = torch.from_numpy(got['boxes']), torch.from_numpy(got['scores'])
    overlap = box_iou(expected['boxes'], boxes) * (expected['labels'][:, None] == labels)
    match = overlap.argmax(1)
    assert overlap.max(1).values.min() > 0.99  # every detection has its twin, same label
    assert (expected['boxes'] - boxes[match]).abs().max() < 0.5
    assert (expected['scores'] - scores[match]).abs().max() < 1e-3


def test_the_converter_refuses_other_layouts(tmp_path):
    path = tmp_path / 'classifier.pth'
    torch.save(__import__('torchvision').models.resnet18().state_dict(), path)
    proc = run_tool('tools/model_converters/torchvision_detector2mmdet.py', path,
                    tmp_path / 'out.pth', check=False)
    assert proc.returncode == 1
    assert 'error: ' in proc.stderr and 'not torchvision Faster R-CNN keys: conv1.weight' in \
        proc.stderr
