"""Every bad input named in one line with a non-zero exit, and no traceback."""
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

CONFIG = 'configs/digits/faster-rcnn_r18_fpn_540it_digits.py'


def run_tool(*args):
    proc = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True,
                          timeout=300)
    return proc.returncode, proc.stdout + proc.stderr


def assert_clean_error(code, output, *fragments):
    assert code != 0, output
    assert 'Traceback' not in output, output
    error_lines = [line for line in output.splitlines() if line.startswith('error: ')]
    assert len(error_lines) == 1, output
    for fragment in fragments:
        assert fragment in error_lines[0], error_lines[0]


def test_missing_config():
    code, out = run_tool('tools/train.py', 'configs/nope.py')
    assert_clean_error(code, out, 'configs/nope.py', 'config file not found')


def test_unknown_module_type(tmp_path):
    cfg = tmp_path / 'bad_type.py'
    cfg.write_text(f"_base_ = '{(tmp_path.cwd() / CONFIG)}'\n"
                   "model = dict(backbone=dict(type='NoSuchNet'))\n")
    code, out = run_tool('tools/train.py', cfg, '--work-dir', tmp_path / 'w')
    assert_clean_error(code, out, 'NoSuchNet', 'registry')


def test_bad_cfg_options_key(tmp_path):
    code, out = run_tool('tools/train.py', CONFIG, '--work-dir', tmp_path,
                         '--cfg-options', 'model.backbon.depth=50')
    assert_clean_error(code, out, "'model.backbon.depth'", "no 'backbon' under model")


def test_checkpoint_that_is_not_a_checkpoint(tmp_path):
    fake = tmp_path / 'weights.pth'
    fake.write_text('hello')
    code, out = run_tool('tools/test.py', CONFIG, fake, '--work-dir', tmp_path)
    assert_clean_error(code, out, 'weights.pth', 'not a checkpoint')


def test_checkpoint_of_another_architecture(tmp_path):
    other = tmp_path / 'other.pth'
    torch.save({'state_dict': {'backbone.conv1.weight': torch.zeros(3, 3, 3, 3),
                               'head.fc.weight': torch.zeros(2, 2)}}, other)
    code, out = run_tool('tools/test.py', CONFIG, other, '--work-dir', tmp_path)
    assert_clean_error(code, out, 'other.pth', 'another architecture', 'head.fc.weight',
                       'backbone.conv1.weight')


@pytest.mark.parametrize('tool', ['tools/infer.py', 'tools/analysis_tools/proposal_recall.py',
                                  'tools/analysis_tools/benchmark.py'])
def test_every_tool_refuses_a_checkpoint_of_another_architecture(tool, tmp_path):
    """One loader (custom.core.build_detector) for every tool: strict and checked."""
    other = tmp_path / 'other.pth'
    torch.save({'state_dict': {'head.fc.weight': torch.zeros(2, 2)}}, other)
    image = tmp_path / 'a.png'
    cv2.imwrite(str(image), np.zeros((32, 32, 3), np.uint8))
    args = {'tools/infer.py': [image, CONFIG, other, '--out-dir', tmp_path / 'o'],
            'tools/analysis_tools/proposal_recall.py': [CONFIG, other],
            'tools/analysis_tools/benchmark.py': [CONFIG, other]}[tool]
    code, out = run_tool(tool, *args)
    assert_clean_error(code, out, 'other.pth', 'another architecture', 'head.fc.weight')


def test_empty_image_folder(tmp_path):
    empty = tmp_path / 'empty'
    empty.mkdir()
    code, out = run_tool('tools/infer.py', empty, CONFIG, tmp_path / 'x.pth', '--out-dir',
                         tmp_path / 'out')
    assert_clean_error(code, out, str(empty), 'no images')


def test_output_folder_that_cannot_be_written(tmp_path):
    blocker = tmp_path / 'a_file'
    blocker.write_text('')
    img = tmp_path / 'img.png'
    import cv2
    import numpy as np
    cv2.imwrite(str(img), np.zeros((8, 8, 3), np.uint8))
    code, out = run_tool('tools/infer.py', img, CONFIG, tmp_path / 'x.pth', '--out-dir',
                         blocker / 'sub')
    assert_clean_error(code, out, 'a_file/sub', 'cannot be written')


@pytest.mark.skipif(torch.cuda.is_available(), reason='needs a machine without CUDA')
def test_cuda_asked_without_cuda(tmp_path):
    img = tmp_path / 'img.png'
    import cv2
    import numpy as np
    cv2.imwrite(str(img), np.zeros((8, 8, 3), np.uint8))
    code, out = run_tool('tools/infer.py', img, CONFIG, tmp_path / 'x.pth', '--out-dir',
                         tmp_path / 'out', '--device', 'cuda')
    assert_clean_error(code, out, '--device cuda', 'no CUDA device')


def test_debug_shows_traceback():
    code, out = run_tool('tools/train.py', 'configs/nope.py', '--debug')
    assert code != 0 and 'Traceback' in out
