"""VOC and YOLO converters: small fixtures written here convert to exactly the expected boxes."""
import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from in_process import tool_module
from PIL import Image
from pycocotools.coco import COCO

from custom.datasets import validate_coco, voc_to_coco, voc_xml_paths, yolo_to_coco
from custom.datasets.converters import VOC_CLASSES, load_class_names

VOC_XML = """<annotation>
  <folder>VOC2007</folder>
  <filename>{name}.jpg</filename>
  <size><width>100</width><height>80</height><depth>3</depth></size>
  {objects}
</annotation>"""
VOC_OBJECT = """<object><name>{cls}</name><pose>Left</pose><truncated>0</truncated>
  <difficult>{difficult}</difficult>
  <bndbox><xmin>{box[0]}</xmin><ymin>{box[1]}</ymin><xmax>{box[2]}</xmax><ymax>{box[3]}</ymax>
  </bndbox></object>"""


def write_voc(root: Path, name: str, objects: list) -> Path:
    ann_dir = root / 'Annotations'
    ann_dir.mkdir(parents=True, exist_ok=True)
    body = ''.join(VOC_OBJECT.format(cls=c, box=b, difficult=d) for c, b, d in objects)
    path = ann_dir / f'{name}.xml'
    path.write_text(VOC_XML.format(name=name, objects=body))
    return path


@pytest.fixture
def voc_root(tmp_path):
    root = tmp_path / 'VOC2007'
    write_voc(root, '000001', [('dog', (10, 20, 50, 80), 0), ('person', (1, 1, 100, 80), 1)])
    write_voc(root, '000002', [('cat', (30, 5, 31, 6), 0)])
    write_voc(root, '000003', [])
    (root / 'ImageSets' / 'Main').mkdir(parents=True)
    (root / 'ImageSets' / 'Main' / 'trainval.txt').write_text('000002\n000001\n')
    return root


def test_voc_boxes_follow_mmdet_convention(voc_root):
    coco = voc_to_coco(voc_xml_paths(voc_root))
    assert coco['images'] == [
        dict(id=i, file_name=f'00000{i}.jpg', width=100, height=80) for i in (1, 2, 3)]
    dog, person = VOC_CLASSES.index('dog') + 1, VOC_CLASSES.index('person') + 1
    cat = VOC_CLASSES.index('cat') + 1
    assert coco['annotations'] == [
        dict(id=1, image_id=1, category_id=dog, bbox=[9, 19, 40, 60], area=2400, iscrowd=0),
        dict(id=2, image_id=1, category_id=person, bbox=[0, 0, 99, 79], area=7821, iscrowd=1),
        dict(id=3, image_id=2, category_id=cat, bbox=[29, 4, 1, 1], area=1, iscrowd=0)]
    assert [c['name'] for c in coco['categories']] == list(VOC_CLASSES)
    assert [c['id'] for c in coco['categories']] == list(range(1, 21))


def mmdet_voc_converter():
    """mmdet's own tools/dataset_converters/pascal_voc.py, shipped inside the mmdet package."""
    import mmdet

    path = Path(mmdet.__file__).parent / '.mim/tools/dataset_converters/pascal_voc.py'
    if not path.is_file():
        pytest.skip('mmdet ships without its tools')
    spec = importlib.util.spec_from_file_location('mmdet_pascal_voc', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_voc_parity_with_mmdet_converter(voc_root):
    ref = mmdet_voc_converter()
    paths = voc_xml_paths(voc_root)
    theirs = ref.cvt_to_coco_json([ref.parse_xml((str(p), f'{p.stem}.jpg')) for p in paths])
    ours = voc_to_coco(paths)
    names_theirs = {c['id']: c['name'] for c in theirs['categories']}
    names_ours = {c['id']: c['name'] for c in ours['categories']}

    # mmdet's converter numbers images from 0 and writes difficult objects last.
    theirs_anns = sorted((a['image_id'] + 1, names_theirs[a['category_id']], tuple(a['bbox']),
                          a['iscrowd'], a['area']) for a in theirs['annotations'])
    ours_anns = sorted((a['image_id'], names_ours[a['category_id']], tuple(a['bbox']),
                        a['iscrowd'], a['area']) for a in ours['annotations'])
    assert ours_anns == theirs_anns and len(ours_anns) == 3


def test_voc_split_list_and_cocoapi(voc_root, tmp_path):
    paths = voc_xml_paths(voc_root, 'trainval')
    assert [p.stem for p in paths] == ['000002', '000001']
    out = tmp_path / 'voc.json'
    out.write_text(json.dumps(voc_to_coco(paths)))
    coco = COCO(str(out))
    assert coco.imgs[1]['file_name'] == '000002.jpg' and len(coco.getAnnIds(imgIds=[2])) == 2
    assert [p.severity for p in validate_coco(out)] == ['info']  # 18 unused VOC classes


def test_voc_errors_name_the_file(voc_root):
    bad = write_voc(voc_root, '000004', [('unicorn', (1, 1, 5, 5), 0)])
    with pytest.raises(ValueError, match=r"000004\.xml: class 'unicorn' is not in the class list"):
        voc_to_coco([bad])
    bad.write_text('<annotation><size><width>10</width>')
    with pytest.raises(ValueError, match=r'000004\.xml: not valid XML'):
        voc_to_coco([bad])
    bad.write_text(VOC_XML.format(name='x', objects=VOC_OBJECT.format(
        cls='dog', box=('a', 1, 5, 5), difficult=0)))
    with pytest.raises(ValueError, match=r"000004\.xml: <xmin> is 'a', not a number"):
        voc_to_coco([bad])
    with pytest.raises(ValueError, match=r'test\.txt: split list not found'):
        voc_xml_paths(voc_root, 'test')


def write_image(path: Path, width: int, height: int, orientation: int = 1) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(np.full((height, width, 3), 128, np.uint8))
    if orientation != 1:
        exif = img.getexif()
        exif[0x0112] = orientation
        img.save(path, exif=exif.tobytes())
    else:
        img.save(path)


@pytest.fixture
def yolo_set(tmp_path):
    images, labels = tmp_path / 'images', tmp_path / 'labels'
    write_image(images / 'a.png', 64, 48)
    write_image(images / 'sub' / 'b.jpg', 40, 30, orientation=6)  # loads as 30x40
    write_image(images / 'c.png', 20, 20)  # no label file: background image
    (labels / 'sub').mkdir(parents=True)
    (labels / 'a.txt').write_text('1 0.5 0.5 0.25 0.5\n\n0 0.125 0.25 0.25 0.5\n')
    (labels / 'sub' / 'b.txt').write_text('2 0.5 0.5 1 1\n')
    names = tmp_path / 'classes.txt'
    names.write_text('car\nbus\n\ntruck\n')
    return images, labels, names


def test_yolo_boxes_exact(yolo_set):
    images, labels, names = yolo_set
    coco = yolo_to_coco(images, labels, load_class_names(names))
    assert cv2.imread(str(images / 'sub' / 'b.jpg')).shape[:2] == (40, 30)  # reference loader
    assert coco['images'] == [dict(id=1, file_name='a.png', width=64, height=48),
                              dict(id=2, file_name='c.png', width=20, height=20),
                              dict(id=3, file_name='sub/b.jpg', width=30, height=40)]
    assert coco['annotations'] == [
        dict(id=1, image_id=1, category_id=2, bbox=[24, 12, 16, 24], area=384, iscrowd=0),
        dict(id=2, image_id=1, category_id=1, bbox=[0, 0, 16, 24], area=384, iscrowd=0),
        dict(id=3, image_id=3, category_id=3, bbox=[0, 0, 30, 40], area=1200, iscrowd=0)]
    assert [(c['id'], c['name']) for c in coco['categories']] == [(1, 'car'), (2, 'bus'),
                                                                  (3, 'truck')]


def test_yolo_output_validates_and_loads(yolo_set, tmp_path):
    images, labels, names = yolo_set
    out = tmp_path / 'yolo.json'
    out.write_text(json.dumps(yolo_to_coco(images, labels, load_class_names(names))))
    problems = validate_coco(out, images)
    assert [p.severity for p in problems] == ['info']  # c.png has no boxes
    assert COCO(str(out)).getAnnIds(imgIds=[1]) == [1, 2]


@pytest.mark.parametrize('line,match', [
    ('1 0.5 0.5 0.25', r'a\.txt:1: expected 5 values'),
    ('1 0.5 0.5 0.25 0.5 0.1 0.2', r'a\.txt:1: .*segment'),
    ('3 0.5 0.5 0.25 0.5', r'a\.txt:1: class 3 is not an index 0\.\.2'),
    ('1 1.5 0.5 0.25 0.5', r'a\.txt:1: 1\.5 is outside \[0, 1\]'),
    ('1 0.5 0.5 0 0.5', r'a\.txt:1: box width and height must be > 0'),
    ('x 0.5 0.5 0.25 0.5', r'a\.txt:1: not numbers'),
])
def test_yolo_bad_lines_named_file_and_line(yolo_set, line, match):
    images, labels, names = yolo_set
    (labels / 'a.txt').write_text(line + '\n')
    with pytest.raises(ValueError, match=match):
        yolo_to_coco(images, labels, load_class_names(names))


def test_class_names_from_yaml(tmp_path):
    listed = tmp_path / 'data.yaml'
    listed.write_text('path: x\nnames: [car, bus]\n')
    assert load_class_names(listed) == ['car', 'bus']
    mapped = tmp_path / 'map.yaml'
    mapped.write_text('names:\n  0: car\n  1: bus\n')
    assert load_class_names(mapped) == ['car', 'bus']
    bad = tmp_path / 'bad.yaml'
    bad.write_text('names:\n  0: car\n  2: bus\n')
    with pytest.raises(ValueError, match='bad.yaml: "names" must be'):
        load_class_names(bad)
    dup = tmp_path / 'dup.txt'
    dup.write_text('car\ncar\n')
    with pytest.raises(ValueError, match=r"dup.txt: duplicate class names \['car'\]"):
        load_class_names(dup)



def test_cli_tools(voc_root, yolo_set, tmp_path, capsys):
    out = tmp_path / 'out' / 'voc.json'
    assert tool_module('tools/dataset_converters/voc2coco.py').main(
        [str(voc_root), str(out), '--split', 'trainval']) == 0
    assert len(json.loads(out.read_text())['images']) == 2
    images, labels, names = yolo_set
    out = tmp_path / 'out' / 'yolo.json'
    assert tool_module('tools/dataset_converters/yolo2coco.py').main(
        [str(images), str(labels), str(names), str(out)]) == 0
    assert len(json.loads(out.read_text())['annotations']) == 3
    (labels / 'a.txt').write_text('9 0.5 0.5 0.5 0.5\n')
    capsys.readouterr()
    assert tool_module('tools/dataset_converters/yolo2coco.py').main(
        [str(images), str(labels), str(names), str(out)]) == 1
    err = capsys.readouterr().err
    assert 'a.txt:1: class 9 is not an index' in err and 'Traceback' not in err


def test_remap_categories_merges_drops_and_renumbers():
    from custom.datasets.converters import remap_categories
    coco = dict(images=[dict(id=1, file_name='a.png', width=10, height=10)],
                categories=[dict(id=1, name='cat'), dict(id=2, name='dog'),
                            dict(id=5, name='car')],
                annotations=[dict(id=7, image_id=1, category_id=c, bbox=[0, 0, 1, 1],
                                  area=1, iscrowd=0) for c in (5, 1, 2, 5)])
    out = remap_categories(coco, {'cat': 'animal', 'dog': 'animal', 'car': None})
    assert [c['name'] for c in out['categories']] == ['animal']
    assert [(a['id'], a['category_id']) for a in out['annotations']] == [(1, 1), (2, 1)]
    out = remap_categories(coco, {'car': 'vehicle', 'cat': 'animal', 'dog': 'animal'})
    assert [(c['id'], c['name']) for c in out['categories']] == [(1, 'vehicle'), (2, 'animal')]
    assert [a['category_id'] for a in out['annotations']] == [1, 2, 2, 1]
    with pytest.raises(ValueError, match='not mapped: dog; not in the file: cow'):
        remap_categories(coco, {'cat': 'a', 'car': 'b', 'cow': 'c'})
