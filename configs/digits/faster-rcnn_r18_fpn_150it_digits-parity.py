# Fine-tuning example (docs/custom_dataset.md): the digits as two classes, even and odd,
# fine-tuned from the 10-class demo detector (tools/train.py --load-from).
_base_ = './faster-rcnn_r18_fpn_540it_digits.py'

classes = ('even', 'odd')
data = dict(data_root='data/digits/', metainfo=dict(classes=classes))
train_dataloader = dict(dataset=dict(ann_file='annotations/parity_train.json', **data))
val_dataloader = dict(dataset=dict(ann_file='annotations/parity_val.json', **data))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file='data/digits/annotations/parity_val.json')
test_evaluator = val_evaluator
model = dict(roi_head=dict(bbox_head=dict(num_classes=len(classes))))

# Image size: the base's 256 px (a Resize scale in train_pipeline / test_pipeline to change).
# Schedule: 150 iterations, warm-up over the first 30, LR x0.1 at 75% and 90%.
train_cfg = dict(max_iters=150, val_interval=150)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=30),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=150, milestones=[112, 135], gamma=0.1)
]
