# Faster R-CNN R50-FPN: mmdet's model, with an RPN head, an RoI head, a box head, an assigner,
# a sampler, a box coder and a data preprocessor that keep training on the GPU from waiting for
# the host (on the CPU: mmdet's results). RoIAlign and NMS are mmdet's own layers.
_base_ = 'mmdet::_base_/models/faster-rcnn_r50_fpn.py'

model = dict(
    data_preprocessor=dict(type='SyncFreeDetDataPreprocessor'),
    rpn_head=dict(type='PortableRPNHead', bbox_coder=dict(type='SyncFreeDeltaXYWHBBoxCoder')),
    roi_head=dict(
        type='BatchSampledRoIHead',
        bbox_head=dict(type='PortableShared2FCBBoxHead',
                       bbox_coder=dict(type='SyncFreeDeltaXYWHBBoxCoder'))),
    train_cfg=dict(
        rpn=dict(assigner=dict(type='SyncFreeMaxIoUAssigner'),
                 sampler=dict(type='DeviceRandomSampler')),
        rcnn=dict(assigner=dict(type='SyncFreeMaxIoUAssigner'),
                  sampler=dict(type='DeviceRandomSampler'))))
