"""mmdet's CocoDataset with a fast check of its annotation file before training or testing."""
from __future__ import annotations

from mmdet.datasets import CocoDataset
from mmdet.registry import DATASETS
from mmengine.fileio import get_local_path
from mmengine.logging import print_log

from .coco_validation import CocoValidationError, Problem, errors_only, validate_coco, with_file

__all__ = ['VALIDATION_MODES', 'ValidatedCocoDataset', 'empty_images_note',
           'format_validation_error']

# 'off': no check; 'json': the annotation file only; 'header': + every image file exists and its
# header size matches (nothing decoded); 'full': + every image decodes (slow, for the CLI).
VALIDATION_MODES = ('off', 'json', 'header', 'full')
MAX_LISTED_ERRORS = 20


def format_validation_error(errors: list[Problem], ann_file: str, img_dir: str | None) -> str:
    """One line per error (at most ``MAX_LISTED_ERRORS``), then how to see all and how to skip.

    With a single error the first line alone names the file, the record and the problem."""
    lines = [str(p) for p in errors[:MAX_LISTED_ERRORS]]
    if len(errors) > MAX_LISTED_ERRORS:
        lines.append(f'... and {len(errors) - MAX_LISTED_ERRORS} more errors')
    command = f'python tools/misc/validate_coco.py {ann_file}' + (
        f' --img-dir {img_dir}' if img_dir else '')
    lines.append(f'({len(errors)} error{"s" if len(errors) > 1 else ""} in the dataset; '
                 f"'{command}' lists them all; validation='off' in the dataset config skips "
                 'this check)')
    return '\n'.join(lines)


@DATASETS.register_module()
class ValidatedCocoDataset(CocoDataset):
    """CocoDataset that validates its COCO file before parsing it.

    mmdet's CocoDataset fails hours into a run (a missing image), with a bare traceback (a bad
    box), or not at all while it silently drops data (``area <= 0``, class names that match no
    category). This subclass runs :func:`validate_coco` in ``load_data_list`` and raises one
    :class:`CocoValidationError` listing every error with its location, e.g.
    ``data/digits/annotations/instances_train.json: annotation 12 (image 3, 00003.png): bbox
    width <= 0 (w=0)``. The check also requires every ``metainfo`` class to be a category name.

    Args:
        validation (str): one of ``VALIDATION_MODES``. The default 'header' reads the JSON and
            every image's header (a fraction of a second per thousand local images); use
            'json' for remote storage or huge sets, 'off' to skip.
        *args, **kwargs: as for ``CocoDataset``.
    """

    def __init__(self, *args, validation: str = 'header', **kwargs) -> None:
        if validation not in VALIDATION_MODES:
            raise ValueError(f'validation must be one of {VALIDATION_MODES}, got {validation!r}')
        self.validation = validation  # set first: CocoDataset.__init__ loads the data
        super().__init__(*args, **kwargs)

    def load_data_list(self) -> list[dict]:
        """Validate the annotation file, then parse it as CocoDataset does."""
        if self.validation != 'off':
            self.validate()
        return super().load_data_list()

    def image_dir(self) -> str | None:
        """The local image folder to check, or None (JSON-only mode or a remote backend)."""
        if self.validation == 'json' or self.backend_args is not None:
            return None
        return self.data_prefix.get('img') or None

    def validate(self) -> None:
        """Raise :class:`CocoValidationError` if the annotation file or its images have errors."""
        img_dir = self.image_dir()
        with get_local_path(self.ann_file, backend_args=self.backend_args) as local_path:
            problems = validate_coco(
                local_path, img_dir,
                image_check='full' if self.validation == 'full' else 'header',
                require_annotations=not self.test_mode,
                classes=list(self.metainfo['classes']))
        errors = with_file(errors_only(problems), str(self.ann_file))
        if errors:
            raise CocoValidationError(format_validation_error(errors, str(self.ann_file), img_dir),
                                      errors)

    def filter_data(self) -> list[dict]:
        """mmdet's filtering (``filter_cfg``), then, for a training set, one log line saying
        how many images have no boxes and whether ``filter_cfg.filter_empty_gt`` kept them
        (mmdet drops them without a word); the line is also :attr:`empty_images_note`."""
        kept = super().filter_data()
        self.empty_images_note = None
        if not self.test_mode:
            self.empty_images_note = empty_images_note(
                str(self.ann_file), self.data_list, len(kept),
                bool((self.filter_cfg or {}).get('filter_empty_gt', False)))
            print_log(self.empty_images_note, logger='current')
        return kept


def empty_images_note(ann_file: str, data_list: list[dict], kept: int,
                      filter_empty_gt: bool) -> str:
    """``'<ann_file>: E of N training images have no boxes, dropped|kept (...); K used'``."""
    empty = sum(1 for info in data_list if not info.get('instances'))
    if filter_empty_gt:
        fate = ('dropped (filter_cfg.filter_empty_gt=True; set it to False to train on them '
                'as background)') if empty else 'none to drop'
    else:
        fate = 'kept as background (filter_cfg.filter_empty_gt=False)'
    return (f'{ann_file}: {empty} of {len(data_list)} training images have no boxes, {fate}; '
            f'{kept} images used')
