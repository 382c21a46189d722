"""Checks of a COCO detection annotation file and its images, each problem with its location.

``validate_coco`` never raises on bad input: whatever the file holds (not JSON, truncated, wrong
types, NaN, huge numbers, missing or duplicate ids, boxes outside the image, missing or
corrupt images...), it returns a list of :class:`Problem` records. Severity ``'error'`` means
training or evaluation would fail or silently lose data; ``'info'`` is worth knowing but fine
(grayscale/RGBA/16-bit images, which the loader converts; images without annotations).

Boxes are COCO ``[x, y, w, h]`` in pixels, spanning [x, x + w) x [y, y + h).
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Sequence

from PIL import UnidentifiedImageError

from .image_header import decode_problem, mode_note, read_image_header

__all__ = ['ERROR', 'INFO', 'IMAGE_CHECKS', 'CocoValidationError', 'Problem', 'check_coco_dict',
           'errors_only', 'read_coco_json', 'report_lines', 'validate_coco',
           'validate_coco_with_counts']

ERROR = 'error'
INFO = 'info'
# 'none': JSON only; 'header': + files exist and their header sizes match (no decoding);
# 'full': + every image decodes completely with PIL and OpenCV.
IMAGE_CHECKS = ('none', 'header', 'full')
# Boxes may pass the image border by this many pixels (float rounding in converters).
BORDER_TOLERANCE = 1.0
IMAGE_KEYS = ('id', 'file_name', 'width', 'height')
ANNOTATION_KEYS = ('id', 'image_id', 'category_id', 'bbox', 'area', 'iscrowd')
CATEGORY_KEYS = ('id', 'name')
# Why each annotation key is required (shown with "missing key").
KEY_USERS = dict(area="mmdet's CocoDataset and COCOeval read it",
                 iscrowd="pycocotools' COCOeval reads it")


def leaves_image_folder(file_name: str) -> bool:
    """Whether a COCO ``file_name`` is absolute or climbs out with ``..`` (either separator,
    or a Windows drive): joined to the image folder it would read a file outside it."""
    parts = file_name.replace('\\', '/').split('/')
    return (file_name.startswith(('/', '\\')) or '..' in parts
            or (len(file_name) > 1 and file_name[1] == ':'))


@dataclass(frozen=True)
class Problem:
    """One finding.

    Attributes:
        severity (str): ``'error'`` or ``'info'``.
        message (str): what is wrong.
        file (str): the annotation file.
        section (str | None): 'images', 'annotations' or 'categories'; None for the whole file.
        record_id (Any): id of the image/annotation/category; None if it has no usable id.
        index (int | None): position of the record in its list.
        image_id (Any): for annotations, the image they belong to.
        file_name (str | None): the image's file name, when known.
    """

    severity: str
    message: str
    file: str
    section: str | None = None
    record_id: Any = None
    index: int | None = None
    image_id: Any = None
    file_name: str | None = None

    @property
    def location(self) -> str:
        """E.g. ``'annotation 12 (image 3, 3.png)'``, ``'images[4]'``; '' for the whole file."""
        if self.section is None:
            return ''
        noun = self.section[:-1].replace('categorie', 'category')
        if self.record_id is not None:
            head = f'{noun} {short(self.record_id)}'
        else:
            head = f'{self.section}[{self.index}]'
        context = []
        if self.section == 'annotations' and self.image_id is not None:
            context.append(f'image {short(self.image_id)}')
        if self.file_name is not None:
            context.append(self.file_name)
        return f'{head} ({", ".join(context)})' if context else head

    def __str__(self) -> str:
        where = self.location
        return f'{self.file}: {where}: {self.message}' if where else f'{self.file}: {self.message}'


class CocoValidationError(ValueError):
    """A COCO file failed validation; ``problems`` holds the error records."""

    def __init__(self, message: str, problems: Sequence[Problem] = ()):
        super().__init__(message)
        self.problems = list(problems)


def short(value: Any, limit: int = 60) -> str:
    """Value for a message: ints as is, everything else as a repr cut to ``limit`` chars."""
    text = str(value) if is_int(value) else repr(value)
    return text if len(text) <= limit else text[:limit - 3] + '...'


def type_name(value: Any) -> str:
    """JSON name of a Python value's type."""
    return {dict: 'object', list: 'array', str: 'string', bool: 'boolean', int: 'integer',
            float: 'number', type(None): 'null'}.get(type(value), type(value).__name__)


def is_int(value: Any) -> bool:
    """True for ints (JSON integers), False for bools and everything else."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_finite_number(value: Any) -> bool:
    """True for finite ints and floats (not bools); ints too big for a float are not finite."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def is_positive_whole(value: Any) -> bool:
    """A finite number > 0 with no fractional part (640 or 640.0)."""
    return is_finite_number(value) and value > 0 and float(value).is_integer()


def errors_only(problems: Iterable[Problem]) -> list[Problem]:
    """The problems of severity 'error'."""
    return [p for p in problems if p.severity == ERROR]


def read_coco_json(path: str | os.PathLike) -> tuple[Any, list[Problem]]:
    """Load a JSON file; ``(data, [])`` on success, ``(None, [problem])`` if it cannot be."""
    file = str(path)
    fail = lambda msg: (None, [Problem(ERROR, msg, file)])
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        return fail('file not found')
    except IsADirectoryError:
        return fail('is a directory, expected a COCO JSON file')
    except (OSError, ValueError) as exc:
        return fail(f'cannot read the file ({exc})')
    try:
        text = raw.decode('utf-8-sig')
    except UnicodeDecodeError as exc:
        return fail(f'not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); '
                    'not a JSON file?')
    if not text.strip():
        return fail('file is empty')
    try:
        return json.loads(text), []
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text.rstrip()):
            return fail(f'truncated: the JSON ends at line {exc.lineno} column {exc.colno} '
                        'before the document is complete')
        return fail(f'not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}')
    except RecursionError:
        return fail('not usable JSON: nested too deeply to parse')


@dataclass
class ImageRecord:
    """The usable fields of one image entry (None where invalid)."""

    index: int
    file_name: str | None
    width: float | None
    height: float | None


class CocoChecker:
    """Walks one parsed COCO dict and collects problems; see :func:`check_coco_dict`."""

    def __init__(self, data: Any, file: str, require_annotations: bool = True,
                 classes: Sequence[str] | None = None):
        self.data = data
        self.file = file
        self.require_annotations = require_annotations
        self.classes = classes
        self.problems: list[Problem] = []
        self.images: dict[int, ImageRecord] = {}
        self.category_ids: set[int] = set()
        self.category_names: dict[str, int] = {}
        self.annotated_images: set[int] = set()
        self.used_categories: set[int] = set()

    def add(self, severity: str, message: str, **where: Any) -> None:
        self.problems.append(Problem(severity, message, self.file, **where))

    def run(self) -> list[Problem]:
        data = self.data
        if not isinstance(data, dict):
            self.add(ERROR, f'the top level is a JSON {type_name(data)}, expected an object with '
                            "'images', 'annotations' and 'categories'")
            return self.problems
        images = self.section_list('images')
        categories = self.section_list('categories')
        annotations = self.section_list('annotations', required=self.require_annotations)
        if images is not None:
            self.check_images(images)
        if categories is not None:
            self.check_categories(categories)
            self.check_classes()
        if annotations is not None:
            self.check_annotations(annotations, check_refs=(images, categories))
            self.summarise_unused(images, categories)
        return self.problems

    def section_list(self, key: str, required: bool = True) -> list | None:
        """``data[key]`` if it is a list; reports it missing or of the wrong type."""
        if key not in self.data:
            if required:
                self.add(ERROR, f"missing top-level key '{key}'")
            elif key == 'annotations':
                self.add(INFO, "no 'annotations' key: an image-info file, usable for inference "
                               'only')
            return None
        value = self.data[key]
        if not isinstance(value, list):
            self.add(ERROR, f"'{key}' is a JSON {type_name(value)}, expected an array")
            return None
        if not value and key != 'annotations':
            self.add(ERROR, f"'{key}' is empty")
        return value

    def record_id(self, section: str, i: int, entry: dict, seen: dict, **context: Any
                  ) -> int | None:
        """The entry's id if it is a new integer; reports non-integer and duplicate ids (a
        missing id is reported with the other missing keys). ``context``: image_id/file_name
        for the location."""
        noun = section[:-1].replace('categorie', 'category')
        if 'id' not in entry:
            return None  # reported with the other missing keys
        rid = entry['id']
        if not is_int(rid):
            self.add(ERROR, f'id must be an integer, got {short(rid)} ({type_name(rid)})',
                     section=section, index=i, **context)
            return None
        if rid in seen:
            self.add(ERROR, f'duplicate {noun} id {rid} (first at {section}[{seen[rid]}])',
                     section=section, record_id=rid, index=i, **context)
            return None
        seen[rid] = i
        return rid

    def missing_keys(self, entry: dict, keys: Sequence[str], **where: Any) -> None:
        missing = [k for k in keys if k not in entry]
        if missing:
            why = [f'{k}: {KEY_USERS[k]}' for k in missing if k in KEY_USERS]
            self.add(ERROR, f"missing key{'s' if len(missing) > 1 else ''} "
                            + ', '.join(f"'{k}'" for k in missing)
                            + (f" ({'; '.join(why)})" if why else ''), **where)

    def not_object(self, section: str, i: int, entry: Any) -> bool:
        if isinstance(entry, dict):
            return False
        self.add(ERROR, f'is a JSON {type_name(entry)}, expected an object', section=section,
                 index=i)
        return True

    def check_images(self, images: list) -> None:
        seen: dict = {}
        names: dict[str, Any] = {}
        for i, img in enumerate(images):
            if self.not_object('images', i, img):
                continue
            name = img.get('file_name')
            name = name if isinstance(name, str) and name else None
            outside = name is not None and leaves_image_folder(name)
            iid = self.record_id('images', i, img, seen, file_name=name)
            where = dict(section='images', record_id=iid, index=i, file_name=name)
            self.missing_keys(img, IMAGE_KEYS, **where)
            if outside:
                self.add(ERROR, 'file_name must be a relative path inside the image folder '
                                '(no "..", no absolute path)', **where)
            if 'file_name' in img and name is None:
                self.add(ERROR, 'file_name must be a non-empty string, got '
                                f"{short(img['file_name'])}", **where)
            if name is not None:
                if name in names:
                    self.add(ERROR, f'file_name also used by {names[name]}', **where)
                else:
                    names[name] = f'image {iid}' if iid is not None else f'images[{i}]'
            size = {}
            for key in ('width', 'height'):
                value = img.get(key)
                if key in img and not is_positive_whole(value):
                    self.add(ERROR, f'{key} must be a positive integer, got {short(value)}',
                             **where)
                size[key] = float(value) if is_positive_whole(value) else None
            if iid is not None:
                self.images[iid] = ImageRecord(i, None if outside else name, size['width'],
                                               size['height'])

    def check_categories(self, categories: list) -> None:
        seen: dict = {}
        for i, cat in enumerate(categories):
            if self.not_object('categories', i, cat):
                continue
            cid = self.record_id('categories', i, cat, seen)
            where = dict(section='categories', record_id=cid, index=i)
            self.missing_keys(cat, CATEGORY_KEYS, **where)
            name = cat.get('name')
            if 'name' in cat and not (isinstance(name, str) and name):
                self.add(ERROR, f'name must be a non-empty string, got {short(name)}', **where)
            elif isinstance(name, str) and name in self.category_names:
                self.add(ERROR, f"duplicate category name '{name}' (also category "
                                f'{self.category_names[name]})', **where)
            elif isinstance(name, str) and cid is not None:
                self.category_names[name] = cid
            if cid is not None:
                self.category_ids.add(cid)

    def check_classes(self) -> None:
        """The dataset's class names must all be category names (mmdet maps them by name)."""
        if self.classes is None:
            return
        missing = [c for c in self.classes if c not in self.category_names]
        if missing:
            self.add(ERROR, f'{len(missing)} of the {len(self.classes)} metainfo classes are not '
                            f'category names in this file: {listing(missing)}; the file has '
                            f'{listing(list(self.category_names))}. Set metainfo=dict(classes=...)'
                            ' in the dataset config to match')
        extra = [n for n in self.category_names if n not in set(self.classes)]
        if extra:
            self.add(INFO, f'annotations of categories not in the metainfo classes are skipped: '
                           f'{listing(extra)}')

    def check_annotations(self, annotations: list, check_refs: tuple) -> None:
        images_ok, categories_ok = (ref is not None for ref in check_refs)
        seen: dict = {}
        for i, ann in enumerate(annotations):
            if self.not_object('annotations', i, ann):
                continue
            image_id = ann.get('image_id')
            image = self.images.get(image_id) if is_int(image_id) else None
            context = dict(image_id=image_id if is_int(image_id) else None,
                           file_name=image.file_name if image else None)
            aid = self.record_id('annotations', i, ann, seen, **context)
            where = dict(section='annotations', record_id=aid, index=i, **context)
            self.missing_keys(ann, ANNOTATION_KEYS, **where)
            if 'image_id' in ann and images_ok:
                self.check_reference(ann, 'image_id', self.images, 'image', where)
            if 'category_id' in ann and categories_ok:
                self.check_reference(ann, 'category_id', self.category_ids, 'category', where)
            if image is not None:
                self.annotated_images.add(image_id)
            if is_int(ann.get('category_id')):
                self.used_categories.add(ann['category_id'])
            if 'bbox' in ann:
                self.check_bbox(ann['bbox'], image, where)
            if 'area' in ann:
                self.check_area(ann['area'], where)
            if 'iscrowd' in ann and not (is_int(ann['iscrowd']) and ann['iscrowd'] in (0, 1)):
                self.add(ERROR, f"iscrowd must be 0 or 1, got {short(ann['iscrowd'])}", **where)

    def check_reference(self, ann: dict, key: str, targets: Iterable, noun: str,
                        where: dict) -> None:
        value = ann[key]
        if not is_int(value):
            self.add(ERROR, f'{key} must be an integer, got {short(value)} ({type_name(value)})',
                     **where)
        elif value not in targets:
            self.add(ERROR, f'{key} {value} does not exist (no {noun} has this id)', **where)

    def check_bbox(self, bbox: Any, image: ImageRecord | None, where: dict) -> None:
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(map(is_finite_number, bbox))):
            self.add(ERROR, f'bbox must be 4 finite numbers [x, y, w, h], got {short(bbox)}',
                     **where)
            return
        x, y, w, h = bbox
        bad = [f'{name} <= 0 ({key}={value:g})'
               for name, key, value in (('width', 'w', w), ('height', 'h', h)) if value <= 0]
        for message in bad:
            self.add(ERROR, f'bbox {message}', **where)
        if bad:
            return
        if w < 1 or h < 1:
            self.add(INFO, f"bbox under 1 px (w={w:g}, h={h:g}): mmdet's CocoDataset skips it",
                     **where)
        if image is None or image.width is None or image.height is None:
            return
        W, H, tol = image.width, image.height, BORDER_TOLERANCE
        outside = []
        if x < -tol:
            outside.append(f'x = {x:g} < 0')
        if y < -tol:
            outside.append(f'y = {y:g} < 0')
        if x + w > W + tol:
            outside.append(f'x + w = {x + w:g} > width {W:g}')
        if y + h > H + tol:
            outside.append(f'y + h = {y + h:g} > height {H:g}')
        if outside:
            self.add(ERROR, f'bbox {short(bbox)} extends outside the {W:g}x{H:g} image: '
                            + ', '.join(outside), **where)

    def check_area(self, area: Any, where: dict) -> None:
        if not is_finite_number(area):
            self.add(ERROR, f'area must be a finite number, got {short(area)}', **where)
        elif area <= 0:
            self.add(ERROR, f"area <= 0 ({area:g}): mmdet's CocoDataset would silently drop "
                            'this annotation', **where)

    def summarise_unused(self, images: list | None, categories: list | None) -> None:
        """One info line each for images without annotations and unused categories."""
        empty = [iid for iid in self.images if iid not in self.annotated_images]
        if images is not None and empty:
            first = self.images[empty[0]]
            example = f'image {empty[0]}' + (f' ({first.file_name})' if first.file_name else '')
            self.add(INFO, f'{len(empty)} of {len(self.images)} images have no annotations '
                           f"(first: {example}); training's filter_empty_gt drops them")
        unused = sorted(self.category_ids - self.used_categories)
        if categories is not None and unused:
            self.add(INFO, f'{len(unused)} categories have no annotations: ids '
                           f'{listing(unused)}')


def listing(items: Sequence, limit: int = 12) -> str:
    """``'a', 'b', ... (+N more)`` for messages."""
    shown = ', '.join(short(x, 30) for x in items[:limit])
    return shown + (f' (+{len(items) - limit} more)' if len(items) > limit else '')


def check_coco_dict(data: Any, file: str = '<json>', require_annotations: bool = True,
                    classes: Sequence[str] | None = None) -> list[Problem]:
    """Structure checks of a parsed COCO file (no image files are read).

    Args:
        data (Any): the parsed JSON.
        file (str): name used in the problems.
        require_annotations (bool): a missing 'annotations' key is an error (else info).
        classes (Sequence[str] | None): class names a dataset config asks for; each must be
            a category name.

    Returns:
        list[Problem]: problems in file order.
    """
    return CocoChecker(data, file, require_annotations, classes).run()


def check_image_files(images: dict[int, ImageRecord], img_dir: str | os.PathLike, file: str,
                      image_check: str, progress: bool = False) -> list[Problem]:
    """Check the file of every usable image entry: it exists and is readable, its header size
    equals the JSON's width/height (after EXIF rotation), and with ``'full'`` it decodes."""
    problems: list[Problem] = []
    records = [(iid, rec) for iid, rec in images.items() if rec.file_name is not None]
    if progress:
        from tqdm import tqdm
        records = tqdm(records, desc='images', unit='img')
    for iid, rec in records:
        where = dict(section='images', record_id=iid, index=rec.index, file_name=rec.file_name)
        for severity, message in image_file_findings(Path(img_dir), rec, image_check):
            problems.append(Problem(severity, message, file, **where))
    return problems


def image_file_findings(img_dir: Path, rec: ImageRecord, image_check: str
                        ) -> list[tuple[str, str]]:
    """(severity, message) findings of one image file."""
    path = img_dir / rec.file_name
    try:
        header = read_image_header(path)
    except FileNotFoundError:
        return [(ERROR, f'image file missing: {path}')]
    except IsADirectoryError:
        return [(ERROR, f'image file unreadable: {path} is a directory')]
    except UnidentifiedImageError:
        return [(ERROR, f'image file corrupt or not an image (PIL cannot identify it): {path}')]
    except OSError as exc:
        return [(ERROR, f'image file unreadable: {path} ({exc.strerror or exc})')]
    except ValueError as exc:  # e.g. a NUL character in the name
        return [(ERROR, f'unusable file name {short(rec.file_name)} ({exc})')]
    except Exception as exc:  # noqa: BLE001 - PIL plugins raise anything on odd headers
        return [(ERROR, f'image file corrupt: {path} ({type(exc).__name__}: {exc})')]
    findings = []
    width, height = header.size
    if rec.width is not None and rec.height is not None and (
            (width, height) != (rec.width, rec.height)):
        exif = (f' after EXIF orientation {header.orientation}, which the loader applies'
                if header.orientation != 1 else '')
        findings.append((ERROR, f'image is {width}x{height}{exif} but the JSON says '
                                f'{rec.width:g}x{rec.height:g} (width x height)'))
    note = mode_note(header)
    if note:
        findings.append((INFO, note))
    if image_check == 'full':
        try:
            problem = decode_problem(path)
        except OSError as exc:
            problem = f'unreadable ({exc.strerror or exc})'
        if problem:
            findings.append((ERROR, f'image file {problem}: {path}'))
    return findings


def validate_coco(ann_file: str | os.PathLike, img_dir: str | os.PathLike | None = None,
                  image_check: str = 'full', require_annotations: bool = True,
                  classes: Sequence[str] | None = None, progress: bool = False
                  ) -> list[Problem]:
    """Check a COCO detection file and, if ``img_dir`` is given, its images.

    Args:
        ann_file (str | PathLike): the COCO JSON file.
        img_dir (str | PathLike | None): folder the images' ``file_name`` are relative to;
            None skips the image files.
        image_check (str): one of ``IMAGE_CHECKS``: 'none', 'header' (files exist, header
            sizes match the JSON; nothing decoded: the fast check run when training starts)
            or 'full' (+ every image decodes with PIL and OpenCV).
        require_annotations (bool): report a missing 'annotations' key as an error.
        classes (Sequence[str] | None): class names a dataset config asks for.
        progress (bool): progress bar over the images.

    Returns:
        list[Problem]: every problem found; no errors means the file is valid.

    Raises:
        ValueError: only for a wrong ``image_check``, never for bad data.
    """
    return validate_coco_with_counts(ann_file, img_dir, image_check, require_annotations,
                                     classes, progress)[0]


def validate_coco_with_counts(ann_file: str | os.PathLike,
                              img_dir: str | os.PathLike | None = None,
                              image_check: str = 'full', require_annotations: bool = True,
                              classes: Sequence[str] | None = None, progress: bool = False
                              ) -> tuple[list[Problem], dict[str, int]]:
    """:func:`validate_coco` plus the number of entries in 'images', 'annotations' and
    'categories' (those that are lists; empty if the file is not a JSON object)."""
    if image_check not in IMAGE_CHECKS:
        raise ValueError(f'image_check must be one of {IMAGE_CHECKS}, got {image_check!r}')
    file = str(ann_file)
    data, problems = read_coco_json(ann_file)
    if data is None:
        return problems, {}
    checker = CocoChecker(data, file, require_annotations, classes)
    problems = checker.run()
    if not isinstance(data, dict):
        return problems, {}
    counts = {key: len(data[key]) for key in ('images', 'annotations', 'categories')
              if isinstance(data.get(key), list)}
    if img_dir is not None and image_check != 'none':
        if not Path(img_dir).is_dir():
            problems.append(Problem(ERROR, f'image folder not found: {img_dir}', file))
        else:
            problems += check_image_files(checker.images, img_dir, file, image_check, progress)
    return problems, counts


def report_lines(problems: Sequence[Problem], counts: dict[str, int], file: str,
                 max_info: int = 50) -> list[str]:
    """CLI report: one ``error: ...``/``info: ...`` line per problem (info lines capped at
    ``max_info``; negative shows all), then a summary line."""
    errors = errors_only(problems)
    infos = [p for p in problems if p.severity == INFO]
    lines = [f'error: {p}' for p in errors]
    shown = infos if max_info < 0 else infos[:max_info]
    lines += [f'info: {p}' for p in shown]
    if len(shown) < len(infos):
        lines.append(f'({len(infos) - len(shown)} more info lines; --max-info -1 shows all)')
    what = ', '.join(f'{n} {key}' for key, n in counts.items())
    verdict = 'INVALID' if errors else 'valid'
    lines.append(f'{file}: {what + ": " if what else ""}{len(errors)} error'
                 f'{"" if len(errors) == 1 else "s"}, {len(infos)} info: {verdict}')
    return lines


def with_file(problems: Iterable[Problem], file: str) -> list[Problem]:
    """The problems with ``file`` replaced (e.g. a remote name for a local copy)."""
    return [replace(p, file=file) for p in problems]
