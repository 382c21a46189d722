"""Resuming an mmengine run on torch >= 2.6 through the allow-list, and refusing unsafe files."""
import collections
import os
import pickle

import pytest
import torch
from toy import make_runner

from custom.core.safe_load import UnsafeCheckpointError, load_checkpoint_safely


def test_resume_continues_exactly(tmp_path):
    straight = make_runner(tmp_path / 'straight', max_iters=8)
    straight.train()

    first = make_runner(tmp_path / 'split', max_iters=4)
    first.train()
    ckpt = tmp_path / 'split' / 'iter_4.pth'
    assert (tmp_path / 'split' / 'last_checkpoint').read_text().strip() == ckpt.name
    saved = torch.load(ckpt, weights_only=True)  # plain weights-only load works
    assert saved['meta']['iter'] == 4

    second = make_runner(tmp_path / 'split', max_iters=8, resume=True)
    second.train()
    assert second.iter == 8
    # Same data order, LR schedule and optimizer state => bit-identical weights.
    for (name, a), (_, b) in zip(straight.model.state_dict().items(),
                                 second.model.state_dict().items()):
        assert torch.equal(a, b), name
    lr_straight = straight.optim_wrapper.get_lr()['lr']
    assert second.optim_wrapper.get_lr()['lr'] == lr_straight
    assert lr_straight == [pytest.approx(0.1 * 0.25)]  # two MultiStepLR steps happened
    mom_a = straight.optim_wrapper.optimizer.state_dict()['state']
    mom_b = second.optim_wrapper.optimizer.state_dict()['state']
    for k in mom_a:
        assert torch.equal(mom_a[k]['momentum_buffer'], mom_b[k]['momentum_buffer'])
    # The message hub came back through the plain-data path.
    hub = second.message_hub.log_scalars['train/loss_mse']
    assert len(hub.data[0]) == 8


class Payload:
    """An object whose unpickling runs a command."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}', ))


class GetattrPayload:
    """Reaches a callable through builtins.getattr, as default HistoryBuffer pickles do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        # what a crafted file would do: reach an attribute of an allow-listed class
        return (getattr, (collections.Counter, 'fromkeys'))


def test_malicious_checkpoint_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'meta': Payload(marker)}, path)
    with pytest.raises(UnsafeCheckpointError, match='evil.pth: refused'):
        load_checkpoint_safely(path)
    # mmengine's own loader (used by resume and load_from) is refused the same way.
    from mmengine.runner.checkpoint import _load_checkpoint
    with pytest.raises(pickle.UnpicklingError):
        _load_checkpoint(str(path), map_location='cpu')
    assert not marker.exists()


def test_getattr_is_not_allow_listed(tmp_path):
    path = tmp_path / 'getattr.pth'
    torch.save({'state_dict': {}, 'x': GetattrPayload(tmp_path)}, path)
    with pytest.raises(UnsafeCheckpointError, match='getattr'):
        load_checkpoint_safely(path)


def test_not_a_checkpoint_is_named(tmp_path):
    path = tmp_path / 'notes.pth'
    path.write_text('just some text')
    with pytest.raises(UnsafeCheckpointError, match='notes.pth: not a checkpoint'):
        load_checkpoint_safely(path)
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        load_checkpoint_safely(tmp_path / 'missing.pth')
