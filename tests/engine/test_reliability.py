"""No lost training: atomic checkpoints, NaN guards, kill-and-resume."""
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from helpers import make_digits
from toy import make_runner

from custom.core.safe_load import load_checkpoint_safely
from custom.engine import (
    NonFiniteLossError,
    assert_finite_parameters,
    atomic_local_backend,
    write_atomically,
)


def test_nan_loss_stops_before_the_update_and_keeps_checkpoint(tmp_path):
    runner = make_runner(tmp_path, max_iters=8, interval=4, nan_at=6,
                         custom_hooks=[dict(type='FiniteLossHook', action='stop')])
    with pytest.raises(NonFiniteLossError, match=r"iteration 6: loss term 'loss_mse' is nan"):
        runner.train()
    assert not (tmp_path / 'iter_8.pth').exists()
    ckpt = load_checkpoint_safely(tmp_path / 'iter_4.pth')
    assert all(torch.isfinite(v).all() for v in ckpt['state_dict'].values())
    for p in runner.model.parameters():  # the NaN never reached the weights
        assert torch.isfinite(p).all()


def test_nan_loss_skip_drops_that_step_only(tmp_path):
    hook = dict(type='FiniteLossHook', action='skip')
    runner = make_runner(tmp_path, max_iters=8, interval=4, nan_at=6, custom_hooks=[hook])
    runner.train()
    skipped = [h for h in runner.hooks if type(h).__name__ == 'FiniteLossHook'][0].skipped_iters
    assert skipped == [6]
    final = load_checkpoint_safely(tmp_path / 'iter_8.pth')
    assert all(torch.isfinite(v).all() for v in final['state_dict'].values())


def test_non_finite_model_is_never_saved():
    model = torch.nn.Linear(2, 2)
    with torch.no_grad():
        model.weight[0, 0] = float('inf')
    with pytest.raises(FloatingPointError, match='step 7: weight has non-finite values'):
        assert_finite_parameters(model, 7)


def test_failed_save_leaves_previous_file_and_no_partial(tmp_path, monkeypatch):
    target = tmp_path / 'iter_1.pth'
    write_atomically(b'old complete checkpoint', target)

    def broken_replace(src, dst):
        raise OSError('disk full')

    monkeypatch.setattr(atomic_local_backend.os, 'replace', broken_replace)
    with pytest.raises(OSError, match='disk full'):
        write_atomically(b'new', target)
    assert target.read_bytes() == b'old complete checkpoint'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['iter_1.pth']  # temp file removed


# --- kill-and-resume on the real detector -------------------------------------------------

CONFIG = 'configs/digits/faster-rcnn_r18_fpn_540it_digits.py'
MAX_ITERS = 6


def train_command(data_root: Path, work: Path, slow_save: bool) -> list[str]:
    root = f'{data_root}/'
    imports = "['custom','slow_save']" if slow_save else "['custom']"
    return [
        sys.executable, 'tools/train.py', CONFIG, '--work-dir', str(work), '--resume',
        '--cfg-options', f'train_dataloader.dataset.data_root={root}',
        # the val loader is built even when validation never runs: point it at the test data
        f'val_dataloader.dataset.data_root={root}',
        f'val_evaluator.ann_file={root}annotations/instances_val.json',
        f'train_cfg.max_iters={MAX_ITERS}', 'train_cfg.val_begin=1000',  # no validation
        'default_hooks.checkpoint.interval=1', 'default_hooks.checkpoint.max_keep_ckpts=1',
        'train_dataloader.batch_size=2', 'default_hooks.logger.interval=1',
        'train_dataloader.dataset.pipeline.2.scale=(128,128)', f'custom_imports.imports={imports}',
        # a narrow ResNet-18: small checkpoints, so the test spends its time on kills not I/O
        'model.backbone.base_channels=16', 'model.neck.in_channels=[16,32,64,128]'
    ]


def subprocess_env() -> dict:
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    env['PYTHONPATH'] = os.pathsep.join([str(Path('tests').resolve()), env.get('PYTHONPATH', '')])
    return env


def run_until_killed(cmd, work: Path, kill_when) -> bool:
    """Start training; SIGKILL it as soon as ``kill_when(line, work)`` says so.

    Returns:
        bool: True if the process was killed, False if it finished first.
    """
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=subprocess_env())
    killed = threading.Event()

    def watch_for_saves():
        while proc.poll() is None and not killed.is_set():
            if kill_when(None, work):
                proc.send_signal(signal.SIGKILL)
                killed.set()
            time.sleep(0.02)

    watcher = threading.Thread(target=watch_for_saves, daemon=True)
    watcher.start()
    for line in proc.stdout:
        if not killed.is_set() and kill_when(line, work):
            proc.send_signal(signal.SIGKILL)
            killed.set()
    proc.wait()
    killed.set()
    watcher.join()
    return proc.returncode == -signal.SIGKILL


def saving_now(line, work: Path) -> bool:
    return line is None and any(p.name.endswith('.tmp') for p in work.glob('.iter_*'))


def after_iteration(n: int):

    def check(line, work):
        return line is not None and re.search(rf'Iter\(train\) \[\s*{n}/{MAX_ITERS}\]', line)

    return check


def assert_last_checkpoint_loadable(work: Path) -> None:
    pointer = work / 'last_checkpoint'
    if pointer.exists():
        # the record is relative to the work dir (an absolute path stays absolute)
        ckpt = load_checkpoint_safely(work / pointer.read_text().strip())
        assert 'state_dict' in ckpt and 'optimizer' in ckpt


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_matches_uninterrupted_run(tmp_path):
    data = tmp_path / 'digits'
    make_digits(data, train=8, val=2, img_size=128, min_size=24, max_size=96, seed=3,
                max_digits=5)
    straight = tmp_path / 'straight'
    subprocess.run(train_command(data, straight, slow_save=False), check=True,
                   capture_output=True, env=subprocess_env())

    work = tmp_path / 'killed'
    rng = random.Random(0)
    plan = [saving_now, after_iteration(rng.randint(1, 2)), saving_now,
            after_iteration(rng.randint(3, 5)), saving_now]
    kills = 0
    for kill_when in plan:
        kills += run_until_killed(train_command(data, work, slow_save=True), work, kill_when)
        assert_last_checkpoint_loadable(work)
    assert kills >= 5
    # The last run goes to the end.
    subprocess.run(train_command(data, work, slow_save=False), check=True, capture_output=True,
                   env=subprocess_env())
    final = load_checkpoint_safely(work / f'iter_{MAX_ITERS}.pth')
    reference = load_checkpoint_safely(straight / f'iter_{MAX_ITERS}.pth')
    assert final['meta']['iter'] == MAX_ITERS
    for key, value in reference['state_dict'].items():
        assert torch.equal(final['state_dict'][key], value), key
