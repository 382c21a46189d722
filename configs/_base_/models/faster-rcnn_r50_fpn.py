# Faster R-CNN R50-FPN: mmdet's model. Each SyncFree<Name> is mmdet's <Name> with the same
# results, computed so that a GPU training step does not wait for the host
# (custom/models/sync_free). RoIAlign and NMS are mmcv's own layers.
_base_ = 'mmdet::_base_/models/faster-rcnn_r50_fpn.py'

model = dict(
    data_preprocessor=dict(type='SyncFreeDetDataPreprocessor'),
    rpn_head=dict(type='SyncFreeRPNHead', bbox_coder=dict(type='SyncFreeDeltaXYWHBBoxCoder')),
    roi_head=dict(
        type='SyncFreeStandardRoIHead',
        bbox_head=dict(type='SyncFreeShared2FCBBoxHead',
                       bbox_coder=dict(type='SyncFreeDeltaXYWHBBoxCoder'))),
    train_cfg=dict(
        rpn=dict(assigner=dict(type='SyncFreeMaxIoUAssigner'),
                 sampler=dict(type='SyncFreeRandomSampler')),
        rcnn=dict(assigner=dict(type='SyncFreeMaxIoUAssigner'),
                  sampler=dict(type='SyncFreeRandomSampler'))))
