"""The traffic_sink role as on a real host (not through mptcp.lab.netns), in a throwaway namespace.

ansible-playbook itself runs inside the namespace with the local connection,
so the role takes its real-host path: it creates the run directory, installs
the stats responder there and starts the servers, which inherit the
namespace. The run directory is a fresh one (as on a freshly booted host,
where /run/mptcp-lab does not exist yet), never the shared /run/mptcp-lab.
No traffic: servers start, listen and stop; the stats responder answers one
request.
"""

import json
import os
import re
import shutil
import stat
import subprocess
import tempfile

import pytest

from conftest import ROOT, VENV_BIN, run_module

ADDRESS = '192.0.2.2'
PLAYBOOK = """\
- name: The traffic sink on this host
  hosts: all
  gather_facts: false
  roles:
    - role: mptcp.lab.traffic_sink
"""


@pytest.fixture
def sink(netns, tmp_path):
    """A namespace with one path address, and a fresh parent for the run dir."""
    netns.add_veth('mltpath1')
    netns.run('ip', 'addr', 'add', ADDRESS + '/24', 'dev', 'mltpath1')
    # mkdtemp's 0700 would hide the responder from its unprivileged user.
    parent = tempfile.mkdtemp(prefix='mlt-sink-', dir='/tmp')
    os.chmod(parent, 0o755)
    playbook = tmp_path / 'sink.yml'
    playbook.write_text(PLAYBOOK)
    state = dict(ns=netns, run_dir=os.path.join(parent, 'run', 'mptcp-lab'), playbook=str(playbook),
                 prefix=netns.name)
    yield state
    names = ['%s-%s' % (netns.name, n) for n in ('iperf3-mptcp-5201', 'iperf3-tcp-5301', 'stats')]
    for name in names:
        run_module(netns, 'daemon', dict(name=name, run_dir=state['run_dir'], state='stopped'))
    shutil.rmtree(parent)


def play(sink, *args, **extra_vars):
    extra = dict(traffic_sink_run_dir=sink['run_dir'], traffic_sink_name_prefix=sink['prefix'],
                 traffic_sink_launcher='mptcpize',
                 lab_path_links=[dict(path=1, address=ADDRESS, dev='mltpath1')])
    extra.update(extra_vars)
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'),
               PATH=VENV_BIN + os.pathsep + os.environ.get('PATH', ''))
    argv = ['ip', 'netns', 'exec', sink['ns'].name, os.path.join(VENV_BIN, 'ansible-playbook'),
            sink['playbook'], '-i', 'localhost,', '-c', 'local',
            '-e', 'ansible_python_interpreter=' + os.path.join(VENV_BIN, 'python'),
            '-e', json.dumps(extra)] + list(args)
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    recap = re.search(r'localhost\s*:\s*ok=(\d+)\s+changed=(\d+)', proc.stdout)
    assert recap, proc.stdout
    return int(recap.group(2)), proc.stdout


def _daemon_state(sink, name):
    with open(os.path.join(sink['run_dir'], '%s-%s.json' % (sink['prefix'], name))) as f:
        return json.load(f)


def _uids(pid):
    with open('/proc/%d/status' % pid) as f:
        line = next(line for line in f if line.startswith('Uid:'))
    return [int(u) for u in line.split()[1:]]


def _cap_eff(pid):
    with open('/proc/%d/status' % pid) as f:
        return int(next(line for line in f if line.startswith('CapEff:')).split()[1], 16)


def _listeners(ns):
    return ns.run('ss', '-HMltn').stdout.splitlines() + ns.run('ss', '-Hltn').stdout.splitlines()


def test_fresh_host_unprivileged_servers_bound_to_the_path(sink):
    run_dir = sink['run_dir']
    assert not os.path.exists(os.path.dirname(run_dir))

    # Check mode on a fresh host: predicts changes, creates nothing.
    changed, _out = play(sink, '--check')
    assert changed == 3          # directory, responder, the processes (one looped task)
    assert not os.path.exists(os.path.dirname(run_dir))

    changed, _out = play(sink)
    assert changed == 3
    info = os.stat(run_dir)
    assert info.st_uid == 0 and stat.S_IMODE(info.st_mode) == 0o755
    script = os.stat(os.path.join(run_dir, '%s-stats.py' % sink['prefix']))
    assert script.st_uid == 0 and stat.S_IMODE(script.st_mode) == 0o644

    listeners = _listeners(sink['ns'])
    for name, port, proto in (('iperf3-mptcp-5201', 5201, 'mptcp'), ('iperf3-tcp-5301', 5301, 'tcp'),
                              ('stats', 5199, 'tcp')):
        rec = _daemon_state(sink, name)
        assert (rec['user'], rec['uid']) == ('nobody', 65534)
        assert 0 not in _uids(rec['pid']), name          # real, effective, saved, fs uid
        # iperf3 keeps CAP_NET_ADMIN only (congestion control), the responder nothing
        assert _cap_eff(rec['pid']) == (0 if name == 'stats' else 1 << 12), name
        assert os.stat(os.path.join(run_dir, '%s-%s.log' % (sink['prefix'], name))).st_uid == 0
        # One path: every server listens on the path address only.
        assert any(line.split()[0] == proto and line.split()[4] == '%s:%d' % (ADDRESS, port)
                   for line in listeners), (name, listeners)
    assert '--bind' in _daemon_state(sink, 'iperf3-mptcp-5201')['argv']

    # The unprivileged responder still reads the sink's counters.
    reply = sink['ns'].run(os.path.join(VENV_BIN, 'python'), '-c',
                           'import socket,sys; c=socket.create_connection(("%s",5199),2); c.sendall(b"stats\\n");'
                           'sys.stdout.write(b"".join(iter(lambda: c.recv(65536), b"")).decode())' % ADDRESS).stdout
    data = json.loads(reply)
    assert data['stat'].startswith('cpu ') and 'mltpath1' in data['net_dev'] and 'MPTcpExt:' in data['netstat']

    pids = [_daemon_state(sink, n)['pid'] for n in ('iperf3-mptcp-5201', 'iperf3-tcp-5301', 'stats')]
    changed, _out = play(sink)
    assert changed == 0
    assert [_daemon_state(sink, n)['pid'] for n in ('iperf3-mptcp-5201', 'iperf3-tcp-5301', 'stats')] == pids

    # absent: processes stopped, logs and responder removed; the directory stays.
    changed, _out = play(sink, '-e', 'traffic_sink_state=absent')
    assert changed == 2          # processes stopped, files removed
    assert os.listdir(run_dir) == []


def _daemon_state_exists(sink, name):
    return os.path.exists(os.path.join(sink['run_dir'], '%s-%s.json' % (sink['prefix'], name)))


def test_several_paths_listen_on_all_addresses_and_root_is_opt_in(sink):
    links = [dict(path=1, address=ADDRESS, dev='mltpath1'), dict(path=2, address='192.0.2.3', dev='mltpath1')]
    sink['ns'].run('ip', 'addr', 'add', '192.0.2.3/24', 'dev', 'mltpath1')
    play(sink, traffic_sink_ports=[5201], traffic_sink_tcp_port_offset=0, traffic_sink_stats_port=0,
         lab_path_links=links)
    rec = _daemon_state(sink, 'iperf3-mptcp-5201')
    assert '--bind' not in rec['argv'] and rec['uid'] == 65534
    assert any(line.startswith('mptcp') and line.split()[4] in ('*:5201', '0.0.0.0:5201')
               for line in _listeners(sink['ns']))
    # traffic_sink_user '' runs as the connecting user: a user change restarts the server.
    changed, _out = play(sink, traffic_sink_ports=[5201], traffic_sink_tcp_port_offset=0,
                         traffic_sink_stats_port=0, lab_path_links=links, traffic_sink_user='')
    assert changed == 1
    rec2 = _daemon_state(sink, 'iperf3-mptcp-5201')
    assert rec2['pid'] != rec['pid'] and 'uid' not in rec2 and _uids(rec2['pid'])[0] == 0


def test_unknown_user_fails_naming_the_field(sink):
    with pytest.raises(AssertionError, match='user: no user'):
        play(sink, traffic_sink_user='mptcp-lab-no-such-user', traffic_sink_stats_port=0)
    assert not _daemon_state_exists(sink, 'iperf3-mptcp-5201')


def test_absent_stops_every_sink_process_the_role_started_whatever_the_ports_now(sink):
    """Ports changed between runs: absent still finds the older servers from their state files."""
    names = ['iperf3-mptcp-5201', 'iperf3-tcp-5301', 'iperf3-mptcp-5202', 'iperf3-tcp-5302', 'stats']
    other = subprocess.Popen(['sleep', '300'])
    try:
        play(sink)
        play(sink, traffic_sink_ports=[5202])
        pids = dict((n, _daemon_state(sink, n)['pid']) for n in names)
        assert all(os.path.exists('/proc/%d' % pid) for pid in pids.values())
        # another host's sink, and a file of this host's prefix that is no sink name: not the role's here
        foreign = [os.path.join(sink['run_dir'], name) for name in
                   ('someone-iperf3-mptcp-5201.pid', '%s-iperf3-mptcp-x.pid' % sink['prefix'], 'notes.json')]
        for path in foreign:
            with open(path, 'w') as handle:
                handle.write('%d\n' % other.pid)
        changed, _out = play(sink, '-e', 'traffic_sink_state=absent', traffic_sink_ports=[5203])
        assert changed == 2
        for name, pid in pids.items():
            assert not os.path.exists('/proc/%d' % pid) or \
                open('/proc/%d/stat' % pid).read().split()[2] == 'Z', name
        assert sorted(os.listdir(sink['run_dir'])) == sorted(os.path.basename(p) for p in foreign)
        assert other.poll() is None
        changed, _out = play(sink, '-e', 'traffic_sink_state=absent', traffic_sink_ports=[5203])
        assert changed == 0
    finally:
        other.kill()
        for name in names:
            run_module(sink['ns'], 'daemon', dict(name='%s-%s' % (sink['prefix'], name), run_dir=sink['run_dir'],
                                                  state='stopped'))
