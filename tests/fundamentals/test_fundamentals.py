"""The course's fundamentals: perceptron rule, Sign activation, back-propagation, LeNet-5."""
import runpy
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from mmcv.cnn import ConvModule, build_activation_layer
from mmdet.registry import MODELS as MMDET_MODELS
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import DefaultScope
from torch.autograd.gradcheck import GradcheckError
from torch.func import functional_call

from custom.fundamentals import (
    DigitClassifier,
    FeedForwardNet,
    PerceptronNotConvergedError,
    TrainingHistory,
    build_optimizer,
    format_accuracy_table,
    load_digit_scans,
    logic_gate_samples,
    predict,
    run_digit_experiment,
    sgn,
    train_classifier,
    train_perceptron,
    with_threshold_input,
)
from custom.models.backbones import ClassicLeNet5
from custom.models.layers import Sign

REPO_ROOT = Path(__file__).resolve().parents[2]
COURSE_ACTS = ('ReLU', 'Sigmoid', 'Tanh', 'Sign')

# ------------------------------------------------------------------------------------------
# The course's worked example.
#
# Convention fixed by the course's first step: W^T(0) X1 = (0.5, 1, -1, 0) . (-1, 1, -2, 0)
# = -0.5 + 1 + 2 + 0 = 2.5, a plain dot product; the threshold 0.5 meets the constant input -1.
# W(k+1) = W(k) + 0.1 [d - sgn(W(k)^T X)] X; a miss with d = -1 adds -0.2 X, with d = +1 +0.2 X.
#
# Pass 1 (the course's three steps)
#   k=0 X1: W.X1 = 2.5 -> o = 1, d = -1, miss: W(1) = W(0) - 0.2 X1
#           = (0.5 + 0.2, 1 - 0.2, -1 + 0.4, 0) = (0.7, 0.8, -0.6, 0)
#   k=1 X2: W.X2 = -0.7 + 0 - 0.9 + 0 = -1.6 -> o = -1 = d: W(2) = (0.7, 0.8, -0.6, 0)
#   k=2 X3: W.X3 = -0.7 - 0.8 - 0.6 + 0 = -2.1 -> o = -1, d = 1, miss: W(3) = W(2) + 0.2 X3
#           = (0.7 - 0.2, 0.8 - 0.2, -0.6 + 0.2, 0 + 0.1) = (0.5, 0.6, -0.4, 0.1)
# Pass 2
#   k=3 X1: W.X1 = -0.5 + 0.6 + 0.8 + 0 = 0.9 -> o = 1, d = -1, miss: W(4) = W(3) - 0.2 X1
#           = (0.7, 0.4, 0.0, 0.1)
#   k=4 X2: W.X2 = -0.7 + 0 + 0 - 0.05 = -0.75 -> o = -1 = d: W(5) = (0.7, 0.4, 0.0, 0.1)
#   k=5 X3: W.X3 = -0.7 - 0.4 + 0 + 0.05 = -1.05 -> o = -1, d = 1, miss: W(6) = W(5) + 0.2 X3
#           = (0.5, 0.2, 0.2, 0.2)
# Pass 3
#   k=6 X1: W.X1 = -0.5 + 0.2 - 0.4 + 0 = -0.7 -> o = -1 = d: W(7) = W(6)
#   k=7 X2: W.X2 = -0.5 + 0 + 0.3 - 0.1 = -0.3 -> o = -1 = d: W(8) = W(6)
#   k=8 X3: W.X3 = -0.5 - 0.2 + 0.2 + 0.1 = -0.4 -> o = -1, d = 1, miss: W(9) = W(8) + 0.2 X3
#           = (0.3, 0.0, 0.4, 0.3)
# Pass 4
#   k=9  X1: W.X1 = -0.3 + 0 - 0.8 + 0 = -1.1 -> o = -1 = d: W(10) = W(9)
#   k=10 X2: W.X2 = -0.3 + 0 + 0.6 - 0.15 = 0.15 -> o = 1, d = -1, miss: W(11) = W(10) - 0.2 X2
#            = (0.3 + 0.2, 0, 0.4 - 0.3, 0.3 + 0.1) = (0.5, 0.0, 0.1, 0.4)
#   k=11 X3: W.X3 = -0.5 - 0 + 0.1 + 0.2 = -0.2 -> o = -1, d = 1, miss: W(12) = W(11) + 0.2 X3
#            = (0.3, -0.2, 0.3, 0.5)
# Pass 5 (no error: d^p - o^p = 0 for p = 1, 2, 3, the course's stopping rule)
#   k=12 X1: W.X1 = -0.3 - 0.2 - 0.6 + 0 = -1.1 -> -1 = d
#   k=13 X2: W.X2 = -0.3 + 0 + 0.45 - 0.25 = -0.1 -> -1 = d
#   k=14 X3: W.X3 = -0.3 + 0.2 + 0.3 + 0.25 = 0.45 -> 1 = d
# => final W = W(15) = (0.3, -0.2, 0.3, 0.5) after 5 passes (errors 2, 2, 1, 2, 0), 16 entries
#    W(0) .. W(15) in the history. The smallest |W.X| on the way is 0.1, far from sgn's 0.
# ------------------------------------------------------------------------------------------
COURSE_W0 = ('1/2', '1', '-1', '0')
COURSE_X = (('-1', '1', '-2', '0'), ('-1', '0', '3/2', '-1/2'), ('-1', '-1', '1', '1/2'))
COURSE_D = (-1, -1, 1)
COURSE_STEPS = {1: ('7/10', '4/5', '-3/5', '0'), 2: ('7/10', '4/5', '-3/5', '0'),
                3: ('1/2', '3/5', '-2/5', '1/10'), 4: ('7/10', '2/5', '0', '1/10'),
                6: ('1/2', '1/5', '1/5', '1/5'), 9: ('3/10', '0', '2/5', '3/10'),
                11: ('1/2', '0', '1/10', '2/5'), 12: ('3/10', '-1/5', '3/10', '1/2')}
COURSE_FINAL = ('3/10', '-1/5', '3/10', '1/2')


def exact(values):
    return [Fraction(v) for v in values]


def test_course_first_output_is_2_5():
    assert np.dot(exact(COURSE_W0), exact(COURSE_X[0])) == Fraction(5, 2)


def test_course_worked_example_exact():
    result = train_perceptron([exact(x) for x in COURSE_X], COURSE_D, exact(COURSE_W0),
                              eta=Fraction(1, 10))
    assert len(result.history) == 16
    assert list(result.history[0]) == exact(COURSE_W0)
    for k, expected in COURSE_STEPS.items():
        assert list(result.history[k]) == exact(expected), f'W({k})'
    assert list(result.weights) == exact(COURSE_FINAL)
    assert result.epochs == 5
    assert result.errors_per_epoch == [2, 2, 1, 2, 0]
    assert predict(result.weights, [exact(x) for x in COURSE_X]).tolist() == list(COURSE_D)


def test_course_worked_example_float():
    to_float = lambda values: [float(Fraction(v)) for v in values]
    result = train_perceptron([to_float(x) for x in COURSE_X], COURSE_D, to_float(COURSE_W0),
                              eta=0.1)
    for k, expected in COURSE_STEPS.items():
        np.testing.assert_allclose(result.history[k], to_float(expected), rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.weights, to_float(COURSE_FINAL), rtol=0, atol=1e-12)
    assert result.epochs == 5


def test_sgn_of_zero_is_zero_in_the_rule():
    # W(0) = 0 gives W.X = 0, so o = sgn(0) = 0 and the update is eta * (d - 0) * X = X.
    # sgn(0) = +1 would make no update; sgn(0) = -1 would add 2X.
    assert [sgn(-3), sgn(0), sgn(0.0), sgn(2)] == [-1, 0, 0, 1]
    result = train_perceptron([[-1, 1]], [1], [0, 0], eta=1)
    np.testing.assert_array_equal(result.history[1], [-1, 1])
    assert result.epochs == 2


@pytest.mark.parametrize('gate,targets', [('AND', [-1, -1, -1, 1]), ('OR', [-1, 1, 1, 1]),
                                          ('NOT', [1, -1])])
def test_logic_gates_are_learned(gate, targets):
    samples, desired = logic_gate_samples(gate)
    assert desired.tolist() == targets
    assert np.all(samples[:, 0] == -1)
    result = train_perceptron(samples, desired, eta=0.1)
    assert predict(result.weights, samples).tolist() == targets
    assert result.errors_per_epoch[-1] == 0


def test_logic_gate_inputs():
    samples, _ = logic_gate_samples('and')
    assert samples.tolist() == [[-1, -1, -1], [-1, -1, 1], [-1, 1, -1], [-1, 1, 1]]
    with pytest.raises(ValueError, match="unknown gate 'XOR'"):
        logic_gate_samples('XOR')


def test_xor_is_not_separable():
    samples = with_threshold_input([[-1, -1], [-1, 1], [1, -1], [1, 1]])
    with pytest.raises(PerceptronNotConvergedError, match='max_epochs=20.*linearly separable'):
        train_perceptron(samples, [-1, 1, 1, -1], max_epochs=20)


def test_perceptron_rejects_bad_input():
    samples = with_threshold_input([[0.0], [1.0]])
    with pytest.raises(ValueError, match=r'must be -1 or \+1'):
        train_perceptron(samples, [0, 1])
    with pytest.raises(ValueError, match='first component of every input must be -1'):
        train_perceptron([[1.0, 0.0], [-1.0, 1.0]], [-1, 1])
    with pytest.raises(ValueError, match='weights have 3'):
        train_perceptron(samples, [-1, 1], initial_weights=[0, 0, 0])
    with pytest.raises(ValueError, match='eta must be > 0'):
        train_perceptron(samples, [-1, 1], eta=0)
    with pytest.raises(ValueError, match=r'expected shape \(2,\)'):
        train_perceptron(samples, [-1, 1, 1])


# --- Sign activation ------------------------------------------------------------------------

def test_sign_is_registered_under_a_free_name():
    assert ROOT_MODELS.get('Sign') is Sign
    assert 'Sign' not in MMDET_MODELS.module_dict  # only ours, in the root registry
    assert isinstance(build_activation_layer(dict(type='Sign')), Sign)
    with DefaultScope.overwrite_default_scope('mmdet'):
        assert isinstance(MMDET_MODELS.build(dict(type='Sign')), Sign)


def test_sign_forward_is_exact_sgn():
    layer = build_activation_layer(dict(type='Sign'))
    x = torch.tensor([-2.5, -1.0, -1e-30, -0.0, 0.0, 1e-30, 0.5, 3.0], dtype=torch.float64)
    out = layer(x)
    assert out.dtype == torch.float64
    assert out.tolist() == [-1, -1, -1, 0, 0, 1, 1, 1]
    with pytest.raises(TypeError, match='floating-point'):
        layer(torch.tensor([1, -1]))


def test_sign_straight_through_gradient():
    x = torch.tensor([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0], requires_grad=True)
    upstream = torch.arange(1.0, 8.0)
    Sign()(x).backward(upstream)
    # hardtanh's gradient: passes where |x| <= 1, zero where |x| > 1.
    assert x.grad.tolist() == [0.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.0]


def test_conv_module_can_build_sign():
    # ConvModule adds inplace=True to every activation not on its own list.
    module = ConvModule(1, 2, 3, act_cfg=dict(type='Sign'))
    assert isinstance(module.activate, Sign)
    out = module(torch.randn(1, 1, 5, 5))
    assert set(out.unique().tolist()) <= {-1.0, 0.0, 1.0}


@pytest.mark.parametrize('act', COURSE_ACTS)
def test_lenet5_accepts_each_activation(act):
    backbone = ClassicLeNet5(act_cfg=dict(type=act), out_indices=(2,))
    (features,) = backbone(torch.randn(2, 1, 32, 32))
    assert features.shape == (2, 120, 1, 1)
    assert type(backbone.act5).__name__ == act
    if act == 'Sign':
        assert set(features.unique().tolist()) <= {-1.0, 0.0, 1.0}


# --- back-propagation (credit assignment) -----------------------------------------------------

def mlp_and_inputs(act: str, seed: int = 0):
    torch.manual_seed(seed)
    net = FeedForwardNet(3, (5, 4), 2, act_cfg=dict(type=act)).double()
    names = [name for name, _ in net.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in net.parameters()]
    x = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)

    def forward(inputs, *weights):
        return functional_call(net, dict(zip(names, weights)), (inputs,))

    return forward, (x, *params)


@pytest.mark.parametrize('act', ('ReLU', 'Sigmoid', 'Tanh'))
def test_backprop_matches_finite_differences(act):
    forward, inputs = mlp_and_inputs(act)
    # gradients w.r.t. the input and every weight and bias of every layer
    assert torch.autograd.gradcheck(forward, inputs, eps=1e-6, atol=1e-7, rtol=1e-5)


def test_gradcheck_rejects_the_straight_through_surrogate():
    # Sign's backward is a surrogate, not its derivative; gradcheck must notice.
    forward, inputs = mlp_and_inputs('Sign')
    with pytest.raises(GradcheckError):
        torch.autograd.gradcheck(forward, inputs, eps=1e-6, atol=1e-7, rtol=1e-5)


def test_feed_forward_net_layout():
    net = FeedForwardNet(3, (5,), 2, act_cfg=dict(type='Tanh'))
    assert [type(m).__name__ for m in net] == ['Linear', 'Tanh', 'Linear']
    with pytest.raises(ValueError, match='positive ints'):
        FeedForwardNet(3, (0,), 2)


# --- LeNet-5 on the digit scans ---------------------------------------------------------------

@pytest.fixture
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope='module')
def digits():
    return load_digit_scans(seed=0)


def test_digit_split(digits):
    assert digits.train_images.shape == (1437, 1, 32, 32)
    assert digits.test_images.shape == (360, 1, 32, 32)
    # stratified: every digit has 35 to 37 of the 360 held-out scans
    counts = torch.bincount(digits.test_labels, minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37
    assert abs(digits.train_images.mean().item()) < 1e-5
    assert abs(digits.train_images.std().item() - 1) < 1e-5
    again = load_digit_scans(seed=0)
    assert torch.equal(again.test_labels, digits.test_labels)
    assert not torch.equal(load_digit_scans(seed=1).test_labels, digits.test_labels)
    with pytest.raises(ValueError, match='test_fraction must be in'):
        load_digit_scans(test_fraction=1.0)


def test_lenet5_classifier_has_61706_parameters():
    model = DigitClassifier()
    assert sum(p.numel() for p in model.parameters()) == 61_706
    assert model(torch.zeros(3, 1, 32, 32)).shape == (3, 10)


def test_lenet5_relu_reaches_95_percent(digits, one_thread):
    history = run_digit_experiment(dict(type='ReLU'), epochs=6, seed=0, lr=3e-3, split=digits)
    assert len(history.test_accuracy) == 6
    assert history.final_accuracy >= 0.95, history.test_accuracy


def test_lenet5_sign_trains_above_chance(digits, one_thread):
    history = run_digit_experiment(dict(type='Sign'), epochs=3, seed=0, lr=3e-3, split=digits)
    assert history.final_accuracy > 0.5, history.test_accuracy  # chance is 0.1


def test_training_is_deterministic(digits, one_thread):
    runs = [run_digit_experiment(dict(type='Tanh'), epochs=1, seed=3, split=digits)
            for _ in range(2)]
    assert runs[0] == runs[1]
    assert runs[0].train_loss[0] > 0


def test_training_rejects_bad_arguments(digits):
    model = DigitClassifier()
    with pytest.raises(ValueError, match="unknown optimizer 'RMSprop'"):
        build_optimizer(model, 'RMSprop', 0.1)
    with pytest.raises(ValueError, match='epochs must be an int >= 1'):
        train_classifier(model, digits, 0, build_optimizer(model, 'SGD', 0.1))
    with pytest.raises(ValueError, match='no epoch has been recorded'):
        TrainingHistory().final_accuracy


def test_accuracy_table_format():
    table = format_accuracy_table({'ReLU': TrainingHistory([0.5, 0.25], [0.9, 0.975]),
                                   'Sign': TrainingHistory([1.0, 0.5], [0.8, 0.7])})
    assert table.splitlines() == [
        '| Activation | Epochs | Held-out accuracy (last epoch) | Best epoch (accuracy) '
        '| First epoch >= 95% | Final train loss |',
        '|---|---:|---:|---:|---:|---:|',
        '| ReLU | 2 | 97.5% | 2 (97.5%) | 2 | 0.250 |',
        '| Sign | 2 | 70.0% | 1 (80.0%) | never | 0.500 |',
    ]


def load_cli():
    return runpy.run_path(str(REPO_ROOT / 'tools/misc/train_classifier.py'))['main']


def test_train_classifier_cli(capsys, one_thread):
    assert load_cli()(['--act', 'Sign', '--epochs', '1']) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith('epoch   1  train loss ')
    assert out[-1].startswith('final held-out accuracy (Sign, 1 epochs): ')


def test_train_classifier_cli_errors(capsys):
    main = load_cli()
    assert main(['--act', 'NoSuchAct', '--epochs', '1']) == 1
    err = capsys.readouterr().err
    assert err.startswith('error: unknown module type: NoSuchAct is not in the')
    with pytest.raises(SystemExit):
        main(['--epochs', '0'])
    assert '--epochs must be >= 1, got 0' in capsys.readouterr().err


def test_backbone_init_cfg_is_applied():
    init = dict(type='Constant', layer='Conv2d', val=0.25, bias=0.0)
    model = DigitClassifier(backbone=dict(type='ClassicLeNet5', init_cfg=init))
    assert torch.all(model.backbone.c1.weight == 0.25)
    assert torch.all(model.backbone.c5.bias == 0)


# ----------------------------------------------------------------------------- NMS


@pytest.mark.parametrize('seed', [0, 1, 2])
@pytest.mark.parametrize('iou_threshold', [0.3, 0.5, 0.7])
def test_course_nms_keeps_what_torchvision_keeps(seed, iou_threshold):
    import torchvision

    from custom.fundamentals import greedy_nms
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(300, 2, generator=g) * 100
    boxes = torch.cat([xy, xy + 1 + torch.rand(300, 2, generator=g) * 30], 1)
    scores = torch.rand(300, generator=g)
    keep = greedy_nms(boxes, scores, iou_threshold)
    assert torch.equal(keep, torchvision.ops.nms(boxes, scores, iou_threshold))
    assert 0 < len(keep) < len(boxes)


def test_course_nms_by_hand():
    from custom.fundamentals import greedy_nms
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.], [20., 20., 30., 30.],
                          [0., 0., 10., 5.]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    # IoU(0, 1) = 81 / 119 > 0.5: dropped; IoU(0, 3) = 0.5 exactly: kept (only above drops)
    assert greedy_nms(boxes, scores, 0.5).tolist() == [0, 2, 3]
    assert greedy_nms(boxes[:0], scores[:0], 0.5).tolist() == []
