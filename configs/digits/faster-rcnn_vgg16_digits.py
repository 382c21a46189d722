# Faster R-CNN with VGG-16 (the original paper's single stride-16 map) on the digits set.
# From scratch on a CPU: BN in every conv (VGG-16-BN) so it trains without ImageNet weights, all
# stages trainable, anchors fitted to the 24-96 px digits, a narrower FC head.
_base_ = [
    '../_base_/models/faster-rcnn_vgg16.py', '../_base_/datasets/digits_detection.py',
    '../_base_/schedules/schedule_digits_540it.py', '../_base_/default_runtime.py'
]

model = dict(
    backbone=dict(with_bn=True, frozen_stages=-1, norm_eval=False),
    rpn_head=dict(
        feat_channels=256,
        # 24/48/96 px anchors at stride 16; digits are taller than wide (ratio = h / w).
        anchor_generator=dict(scales=[1.5, 3, 6], ratios=[1.0, 1.5, 2.5])),
    roi_head=dict(
        bbox_roi_extractor=dict(roi_layer=dict(sampling_ratio=2)),
        bbox_head=dict(fc_out_channels=1024, num_classes=10)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=2000, max_per_img=300),
        rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(rpn=dict(nms_pre=1000, max_per_img=300)))

train_dataloader = dict(sampler=dict(_delete_=True, type='InfiniteSampler', shuffle=True),
                        batch_sampler=None)
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(by_epoch=False, interval=200))
log_processor = dict(by_epoch=False)

# NHWC convolutions: R50-FPN and VGG-16 train 10-18% faster on the CPU (oneDNN) with the same
# losses (bench/RESULTS.md); cuDNN's tensor-core kernels also prefer NHWC. Testing folds the
# batch norms into their convolutions (same detections to float rounding).
custom_hooks = [
    dict(type='FiniteLossHook', action='stop'),
    dict(type='RandomStateHook'),
    dict(type='ChannelsLastHook'),
    dict(type='FuseConvBNHook')
]
