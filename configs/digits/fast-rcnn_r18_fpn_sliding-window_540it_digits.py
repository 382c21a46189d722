# Fast R-CNN-style digits detector: the RPN of faster-rcnn_r18_fpn_540it_digits.py is replaced by
# learning-free sliding windows (the course's road to detection before region proposals); the
# RoI head learns on those windows plus the ground-truth boxes its sampler adds.
# `proposal_generators` lists the road's steps for tools/analysis_tools/proposal_recall.py.
# Window sizes are network-input pixels: 256 px input, digits of 19-77 px (h / w about 1.4).
_base_ = './faster-rcnn_r18_fpn_540it_digits.py'

custom_imports = dict(imports=['custom'], allow_failed_imports=False)

# Windows are ranked by centre-surround contrast of the finest FPN level's activation (the
# window's mean minus that of a ring a quarter of its size wide); see base_window_proposals.py.
window_score = dict(score='feature_contrast', context=0.25, feat_level=0)

# One window shaped like a median digit, moved by a quarter of its size.
sliding_windows = dict(
    type='SlidingWindowProposals', window_size=(32, 45), stride=(8, 11), **window_score)
# At most 2000 windows, the best by score, enter NMS: as many as the RPN's 4 levels x 500, and
# it bounds NMS time (its cost grows with the square of the candidates).
window_proposal_cfg = dict(
    nms_pre=2000, nms=dict(type='nms', iou_threshold=0.7), max_per_img=300)

model = dict(
    rpn_head=dict(_delete_=True, **sliding_windows),
    train_cfg=dict(rpn_proposal=window_proposal_cfg),
    test_cfg=dict(rpn=window_proposal_cfg))

# The road to detection, one step at a time; `--generators` of proposal_recall.py picks among
# the keys (plus 'rpn', the RPN of the detector config it is given).
proposal_generators = dict(
    # Equal windows: the same window tiling the image without overlap (stride = window).
    equal=dict(sliding_windows, stride=(32, 45)),
    sliding=sliding_windows,
    # Five sizes a factor sqrt(2) apart and three shapes on the same image, a quarter-window step.
    multi_scale=dict(
        type='MultiScaleWindowProposals',
        sizes=[20, 28, 40, 56, 80],
        ratios=[1.0, 1.4, 2.0],
        relative_stride=0.25,
        **window_score),
    # The sliding window over the image rescaled by 2 ... 0.5: 16x22 to 64x90 px windows.
    pyramid=dict(
        type='ImagePyramidProposals',
        window_size=(32, 45),
        stride=(8, 11),
        scales=[2.0, 1.41, 1.0, 0.71, 0.5],
        **window_score))
# What the ranking is worth: the pyramid's windows ranked by the mean activation alone, and at
# random (seeded).
proposal_generators.update(
    pyramid_mean=dict(proposal_generators['pyramid'], score='feature_mean'),
    pyramid_random=dict(proposal_generators['pyramid'], score='random', seed=0))
