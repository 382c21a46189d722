"""bench/infer_batch.py runs (quick mode, never recorded) and times every batch size."""
from bench import infer_batch


def test_infer_batch_quick_times_each_batch_size(tmp_path, capsys):
    timings = infer_batch.main(['--quick', '--results', str(tmp_path / 'r.md')])
    assert list(timings) == ['batch 1', 'batch 2'] and all(t.ok for t in timings.values())
    assert '| batch 2 |' in capsys.readouterr().out
    assert not (tmp_path / 'r.md').exists()
