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
    assert 'playbooks/perf.yml' in names and 'playbooks/debug.yml' in names
    # the repository root's thin playbooks stay out: the collection has playbooks/
    for thin in ('perf.yml', 'provision.yml', 'teardown.yml', 'debug.yml'):
        assert thin not in names, thin

    dest = tmp_path / 'collections'
    _run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'install', '-p', str(dest), str(artifact)])
    env = _env(tmp_path, ANSIBLE_COLLECTIONS_PATH=str(dest))
    out = subprocess.run([os.path.join(BIN, 'ansible-doc'), '-t', 'module', '-l', 'mptcp.lab', '-j'],
                         check=True, capture_output=True, text=True, env=env, cwd=str(tmp_path)).stdout
    listed = {name.split('.')[-1] for name in json.loads(out)}
    assert MODULES <= listed, listed


def test_installed_playbook_keeps_results_out_of_the_collection(tmp_path):
    """mptcp.lab.perf of an installed collection resolves results/ in the current directory."""
    env = _env(tmp_path)
    subprocess.run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'build', '--output-path', str(tmp_path), ROOT],
                   check=True, capture_output=True, text=True, env=env)
    dest = tmp_path / 'collections'
    subprocess.run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'install', '-p', str(dest),
                    str(tmp_path / 'mptcp-lab-0.1.0.tar.gz')], check=True, capture_output=True, text=True, env=env)
    inventory = tmp_path / 'inventory'
    subprocess.run([sys.executable, os.path.join(ROOT, 'scripts', 'lab-inventory.py'), '--pairs', '1',
                    '--prefix', 'mpinst', '--out', str(inventory)], check=True, capture_output=True)
    work = tmp_path / 'work'
    work.mkdir()
    # an unknown baseline stops the run in the plan play, naming the results directory it looked in
    proc = subprocess.run([os.path.join(BIN, 'ansible-playbook'), 'mptcp.lab.perf', '-i', str(inventory),
                           '-e', 'perf_provision=false', '-e', 'perf_baseline=nope'],
                          capture_output=True, text=True, cwd=str(work), check=False,
                          env=dict(_env(tmp_path, ANSIBLE_COLLECTIONS_PATH=str(dest)), PWD=str(work)))
    out = ' '.join(proc.stdout.split()).replace("''", "'")
    assert proc.returncode != 0 and "perf_baseline: run 'nope' is not in the history" in out, out[-2000:]
    assert 'under %s/results,' % work in out
    assert 'ansible_collections' not in out.split('is not in the history')[1].split(',')[0]


def test_root_playbooks_import_the_collections(tmp_path):
    """ansible-playbook perf.yml (and provision, teardown, debug) from the repository root."""
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'))
    for name in ('perf', 'provision', 'teardown', 'debug'):
        out = subprocess.run([os.path.join(BIN, 'ansible-playbook'), '%s.yml' % name, '--list-tasks'],
                             cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout
        direct = subprocess.run([os.path.join(BIN, 'ansible-playbook'), 'playbooks/%s.yml' % name, '--list-tasks'],
                                cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout
        # the same plays and tasks as the playbook it imports
        assert out.split('\n', 2)[2] == direct.split('\n', 2)[2], name
