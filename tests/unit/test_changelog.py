"""The changelog: fragments antsibull-changelog accepts, and a CHANGELOG.md generated from them."""

import glob
import os
import shutil
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


def test_every_fragment_uses_a_configured_section():
    with open(os.path.join(ROOT, 'changelogs', 'config.yaml')) as f:
        config = yaml.safe_load(f)
    sections = set(name for name, _title in config['sections'])
    sections |= {config['prelude_section_name'], config['trivial_section_name']}
    fragments = sorted(glob.glob(os.path.join(ROOT, 'changelogs', 'fragments', '*.yml')))
    assert fragments
    for path in fragments:
        with open(path) as f:
            data = yaml.safe_load(f)
        assert isinstance(data, dict) and data, path
        assert set(data) <= sections, (path, set(data) - sections)
        for key, value in data.items():
            if key == config['prelude_section_name']:
                assert isinstance(value, str) and value.strip(), path
            else:
                assert isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value), path


def test_antsibull_changelog_lint_accepts_the_fragments():
    tool = os.path.join(BIN, 'antsibull-changelog')
    if not os.path.exists(tool):
        pytest.skip('antsibull-changelog is not installed (requirements.txt)')
    proc = subprocess.run([tool, 'lint'], cwd=ROOT, capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


def test_changelog_md_is_generated_from_changelog_yaml(tmp_path):
    """CHANGELOG.md is what antsibull-changelog generate makes of changelogs/changelog.yaml."""
    tool = os.path.join(BIN, 'antsibull-changelog')
    if not os.path.exists(tool):
        pytest.skip('antsibull-changelog is not installed (requirements.txt)')
    copy = tmp_path / 'lab'
    copy.mkdir()
    for name in ('galaxy.yml', 'CHANGELOG.md'):
        shutil.copy(os.path.join(ROOT, name), str(copy / name))
    shutil.copytree(os.path.join(ROOT, 'changelogs'), str(copy / 'changelogs'))
    subprocess.run([tool, 'generate'], cwd=str(copy), capture_output=True, text=True, check=True)
    with open(os.path.join(ROOT, 'CHANGELOG.md')) as f:
        assert (copy / 'CHANGELOG.md').read_text() == f.read()
    with open(os.path.join(ROOT, 'changelogs', 'changelog.yaml')) as f:
        releases = yaml.safe_load(f)['releases']
    assert '0.1.0' in releases and '0.1.0-release-summary.yml' in releases['0.1.0']['fragments']
