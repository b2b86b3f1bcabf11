"""Verify the traffic sink on the converged lab: listeners, real transfers, stats responder.

testinfra's local backend; namespaces are entered with ``ip netns exec``.
Addresses come from the lab's own address plan for the scenario inventory.
"""

import json
import os
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
sys.path.insert(0, os.path.join(ROOT, '.collections'))

from ansible_collections.mptcp.lab.plugins.module_utils import lab_plan  # noqa: E402

PREFIX = 'mlsnk'
GEN, SINK = PREFIX + '-gen1', PREFIX + '-sink1'
PATHS = [{'rate_mbit': 50}, {'rate_mbit': 50}]
RUN_DIR = '/run/mptcp-lab'

testinfra_hosts = ['local://']


def links(side):
    return lab_plan.path_links(PATHS, 1, side, prefix=PREFIX)


def in_ns(host, ns, *argv):
    return host.run(' '.join(['ip', 'netns', 'exec', ns] + [str(a) for a in argv]))


@pytest.mark.parametrize('name, port', [('iperf3-mptcp-5201', 5201), ('iperf3-tcp-5301', 5301), ('stats', 5199)])
def test_supervised_and_listening_in_the_sink_namespace(host, name, port):
    pidfile = host.file('%s/%s-%s.pid' % (RUN_DIR, SINK, name))
    assert pidfile.exists
    pid = int(pidfile.content_string.strip())
    assert host.file('/proc/%d' % pid).exists
    assert host.file('/proc/%d/ns/net' % pid).linked_to == host.file('/run/netns/%s' % SINK).linked_to or \
        host.run('ip netns identify %d' % pid).stdout.strip() == SINK
    listening = in_ns(host, SINK, 'ss', '-Hltn', 'sport', '=', ':%d' % port)
    assert listening.rc == 0 and listening.stdout.strip()


@pytest.mark.parametrize('name', ['iperf3-mptcp-5201', 'iperf3-tcp-5301', 'stats'])
def test_runs_unprivileged(host, name):
    pid = int(host.file('%s/%s-%s.pid' % (RUN_DIR, SINK, name)).content_string.strip())
    status = dict(line.split(':', 1) for line in host.file('/proc/%d/status' % pid).content_string.splitlines()
                  if ':' in line)
    assert '0' not in status['Uid'].split() and '0' not in status['Gid'].split()
    # iperf3 keeps CAP_NET_ADMIN only (congestion control the client asks for), the responder nothing
    assert int(status['CapEff'], 16) == (0 if name == 'stats' else 1 << 12)
    assert status['NoNewPrivs'].strip() == '1'
    # its bookkeeping stays root's
    assert host.file('%s/%s-%s.log' % (RUN_DIR, SINK, name)).uid == 0


def test_mptcp_server_is_an_mptcp_listener(host):
    out = in_ns(host, SINK, 'ss', '-HMltn').stdout
    mptcp = [line for line in out.splitlines() if line.startswith('mptcp')]
    assert len(mptcp) == 1 and ':5201 ' in mptcp[0]      # the plain TCP server (5301) is not MPTCP


def test_mptcp_transfer_uses_both_paths(host):
    g, s = links('generator'), links('sink')
    res = in_ns(host, GEN, 'mptcpize', 'run', 'iperf3', '-c', s[0]['address'], '-B', g[0]['address'],
                '-p', 5201, '-t', 1, '-J')
    assert res.rc == 0, res.stderr
    report = json.loads(res.stdout)
    assert report['end']['sum_received']['bits_per_second'] > 60e6     # more than one 50 Mbit/s path


def test_tcp_transfer_on_the_plain_server(host):
    g, s = links('generator'), links('sink')
    res = in_ns(host, GEN, 'iperf3', '-c', s[1]['address'], '-B', g[1]['address'], '-p', 5301, '-t', 1, '-J')
    assert res.rc == 0, res.stderr
    assert 40e6 < json.loads(res.stdout)['end']['sum_received']['bits_per_second'] < 50e6


def test_stats_responder_answers_with_the_sink_counters(host):
    s = links('sink')
    code = ('import socket,json; c=socket.create_connection(("%s",5199),2); c.sendall(b"stats\\n");'
            'd=b"".join(iter(lambda: c.recv(65536), b"")); print(json.dumps(sorted(json.loads(d))))' % s[0]['address'])
    res = in_ns(host, GEN, sys.executable, '-c', "'%s'" % code)
    assert res.rc == 0, res.stderr
    assert json.loads(res.stdout) == ['net_dev', 'netstat', 'stat']
