# torchvision's COCO-trained Faster R-CNN R50-FPN (fasterrcnn_resnet50_fpn, 37.0 box AP) as a
# classicdet model. Convert its weights once (no download at run time):
#   python tools/model_converters/torchvision_detector2mmdet.py \
#       fasterrcnn_resnet50_fpn_coco-258fb6c6.pth checkpoints/faster-rcnn_r50_fpn_tv-coco.pth
# Each setting below reproduces one of torchvision's choices where mmdet's differ
# (docs/pretrained.md lists them).
_base_ = './faster-rcnn_r50_fpn_1x_coco.py'

model = dict(
    # ImageNet mean and std of torchvision's transform (the same values x 255)
    data_preprocessor=dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                           bgr_to_rgb=True, pad_size_divisor=32),
    backbone=dict(init_cfg=None),
    # anchors rounded to whole pixels, centred on the grid points
    rpn_head=dict(anchor_generator=dict(type='TorchvisionAnchorGenerator', center_offset=0)),
    roi_head=dict(bbox_roi_extractor=dict(
        # RoIAlign without the half-pixel shift, 2 x 2 samples per bin
        roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=2, aligned=False))),
    test_cfg=dict(
        # 1000 candidates per level and 1000 proposals; boxes under 1e-3 px dropped
        rpn=dict(nms_pre=1000, max_per_img=1000, nms=dict(type='nms', iou_threshold=0.7),
                 min_bbox_size=1e-3),
        # boxes under 1e-2 px dropped before NMS
        rcnn=dict(score_thr=0.05, nms=dict(type='nms', iou_threshold=0.5), max_per_img=100,
                  min_bbox_size=1e-2)))

# torchvision's resize: shorter side 800, longer at most 1333, bilinear on the float image,
# the size rounded down
test_pipeline = [
    dict(type='CheckedLoadImageFromFile', backend_args=None),
    dict(type='TorchvisionResize', min_size=800, max_size=1333),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
