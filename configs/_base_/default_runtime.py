# classicdet runtime: mmdet's defaults plus atomic checkpoints and a NaN guard.
_base_ = 'mmdet::_base_/default_runtime.py'

custom_imports = dict(imports=['custom'], allow_failed_imports=False)

default_hooks = dict(
    # Atomic saves; outdated checkpoints removed only after the new one is complete.
    checkpoint=dict(
        type='AtomicCheckpointHook',
        interval=1,
        max_keep_ckpts=3,
        save_best='coco/bbox_mAP',
        rule='greater'))

# ClassCountCheckHook: training, validation and testing refuse, in one line, a head whose
# num_classes is not the dataset's class count.
# FiniteLossHook: 'stop' ends the run on a NaN/inf loss before the update; 'skip' drops that
# step instead. RandomStateHook: a resumed run draws the same random samples as an
# uninterrupted one. ChannelsLastHook: NHWC convolutions, 10-18% faster training on the CPU
# (oneDNN) with the same losses to float rounding, and what cuDNN's tensor-core kernels prefer
# (bench/RESULTS.md). FuseConvBNHook: testing folds batch norms into their convolutions (same
# detections to float rounding). SlicedInferenceHook: testing slices each image into tiles
# when model.test_cfg.slicing is set (tools/test.py --slice-size), and does nothing otherwise.
# FineTuneCheckpointHook: a run that starts from a checkpoint (load_from, tools/train.py
# --load-from) loads the weights that fit and names the layers it re-initialises.
# ValidationLossHook: each validation also logs the training losses on the validation set
# (val/loss, val/loss_rpn_cls, ...), sharing the backbone pass with the predictions.
custom_hooks = [
    dict(type='ClassCountCheckHook'),
    dict(type='FiniteLossHook', action='stop'),
    dict(type='RandomStateHook'),
    dict(type='ChannelsLastHook'),
    dict(type='FuseConvBNHook'),
    dict(type='SlicedInferenceHook'),
    dict(type='FineTuneCheckpointHook'),
    dict(type='ValidationLossHook')
]

# A fixed seed: two runs of the same config draw the same samples (resume relies on it too).
randomness = dict(seed=0)
