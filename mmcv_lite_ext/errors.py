"""The error raised for what only mmcv's compiled extension can do."""

MMCV_VERSION = '2.1.0'


def needs_compiled_mmcv(op: str, what: str = '') -> NotImplementedError:
    """An error naming the op (and, optionally, the case) that needs a compiled mmcv.

    Args:
        op (str): Name of the ``mmcv._ext`` function, e.g. ``'deform_conv_forward'``.
        what (str): The unsupported case, e.g. ``"pool_mode='max'"``. Defaults to ''.

    Returns:
        NotImplementedError: To be raised by the caller.
    """
    case = f' with {what}' if what else ''
    return NotImplementedError(
        f"mmcv._ext.{op}{case} needs a compiled mmcv: the mmcv-lite wheel has no compiled "
        f"ops and classicdet's torch/torchvision replacement (mmcv_lite_ext) does not cover "
        f"it. Install mmcv=={MMCV_VERSION} built from source to use it.")
