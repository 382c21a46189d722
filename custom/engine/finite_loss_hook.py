"""Stop (or skip the step) on a NaN/inf loss before it reaches the weights."""
from __future__ import annotations

import math

import torch
import torch.distributed as torch_dist
from mmdet.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper


class NonFiniteLossError(FloatingPointError):
    """A loss term became NaN or inf during training."""


@HOOKS.register_module()
class FiniteLossHook(Hook):
    """Check every loss term before the optimizer step.

    The check sits between ``parse_losses`` and ``update_params``, so a NaN never reaches the
    gradients, the weights or a checkpoint.

    Args:
        action (str): 'stop' raises :class:`NonFiniteLossError` naming the iteration and the
            loss term; 'skip' drops that iteration's update (no backward, no step) and logs a
            warning. Defaults to 'stop'.
    """

    priority = 'VERY_HIGH'

    def __init__(self, action: str = 'stop') -> None:
        if action not in ('stop', 'skip'):
            raise ValueError(f"FiniteLossHook: action must be 'stop' or 'skip', got {action!r}")
        self.action = action
        self.skipped_iters: list[int] = []

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        parse_losses = model.parse_losses
        optim_wrapper = runner.optim_wrapper
        update_params = optim_wrapper.update_params
        state = {'bad': None}

        def checked_parse_losses(losses):
            loss, log_vars = parse_losses(losses)
            state['bad'] = first_non_finite_term(log_vars, loss)
            if state['bad'] is not None and self.action == 'stop':
                name, value = state['bad']
                raise NonFiniteLossError(
                    f'iteration {runner.iter + 1}: loss term {name!r} is {value}; training '
                    'stopped before the update (the last checkpoint is intact). Set '
                    "FiniteLossHook(action='skip') to skip such steps instead.")
            return loss, log_vars

        def guarded_update_params(loss, *args, **kwargs):
            if self.action == 'skip' and any_rank_flags(state['bad'] is not None, loss.device):
                self.skipped_iters.append(runner.iter + 1)
                runner.logger.warning(f'iteration {runner.iter + 1}: non-finite loss '
                                      f'{state["bad"]}, update skipped')
                optim_wrapper.zero_grad()
                return None
            return update_params(loss, *args, **kwargs)

        model.parse_losses = checked_parse_losses
        optim_wrapper.update_params = guarded_update_params


def first_non_finite_term(log_vars: dict, total: torch.Tensor) -> tuple[str, float] | None:
    """Name and value of the first non-finite loss term, or None when all are finite."""
    for name, value in log_vars.items():
        value = float(value.detach()) if isinstance(value, torch.Tensor) else float(value)
        if name != 'loss' and 'loss' in name and not math.isfinite(value):
            return name, value
    if not bool(torch.isfinite(total.detach()).all()):
        return 'loss', float(total.detach().sum())
    return None


def any_rank_flags(flag: bool, device: torch.device) -> bool:
    """True if ``flag`` is set on any process, so all ranks skip the same step together."""
    if not (torch_dist.is_available() and torch_dist.is_initialized()):
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    torch_dist.all_reduce(t)
    return bool(t.item() > 0)
