# The standard 12-epoch COCO schedule (SGD 0.02 for 16 images, steps at epochs 8 and 11).
_base_ = 'mmdet::_base_/schedules/schedule_1x.py'
