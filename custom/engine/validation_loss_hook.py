"""Validation loss: the training losses on the validation set, at every validation.

Each validation batch goes through the backbone, neck and dense head once; the losses
(``model.loss``) and the predictions the metric scores (``model.predict``) both read those
outputs, so the losses cost only the target assignment and the RoI head's sampled RoIs, not a
second pass of the network.
"""
from __future__ import annotations

import contextlib

import torch
import torch.distributed as torch_dist
from mmdet.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from .random_state_hook import capture_random_state, restore_random_state

__all__ = ['ValidationLossHook', 'validation_losses', 'gt_in_original_frame']


@HOOKS.register_module()
class ValidationLossHook(Hook):
    """Log the training losses measured on the validation set as ``val/loss``,
    ``val/loss_rpn_cls``, ``val/loss_bbox``, ... beside the validation metrics.

    The losses are ``model.loss`` on each validation batch with the model in eval mode (batch
    norms use their running statistics and update nothing), under ``torch.no_grad``. Sampling
    in the loss (the RoI sampler) draws random numbers: the generators' states are restored
    afterwards, so training continues exactly as it would without this hook: same weights,
    optimizer, random stream and data order. Each term is averaged over the validation
    images (a batch's loss weighs as many images as it holds); under DDP the mean is over
    all ranks' images.

    Test pipelines load the boxes after the resize (mmdet keeps them in the original image's
    pixels for evaluation); the losses need them in the network input's pixels, so such boxes
    are scaled by each image's ``scale_factor``, as the training pipeline's resize does.

    Args:
        prefix (str): prefix of the logged names. Defaults to 'val/'.
    """

    # after_val_epoch must add the losses to the metrics before RuntimeInfoHook (VERY_HIGH)
    # hands them to the message hub that the logger writes.
    priority = 'HIGHEST'

    def __init__(self, prefix: str = 'val/') -> None:
        self.prefix = prefix
        self._sums: dict[str, float] = {}
        self._images = 0
        self._model = None

    def before_val(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if not all(hasattr(model, name) for name in ('loss', 'predict', 'extract_feat')):
            runner.logger.warning(f'ValidationLossHook: {type(model).__name__} is not an mmdet '
                                  'detector (loss/predict/extract_feat); no validation loss')
            return
        # The last validation's losses would show in this one's per-iteration log lines.
        scalars = runner.message_hub.log_scalars
        for key in [k for k in scalars if k.startswith(f'val/{self.prefix}')]:
            del scalars[key]
        dataset = runner.val_dataloader.dataset
        rescale = gt_in_original_frame(getattr(dataset, 'pipeline', None))
        self._sums, self._images, self._model = {}, 0, model

        def val_step(data):
            data = model.data_preprocessor(data, False)
            inputs, samples = data['inputs'], data['data_samples']
            with torch.no_grad(), shared_features(model, inputs):
                # Features and dense-head outputs first, so that the loss below costs only
                # what it adds (what bench/validation_loss_cost.py times).
                feats = model.extract_feat(inputs)
                for head in dense_heads(model):
                    head(feats)
                if samples and all('gt_instances' in s for s in samples):
                    self._add(validation_losses(model, inputs, samples, rescale), len(samples))
                return model._run_forward(data, mode='predict')

        model.val_step = val_step  # an instance attribute: DDP wrappers call module.val_step

    def after_val_epoch(self, runner, metrics: dict | None = None) -> None:
        if self._model is None:
            return
        means = self._reduced_means()
        if metrics is not None:
            metrics.update({f'{self.prefix}{name}': value for name, value in means.items()})

    def after_val(self, runner) -> None:
        if self._model is not None:
            self._model.__dict__.pop('val_step', None)
        self._model = None

    def _add(self, log_vars: dict[str, float], images: int) -> None:
        for name, value in log_vars.items():
            self._sums[name] = self._sums.get(name, 0.0) + value * images
        self._images += images

    def _reduced_means(self) -> dict[str, float]:
        """Mean of each term over the images of every rank."""
        names = sorted(self._sums)
        totals = torch.tensor([self._sums[n] for n in names] + [float(self._images)],
                              dtype=torch.float64)
        if torch_dist.is_available() and torch_dist.is_initialized():
            device = (torch.device('cuda', torch.cuda.current_device())
                      if torch_dist.get_backend() == 'nccl' else torch.device('cpu'))
            totals = totals.to(device)
            torch_dist.all_reduce(totals)
            totals = totals.cpu()
        images = float(totals[-1])
        if images == 0:
            return {}
        means = {name: float(totals[i]) / images for i, name in enumerate(names)}
        # The total first, as in the training log.
        return dict(sorted(means.items(), key=lambda item: item[0] != 'loss'))


@contextlib.contextmanager
def shared_features(model, inputs: torch.Tensor):
    """Within the block, ``model.extract_feat(inputs)`` runs once, and so does the forward of
    the dense head (``rpn_head`` or a one-stage ``bbox_head``) on those features: the loss
    and the prediction read the same outputs."""
    cache: dict[str, object] = {}
    patched = []

    def share(owner, name: str, expected):
        original = getattr(owner, name)

        def shared(*args, **kwargs):
            if kwargs or len(args) != 1 or args[0] is not expected():
                return original(*args, **kwargs)
            key = f'{id(owner)}.{name}'
            if key not in cache:
                cache[key] = original(*args)
            return cache[key]

        setattr(owner, name, shared)  # an instance attribute; nn.Module.__call__ finds it
        patched.append((owner, name))

    share(model, 'extract_feat', lambda: inputs)
    for head in dense_heads(model):
        share(head, 'forward', lambda: cache.get(f'{id(model)}.extract_feat'))
    try:
        yield
    finally:
        for owner, name in patched:
            owner.__dict__.pop(name, None)


def dense_heads(model) -> list:
    """The heads that run on the whole feature maps: a two-stage ``rpn_head``, a one-stage
    ``bbox_head``."""
    return [head for head in (getattr(model, name, None) for name in ('rpn_head', 'bbox_head'))
            if isinstance(head, torch.nn.Module)]


def validation_losses(model, inputs: torch.Tensor, samples: list,
                      rescale_gt: bool) -> dict[str, float]:
    """``model.loss`` on one preprocessed batch, as the training log names its terms.

    Args:
        model: an mmdet detector (not a DDP wrapper).
        inputs (Tensor): (B, 3, H, W) preprocessed images.
        samples (list[DetDataSample]): B samples with ``gt_instances``.
        rescale_gt (bool): the boxes are in the original image's pixels (test pipeline);
            scale them by each sample's ``scale_factor``.

    Returns:
        dict[str, float]: 'loss' (the sum of the terms) then each term, as
        ``model.parse_losses`` gives them (per-level lists summed).
    """
    if rescale_gt:
        samples = [to_input_frame(sample) for sample in samples]
    state = capture_random_state()
    try:
        losses = model.loss(inputs, samples)
    finally:
        restore_random_state(state)
    # The class's parse_losses: a hook may wrap the instance's for training steps only.
    _, log_vars = type(model).parse_losses(model, losses)
    return {name: float(value) for name, value in log_vars.items()}


def to_input_frame(sample):
    """A copy of ``sample`` whose gt (and ignored) boxes are scaled by its ``scale_factor``
    and clipped to its ``img_shape``, as mmdet's Resize does in a training pipeline."""
    sample = sample.clone()
    w_scale, h_scale = sample.metainfo['scale_factor']
    height, width = sample.metainfo['img_shape'][:2]
    for field in ('gt_instances', 'ignored_instances'):
        if field not in sample or 'bboxes' not in sample.get(field):
            continue
        instances = sample.get(field)
        boxes = instances.bboxes
        tensor = boxes.tensor if hasattr(boxes, 'tensor') else boxes
        tensor = tensor * tensor.new_tensor([w_scale, h_scale, w_scale, h_scale])
        tensor[:, 0::2] = tensor[:, 0::2].clamp(0, width)
        tensor[:, 1::2] = tensor[:, 1::2].clamp(0, height)
        instances.bboxes = type(boxes)(tensor) if hasattr(boxes, 'tensor') else tensor
    return sample


def gt_in_original_frame(pipeline) -> bool:
    """Whether ``pipeline`` (an mmengine Compose) loads the boxes after resizing the image,
    which leaves them in the original image's pixels."""
    names = [type(t).__name__ for t in getattr(pipeline, 'transforms', [])]
    loads = [i for i, name in enumerate(names) if 'LoadAnnotations' in name]
    if not loads:
        return False
    return any('Resize' in name for name in names[:loads[0]])
