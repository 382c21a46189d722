"""Video input: tools/infer.py and custom.apis.predict_video on a short video the test writes
with OpenCV: an annotated video out, one JSON line per detected frame (every --frame-stride-th),
the detections those frames give as images, and one line for a file that is not a video."""
import json

import cv2
import numpy as np
import pytest
import torch

from custom.core.errors import InputError

CONFIG = 'configs/digits/faster-rcnn_r18_fpn_540it_digits.py'
FRAMES, SIZE = 7, (96, 128)  # (height, width)


@pytest.fixture(scope='module')
def video(tmp_path_factory):
    """A 7-frame mp4 of a bright square moving over noise."""
    path = tmp_path_factory.mktemp('video') / 'clip.mp4'
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), 10.0, SIZE[::-1])
    assert writer.isOpened()
    rng = np.random.default_rng(0)
    for n in range(FRAMES):
        frame = rng.integers(0, 60, (*SIZE, 3), dtype=np.uint8)
        frame[20:60, 10 + 8 * n:50 + 8 * n] = 255
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture(scope='module')
def detector(tmp_path_factory):
    from mmengine.config import Config

    from custom.apis import Detector
    from custom.core.build_detector import build_detector
    model = build_detector(Config.fromfile(CONFIG), None, 'cpu', seed=0)
    path = tmp_path_factory.mktemp('ckpt') / 'random.pth'
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=dict(classes=tuple('0123456789')))), path)
    return Detector(CONFIG, str(path), device='cpu')


def read_frames(path):
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            return frames
        frames.append(frame)


def test_every_nth_frame_is_detected_drawn_and_written_as_a_json_line(video, detector,
                                                                     tmp_path, capsys):
    from custom.apis.predict_video import predict_video
    report = predict_video(detector, str(video), str(tmp_path), score_thr=0.05,
                           frame_stride=3)
    assert (report.frames_read, report.frames_detected) == (FRAMES, 3)
    lines = [json.loads(line) for line in (tmp_path / 'clip.jsonl').read_text().splitlines()]
    assert [(r['frame'], r['time']) for r in lines] == [(0, 0.0), (3, 0.3), (6, 0.6)]
    frames = read_frames(video)
    assert len(frames) == FRAMES
    for record in lines:
        assert set(record) == {'frame', 'time', 'bboxes', 'labels', 'scores', 'names'}
        ref = detector.predict(frames[record['frame']], score_thr=0.05)
        assert record['labels'] == ref['labels'].tolist()
        np.testing.assert_allclose(record['bboxes'], ref['boxes'].reshape(-1, 4), atol=0.01)
    assert sum(len(r['bboxes']) for r in lines) > 0
    out = read_frames(tmp_path / 'clip.mp4')
    assert len(out) == 3 and out[0].shape == (*SIZE, 3)
    capture = cv2.VideoCapture(str(tmp_path / 'clip.mp4'))
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(10 / 3, abs=0.01)


def test_progress_bar_counts_frames_per_second(video, detector, tmp_path, capsys):
    from custom.apis.predict_video import predict_video
    predict_video(detector, str(video), str(tmp_path), frame_stride=4)
    bar = capsys.readouterr().err
    assert 'clip.mp4' in bar and '2/2' in bar and 'frame/s' in bar


def test_a_file_that_is_not_a_video_is_one_line(tmp_path):
    from custom.apis.predict_video import open_video
    bad = tmp_path / 'broken.mp4'
    bad.write_bytes(b'\x00\x00\x00\x18ftypmp42 not really a video')
    with pytest.raises(InputError, match=r'broken\.mp4: cannot read this video'):
        open_video(str(bad))
    from in_process import call_tool
    code, out = call_tool('tools/infer.py', bad, CONFIG, tmp_path / 'no.pth', '--out-dir',
                          tmp_path / 'out')
    assert code == 1 and 'Traceback' not in out
    assert out.splitlines()[0] == (
        f"error: {bad}: cannot read this video (not a video, or its codec is not available "
        "to OpenCV's video backend)")
    code, out = call_tool('tools/infer.py', bad, CONFIG, tmp_path / 'no.pth', '--out-dir',
                          tmp_path / 'out', '--batch-size', '4')
    assert code == 1 and out.splitlines()[0] == (
        'error: --batch-size: applies to images; a video is detected frame by frame')
