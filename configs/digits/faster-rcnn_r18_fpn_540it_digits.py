# Faster R-CNN R18-FPN sized for the digits set (digits of 24-96 px) and for a CPU: no weights
# are downloaded, so every stage trains and BN learns; a narrow FPN/head keeps a step under a
# second. The backbone starts from a short pre-training on the training set's own digit crops
# (CropPretrainHook below). Each change from mmdet's recipe was measured: bench/RESULTS.md.
_base_ = [
    '../_base_/models/faster-rcnn_r50_fpn.py', '../_base_/datasets/digits_detection.py',
    '../_base_/schedules/schedule_digits_540it.py', '../_base_/iter_based_runtime.py'
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
        # At test time the box head runs once more on its own boxes (test_cfg.rcnn below).
        type='IterativeBBoxRoIHead',
        # One sample point per RoIAlign bin: 2x2 points measured 9% slower a step for +0.002 mAP.
        bbox_roi_extractor=dict(
            roi_layer=dict(sampling_ratio=1), out_channels=64, featmap_strides=[4, 8, 16, 32]),
        bbox_head=dict(
            in_channels=64,
            fc_out_channels=256,
            num_classes=10,
            # One box regressor for all digits: each class alone would see a tenth of the
            # positives in a ten-minute schedule.
            reg_class_agnostic=True,
            # GIoU on decoded boxes (mmdet's faster-rcnn_r50_fpn_giou recipe): tighter boxes,
            # which is what mAP@[.5:.95] asks for.
            reg_decoded_bbox=True,
            loss_bbox=dict(_delete_=True, type='GIoULoss', loss_weight=10.0))),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=500, max_per_img=300),
        # Half the sampled RoIs positive (mmdet: a quarter): more box-regression samples.
        rcnn=dict(sampler=dict(num=128, pos_fraction=0.5))),
    # refine_steps=1: one more box-regression pass over the regressed boxes (+0.02 mAP@[.5:.95]
    # at the same weights, bench/RESULTS.md).
    test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=300), rcnn=dict(refine_steps=1)))

# A validation every 90 iterations (6 in all) draws validation loss and mAP as curves beside
# the training loss; each adds about 25 s on 2 cores, so training stays under 10 minutes.
train_cfg = dict(val_interval=90)

# AdamW learns this detector much faster than SGD in a ten-minute schedule, and lr 1e-3 faster
# than 5e-4 (bench/RESULTS.md); the base schedule's warm-up, LR steps and gradient clipping stay.
optim_wrapper = dict(optimizer=dict(_delete_=True, type='AdamW', lr=1e-3, weight_decay=0.05))

# Before the first step, the backbone learns to classify 64 px crops of the training digits
# (not on resume).
custom_hooks = _base_.custom_hooks + [
    dict(type='CropPretrainHook', epochs=0.64, batch_size=64, crop_size=64)
]
