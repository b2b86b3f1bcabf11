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

from ansible_collections.mptcp.lab.plugins.module_utils.lab import lab_plan  # noqa: E402

PREFIX = 'mlsnk'
GEN, SINK = PREFIX + '-gen1', PREFIX + '-sink1'
PATHS = [{'rate_mbit': 50}, {'rate_mbit': 50}]
RUN_DIR = '/run/mptcp-lab'

testinfra_hosts = ['local://']


def links(side):
    return lab_plan.path_links(PATHS, 1, side, prefix=PREFIX)


def in_ns(host, ns, *argv):
    return host.run(' '.join(['ip', 'netns', 'exec', ns] + [str(a) for a in argv]))


# one iperf3 server per sink path address (a1, a2) and port
PROCESSES = [('iperf3-mptcp-5201-a1', 5201), ('iperf3-mptcp-5201-a2', 5201), ('iperf3-tcp-5301-a1', 5301),
             ('iperf3-tcp-5301-a2', 5301), ('stats', 5199)]


@pytest.mark.parametrize('name, port', PROCESSES)
def test_supervised_and_listening_in_the_sink_namespace(host, name, port):
    pidfile = host.file('%s/%s-%s.pid' % (RUN_DIR, SINK, name))
    assert pidfile.exists
    pid = int(pidfile.content_string.strip())
    assert host.file('/proc/%d' % pid).exists
    assert host.file('/proc/%d/ns/net' % pid).linked_to == host.file('/run/netns/%s' % SINK).linked_to or \
        host.run('ip netns identify %d' % pid).stdout.strip() == SINK
    listening = in_ns(host, SINK, 'ss', '-Hltn', 'sport', '=', ':%d' % port)
    assert listening.rc == 0 and listening.stdout.strip()


@pytest.mark.parametrize('name', [name for name, _port in PROCESSES])
def test_runs_unprivileged(host, name):
    pid = int(host.file('%s/%s-%s.pid' % (RUN_DIR, SINK, name)).content_string.strip())
    status = dict(line.split(':', 1) for line in host.file('/proc/%d/status' % pid).content_string.splitlines()
                  if ':' in line)
    # the lab's own system user (not nobody, which mptcpd shares), no root id anywhere
    user = host.user('mptcp-lab')
    assert user.exists and status['Uid'].split() == [str(user.uid)] * 4
    assert '0' not in status['Gid'].split() and status['Groups'].split() == []
    # no capability in any set (converge asks for no congestion control), no way back
    for field in ('CapEff', 'CapPrm', 'CapInh', 'CapAmb', 'CapBnd'):
        assert int(status[field], 16) == 0, field
    assert status['NoNewPrivs'].strip() == '1'
    # its bookkeeping stays root's
    assert host.file('%s/%s-%s.log' % (RUN_DIR, SINK, name)).uid == 0


def test_mptcp_server_is_an_mptcp_listener(host):
    out = in_ns(host, SINK, 'ss', '-HMltn').stdout
    mptcp = sorted(line.split()[4] for line in out.splitlines() if line.startswith('mptcp'))
    # one per sink path address, nothing on a wildcard; the plain TCP servers (5301) are not MPTCP
    assert mptcp == sorted('%s:5201' % link['address'] for link in links('sink'))


def test_mptcp_transfer_uses_both_paths(host):
    g, s = links('generator'), links('sink')
    res = in_ns(host, GEN, 'mptcpize', 'run', 'iperf3', '-c', s[0]['address'], '-B', g[0]['address'],
                '-p', 5201, '-t', 1, '-J')
    assert res.rc == 0, res.stderr
    report = json.loads(res.stdout)
    # more than one 50 Mbit/s path: the join to path 2 went to the server bound there
    assert report['end']['sum_received']['bits_per_second'] > 60e6


def test_tcp_transfer_on_the_plain_server(host):
    g, s = links('generator'), links('sink')
    res = in_ns(host, GEN, 'iperf3', '-c', s[1]['address'], '-B', g[1]['address'], '-p', 5301, '-t', 1, '-J')
    assert res.rc == 0, res.stderr
    assert 40e6 < json.loads(res.stdout)['end']['sum_received']['bits_per_second'] < 50e6


def _ask_stats_responder(host, request):
    s = links('sink')
    code = ('import socket,json; c=socket.create_connection(("%s",5199),2); c.sendall(b"%s\\n");'
            'd=b"".join(iter(lambda: c.recv(65536), b"")); print(d.decode())' % (s[0]['address'], request))
    res = in_ns(host, GEN, sys.executable, '-c', "'%s'" % code)
    assert res.rc == 0, res.stderr
    return json.loads(res.stdout)


def test_stats_responder_answers_with_the_sink_counters(host):
    reply = _ask_stats_responder(host, 'stats')
    assert sorted(reply) == ['boot_id', 'clk_tck', 'lab_cpu_s', 'lab_processes', 'net_dev',
                             'netstat', 'self_cpu_s', 'snmp', 'stat', 'version']
    assert reply['version'] == 2
    assert reply['stat'].startswith('cpu ')
    assert 'MPTcpExt:' in reply['netstat'] and 'Tcp:' in reply['snmp']
    # the same machine: the sink's boot_id is this host's (namespaces share one kernel)
    assert reply['boot_id'] == host.file('/proc/sys/kernel/random/boot_id').content_string.strip()


def test_stats_responder_light_cpu_request_lists_sockets_on_a_port(host):
    reply = _ask_stats_responder(host, 'cpu 5201')
    assert sorted(reply) == ['lab_cpu_s', 'self_cpu_s', 'snmp', 'stat', 'tcp', 'version']
    assert reply['snmp'].startswith('Tcp:')
    assert isinstance(reply['tcp'], list)
