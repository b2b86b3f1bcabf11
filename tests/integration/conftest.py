"""Fixtures for integration tests against the real kernel.

Every test gets throwaway network namespaces with unique names (prefix
``mlt``, for "mptcp.lab test") that are deleted when the test ends, pass or
fail. Modules run for real inside them, either directly (fast, one process)
or through ansible-playbook.
"""

import contextlib
import glob
import json
import os
import re
import subprocess
import sys
import uuid

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(ROOT, '.collections')
VENV_BIN = os.path.dirname(sys.executable)


# The files that take longest, longest first, when `make integration
# TEST_JOBS=2` runs the files on several workers (pytest -n, each file on one
# worker): a long file started last would leave the others idle at the end. Sorting is
# stable: every other file keeps its place, and tests their order in a file.
LONGEST_FIRST = ('test_mptcpd_role.py', 'test_perf_abort.py', 'test_perf_scenarios.py', 'test_perf_smoke.py',
                 'test_debug_bundle.py', 'test_bad_inputs.py', 'test_traffic_sink_role.py', 'test_lab.py',
                 'test_host_prep_mptcp.py', 'test_perf_latency_suite.py', 'test_ownership.py', 'test_capture.py',
                 'test_perf_pairs.py', 'test_report_role.py', 'test_state_dir.py')


def pytest_collection_modifyitems(session, config, items):
    if not os.environ.get('PYTEST_XDIST_WORKER'):
        return      # one at a time (make integration's default): the files in their own order
    rank = dict((name, i) for i, name in enumerate(LONGEST_FIRST))
    items.sort(key=lambda item: rank.get(os.path.basename(str(item.fspath)), len(rank)))


def _require_root():
    if os.geteuid() != 0:
        pytest.skip('integration tests need root (network namespaces)')


def unique_name(prefix='mlt'):
    """A namespace-safe unique name, short enough for interface names too."""
    return '%s%s' % (prefix, uuid.uuid4().hex[:8])


class Netns:
    """A throwaway network namespace."""

    def __init__(self, name):
        self.name = name

    def run(self, *argv, check=True, **kwargs):
        """Run argv inside the namespace; returns CompletedProcess (text)."""
        return subprocess.run(['ip', 'netns', 'exec', self.name] + list(argv),
                              check=check, capture_output=True, text=True, **kwargs)

    def add_veth(self, name, peer_ns=None, peer_name=None, up=True):
        """Create a veth pair with one end (``name``) in this namespace."""
        peer_name = peer_name or name + 'p'
        subprocess.run(['ip', 'link', 'add', name, 'netns', self.name, 'type', 'veth',
                        'peer', 'name', peer_name, 'netns', peer_ns.name if peer_ns else self.name],
                       check=True)
        if up:
            self.run('ip', 'link', 'set', name, 'up')
            (peer_ns or self).run('ip', 'link', 'set', peer_name, 'up')
        return name


@pytest.fixture
def netns_factory():
    """Create namespaces on demand; all are deleted at teardown."""
    _require_root()
    created = []

    def make(prefix='mlt'):
        ns = Netns(unique_name(prefix))
        subprocess.run(['ip', 'netns', 'add', ns.name], check=True)
        created.append(ns)
        ns.run('ip', 'link', 'set', 'lo', 'up')
        return ns

    yield make
    for ns in created:
        subprocess.run(['ip', 'netns', 'del', ns.name], check=False)


@pytest.fixture
def netns(netns_factory):
    """One throwaway namespace."""
    return netns_factory()


def run_module(ns, module, args, check_mode=False, diff=False):
    """Run a collection module for real inside namespace ``ns``.

    The module is executed the way Ansible does it (JSON args, ANSIBLE_MODULE
    protocol) but without the playbook machinery, so a call costs a fraction
    of a second. Returns the parsed result dict; ``rc`` holds the exit code.
    """
    payload = dict(args)
    payload['_ansible_check_mode'] = check_mode
    payload['_ansible_diff'] = diff
    payload['_ansible_tmpdir'] = None
    payload['_ansible_remote_tmp'] = '/tmp'
    payload['_ansible_keep_remote_files'] = False
    env = dict(os.environ, PYTHONPATH=COLLECTIONS, LC_ALL='C')
    argv = [sys.executable, '-m', 'ansible_collections.mptcp.lab.plugins.modules.%s' % module]
    if ns is not None:
        argv = ['ip', 'netns', 'exec', ns.name] + argv
    proc = subprocess.run(argv, input=json.dumps({'ANSIBLE_MODULE_ARGS': payload}),
                          capture_output=True, text=True, env=env, check=False)
    try:
        result = json.loads(proc.stdout)
    except ValueError:
        raise AssertionError('module %s printed no JSON (rc=%d)\nstdout: %s\nstderr: %s'
                             % (module, proc.returncode, proc.stdout, proc.stderr))
    result['rc'] = proc.returncode
    return result


def ansible_playbook(playbook, *args, env=None, check=True):
    """Run ansible-playbook from the repo root with the project's ansible.cfg."""
    full_env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'),
                    PATH=VENV_BIN + os.pathsep + os.environ.get('PATH', ''))
    full_env.update(env or {})
    proc = subprocess.run([os.path.join(VENV_BIN, 'ansible-playbook'), playbook] + list(args),
                          cwd=ROOT, capture_output=True, text=True, env=full_env, check=False)
    if check and proc.returncode != 0:
        raise AssertionError('ansible-playbook %s failed (rc=%d)\n%s\n%s'
                             % (playbook, proc.returncode, proc.stdout[-6000:], proc.stderr[-3000:]))
    return proc


@contextlib.contextmanager
def virtual_lab(inv, prefix, pairs=1, rates='50,50', sink_user=None):
    """A virtual-lab inventory of its own in ``inv`` (scripts/lab-inventory.py, a unique ``prefix``),
    torn down afterwards whatever happened, and checked gone. ``sink_user``: the traffic sink's user
    (labs of other tests on this machine create and remove the default one); it is gone after too."""
    subprocess.run([sys.executable, os.path.join(ROOT, 'scripts', 'lab-inventory.py'), '--pairs', str(pairs),
                    '--prefix', prefix, '--rates', rates, '--out', inv], check=True, capture_output=True)
    if sink_user:
        with open(os.path.join(inv, 'group_vars', 'all', 'zz-sink-user.yml'), 'w') as f:
            f.write('traffic_sink_user: %s\n' % sink_user)
    try:
        yield
    finally:
        ansible_playbook('playbooks/teardown.yml', '-i', inv, check=False)
        # the sink's logs stay after a stop (for post-mortems); this lab is gone
        for name in glob.glob('/run/mptcp-lab/%s-*' % prefix):
            os.unlink(name)
        left = subprocess.run(['ip', 'netns', 'list'], capture_output=True, text=True, check=True).stdout
        assert prefix not in left
        if sink_user:
            users = subprocess.run(['getent', 'passwd', sink_user], capture_output=True, check=False)
            assert users.returncode == 2, users.stdout


def recap(proc):
    """{host: {ok, changed, failed, ...}} from the PLAY RECAP of an ansible-playbook run."""
    hosts = {}
    for line in proc.stdout.splitlines():
        match = re.match(r'^(\S+)\s+:\s+(ok=.*)$', line)
        if match:
            hosts[match.group(1)] = dict((k, int(v)) for k, v in re.findall(r'(\w+)=(\d+)', match.group(2)))
    return hosts


def changed(proc):
    """{host: number of changed tasks} of the hosts that changed something."""
    return dict((host, counts['changed']) for host, counts in recap(proc).items() if counts['changed'])
