"""Imported by the distributed test's training processes: after training, every rank saves
its own parameters to ``<work_dir>/rank<R>.pth`` so the test can compare them."""
import torch
import torch.distributed as dist
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

_train = Runner.train


def train_and_dump(self):
    model = _train(self)
    net = self.model.module if is_model_wrapper(self.model) else self.model
    rank = dist.get_rank() if dist.is_initialized() else 0
    params = {k: v.detach().cpu() for k, v in net.named_parameters()}
    torch.save(params, f'{self.work_dir}/rank{rank}.pth')
    return model


Runner.train = train_and_dump
