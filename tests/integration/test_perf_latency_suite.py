"""A suite with request/response (latency) tests, end to end through playbooks/perf.yml.

A virtual lab of its own (a unique prefix), created and torn down by the
run: a TCP latency test on path 1 (with packet captures, so its segment
goes measurement by measurement), an MPTCP bulk test, and an MPTCP latency
test under a bulk load on both paths, so the measurements switch between
perf_latency and perf_measure and back. summary.json must carry the
request/response metrics in runs[].metrics and tests[].metrics.
"""

import json
import os
import re
import uuid

import pytest

from conftest import ansible_playbook, virtual_lab
from run_record_check import assert_valid_record

GOODPUT = 1448.0 / 1514.0
SUITE = """\
name: latency-e2e
defaults: {duration_s: 3, repetitions: 1, congestion: cubic}
tests:
  - {name: rr-tcp, kind: latency, protocol: tcp, paths: 1, capture: true}
  - {name: mptcp-up, protocol: mptcp, paths: all, omit_s: 0}
  - {name: rr-mptcp-bulk, kind: latency, protocol: mptcp, paths: all, load: bulk}
"""
RR_METRICS = ('rr_tps', 'latency_p50_us', 'latency_p90_us', 'latency_p99_us')


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip('needs root (network namespaces)')
    prefix = 'm13c' + uuid.uuid4().hex[:4]
    tmp = tmp_path_factory.mktemp('latency')
    inv = str(tmp / 'inv')
    suite = tmp / 'suite.yml'
    suite.write_text(SUITE)
    results = str(tmp / 'results')
    # a sink user of its own: labs of other runs on this machine create and remove theirs
    with virtual_lab(inv, prefix, sink_user='%s-sink' % prefix):
        proc = ansible_playbook('playbooks/perf.yml', '-i', inv, '-e', 'perf_suite=%s' % suite,
                                '-e', 'perf_results_dir=%s' % results)
        with open(os.path.join(results, 'latest', 'summary.json')) as f:
            summary = json.load(f)
        yield prefix, results, summary, proc.stdout


def test_record_carries_the_request_response_metrics(run):
    _prefix, _results, s, _out = run
    assert_valid_record(s)
    tests = dict((t['name'], t) for t in s['tests'])
    assert list(tests) == ['rr-tcp', 'mptcp-up', 'rr-mptcp-bulk']
    for name in ('rr-tcp', 'rr-mptcp-bulk'):
        t = tests[name]
        assert t['valid'], t['invalid_reason']
        assert t['kind'] == 'latency' and t['omit_s'] == 0 and t['msg_size'] == 64
        assert t['expected_mbps'] is None and t['throughput_mbps']['n'] == 0
        run = t['runs'][0]
        assert run['ok'] and run['error'] is None and run['throughput_mbps'] is None
        m = run['metrics']
        assert set(RR_METRICS) <= set(m) and m['throughput_mbps'] is None
        assert m['rr_tps'] > 0
        assert 0 < m['latency_p50_us'] <= m['latency_p90_us'] <= m['latency_p99_us']
        for metric, better in zip(RR_METRICS, ('higher', 'lower', 'lower', 'lower')):
            assert t['metrics'][metric]['values'] == [m[metric]] and t['metrics'][metric]['better'] == better
        # sockperf's valid window of --time 3: 2.55 s at most (shorter when round trips are slow)
        assert 1.5 < run['duration_s'] <= 2.6 and run['rr']['valid_received'] > 0
    tcp, bulk = tests['rr-tcp'], tests['rr-mptcp-bulk']
    assert tcp['load'] == 'none' and tcp['runs'][0]['subflows'] is None and tcp['runs'][0]['load'] is None
    assert bulk['load'] == 'bulk'
    # MPTCP really: both the request/response connection and the bulk flow have a subflow per path
    run = bulk['runs'][0]
    assert run['subflows'] == 2 and run['fallback'] is False
    assert [(st['role'], st['subflows'], st['paths']) for st in run['streams']] == [
        ('rr', 2, [1, 2]), ('load', 2, [1, 2])]
    # the bulk flow filled both 50 Mbit/s paths around the round trips, and it is recorded
    load = run['load']
    assert load['ok'] and load['covers'] is True and load['congestion'] == 'cubic'
    assert load['throughput_mbps'] > 0.8 * 2 * 50 * GOODPUT
    # behind a full shaper queue, a round trip takes far longer than on idle paths
    assert run['metrics']['latency_p50_us'] > 10 * tcp['runs'][0]['metrics']['latency_p50_us']
    # the bulk test between them is measured as ever, without request/response metrics
    up = tests['mptcp-up']
    assert up['valid'] and 'kind' not in up
    assert {'throughput_mbps', 'retransmits', 'cpu_s_per_gb'} <= set(up['metrics'])
    assert not set(RR_METRICS) & set(up['metrics'])
    assert up['runs'][0]['throughput_mbps'] > 0.8 * 2 * 50 * GOODPUT


def test_raw_outputs_and_progress(run):
    _prefix, results, s, out = run
    raw = os.path.join(results, s['run_id'], 'raw')
    names = sorted(os.listdir(raw))
    assert '001-rr-tcp-rep1.sockperf.txt' in names and '003-rr-mptcp-bulk-rep1.sockperf.txt' in names
    assert '003-rr-mptcp-bulk-rep1.iperf3.json' in names and '001-rr-tcp-rep1.iperf3.json' not in names
    with open(os.path.join(raw, '003-rr-mptcp-bulk-rep1.sockperf.txt')) as f:
        assert 'Valid Duration' in f.read()
    # the captured latency test: a pcap of path 1 on both ends, holding sockperf's TCP port
    pcaps = [n for n in names if n.startswith('001-rr-tcp-rep1.') and n.endswith('.pcap')]
    assert sorted(n.split('.')[1] for n in pcaps) == ['generator', 'sink'], names
    assert all(os.path.getsize(os.path.join(raw, n)) > 1000 for n in pcaps)
    # the results table shows the latency figures (the output wraps long lines)
    assert re.search(r'rr-mptcp-bulk [0-9.]+ transactions/s, round trip p50 [0-9.]+ / p90 [0-9.]+ / p99 '
                     r'[0-9.]+ us \(under a bulk load\)', ' '.join(out.split())), out[-3000:]
    # one progress line per measurement, in plan order, whichever module runs it
    lines = re.findall(r'^\[(\d)/3\] (\S+) rep 1/1', out, re.M)
    assert lines == [('1', 'rr-tcp'), ('2', 'mptcp-up'), ('3', 'rr-mptcp-bulk')], lines
    # the sink ran sockperf servers for the run (an MPTCP one and a TCP one per path address)
    sink = s['metadata'][s['sink']]['traffic_sink']
    assert sink['sockperf_ports'] == {'mptcp': 11111, 'tcp': 11211}
