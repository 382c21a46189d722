"""mmdet's classes, computed so that a GPU training step does not wait for the host.

The rule: ``SyncFree<Name>`` gives what mmdet's ``<Name>`` gives (the same outputs, targets and
losses, to float rounding; where it samples the whole batch at once, the same sample sizes
from another random draw) with the same config arguments, and a config swaps one for the other
by its ``type``. What differs is how it computes: mmdet's parts read values back from the GPU
in the middle of a step (``.item()``, ``nonzero``, boolean-mask indexing, ``if tensor:``),
and each such host synchronisation leaves the GPU idle until Python has the value and queues
more work. These parts keep the work on the device, and compute it for the whole batch where
mmdet loops over images. On the CPU they take mmdet's path wherever a random draw is involved,
so CPU training reproduces mmdet's for a seed. ``bench/sync_count.py`` counts the waits.

=============================  ==================================================
classicdet                     replaces mmdet's
=============================  ==================================================
SyncFreeDetDataPreprocessor    DetDataPreprocessor
SyncFreeRPNHead                RPNHead
SyncFreeStandardRoIHead        StandardRoIHead
SyncFreeShared2FCBBoxHead      Shared2FCBBoxHead
SyncFreeMaxIoUAssigner         MaxIoUAssigner
SyncFreeRandomSampler          RandomSampler
SyncFreeDeltaXYWHBBoxCoder     DeltaXYWHBBoxCoder
SyncFreeBboxOverlaps2D         BboxOverlaps2D
=============================  ==================================================
"""
from .sync_free_bbox_overlaps_2d import SyncFreeBboxOverlaps2D
from .sync_free_delta_xywh_bbox_coder import SyncFreeDeltaXYWHBBoxCoder
from .sync_free_det_data_preprocessor import SyncFreeDetDataPreprocessor
from .sync_free_max_iou_assigner import SyncFreeMaxIoUAssigner
from .sync_free_random_sampler import SyncFreeRandomSampler
from .sync_free_rpn_head import SyncFreeRPNHead
from .sync_free_shared2fc_bbox_head import SyncFreeShared2FCBBoxHead
from .sync_free_standard_roi_head import SyncFreeStandardRoIHead

__all__ = [
    'SyncFreeBboxOverlaps2D', 'SyncFreeDeltaXYWHBBoxCoder', 'SyncFreeDetDataPreprocessor',
    'SyncFreeMaxIoUAssigner', 'SyncFreeRandomSampler', 'SyncFreeRPNHead',
    'SyncFreeShared2FCBBoxHead', 'SyncFreeStandardRoIHead', 'mmdet_name'
]

PREFIX = 'SyncFree'


def mmdet_name(name: str) -> str:
    """The mmdet class a part named ``name`` stands in for (``name`` itself if none)."""
    return name[len(PREFIX):] if name.startswith(PREFIX) and name in __all__ else name
