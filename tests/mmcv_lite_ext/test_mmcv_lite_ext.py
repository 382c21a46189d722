"""mmcv's ops running on mmcv_lite_ext (the set-up's ``mmcv._ext``), against references no one
here wrote: the expected values of mmcv's own test suite, and torchvision's ops.

Everything goes through ``mmcv.ops``' public functions and layers, as mmdet calls them, so
mmcv's wrappers (in-place outputs, argument names, autograd) are exercised too.
"""
import subprocess
import sys

import mmcv
import mmcv._ext
import mmcv.ops
import numpy as np
import pytest
import torch
import torchvision
from mmdet.models.roi_heads import SingleRoIExtractor
from torch.testing import assert_close

import mmcv_lite_ext
from mmcv_lite_ext import install

# ----------------------------------------------------------------------------- data

# mmcv's tests/test_ops/test_nms.py: four boxes, NMS at IoU 0.3 and Soft-NMS (sigma 0.5,
# min_score 0.01) expected values.
MMCV_BOXES = torch.tensor([[6.0, 3.0, 8.0, 7.0], [3.0, 6.0, 9.0, 11.0],
                           [3.0, 7.0, 10.0, 12.0], [1.0, 4.0, 13.0, 7.0]])
MMCV_SCORES = torch.tensor([0.6, 0.9, 0.7, 0.2])
MMCV_SOFT_NMS = {
    'linear': ([[3., 6., 9., 11., 0.9], [6., 3., 8., 7., 0.6], [3., 7., 10., 12., 0.29024392],
                [1., 4., 13., 7., 0.2]], [1, 0, 2, 3]),
    'gaussian': ([[3., 6., 9., 11., 0.9], [6., 3., 8., 7., 0.59630775],
                  [3., 7., 10., 12., 0.35275510], [1., 4., 13., 7., 0.18650459]],
                 [1, 0, 2, 3]),
    'naive': ([[3., 6., 9., 11., 0.9], [6., 3., 8., 7., 0.6], [1., 4., 13., 7., 0.2]],
              [1, 0, 3]),
}
# mmcv's tests/test_ops/test_roi_align.py and test_roi_pool.py: (features, RoI) cases with
# 2x2 outputs (spatial scale 1, RoIAlign sampling ratio 2, aligned) and the input gradients of
# an all-ones upstream gradient.
ROI_CASES = [
    ([[[[1., 2.], [3., 4.]]]], [[0., 0., 0., 1., 1.]]),
    ([[[[1., 2.], [3., 4.]], [[4., 3.], [2., 1.]]]], [[0., 0., 0., 1., 1.]]),
    ([[[[1., 2., 5., 6.], [3., 4., 7., 8.], [9., 10., 13., 14.], [11., 12., 15., 16.]]]],
     [[0., 0., 0., 3., 3.]]),
]
MMCV_ROI_ALIGN = [
    ([[[[1.0, 1.25], [1.5, 1.75]]]], [[[[3.0625, 0.4375], [0.4375, 0.0625]]]]),
    ([[[[1.0, 1.25], [1.5, 1.75]], [[4.0, 3.75], [3.5, 3.25]]]],
     [[[[3.0625, 0.4375], [0.4375, 0.0625]], [[3.0625, 0.4375], [0.4375, 0.0625]]]]),
    ([[[[1.9375, 4.75], [7.5625, 10.375]]]],
     [[[[0.47265625, 0.42968750, 0.42968750, 0.04296875],
        [0.42968750, 0.39062500, 0.39062500, 0.03906250],
        [0.42968750, 0.39062500, 0.39062500, 0.03906250],
        [0.04296875, 0.03906250, 0.03906250, 0.00390625]]]]),
]
MMCV_ROI_POOL = [
    ([[[[1., 2.], [3., 4.]]]], [[[[1., 1.], [1., 1.]]]]),
    ([[[[1., 2.], [3., 4.]], [[4., 3.], [2., 1.]]]],
     [[[[1., 1.], [1., 1.]], [[1., 1.], [1., 1.]]]]),
    ([[[[4., 8.], [12., 16.]]]],
     [[[[0., 0., 0., 0.], [0., 1., 0., 1.], [0., 0., 0., 0.], [0., 1., 0., 1.]]]]),
]

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')


def random_boxes(num: int, seed: int, size: float = 100.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(num, 4) crowded boxes and distinct scores: no NMS result depends on a tie."""
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(num, 2, generator=g) * size
    wh = 1 + torch.rand(num, 2, generator=g) * size * 0.3
    return torch.cat([xy, xy + wh], 1), (torch.randperm(num, generator=g) + 1).float() / num


def roi_case(seed: int, num_images: int = 2, channels: int = 8, size: int = 20,
             num_rois: int = 40) -> tuple[torch.Tensor, torch.Tensor]:
    """Features at stride 4 (an 80 px image) and RoIs, many partly or wholly outside it."""
    g = torch.Generator().manual_seed(seed)
    feats = torch.rand(num_images, channels, size, size, generator=g)
    image = size * 4.0
    xy = torch.rand(num_rois, 2, generator=g) * image * 1.4 - 0.2 * image
    wh = torch.rand(num_rois, 2, generator=g) * image * 0.6
    batch = torch.randint(0, num_images, (num_rois, 1), generator=g).float()
    rois = torch.cat([batch, xy, xy + wh], 1)
    rois[0] = torch.tensor([0, -30., -30., -10., -10.])  # entirely outside: zeros
    rois[1] = torch.tensor([1, 70., 70., 100., 100.])  # past the far corner
    rois[2] = torch.tensor([0, 20., 20., 20., 20.])  # empty
    return feats, rois


def forward_and_input_grad(fn, feats, rois):
    feats = feats.detach().clone().requires_grad_()
    out = fn(feats, rois)
    # Upstream gradients of at most 0.1 keep the input gradients (sums over bins) near 1,
    # where float32 rounding stays well below the 1e-5 tolerance.
    weights = torch.linspace(-0.1, 0.1, out.numel()).view_as(out)
    (out * weights).sum().backward()
    return out.detach(), feats.grad


# ----------------------------------------------------------------------------- the module


def test_mmcv_finds_the_uncompiled_module():
    assert mmcv._ext.COMPILED is False
    assert mmcv._ext.nms is mmcv_lite_ext.nms
    assert install.problem() is None
    # Nothing compiled anywhere in mmcv: a set-up that built mmcv would leave extensions.
    package = install.shim_path().parent
    assert not [p for p in package.rglob('*') if p.suffix in ('.so', '.pyd')]


def test_mmdet_imports_on_its_own_from_any_folder(tmp_path):
    code = ('import mmdet.models, mmcv.ops; '
            'from mmcv.ops import get_compiler_version, get_compiling_cuda_version; '
            'print(get_compiler_version()); print(get_compiling_cuda_version())')
    out = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, capture_output=True,
                         text=True, check=True).stdout.splitlines()
    assert out[0].startswith('none: mmcv_lite_ext on torch ')
    assert out[1] == 'not available'


def test_other_ops_fail_when_called_and_name_the_op():
    feats = torch.zeros(1, 1, 4, 4)
    with pytest.raises(NotImplementedError,
                       match=r'mmcv\._ext\.deform_conv_forward needs a compiled mmcv'):
        mmcv.ops.DeformConv2d(1, 1, 3, padding=1)(feats, torch.zeros(1, 18, 4, 4))
    with pytest.raises(NotImplementedError, match=r"roi_align_forward with pool_mode='max'"):
        mmcv.ops.roi_align(feats, torch.tensor([[0., 0., 0., 2., 2.]]), 2, 1.0, 2, 'max')
    with pytest.raises(AttributeError):  # the import machinery's probes are not ops
        mmcv_lite_ext.__wrapped__


def test_install_writes_and_checks_the_module(tmp_path, monkeypatch, capsys):
    target = tmp_path / '_ext.py'
    monkeypatch.setattr(install, 'shim_path', lambda: target)
    assert install.problem() == f'{target} is missing'
    assert install.main(['--check']) == 1
    assert install.main([]) == 0
    assert install.problem() is None and install.main(['--check']) == 0
    target.write_text('from somewhere_else import *\n')
    assert 'is stale' in install.problem()
    assert install.main([]) == 0 and target.read_text() == install.SHIM
    assert 'wrote' in capsys.readouterr().out


def test_reinstalling_mmcv_lite_keeps_the_module():
    """pip removes what a wheel's RECORD lists; mmcv-lite's does not list mmcv/_ext.py."""
    from importlib.metadata import distribution
    files = {str(f) for f in distribution('mmcv-lite').files}
    assert 'mmcv/__init__.py' in files
    assert 'mmcv/_ext.py' not in files


# ----------------------------------------------------------------------------- hard NMS


def test_nms_gives_mmcvs_expected_values():
    dets, inds = mmcv.ops.nms(MMCV_BOXES, MMCV_SCORES, iou_threshold=0.3, offset=0)
    assert inds.tolist() == [1, 0, 3]
    assert_close(dets, torch.tensor([[3.0, 6.0, 9.0, 11.0, 0.9], [6.0, 3.0, 8.0, 7.0, 0.6],
                                     [1.0, 4.0, 13.0, 7.0, 0.2]]))
    dets, inds = mmcv.ops.nms(MMCV_BOXES.numpy(), MMCV_SCORES.numpy(), 0.3)
    assert isinstance(inds, np.ndarray) and inds.tolist() == [1, 0, 3]


@pytest.mark.parametrize('iou_threshold', [0.3, 0.5, 0.7])
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_nms_keeps_what_torchvision_keeps(iou_threshold, dtype):
    boxes, scores = random_boxes(400, int(iou_threshold * 10))
    boxes, scores = boxes.to(dtype), scores.to(dtype)
    _, keep = mmcv.ops.nms(boxes, scores, iou_threshold)
    assert torch.equal(keep, torchvision.ops.nms(boxes, scores, iou_threshold))
    assert 0 < len(keep) < len(boxes)


def test_nms_offset_one_counts_pixels():
    # offset=1: 10 x 10 and 10 x 5 pixels, IoU exactly 0.5 (suppressed only above 0.5);
    # offset=0: 9 x 9 and 9 x 4, IoU 36 / 81.
    boxes = torch.tensor([[0., 0., 9., 9.], [0., 0., 9., 4.]])
    scores = torch.tensor([0.9, 0.8])
    assert mmcv.ops.nms(boxes, scores, 0.5, offset=1)[1].tolist() == [0, 1]
    assert mmcv.ops.nms(boxes, scores, 0.49, offset=1)[1].tolist() == [0]
    assert mmcv.ops.nms(boxes, scores, 0.45, offset=0)[1].tolist() == [0, 1]
    assert mmcv.ops.nms(boxes, scores, 0.44, offset=0)[1].tolist() == [0]


def test_nms_score_filter_max_num_empty_and_half():
    boxes, scores = random_boxes(100, 3)
    _, keep = mmcv.ops.nms(boxes, scores, 0.5, score_threshold=0.4, max_num=5)
    reference = torchvision.ops.nms(boxes[scores > 0.4], scores[scores > 0.4], 0.5)
    assert torch.equal(keep, (scores > 0.4).nonzero().squeeze(1)[reference][:5])
    dets, keep = mmcv.ops.nms(torch.zeros(0, 4), torch.zeros(0), 0.5)
    assert dets.shape == (0, 5) and keep.shape == (0,) and keep.dtype == torch.long
    _, keep = mmcv.ops.nms(boxes.half(), scores.half(), 0.5)
    assert torch.equal(keep, torchvision.ops.nms(boxes.half().float(), scores.half().float(),
                                                 0.5))


# ----------------------------------------------------------------------------- Soft-NMS


@pytest.mark.parametrize('method', sorted(MMCV_SOFT_NMS))
def test_soft_nms_gives_mmcvs_expected_values(method):
    dets, inds = mmcv.ops.soft_nms(MMCV_BOXES, MMCV_SCORES, iou_threshold=0.3, sigma=0.5,
                                   min_score=0.01, method=method)
    expected_dets, expected_inds = MMCV_SOFT_NMS[method]
    assert inds.tolist() == expected_inds
    assert_close(dets, torch.tensor(expected_dets))


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_naive_soft_nms_is_hard_nms(seed):
    # Zeroing the scores of boxes at IoU >= t is hard NMS (torchvision drops IoU > t; random
    # boxes have no IoU exactly at t).
    boxes, scores = random_boxes(300, seed)
    dets, keep = mmcv.ops.soft_nms(boxes, scores, 0.5, min_score=1e-3, method='naive')
    assert torch.equal(keep, torchvision.ops.nms(boxes, scores, 0.5))
    assert_close(dets, torch.cat([boxes[keep], scores[keep, None]], 1))


def test_soft_nms_linear_rescoring_by_hand_and_dropping():
    # IoU 0.5 with the top box: linear weight 1 - 0.5; the far box keeps its score.
    boxes = torch.tensor([[0., 0., 10., 10.], [0., 0., 10., 5.], [50., 50., 60., 60.]])
    scores = torch.tensor([0.9, 0.8, 0.3])
    dets, keep = mmcv.ops.soft_nms(boxes, scores, 0.3, min_score=1e-3, method='linear')
    assert keep.tolist() == [0, 1, 2]
    assert_close(dets[:, 4], torch.tensor([0.9, 0.4, 0.3]))
    dets, keep = mmcv.ops.soft_nms(boxes, scores, 0.3, min_score=0.35, method='linear')
    assert keep.tolist() == [0, 1] and dets.shape == (2, 5)
    dets, keep = mmcv.ops.soft_nms(torch.zeros(0, 4), torch.zeros(0))
    assert dets.shape == (0, 5) and keep.shape == (0,)


def test_batched_nms_with_soft_nms_and_split_path_agree():
    # mmcv's own check: the one-pass and the per-class (split_thr) paths give the same result.
    boxes, scores = random_boxes(300, 4)
    idxs = torch.arange(len(boxes)) % 3
    for cfg in (dict(type='nms', iou_threshold=0.5), dict(type='soft_nms', iou_threshold=0.5)):
        dets, keep = mmcv.ops.batched_nms(boxes, scores, idxs, cfg)
        split_dets, split_keep = mmcv.ops.batched_nms(boxes, scores, idxs,
                                                      dict(cfg, split_thr=100))
        assert torch.equal(keep, split_keep) and torch.equal(dets, split_dets)
    per_class = torchvision.ops.batched_nms(boxes, scores, idxs, 0.5)
    _, keep = mmcv.ops.batched_nms(boxes, scores, idxs, dict(type='nms', iou_threshold=0.5))
    assert torch.equal(keep, per_class)


# ----------------------------------------------------------------------------- NMS matching


def test_nms_match_gives_mmcvs_expected_groups():
    dets = np.array([[49.1, 32.4, 51.0, 35.9, 0.9], [49.3, 32.9, 51.0, 35.3, 0.9],
                     [35.3, 11.5, 39.9, 14.5, 0.4], [35.2, 11.7, 39.7, 15.7, 0.3]],
                    dtype=np.float32)
    groups = mmcv.ops.nms_match(dets, 0.6)
    assert [g.tolist() for g in groups] == [[0, 1], [2, 3]]
    assert isinstance(groups[0], np.ndarray)
    tensor_groups = mmcv.ops.nms_match(torch.from_numpy(dets), 0.6)
    assert [g.tolist() for g in tensor_groups] == [[0, 1], [2, 3]]
    assert len(mmcv.ops.nms_match(np.zeros((0, 5)), 0.6)) == 0


def test_nms_match_groups_are_hard_nms_and_its_victims():
    boxes, scores = random_boxes(200, 5)
    groups = mmcv.ops.nms_match(torch.cat([boxes, scores[:, None]], 1), 0.5)
    heads = torch.stack([g[0] for g in groups])
    assert torch.equal(heads, torchvision.ops.nms(boxes, scores, 0.5))
    members = torch.cat(groups)
    assert sorted(members.tolist()) == list(range(len(boxes)))  # every box in one group
    for group in groups:
        ious = torchvision.ops.box_iou(boxes[group[:1]], boxes[group[1:]])
        assert bool((ious >= 0.5).all())
        assert bool((scores[group[1:]] <= scores[group[0]]).all())


# ----------------------------------------------------------------------------- RoIAlign


@pytest.mark.parametrize('case', range(len(ROI_CASES)))
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_roi_align_gives_mmcvs_expected_values(case, dtype):
    feats = torch.tensor(ROI_CASES[case][0], dtype=dtype, requires_grad=True)
    rois = torch.tensor(ROI_CASES[case][1], dtype=dtype)
    out = mmcv.ops.roi_align(feats, rois, (2, 2), 1.0, 2, 'avg', True)
    out.backward(torch.ones_like(out))
    expected_out, expected_grad = MMCV_ROI_ALIGN[case]
    assert_close(out.detach(), torch.tensor(expected_out, dtype=dtype), atol=1e-3, rtol=0)
    assert_close(feats.grad, torch.tensor(expected_grad, dtype=dtype), atol=1e-3, rtol=0)


@pytest.mark.parametrize('aligned', [True, False])
@pytest.mark.parametrize('sampling_ratio', [0, 1, 2, 4])
def test_roi_align_equals_torchvision(sampling_ratio, aligned):
    feats, rois = roi_case(sampling_ratio + 10 * aligned)
    ours = forward_and_input_grad(
        lambda f, r: mmcv.ops.roi_align(f, r, (7, 7), 0.25, sampling_ratio, 'avg', aligned),
        feats, rois)
    ref = forward_and_input_grad(
        lambda f, r: torchvision.ops.roi_align(f, r, (7, 7), 0.25, sampling_ratio, aligned),
        feats, rois)
    assert_close(ours[0], ref[0], rtol=0, atol=1e-5)
    assert_close(ours[1], ref[1], rtol=0, atol=1e-5)
    assert ours[0][0].abs().max() == 0  # the RoI outside the map
    assert ours[0][3:].abs().max() > 0


def test_roi_align_gradient_is_exact():
    feats, rois = roi_case(5, channels=2, size=8, num_rois=6)
    feats = feats.double().requires_grad_()
    for sampling_ratio in (0, 2):
        for aligned in (True, False):
            assert torch.autograd.gradcheck(
                lambda f: mmcv.ops.roi_align(f, rois.double(), 3, 0.5, sampling_ratio, 'avg',
                                             aligned), (feats,))


def test_roi_align_backward_with_and_without_the_forwards_graph():
    """The CPU forward keeps the gather's graph for the backward when the features need a
    gradient; a backward without it runs the gather again. Same gradient either way, and
    the graph goes with the call (no forward under no_grad keeps one)."""
    from mmcv_lite_ext import roi_align as ext
    feats, rois = roi_case(4)
    grad_out = torch.rand(len(rois), 8, 7, 7, generator=torch.Generator().manual_seed(0))
    for sampling_ratio in (0, 2):
        args = dict(aligned_height=7, aligned_width=7, spatial_scale=0.25,
                    sampling_ratio=sampling_ratio, pool_mode=1, aligned=True)
        grads = []
        for keep_graph in (True, False):
            tag = feats.new_zeros(0)
            ext.roi_align_forward(feats.clone().requires_grad_(keep_graph), rois,
                                  feats.new_zeros(len(rois), 8, 7, 7), tag, tag, **args)
            assert hasattr(tag, ext.GRAPH) == keep_graph
            grad = torch.zeros_like(feats)
            ext.roi_align_backward(grad_out, rois, tag, tag, grad, **args)
            assert not hasattr(tag, ext.GRAPH)  # released by the backward
            grads.append(grad)
        assert_close(grads[0], grads[1], rtol=0, atol=1e-6)
        assert grads[0].abs().sum() > 0


def test_roi_align_channels_last_and_reversed_rois():
    # Channels-last features pool as NCHW ones do (a compiled mmcv CPU kernel reads them
    # wrongly); RoIs with x2 < x1 are sampled as torchvision samples them.
    feats, rois = roi_case(3)
    rois = torch.cat([rois, torch.tensor([[0, 40., 40., 20., 20.], [1, 10., 30., 30., 12.]])])
    nhwc = feats.contiguous(memory_format=torch.channels_last)
    for sampling_ratio in (0, 2):
        expected = forward_and_input_grad(
            lambda f, r: torchvision.ops.roi_align(f, r, 7, 0.25, sampling_ratio, True),
            feats, rois)
        got = forward_and_input_grad(
            lambda f, r: mmcv.ops.roi_align(f, r, 7, 0.25, sampling_ratio, 'avg', True),
            nhwc, rois)
        assert_close(got[0], expected[0], rtol=0, atol=1e-5)
        assert_close(got[1], expected[1], rtol=0, atol=1e-5)
    assert mmcv.ops.roi_align(feats, torch.zeros(0, 5), 7, 0.25, 2).shape == (0, 8, 7, 7)


def test_mmdets_roi_extractor_pools_as_torchvisions_multiscale_roi_align():
    # mmdet's level mapping (scale < 112 px -> P2 ...) with its default finest_scale 56
    # matches torchvision's canonical 224 / level 4 only approximately, so compare level by
    # level: every RoI pooled from the level mmdet maps it to.
    feats = tuple(torch.rand(2, 8, s, s, generator=torch.Generator().manual_seed(s))
                  for s in (64, 32, 16, 8))  # a 256 px image
    _, rois = roi_case(6, size=64)
    # mmdet maps RoIs of scale < 112 px to P2, < 224 to P3, < 448 to P4, the rest to P5
    rois[:, 1:] *= torch.tensor([0.5, 1.0, 2.0, 4.0]).repeat(10)[:, None]
    strides = [4, 8, 16, 32]
    extractor = SingleRoIExtractor(dict(type='RoIAlign', output_size=7, sampling_ratio=2),
                                   out_channels=8, featmap_strides=strides)
    pooled = extractor(feats, rois)
    levels = extractor.map_roi_levels(rois, len(strides))
    assert len(set(levels.tolist())) == 4
    for level, stride in enumerate(strides):
        chosen = levels == level
        expected = torchvision.ops.roi_align(feats[level], rois[chosen], 7, 1 / stride, 2,
                                             True)
        assert_close(pooled[chosen], expected, rtol=0, atol=1e-5)


# ----------------------------------------------------------------------------- RoIPool


@pytest.mark.parametrize('case', range(len(ROI_CASES)))
def test_roi_pool_gives_mmcvs_expected_values(case):
    feats = torch.tensor(ROI_CASES[case][0], requires_grad=True)
    out = mmcv.ops.roi_pool(feats, torch.tensor(ROI_CASES[case][1]), (2, 2), 1.0)
    out.backward(torch.ones_like(out))
    expected_out, expected_grad = MMCV_ROI_POOL[case]
    assert_close(out.detach(), torch.tensor(expected_out))
    assert_close(feats.grad, torch.tensor(expected_grad))


def test_roi_pool_equals_torchvision():
    feats, rois = roi_case(7)
    ours = forward_and_input_grad(lambda f, r: mmcv.ops.RoIPool(7, 0.25)(f, r), feats, rois)
    ref = forward_and_input_grad(lambda f, r: torchvision.ops.roi_pool(f, r, 7, 0.25),
                                 feats, rois)
    assert_close(ours[0], ref[0], rtol=0, atol=0)
    assert_close(ours[1], ref[1], rtol=0, atol=1e-6)


# ----------------------------------------------------------------------------- CUDA


@CUDA
def test_ops_on_cuda_equal_the_cpu():
    boxes, scores = random_boxes(500, 9)
    assert torch.equal(mmcv.ops.nms(boxes.cuda(), scores.cuda(), 0.5)[1].cpu(),
                       mmcv.ops.nms(boxes, scores, 0.5)[1])
    dets, keep = mmcv.ops.soft_nms(boxes.cuda(), scores.cuda(), 0.3)
    ref_dets, ref_keep = mmcv.ops.soft_nms(boxes, scores, 0.3)
    assert dets.is_cuda and torch.equal(keep.cpu(), ref_keep)
    feats, rois = roi_case(2)
    for sampling_ratio in (0, 2):
        for aligned in (True, False):
            op = lambda f, r: mmcv.ops.roi_align(f, r, 7, 0.25, sampling_ratio, 'avg', aligned)
            cpu = forward_and_input_grad(op, feats, rois)
            cuda = forward_and_input_grad(op, feats.cuda(), rois.cuda())
            assert_close(cuda[0].cpu(), cpu[0], rtol=0, atol=1e-5)
            assert_close(cuda[1].cpu(), cpu[1], rtol=0, atol=1e-5)
    op = lambda f, r: mmcv.ops.roi_pool(f, r, 7, 0.25)
    cpu, cuda = forward_and_input_grad(op, feats, rois), forward_and_input_grad(
        op, feats.cuda(), rois.cuda())
    assert_close(cuda[0].cpu(), cpu[0])
    assert_close(cuda[1].cpu(), cpu[1], atol=1e-6, rtol=0)
    with torch.autocast('cuda', dtype=torch.float16):
        half = mmcv.ops.roi_align(feats.cuda().half(), rois.cuda(), 7, 0.25, 2, 'avg', True)
    assert half.dtype == torch.float16
    assert_close(half.float().cpu(), mmcv.ops.roi_align(feats, rois, 7, 0.25, 2), atol=2e-3,
                 rtol=0)
