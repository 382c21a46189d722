"""validate_coco and ValidatedCocoDataset: every bad case named with its location, plus a fuzz."""
import copy
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from in_process import tool_module
from PIL import Image
from pycocotools.coco import COCO

from custom.datasets import CocoValidationError, ValidatedCocoDataset, validate_coco
from custom.datasets.coco_validation import ERROR, INFO, Problem

CLASSES = ('cat', 'dog')


def valid_coco() -> dict:
    """Two 32x24 images, three boxes, two categories."""
    return dict(
        info=dict(description='test'), licenses=[],
        images=[dict(id=1, file_name='a.png', width=32, height=24),
                dict(id=2, file_name='b.png', width=32, height=24)],
        annotations=[
            dict(id=1, image_id=1, category_id=1, bbox=[2, 3, 10, 8], area=80, iscrowd=0),
            dict(id=2, image_id=1, category_id=2, bbox=[20, 4, 12, 20], area=240, iscrowd=0),
            dict(id=3, image_id=2, category_id=1, bbox=[0, 0, 32, 24], area=768, iscrowd=1)],
        categories=[dict(id=1, name='cat'), dict(id=2, name='dog')])


def write_images(img_dir: Path) -> None:
    img_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name in ('a.png', 'b.png'):
        cv2.imwrite(str(img_dir / name), rng.integers(0, 255, (24, 32, 3), dtype=np.uint8))


@pytest.fixture
def coco_set(tmp_path):
    """(ann_path, img_dir, data): a valid set; tests corrupt ``data`` and call ``write``."""
    img_dir = tmp_path / 'images'
    write_images(img_dir)
    ann = tmp_path / 'ann.json'
    data = valid_coco()
    ann.write_text(json.dumps(data))
    return ann, img_dir, data


def write(ann: Path, data) -> Path:
    ann.write_text(json.dumps(data))
    return ann


def errors(problems):
    return [p for p in problems if p.severity == ERROR]


def only_error(problems) -> Problem:
    errs = errors(problems)
    assert len(errs) == 1, [str(p) for p in problems]
    return errs[0]


def test_valid_set_has_no_problems(coco_set):
    ann, img_dir, _ = coco_set
    assert validate_coco(ann, img_dir) == []
    assert validate_coco(ann, img_dir, image_check='header') == []


# --- the file itself ---------------------------------------------------------------------

def test_missing_file(tmp_path):
    problem = only_error(validate_coco(tmp_path / 'nope.json'))
    assert str(problem) == f'{tmp_path / "nope.json"}: file not found'


def test_not_json(tmp_path):
    ann = tmp_path / 'ann.json'
    ann.write_text('images: [1, 2]')
    assert 'not valid JSON' in str(only_error(validate_coco(ann)))


def test_binary_file(tmp_path):
    ann = tmp_path / 'ann.json'
    ann.write_bytes(b'\x89PNG\r\n\x1a\n\xff\xfe')
    assert 'not UTF-8' in only_error(validate_coco(ann)).message


def test_truncated_json(coco_set):
    ann, _, data = coco_set
    text = json.dumps(data)
    ann.write_text(text[:len(text) // 2])
    problem = only_error(validate_coco(ann))
    assert problem.message.startswith('truncated') and str(ann) in str(problem)


def test_empty_file(tmp_path):
    ann = tmp_path / 'ann.json'
    ann.write_text('  \n')
    assert only_error(validate_coco(ann)).message == 'file is empty'


def test_top_level_not_an_object(tmp_path):
    ann = write(tmp_path / 'ann.json', [1, 2])
    assert 'top level is a JSON array' in only_error(validate_coco(ann)).message


@pytest.mark.parametrize('key', ['images', 'annotations', 'categories'])
def test_missing_top_level_key(coco_set, key):
    ann, _, data = coco_set
    del data[key]
    problems = validate_coco(write(ann, data))
    assert only_error(problems).message == f"missing top-level key '{key}'"


def test_image_info_file_allowed_without_annotations(coco_set):
    ann, img_dir, data = coco_set
    del data['annotations']
    problems = validate_coco(write(ann, data), img_dir, require_annotations=False)
    assert not errors(problems) and 'image-info file' in problems[0].message


# --- records -----------------------------------------------------------------------------

def test_missing_annotation_keys_named_with_location(coco_set):
    ann, _, data = coco_set
    del data['annotations'][1]['bbox']
    del data['annotations'][1]['area']
    problem = only_error(validate_coco(write(ann, data)))
    assert str(problem) == (f"{ann}: annotation 2 (image 1, a.png): missing keys 'bbox', 'area' "
                            "(area: mmdet's CocoDataset and COCOeval read it)")


def test_missing_image_key(coco_set):
    ann, _, data = coco_set
    del data['images'][1]['height']
    problem = only_error(validate_coco(write(ann, data)))
    assert problem.location == 'image 2 (b.png)' and "missing key 'height'" in problem.message


def test_missing_category_name(coco_set):
    ann, _, data = coco_set
    del data['categories'][0]['name']
    assert only_error(validate_coco(write(ann, data))).location == 'category 1'


@pytest.mark.parametrize('section,noun', [('images', 'image'), ('annotations', 'annotation'),
                                          ('categories', 'category')])
def test_duplicate_ids(coco_set, section, noun):
    ann, _, data = coco_set
    data[section][1]['id'] = data[section][0]['id']
    problems = errors(validate_coco(write(ann, data)))
    dup = [p for p in problems if 'duplicate' in p.message]
    assert len(dup) == 1
    assert dup[0].message == f'duplicate {noun} id 1 (first at {section}[0])'
    assert dup[0].index == 1


def test_duplicate_file_name(coco_set):
    ann, _, data = coco_set
    data['images'][1]['file_name'] = 'a.png'
    problem = only_error(validate_coco(write(ann, data)))
    assert str(problem) == f'{ann}: image 2 (a.png): file_name also used by image 1'


def test_non_integer_id_reported_by_position(coco_set):
    ann, _, data = coco_set
    data['annotations'][2]['id'] = '3'
    problem = only_error(validate_coco(write(ann, data)))
    assert problem.location == 'annotations[2] (image 2, b.png)'
    assert problem.message == "id must be an integer, got '3' (string)"


def test_unknown_image_id(coco_set):
    ann, _, data = coco_set
    data['annotations'][0]['image_id'] = 99
    problem = only_error(validate_coco(write(ann, data)))
    assert str(problem) == f'{ann}: annotation 1 (image 99): image_id 99 does not exist ' \
                           '(no image has this id)'


def test_unknown_category_id(coco_set):
    ann, _, data = coco_set
    data['annotations'][1]['category_id'] = 7
    problem = only_error(validate_coco(write(ann, data)))
    assert problem.location == 'annotation 2 (image 1, a.png)'
    assert problem.message == 'category_id 7 does not exist (no category has this id)'


@pytest.mark.parametrize('bbox', [[1, 2, 3], [1, 2, 3, 4, 5], 'box', [1, '2', 3, 4],
                                  [1, 2, float('nan'), 4], [1, 2, 3, float('inf')],
                                  [1, 2, 3, 10 ** 400], [True, 2, 3, 4], None])
def test_bbox_not_four_finite_numbers(coco_set, bbox):
    ann, _, data = coco_set
    data['annotations'][0]['bbox'] = bbox
    problem = only_error(validate_coco(write(ann, data)))
    assert problem.location == 'annotation 1 (image 1, a.png)'
    assert problem.message.startswith('bbox must be 4 finite numbers [x, y, w, h]')


@pytest.mark.parametrize('index,message', [(2, 'bbox width <= 0 (w=0)'),
                                           (3, 'bbox height <= 0 (h=-1)')])
def test_bbox_width_or_height_not_positive(coco_set, index, message):
    ann, _, data = coco_set
    data['annotations'][0]['bbox'][index] = 0 if index == 2 else -1
    problem = only_error(validate_coco(write(ann, data)))
    assert str(problem) == f'{ann}: annotation 1 (image 1, a.png): {message}'


@pytest.mark.parametrize('bbox,detail', [([25, 3, 10, 8], 'x + w = 35 > width 32'),
                                         ([2, -3, 10, 8], 'y = -3 < 0'),
                                         ([2, 3, 10, 30], 'y + h = 33 > height 24')])
def test_bbox_outside_image(coco_set, bbox, detail):
    ann, _, data = coco_set
    data['annotations'][0]['bbox'] = bbox
    problem = only_error(validate_coco(write(ann, data)))
    assert problem.location == 'annotation 1 (image 1, a.png)'
    assert 'extends outside the 32x24 image' in problem.message and detail in problem.message


def test_bbox_within_one_pixel_of_border_accepted(coco_set):
    ann, _, data = coco_set
    data['annotations'][0]['bbox'] = [-0.5, 3, 33, 8]  # float rounding of converters
    assert validate_coco(write(ann, data)) == []


def test_tiny_box_is_info(coco_set):
    ann, _, data = coco_set
    data['annotations'][0]['bbox'] = [2, 3, 0.5, 8]
    problems = validate_coco(write(ann, data))
    assert not errors(problems) and 'under 1 px' in problems[0].message


def test_area_and_iscrowd(coco_set):
    ann, _, data = coco_set
    data['annotations'][0]['area'] = 0
    data['annotations'][1]['iscrowd'] = 2
    messages = [p.message for p in errors(validate_coco(write(ann, data)))]
    assert messages == ["area <= 0 (0): mmdet's CocoDataset would silently drop this annotation",
                        'iscrowd must be 0 or 1, got 2']


def test_bad_image_size_values(coco_set):
    ann, _, data = coco_set
    data['images'][0]['width'] = 0
    data['images'][1]['height'] = 24.5
    messages = [str(p) for p in errors(validate_coco(write(ann, data)))]
    assert messages == [f'{ann}: image 1 (a.png): width must be a positive integer, got 0',
                        f'{ann}: image 2 (b.png): height must be a positive integer, got 24.5']


def test_classes_must_be_category_names(coco_set):
    ann, _, _ = coco_set
    problem = only_error(validate_coco(ann, classes=('cat', 'cow')))
    assert "'cow'" in problem.message and 'metainfo' in problem.message


# --- image files -------------------------------------------------------------------------

def test_image_file_missing(coco_set):
    ann, img_dir, _ = coco_set
    (img_dir / 'b.png').unlink()
    problem = only_error(validate_coco(ann, img_dir, image_check='header'))
    assert str(problem) == f'{ann}: image 2 (b.png): image file missing: {img_dir / "b.png"}'


def test_image_file_unreadable(coco_set):
    ann, img_dir, _ = coco_set
    (img_dir / 'b.png').unlink()
    (img_dir / 'b.png').mkdir()
    problem = only_error(validate_coco(ann, img_dir))
    assert problem.location == 'image 2 (b.png)' and 'unreadable' in problem.message


def test_image_file_not_an_image(coco_set):
    ann, img_dir, _ = coco_set
    (img_dir / 'a.png').write_bytes(b'not an image at all' * 10)
    problem = only_error(validate_coco(ann, img_dir, image_check='header'))
    assert problem.location == 'image 1 (a.png)' and 'corrupt or not an image' in problem.message


def test_truncated_image_found_by_full_check_only(coco_set):
    ann, img_dir, _ = coco_set
    path = img_dir / 'a.png'
    rng = np.random.default_rng(1)
    cv2.imwrite(str(path), rng.integers(0, 255, (24, 32, 3), dtype=np.uint8))
    content = path.read_bytes()
    path.write_bytes(content[:len(content) * 2 // 3])
    assert validate_coco(ann, img_dir, image_check='header') == []  # header intact
    problem = only_error(validate_coco(ann, img_dir, image_check='full'))
    assert problem.location == 'image 1 (a.png)'
    assert 'corrupt or truncated image data' in problem.message


def test_image_size_differs_from_json(coco_set):
    ann, img_dir, _ = coco_set
    cv2.imwrite(str(img_dir / 'b.png'), np.zeros((24, 40, 3), np.uint8))
    problem = only_error(validate_coco(ann, img_dir, image_check='header'))
    assert str(problem) == (f'{ann}: image 2 (b.png): image is 40x24 but the JSON says 32x24 '
                            '(width x height)')


def test_exif_rotation_counts_for_the_size(coco_set):
    """OpenCV, the training loader, applies a JPEG's EXIF orientation: 6 turns 32x24 to 24x32."""
    ann, img_dir, data = coco_set
    img = Image.fromarray(np.zeros((24, 32, 3), np.uint8))
    exif = img.getexif()
    exif[0x0112] = 6
    img.save(img_dir / 'c.jpg', exif=exif.tobytes())
    assert cv2.imread(str(img_dir / 'c.jpg')).shape[:2] == (32, 24)  # the reference
    data['images'][1]['file_name'] = 'c.jpg'
    problem = only_error(validate_coco(write(ann, data), img_dir))
    assert 'image is 24x32 after EXIF orientation 6' in problem.message
    data['images'][1].update(width=24, height=32)
    data['annotations'][2].update(bbox=[0, 0, 24, 32])
    assert validate_coco(write(ann, data), img_dir) == []


def odd_image(kind: str, path: Path) -> None:
    """A 24x32 image of an unusual kind."""
    grey = (np.arange(24 * 32).reshape(24, 32) % 256).astype(np.uint8)
    if kind == 'grayscale':
        cv2.imwrite(str(path), grey)
    elif kind == '16-bit':
        cv2.imwrite(str(path), grey.astype(np.uint16) * 257)
    elif kind == 'RGBA':
        Image.fromarray(np.dstack([grey] * 3 + [grey])).save(path)
    elif kind == 'palette':
        Image.fromarray(np.dstack([grey] * 3)).convert('P').save(path)


@pytest.mark.parametrize('kind', ['grayscale', '16-bit', 'RGBA', 'palette'])
def test_odd_images_are_info_and_load_as_3_channel_uint8(coco_set, kind):
    from mmdet.registry import TRANSFORMS

    ann, img_dir, _ = coco_set
    path = img_dir / 'a.png'
    odd_image(kind, path)
    problems = validate_coco(ann, img_dir)
    assert [p.severity for p in problems] == [INFO]
    assert problems[0].message.startswith(kind) and problems[0].location == 'image 1 (a.png)'
    # The loading step of every config, as the registry builds it.
    results = TRANSFORMS.build(dict(type='LoadImageFromFile'))(dict(img_path=str(path)))
    assert results['img'].shape == (24, 32, 3) and results['img'].dtype == np.uint8
    assert results['img'].std() > 0  # real content, not a blank fallback


def test_image_folder_missing(coco_set, tmp_path):
    ann, _, _ = coco_set
    problem = only_error(validate_coco(ann, tmp_path / 'nowhere'))
    assert problem.message == f'image folder not found: {tmp_path / "nowhere"}'


def test_bad_image_check_argument(coco_set):
    with pytest.raises(ValueError, match="image_check must be one of .* got 'fast'"):
        validate_coco(coco_set[0], image_check='fast')


# --- the dataset that runs the check -----------------------------------------------------

def build_dataset(ann: Path, img_dir: Path, **kwargs):
    # serialize_data=False: skips mmengine's gc.collect(), a quarter second per dataset.
    return ValidatedCocoDataset(ann_file=str(ann), data_prefix=dict(img=str(img_dir)),
                                metainfo=dict(classes=CLASSES), pipeline=[],
                                serialize_data=False, **kwargs)


def test_dataset_is_registered_under_a_new_name():
    from mmdet.registry import DATASETS

    assert DATASETS.get('ValidatedCocoDataset') is ValidatedCocoDataset


def test_dataset_loads_valid_set(coco_set):
    ann, img_dir, _ = coco_set
    dataset = build_dataset(ann, img_dir)
    assert len(dataset) == 2
    assert dataset[0]['instances'][1]['bbox'] == [20, 4, 32, 24]


def test_dataset_raises_one_clear_error(coco_set):
    ann, img_dir, data = coco_set
    data['annotations'][1]['bbox'][2] = 0
    (img_dir / 'b.png').unlink()
    with pytest.raises(CocoValidationError) as info:
        build_dataset(write(ann, data), img_dir)
    lines = str(info.value).splitlines()
    assert lines[0] == f'{ann}: annotation 2 (image 1, a.png): bbox width <= 0 (w=0)'
    assert lines[1] == f'{ann}: image 2 (b.png): image file missing: {img_dir / "b.png"}'
    assert '2 errors' in lines[2] and 'tools/misc/validate_coco.py' in lines[2]
    assert len(info.value.problems) == 2


def test_dataset_refuses_classes_missing_from_file(coco_set):
    ann, img_dir, _ = coco_set
    with pytest.raises(CocoValidationError, match="'bird'.*metainfo"):
        ValidatedCocoDataset(ann_file=str(ann), data_prefix=dict(img=str(img_dir)),
                             metainfo=dict(classes=('cat', 'bird')), pipeline=[],
                             serialize_data=False)


def test_dataset_validation_modes(coco_set):
    ann, img_dir, _ = coco_set
    (img_dir / 'a.png').unlink()
    with pytest.raises(CocoValidationError, match='image file missing'):
        build_dataset(ann, img_dir)
    assert len(build_dataset(ann, img_dir, validation='json')) == 2
    assert len(build_dataset(ann, img_dir, validation='off')) == 2
    with pytest.raises(ValueError, match="validation must be one of .* got 'quick'"):
        build_dataset(ann, img_dir, validation='quick')


# --- the command line --------------------------------------------------------------------


def test_cli_valid_and_invalid(coco_set, capsys):
    ann, img_dir, data = coco_set
    cli = tool_module('tools/misc/validate_coco.py')
    assert cli.main([str(ann), '--img-dir', str(img_dir)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f'{ann}: 2 images, 3 annotations, 2 categories: 0 errors, 0 info: valid']
    data['annotations'][0]['image_id'] = 5
    odd_image('grayscale', img_dir / 'b.png')
    assert cli.main([str(write(ann, data)), '--img-dir', str(img_dir)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (f'error: {ann}: annotation 1 (image 5): image_id 5 does not exist '
                      '(no image has this id)')
    assert out[1].startswith(f'info: {ann}: image 2 (b.png): grayscale image')
    assert out[-1].endswith('1 error, 1 info: INVALID')


def test_cli_script_on_garbage_exits_1_without_traceback(tmp_path):
    ann = tmp_path / 'ann.json'
    ann.write_text('{"images": [{"id": 1, "file_name": "a.png", "width": 3')
    proc = subprocess.run([sys.executable, 'tools/misc/validate_coco.py', str(ann)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and 'Traceback' not in proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[0].startswith(f'error: {ann}: truncated')


# --- fuzz: corrupt a valid file at random --------------------------------------------------

ODD_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-10 ** 30, 10 ** 30), st.just(10 ** 400),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=4),
    st.lists(st.integers(-50, 50), max_size=5), st.dictionaries(st.sampled_from(['id', 'x']),
                                                                st.integers(), max_size=2))


def mutate(doc: dict, data) -> None:
    """Delete, replace or duplicate one randomly chosen node of ``doc``."""
    parent, key, node = None, None, doc
    while isinstance(node, (dict, list)) and node and (parent is None or data.draw(st.booleans())):
        key = data.draw(st.sampled_from(sorted(node)) if isinstance(node, dict)
                        else st.integers(0, len(node) - 1))
        parent, node = node, node[key]
    if parent is None:
        return
    op = data.draw(st.sampled_from(['delete', 'replace', 'replace', 'duplicate']))
    if op == 'delete':
        del parent[key]
    elif op == 'replace':
        parent[key] = data.draw(ODD_VALUES)
    elif isinstance(parent, list):
        parent.append(copy.deepcopy(parent[key]))


@pytest.fixture(scope='module')
def fuzz_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp('fuzz')
    write_images(root / 'images')
    return root


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fuzz_never_raises_and_valid_means_loadable(fuzz_dir, data):
    from mmdet.datasets import CocoDataset

    doc = valid_coco()
    for _ in range(data.draw(st.integers(1, 3))):
        mutate(doc, data)
    text = json.dumps(doc)
    if data.draw(st.integers(0, 9)) == 0:
        text = text[:data.draw(st.integers(0, len(text)))]
    ann = fuzz_dir / 'ann.json'
    ann.write_text(text)
    problems = validate_coco(ann, fuzz_dir / 'images', image_check='header')
    for p in problems:
        assert p.severity in (ERROR, INFO) and p.message and str(p).startswith(str(ann))
    event('valid' if not errors(problems) else 'invalid')
    if not errors(problems):  # 'valid' must mean pycocotools and mmdet load it
        COCO(str(ann))
        CocoDataset(ann_file=str(ann), data_prefix=dict(img=str(fuzz_dir / 'images')),
                    metainfo=dict(classes=CLASSES), pipeline=[], serialize_data=False)
