"""Average recall of region proposals, as COCO's proposal metric, and a runner for generators.

The recall follows pycocotools' ``COCOeval`` with ``useCats=0`` (one class) and area range
'all': per image, proposals are taken in descending score order and each one is matched to the
still-unmatched ground-truth box of highest IoU >= t (the later box on ties, as COCOeval scans);
recall(t, n) = ground-truth boxes matched by the first n proposals of their image / all
ground-truth boxes, and AR@n is its mean over t in 0.50:0.05:0.95. Ignored ground truth
(crowd) is dropped: COCOeval only lets a proposal take an ignored box when no regular box is
left for it, so dropping them leaves the recall of the regular boxes unchanged.

mmdet's ``eval_recalls`` is not used: it matches boxes greedily by IoU regardless of score
order, which can give a different (higher) recall than COCO's metric.

Shape shorthand: P = proposals of one image, G = ground-truth boxes of one image,
T = IoU thresholds, B = proposal budgets (e.g. 100, 300, 1000). Boxes are x1y1x2y2 pixels.
"""
from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from custom.core.boxes import box_iou

# Exactly pycocotools' Params.iouThrs, so that thresholds compare bit for bit.
COCO_IOU_THRESHOLDS = np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True)
DEFAULT_PROPOSAL_NUMS = (100, 300, 1000)


def coco_true_positives(ious: np.ndarray, iou_thr: float) -> np.ndarray:
    """Which proposals match a ground-truth box, greedily in proposal order (COCOeval's rule).

    Args:
        ious (np.ndarray): (P, G) IoUs, rows in descending score order.
        iou_thr (float): a match needs IoU >= this.

    Returns:
        np.ndarray: (P,) bool, True where the proposal took a still-unmatched box.
    """
    num_props, num_gts = ious.shape
    matched_props = np.zeros(num_props, dtype=bool)
    if num_props == 0 or num_gts == 0:
        return matched_props
    iou_thr = min(iou_thr, 1 - 1e-10)  # as COCOeval, so that IoU 1 matches at t = 1
    unmatched_gts = np.ones(num_gts, dtype=bool)
    # Only rows that reach the threshold somewhere can match; skipping the rest is exact.
    for p in np.flatnonzero(ious.max(axis=1) >= iou_thr):
        candidates = np.where(unmatched_gts & (ious[p] >= iou_thr), ious[p], -np.inf)
        if not np.isfinite(candidates).any():
            continue
        best = num_gts - 1 - int(np.argmax(candidates[::-1]))  # the later box on ties
        unmatched_gts[best] = False
        matched_props[p] = True
        if not unmatched_gts.any():
            break
    return matched_props


def proposal_recalls(proposals: Sequence[np.ndarray],
                     gts: Sequence[np.ndarray],
                     scores: Sequence[np.ndarray] | None = None,
                     proposal_nums: Sequence[int] = DEFAULT_PROPOSAL_NUMS,
                     iou_thrs: Sequence[float] = COCO_IOU_THRESHOLDS) -> np.ndarray:
    """Recall at every (budget, IoU threshold), pooled over images as COCOeval does.

    Args:
        proposals (Sequence[np.ndarray]): per image (P_i, 4) x1y1x2y2.
        gts (Sequence[np.ndarray]): per image (G_i, 4) x1y1x2y2, ignored boxes left out.
        scores (Sequence[np.ndarray], optional): per image (P_i,); proposals are ranked by them
            (stable, highest first). None: proposals are already ranked.
        proposal_nums (Sequence[int]): budgets n, proposals kept per image.
        iou_thrs (Sequence[float]): IoU thresholds. Defaults to COCO's 0.50:0.05:0.95.

    Returns:
        np.ndarray: (B, T) recalls; NaN where there is no ground truth at all.

    Raises:
        ValueError: lists of different lengths, or boxes not shaped (n, 4).
    """
    if len(proposals) != len(gts) or (scores is not None and len(scores) != len(gts)):
        raise ValueError(f'proposal_recalls: need one entry per image, got {len(proposals)} '
                         f'proposal sets, {len(gts)} ground-truth sets and '
                         f'{"no" if scores is None else len(scores)} score sets')
    nums = np.asarray(proposal_nums, dtype=np.int64)
    matched = np.zeros((len(nums), len(iou_thrs)), dtype=np.int64)
    total_gts = 0
    for i, (props, img_gts) in enumerate(zip(proposals, gts)):
        props, img_gts = as_boxes(props, f'proposals[{i}]'), as_boxes(img_gts, f'gts[{i}]')
        if scores is not None:
            order = np.argsort(-np.asarray(scores[i], dtype=np.float64), kind='mergesort')
            props = props[order]
        props = props[:nums.max(initial=0)]
        total_gts += len(img_gts)
        ious = box_iou(props, img_gts)
        for t, thr in enumerate(iou_thrs):
            # Greedy matching in score order makes the first n matches those of budget n.
            hits = np.concatenate([[0], np.cumsum(coco_true_positives(ious, thr))])
            matched[:, t] += hits[np.minimum(nums, len(props))]
    if total_gts == 0:
        return np.full(matched.shape, np.nan)
    return matched / total_gts


def average_recalls(proposals: Sequence[np.ndarray],
                    gts: Sequence[np.ndarray],
                    scores: Sequence[np.ndarray] | None = None,
                    proposal_nums: Sequence[int] = DEFAULT_PROPOSAL_NUMS,
                    iou_thrs: Sequence[float] = COCO_IOU_THRESHOLDS) -> dict[int, float]:
    """AR@n: the recall averaged over the IoU thresholds, for every budget n.

    Arguments as :func:`proposal_recalls`.

    Returns:
        dict[int, float]: budget -> average recall.
    """
    recalls = proposal_recalls(proposals, gts, scores, proposal_nums, iou_thrs)
    return {int(n): float(r) for n, r in zip(proposal_nums, recalls.mean(axis=1))}


def as_boxes(boxes: np.ndarray | torch.Tensor, name: str) -> np.ndarray:
    """``boxes`` as a float64 (n, 4) array, or a ValueError naming them."""
    if isinstance(boxes, torch.Tensor):
        boxes = boxes.detach().cpu().numpy()
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.size == 0:
        return boxes.reshape(0, 4)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f'{name}: boxes must be shaped (n, 4) x1y1x2y2, got {boxes.shape}')
    return boxes


@dataclass
class ProposalRun:
    """Proposals of one generator on a set of images, and the time it took.

    Attributes:
        proposals (list[np.ndarray]): per image (P_i, 4), original-image pixels.
        scores (list[np.ndarray]): per image (P_i,).
        seconds (float): time in the generator (features given), all images.
    """
    proposals: list = field(default_factory=list)
    scores: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def num_proposals(self) -> int:
        """Proposals produced over all images."""
        return int(sum(len(p) for p in self.proposals))

    @property
    def proposals_per_second(self) -> float:
        """Proposals produced per second of generator time."""
        return self.num_proposals / self.seconds if self.seconds > 0 else float('nan')

    @property
    def ms_per_image(self) -> float:
        """Generator time per image, milliseconds."""
        return 1000 * self.seconds / max(len(self.proposals), 1)


@dataclass
class ProposalBenchmark:
    """Every generator's run on the same images, with their ground truth.

    Attributes:
        runs (dict[str, ProposalRun]): generator name -> its run.
        gts (list[np.ndarray]): per image (G_i, 4) non-ignored ground truth, original pixels.
        feature_seconds (float): backbone + neck time, all images (shared by the generators).
    """
    runs: dict = field(default_factory=dict)
    gts: list = field(default_factory=list)
    feature_seconds: float = 0.0

    def average_recalls(self, proposal_nums: Sequence[int] = DEFAULT_PROPOSAL_NUMS
                        ) -> dict[str, dict[int, float]]:
        """Generator name -> {budget: AR} on the benchmark's images."""
        return {
            name: average_recalls(run.proposals, self.gts, run.scores, proposal_nums)
            for name, run in self.runs.items()
        }


def ground_truth_by_img_id(dataset) -> dict:
    """Non-ignored ground-truth boxes of every image of an mmdet dataset, original pixels.

    Read from the dataset's annotations rather than from the pipeline's output, so that the
    boxes are in original-image coordinates whatever the order of Resize and LoadAnnotations.

    Args:
        dataset (BaseDetDataset): a dataset whose data infos carry ``img_id`` and ``instances``.

    Returns:
        dict: img_id -> (G, 4) float64 x1y1x2y2.
    """
    boxes_by_id = {}
    for index in range(len(dataset)):
        info = dataset.get_data_info(index)
        boxes = [inst['bbox'] for inst in info.get('instances', [])
                 if not inst.get('ignore_flag', 0)]
        boxes_by_id[info['img_id']] = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return boxes_by_id


def run_proposal_generators(model: nn.Module,
                            generators: dict[str, nn.Module],
                            batches: Iterable[dict],
                            gts_by_img_id: dict,
                            max_images: int | None = None) -> ProposalBenchmark:
    """Run every generator on the same images and collect proposals, timings and ground truth.

    Each batch goes through ``model.data_preprocessor`` and ``model.extract_feat`` once; every
    generator then proposes from those features (``predict(x, data_samples, rescale=True)``,
    the RPN interface), so the timings compare the proposal stage alone.

    Args:
        model (nn.Module): a two-stage detector (its backbone and neck give the features).
        generators (dict[str, nn.Module]): name -> a module with the RPN's ``predict``.
        batches (Iterable[dict]): a dataloader's batches (``inputs``, ``data_samples``).
        gts_by_img_id (dict): img_id -> (G, 4) ground truth, from :func:`ground_truth_by_img_id`.
        max_images (int, optional): stop after this many images. None: all.

    Returns:
        ProposalBenchmark: proposals in original-image pixels.
    """
    bench = ProposalBenchmark(runs={name: ProposalRun() for name in generators})
    model.eval()
    with torch.no_grad():
        for data_batch in batches:
            left = None if max_images is None else max_images - len(bench.gts)
            if left is not None and left <= 0:
                break
            data = model.data_preprocessor(data_batch, False)
            inputs, samples = data['inputs'][:left], data['data_samples'][:left]
            start = _synced_time(inputs.device)
            feats = model.extract_feat(inputs)
            bench.feature_seconds += _synced_time(inputs.device) - start
            for name, generator in generators.items():
                start = _synced_time(inputs.device)
                results = generator.predict(feats, samples, rescale=True)
                bench.runs[name].seconds += _synced_time(inputs.device) - start
                for result in results:
                    bench.runs[name].proposals.append(as_boxes(result.bboxes, name))
                    bench.runs[name].scores.append(result.scores.detach().cpu().numpy())
            bench.gts.extend(gts_by_img_id[sample.img_id] for sample in samples)
    return bench


def _synced_time(device: torch.device) -> float:
    """``time.perf_counter()`` after the device has finished its queued work."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
    return time.perf_counter()


def format_recall_table(bench: ProposalBenchmark,
                        proposal_nums: Sequence[int] = DEFAULT_PROPOSAL_NUMS) -> str:
    """A Markdown table: generator, AR@n columns, proposals per image, ms per image, proposals/s.

    Args:
        bench (ProposalBenchmark): the runs.
        proposal_nums (Sequence[int]): budgets of the AR columns.

    Returns:
        str: the table, one line per generator.
    """
    ars = bench.average_recalls(proposal_nums)
    header = (['generator'] + [f'AR@{n}' for n in proposal_nums]
              + ['proposals/img', 'ms/img', 'proposals/s'])
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for name, run in bench.runs.items():
        cells = ([name] + [f'{ars[name][n]:.3f}' for n in proposal_nums]
                 + [f'{run.num_proposals / max(len(run.proposals), 1):.0f}',
                    f'{run.ms_per_image:.1f}', f'{run.proposals_per_second:,.0f}'])
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def plot_recall_curves(bench: ProposalBenchmark, out_file: str,
                       max_proposals: int = max(DEFAULT_PROPOSAL_NUMS)) -> None:
    """Save average recall (IoU 0.5:0.95) against the number of proposals, one line each.

    Args:
        bench (ProposalBenchmark): the runs.
        out_file (str): PNG path.
        max_proposals (int): right end of the log-spaced x axis (1, 2, 5, 10, 20, 50, ...);
            the generators should have kept this many. Defaults to 1000.
    """
    import matplotlib
    matplotlib.use('Agg')  # files only; no display is needed or wanted
    import matplotlib.pyplot as plt

    steps = (10**e * m for e in range(7) for m in (1, 2, 5))
    proposal_nums = sorted({n for n in steps if n < max_proposals} | {max_proposals})
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, ars in bench.average_recalls(proposal_nums).items():
        ax.plot(list(ars), list(ars.values()), marker='o', markersize=3, label=name)
    ax.set_xscale('log')
    ax.set_xlabel('proposals per image')
    ax.set_ylabel('average recall (IoU 0.5:0.95)')
    ax.set_ylim(0, 1)
    ax.grid(True, which='both', alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_file, dpi=120)
    plt.close(fig)


def build_generators(names: Sequence[str], model: nn.Module, generator_cfg,
                     max_per_img: int) -> dict[str, nn.Module]:
    """The requested proposal generators, each keeping up to ``max_per_img`` proposals.

    ``'rpn'`` is the detector's own ``rpn_head`` (its ``test_cfg`` with ``max_per_img``
    raised); any other name is a key of ``generator_cfg.proposal_generators``, built with the
    entry's ``test_cfg`` or else ``generator_cfg.model.test_cfg.rpn``.

    Args:
        names (Sequence[str]): generator names, e.g. ('sliding', 'multi_scale', 'rpn').
        model (nn.Module): the detector.
        generator_cfg (Config): the config holding ``proposal_generators``.
        max_per_img (int): proposals kept per image (the largest AR budget).

    Returns:
        dict[str, nn.Module]: name -> generator, in the order asked.

    Raises:
        ValueError: an unknown name, or 'rpn' with a detector that has none.
    """
    from mmdet.registry import MODELS
    from mmengine.config import ConfigDict

    available = dict(generator_cfg.get('proposal_generators', None) or {})
    generators = {}
    for name in names:
        if name == 'rpn':
            rpn_head = getattr(model, 'rpn_head', None)
            if rpn_head is None:
                raise ValueError("generator 'rpn': the detector config has no rpn_head")
            rpn_head.test_cfg = ConfigDict(rpn_head.test_cfg, max_per_img=max_per_img)
            generators[name] = rpn_head
            continue
        if name not in available:
            raise ValueError(f'generator {name!r}: not in proposal_generators of the generator '
                             f'config (available: {sorted(available) + ["rpn"]})')
        entry = ConfigDict(available[name])
        test_cfg = entry.pop('test_cfg', None) or generator_cfg.model.test_cfg.rpn
        entry.test_cfg = ConfigDict(test_cfg, max_per_img=max_per_img)
        device = next(model.parameters()).device
        generators[name] = MODELS.build(entry).to(device).eval()
    return generators
