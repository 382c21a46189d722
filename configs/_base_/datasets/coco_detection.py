# COCO 2017 detection under data/coco/ in the standard layout (see data/README.md): mmdet's
# dataset config with classicdet's validating dataset, which checks its JSON and every image
# header before training or testing starts (well under a minute for train2017 on a local
# disk). validation='json' skips the image headers (for slow or remote storage), 'off' skips
# the check.
_base_ = 'mmdet::_base_/datasets/coco_detection.py'

dataset_type = 'ValidatedCocoDataset'
train_dataloader = dict(dataset=dict(type=dataset_type, validation='header'))
val_dataloader = dict(dataset=dict(type=dataset_type, validation='header'))
test_dataloader = val_dataloader
