"""The traffic_sink role as on a real host (not through mptcp.lab.netns), in a throwaway namespace.

ansible-playbook itself runs inside the namespace with the local connection,
so the role takes its real-host path: it creates the run directory, installs
the stats responder there and starts the servers, which inherit the
namespace. The run directory is a fresh one (as on a freshly booted host,
where /run/mptcp-lab does not exist yet), never the shared /run/mptcp-lab.
No traffic: servers start, listen and stop; the stats responder answers one
request.
"""

import base64
import json
import os
import pwd
import re
import shutil
import stat
import subprocess
import tempfile

import pytest

from conftest import ROOT, VENV_BIN, run_module, unique_name

ADDRESS = '192.0.2.2'
PLAYBOOK = """\
- name: The traffic sink on this host
  hosts: all
  gather_facts: false
  roles:
    - role: mptcp.lab.traffic_sink
  tasks:
    - name: Show the service
      ansible.builtin.debug:
        msg: "SERVICE={{ traffic_sink_service | to_json | b64encode }}"
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
                 prefix=netns.name, user=unique_name('mlt-s'), state_dir=os.path.join(parent, 'lib'))
    yield state
    if os.path.isdir(state['run_dir']):
        for entry in os.listdir(state['run_dir']):
            if entry.endswith('.json'):
                run_module(netns, 'supervised_process',
                           dict(name=entry[:-5], run_dir=state['run_dir'], state='stopped'))
    subprocess.run(['userdel', state['user']], capture_output=True, check=False)
    subprocess.run(['groupdel', state['user']], capture_output=True, check=False)
    shutil.rmtree(parent)


def play(sink, *args, **extra_vars):
    extra = dict(traffic_sink_run_dir=sink['run_dir'], traffic_sink_name_prefix=sink['prefix'],
                 traffic_sink_launcher='mptcpize', traffic_sink_user=sink['user'],
                 traffic_sink_state_dir=sink['state_dir'],
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
    sink['service'] = json.loads(base64.b64decode(re.search(r'SERVICE=([A-Za-z0-9+/=]+)', proc.stdout).group(1)))
    return int(recap.group(2)), proc.stdout


def _daemon_state(sink, name):
    with open(os.path.join(sink['run_dir'], '%s-%s.json' % (sink['prefix'], name))) as f:
        return json.load(f)


def _status(pid):
    with open('/proc/%d/status' % pid) as f:
        return dict(line.split(':', 1) for line in f.read().splitlines() if ':' in line)


def _environ(pid):
    with open('/proc/%d/environ' % pid, 'rb') as f:
        return dict(item.split(b'=', 1) for item in f.read().split(b'\0') if item)


def _listeners(ns):
    return ns.run('ss', '-HMltn').stdout.splitlines() + ns.run('ss', '-Hltn').stdout.splitlines()


def _assert_unprivileged(pid, uid, caps=0):
    """No uid/gid 0, only ``caps`` (a mask) in every capability set, no_new_privs, a minimal environment."""
    status = _status(pid)
    uids, gids = [int(x) for x in status['Uid'].split()], [int(x) for x in status['Gid'].split()]
    assert uids == [uid] * 4 and 0 not in gids, status          # real, effective, saved, fs
    assert status['Groups'].split() == []
    for field in ('CapEff', 'CapPrm', 'CapInh', 'CapAmb', 'CapBnd'):
        assert int(status[field], 16) == caps, (field, status[field])
    assert status['NoNewPrivs'].strip() == '1'
    env = _environ(pid)
    if b'mptcpwrap' in env.get(b'LD_PRELOAD', b''):      # what mptcpize run adds, nothing else
        del env[b'LD_PRELOAD']
    assert sorted(env) == [b'HOME', b'LC_ALL', b'LOGNAME', b'PATH', b'USER'], env


def _processes(sink):
    return sorted(entry[len(sink['prefix']) + 1:-5] for entry in os.listdir(sink['run_dir'])
                  if entry.endswith('.json'))


def _user(name):
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def test_fresh_host_dedicated_user_no_privileges_bound_to_the_path(sink):
    run_dir = sink['run_dir']
    assert not os.path.exists(os.path.dirname(run_dir)) and _user(sink['user']) is None

    # Check mode on a fresh host: predicts changes, creates nothing (no user either).
    changed, _out = play(sink, '--check')
    assert changed == 4          # user, directory, responder, the processes (one looped task)
    assert not os.path.exists(os.path.dirname(run_dir)) and _user(sink['user']) is None

    changed, _out = play(sink)
    assert changed == 4
    pw = _user(sink['user'])
    assert pw and 0 < pw.pw_uid < 1000 and pw.pw_uid != 65534 and pw.pw_shell.endswith('nologin')
    assert os.path.exists(os.path.join(sink['state_dir'], '%s-user.json' % sink['user']))
    info = os.stat(run_dir)
    assert info.st_uid == 0 and stat.S_IMODE(info.st_mode) == 0o755
    script = os.stat(os.path.join(run_dir, '%s-stats.py' % sink['prefix']))
    assert script.st_uid == 0 and stat.S_IMODE(script.st_mode) == 0o644
    assert sink['service']['capabilities'] == [] and sink['service']['addresses'] == [ADDRESS]
    assert sink['service']['user'] == sink['user']

    listeners = _listeners(sink['ns'])
    names = ('iperf3-mptcp-5201-a1', 'iperf3-tcp-5301-a1', 'stats')
    assert _processes(sink) == sorted(names)
    for name, port, proto in zip(names, (5201, 5301, 5199), ('mptcp', 'tcp', 'tcp')):
        rec = _daemon_state(sink, name)
        assert (rec['user'], rec['uid']) == (sink['user'], pw.pw_uid)
        _assert_unprivileged(rec['pid'], pw.pw_uid)
        assert os.stat(os.path.join(run_dir, '%s-%s.log' % (sink['prefix'], name))).st_uid == 0
        # One path: every server listens on the path address only.
        mine = [line for line in listeners if line.split()[4].endswith(':%d' % port)]
        assert mine and all(line.split()[4] == '%s:%d' % (ADDRESS, port) for line in mine), (name, listeners)
        assert any(line.split()[0] == proto for line in mine)

    # The unprivileged responder still reads the sink's counters.
    reply = sink['ns'].run(os.path.join(VENV_BIN, 'python'), '-c',
                           'import socket,sys; c=socket.create_connection(("%s",5199),2); c.sendall(b"stats\\n");'
                           'sys.stdout.write(b"".join(iter(lambda: c.recv(65536), b"")).decode())' % ADDRESS).stdout
    data = json.loads(reply)
    assert data['stat'].startswith('cpu ') and 'mltpath1' in data['net_dev'] and 'MPTcpExt:' in data['netstat']
    # ...and counts the CPU of this sink's own iperf3 servers (from their state files) as the lab's
    assert data['lab_processes'] == ['%s-%s' % (sink['prefix'], n) for n in names[:2]]
    assert data['boot_id'] and 'Tcp:' in data['snmp']

    pids = [_daemon_state(sink, n)['pid'] for n in names]
    changed, _out = play(sink)
    assert changed == 0
    assert [_daemon_state(sink, n)['pid'] for n in names] == pids

    # absent: processes stopped, logs and responder removed, the user the role created removed
    changed, _out = play(sink, '-e', 'traffic_sink_state=absent')
    assert changed == 3          # processes stopped, files removed, user removed
    assert os.listdir(run_dir) == [] and _user(sink['user']) is None
    assert os.listdir(sink['state_dir']) == []
    changed, _out = play(sink, '-e', 'traffic_sink_state=absent')
    assert changed == 0


def _allowed_and_restricted():
    with open('/proc/sys/net/ipv4/tcp_allowed_congestion_control') as f:
        allowed = f.read().split()
    with open('/proc/sys/net/ipv4/tcp_available_congestion_control') as f:
        available = f.read().split()
    return allowed, [cc for cc in available if cc not in allowed]


def _mptcp_counter(ns, name):
    lines = [line.split() for line in ns.run('cat', '/proc/net/netstat').stdout.splitlines()
             if line.startswith('MPTcpExt:')]
    return int(dict(zip(lines[0][1:], lines[1][1:]))[name])


def test_several_paths_one_server_per_address_joins_accepted_congestion_only_with_net_admin(sink, netns_factory):
    """MPTCP with servers bound per path address: the join to path 2 lands on the server bound there."""
    ns = sink['ns']
    client = netns_factory()
    for i in (1, 2):
        ns.add_veth('mlts%d' % i, peer_ns=client, peer_name='mltc%d' % i)
        ns.run('ip', 'addr', 'add', '10.201.%d.2/24' % i, 'dev', 'mlts%d' % i)
        client.run('ip', 'addr', 'add', '10.201.%d.1/24' % i, 'dev', 'mltc%d' % i)
    for side in (ns, client):
        side.run('ip', 'mptcp', 'limits', 'set', 'subflows', '2', 'add_addr_accepted', '2')
    ns.run('ip', 'mptcp', 'endpoint', 'add', '10.201.2.2', 'dev', 'mlts2', 'signal')
    links = [dict(path=i, address='10.201.%d.2' % i, dev='mlts%d' % i) for i in (1, 2)]
    args = dict(traffic_sink_stats_port=0, lab_path_links=links)
    play(sink, **args)
    names = ['iperf3-mptcp-5201-a1', 'iperf3-mptcp-5201-a2', 'iperf3-tcp-5301-a1', 'iperf3-tcp-5301-a2']
    assert _processes(sink) == names
    assert (sink['service']['mptcp_ports'], sink['service']['tcp_ports']) == ([5201], [5301])
    assert sink['service']['addresses'] == ['10.201.1.2', '10.201.2.2']
    bound = sorted(line.split()[3] for line in ns.run('ss', '-Hltn').stdout.splitlines())
    assert bound == ['10.201.1.2:5201', '10.201.1.2:5301', '10.201.2.2:5201', '10.201.2.2:5301'], bound

    # MPTCP to path 1: the sink announces path 2, the client joins there (another process's listener).
    joins = _mptcp_counter(ns, 'MPJoinAckRx')
    out = client.run('mptcpize', 'run', 'iperf3', '-c', '10.201.1.2', '-p', '5201', '-t', '1', '-J', check=False)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr
    # iperf3's control and data connections: each one joined on path 2
    assert _mptcp_counter(ns, 'MPJoinAckRx') == joins + 2
    # Without a listener on path 2's address the joins are refused: the per-address server is what takes them.
    run_module(ns, 'supervised_process', dict(name='%s-iperf3-mptcp-5201-a2' % sink['prefix'], run_dir=sink['run_dir'],
                                              state='stopped'))
    out = client.run('mptcpize', 'run', 'iperf3', '-c', '10.201.1.2', '-p', '5201', '-t', '1', '-J', check=False)
    assert out.returncode == 0 and _mptcp_counter(ns, 'MPJoinAckRx') == joins + 2
    assert play(sink, **args)[0] == 1
    # TCP on path 2 meets the server bound there.
    out = client.run('iperf3', '-c', '10.201.2.2', '-p', '5301', '-t', '1', '-J', check=False)
    assert out.returncode == 0 and json.loads(out.stdout)['end']['sum_received']['bytes'] > 0

    allowed, restricted = _allowed_and_restricted()
    assert not play(sink, traffic_sink_congestion_controls=allowed[:1], **args)[0]     # allowed: still no capability
    if not restricted:
        return
    cc = restricted[0]
    # Without CAP_NET_ADMIN the server cannot use it, and the test fails ...
    out = client.run('iperf3', '-c', '10.201.1.2', '-p', '5301', '-t', '1', '-C', cc, check=False)
    assert out.returncode != 0
    # ... so a suite that asks for it gets servers that keep CAP_NET_ADMIN, and nothing more.
    changed, _out = play(sink, traffic_sink_congestion_controls=[cc], **args)
    assert changed == 1 and sink['service']['capabilities'] == ['net_admin']
    assert sink['service']['congestion_not_allowed'] == [cc]
    for name in names:
        _assert_unprivileged(_daemon_state(sink, name)['pid'], _user(sink['user']).pw_uid, caps=1 << 12)
    out = client.run('iperf3', '-c', '10.201.1.2', '-p', '5301', '-t', '1', '-C', cc, '-J', check=False)
    assert out.returncode == 0 and json.loads(out.stdout)['end']['receiver_tcp_congestion'] == cc


def test_sockperf_servers_for_the_latency_tests(sink, netns_factory):
    """traffic_sink_sockperf: an MPTCP and a TCP sockperf server per path address, unprivileged, really used."""
    ns = sink['ns']
    client = netns_factory()
    for i in (1, 2):
        ns.add_veth('mlts%d' % i, peer_ns=client, peer_name='mltc%d' % i)
        ns.run('ip', 'addr', 'add', '10.202.%d.2/24' % i, 'dev', 'mlts%d' % i)
        client.run('ip', 'addr', 'add', '10.202.%d.1/24' % i, 'dev', 'mltc%d' % i)
    for side in (ns, client):
        side.run('ip', 'mptcp', 'limits', 'set', 'subflows', '1', 'add_addr_accepted', '1')
    ns.run('ip', 'mptcp', 'endpoint', 'add', '10.202.2.2', 'dev', 'mlts2', 'signal')
    links = [dict(path=i, address='10.202.%d.2' % i, dev='mlts%d' % i) for i in (1, 2)]
    args = dict(traffic_sink_stats_port=0, traffic_sink_tcp_port_offset=100, traffic_sink_sockperf=True,
                lab_path_links=links)
    names = ['iperf3-mptcp-5201-a1', 'iperf3-mptcp-5201-a2', 'iperf3-tcp-5301-a1', 'iperf3-tcp-5301-a2',
             'sockperf-mptcp-11111-a1', 'sockperf-mptcp-11111-a2', 'sockperf-tcp-11211-a1', 'sockperf-tcp-11211-a2']

    changed, _out = play(sink, '--check', **args)
    assert changed == 2          # the user, the processes (no responder, so no run directory of its own)
    assert not os.path.isdir(sink['run_dir']) or _processes(sink) == []
    changed, _out = play(sink, **args)
    assert changed == 2 and _processes(sink) == names
    assert sink['service']['sockperf_ports'] == {'mptcp': 11111, 'tcp': 11211}
    uid = _user(sink['user']).pw_uid
    for name in names[4:]:
        rec = _daemon_state(sink, name)
        _assert_unprivileged(rec['pid'], uid)
        assert rec['argv'][-2:] == ['--ip', links[int(name[-1]) - 1]['address']]
    mptcp = sorted(line.split()[4] for line in ns.run('ss', '-HMltn').stdout.splitlines() if line.startswith('mptcp'))
    assert mptcp == ['10.202.1.2:11111', '10.202.1.2:5201', '10.202.2.2:11111', '10.202.2.2:5201'], mptcp
    tcp = sorted(line.split()[3] for line in ns.run('ss', '-Hltn', 'sport', '=', ':11211').stdout.splitlines())
    assert tcp == ['10.202.1.2:11211', '10.202.2.2:11211']
    assert play(sink, **args)[0] == 0
    assert _processes(sink) == names

    # a request/response measurement over both paths: the join lands on the server bound to path 2
    client_links = [dict(path=i, address='10.202.%d.1' % i, dev='mltc%d' % i) for i in (1, 2)]
    res = run_module(client, 'perf_latency', dict(server='10.202.1.2', bind='10.202.1.1', links=client_links,
                                                  duration=1))
    assert res['ok'], res['error']
    assert res['subflows'] == 2 and res['streams'][0]['paths'] == [1, 2] and res['metrics']['rr_tps'] > 0
    res = run_module(client, 'perf_latency', dict(server='10.202.2.2', bind='10.202.2.1', port=11211,
                                                  protocol='tcp', links=client_links[1:], duration=1))
    assert res['ok'], res['error']
    assert res['metrics']['rr_tps'] > 0 and 'tcp-ulp-mptcp' not in res['raw']['ss_subflows']

    # absent finds them by name, like every sink process
    changed, _out = play(sink, '-e', 'traffic_sink_state=absent', traffic_sink_stats_port=0, lab_path_links=links)
    assert changed == 3 and os.listdir(sink['run_dir']) == []
    assert ns.run('ss', '-Hltn').stdout.strip() == ''


def test_no_addresses_listens_everywhere_and_root_is_opt_in(sink):
    play(sink, traffic_sink_ports=[5201], traffic_sink_tcp_port_offset=0, traffic_sink_stats_port=0,
         traffic_sink_iperf3_addresses=[])
    rec = _daemon_state(sink, 'iperf3-mptcp-5201')
    assert '--bind' not in rec['argv'] and rec['uid'] == _user(sink['user']).pw_uid
    assert any(line.startswith('mptcp') and line.split()[4] in ('*:5201', '0.0.0.0:5201')
               for line in _listeners(sink['ns']))
    # traffic_sink_user '' runs as the connecting user: a user change restarts the server.
    changed, _out = play(sink, traffic_sink_ports=[5201], traffic_sink_tcp_port_offset=0,
                         traffic_sink_stats_port=0, traffic_sink_iperf3_addresses=[], traffic_sink_user='')
    assert changed == 1
    rec2 = _daemon_state(sink, 'iperf3-mptcp-5201')
    assert rec2['pid'] != rec['pid'] and 'uid' not in rec2 and int(_status(rec2['pid'])['Uid'].split()[0]) == 0


def test_unknown_user_fails_naming_the_field(sink):
    with pytest.raises(AssertionError, match='user: no user'):
        play(sink, traffic_sink_user='mptcp-lab-no-such-user', traffic_sink_user_create=False,
             traffic_sink_stats_port=0)
    assert not os.path.isdir(sink['run_dir']) or _processes(sink) == []


def test_absent_stops_every_sink_process_the_role_started_whatever_the_ports_now(sink):
    """Ports changed between runs: absent still finds the older servers from their state files."""
    names = ['iperf3-mptcp-5201-a1', 'iperf3-tcp-5301-a1', 'iperf3-mptcp-5202-a1', 'iperf3-tcp-5302-a1', 'stats']
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
        assert changed == 3          # the processes, their files, the user the role created
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
            run_module(sink['ns'], 'supervised_process',
                       dict(name='%s-%s' % (sink['prefix'], name), run_dir=sink['run_dir'], state='stopped'))
