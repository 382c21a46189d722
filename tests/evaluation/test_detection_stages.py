"""The detection-stages page (tools/analysis_tools/detection_stages.py): its counts are what
the model's own modules produce, checked against torchvision's NMS and the model's predict, for
the four kinds of detector; the page's live NMS, run in a real browser, keeps what torchvision
keeps; bad input gets one line."""
import importlib.util
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from browser import dump_dom
from helpers import with_trained_looking_norms
from torchvision.ops import batched_nms
from torchvision.ops.boxes import _batched_nms_coordinate_trick as offset_batched_nms

from custom.apis.config import load_config
from custom.core.build_detector import build_detector
from custom.evaluation.detection_stages import collect_stages, prepare_input
from custom.evaluation.detection_stages.page import export_candidates, write_page

# mmcv's batched_nms, which the heads call, separates classes (RPN levels) by offsetting the
# boxes, in float32; torchvision's function that does the same (offset_batched_nms) is the
# reference for the model's counts: its per-class loop differs from it in the last float bit
# of some IoUs.
R18 = 'configs/digits/faster-rcnn_r18_fpn_540it_digits.py'
WINDOWS = 'configs/digits/fast-rcnn_r18_fpn_sliding-window_540it_digits.py'
# Each config with its test-time size made small, so every model runs in about a second.
CONFIGS = {
    'r18_fpn': (R18, 128),
    'r50_fpn': ('configs/faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py', 128),
    'vgg16': ('configs/digits/faster-rcnn_vgg16_540it_digits.py', 160),
    'sliding_window': (WINDOWS, 128),
}


def small_config(path: str, size: int):
    cfg = load_config(path)
    pipeline = cfg.test_dataloader.dataset.pipeline
    for transform in pipeline:
        if transform['type'] == 'Resize':
            transform['scale'] = (size, size)
    return cfg


def digits_image(height: int = 96, width: int = 120) -> np.ndarray:
    """A small BGR image with two bright digits on a dark background."""
    image = np.full((height, width, 3), 40, np.uint8)
    cv2.putText(image, '4', (8, 70), cv2.FONT_HERSHEY_SIMPLEX, 2.2, (250, 250, 250), 5)
    cv2.putText(image, '7', (66, 82), cv2.FONT_HERSHEY_SIMPLEX, 1.6, (200, 230, 250), 4)
    return image


def saved_checkpoint(cfg, path: Path, classes: tuple) -> str:
    model = with_trained_looking_norms(build_detector(cfg, seed=0))
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=dict(classes=classes))), path)
    return str(path)


def page_json(page: str, element_id: str):
    found = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>',
                      page, re.S)
    return json.loads(found.group(1).replace('<\\/', '</'))


@pytest.fixture(scope='module', params=sorted(CONFIGS))
def staged(request, tmp_path_factory):
    """(config, model loaded from its checkpoint, stages, counts on the written page)."""
    path, size = CONFIGS[request.param]
    cfg = small_config(path, size)
    num_classes = cfg.model.roi_head.bbox_head.num_classes
    tmp = tmp_path_factory.mktemp(request.param)
    checkpoint = saved_checkpoint(cfg, tmp / 'random.pth', tuple(f'c{i}' for i in
                                                                  range(num_classes)))
    model = build_detector(cfg, checkpoint)
    stages = collect_stages(model, cfg, digits_image(), saliency_top=2)
    page = write_page(stages, {}, str(tmp / 'page.html'))
    return cfg, model, stages, page_json(Path(page).read_text(), 'counts')


def test_proposal_counts_are_the_models(staged):
    cfg, model, stages, page_counts = staged
    prop, head = stages.proposals, model.rpn_head
    rpn_cfg = head.test_cfg
    if stages.anchors:
        # Per-level top-k: nms_pre of each level's Hf * Wf * A anchors.
        expected = [min(rpn_cfg.nms_pre, level.count) for level in stages.anchors]
        feats = model.extract_feat(prepare_input(model, cfg, digits_image())['inputs'])
        assert [level.feature_size for level in stages.anchors] == [
            tuple(f.shape[-2:]) for f in feats]
        assert page_counts['anchors'] == sum(
            f.shape[-2] * f.shape[-1] * head.num_base_priors for f in feats)
    else:
        expected = [min(rpn_cfg.nms_pre, prop.num_windows)]
        assert prop.num_windows == stages.windows[[w.key for w in stages.windows].index(
            'sliding')].count  # the proposer is the course's sliding window
    assert prop.level_counts == expected
    boxes = torch.from_numpy(prop.candidate_boxes)
    scores = torch.from_numpy(prop.candidate_scores)
    valid = (boxes[:, 2] - boxes[:, 0] > 0) & (boxes[:, 3] - boxes[:, 1] > 0)
    keep = offset_batched_nms(boxes[valid], scores[valid],
                              torch.from_numpy(prop.candidate_levels)[valid],
                              rpn_cfg.nms.iou_threshold)
    assert prop.counts['after NMS'] == len(keep)
    assert prop.counts['after cap'] == min(len(keep), rpn_cfg.max_per_img)
    torch.testing.assert_close(torch.from_numpy(prop.proposals),
                               boxes[valid][keep][:rpn_cfg.max_per_img])
    assert page_counts['proposals'] == prop.counts
    assert page_counts['rpn_level_counts'] == expected


def test_roi_counts_and_detections_are_the_models(staged):
    cfg, model, stages, page_counts = staged
    roi = stages.roi
    rcnn_cfg = model.roi_head.test_cfg
    batch = prepare_input(model, cfg, digits_image())
    with torch.no_grad():
        dets = model.predict(batch['inputs'], batch['data_samples'], rescale=False)[0]
    pred = dets.pred_instances
    np.testing.assert_allclose(roi.det_boxes, pred.bboxes.numpy(), atol=1e-4)
    np.testing.assert_allclose(roi.det_scores, pred.scores.numpy(), atol=1e-6)
    np.testing.assert_array_equal(roi.det_labels, pred.labels.numpy())
    num_props, num_classes = roi.scores.shape
    assert num_props == stages.proposals.counts['after cap']
    # Class-wise NMS by torchvision on the head's own boxes and softmax scores.
    labels = torch.arange(num_classes).repeat(num_props)
    scores = torch.from_numpy(roi.scores).reshape(-1)
    boxes = torch.from_numpy(roi.boxes).reshape(-1, 4)
    keep = offset_batched_nms(boxes, scores, labels, rcnn_cfg.nms.iou_threshold)
    after_nms = torch.bincount(labels[keep], minlength=num_classes)
    above = torch.nonzero(scores > rcnn_cfg.score_thr)[:, 0]
    keep = offset_batched_nms(boxes[above], scores[above], labels[above],
                              rcnn_cfg.nms.iou_threshold)
    after_thr = torch.bincount(labels[above][keep], minlength=num_classes)
    for label, counts in enumerate(roi.per_class):
        assert (counts.before_nms, counts.after_nms, counts.after_thr) == (
            num_props, int(after_nms[label]), int(after_thr[label]))
    assert len(roi.det_boxes) == min(int(after_thr.sum()), rcnn_cfg.max_per_img)
    assert page_counts['detections'] == len(pred)
    assert page_counts['roi_per_class'] == {
        f'c{c}': dict(before_nms=num_props, after_nms=int(after_nms[c]),
                      after_thr=int(after_thr[c])) for c in range(num_classes)}
    # The live part's candidates at the model's thresholds give the model's detections.
    exported = export_candidates(stages)
    if exported['total'] <= len(exported['scores']):
        boxes = torch.tensor(exported['boxes'])
        cand_scores = torch.tensor(exported['scores'])
        above = torch.nonzero(cand_scores > rcnn_cfg.score_thr)[:, 0]
        kept = above[offset_batched_nms(boxes[above], cand_scores[above],
                                        torch.tensor(exported['labels'])[above],
                                        rcnn_cfg.nms.iou_threshold)][:rcnn_cfg.max_per_img]
        np.testing.assert_allclose(boxes[kept].numpy(), roi.det_boxes, atol=0.006)


def test_saliency_maps_cover_the_image(staged):
    _, _, stages, _ = staged
    assert len(stages.saliency) == min(2, len(stages.roi.det_boxes))
    for saliency in stages.saliency:
        assert saliency.heat.shape == stages.image.shape[:2]
        assert saliency.heat.min() >= 0 and saliency.heat.max() <= 1


def _tool():
    spec = importlib.util.spec_from_file_location(
        'detection_stages_tool', 'tools/analysis_tools/detection_stages.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


@pytest.fixture(scope='module')
def digits_page(tmp_path_factory):
    """The tool's page for the digits R18-FPN detector (random weights) on a small image."""
    tmp = tmp_path_factory.mktemp('page')
    cfg = small_config(R18, 128)
    checkpoint = saved_checkpoint(cfg, tmp / 'r18.pth', tuple(str(i) for i in range(10)))
    image = tmp / 'digits.png'
    cv2.imwrite(str(image), digits_image())
    out = tmp / 'out'
    args = [str(image), R18, checkpoint, str(out), '--windows-config', WINDOWS,
            '--saliency', '2', '--cfg-options',
            'test_dataloader.dataset.pipeline.1.scale=(128,128)']
    assert _tool()(args) == 0
    return dict(page=out / 'detection_stages.html', args=args, image=image,
                checkpoint=checkpoint)


def test_tool_writes_one_offline_page_with_every_panel(digits_page):
    page = digits_page['page'].read_text()
    panels = sorted(p.name for p in (digits_page['page'].parent / 'panels').iterdir())
    assert len(panels) == 10
    assert page.count('<img alt=') == 10 and 'id="live-nms"' in page
    # Offline: nothing refers to another file or a network address.
    assert not re.search(r'(src|href)="(?!data:|#)', page)
    assert 'http://' not in page and 'https://' not in page
    for term in ('等大窗口', '滑动窗口', '多尺度滑窗', '图像金字塔', '锚框', '区域提议',
                 '非极大值抑制'):
        assert term in page
    counts = json.loads((digits_page['page'].parent / 'counts.json').read_text())
    assert counts == page_json(page, 'counts')


def test_tool_never_overwrites_a_page(digits_page, capsys):
    before = digits_page['page'].stat().st_mtime_ns
    assert _tool()(digits_page['args']) == 1
    assert 'already exists' in capsys.readouterr().err
    assert digits_page['page'].stat().st_mtime_ns == before


@pytest.mark.parametrize('bad', ['image', 'corrupt_image', 'config', 'checkpoint'])
def test_bad_input_gets_one_line(bad, digits_page, tmp_path, capsys):
    image, config, checkpoint = str(digits_page['image']), R18, digits_page['checkpoint']
    if bad == 'image':
        image = str(tmp_path / 'missing.png')
    elif bad == 'corrupt_image':
        image = tmp_path / 'corrupt.png'
        image.write_bytes(b'\x89PNG\r\n\x1a\nnot really')
        image = str(image)
    elif bad == 'config':
        config = str(tmp_path / 'missing.py')
    else:
        checkpoint = tmp_path / 'other.pth'
        torch.save({'state_dict': {'head.fc.weight': torch.zeros(2, 2)}}, checkpoint)
        checkpoint = str(checkpoint)
    assert _tool()([image, config, checkpoint, str(tmp_path / 'out')]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and err[0].startswith('error: ') and 'Traceback' not in err[0]
    named = {'image': image, 'corrupt_image': image, 'config': config,
             'checkpoint': checkpoint}[bad]
    assert named in err[0]
    assert not (tmp_path / 'out' / 'detection_stages.html').exists()


def kept_in_browser(page: Path, **hash_values) -> dict:
    fragment = '&'.join(f'{key}={value}' for key, value in hash_values.items())
    dom = dump_dom(page.resolve().as_uri() + (f'#{fragment}' if fragment else ''))
    found = re.search(r'<pre id="kept">(.*?)</pre>', dom, re.S)
    assert found and found.group(1), 'the page wrote no kept boxes'
    return json.loads(found.group(1).replace('&quot;', '"'))


@pytest.mark.parametrize('iou, score', [(None, None), (0.3, 0.1), (0.75, 0.0)])
def test_browser_slider_keeps_what_torchvision_keeps(digits_page, iou, score):
    text = digits_page['page'].read_text()
    data = page_json(text, 'candidates')
    hash_values = {} if iou is None else dict(iou=iou, score=score)
    kept = kept_in_browser(digits_page['page'], **hash_values)
    iou = data['iou_thr'] if iou is None else iou
    score = data['score_thr'] if score is None else score
    assert (kept['iou_thr'], kept['score_thr']) == pytest.approx((iou, score))
    boxes, scores = torch.tensor(data['boxes']), torch.tensor(data['scores'], dtype=torch.float64)
    labels = torch.tensor(data['labels'])
    above = torch.nonzero(scores > score)[:, 0]
    expected = above[batched_nms(boxes[above].double(), scores[above], labels[above], iou)]
    assert kept['kept'] == expected[:data['max_per_img']].tolist()
    if hash_values:
        default = kept_in_browser(digits_page['page'])
        assert default['kept'] != kept['kept']  # moving the slider changed the kept set
