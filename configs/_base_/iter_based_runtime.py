# The runtime for iteration-based schedules: log every 20 iterations, a checkpoint every 200,
# and each evaluation's metrics at its iteration (mmengine's default logs them at the epoch,
# which an iteration-based run never leaves).
_base_ = './default_runtime.py'

default_hooks = dict(
    logger=dict(interval=20, log_metric_by_epoch=False),
    checkpoint=dict(by_epoch=False, interval=200))
log_processor = dict(by_epoch=False)
