"""custom.ops against the references: mmcv.ops and torchvision.ops on CPU.

Every implementation in the ops' kernel tables is checked, not only the one the dispatch
table picks for the CPU, since the CUDA choice is checked on a GPU only.
"""
import mmcv.ops
import numpy as np
import pytest
import torch
import torchvision
from mmdet.models.roi_heads import SingleRoIExtractor
from torch.testing import assert_close

from custom import ops
from custom.models.roi_heads import PortableSingleRoIExtractor
from custom.ops.nms import NMS_KERNELS, SOFT_NMS_KERNELS, SOFT_NMS_METHODS
from custom.ops.roi_align import ROI_ALIGN_KERNELS, roi_align_gather

# ----------------------------------------------------------------------------- data


def random_boxes(num: int, seed: int, size: float = 100.0,
                 ambiguous_ties: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(num + extras, 4) crowded boxes and their scores, with exact duplicate boxes, pairs
    whose IoU is exactly 0.5 and a block of tied scores.

    Hard NMS keeps different boxes of overlapping equal-score boxes depending on the sort
    (mmcv's is unstable, torchvision's stable), so unless ``ambiguous_ties`` the tied boxes
    lie apart and duplicates score lower. Soft-NMS has no such freedom.
    """
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(num, 2, generator=g) * size
    wh = 1 + torch.rand(num, 2, generator=g) * size * 0.3
    boxes = torch.cat([xy, xy + wh], 1)
    scores = torch.rand(num, generator=g)
    duplicate_scores = scores[::7] if ambiguous_ties else scores[::7] * 0.9
    boxes = torch.cat([boxes, boxes[::7]])
    scores = torch.cat([scores, duplicate_scores])
    # IoU exactly 0.5: half of a 10 x 10 box (all values exact in float32)
    half = torch.tensor([[200., 200., 210., 210.], [200., 200., 210., 205.]])
    # tied scores: on the crowd, or on boxes 20 px apart
    tied = torch.arange(20.)[:, None] * 20 + torch.tensor([[300., 300., 310., 310.]])
    boxes = torch.cat([boxes, half, tied])
    scores = torch.cat([scores, torch.tensor([0.9, 0.8]), torch.full((20,), 0.5)])
    if ambiguous_ties:
        scores[5:25] = 0.5
    return boxes, scores


def as_set(keep: torch.Tensor) -> list[int]:
    return sorted(keep.tolist())


# ----------------------------------------------------------------------------- dispatch


def test_every_backend_in_the_dispatch_table_exists():
    tables = {'nms': NMS_KERNELS, 'soft_nms': SOFT_NMS_KERNELS, 'roi_align': ROI_ALIGN_KERNELS,
              'roi_align_adaptive': ROI_ALIGN_KERNELS, 'roi_align_max': ROI_ALIGN_KERNELS}
    assert set(ops.OP_BACKENDS) == set(tables)
    for op, per_device in ops.OP_BACKENDS.items():
        assert {'cpu', 'cuda'} <= set(per_device)
        for backend in per_device.values():
            assert backend in tables[op], (op, backend)
    # no mmcv kernel for CUDA tensors except where only mmcv has the op
    assert ops.backend_for('nms', 'cuda') == 'torchvision'
    assert ops.backend_for('soft_nms', 'cuda') == 'torch'
    assert ops.backend_for('roi_align', 'cuda:0') == 'torchvision'
    assert ops.backend_for('roi_align', 'mps') == ops.OP_BACKENDS['roi_align']['cuda']


def test_unknown_op_is_a_clear_error():
    with pytest.raises(KeyError, match="unknown op 'roi_pool'"):
        ops.backend_for('roi_pool', 'cpu')


# ----------------------------------------------------------------------------- hard NMS


@pytest.mark.parametrize('seed', [0, 1])
@pytest.mark.parametrize('iou_threshold', [0.3, 0.5, 0.7])
@pytest.mark.parametrize('kernel', sorted(NMS_KERNELS))
def test_nms_keeps_what_mmcv_and_torchvision_keep(kernel, iou_threshold, seed):
    boxes, scores = random_boxes(300, seed)
    keep = NMS_KERNELS[kernel](boxes, scores, iou_threshold, 0)
    mmcv_keep = mmcv.ops.nms(boxes, scores, iou_threshold)[1]
    tv_keep = torchvision.ops.nms(boxes, scores, iou_threshold)
    assert as_set(keep) == as_set(mmcv_keep) == as_set(tv_keep)
    assert 0 < len(keep) < len(boxes)
    # kept in descending score order
    assert torch.all(scores[keep][:-1] >= scores[keep][1:])


def test_nms_iou_exactly_at_threshold_is_not_suppressed():
    boxes = torch.tensor([[0., 0., 10., 10.], [0., 0., 10., 5.]])
    scores = torch.tensor([0.9, 0.8])
    for kernel in NMS_KERNELS.values():
        assert kernel(boxes, scores, 0.5, 0).tolist() == [0, 1]
        assert kernel(boxes, scores, 0.49, 0).tolist() == [0]


@pytest.mark.parametrize('kernel', sorted(NMS_KERNELS))
def test_nms_public_api_matches_mmcv(kernel, monkeypatch):
    monkeypatch.setitem(ops.OP_BACKENDS['nms'], 'cpu', kernel)
    boxes, scores = random_boxes(200, 3)
    for kwargs in (dict(), dict(score_threshold=0.4), dict(max_num=10), dict(offset=1),
                   dict(score_threshold=0.3, max_num=5)):
        dets, keep = ops.nms(boxes, scores, 0.5, **kwargs)
        ref_dets, ref_keep = mmcv.ops.nms(boxes, scores, 0.5, **kwargs)
        assert as_set(keep) == as_set(ref_keep), kwargs
        assert_close(dets, torch.cat([boxes[keep], scores[keep, None]], 1))
        assert dets.shape == ref_dets.shape
    dets, keep = ops.nms(boxes.numpy(), scores.numpy(), 0.5)
    assert isinstance(dets, np.ndarray) and isinstance(keep, np.ndarray)
    assert sorted(keep.tolist()) == as_set(mmcv.ops.nms(boxes, scores, 0.5)[1])


@pytest.mark.parametrize('kernel', sorted(NMS_KERNELS))
def test_nms_empty_input_gives_empty_output(kernel, monkeypatch):
    monkeypatch.setitem(ops.OP_BACKENDS['nms'], 'cpu', kernel)
    dets, keep = ops.nms(torch.zeros(0, 4), torch.zeros(0), 0.5)
    assert dets.shape == (0, 5) and dets.dtype == torch.float32
    assert keep.shape == (0,) and keep.dtype == torch.long
    dets, keep = ops.nms(torch.rand(3, 4), torch.full((3,), 0.1), 0.5, score_threshold=0.5)
    assert dets.shape == (0, 5) and keep.shape == (0,) and keep.dtype == torch.long


def test_nms_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r'nms: boxes must have shape \(N, 4\)'):
        ops.nms(torch.zeros(3, 5), torch.zeros(3), 0.5)
    with pytest.raises(ValueError, match=r'nms: scores must have shape \(N,\)'):
        ops.nms(torch.zeros(3, 4), torch.zeros(2), 0.5)
    with pytest.raises(ValueError, match='offset must be 0 or 1'):
        ops.nms(torch.zeros(3, 4), torch.zeros(3), 0.5, offset=2)


# ----------------------------------------------------------------------------- Soft-NMS


@pytest.mark.parametrize('method', ['linear', 'gaussian', 'naive'])
@pytest.mark.parametrize('seed', [0, 1])
def test_torch_soft_nms_equals_mmcv(method, seed):
    boxes, scores = random_boxes(150, seed, ambiguous_ties=True)
    for iou_threshold, sigma, min_score in ((0.3, 0.5, 1e-3), (0.5, 0.1, 0.05)):
        args = (iou_threshold, sigma, min_score)
        dets, keep = SOFT_NMS_KERNELS['torch'](boxes, scores, *args,
                                               SOFT_NMS_METHODS[method], 0)
        ref_dets, ref_keep = mmcv.ops.soft_nms(boxes, scores, *args, method=method)
        # same boxes in the same order (ties included), same rescored scores
        assert torch.equal(keep, ref_keep)
        assert_close(dets, ref_dets, rtol=1e-6, atol=1e-7)
        if min_score == 0.05:
            assert len(keep) < len(boxes)  # boxes rescored below min_score are dropped


def test_soft_nms_public_api_matches_mmcv_on_every_kernel(monkeypatch):
    boxes, scores = random_boxes(80, 5, ambiguous_ties=True)
    ref_dets, ref_keep = mmcv.ops.soft_nms(boxes, scores, 0.3, method='linear', offset=1)
    for kernel in SOFT_NMS_KERNELS:
        monkeypatch.setitem(ops.OP_BACKENDS['soft_nms'], 'cpu', kernel)
        dets, keep = ops.soft_nms(boxes, scores, 0.3, method='linear', offset=1)
        assert torch.equal(keep, ref_keep), kernel
        assert_close(dets, ref_dets, rtol=1e-6, atol=1e-7)
        dets, keep = ops.soft_nms(torch.zeros(0, 4), torch.zeros(0))
        assert dets.shape == (0, 5) and dets.dtype == torch.float32
        assert keep.shape == (0,) and keep.dtype == torch.long


def test_soft_nms_linear_rescoring_by_hand():
    # IoU 0.5 with the top box: linear weight 1 - 0.5; the far box keeps its score.
    boxes = torch.tensor([[0., 0., 10., 10.], [0., 0., 10., 5.], [50., 50., 60., 60.]])
    scores = torch.tensor([0.9, 0.8, 0.3])
    for kernel in SOFT_NMS_KERNELS.values():
        dets, keep = kernel(boxes, scores, 0.3, 0.5, 1e-3, 1, 0)
        assert keep.tolist() == [0, 1, 2]
        assert_close(dets[:, 4], torch.tensor([0.9, 0.4, 0.3]))


def test_soft_nms_rejects_unknown_method():
    with pytest.raises(ValueError, match="method must be one of .* got 'hard'"):
        ops.soft_nms(torch.zeros(1, 4), torch.zeros(1), method='hard')


# ----------------------------------------------------------------------------- batched NMS


BATCHED_CFGS = [
    dict(type='nms', iou_threshold=0.5),
    dict(type='nms', iou_threshold=0.5, class_agnostic=True),
    dict(type='soft_nms', iou_threshold=0.3, min_score=0.05),
    dict(type='nms', iou_threshold=0.5, split_thr=50, max_num=40),
    dict(type='soft_nms', iou_threshold=0.5, split_thr=50),
]


@pytest.mark.parametrize('nms_cfg', BATCHED_CFGS + [None])
def test_batched_nms_equals_mmcv(nms_cfg):
    boxes, scores = random_boxes(200, 7)
    idxs = torch.randint(0, 4, (len(boxes),), generator=torch.Generator().manual_seed(0))
    dets, keep = ops.batched_nms(boxes, scores, idxs, nms_cfg)
    ref_dets, ref_keep = mmcv.ops.batched_nms(boxes, scores, idxs, nms_cfg)
    if nms_cfg is None or nms_cfg['type'] == 'soft_nms':
        assert torch.equal(keep, ref_keep)
    else:
        assert as_set(keep) == as_set(ref_keep)
    assert_close(dets[torch.argsort(keep)], ref_dets[torch.argsort(ref_keep)], rtol=1e-6,
                 atol=1e-7)


def test_batched_nms_never_suppresses_across_classes():
    boxes, scores = random_boxes(120, 2)
    idxs = torch.arange(len(boxes)) % 3
    dets, keep = ops.batched_nms(boxes, scores, idxs, dict(type='nms', iou_threshold=0.5))
    per_class = []
    for c in range(3):
        members = (idxs == c).nonzero().squeeze(1)
        per_class += members[torch.unique(ops.nms(boxes[members], scores[members], 0.5)[1])
                             ].tolist()
    assert as_set(keep) == sorted(per_class)
    # the same box in two classes survives twice
    twin = torch.tensor([[0., 0., 10., 10.], [0., 0., 10., 10.]])
    _, keep = ops.batched_nms(twin, torch.tensor([0.9, 0.8]), torch.tensor([0, 1]),
                              dict(iou_threshold=0.1))
    assert as_set(keep) == [0, 1]


def test_batched_nms_empty_input_and_bad_type():
    dets, keep = ops.batched_nms(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0).long(),
                                 dict(type='nms', iou_threshold=0.5))
    assert dets.shape == (0, 5) and keep.shape == (0,) and keep.dtype == torch.long
    with pytest.raises(ValueError, match="nms_cfg type must be one of .* got 'nms_rotated'"):
        ops.batched_nms(torch.rand(2, 4), torch.rand(2), torch.zeros(2).long(),
                        dict(type='nms_rotated', iou_threshold=0.5))


# ----------------------------------------------------------------------------- RoIAlign


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


def mmcv_roi_align(sampling_ratio, aligned=True):
    return lambda f, r: mmcv.ops.roi_align(f, r, (7, 7), 0.25, sampling_ratio, 'avg', aligned)


def tv_roi_align(sampling_ratio, aligned=True):
    return lambda f, r: torchvision.ops.roi_align(f, r, (7, 7), 0.25, sampling_ratio, aligned)


@pytest.mark.parametrize('aligned', [True, False])
@pytest.mark.parametrize('sampling_ratio', [1, 2, 4])
def test_gather_roi_align_equals_mmcv_and_torchvision(sampling_ratio, aligned):
    feats, rois = roi_case(sampling_ratio)
    ours = forward_and_input_grad(
        lambda f, r: roi_align_gather(f, r, 7, 0.25, sampling_ratio, aligned), feats, rois)
    for reference in (mmcv_roi_align, tv_roi_align):
        ref = forward_and_input_grad(reference(sampling_ratio, aligned), feats, rois)
        assert_close(ours[0], ref[0], rtol=0, atol=1e-5)
        assert_close(ours[1], ref[1], rtol=0, atol=1e-5)
    assert ours[0][0].abs().max() == 0  # the RoI outside the map
    assert ours[0][3:].abs().max() > 0


@pytest.mark.parametrize('sampling_ratio', [0, 1, 2, 4])
@pytest.mark.parametrize('kernel', sorted(ROI_ALIGN_KERNELS))
def test_every_roi_align_kernel_through_the_public_op(kernel, sampling_ratio, monkeypatch):
    variant = 'roi_align' if sampling_ratio else 'roi_align_adaptive'
    monkeypatch.setitem(ops.OP_BACKENDS[variant], 'cpu', kernel)
    feats, rois = roi_case(10 + sampling_ratio)
    ours = forward_and_input_grad(
        lambda f, r: ops.roi_align(f, r, 7, 0.25, sampling_ratio), feats, rois)
    ref = forward_and_input_grad(mmcv_roi_align(sampling_ratio), feats, rois)
    assert_close(ours[0], ref[0], rtol=0, atol=1e-5)
    assert_close(ours[1], ref[1], rtol=0, atol=1e-5)


def test_roi_align_channels_last_input_and_output():
    feats, rois = roi_case(3)
    expected = forward_and_input_grad(mmcv_roi_align(2), feats, rois)
    feats_cl = feats.contiguous(memory_format=torch.channels_last)
    for kernel in ROI_ALIGN_KERNELS.values():
        got = forward_and_input_grad(lambda f, r: kernel(f, r, (7, 7), 0.25, 2, 'avg', True),
                                     feats_cl, rois)
        assert_close(got[0], expected[0], rtol=0, atol=1e-5)
        assert_close(got[1], expected[1], rtol=0, atol=1e-5)
    out = roi_align_gather(feats_cl, rois, 7, 0.25, 2)
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert roi_align_gather(feats, rois, 7, 0.25, 2).is_contiguous()


def test_roi_align_no_rois():
    feats, _ = roi_case(0)
    for kernel in ROI_ALIGN_KERNELS:
        out = ROI_ALIGN_KERNELS[kernel](feats, torch.zeros(0, 5), (7, 7), 0.25, 2, 'avg', True)
        assert out.shape == (0, 8, 7, 7), kernel


def test_roi_align_max_pool_goes_to_mmcv():
    feats, rois = roi_case(4)
    out = ops.roi_align(feats, rois, 7, 0.25, 2, 'max')
    assert_close(out, mmcv.ops.roi_align(feats, rois, 7, 0.25, 2, 'max', True))


def test_roi_align_rejects_bad_input():
    feats, rois = roi_case(0)
    with pytest.raises(ValueError, match=r'rois must be \(R, 5\)'):
        ops.roi_align(feats, rois[:, 1:], 7)
    with pytest.raises(ValueError, match="pool_mode must be 'avg' or 'max', got 'sum'"):
        ops.roi_align(feats, rois, 7, pool_mode='sum')
    with pytest.raises(ValueError, match="PortableRoIAlign: pool_mode must be"):
        ops.PortableRoIAlign(7, pool_mode='sum')


def test_portable_roi_align_builds_through_roi_extractors():
    feats = tuple(torch.rand(2, 8, s, s, generator=torch.Generator().manual_seed(s))
                  for s in (32, 16, 8, 4))
    _, rois = roi_case(6, size=32)
    rois[:, 1:] *= 1.6  # some to every level
    strides = [4, 8, 16, 32]
    reference = SingleRoIExtractor(dict(type='RoIAlign', output_size=7, sampling_ratio=2),
                                   out_channels=8, featmap_strides=strides)
    by_class = SingleRoIExtractor(dict(type=ops.PortableRoIAlign, output_size=7,
                                       sampling_ratio=2), out_channels=8,
                                  featmap_strides=strides)
    by_name = PortableSingleRoIExtractor(dict(type='PortableRoIAlign', output_size=7,
                                              sampling_ratio=2), out_channels=8,
                                         featmap_strides=strides)
    mmcv_by_name = PortableSingleRoIExtractor(dict(type='RoIAlign', output_size=7,
                                                   sampling_ratio=2), out_channels=8,
                                              featmap_strides=strides)
    assert isinstance(by_name.roi_layers[0], ops.PortableRoIAlign)
    assert by_name.roi_layers[3].spatial_scale == 1 / 32
    assert isinstance(mmcv_by_name.roi_layers[0], mmcv.ops.RoIAlign)
    expected = reference(feats, rois)
    assert expected.abs().sum() > 0
    for extractor in (by_class, by_name, mmcv_by_name):
        assert_close(extractor(feats, rois), expected, rtol=0, atol=1e-5)
    with pytest.raises(KeyError, match="'RoIAlignX' is in neither custom.ops nor mmcv.ops"):
        PortableSingleRoIExtractor(dict(type='RoIAlignX', output_size=7), out_channels=8,
                                   featmap_strides=strides)


def test_gather_roi_align_reversed_roi_matches_torchvision():
    # mmcv refuses RoIs with x2 < x1 (aligned); torchvision samples them backwards or, with
    # adaptive sampling, not at all.
    feats, _ = roi_case(8)
    rois = torch.tensor([[0, 40., 40., 20., 20.], [1, 10., 30., 30., 12.]])
    for sampling_ratio in (0, 2):
        assert_close(roi_align_gather(feats, rois, 7, 0.25, sampling_ratio),
                     torchvision.ops.roi_align(feats, rois, 7, 0.25, sampling_ratio, True),
                     rtol=0, atol=1e-5)
