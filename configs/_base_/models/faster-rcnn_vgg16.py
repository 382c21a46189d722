# Faster R-CNN with VGG-16 as in the original paper (Ren et al., 2015): one conv5_3 feature map
# at stride 16 with 512 channels (last max-pool dropped), no FPN, anchors of 3 scales x 3 ratios,
# RoI 7x7 then two 4096-wide FC layers, 300 test proposals. What differs from the R50-FPN model.
_base_ = './faster-rcnn_r50_fpn.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='ClassicVGG',
        depth=16,
        with_bn=False,
        out_indices=(4, ),
        with_last_pool=False,
        frozen_stages=2,  # conv1_x and conv2_x fixed, as in the paper
        init_cfg=None),
    neck=None,
    rpn_head=dict(
        in_channels=512,
        feat_channels=512,
        anchor_generator=dict(scales=[8, 16, 32], strides=[16])),  # 128, 256, 512 px
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=512, featmap_strides=[16]),
        bbox_head=dict(in_channels=512, fc_out_channels=4096)),
    # The paper's proposal counts: 12000 / 6000 candidates into NMS, 2000 / 300 kept.
    train_cfg=dict(rpn_proposal=dict(nms_pre=12000, max_per_img=2000)),
    test_cfg=dict(rpn=dict(nms_pre=6000, max_per_img=300)))
