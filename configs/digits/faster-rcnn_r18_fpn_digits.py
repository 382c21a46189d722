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
        bbox_head=dict(
            in_channels=64,
            fc_out_channels=256,
            num_classes=10,
            # GIoU on decoded boxes (mmdet's faster-rcnn_r50_fpn_giou recipe): tighter boxes,
            # which is what mAP@[.5:.95] asks for.
            reg_decoded_bbox=True,
            loss_bbox=dict(_delete_=True, type='GIoULoss', loss_weight=10.0))),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=500, max_per_img=300),
        rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=300)))

default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(by_epoch=False, interval=200))
log_processor = dict(by_epoch=False)

# 256 px input: digits of 19-77 px after scaling, a third fewer pixels than 320 on the CPU.
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(256, 256), keep_ratio=True),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='Resize', scale=(256, 256), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
]
# InfiniteSampler: one endless, seeded stream, so a resumed run sees the same batches.
train_dataloader = dict(
    sampler=dict(_delete_=True, type='InfiniteSampler', shuffle=True),
    batch_sampler=None,
    dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

# NHWC convolutions are faster on the CPU (oneDNN).
custom_hooks = [
    dict(type='FiniteLossHook', action='stop'),
    dict(type='RandomStateHook'),
    dict(type='ChannelsLastHook')
]
