"""A toy model, data set and runner: mmengine's machinery without a detector's cost."""
import uuid

import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import Dataset


class ToyDataset(Dataset):
    """16 fixed points of a noisy line."""

    def __init__(self):
        g = torch.Generator().manual_seed(0)
        self.x = torch.rand(16, 2, generator=g)
        self.y = self.x @ torch.tensor([[2.0], [-1.0]]) + 0.1 * torch.rand(16, 1, generator=g)

    def __len__(self):
        return 16

    def __getitem__(self, i):
        return dict(inputs=self.x[i], labels=self.y[i])


class ToyModel(BaseModel):
    """Linear + BN regression; ``nan_at`` makes the loss NaN at that (1-based) call."""

    def __init__(self, nan_at=None):
        super().__init__()
        self.linear = nn.Linear(2, 1)
        self.bn = nn.BatchNorm1d(1)
        self.nan_at = nan_at
        self.calls = 0

    def forward(self, inputs, labels=None, mode='tensor'):
        out = self.bn(self.linear(inputs))
        if mode == 'loss':
            self.calls += 1
            loss = ((out - labels)**2).mean()
            if self.calls == self.nan_at:
                loss = loss * float('nan')
            return dict(loss_mse=loss, loss_l1=(out - labels).abs().mean())
        return out


def make_runner(work_dir, max_iters, resume=False, custom_hooks=(), interval=4, nan_at=None):
    torch.manual_seed(0)
    return Runner(
        model=ToyModel(nan_at),
        work_dir=str(work_dir),
        experiment_name=f'toy_{uuid.uuid4().hex[:8]}',
        train_dataloader=dict(
            dataset=ToyDataset(),
            sampler=dict(type='InfiniteSampler', shuffle=True, seed=0),
            batch_size=4,
            num_workers=0,
            collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
        param_scheduler=[
            dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=3),
            dict(type='MultiStepLR', milestones=[5, 7], gamma=0.5, by_epoch=False, begin=0,
                 end=100)
        ],
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(
            checkpoint=dict(type='AtomicCheckpointHook', interval=interval, by_epoch=False),
            logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=list(custom_hooks),
        log_processor=dict(by_epoch=False),
        randomness=dict(seed=0),
        default_scope='mmdet',
        resume=resume)
