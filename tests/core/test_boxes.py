"""custom.core.boxes against torchvision's box_iou and nms, and exact values."""
import numpy as np
import pytest
import torch
import torchvision

from custom.core.boxes import box_iou, greedy_suppression, intersection_over_smaller


def random_boxes(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 100
    wh = torch.rand(n, 2, generator=g) * 40 + 1
    return torch.cat([xy, xy + wh], 1)


def test_box_iou_matches_torchvision_for_tensors_and_arrays():
    a, b = random_boxes(30, 1), random_boxes(20, 2)
    expected = torchvision.ops.box_iou(a, b)
    torch.testing.assert_close(box_iou(a, b), expected)
    got = box_iou(a.numpy(), b.numpy())
    assert isinstance(got, np.ndarray) and got.dtype == np.float64 and got.shape == (30, 20)
    np.testing.assert_allclose(got, expected.double().numpy(), rtol=1e-5, atol=1e-6)


def test_intersection_over_smaller_exact_values():
    whole = torch.tensor([[0., 0., 10., 10.]])
    parts = torch.tensor([[0., 0., 5., 10.],     # inside: 1 (IoU 0.5)
                          [5., 0., 15., 10.],    # half of each: 50 / 100
                          [20., 20., 30., 30.]])  # apart: 0
    torch.testing.assert_close(intersection_over_smaller(whole, parts),
                               torch.tensor([[1.0, 0.5, 0.0]]))
    torch.testing.assert_close(intersection_over_smaller(parts, whole),
                               torch.tensor([[1.0], [0.5], [0.0]]))
    np.testing.assert_allclose(intersection_over_smaller(whole.numpy(), parts.numpy()),
                               [[1.0, 0.5, 0.0]])


@pytest.mark.parametrize('threshold', [0.3, 0.5, 0.7])
def test_greedy_suppression_with_iou_is_torchvision_nms(threshold):
    boxes = random_boxes(200, 3)
    scores = torch.rand(200, generator=torch.Generator().manual_seed(4))
    keep = greedy_suppression(boxes, scores, threshold)
    assert keep.tolist() == torchvision.ops.nms(boxes, scores, threshold).tolist()


def test_greedy_suppression_with_ios_drops_a_cut_piece():
    boxes = torch.tensor([[0., 0., 10., 10.], [0., 0., 4., 10.], [20., 0., 30., 10.]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    assert greedy_suppression(boxes, scores, 0.5).tolist() == [0, 1, 2]  # IoU 0.4: kept
    assert greedy_suppression(boxes, scores, 0.5, overlap='ios').tolist() == [0, 2]
    assert greedy_suppression(boxes[:0], scores[:0], 0.5).tolist() == []
