"""playbooks/debug.yml on a netns lab of its own: the bundle, the reproduce mode, Ctrl-C.

The lab gets a unique prefix and is torn down whatever happens. Each bundle is
opened and checked item by item against its manifest; the reproduce mode must
leave no ip mptcp monitor running, also when the run is interrupted with
SIGINT (what Ctrl-C sends to the terminal's process group).
"""

import glob
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
import uuid

import pytest

from conftest import ROOT, VENV_BIN, ansible_playbook

HOSTS = ('gen1', 'sink1', 'shaper')
# What every host must give (mptcp-get-debug's items first, then the lab's).
ITEMS = ('uname', 'os_release', 'sysctl_mptcp', 'mptcp_endpoints', 'mptcp_limits', 'ss_mptcp', 'nstat',
         'nstat_absolute', 'addresses', 'rules', 'routes_main', 'qdiscs', 'kernel_config_mptcp',
         'mptcp_info', 'networkmanager')
CONNECT = (
    'import socket\n'
    's = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262); s.bind(("127.0.0.1", 0)); s.listen(1)\n'
    'c = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262); c.connect(s.getsockname())\n'
    'a, _ = s.accept(); c.sendall(b"x"); a.recv(1); c.close(); a.close(); s.close()\n'
)


@pytest.fixture(scope='module')
def lab(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip('needs root (network namespaces)')
    prefix = 'hd' + uuid.uuid4().hex[:6]
    inv = str(tmp_path_factory.mktemp('inv'))
    subprocess.run([sys.executable, os.path.join(ROOT, 'scripts', 'lab-inventory.py'), '--pairs', '1',
                    '--prefix', prefix, '--rates', '50,50', '--out', inv], check=True, capture_output=True)
    try:
        ansible_playbook('playbooks/provision.yml', '-i', inv)
        yield prefix, inv
    finally:
        ansible_playbook('playbooks/teardown.yml', '-i', inv, check=False)
        for name in glob.glob('/run/mptcp-lab/%s-*' % prefix):
            os.unlink(name)


def open_bundle(results):
    [archive] = glob.glob(os.path.join(results, 'debug', '*.tar.gz'))
    tar = tarfile.open(archive)
    names = tar.getnames()
    bundle_id = os.path.basename(archive)[:-len('.tar.gz')]

    def text(name):
        return tar.extractfile('%s/%s' % (bundle_id, name)).read().decode()
    return archive, bundle_id, names, text


def monitors_in(prefix):
    """PIDs of ip mptcp monitor processes running in the lab's namespaces."""
    inodes = set()
    for path in glob.glob('/run/netns/%s-*' % prefix):
        inodes.add(os.stat(path).st_ino)
    found = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % entry, 'rb') as f:
                argv = f.read().split(b'\0')
            if os.path.basename(argv[0]) != b'ip' or argv[1:3] != [b'mptcp', b'monitor']:
                continue
            if os.stat('/proc/%s/ns/net' % entry).st_ino in inodes:
                found.append(int(entry))
        except OSError:
            continue
    return found


def test_bundle_has_every_item_of_every_host(lab, tmp_path):
    prefix, inv = lab
    results = str(tmp_path / 'results')
    hist_before = sorted(glob.glob('/run/mptcp-lab/debug/nstat-*'))
    # the design card's words: debug.yml at the repository root imports playbooks/debug.yml
    proc = ansible_playbook('debug.yml', '-i', inv, '-e', 'perf_results_dir=%s' % results)
    archive, bundle_id, names, text = open_bundle(results)
    assert 'bundle: %s' % archive in proc.stdout
    manifest = json.loads(text('manifest.json'))
    assert manifest['mode'] == 'collect' and manifest['id'] == bundle_id
    hosts = ['%s-%s' % (prefix, h) for h in HOSTS]
    assert sorted(manifest['hosts']) == sorted(hosts)
    for host in hosts:
        entry = manifest['hosts'][host]
        assert entry['error'] is None
        by_name = dict((item['name'], item) for item in entry['items'])
        for name in ITEMS:
            assert name in by_name, (host, name)
            item = by_name[name]
            assert item['file'] in names, (host, name)
            assert item['rc'] == 0 and not item['error'], (host, item)
        # the commands are those of mptcp-get-debug, as argument lists
        assert by_name['ss_mptcp']['argv'] == ['ss', '-ManiH']
        assert by_name['mptcp_endpoints']['argv'] == ['ip', 'mptcp', 'endpoint', 'show']
        assert by_name['nstat']['argv'][0] == 'nstat' and '-s' in by_name['nstat']['argv']
        assert 'Linux' in text('%s/uname.txt' % host)
        assert 'net.mptcp.enabled = 1' in text('%s/sysctl_mptcp.txt' % host)
        assert 'MPTcpExtMPCapableSYNRX' in text('%s/nstat_absolute.txt' % host)
    # the lab's state is in it: the sink announces its two paths, the shaper shapes them,
    # the generator's policy routing has a table per path
    sink_eps = text('%s-sink1/mptcp_endpoints.txt' % prefix)
    assert sink_eps.count('signal') == 2, sink_eps
    assert 'tbf' in text('%s-shaper/qdiscs.txt' % prefix) or 'htb' in text('%s-shaper/qdiscs.txt' % prefix)
    gen = dict((i['name'], i) for i in manifest['hosts']['%s-gen1' % prefix]['items'])
    assert 'routes_table_101' in gen and 'routes_table_102' in gen
    assert '10.200.1.2 via 10.200.0.1' in text('%s-gen1/routes_table_101.txt' % prefix)
    assert any(n.startswith('offloads_') for n in gen)
    info = json.loads(text('%s-sink1/mptcp_info.json' % prefix))
    assert len(info['endpoints']) == 2
    # the summary: one page, every host
    summary = text('summary.txt')
    assert len(summary.splitlines()) < 60
    for host in hosts:
        assert '== %s' % host in summary
    with open(os.path.join(results, 'debug', bundle_id + '.txt')) as f:
        assert f.read() == summary
    # read-only: nstat's history was neither reset nor created
    assert sorted(glob.glob('/run/mptcp-lab/debug/nstat-*')) == hist_before
    assert 'changed=0' in [line for line in proc.stdout.splitlines() if line.startswith('%s-gen1' % prefix)][0]
    # nothing secret: no environment, no key
    assert not any('environ' in n or n.endswith(('.key', '.pem')) for n in names)


def test_reproduce_runs_the_command_between_two_collections_and_stops_the_monitors(lab, tmp_path):
    prefix, inv = lab
    results = str(tmp_path / 'results')
    script = tmp_path / 'connect.py'
    script.write_text(CONNECT)
    command = ['ip', 'netns', 'exec', '%s-gen1' % prefix, sys.executable, str(script)]
    ansible_playbook('playbooks/debug.yml', '-i', inv, '-e', 'perf_results_dir=%s' % results,
                     '-e', 'debug_mode=reproduce', '-e', json.dumps({'debug_command': command}))
    archive, bundle_id, names, text = open_bundle(results)
    manifest = json.loads(text('manifest.json'))
    assert manifest['mode'] == 'reproduce'
    assert manifest['command'] == {'argv': command, 'rc': 0}
    gen = '%s-gen1' % prefix
    for phase in ('before', 'after'):
        assert '%s/%s/%s/ss_mptcp.txt' % (bundle_id, gen, phase) in names
        assert '%s/%s/%s/nstat.txt' % (bundle_id, gen, phase) in names
    # nstat was reset before the command: after it, the delta shows exactly this connection
    after = text('%s/after/nstat.txt' % gen)
    assert 'MPTcpExtMPCapableSYNTX' in after and 'MPTcpExtMPCapableSYNRX' in after, after
    events = text('%s/ip_mptcp_monitor.txt' % gen)
    assert events.count('CREATED') == 2 and events.count('ESTABLISHED') == 2 and events.count('CLOSED') == 2, events
    monitor = [i for i in manifest['hosts'][gen]['items'] if i['name'] == 'ip_mptcp_monitor'][0]
    assert monitor['events'] >= 6 and monitor['stopped_by'] == 'stopped'
    assert monitors_in(prefix) == []
    assert glob.glob('/run/mptcp-lab/%s-*-debug-monitor.*' % prefix) == []
    # the nstat history of the reset is the lab's, and goes with the last collection
    assert glob.glob('/run/mptcp-lab/%s-*-nstat.hist' % prefix) == []


def test_reproduce_interrupted_with_sigint_leaves_no_monitor(lab, tmp_path):
    prefix, inv = lab
    results = str(tmp_path / 'results')
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'),
               PATH=VENV_BIN + os.pathsep + os.environ.get('PATH', ''))
    proc = subprocess.Popen([os.path.join(VENV_BIN, 'ansible-playbook'), 'playbooks/debug.yml', '-i', inv,
                             '-e', 'perf_results_dir=%s' % results, '-e', 'debug_mode=reproduce',
                             '-e', json.dumps({'debug_command': ['sleep', '120']})],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(monitors_in(prefix)) < len(HOSTS):
            assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
            time.sleep(0.2)
        assert len(monitors_in(prefix)) == len(HOSTS)
        # Ctrl-C: SIGINT to the whole foreground process group
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode != 0
    deadline = time.monotonic() + 10
    while monitors_in(prefix) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert monitors_in(prefix) == []
    # no supervisor either: no state file claims a running monitor
    assert glob.glob('/run/mptcp-lab/%s-*-debug-monitor.json' % prefix) == []
    for name in glob.glob('/run/mptcp-lab/%s-*-debug-monitor.txt' % prefix):
        os.unlink(name)


def test_bad_command_is_refused_before_anything_runs(lab, tmp_path):
    _prefix, inv = lab
    proc = ansible_playbook('playbooks/debug.yml', '-i', inv, '-e', 'perf_results_dir=%s' % tmp_path,
                            '-e', 'debug_mode=reproduce', '-e', 'debug_command="rm -rf /tmp/x"', check=False)
    assert proc.returncode != 0
    assert 'debug_command a non-empty list of strings' in ' '.join(proc.stdout.split())
    assert not os.path.exists(os.path.join(str(tmp_path), 'debug'))


def test_installed_collection_writes_the_bundle_under_the_current_directory(lab, tmp_path):
    """ansible-playbook mptcp.lab.debug from an installed collection, results/ in the current directory."""
    _prefix, inv = lab
    cfg = tmp_path / 'ansible.cfg'
    cfg.write_text('[defaults]\n')
    env = dict(os.environ, ANSIBLE_CONFIG=str(cfg), PATH=VENV_BIN + os.pathsep + os.environ.get('PATH', ''))
    subprocess.run([os.path.join(VENV_BIN, 'ansible-galaxy'), 'collection', 'build', '--output-path', str(tmp_path),
                    ROOT], check=True, capture_output=True, env=env)
    dest = tmp_path / 'collections'
    subprocess.run([os.path.join(VENV_BIN, 'ansible-galaxy'), 'collection', 'install', '-p', str(dest),
                    str(tmp_path / 'mptcp-lab-0.1.0.tar.gz')], check=True, capture_output=True, env=env)
    work = tmp_path / 'work'
    work.mkdir()
    proc = subprocess.run([os.path.join(VENV_BIN, 'ansible-playbook'), 'mptcp.lab.debug', '-i', inv],
                          cwd=str(work), capture_output=True, text=True, check=False,
                          env=dict(env, ANSIBLE_COLLECTIONS_PATH=str(dest), PWD=str(work)))
    assert proc.returncode == 0, proc.stdout[-3000:]
    [archive] = glob.glob(str(work / 'results' / 'debug' / '*.tar.gz'))
    with tarfile.open(archive) as tar:
        assert any(n.endswith('/manifest.json') for n in tar.getnames())


def _mptcp_established(namespace):
    out = subprocess.run(['ip', 'netns', 'exec', namespace, 'ss', '-MnH', 'state', 'established'],
                         capture_output=True, text=True, check=False).stdout
    return bool(out.strip())


def test_a_collection_during_a_perf_run_does_not_disturb_it(lab, tmp_path):
    prefix, inv = lab
    results = str(tmp_path / 'results')
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'),
               PATH=VENV_BIN + os.pathsep + os.environ.get('PATH', ''))
    perf = subprocess.Popen([os.path.join(VENV_BIN, 'ansible-playbook'), 'playbooks/perf.yml', '-i', inv,
                             '-e', 'perf_suite=smoke', '-e', 'perf_duration_s=25', '-e', 'perf_results_dir=%s' % results],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        # wait for an MPTCP measurement (mptcp-up): an established MPTCP connection on the
        # generator; its 25 s leave the collection (a few seconds of Ansible) time to see it
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not _mptcp_established('%s-gen1' % prefix):
            assert perf.poll() is None, perf.stdout.read().decode()[-3000:]
            time.sleep(0.2)
        assert _mptcp_established('%s-gen1' % prefix), 'the MPTCP measurement did not start'
        ansible_playbook('playbooks/debug.yml', '-i', inv, '-e', 'perf_results_dir=%s' % results)
        out = perf.communicate(timeout=600)[0].decode()
    finally:
        if perf.poll() is None:
            os.killpg(perf.pid, signal.SIGKILL)
            perf.wait()
    assert perf.returncode == 0, out[-3000:]
    # the bundle saw the measurement's MPTCP connection, established, on both ends
    _archive, _bundle_id, _names, text = open_bundle(results)
    assert 'ESTAB' in text('%s-gen1/ss_mptcp.txt' % prefix), text('%s-gen1/ss_mptcp.txt' % prefix)
    assert 'ESTAB' in text('%s-sink1/ss_mptcp.txt' % prefix)
    # and the run is whole: every measurement valid
    with open(os.path.join(results, 'latest', 'summary.json')) as f:
        summary = json.load(f)
    assert [t['name'] for t in summary['tests']] == ['tcp-up', 'mptcp-up', 'mptcp-down']
    assert all(run['ok'] for t in summary['tests'] for run in t['runs']), summary['tests']
