"""Evaluation helpers: proposal recall (COCO's AR) and the proposal-generator benchmark."""
from .proposal_recall import (
                              COCO_IOU_THRESHOLDS,
                              DEFAULT_PROPOSAL_NUMS,
                              ProposalBenchmark,
                              ProposalRun,
                              average_recalls,
                              box_ious,
                              build_generators,
                              coco_true_positives,
                              format_recall_table,
                              ground_truth_by_img_id,
                              load_detector,
                              plot_recall_curves,
                              proposal_recalls,
                              run_proposal_generators,
)

__all__ = [
    'COCO_IOU_THRESHOLDS', 'DEFAULT_PROPOSAL_NUMS', 'ProposalBenchmark', 'ProposalRun',
    'average_recalls', 'box_ious', 'build_generators', 'coco_true_positives',
    'format_recall_table', 'ground_truth_by_img_id', 'load_detector', 'plot_recall_curves',
    'proposal_recalls', 'run_proposal_generators'
]
