"""Pascal VOC XML and YOLO txt annotations to COCO detection dicts.

Shape shorthand: W, H = image width, height in pixels. COCO boxes are ``[x, y, w, h]`` spanning
[x, x + w) x [y, y + h).

Pascal VOC: ``<bndbox>`` holds 1-based pixel coordinates. As mmdet's own converter
(``tools/dataset_converters/pascal_voc.py``) and mmdet's ``VOCDataset`` do, 1 is subtracted
from all four: ``x = xmin - 1``, ``y = ymin - 1``, ``w = xmax - xmin``, ``h = ymax - ymin``.
So a VOC box [xmin=10, ymin=20, xmax=50, ymax=80] becomes COCO [9, 19, 40, 60]. (Reading
xmax as inclusive would give w = xmax - xmin + 1; mmdet does not, and boxes converted here
match what mmdet's VOC pipeline trains and evaluates on.) Objects with ``<difficult>1`` get
``iscrowd=1``, again as mmdet's converter does: mmdet's CocoDataset turns that into an ignore
flag and COCOeval neither rewards nor penalises detections on them.

YOLO: one ``<stem>.txt`` per image, a line ``class cx cy w h`` per object, all normalised to
[0, 1] by the image size as the loader returns it (after EXIF rotation, as Ultralytics uses
it). ``x = (cx - w / 2) * W``, ``w = w * W``, likewise for y and h. An image without a label
file has no objects (YOLO's background images).

Category ids are 1-based in both: the i-th class name (0-based) gets id i + 1.
"""
from __future__ import annotations

import json
import math
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Sequence

from .image_header import read_image_header

__all__ = ['IMAGE_EXTENSIONS', 'VOC_CLASSES', 'load_class_names', 'remap_categories',
           'voc_to_coco', 'voc_xml_paths', 'write_coco_json', 'yolo_to_coco']

VOC_CLASSES = ('aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair',
               'cow', 'diningtable', 'dog', 'horse', 'motorbike', 'person', 'pottedplant',
               'sheep', 'sofa', 'train', 'tvmonitor')
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
# YOLO coordinates may pass [0, 1] by this much (float rounding); such values are clipped.
YOLO_TOLERANCE = 1e-3


def coco_categories(classes: Sequence[str]) -> list[dict]:
    """COCO categories with ids 1..len(classes) in class order."""
    return [dict(id=i + 1, name=name, supercategory='none') for i, name in enumerate(classes)]


def tidy(value: float) -> int | float:
    """An int when whole (VOC's integer pixels stay integers), else rounded to 1e-3 px."""
    value = round(value, 3)
    return int(value) if value == int(value) else value


def coco_annotation(ann_id: int, image_id: int, category_id: int, bbox: Sequence[float],
                    iscrowd: int = 0) -> dict:
    """A COCO annotation dict; ``area`` is the box area (there is no mask)."""
    bbox = [tidy(v) for v in bbox]
    return dict(id=ann_id, image_id=image_id, category_id=category_id, bbox=bbox,
                area=tidy(bbox[2] * bbox[3]), iscrowd=iscrowd)


def read_utf8(path: str | os.PathLike) -> str:
    """A text file's content; ValueError naming the file and the first byte that is not UTF-8
    (Python's own message names neither file nor line)."""
    data = Path(path).read_bytes()
    try:
        return data.decode('utf-8')
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b'\n') + 1
        raise ValueError(f'{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at '
                         f'offset {exc.start})') from None


def load_class_names(path: str | os.PathLike) -> list[str]:
    """Class names from a text file (one per line, blank lines skipped) or a YOLO data YAML
    (``names:`` as a list or as a ``{index: name}`` mapping).

    Raises:
        ValueError: the file holds no names, or the YAML has no usable ``names``.
    """
    path = Path(path)
    text = read_utf8(path)
    if path.suffix.lower() in ('.yaml', '.yml'):
        import yaml

        try:
            names = (yaml.safe_load(text) or {}).get('names')
        except (yaml.YAMLError, AttributeError) as exc:
            raise ValueError(f'{path}: not a YAML mapping with a "names" key ({exc})') from None
        if isinstance(names, dict) and sorted(names) == list(range(len(names))):
            names = [names[i] for i in range(len(names))]
        if not (isinstance(names, list) and all(isinstance(n, str) and n for n in names)):
            raise ValueError(f'{path}: "names" must be a list of strings or a mapping '
                             f'0..N-1 -> name, got {names!r:.80}')
    else:
        names = [line.strip() for line in text.splitlines() if line.strip()]
    if not names:
        raise ValueError(f'{path}: no class names in the file')
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f'{path}: duplicate class names {dup}')
    return names


def xml_text(node: ET.Element, tag: str, xml_path: Path, required: bool = True) -> str | None:
    """Text of ``node/tag``; ValueError naming the file if required and absent."""
    child = node.find(tag)
    if child is None or child.text is None or not child.text.strip():
        if required:
            raise ValueError(f'{xml_path}: <{node.tag}> has no <{tag}>')
        return None
    return child.text.strip()


def xml_number(node: ET.Element, tag: str, xml_path: Path) -> float:
    """``node/tag`` as a number; ValueError naming the file, tag and value if it is not."""
    text = xml_text(node, tag, xml_path)
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f'{xml_path}: <{tag}> is {text!r}, not a number') from None
    if not math.isfinite(value):
        raise ValueError(f'{xml_path}: <{tag}> is {text!r}, not a finite number')
    return value


def parse_voc_xml(xml_path: Path) -> tuple[dict, list[tuple[str, list[float], int]]]:
    """One VOC XML file: ``({file_name, width, height}, [(class, [x1, y1, x2, y2], difficult)])``
    with coordinates already in mmdet's 0-based convention (VOC value - 1)."""
    try:
        root = ET.parse(xml_path).getroot()
    except ET.ParseError as exc:
        raise ValueError(f'{xml_path}: not valid XML ({exc})') from None
    size = root.find('size')
    if size is None:
        raise ValueError(f'{xml_path}: no <size>; VOC files give the image size there')
    width, height = (xml_number(size, tag, xml_path) for tag in ('width', 'height'))
    if width <= 0 or height <= 0:
        raise ValueError(f'{xml_path}: <size> is {width:g}x{height:g}; it must be positive')
    file_name = xml_text(root, 'filename', xml_path, required=False)
    objects = []
    for obj in root.findall('object'):
        name = xml_text(obj, 'name', xml_path)
        difficult = xml_text(obj, 'difficult', xml_path, required=False)
        box_node = obj.find('bndbox')
        if box_node is None:
            raise ValueError(f'{xml_path}: object {name!r} has no <bndbox>')
        box = [xml_number(box_node, tag, xml_path) - 1 for tag in ('xmin', 'ymin', 'xmax', 'ymax')]
        objects.append((name, box, int(difficult == '1')))
    return dict(file_name=file_name, width=int(width), height=int(height)), objects


def voc_to_coco(xml_paths: Sequence[str | os.PathLike], classes: Sequence[str] = VOC_CLASSES,
                image_ext: str = '.jpg') -> dict:
    """Convert Pascal VOC XML files to one COCO dict (see the module docstring for the
    coordinate convention: ``[xmin - 1, ymin - 1, xmax - xmin, ymax - ymin]``).

    Args:
        xml_paths (Sequence[str | PathLike]): the XML files; image ids follow this order (1..N).
        classes (Sequence[str]): class names; category id = index + 1.
        image_ext (str): extension for ``file_name`` when an XML has no ``<filename>``
            (``file_name = xml stem + image_ext``).

    Returns:
        dict: COCO with info, licenses, images, annotations, categories.

    Raises:
        ValueError: malformed XML, a missing tag, a non-numeric coordinate, or a class not in
            ``classes``; the message names the file.
    """
    class_ids = {name: i + 1 for i, name in enumerate(classes)}
    images, annotations = [], []
    for image_id, xml_path in enumerate(map(Path, xml_paths), start=1):
        info, objects = parse_voc_xml(xml_path)
        images.append(dict(id=image_id, file_name=info['file_name'] or xml_path.stem + image_ext,
                           width=info['width'], height=info['height']))
        for name, (x1, y1, x2, y2), difficult in objects:
            if name not in class_ids:
                raise ValueError(f'{xml_path}: class {name!r} is not in the class list '
                                 f'({len(classes)} names: {", ".join(classes[:5])}, ...); '
                                 'pass the right class names')
            annotations.append(coco_annotation(len(annotations) + 1, image_id, class_ids[name],
                                               [x1, y1, x2 - x1, y2 - y1], iscrowd=difficult))
    return coco_dict('Converted from Pascal VOC XML', images, annotations, classes)


def voc_xml_paths(voc_root: str | os.PathLike, split: str | None = None) -> list[Path]:
    """XML files of a VOC folder (e.g. ``VOCdevkit/VOC2007``): those listed in
    ``ImageSets/Main/<split>.txt`` in that order, or with ``split=None`` every
    ``Annotations/*.xml`` sorted by name.

    Raises:
        ValueError: no ``Annotations`` folder, no split list, or a listed XML is missing.
    """
    voc_root = Path(voc_root)
    ann_dir = voc_root / 'Annotations'
    if not ann_dir.is_dir():
        raise ValueError(f'{voc_root}: no Annotations/ folder; expected a VOC folder such as '
                         'VOCdevkit/VOC2007')
    if split is None:
        paths = sorted(ann_dir.glob('*.xml'))
        if not paths:
            raise ValueError(f'{ann_dir}: no .xml files')
        return paths
    list_file = voc_root / 'ImageSets' / 'Main' / f'{split}.txt'
    if not list_file.is_file():
        raise ValueError(f'{list_file}: split list not found')
    ids = [line.split()[0] for line in list_file.read_text().splitlines() if line.strip()]
    paths = [ann_dir / f'{i}.xml' for i in ids]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise ValueError(f'{list_file}: {len(missing)} listed ids have no XML, e.g. {missing[0]}')
    return paths


def coco_dict(description: str, images: list, annotations: list, classes: Sequence[str]
              ) -> dict:
    """A complete COCO detection dict."""
    return dict(info=dict(description=description, version='1.0'), licenses=[], images=images,
                annotations=annotations, categories=coco_categories(classes))


def parse_yolo_line(line: str, where: str, num_classes: int) -> tuple[int, list[float]]:
    """``class cx cy w h`` → (class index, [cx, cy, w, h]) with checks; ``where`` is
    ``file:line`` for messages."""
    fields = line.split()
    if len(fields) != 5:
        hint = ' (segment/keypoint labels are not supported)' if len(fields) > 5 else ''
        raise ValueError(f'{where}: expected 5 values "class cx cy w h", got {len(fields)}{hint}')
    try:
        cls_value = float(fields[0])
        values = [float(v) for v in fields[1:]]
    except ValueError:
        raise ValueError(f'{where}: not numbers: {line.strip()!r}') from None
    if not all(math.isfinite(v) for v in (cls_value, *values)):
        raise ValueError(f'{where}: NaN or infinite value in {line.strip()!r}')
    if not cls_value.is_integer() or not 0 <= cls_value < num_classes:
        raise ValueError(f'{where}: class {fields[0]} is not an index 0..{num_classes - 1} '
                         'of the names file')
    for v in values:
        if not -YOLO_TOLERANCE <= v <= 1 + YOLO_TOLERANCE:
            raise ValueError(f'{where}: {v:g} is outside [0, 1]; YOLO coordinates are '
                             'normalised by the image size')
    values = [min(max(v, 0.0), 1.0) for v in values]
    if values[2] <= 0 or values[3] <= 0:
        raise ValueError(f'{where}: box width and height must be > 0, got '
                         f'{values[2]:g} x {values[3]:g}')
    return int(cls_value), values


def find_images(img_dir: Path) -> list[Path]:
    """Image files under ``img_dir`` (recursive), sorted by relative path."""
    return sorted(p for p in img_dir.rglob('*')
                  if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def yolo_to_coco(img_dir: str | os.PathLike, label_dir: str | os.PathLike,
                 classes: Sequence[str]) -> dict:
    """Convert YOLO txt labels to one COCO dict; image sizes are read from the image headers.

    Args:
        img_dir (str | PathLike): image folder (searched recursively); ``file_name`` is the
            path relative to it.
        label_dir (str | PathLike): label folder mirroring ``img_dir``: ``a/b.jpg`` has its
            labels in ``label_dir/a/b.txt``.
        classes (Sequence[str]): class names in YOLO index order; category id = index + 1.

    Returns:
        dict: COCO with info, licenses, images, annotations, categories.

    Raises:
        ValueError: no images, an unreadable image, or a bad label line (named ``file:line``).
    """
    img_dir, label_dir = Path(img_dir), Path(label_dir)
    paths = find_images(img_dir)
    if not paths:
        raise ValueError(f'{img_dir}: no images ({", ".join(IMAGE_EXTENSIONS)})')
    images, annotations = [], []
    for image_id, path in enumerate(paths, start=1):
        rel = path.relative_to(img_dir)
        try:
            width, height = read_image_header(path).size
        except OSError as exc:
            raise ValueError(f'{path}: cannot read the image header ({exc})') from None
        images.append(dict(id=image_id, file_name=rel.as_posix(), width=width, height=height))
        label_path = (label_dir / rel).with_suffix('.txt')
        if not label_path.is_file():
            continue
        for n, line in enumerate(read_utf8(label_path).splitlines(), start=1):
            if not line.strip():
                continue
            cls, (cx, cy, w, h) = parse_yolo_line(line, f'{label_path}:{n}', len(classes))
            box = [(cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height]
            annotations.append(coco_annotation(len(annotations) + 1, image_id, cls + 1, box))
    return coco_dict('Converted from YOLO txt labels', images, annotations, classes)


def write_coco_json(coco: dict, path: str | os.PathLike) -> Path:
    """Write a COCO dict as JSON (parent folders created) through a temporary file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + '.tmp')
    tmp.write_text(json.dumps(coco), encoding='utf-8')
    os.replace(tmp, path)
    return path


def remap_categories(coco: dict, mapping: dict[str, str | None]) -> dict:
    """A COCO dict whose categories are renamed, merged or dropped.

    Args:
        coco (dict): A COCO detection dict (``images``, ``annotations``, ``categories``).
        mapping (dict): Old category name -> new name, or None to drop its annotations.
            Several old names may map to one new name (merged). Every old name must be
            listed, so that no class is left out by a typo.

    Returns:
        dict: The same images; the kept annotations with new ``category_id`` (ids 1.. in
        the order the new names first appear in ``mapping``) and re-numbered ``id``.

    Raises:
        ValueError: An old name is missing from ``mapping``, or ``mapping`` names a category
            the file does not have.
    """
    by_id = {cat['id']: cat['name'] for cat in coco['categories']}
    names = set(by_id.values())
    if set(mapping) != names:
        missing, unknown = sorted(names - set(mapping)), sorted(set(mapping) - names)
        raise ValueError('the mapping must name every category once: '
                         + '; '.join(part for part in (
                             f'not mapped: {", ".join(missing)}' if missing else '',
                             f'not in the file: {", ".join(unknown)}' if unknown else '')
                             if part))
    new_names = list(dict.fromkeys(n for n in mapping.values() if n is not None))
    new_id = {name: i + 1 for i, name in enumerate(new_names)}
    annotations = []
    for ann in coco['annotations']:
        if ann.get('category_id') not in by_id:
            raise ValueError(f'annotation {ann.get("id")}: category_id '
                             f'{ann.get("category_id")!r} is not among the categories')
        target = mapping[by_id[ann['category_id']]]
        if target is not None:
            annotations.append(dict(ann, id=len(annotations) + 1, category_id=new_id[target]))
    return dict(coco, annotations=annotations, categories=coco_categories(new_names))
