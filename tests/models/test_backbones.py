"""Classic backbones: parity with torchvision through the weight converter, freezing, norm_eval,
bad configurations, the converter CLI, and the docstring examples.

Shape shorthand: N = 2 images of 64 x 64 (LeNet-5: 1 x 32 x 32); stage outputs (N, C_i, H_i, W_i).
"""
from __future__ import annotations

import doctest
import os
import subprocess
import sys
from pathlib import Path

import mmengine.runner.checkpoint as mmengine_checkpoint
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from mmdet.registry import MODELS

import custom  # noqa: F401  registers the backbones
from custom.models.backbones import (
    ClassicAlexNet,
    ClassicGoogLeNet,
    ClassicLeNet5,
    ClassicVGG,
    classic_alexnet,
    classic_googlenet,
    classic_lenet5,
    classic_vgg,
)
from custom.models.backbones.torchvision_keys import (
    TORCHVISION_ARCHS,
    ArchMismatchError,
    backbone_cfg_for_arch,
    convert_torchvision_checkpoint,
    convert_torchvision_state_dict,
)
from custom.profiling.backbone_complexity import measure_gflops

REPO = Path(__file__).resolve().parents[2]
# torchvision's classifier parameters, written out here rather than taken from the converter.
CLASSIFIER = {'resnet': ('fc.', ), 'vgg': ('classifier.', ), 'alexnet': ('classifier.', ),
              'googlenet': ('fc.', 'aux1.', 'aux2.')}


@pytest.fixture(autouse=True, scope='module')
def single_thread():
    """These tensors are tiny: one thread runs them faster than several, and on shared cores
    many times faster (no OpenMP workers spinning for a core)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def family(arch: str) -> str:
    return next(name for name in CLASSIFIER if arch.startswith(name))


def randomize_(model: nn.Module) -> nn.Module:
    """Random weights that keep activations O(1) and make eval-mode BN far from identity.

    Every parameter and buffer is set; the classifier's are zeroed (only its keys matter).
    """
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity='relu')
                if m.bias is not None:
                    m.bias.normal_(0, 0.1)
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.0)
                m.bias.normal_(0, 0.1)
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.num_batches_tracked.zero_()
            elif isinstance(m, nn.Linear):
                m.weight.zero_()
                m.bias.zero_()
    return model


def random_torchvision(arch: str) -> nn.Module:
    """``torchvision.models.<arch>(weights=None)`` with :func:`randomize_` weights, in eval mode.

    Built on the meta device and then materialized: torchvision's own initialization of
    VGG's 120M classifier weights would dominate the test's run time.
    """
    kwargs = dict(init_weights=False) if arch == 'googlenet' else {}  # keeps aux1 / aux2
    with torch.device('meta'):
        model = torchvision.models.get_model(arch, weights=None, **kwargs)
    return randomize_(model.to_empty(device='cpu')).eval()


def reference_stage_modules(arch: str, model: nn.Module, with_last_pool: bool = True) -> list:
    """torchvision modules whose outputs are our stage outputs."""
    if arch.startswith('resnet'):
        return [model.layer1, model.layer2, model.layer3, model.layer4]
    if arch == 'googlenet':
        return [model.conv1, model.conv3, model.inception3b, model.inception4e, model.inception5b]
    pools = [m for m in model.features if isinstance(m, nn.MaxPool2d)]  # vgg, alexnet
    if not with_last_pool:
        pools[-1] = model.features[-2]  # the activation before the last pool
    return pools


def reference_outputs(model: nn.Module, modules: list, x: torch.Tensor) -> list[torch.Tensor]:
    outs: list[torch.Tensor] = []
    handles = [m.register_forward_hook(lambda _m, _i, out: outs.append(out.detach().clone()))
               for m in modules]
    with torch.no_grad():
        model(x)
    for handle in handles:
        handle.remove()
    return outs


def build_ours(arch: str, **overrides) -> nn.Module:
    cfg = backbone_cfg_for_arch(arch)
    num_stages = 4 if cfg['type'] == 'ResNet' else {'ClassicVGG': 5, 'ClassicAlexNet': 3,
                                                    'ClassicGoogLeNet': 5}[cfg['type']]
    cfg.update(out_indices=tuple(range(num_stages)), **overrides)
    if cfg['type'] == 'ResNet':
        cfg.setdefault('norm_eval', False)  # mmdet's default is True; eval mode makes it moot
    return MODELS.build(cfg)


def load_converted(arch: str, reference: nn.Module, **overrides) -> nn.Module:
    """Our backbone for ``arch`` holding ``reference``'s converted weights (strict loading)."""
    with torch.device('meta'):  # no initialization: every tensor comes from the state_dict
        ours = build_ours(arch, **overrides)
    converted, unmapped = convert_torchvision_state_dict(reference.state_dict(), arch)
    assert unmapped == []
    ours.load_state_dict(converted, strict=True, assign=True)
    assert not any(t.is_meta for t in ours.state_dict().values())
    ours.eval()  # mmdet's ResNet.train() returns None, so no chaining
    return ours


def check_parity(arch: str, size: int = 32, **overrides) -> None:
    torch.manual_seed(0)
    reference = random_torchvision(arch)
    ours = load_converted(arch, reference, **overrides)

    feature_params = sum(p.numel() for name, p in reference.named_parameters()
                         if not name.startswith(CLASSIFIER[family(arch)]))
    assert sum(p.numel() for p in ours.parameters()) == feature_params

    x = torch.randn(2, 3, size, size)
    expected = reference_outputs(
        reference, reference_stage_modules(arch, reference, overrides.get('with_last_pool', True)),
        x)
    with torch.no_grad():
        outs = ours(x)
    assert len(outs) == len(expected)
    for stage, (out, ref) in enumerate(zip(outs, expected)):
        assert out.shape == ref.shape, (arch, stage)
        assert ref.abs().max() > 0.1, (arch, stage, 'reference map too small to compare')
        assert (out - ref).abs().max() < 1e-5, (arch, stage, (out - ref).abs().max())


@pytest.mark.parametrize('arch', list(TORCHVISION_ARCHS))
def test_parity_with_torchvision(arch):
    # AlexNet's 11x11 stride-4 conv and three unpadded pools need at least 63 x 63.
    check_parity(arch, size=64 if arch == 'alexnet' else 32)


@pytest.mark.parametrize('arch,size', [('vgg16', 32), ('alexnet', 64)])
def test_parity_without_last_pool(arch, size):
    check_parity(arch, size, with_last_pool=False)


def test_known_feature_part_sizes():
    # torchvision's published totals minus their classifiers: ResNet-50 25,557,032 - fc
    # 2,049,000; VGG-16 138,357,544 - classifier 123,642,856.
    with torch.device('meta'):
        assert sum(p.numel() for p in build_ours('resnet50').parameters()) == 23_508_032
        assert sum(p.numel() for p in ClassicVGG(16).parameters()) == 14_714_688


def test_torchvision_scheme_loads_vgg_and_googlenet_unchanged(monkeypatch):
    """``torchvision://NAME`` checkpoints need no conversion: mmengine's loader with its URL
    table, the download replaced by torchvision's state_dict."""
    torch.manual_seed(0)
    references = {name: random_torchvision(name) for name in ('vgg11', 'googlenet')}
    urls = {torchvision.models.get_model_weights(name).IMAGENET1K_V1.url: name
            for name in references}

    def fake_download(url, map_location=None, **kwargs):
        return references[urls[url]].state_dict()

    monkeypatch.setattr(mmengine_checkpoint, 'load_from_http', fake_download)
    x = torch.randn(1, 3, 32, 32)
    for name, reference in references.items():
        ours = build_ours(name, init_cfg=dict(type='Pretrained', checkpoint=f'torchvision://{name}'))
        ours.init_weights()
        ours.eval()
        expected = reference_outputs(reference, reference_stage_modules(name, reference), x)
        with torch.no_grad():
            assert torch.equal(ours(x)[-1], expected[-1]), name


def make_optimizer_step(model: nn.Module, x: torch.Tensor) -> None:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-2)
    optimizer.zero_grad()
    sum(out.square().mean() for out in model(x)).backward()
    optimizer.step()


FREEZE_CASES = [
    (dict(type='ClassicVGG', depth=11, with_bn=True, frozen_stages=2),
     ('features.0.', 'features.1.', 'features.4.', 'features.5.'), (2, 3, 32, 32)),
    (dict(type='ClassicGoogLeNet', frozen_stages=2), ('conv1.', 'conv2.', 'conv3.'),
     (2, 3, 32, 32)),
    (dict(type='ClassicAlexNet', frozen_stages=1), ('features.0.', ), (2, 3, 64, 64)),
    (dict(type='ClassicLeNet5', frozen_stages=2), ('c1.', 'c3.'), (2, 1, 32, 32)),
]


@pytest.mark.parametrize('cfg,frozen_prefixes,input_shape', FREEZE_CASES,
                         ids=[case[0]['type'] for case in FREEZE_CASES])
def test_frozen_stages(cfg, frozen_prefixes, input_shape):
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.train()
    for name, param in model.named_parameters():
        assert param.requires_grad is not name.startswith(frozen_prefixes), name
    for name, module in model.named_modules():
        if isinstance(module, nn.BatchNorm2d):
            assert module.training is not f'{name}.'.startswith(frozen_prefixes), name
    before = {k: v.clone() for k, v in model.state_dict().items()}
    make_optimizer_step(model, torch.randn(*input_shape))
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    frozen = {k for k in before if k.startswith(frozen_prefixes)}
    assert frozen and not frozen & changed  # weights and BN statistics alike
    assert {k for k in before if k.endswith('weight')} - frozen <= changed


@pytest.mark.parametrize('cfg', [dict(type='ClassicVGG', depth=11, with_bn=True),
                                 dict(type='ClassicGoogLeNet')], ids=['vgg11_bn', 'googlenet'])
def test_norm_eval_keeps_bn_statistics(cfg):
    torch.manual_seed(0)
    x = torch.randn(2, 3, 32, 32)
    stats = {}
    for norm_eval in (False, True):
        model = MODELS.build(dict(cfg, norm_eval=norm_eval)).train()
        bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
        assert bns and all(bn.training is not norm_eval for bn in bns)
        assert model.training
        before = [bn.running_mean.clone() for bn in bns]
        model(x)
        stats[norm_eval] = [torch.equal(b, bn.running_mean) for b, bn in zip(before, bns)]
    assert not any(stats[False])  # without norm_eval every BN updates its statistics
    assert all(stats[True])


@pytest.mark.parametrize('build,match', [
    (lambda: ClassicVGG(depth=17), 'invalid depth 17'),
    (lambda: ClassicVGG(depth=16, out_indices=(0, 5)), r'holds 5, out of range.*5 stages'),
    (lambda: ClassicVGG(depth=16, frozen_stages=6), 'frozen_stages 6 is out of range'),
    (lambda: ClassicVGG(depth=16, out_indices=(3, 1)), r'\(3, 1\) must be strictly increasing'),
    (lambda: ClassicLeNet5(out_indices=(3, )), r'holds 3, out of range.*3 stages'),
    (lambda: ClassicLeNet5(frozen_stages=4), 'frozen_stages 4'),
    (lambda: ClassicLeNet5(pool_type='lp'), "pool_type 'lp'"),
    (lambda: ClassicLeNet5(padding=-1), 'padding -1'),
    (lambda: ClassicAlexNet(out_indices=(-1, )), 'holds -1, out of range'),
    (lambda: ClassicAlexNet(frozen_stages=-2), 'frozen_stages -2'),
    (lambda: ClassicGoogLeNet(out_indices=()), 'out_indices is empty'),
    (lambda: ClassicGoogLeNet(frozen_stages=6), 'frozen_stages 6'),
])
def test_bad_configuration_names_the_value(build, match):
    with pytest.raises(ValueError, match=match):
        build()


@pytest.mark.parametrize('act', ['ReLU', 'Tanh', 'Sigmoid'])
@pytest.mark.parametrize('pool_type,padding', [('max', 0), ('avg', 2)])
def test_lenet5_matches_functional_layers(act, pool_type, padding):
    torch.manual_seed(0)
    model = ClassicLeNet5(in_channels=1, act_cfg=dict(type=act), pool_type=pool_type,
                          padding=padding).eval()
    fn = {'ReLU': F.relu, 'Tanh': torch.tanh, 'Sigmoid': torch.sigmoid}[act]
    pool = {'max': F.max_pool2d, 'avg': F.avg_pool2d}[pool_type]
    x = torch.randn(2, 1, 32, 32)
    s2 = pool(fn(F.conv2d(x, model.c1.weight, model.c1.bias, padding=padding)), 2)
    s4 = pool(fn(F.conv2d(s2, model.c3.weight, model.c3.bias, padding=padding)), 2)
    c5 = fn(F.conv2d(s4, model.c5.weight, model.c5.bias, padding=padding))
    with torch.no_grad():
        outs = model(x)
    for out, ref in zip(outs, (s2, s4, c5)):
        torch.testing.assert_close(out, ref, rtol=0, atol=1e-6)
    expected_shapes = ([(2, 6, 16, 16), (2, 16, 8, 8), (2, 120, 8, 8)] if padding else
                       [(2, 6, 14, 14), (2, 16, 5, 5), (2, 120, 1, 1)])
    assert [tuple(o.shape) for o in outs] == expected_shapes


def test_lenet5_classifier_has_classic_parameter_count():
    backbone = ClassicLeNet5(in_channels=1, act_cfg=dict(type='Tanh'), out_indices=(2, ))
    classifier = nn.Sequential(nn.Flatten(), nn.Linear(120, 84), nn.Tanh(), nn.Linear(84, 10))
    out = backbone(torch.zeros(1, 1, 32, 32))[0]
    assert out.shape == (1, 120, 1, 1)
    assert classifier(out).shape == (1, 10)
    total = sum(p.numel() for m in (backbone, classifier) for p in m.parameters())
    assert total == 61_706
    # C1 6 x 28 x 28 x 25 + C3 16 x 10 x 10 x 150 + C5 120 x 400 multiply-adds; pools are free.
    assert round(measure_gflops(backbone, (1, 32, 32)) * 1e9) == 405_600


@pytest.mark.parametrize('cfg,input_shape', [
    (dict(type='ClassicVGG', depth=11, with_bn=True), (1, 3, 32, 32)),
    (dict(type='ClassicAlexNet'), (1, 3, 64, 64)),
    (dict(type='ClassicGoogLeNet'), (1, 3, 32, 32)),
], ids=['vgg', 'alexnet', 'googlenet'])
@pytest.mark.parametrize('act', ['Tanh', 'LeakyReLU'])
def test_act_cfg_replaces_every_activation(cfg, input_shape, act):
    model = MODELS.build(dict(cfg, act_cfg=dict(type=act))).eval()
    kinds = {type(m) for m in model.modules()
             if isinstance(m, (nn.ReLU, nn.Tanh, nn.LeakyReLU, nn.Sigmoid))}
    assert kinds == {getattr(nn, act)}
    outs = model(torch.randn(*input_shape))
    if act == 'Tanh':
        assert all(o.abs().max() <= 1 for o in outs)


def test_default_init_cfg_runs():
    for model in (ClassicVGG(depth=11, with_bn=True), ClassicGoogLeNet()):
        model.init_weights()
        bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
        assert all(torch.all(bn.weight == 1) and torch.all(bn.bias == 0) for bn in bns)
    # GoogLeNet: torchvision's truncated normal, std 0.01 cut at +-2.
    weight = model.conv3.conv.weight
    assert weight.abs().max() <= 2 and 0.009 < weight.std() < 0.011


def test_converter_fills_missing_bn_counters_of_old_files():
    torch.manual_seed(0)
    state_dict = torchvision.models.resnet18(weights=None).state_dict()
    old = {k: v for k, v in state_dict.items() if not k.endswith('num_batches_tracked')}
    converted, unmapped = convert_torchvision_state_dict(old, 'resnet18')
    assert unmapped == [] and 'fc.weight' not in converted
    assert converted['bn1.num_batches_tracked'] == 0
    build_ours('resnet18').load_state_dict(converted, strict=True)


def meta_state_dict(arch: str) -> dict:
    kwargs = dict(init_weights=False) if arch == 'googlenet' else {}
    with torch.device('meta'):
        return torchvision.models.get_model(arch, weights=None, **kwargs).state_dict()


def test_converter_refuses_other_arch():
    with pytest.raises(ArchMismatchError, match=r"arch 'vgg11'.*features\.3\.weight.*fit arch "
                       r"'vgg16'") as info:
        convert_torchvision_state_dict(meta_state_dict('vgg16'), 'vgg11')
    assert info.value.missing and info.value.fits == ['vgg16']
    with pytest.raises(ArchMismatchError, match=r"layer1\.0\.conv1\.weight expects "
                       r"\(64, 64, 3, 3\), got \(64, 64, 1, 1\).*fit arch 'resnet50'"):
        convert_torchvision_state_dict(meta_state_dict('resnet50'), 'resnet18')
    with pytest.raises(ArchMismatchError, match=r"'vgg16_bn'.*backbone keys missing"):
        convert_torchvision_state_dict(meta_state_dict('vgg16'), 'vgg16_bn')
    # resnet101 holds every resnet50 key: the extra blocks are reported as unmapped.
    converted, unmapped = convert_torchvision_state_dict(meta_state_dict('resnet101'), 'resnet50')
    assert 'layer3.6.conv1.weight' in unmapped and 'layer3.5.conv1.weight' in converted
    with pytest.raises(ValueError, match="unknown arch 'resnet17'"):
        convert_torchvision_state_dict({}, 'resnet17')
    with pytest.raises(ValueError, match="'meta' is a dict, not a tensor"):
        convert_torchvision_state_dict({'meta': {}}, 'resnet18')


def test_converter_cli(tmp_path):
    torch.manual_seed(0)
    reference = random_torchvision('googlenet')
    src, dst = tmp_path / 'googlenet.pth', tmp_path / 'googlenet_mmdet.pth'
    torch.save(reference.state_dict(), src)

    # Wrong arch: non-zero exit, the keys listed, nothing written.
    tool = REPO / 'tools' / 'model_converters' / 'torchvision2mmdet.py'
    result = subprocess.run([sys.executable, str(tool), str(src), str(dst), '--arch', 'resnet18'],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert result.returncode == 1, result.stderr
    assert "fit arch 'googlenet'" in result.stderr
    assert 'layer1.0.conv1.weight' in result.stderr and 'inception3a.branch1.conv.weight' \
        in result.stderr
    assert not dst.exists()

    # Right arch: the file loads through init_cfg Pretrained and reproduces torchvision.
    report = convert_torchvision_checkpoint(src, dst, 'googlenet')
    assert report.dropped and all(k.startswith(('fc.', 'aux1.', 'aux2.')) for k in report.dropped)
    ours = build_ours('googlenet', init_cfg=dict(type='Pretrained', checkpoint=str(dst)))
    ours.init_weights()
    ours.eval()
    x = torch.randn(1, 3, 32, 32)
    expected = reference_outputs(reference, reference_stage_modules('googlenet', reference), x)
    with torch.no_grad():
        for out, ref in zip(ours(x), expected):
            assert torch.equal(out, ref)


@pytest.mark.parametrize('module', [classic_vgg, classic_lenet5, classic_alexnet,
                                    classic_googlenet], ids=lambda m: m.__name__.split('.')[-1])
def test_docstring_examples(module):
    result = doctest.testmod(module, verbose=False)
    assert result.attempted > 0 and result.failed == 0
