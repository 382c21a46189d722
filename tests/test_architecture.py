"""The layers of custom.architecture (drawn in docs/architecture.png): each package of
classicdet imports only from the layers below it."""
import ast
from pathlib import Path

import pytest

from custom.architecture import NOTES, PACKAGES

# Higher imports lower, never the other way; equal layers do not import each other.
LAYERS = PACKAGES


def custom_imports(path: Path, package_root: Path) -> set[str]:
    """The custom subpackages ``path`` imports (absolute or relative imports)."""
    rel = path.relative_to(package_root).parts
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        modules = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                modules = [node.module or '']
            else:
                base = list(rel[:-1])[:len(rel) - node.level]
                modules = ['.'.join(['custom', *base, *([node.module] if node.module else [])])]
        for module in modules:
            parts = module.split('.')
            if parts[0] == 'custom' and len(parts) > 1:
                found.add(parts[1])
    return found


def test_every_subpackage_has_a_layer_and_a_note(repo_root):
    packages = {p.name for p in (repo_root / 'custom').iterdir()
                if p.is_dir() and (p / '__init__.py').is_file()}
    assert packages == set(LAYERS) == set(NOTES)


def test_a_climbing_import_is_caught(tmp_path):
    """The check itself: an import of a higher layer, absolute or relative, is found."""
    package = tmp_path / 'custom' / 'core'
    package.mkdir(parents=True)
    (package / 'bad.py').write_text('from ..apis import Detector\nimport custom.engine.x\n')
    found = custom_imports(package / 'bad.py', tmp_path / 'custom')
    assert found == {'apis', 'engine'}
    assert all(LAYERS[name] > LAYERS['core'] for name in found)


@pytest.mark.parametrize('package', sorted(LAYERS))
def test_imports_only_go_down(package, repo_root):
    root = repo_root / 'custom'
    for path in (root / package).rglob('*.py'):
        for imported in custom_imports(path, root) - {package}:
            assert LAYERS[imported] < LAYERS[package], (
                f'{path.relative_to(repo_root)} imports custom.{imported}')


def test_the_ops_package_stands_alone(repo_root):
    """mmcv_lite_ext is mmcv's extension module: it imports nothing of classicdet."""
    for path in (repo_root / 'mmcv_lite_ext').rglob('*.py'):
        text = path.read_text()
        assert 'import custom' not in text and 'from custom' not in text, path


def test_the_drawing_reads_the_same_table(repo_root):
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'draw_architecture', repo_root / 'docs' / 'draw_architecture.py')
    drawing = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(drawing)
    assert drawing.layer_table() == (PACKAGES, NOTES)
    labels = {label for _, _, _, label, _ in drawing.boxes(PACKAGES, NOTES)}
    assert {f'custom/{name}' for name in PACKAGES} <= labels


def test_tests_mirror_the_packages(repo_root):
    """Each package of custom has its folder of tests, and no test file sits in two folders
    under one name (pytest's default import mode would refuse the second)."""
    tests = repo_root / 'tests'
    assert {name for name in PACKAGES} <= {p.name for p in tests.iterdir() if p.is_dir()}
    names = [p.name for p in tests.rglob('test_*.py')]
    assert len(names) == len(set(names))
