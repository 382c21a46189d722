# COCO 2017 detection under data/coco/ in the standard layout (see data/README.md): mmdet's
# dataset config with classicdet's validating dataset, which checks its JSON and every image
# header before training or testing starts (well under a minute for train2017 on a local
# disk). validation='json' skips the image headers (for slow or remote storage), 'off' skips
# the check.
_base_ = 'mmdet::_base_/datasets/coco_detection.py'

dataset_type = 'ValidatedCocoDataset'
# Images are read by classicdet's checked reader (custom/datasets/image_reading.py): a
# decompression bomb, a truncated file or a side under 8 px is refused, naming the file.
train_pipeline = [dict(t, type='CheckedLoadImageFromFile') if t['type'] == 'LoadImageFromFile'
                  else t for t in _base_.train_pipeline]
test_pipeline = [dict(t, type='CheckedLoadImageFromFile') if t['type'] == 'LoadImageFromFile'
                 else t for t in _base_.test_pipeline]
train_dataloader = dict(dataset=dict(type=dataset_type, validation='header',
                                     pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(type=dataset_type, validation='header',
                                   pipeline=test_pipeline))
test_dataloader = val_dataloader
