_base_ = [
    '../_base_/models/faster-rcnn_vgg16.py', '../_base_/datasets/coco_detection.py',
    '../_base_/schedules/schedule_1x.py', '../_base_/default_runtime.py'
]

# ImageNet weights: convert torchvision's vgg16 file once (no download at run time):
#   python tools/model_converters/torchvision2mmdet.py vgg16-397923af.pth \
#       checkpoints/vgg16_classicdet.pth --arch vgg16
model = dict(
    backbone=dict(
        init_cfg=dict(_delete_=True, type='Pretrained',
                      checkpoint='checkpoints/vgg16_classicdet.pth')))
