"""The installed stack: mmcv's compiled CPU ops agree with torchvision's."""
import mmcv
import mmdet
import mmengine
import pytest
import torch
import torchvision
from mmcv.ops import nms as mmcv_nms
from mmcv.ops import roi_align as mmcv_roi_align
from torchvision.ops import nms as tv_nms
from torchvision.ops import roi_align as tv_roi_align


def test_pinned_versions():
    assert torch.__version__.split('+')[0] == '2.14.1'
    assert torchvision.__version__.split('+')[0] == '0.29.1'
    assert (mmcv.__version__, mmengine.__version__, mmdet.__version__) == ('2.1.0', '0.10.7',
                                                                           '3.3.0')


def random_boxes(n: int, size: float = 100.0, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * size
    wh = torch.rand(n, 2, generator=g) * size / 4 + 1
    return torch.cat([xy, xy + wh], dim=1)


@pytest.mark.parametrize('iou', [0.3, 0.5, 0.7])
def test_mmcv_nms_keeps_what_torchvision_keeps(iou):
    boxes = random_boxes(500, seed=int(iou * 10))
    scores = torch.rand(500, generator=torch.Generator().manual_seed(1))
    _, keep = mmcv_nms(boxes, scores, iou_threshold=iou)
    assert set(keep.tolist()) == set(tv_nms(boxes, scores, iou).tolist())
    assert len(keep) < 500  # the case suppresses something


@pytest.mark.parametrize('sampling_ratio', [0, 2])
def test_mmcv_roi_align_matches_torchvision(sampling_ratio):
    g = torch.Generator().manual_seed(0)
    feats = torch.rand(2, 8, 32, 32, generator=g)
    boxes = random_boxes(40, size=120, seed=3)
    rois = torch.cat([torch.randint(0, 2, (40, 1), generator=g).float(), boxes], dim=1)
    ours = mmcv_roi_align(feats, rois, (7, 7), 0.25, sampling_ratio, 'avg', True)
    ref = tv_roi_align(feats, rois, (7, 7), 0.25, sampling_ratio, aligned=True)
    assert (ours - ref).abs().max().item() < 1e-5
