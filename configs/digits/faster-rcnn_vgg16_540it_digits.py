# Faster R-CNN with VGG-16 (the original paper's single stride-16 map) on the digits set.
# From scratch on a CPU: BN in every conv (VGG-16-BN) so it trains without ImageNet weights, all
# stages trainable, anchors fitted to the 24-96 px digits, a narrower FC head.
_base_ = [
    '../_base_/models/faster-rcnn_vgg16.py', '../_base_/datasets/digits_detection.py',
    '../_base_/schedules/schedule_digits_540it.py', '../_base_/iter_based_runtime.py'
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

# 320 px, the canvases' own size: VGG-16's single stride-16 map needs the larger digits.
train_pipeline = [dict(t, scale=(320, 320)) if t['type'] == 'Resize' else t
                  for t in _base_.train_pipeline]
test_pipeline = [dict(t, scale=(320, 320)) if t['type'] == 'Resize' else t
                 for t in _base_.test_pipeline]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
