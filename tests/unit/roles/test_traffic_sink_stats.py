"""The traffic sink's stats responder: its replies and which processes it counts as the lab's."""

import importlib.util
import json
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SCRIPT = os.path.join(ROOT, 'roles', 'traffic_sink', 'files', 'mptcp_lab_stats.py')


def load(path=SCRIPT):
    spec = importlib.util.spec_from_file_location('mptcp_lab_stats_%d' % abs(hash(path)), path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def child():
    proc = subprocess.Popen(['sleep', '60'])
    yield proc
    proc.kill()
    proc.wait()


def starttime(pid):
    with open('/proc/%d/stat' % pid) as f:
        data = f.read()
    return int(data[data.rindex(')') + 2:].split()[19])


def test_lab_processes_from_daemon_state_files(tmp_path, child):
    stats = load()
    # mptcp.lab.supervised_process records the start time as a string
    (tmp_path / 'h1-iperf3-mptcp-5201.json').write_text(json.dumps({'pid': child.pid, 'starttime': str(starttime(child.pid))}))
    # a recycled pid (wrong start time), junk, and the responder itself are not counted
    (tmp_path / 'h1-iperf3-tcp-5301.json').write_text(json.dumps({'pid': child.pid, 'starttime': 1}))
    (tmp_path / 'h1-iperf3-junk.json').write_text('{not json')
    (tmp_path / 'h1-iperf3-self.json').write_text(json.dumps({'pid': os.getpid(), 'starttime': starttime(os.getpid())}))
    pattern = str(tmp_path / 'h1-iperf3-*.json')
    assert stats.lab_processes([pattern]) == [('h1-iperf3-mptcp-5201', child.pid)]
    cpu, names = stats.lab_cpu([pattern])
    assert names == ['h1-iperf3-mptcp-5201'] and 0 <= cpu < 1


def test_default_lab_state_is_the_installed_sinks_servers(tmp_path):
    installed = tmp_path / 'gen1-sink-stats.py'
    shutil.copy(SCRIPT, str(installed))
    assert load(str(installed)).default_lab_state() == [str(tmp_path / 'gen1-sink-iperf3-*.json')]
    assert load().default_lab_state() == []        # the checkout's file names no sink


def test_replies(tmp_path, child):
    stats = load()
    (tmp_path / 'x.json').write_text(json.dumps({'pid': child.pid, 'starttime': starttime(child.pid)}))
    full = json.loads(stats.snapshot([str(tmp_path / '*.json')]))
    assert full['version'] == 2 and full['stat'].startswith('cpu ')
    assert 'MPTcpExt:' in full['netstat'] and 'Tcp:' in full['snmp'] and 'lo:' in full['net_dev']
    with open('/proc/sys/kernel/random/boot_id') as f:
        assert full['boot_id'] == f.read().strip()
    assert full['lab_processes'] == ['x'] and full['self_cpu_s'] > 0 and full['clk_tck'] > 0
    light = json.loads(stats.light([str(tmp_path / '*.json')]))
    assert set(light) == {'version', 'stat', 'snmp', 'lab_cpu_s', 'self_cpu_s'}
    assert light['snmp'].count('Tcp:') == 2 and 'RetransSegs' in light['snmp']
    assert len(stats.light([])) < 1024             # the once-a-second sample stays small


def test_tcp_sockets_of_a_port_with_their_figures():
    import socket
    stats = load()
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    client = socket.create_connection(('127.0.0.1', port))
    server, _peer = listener.accept()
    try:
        client.sendall(b'x' * 100000)
        server.recv(65536)
        found = stats.tcp_sockets(port)
        assert len(found) == 1
        local, lport, peer, pport, cwnd, rtt_us, retrans = found[0]
        assert (local, lport, peer, pport) == ('127.0.0.1', port, '127.0.0.1', client.getsockname()[1])
        assert cwnd >= 1 and rtt_us > 0 and retrans == 0
        assert stats.tcp_sockets(1) == []
    finally:
        for sock in (client, server, listener):
            sock.close()


def test_requests_it_answers():
    stats = load()
    assert json.loads(stats.handle(b'stats\n', []))['version'] == 2
    assert 'tcp' not in json.loads(stats.handle(b'cpu\n', []))
    assert isinstance(json.loads(stats.handle(b'cpu 5201\n', []))['tcp'], list)
    for bad in (b'', b'cpu 0', b'cpu 65536', b'cpu x', b'cpu 1 2', b'stats 1', b'quit', b'cpu -1'):
        assert stats.handle(bad, []) is None, bad
