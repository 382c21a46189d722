"""Small helpers around mmdet's CocoMetric output files."""
from __future__ import annotations

import os
import os.path as osp

from .cli import CLIError


def results_file_for(out: str) -> str:
    """The file CocoMetric writes for ``outfile_prefix = splitext(out)[0]``."""
    return osp.splitext(osp.abspath(out))[0] + '.bbox.json'


def move_results_file(out: str) -> None:
    """Rename CocoMetric's ``<prefix>.bbox.json`` to the path the user asked for."""
    written = results_file_for(out)
    if not osp.isfile(written):
        raise CLIError(f'{out}: the evaluator wrote no detections file ({written} missing)')
    if osp.abspath(out) != written:
        os.replace(written, out)


def detect_dataset(config: str, checkpoint: str, out: str, work_dir: str,
                   cfg_options: dict | None = None) -> tuple[str, str]:
    """Run ``checkpoint`` over the config's test set as ``tools/test.py --out`` does.

    Returns:
        tuple[str, str]: the annotation file the detections refer to and the folder of its
        images.
    """
    from mmengine.runner import Runner

    from .config import load_config
    from .runs import prepare_test_config
    cfg = load_config(config, cfg_options)
    prepare_test_config(cfg, config, checkpoint, work_dir, out, None, 'none')
    dataset = cfg.test_dataloader.dataset
    ann_file = cfg.test_evaluator.get('ann_file') or osp.join(dataset.get('data_root', ''),
                                                              dataset.ann_file)
    img_dir = osp.join(dataset.get('data_root', ''), dataset.get('data_prefix', {}).get('img', ''))
    Runner.from_cfg(cfg).test()
    move_results_file(out)
    return ann_file, img_dir
