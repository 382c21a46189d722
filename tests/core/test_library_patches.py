"""The changes custom.core.library_patches makes to mmengine and mmdet: each works, and each
test fails when the library code it relies on changes (a fingerprint of that code), so an
upgrade shows which patch to look at again."""
import hashlib
import inspect

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub

from custom.core import library_patches


def fingerprint(obj) -> str:
    return hashlib.sha256(inspect.getsource(obj).encode()).hexdigest()[:16]


# --- HistoryBuffer.__reduce__ --------------------------------------------------------------

def test_history_buffer_pickles_as_constructor_and_lists(tmp_path):
    library_patches.install()
    buffer = HistoryBuffer([1.0, 2.5], [1, 2], max_length=7)
    func, args = buffer.__reduce__()
    assert func is HistoryBuffer
    assert args == ([1.0, 2.5], [1, 2], 7)
    assert all(type(a) in (list, int) for a in args)
    torch.save({'buffer': buffer}, tmp_path / 'hub.pth')
    loaded = torch.load(tmp_path / 'hub.pth', weights_only=True)['buffer']
    assert loaded.max_length == 7
    np.testing.assert_array_equal(loaded.data[0], [1.0, 2.5])
    np.testing.assert_array_equal(loaded.data[1], [1, 2])


def test_history_buffer_code_the_patch_relies_on_is_unchanged():
    """The patch calls HistoryBuffer(log_history, count_history, max_length) and reads
    ``buffer.data`` and ``buffer.max_length``: mmengine 0.10.7's code for them."""
    params = list(inspect.signature(HistoryBuffer.__init__).parameters)
    assert params == ['self', 'log_history', 'count_history', 'max_length']
    assert fingerprint(HistoryBuffer.__init__) == '93db6a00fc8a27cd'
    assert fingerprint(HistoryBuffer.data.fget) == '3b57118c5550afc6'


# --- MessageHub.state_dict -----------------------------------------------------------------

def test_message_hub_state_dict_is_plain(tmp_path):
    library_patches.install()
    hub = MessageHub('library_patches_test')
    hub.update_info('eta', np.float64(12.5))
    hub.update_info('sizes', np.arange(3))
    state = hub.state_dict()
    assert type(state['runtime_info']['eta']) is float
    assert state['runtime_info']['sizes'] == [0, 1, 2]
    torch.save(state, tmp_path / 'state.pth')
    assert torch.load(tmp_path / 'state.pth', weights_only=True)['runtime_info']['eta'] == 12.5


def test_message_hub_state_dict_is_wrapped_once():
    library_patches.install()
    library_patches.patch_message_hub_state_dict()
    original = MessageHub.state_dict.__wrapped__
    assert not hasattr(original, '__wrapped__')
    assert fingerprint(original) == '4a10b3431aabfbfc'


# --- CocoMetric's module globals -----------------------------------------------------------

def test_faster_coco_api_swaps_and_restores_coco_metric_globals():
    from mmdet.evaluation.metrics import coco_metric

    class FakeCOCO:
        pass

    class FakeEval:
        pass

    before = {name: getattr(coco_metric, name) for name in library_patches.COCO_METRIC_GLOBALS}
    with library_patches.faster_coco_api(FakeCOCO, FakeEval):
        assert coco_metric.COCO is FakeCOCO and coco_metric.COCOeval is FakeEval
        assert coco_metric.dump is library_patches.dump_json_at_once
    assert {name: getattr(coco_metric, name)
            for name in library_patches.COCO_METRIC_GLOBALS} == before
    with pytest.raises(RuntimeError), library_patches.faster_coco_api(FakeCOCO, FakeEval):
        raise RuntimeError('restored even on error')
    assert coco_metric.COCOeval is before['COCOeval']


def test_coco_metric_still_reads_the_swapped_globals():
    """CocoMetric must still take COCO, COCOeval and dump from its module's globals (mmdet
    3.3.0's code); if it stops doing so, the swap silently does nothing."""
    from mmdet.evaluation.metrics import coco_metric
    source = inspect.getsource(coco_metric.CocoMetric)
    assert 'COCOeval(' in source and 'COCO(' in source and 'dump(' in source
    assert fingerprint(coco_metric.CocoMetric.compute_metrics) == 'e61806b2116b30b3'
    assert fingerprint(coco_metric.CocoMetric.__init__) == '09a76f9daa9f02cb'
    assert fingerprint(coco_metric.CocoMetric.results2json) == 'edea5f0ac95b0f14'


def test_dump_json_at_once_writes_what_mmengine_writes(tmp_path):
    from mmengine.fileio import dump
    obj = [{'image_id': 1, 'bbox': [1.5, 2.0, 3.0, 4.25], 'score': 0.5}]
    library_patches.dump_json_at_once(obj, str(tmp_path / 'a.json'))
    dump(obj, str(tmp_path / 'b.json'))
    assert (tmp_path / 'a.json').read_text() == (tmp_path / 'b.json').read_text()
