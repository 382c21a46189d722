"""Multi-process training through torchrun (gloo on CPU): both ranks end with the same weights."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import make_digits

CONFIG = 'configs/digits/faster-rcnn_r18_fpn_540it_digits.py'


@pytest.mark.slow
def test_two_process_torchrun_keeps_ranks_identical(tmp_path):
    data = tmp_path / 'digits'
    make_digits(data, train=8, val=2, img_size=128, min_size=24, max_size=96, seed=5,
                max_digits=5)
    work = tmp_path / 'work'
    env = dict(os.environ, PY=sys.executable, PORT='29617', OMP_NUM_THREADS='1')
    env['PYTHONPATH'] = os.pathsep.join([str(Path('tests').resolve()), env.get('PYTHONPATH', '')])
    proc = subprocess.run(
        ['bash', 'tools/dist_train.sh', CONFIG, '2', '--work-dir', str(work), '--cfg-options',
         f'train_dataloader.dataset.data_root={data}/', 'train_cfg.max_iters=3',
         # the val loader is built even when validation never runs
         f'val_dataloader.dataset.data_root={data}/',
         f'val_evaluator.ann_file={data}/annotations/instances_val.json',
         'train_cfg.val_begin=1000', 'train_dataloader.batch_size=1',
         'train_dataloader.dataset.pipeline.2.scale=(128,128)',
         "custom_imports.imports=['custom','dump_rank_weights']"],
        capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    assert 'Distributed launcher: pytorch' in log or 'launcher: pytorch' in log
    # The config trains channels-last: converted before DDP laid out its gradient buckets.
    assert 'channels_last=True' in log and 'Grad strides do not match' not in log
    rank0 = torch.load(work / 'rank0.pth', weights_only=True)
    rank1 = torch.load(work / 'rank1.pth', weights_only=True)
    assert rank0.keys() == rank1.keys()
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
    # and training really changed the weights (all-reduced gradients were applied)
    assert (work / 'iter_3.pth').is_file()
