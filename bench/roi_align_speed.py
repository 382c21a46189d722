"""Time RoIAlign forward and backward: mmcv's op (on mmcv_lite_ext) vs torchvision's.

    python bench/roi_align_speed.py [--device cpu] [--repeats 7] [--threads N]

Two cases: one 64x64 feature map with 256 channels and 1,024 RoIs (sampling ratio 2, and 0),
and a digits-sized step: 8 images of 256 px, a 4-level FPN (strides 4-32) with 64 channels,
128 RoIs per image through mmdet's RoI extractor (sampling ratio 1). Contenders: ``mmcv``,
``mmcv.ops.roi_align`` as mmdet calls it (on the CPU mmcv_lite_ext's gather, whose backward
runs the gather again to differentiate it; on CUDA torchvision's kernel); ``gather``, the same
gather differentiated by autograd directly; ``torchvision``, ``torchvision.ops.roi_align``.
Prints the median of ``--repeats`` runs and the largest difference from torchvision's output
and input gradient. On a machine shared with other jobs, ``--threads 1`` gives the steadiest
comparison: multi-threaded ops then wait for cores at every parallel region.
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402


def random_rois(num_rois: int, num_images: int, image_size: float,
                generator: torch.Generator) -> torch.Tensor:
    """(R, 5) RoIs of 8 px up to half the image, some reaching past its border."""
    xy = torch.rand(num_rois, 2, generator=generator) * image_size * 1.1 - 0.05 * image_size
    wh = 8 + torch.rand(num_rois, 2, generator=generator) * image_size * 0.5
    batch = torch.randint(0, num_images, (num_rois, 1), generator=generator).float()
    return torch.cat([batch.sort(0).values, xy, xy + wh], 1)


def time_kernels(fns: dict, feats, rois, repeats: int, device: str) -> dict:
    """Median forward and backward seconds of each ``fn(feats, rois)``, its output and grads.

    The kernels take turns, run after run, so that a machine's changing load (other jobs)
    biases none of them.
    """
    times = {name: ([], []) for name in fns}
    results = {}
    for run in range(repeats + 1):  # run 0 warms up
        for name, fn in fns.items():
            inputs = [f.detach().clone().requires_grad_() for f in feats]
            sync(device)
            start = time.perf_counter()
            out = fn(inputs, rois)
            sync(device)
            mid = time.perf_counter()
            out.backward(torch.ones_like(out))
            sync(device)
            if run:
                times[name][0].append(mid - start)
                times[name][1].append(time.perf_counter() - mid)
            results[name] = (out, [i.grad for i in inputs])
    return {name: (statistics.median(times[name][0]), statistics.median(times[name][1]),
                   *results[name]) for name in fns}


def sync(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def kernels(sampling_ratio: int) -> dict:
    """Contender name -> ``fn(features (N, C, H, W), rois (R, 5), spatial_scale)``."""
    import mmcv.ops
    import torchvision

    from mmcv_lite_ext.roi_align import roi_align_gather
    return {
        'mmcv': lambda f, r, scale: mmcv.ops.roi_align(f, r, (7, 7), scale, sampling_ratio,
                                                       'avg', True),
        'gather': lambda f, r, scale: roi_align_gather(f, r, (7, 7), scale, sampling_ratio,
                                                       True),
        'torchvision': lambda f, r, scale: torchvision.ops.roi_align(f, r, (7, 7), scale,
                                                                     sampling_ratio, True),
    }


def single_level_case(device: str, generator: torch.Generator, sampling_ratio: int):
    feats = [torch.rand(2, 256, 64, 64, generator=generator).to(device)]
    rois = random_rois(1024, 2, 256.0, generator).to(device)
    return feats, rois, {name: (lambda fn: lambda inputs, r: fn(inputs[0], r, 0.25))(fn)
                         for name, fn in kernels(sampling_ratio).items()}


def fpn_extractor_case(device: str, generator: torch.Generator, sampling_ratio: int):
    from mmdet.models.roi_heads import SingleRoIExtractor
    sizes = (64, 32, 16, 8)
    feats = [torch.rand(8, 64, s, s, generator=generator).to(device) for s in sizes]
    rois = random_rois(8 * 128, 8, 256.0, generator).to(device)

    class FixedKernel(torch.nn.Module):
        """RoIAlign layer pinned to one contender, for timing only."""

        def __init__(self, fn, output_size, spatial_scale, sampling_ratio):
            super().__init__()
            self.fn, self.spatial_scale = fn, spatial_scale
            self.output_size = (output_size, output_size)  # what the extractor reads

        def forward(self, x, r):
            return self.fn(x, r, self.spatial_scale)

    def run(fn):
        layer = dict(type=lambda **kw: FixedKernel(fn, **kw), output_size=7,
                     sampling_ratio=sampling_ratio)
        extractor = SingleRoIExtractor(roi_layer=layer, out_channels=64,
                                       featmap_strides=[4, 8, 16, 32]).to(device)
        return lambda inputs, r: extractor(tuple(inputs), r)
    return feats, rois, {name: run(fn) for name, fn in kernels(sampling_ratio).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--repeats', type=int, default=7)
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    parser.add_argument('--channels-last', action='store_true',
                        help='features in channels_last memory format, as the digits configs')
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cases = {'1 level 64x64x256, 1024 RoIs, S=2': (single_level_case, 2),
             '1 level 64x64x256, 1024 RoIs, S=0 (adaptive)': (single_level_case, 0),
             'FPN P2-P5 x64, 8 img x 128 RoIs, S=1': (fpn_extractor_case, 1)}
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    print(f'device={args.device} threads={torch.get_num_threads()} memory_format='
          f'{memory_format} median of {args.repeats} runs (seconds)')
    for title, (make_case, sampling_ratio) in cases.items():
        feats, rois, fns = make_case(args.device, torch.Generator().manual_seed(0),
                                     sampling_ratio)
        feats = [f.contiguous(memory_format=memory_format) for f in feats]
        print(f'\n{title}\n{"kernel":<12} {"forward":>8} {"backward":>9} {"total":>7} '
              f'{"max |out diff|":>15} {"max |grad diff|":>16}')
        results = time_kernels(fns, feats, rois, args.repeats, args.device)
        reference = results['torchvision']
        for name, (fwd, bwd, out, grads) in results.items():
            out_diff = (out - reference[2]).abs().max().item()
            grad_diff = max((g - r).abs().max().item() for g, r in zip(grads, reference[3]))
            print(f'{name:<12} {fwd:8.3f} {bwd:9.3f} {fwd + bwd:7.3f} {out_diff:15.2e} '
                  f'{grad_diff:16.2e}')


if __name__ == '__main__':
    main()
