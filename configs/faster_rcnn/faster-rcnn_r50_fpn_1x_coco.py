_base_ = [
    '../_base_/models/faster-rcnn_r50_fpn.py', '../_base_/datasets/coco_detection.py',
    '../_base_/schedules/schedule_1x.py', '../_base_/default_runtime.py'
]

# NHWC convolutions: R50-FPN and VGG-16 train 10-18% faster on the CPU (oneDNN) with the same
# losses (bench/RESULTS.md); cuDNN's tensor-core kernels also prefer NHWC. Testing folds the
# batch norms into their convolutions (same detections to float rounding).
custom_hooks = [
    dict(type='FiniteLossHook', action='stop'),
    dict(type='RandomStateHook'),
    dict(type='ChannelsLastHook'),
    dict(type='FuseConvBNHook')
]
