"""The licence: Apache-2.0 as MMDetection's, declared in pyproject.toml (SPDX), and a NOTICE
naming the works classicdet derives from with their licences."""
import re
import tomllib
from importlib import metadata

import pytest

SECTIONS = ('Definitions', 'Grant', 'Grant', 'Redistribution', 'Submission', 'Trademarks',
            'Disclaimer', 'Limitation', 'Accepting')


def terms(text: str) -> str:
    """The licence's terms, whitespace-normalised, without a copyright line above them."""
    return ' '.join(text[text.index('Apache License'):
                         text.index('END OF TERMS AND CONDITIONS')].split())


def test_license_is_the_apache_2_text_mmdetection_ships(repo_root):
    ours = (repo_root / 'LICENSE').read_text()
    assert ours.lstrip().startswith('Apache License') and 'Version 2.0, January 2004' in ours
    files = metadata.distribution('mmdet').files or []
    licence = next((f for f in files if f.name.upper().startswith('LICENSE')), None)
    if licence is None:
        pytest.skip('the installed mmdet ships no LICENSE file')
    assert terms(ours) == terms(licence.read_text())
    headings = re.findall(r'\b(\d)\. ([A-Z][a-z]+)', terms(ours))
    numbered = [(int(n), word) for n, word in headings if word in SECTIONS]
    assert numbered == list(enumerate(SECTIONS, 1))


def test_pyproject_declares_the_licence_and_its_files(repo_root):
    project = tomllib.loads((repo_root / 'pyproject.toml').read_text())['project']
    assert project['license'] == 'Apache-2.0'
    assert set(project['license-files']) == {'LICENSE', 'NOTICE'}
    for name in project['license-files']:
        assert (repo_root / name).is_file(), name


def test_notice_names_the_works_and_their_licences(repo_root):
    notice = (repo_root / 'NOTICE').read_text()
    for work, licence in [('MMDetection', 'Apache License 2.0'), ('MMEngine', 'Apache License 2.0'),
                          ('MMCV', 'Apache License 2.0'), ('torchvision', 'BSD 3-Clause')]:
        block = notice[notice.index(f'- {work} '):]
        block = block[:block.find('\n- ', 1) if '\n- ' in block[1:] else len(block)]
        assert licence in block, work
    assert 'course' in notice
