# The runtime for iteration-based schedules: log every 20 iterations, a checkpoint every 200.
_base_ = './default_runtime.py'

default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(by_epoch=False, interval=200))
log_processor = dict(by_epoch=False)
