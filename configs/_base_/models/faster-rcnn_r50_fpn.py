# Faster R-CNN R50-FPN: mmdet's model with the device-portable RPN post-processing, RoI
# extractor and bbox head, so it runs on CUDA with a CPU-only mmcv build; an assigner and a
# sampler, a box coder, an RoI head and a data preprocessor that keep training on the GPU from
# waiting for the host (on the CPU: mmdet's results).
_base_ = 'mmdet::_base_/models/faster-rcnn_r50_fpn.py'

model = dict(
    data_preprocessor=dict(type='SyncFreeDetDataPreprocessor'),
    rpn_head=dict(type='PortableRPNHead', bbox_coder=dict(type='SyncFreeDeltaXYWHBBoxCoder')),
    roi_head=dict(
        type='BatchSampledRoIHead',
        bbox_roi_extractor=dict(
            type='PortableSingleRoIExtractor',
            roi_layer=dict(type='PortableRoIAlign', output_size=7, sampling_ratio=0)),
        bbox_head=dict(type='PortableShared2FCBBoxHead',
                       bbox_coder=dict(type='SyncFreeDeltaXYWHBBoxCoder'))),
    train_cfg=dict(
        rpn=dict(assigner=dict(type='SyncFreeMaxIoUAssigner'),
                 sampler=dict(type='DeviceRandomSampler')),
        rcnn=dict(assigner=dict(type='SyncFreeMaxIoUAssigner'),
                  sampler=dict(type='DeviceRandomSampler'))))
