# Faster R-CNN R18-FPN sized for the digits set (digits of 24-96 px) and for a CPU: trained from
# scratch, so every stage trains and BN learns; a narrow FPN/head keeps a step under a second.
_base_ = [
    '../_base_/models/faster-rcnn_r50_fpn.py', '../_base_/datasets/digits_detection.py',
    '../_base_/schedules/schedule_digits_600it.py', '../_base_/default_runtime.py'
]

model = dict(
    backbone=dict(
        depth=18,
        frozen_stages=-1,
        norm_eval=False,
        norm_cfg=dict(type='BN', requires_grad=True),
        init_cfg=None),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=64, num_outs=4),
    rpn_head=dict(
        in_channels=64,
        feat_channels=64,
        # 24/48/96/192 px anchors on P2-P5; digits are taller than wide (ratio = h / w).
        anchor_generator=dict(scales=[6], ratios=[1.0, 1.5, 2.5], strides=[4, 8, 16, 32])),
    roi_head=dict(
        bbox_roi_extractor=dict(
            roi_layer=dict(sampling_ratio=1), out_channels=64, featmap_strides=[4, 8, 16, 32]),
        bbox_head=dict(in_channels=64, fc_out_channels=256, num_classes=10)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=500, max_per_img=300),
        rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=300)))

default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(by_epoch=False, interval=200))
log_processor = dict(by_epoch=False)

# InfiniteSampler: one endless, seeded stream, so a resumed run sees the same batches.
train_dataloader = dict(sampler=dict(_delete_=True, type='InfiniteSampler', shuffle=True),
                        batch_sampler=None)
