"""The collection builds into a small artifact that works once installed."""

import json
import os
import subprocess
import sys
import tarfile

from conftest import ROOT

BIN = os.path.dirname(sys.executable)
MODULES = {'mptcp_endpoints', 'mptcp_limits', 'mptcp_settings', 'mptcp_info'}


def _env(tmp_path, **extra):
    """An environment that ignores the project's ansible.cfg (and its .collections path)."""
    cfg = tmp_path / 'ansible.cfg'
    cfg.write_text('[defaults]\n')
    return dict(os.environ, ANSIBLE_CONFIG=str(cfg), **extra)


def test_build_install_and_list_modules(tmp_path):
    def _run(argv):
        return subprocess.run(argv, check=True, capture_output=True, text=True, env=_env(tmp_path))

    _run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'build', '--output-path', str(tmp_path), ROOT])
    artifact = tmp_path / 'mptcp-lab-0.1.0.tar.gz'
    assert artifact.exists()
    # Small, and free of development state.
    assert artifact.stat().st_size < 1024 * 1024
    with tarfile.open(artifact) as tar:
        names = tar.getnames()
    for unwanted in ('.venv', '.git', 'results', '.collections', '.cache', 'tests', 'molecule'):
        assert not any(n == unwanted or n.startswith(unwanted + '/') for n in names), unwanted
    assert 'plugins/modules/mptcp_endpoints.py' in names
    assert 'playbooks/perf.yml' in names

    dest = tmp_path / 'collections'
    _run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'install', '-p', str(dest), str(artifact)])
    env = _env(tmp_path, ANSIBLE_COLLECTIONS_PATH=str(dest))
    out = subprocess.run([os.path.join(BIN, 'ansible-doc'), '-t', 'module', '-l', 'mptcp.lab', '-j'],
                         check=True, capture_output=True, text=True, env=env, cwd=str(tmp_path)).stdout
    listed = {name.split('.')[-1] for name in json.loads(out)}
    assert MODULES <= listed, listed
