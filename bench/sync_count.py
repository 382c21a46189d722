"""Host synchronisations and ops per training step: classicdet vs stock mmdet vs torchvision.

    python bench/sync_count.py [--size 512 512] [--batch 2] [--inference] [--quick]
        [--no-record]

On a GPU, a detector's training step is held back by the points where Python needs a value
from the device (``.item()``, ``if tensor:``, ``nonzero``, ``unique``, boolean-mask
indexing): the host waits for the GPU's queue to drain, then the GPU waits for the host to
launch more. This counts them, and all aten ops dispatched (about the kernels a GPU would
launch), in one R50-FPN training step of each contender of bench/train_speed.py, on the CPU,
in total and per phase (preprocessing, backbone + neck, RPN, RoI head, backward + optimizer;
SGD with its multi-tensor update, as it runs on CUDA). ``--inference`` counts one inference
call of bench/infer_speed.py's contenders instead (one image, ``--size`` default 800x1333).
mmcv's RoIAlign runs torchvision's kernel, as mmcv_lite_ext runs it on CUDA tensors (NMS is
torchvision's on every device), and classicdet's heads sample the batch at once as on CUDA,
so a machine without a GPU counts what a GPU run will wait on. Counts are exact and
repeatable; no timing.
"""
from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from bench.common import (  # noqa: E402
    SyncCounter,
    add_common_args,
    apply_common_args,
    markdown_table,
    register_modules,
    report,
)
from bench.train_speed import train_steps  # noqa: E402

KINDS = ('_local_scalar_dense', 'is_nonzero', 'nonzero', 'index[bool]', 'index_put[bool]',
         '_unique2', 'masked_select', 'lift_fresh', 'nms')


@contextlib.contextmanager
def cuda_op_backends():
    """Run the models' code on CPU tensors as it runs on CUDA tensors: mmcv's RoIAlign through
    torchvision's kernel, and classicdet's RPN and RoI head sampling the whole batch."""
    import torchvision

    import mmcv_lite_ext.roi_align as ext_roi_align
    from custom.models.sync_free import SyncFreeRPNHead, SyncFreeStandardRoIHead
    heads = (SyncFreeRPNHead, SyncFreeStandardRoIHead)
    originals = {head: head._samples_batch for head in heads}
    cpu_gather = ext_roi_align.roi_align_gather

    def torchvision_roi_align(input, rois, output_size, spatial_scale, sampling_ratio, aligned):
        return torchvision.ops.roi_align(input, rois.to(input.dtype), output_size,
                                         spatial_scale, sampling_ratio, aligned)

    def as_on_cuda(original):
        def samples_batch(head, device, *args):
            return original(head, torch.device('cuda'), *args)
        return samples_batch
    try:
        ext_roi_align.roi_align_gather = torchvision_roi_align
        for head, original in originals.items():
            head._samples_batch = as_on_cuda(original)
        yield
    finally:
        for head, original in originals.items():
            head._samples_batch = original
        ext_roi_align.roi_align_gather = cpu_gather


def count_step(step) -> SyncCounter:
    """Run ``step`` once to warm up, then once inside a :class:`SyncCounter`."""
    step()
    with SyncCounter() as counter:
        step()
    return counter


def phase_table(results: dict[str, SyncCounter]) -> str:
    """Markdown table: phase -> 'ops / syncs' of each contender."""
    phases = sorted({phase for counter in results.values() for phase in counter.phase_ops})
    rows = [[phase] + [f'{counter.phase_ops[phase]} / {counter.phase_syncs[phase]}'
                       for counter in results.values()] for phase in phases]
    return markdown_table(['phase'] + list(results), rows)


def count_inference(args: argparse.Namespace, argv: list[str] | None) -> dict:
    """Ops and host syncs of one inference call of each of infer_speed.py's contenders."""
    from bench.infer_speed import inference_calls
    size = (64, 96) if args.quick else tuple(args.size or (800, 1333))
    register_modules()
    calls = inference_calls(size, 'cpu', False, stock=True,
                            proposals=64 if args.quick else None)
    results = {}
    for name, call in calls.items():
        with cuda_op_backends():
            results[name] = count_step(call)
    rows = [[name, counter.ops, sum(counter.syncs.values())]
            + [counter.syncs.get(kind, 0) for kind in KINDS]
            for name, counter in results.items()]
    body = markdown_table(['contender', 'aten ops', 'host syncs'] + list(KINDS), rows)
    body += (f'\n\nOne inference call (bench/infer_speed.py), {size[0]}x{size[1]}, one image, '
             'CPU, after one warm-up call; mmcv\'s NMS and RoIAlign as they run on CUDA '
             '(torchvision\'s kernels, through mmcv_lite_ext).')
    report(args, __file__, argv if argv is not None else sys.argv[1:],
           'Host synchronisations per inference call (R50-FPN, one image)', body)
    return results


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--size', type=int, nargs=2, default=None, metavar=('H', 'W'),
                        help='input (default 512 512 for a training step, 800 1333 for '
                             'inference)')
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--inference', action='store_true',
                        help="count one inference call (infer_speed.py's) instead of a step")
    add_common_args(parser, repeats=1, warmup=1)
    args = parser.parse_args(argv)
    apply_common_args(args)
    if args.device != 'cpu':
        parser.error('sync_count.py counts on the CPU (--device cpu)')
    if args.inference:
        return count_inference(args, argv)
    size, batch, counts = tuple(args.size or (512, 512)), args.batch, {}
    if args.quick:
        size, batch, counts = (64, 64), 1, dict(proposals=64, rois=16)
    register_modules()
    torch.manual_seed(0)
    steps = train_steps('r50', size, batch, 'cpu', False, 0.002, counts, phases=True,
                        foreach=True)
    results = {}
    for name, step in steps.items():
        with cuda_op_backends():
            results[name] = count_step(step)

    rows = []
    for name, counter in results.items():
        rows.append([name, counter.ops, sum(counter.syncs.values())]
                    + [counter.syncs.get(kind, 0) for kind in KINDS])
    body = markdown_table(['contender', 'aten ops', 'host syncs'] + list(KINDS), rows)
    body += '\n\nPer phase, aten ops / host syncs:\n\n' + phase_table(results)
    body += (f'\n\nOne R50-FPN training step, {size[0]}x{size[1]}, batch {batch}, CPU, after one '
             'warm-up step; both mmdet models with mmcv\'s NMS and RoIAlign as they run on '
             'CUDA (torchvision\'s kernels, through mmcv_lite_ext), classicdet\'s heads '
             'sampling the batch at once as on CUDA. Each host sync is a point where a CUDA '
             'run waits for the GPU to finish all queued work.')
    report(args, __file__, argv if argv is not None else sys.argv[1:],
           f'Host synchronisations per training step (R50-FPN, batch {batch})', body)
    return results


if __name__ == '__main__':
    main()
