"""The error contract, table-driven: every bad input to every tool exits non-zero with ONE
line that names the file, option or config key and the problem; no traceback, and never a
library's raw text (torch's, OpenCV's, mmengine's, Python's codecs).

The tools run in this process (tests/in_process.py): one interpreter for all the cases."""
import json
import shutil
from pathlib import Path

import pytest
import torch
from hostile_files import (
    write_image,
    write_malicious_checkpoint,
    write_png_header_only,
    write_truncated,
    write_truncated_checkpoint,
)
from in_process import call_tool

CONFIG = 'configs/digits/faster-rcnn_r18_fpn_540it_digits.py'
INFER, TRAIN, TEST = 'tools/infer.py', 'tools/train.py', 'tools/test.py'
EXPORT, VALIDATE = 'tools/deploy/export_onnx.py', 'tools/misc/validate_coco.py'
REMAP = 'tools/dataset_converters/coco_remap.py'
YOLO, VOC = 'tools/dataset_converters/yolo2coco.py', 'tools/dataset_converters/voc2coco.py'

# Raw library text that must never reach the user.
RAW_TEXT = ('Traceback', 'weights_only', 'not enough values to unpack', "codec can't decode",
            'index out of range', 'miniz', 'PytorchStreamReader', 'Tensor.item()', 'OpenCV(',
            'error: meta', 'error: message_hub', 'error: 77', 'cannot convert float NaN')


@pytest.fixture(scope='module')
def bad(tmp_path_factory) -> Path:
    """A folder of hostile inputs (see the table below for what each is)."""
    root = tmp_path_factory.mktemp('hostile')
    from custom.apis.config import load_config
    from custom.core.build_detector import build_detector
    model = build_detector(load_config(CONFIG), seed=0)
    classes = [str(i) for i in range(10)]
    state = model.state_dict()
    torch.save({'state_dict': state, 'meta': {'dataset_meta': {'classes': classes}}},
               root / 'good.pth')
    nan_state = dict(state)
    nan_state['rpn_head.rpn_conv.weight'] = state['rpn_head.rpn_conv.weight'] * float('nan')
    torch.save({'state_dict': nan_state, 'meta': {}}, root / 'nan.pth')
    torch.save({'state_dict': state, 'meta': {'dataset_meta': {'classes': ['a', 'b', 'c']}}},
               root / 'three.pth')
    torch.save(state, root / 'plain.pth')
    torch.save({'state_dict': {'head.fc.weight': torch.zeros(2, 2)}, 'meta': {},
                'message_hub': {}}, root / 'other.pth')
    write_malicious_checkpoint(root / 'malicious.pth')
    write_truncated_checkpoint(root / 'truncated.pth', root / 'good.pth')
    (root / 'm.onnx').write_bytes(b'not read: the sidecar is checked first')
    (root / 'm.json').write_text(json.dumps({'format': 'classicdet Faster R-CNN ONNX graph',
                                             'classes': ['a', 'b', 'c']}))
    write_image(root / 'img.png')
    write_image(root / 'canvas.png', 320, 320)
    write_image(root / 'line.png', 1, 500)
    write_png_header_only(root / 'bomb.png', 20000, 20000)
    write_truncated(root / 'cut.jpg')
    write_truncated(root / 'cut.png')
    (root / 'empty.png').write_bytes(b'')
    (root / 'text.jpg').write_text('hello, not a JPEG')
    (root / 'outdir').mkdir()
    (root / 'X.json').write_text('{"images": []}')
    (root / 'moved').mkdir()
    (root / 'moved' / 'last_checkpoint').write_text('/nowhere/old_run/iter_6.pth')
    coco = {'images': [{'id': 1, 'file_name': 'img.png', 'width': 64, 'height': 48}],
            'annotations': [{'id': 1, 'image_id': 1, 'category_id': 1, 'bbox': [1, 1, 9, 9],
                             'area': 81, 'iscrowd': 0}],
            'categories': [{'id': 1, 'name': 'x'}]}
    for name, file_name in (('up.json', '../img.png'), ('abs.json', str(root / 'img.png'))):
        (root / name).write_text(json.dumps(
            dict(coco, images=[dict(coco['images'][0], file_name=file_name)])))
    (root / 'cat77.json').write_text(json.dumps(
        dict(coco, annotations=[dict(coco['annotations'][0], category_id=77)])))
    (root / 'latin1.json').write_bytes('{"x": "caf\xe9"}'.encode('latin-1'))
    for case, label in (('yolo_utf8', b'0 0.5 0.5 \xff\xfe 0.1\n'),
                        ('yolo_nan', b'0 0.5 nan 0.1 0.1\n')):
        (root / case / 'images').mkdir(parents=True)
        (root / case / 'labels').mkdir()
        write_image(root / case / 'images' / 'a.png')
        (root / case / 'labels' / 'a.txt').write_bytes(label)
    (root / 'names.txt').write_text('x\n')
    (root / 'names_latin1.txt').write_bytes(b'caf\xe9\n')
    for case, xml in (('voc_nan', b'<annotation><size><width>nan</width><height>5</height>'
                                  b'</size></annotation>'),
                      ('voc_utf8', b'<annotation><filename>\xff\xfe</filename></annotation>')):
        (root / case / 'Annotations').mkdir(parents=True)
        (root / case / 'Annotations' / 'a.xml').write_bytes(xml)
    return root


def infer(image, weights='good.pth', *extra):
    return lambda b: [INFER, b / image, CONFIG, b / weights, '--out-dir', b / 'out',
                      '--device', 'cpu', *extra]


def train(*extra):
    return lambda b: [TRAIN, CONFIG, '--work-dir', b / 'work', *extra]


# (case id, argv builder, fragments the one line must contain)
CASES = [
    # tools/infer.py: options
    ('infer-score-thr-2', infer('img.png', 'good.pth', '--score-thr', '2'),
     ['--score-thr', 'must be in [0, 1]']),
    ('infer-score-thr-nan', infer('img.png', 'good.pth', '--score-thr', 'nan'),
     ['--score-thr', 'nan']),
    ('infer-score-thr-negative', infer('img.png', 'good.pth', '--score-thr', '-0.5'),
     ['--score-thr', '-0.5']),
    ('infer-device-meta', infer('img.png', 'good.pth', '--device', 'meta'),
     ['--device meta', 'cpu, cuda or cuda:N']),
    ('infer-device-typo', infer('img.png', 'good.pth', '--device', 'gpu'), ['--device gpu']),
    ('infer-slice-size-0', infer('img.png', 'good.pth', '--slice-size', '0'),
     ['--slice-size', 'positive']),
    ('infer-max-tiles-0', infer('img.png', 'good.pth', '--slice-size', '32', '--max-tiles',
                                '0'), ['--max-tiles', '>= 1']),
    ('infer-slice-size-1', infer('canvas.png', 'good.pth', '--slice-size', '1'),
     ['canvas.png', '102,400 tiles, over the limit of 10,000', '--max-tiles']),
    # tools/infer.py: images
    ('infer-image-missing', infer('nope.png'), ['nope.png', 'no such image']),
    ('infer-image-5000x1', infer('line.png'), ['line.png', 'min_side']),
    ('infer-image-bomb', infer('bomb.png'), ['bomb.png', 'max_pixels']),
    ('infer-image-truncated-jpeg', infer('cut.jpg'), ['cut.jpg', 'truncated JPEG']),
    ('infer-image-truncated-png', infer('cut.png'), ['cut.png', 'truncated PNG']),
    ('infer-image-empty', infer('empty.png'), ['empty.png', 'empty file']),
    ('infer-image-not-an-image', infer('text.jpg'), ['text.jpg', 'not an image']),
    # tools/infer.py: weights
    ('infer-ckpt-nan', infer('img.png', 'nan.pth'), ['nan.pth', 'non-finite weights']),
    ('infer-ckpt-3-classes', infer('img.png', 'three.pth'),
     ['three.pth', 'names 3 classes but the model has 10']),
    ('infer-ckpt-malicious', infer('img.png', 'malicious.pth'), ['malicious.pth', 'refused']),
    ('infer-ckpt-truncated', infer('img.png', 'truncated.pth'),
     ['truncated.pth', 'not a checkpoint']),
    ('infer-ckpt-other-architecture', infer('img.png', 'other.pth'),
     ['other.pth', 'another architecture']),
    ('infer-onnx-sidecar-3-classes', infer('img.png', 'm.onnx'),
     ['m.json', 'names 3 classes but the model has 10']),
    # tools/train.py
    ('train-cfg-options-no-equals', train('--cfg-options', 'foo'),
     ["--cfg-options 'foo'", 'KEY=VALUE']),
    ('train-cfg-options-unknown-key', train('--cfg-options', 'model.backbon.depth=50'),
     ['model.backbon.depth', 'unknown key']),
    ('train-max-iters-negative', train('--cfg-options', 'train_cfg.max_iters=-5'),
     ['train_cfg.max_iters', '>= 1', '-5']),
    ('train-max-iters-zero', train('--cfg-options', 'train_cfg.max_iters=0'),
     ['train_cfg.max_iters']),
    ('train-val-interval-zero', train('--cfg-options', 'train_cfg.val_interval=0'),
     ['train_cfg.val_interval']),
    ('train-resume-missing', lambda b: [TRAIN, CONFIG, '--work-dir', b / 'work', '--resume',
                                        b / 'nope.pth'], ['--resume', 'nope.pth', 'not found']),
    ('train-resume-malicious', lambda b: [TRAIN, CONFIG, '--work-dir', b / 'work', '--resume',
                                          b / 'malicious.pth'],
     ['--resume', 'malicious.pth', 'refused']),
    ('train-resume-truncated', lambda b: [TRAIN, CONFIG, '--work-dir', b / 'work', '--resume',
                                          b / 'truncated.pth'],
     ['--resume', 'truncated.pth', 'not a checkpoint']),
    ('train-resume-plain-state-dict', lambda b: [TRAIN, CONFIG, '--work-dir', b / 'work',
                                                 '--resume', b / 'plain.pth'],
     ['--resume', 'plain.pth', 'not a training checkpoint', '--load-from']),
    ('train-resume-other-architecture', lambda b: [TRAIN, CONFIG, '--work-dir', b / 'work',
                                                   '--resume', b / 'other.pth'],
     ['--resume', 'other.pth', 'another architecture']),
    ('train-resume-auto-moved', lambda b: [TRAIN, CONFIG, '--work-dir', b / 'moved',
                                           '--resume'],
     ['last_checkpoint', 'iter_6.pth', '--resume CKPT']),
    ('train-load-from-malicious', lambda b: [TRAIN, CONFIG, '--work-dir', b / 'work',
                                             '--load-from', b / 'malicious.pth'],
     ['--load-from', 'malicious.pth', 'refused']),
    ('train-load-from-truncated', lambda b: [TRAIN, CONFIG, '--work-dir', b / 'work',
                                             '--load-from', b / 'truncated.pth'],
     ['--load-from', 'truncated.pth', 'not a checkpoint']),
    ('train-load-from-nan', lambda b: [TRAIN, CONFIG, '--work-dir', b / 'work', '--load-from',
                                       b / 'nan.pth'], ['--load-from', 'nan.pth', 'non-finite']),
    # tools/test.py
    ('test-out-is-a-folder', lambda b: [TEST, CONFIG, b / 'good.pth', '--work-dir', b / 'work',
                                        '--out', b / 'outdir'], ['--out', 'outdir', 'folder']),
    ('test-cfg-options-no-equals', lambda b: [TEST, CONFIG, b / 'good.pth', '--cfg-options',
                                              'x'], ["--cfg-options 'x'", 'KEY=VALUE']),
    ('test-ckpt-nan', lambda b: [TEST, CONFIG, b / 'nan.pth', '--work-dir', b / 'work'],
     ['nan.pth', 'non-finite weights']),
    ('test-ckpt-malicious', lambda b: [TEST, CONFIG, b / 'malicious.pth', '--work-dir',
                                       b / 'work'], ['malicious.pth', 'refused']),
    # tools/deploy/export_onnx.py
    ('export-sidecar-would-overwrite', lambda b: [EXPORT, CONFIG, b / 'good.pth', b / 'X.onnx'],
     ['X.json', 'exists and is not an ONNX sidecar']),
    ('export-input-size-huge', lambda b: [EXPORT, CONFIG, b / 'good.pth', b / 'e.onnx',
                                          '--input-size', '100000', '100000'],
     ['--input-size', '[32, 4096]']),
    ('export-input-size-tiny', lambda b: [EXPORT, CONFIG, b / 'good.pth', b / 'e.onnx',
                                          '--input-size', '8', '8'], ['--input-size', '8 8']),
    ('export-not-onnx', lambda b: [EXPORT, CONFIG, b / 'good.pth', b / 'e.txt'],
     ['e.txt', '.onnx']),
    # tools/misc/validate_coco.py
    ('validate-file-name-dotdot', lambda b: [VALIDATE, b / 'up.json', '--img-dir', b],
     ['../img.png', 'inside the image folder']),
    ('validate-file-name-absolute', lambda b: [VALIDATE, b / 'abs.json', '--img-dir', b],
     ['abs.json', 'inside the image folder']),
    # tools/dataset_converters
    ('remap-undefined-category', lambda b: [REMAP, b / 'cat77.json', b / 'o.json', 'x=y'],
     ['cat77.json', 'category_id 77']),
    ('remap-not-utf8', lambda b: [REMAP, b / 'latin1.json', b / 'o.json', 'x=y'],
     ['latin1.json', 'not UTF-8']),
    ('remap-mapping-without-equals', lambda b: [REMAP, b / 'cat77.json', b / 'o.json', 'x'],
     ["'x'", 'OLD=NEW']),
    ('yolo-label-not-utf8', lambda b: [YOLO, b / 'yolo_utf8/images', b / 'yolo_utf8/labels',
                                       b / 'names.txt', b / 'o.json'],
     ['a.txt:1', 'not UTF-8']),
    ('yolo-label-nan', lambda b: [YOLO, b / 'yolo_nan/images', b / 'yolo_nan/labels',
                                  b / 'names.txt', b / 'o.json'], ['a.txt:1', 'NaN']),
    ('yolo-names-not-utf8', lambda b: [YOLO, b / 'yolo_nan/images', b / 'yolo_nan/labels',
                                       b / 'names_latin1.txt', b / 'o.json'],
     ['names_latin1.txt', 'not UTF-8']),
    ('voc-size-nan', lambda b: [VOC, b / 'voc_nan', b / 'o.json'],
     ['a.xml', '<width>', 'not a finite number']),
    ('voc-not-utf8', lambda b: [VOC, b / 'voc_utf8', b / 'o.json'], ['a.xml', 'not valid XML']),
]


def problem_lines(output: str) -> list[str]:
    """The lines that report a problem: the tools' ``error: `` lines and infer's
    ``failed: `` lines (a bad image among good ones is skipped, not fatal)."""
    return [line for line in output.splitlines() if line.startswith(('error: ', 'failed: '))]


def test_the_table_covers_every_tool_with_at_least_40_inputs():
    assert len(CASES) >= 40 and len({case[0] for case in CASES}) == len(CASES)
    tools = {case[1](Path('/x'))[0] for case in CASES}
    assert tools == {INFER, TRAIN, TEST, EXPORT, VALIDATE, REMAP, YOLO, VOC}


@pytest.mark.parametrize('case,argv,fragments', CASES, ids=[c[0] for c in CASES])
def test_bad_input_gives_one_line_naming_it(case, argv, fragments, bad):
    shutil.rmtree(bad / 'out', ignore_errors=True)
    code, output = call_tool(*argv(bad))
    assert code != 0, output
    lines = problem_lines(output)
    assert len(lines) == 1, output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    for raw in RAW_TEXT:
        assert raw not in output, output
