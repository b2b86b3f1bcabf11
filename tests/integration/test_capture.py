"""capture: true on a netns lab of its own: pcaps of both ends, read back.

A suite of one captured MPTCP test over both paths and one plain TCP test runs
through playbooks/perf.yml. The captured measurement leaves one header-only
pcap per path interface and end in the run's raw/; read back (with the
collection's pcap reader and with tcpdump -r -v), path 1 carries the measured
connection's MP_CAPABLE handshake and path 2 its MP_JOIN, on both ends.
"""

import glob
import json
import os
import shutil
import subprocess
import sys
import uuid

import pytest

from conftest import ROOT, ansible_playbook, run_module
from ansible_collections.mptcp.lab.plugins.module_utils.process import packet_capture as pc

SUITE = """\
name: capture-check
defaults: {duration_s: 3, omit_s: 1, repetitions: 1, congestion: cubic}
tests:
  - {name: mptcp-cap, protocol: mptcp, paths: all, capture: true}
  - {name: tcp-plain, protocol: tcp, paths: 1}
"""


@pytest.fixture(scope='module')
def captured_run(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip('needs root (network namespaces)')
    if not shutil.which('tcpdump'):
        pytest.skip('tcpdump is not installed (make bootstrap-test installs it)')
    prefix = 'hc' + uuid.uuid4().hex[:6]
    work = tmp_path_factory.mktemp('capture')
    inv = str(work / 'inv')
    subprocess.run([sys.executable, os.path.join(ROOT, 'scripts', 'lab-inventory.py'), '--pairs', '1',
                    '--prefix', prefix, '--rates', '50,50', '--out', inv], check=True, capture_output=True)
    suite = work / 'suite.yml'
    suite.write_text(SUITE)
    results = str(work / 'results')
    try:
        ansible_playbook('playbooks/perf.yml', '-i', inv, '-e', 'perf_suite=%s' % suite,
                         '-e', 'perf_results_dir=%s' % results)
        run_dir = os.path.realpath(os.path.join(results, 'latest'))
        with open(os.path.join(run_dir, 'summary.json')) as f:
            summary = json.load(f)
        yield prefix, run_dir, summary
    finally:
        ansible_playbook('playbooks/teardown.yml', '-i', inv, check=False)
        for name in glob.glob('/run/mptcp-lab/%s-*' % prefix):
            os.unlink(name)


def test_captured_measurement_has_a_pcap_per_path_and_end(captured_run):
    prefix, run_dir, summary = captured_run
    raw = sorted(os.listdir(os.path.join(run_dir, 'raw')))
    pcaps = [n for n in raw if n.endswith('.pcap')]
    assert pcaps == ['001-mptcp-cap-rep1.%s.%s-p%d.pcap' % (role, prefix, path)
                     for role in ('generator', 'sink') for path in (1, 2)], raw
    # the uncaptured test has none, and both ran valid
    assert not any(n.startswith('002-') and n.endswith('.pcap') for n in raw)
    assert [t['name'] for t in summary['tests']] == ['mptcp-cap', 'tcp-plain']
    assert all(run['ok'] for t in summary['tests'] for run in t['runs'])
    # tcpdump's counters and CPU time for each end and interface (what the capture cost)
    with open(os.path.join(run_dir, 'raw', 'captures.json')) as f:
        records = json.load(f)
    assert sorted((r['role'], r['dev']) for r in records) == sorted(
        (role, '%s-p%d' % (prefix, path)) for role in ('generator', 'sink') for path in (1, 2))
    for record in records:
        assert record['k'] == 1 and record['error'] is None and record['start_error'] is None, record
        assert record['captured'] > 1000 and record['cpu_s'] is not None, record
        assert record['bytes'] == os.path.getsize(os.path.join(run_dir, 'raw', record['file']))
    # nothing left behind on the hosts: staging directories, tcpdumps
    assert glob.glob('/tmp/mptcp-lab-capture.%s.*' % summary['run_id']) == []
    assert glob.glob('/run/mptcp-lab/%s-*-capture.json' % prefix) == []
    ps = subprocess.run(['ps', '-eo', 'args'], capture_output=True, text=True, check=True).stdout
    assert not [line for line in ps.splitlines() if line.startswith('/usr/bin/tcpdump') and prefix in line]


def test_pcaps_hold_the_measured_connections_mp_capable_and_mp_join(captured_run):
    prefix, run_dir, _summary = captured_run
    with open(os.path.join(run_dir, 'raw', '001-mptcp-cap-rep1.iperf3.json')) as f:
        report = json.load(f)
    stream_ports = set(c['local_port'] for c in report['start']['connected'])
    for role in ('generator', 'sink'):
        path1 = os.path.join(run_dir, 'raw', '001-mptcp-cap-rep1.%s.%s-p1.pcap' % (role, prefix))
        path2 = os.path.join(run_dir, 'raw', '001-mptcp-cap-rep1.%s.%s-p2.pcap' % (role, prefix))
        first, second = pc.mptcp_options(path1), pc.mptcp_options(path2)
        # the initial subflow on path 1: SYN and SYN/ACK with MP_CAPABLE (data and control connections)
        assert first['syn_mp_capable'] >= 2, (role, first)
        assert first['options'].get('DSS', 0) > 1000, (role, first)
        assert any(port in stream_ports for pair in first['ports'] for port in pair), (role, stream_ports)
        # the second subflow, joined on path 2 after the sink's ADD_ADDR
        assert second['syn_mp_join'] >= 2, (role, second)
        assert second['options'].get('DSS', 0) > 1000, (role, second)
        assert first['options'].get('ADD_ADDR', 0) >= 1, (role, first)
        # headers only: nothing longer than the snap length
        # and tcpdump agrees
        text1 = subprocess.run(['tcpdump', '-r', path1, '-n', '-v'], capture_output=True, text=True, check=False).stdout
        text2 = subprocess.run(['tcpdump', '-r', path2, '-n', '-v'], capture_output=True, text=True, check=False).stdout
        assert 'capable v1' in text1 and 'join id' in text2


def test_capture_snaplen_keeps_headers_only(captured_run):
    prefix, run_dir, _summary = captured_run
    path = os.path.join(run_dir, 'raw', '001-mptcp-cap-rep1.sink.%s-p1.pcap' % prefix)
    with open(path, 'rb') as f:
        data = f.read()
    assert int.from_bytes(data[16:20], 'little') == pc.SNAPLEN
    assert max(len(frame) for _lt, frame in pc._packets(data)) <= pc.SNAPLEN


def test_packet_capture_refuses_bad_input(netns):
    out = run_module(netns, 'packet_capture', {'name': 'hdbg-x', 'interfaces': ['a b'], 'directory': '/tmp',
                                               'stem': 's', 'state_dir': '/tmp'})
    assert out.get('failed') and "interfaces: 'a b' is not an interface name" in out['msg']
    out = run_module(netns, 'packet_capture', {'name': 'hdbg-x', 'interfaces': ['lo'], 'state_dir': '/tmp'})
    assert out.get('failed') and out['msg'] == 'directory: required with state started'
    out = run_module(netns, 'packet_capture', {'name': '../x', 'state': 'stopped'})
    assert out.get('failed') and out['msg'].startswith('name: must be')


def test_packet_capture_start_stop_in_a_namespace(netns, tmp_path):
    args = {'name': 'hdbgcap', 'interfaces': ['lo'], 'directory': str(tmp_path), 'stem': 'one',
            'state_dir': str(tmp_path), 'timeout_s': 60}
    check = run_module(netns, 'packet_capture', args, check_mode=True)
    assert check['changed'] and not os.listdir(str(tmp_path))
    started = run_module(netns, 'packet_capture', args)
    assert started['changed'] and not started.get('failed'), started
    assert started['guarded'] is False  # no run to watch: the timeout bounds it
    script = ('import socket\n'
              's = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262); s.bind(("127.0.0.1", 0)); s.listen(1)\n'
              'c = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262); c.connect(s.getsockname())\n'
              'a, _ = s.accept(); c.sendall(b"x"); a.recv(1); c.close(); a.close(); s.close()\n')
    netns.run(sys.executable, '-c', script)
    stopped = run_module(netns, 'packet_capture', {'name': 'hdbgcap', 'state': 'stopped', 'state_dir': str(tmp_path)})
    assert stopped['changed'] and stopped['stopped_by'] == 'stopped', stopped
    [record] = stopped['files']
    assert record['error'] is None and record['captured'] >= 4 and record['dropped'] == 0
    counts = pc.mptcp_options(record['path'])
    assert counts['syn_mp_capable'] == 2 and counts['packets'] == record['captured']
    again = run_module(netns, 'packet_capture', {'name': 'hdbgcap', 'state': 'stopped', 'state_dir': str(tmp_path)})
    assert not again['changed'] and again['files'] == []
