"""Several generator/sink pairs measured at once (suite key pairs), end to end.

A virtual lab of four pairs with a unique prefix (torn down whatever
happens): perf.yml runs TCP and MPTCP on all four pairs at once. Each pair
has its own two shaped paths, so each flow should reach its pair's ideal
while the barrier keeps their starts within a few milliseconds. Then two
MPTCP and two TCP flows share one 100 Mbit/s bottleneck (suite keys mix and
bottleneck): together they get the bottleneck, not their paths' 300 Mbit/s.
"""

import json
import os
import subprocess
import uuid

import pytest

from conftest import ansible_playbook, virtual_lab
from run_record_check import assert_valid_record

RATE = 50
GOODPUT = 1448.0 / 1514.0
PAIRS = 4
SHARED = 100


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip('needs root (network namespaces)')
    prefix = 'mq' + uuid.uuid4().hex[:6]
    tmp = tmp_path_factory.mktemp('pairs')
    inv = str(tmp / 'inv')
    suite = tmp / 'pairs.yml'
    suite.write_text('defaults: {duration_s: 4, omit_s: 1, repetitions: 1, congestion: cubic}\n'
                     'tests:\n'
                     '  - {name: tcp-x4, protocol: tcp, paths: 1, pairs: %d}\n'
                     '  - {name: mptcp-xall, protocol: mptcp, paths: all, pairs: all}\n'
                     '  - {name: mptcp-one, protocol: mptcp, paths: all}\n'
                     '  - {name: shared-mix, mix: {mptcp: 2, tcp: 2}, bottleneck: {rate_mbit: %d}}\n'
                     % (PAIRS, SHARED))
    results = str(tmp / 'results')
    # a sink user of its own: labs of other runs on this machine create and remove theirs
    with virtual_lab(inv, prefix, pairs=PAIRS, rates='%d,%d' % (RATE, RATE), sink_user='%s-sink' % prefix):
        # make integration runs other test files beside this one: Ansible may need more than the
        # default lead (2 s + 0.75 s per flow, plenty on a quiet machine) to reach four generators
        proc = ansible_playbook('playbooks/perf.yml', '-i', inv, '-e', 'perf_suite=%s' % suite,
                                '-e', 'perf_results_dir=%s' % results, '-e', 'perf_suite_start_lead_s=10',
                                # kept up after the run (torn down by virtual_lab) to look at the shaper
                                '-e', 'perf_keep_lab=true')
        with open(os.path.join(results, 'latest', 'summary.json')) as f:
            summary = json.load(f)
        yield prefix, results, summary, proc.stdout


def test_every_pair_measured_at_once_with_its_flow_the_aggregate_and_fairness(run):
    prefix, results, s, _out = run
    assert_valid_record(s)
    tcp, mptcp, one = s['tests'][:3]
    pair_ideal = 2 * RATE * GOODPUT
    assert 'pairs' not in one and 'flows' not in one['runs'][0]
    assert one['expected_mbps'] == pytest.approx(pair_ideal, abs=0.01)
    for test, per_flow_ideal in ((tcp, RATE * GOODPUT), (mptcp, pair_ideal)):
        assert test['pairs'] == PAIRS and test['valid'], test['invalid_reason']
        assert test['expected_mbps'] == pytest.approx(PAIRS * per_flow_ideal, abs=0.01)
        run = test['runs'][0]
        flows = run['flows']
        assert [(f['generator'], f['sink']) for f in flows] == [
            ('%s-gen%d' % (prefix, n), '%s-sink%d' % (prefix, n)) for n in range(1, PAIRS + 1)]
        assert all(f['ok'] and f['protocol'] == test['protocol'] for f in flows), flows
        # each pair has its own shaped paths: every flow reaches its pair's ideal
        assert all(f['throughput_mbps'] >= 0.9 * per_flow_ideal for f in flows), [f['throughput_mbps'] for f in flows]
        assert run['throughput_mbps'] == pytest.approx(sum(f['throughput_mbps'] for f in flows), abs=0.01)
        assert test['utilisation'] >= 0.9
        assert run['metrics']['jain_index'] >= 0.95
        # one start time for all: the flows started within 100 ms of each other
        assert run['start_skew_ms'] is not None and run['start_skew_ms'] < 100, flows
        starts = [f['started_at'] for f in flows]
        assert (max(starts) - min(starts)) * 1000 == pytest.approx(run['start_skew_ms'], abs=0.1)
        if test['protocol'] == 'mptcp':
            assert run['subflows'] == 2 and all(f['subflows'] == 2 and f['fallback'] is False for f in flows)
        # each flow's raw outputs: the first under the measurement's name, the others numbered
        raw = os.path.join(results, s['run_id'], 'raw')
        assert [f['raw'] for f in flows] == [run['raw']] + ['%s.flow%d' % (run['raw'], n) for n in range(2, PAIRS + 1)]
        for f in flows:
            with open(os.path.join(raw, f['raw'] + '.iperf3.json')) as fh:
                report = json.load(fh)
            # from that flow's generator: one of its own path addresses
            own = [link['address'] for link in s['metadata'][f['generator']]['path_links']]
            assert report['start']['connected'][0]['local_host'] in own, (f['generator'], own)
    # the record names every pair's hosts in its metadata
    assert sorted(h for h, m in s['metadata'].items() if isinstance(m, dict) and m.get('role') == 'generator') == [
        '%s-gen%d' % (prefix, n) for n in range(1, PAIRS + 1)]


def test_two_tcp_and_two_mptcp_flows_through_one_shared_bottleneck_record_each_protocols_share(run):
    prefix, _results, s, _out = run
    test = s['tests'][3]
    assert test['name'] == 'shared-mix' and test['valid'], test['invalid_reason']
    assert test['mix'] == {'mptcp': 2, 'tcp': 2} and test['bottleneck'] == {'rate_mbit': SHARED}
    assert test['pairs'] == PAIRS and test['protocol'] == 'mptcp'
    ideal = SHARED * GOODPUT
    assert test['expected_mbps'] == pytest.approx(ideal, abs=0.01)
    run = test['runs'][0]
    flows = run['flows']
    assert [(f['generator'], f['protocol']) for f in flows] == [
        ('%s-gen%d' % (prefix, n), p) for n, p in ((1, 'mptcp'), (2, 'mptcp'), (3, 'tcp'), (4, 'tcp'))]
    assert all(f['ok'] for f in flows), flows
    assert all(f['subflows'] == 2 and f['fallback'] is False for f in flows if f['protocol'] == 'mptcp'), flows
    # every flow got some of it, and together they filled the bottleneck but no more: without it
    # their paths would carry 2 x 100 + 2 x 50 Mbit/s
    assert all(f['throughput_mbps'] >= 0.05 * ideal for f in flows), [f['throughput_mbps'] for f in flows]
    assert 0.9 * ideal <= run['throughput_mbps'] <= 1.02 * SHARED, run['throughput_mbps']
    assert run['start_skew_ms'] is not None and run['start_skew_ms'] < 100
    per = run['per_protocol_mbps']
    assert per['mptcp'] == pytest.approx(sum(f['throughput_mbps'] for f in flows[:2]), abs=0.01)
    assert per['tcp'] == pytest.approx(sum(f['throughput_mbps'] for f in flows[2:]), abs=0.01)
    share = run['protocol_share']
    assert share['mptcp'] + share['tcp'] == pytest.approx(1.0, abs=0.001)
    assert share['mptcp'] == pytest.approx(per['mptcp'] / run['throughput_mbps'], abs=0.001)
    assert run['metrics']['mptcp_share'] == share['mptcp']
    assert test['metrics']['mptcp_share']['n'] == 1
    # after the run the shaper is the lab's again: no bottleneck device, no redirect on any path
    shaper = '%s-shaper' % prefix
    links = subprocess.run(['ip', '-n', shaper, '-o', 'link'], capture_output=True, text=True, check=True).stdout
    assert '%s-1s1' % prefix in links and '%s-bs' % prefix not in links and '%s-bg' % prefix not in links
    for dev in ('%s-%ds%d' % (prefix, pair, path) for pair in range(1, PAIRS + 1) for path in (1, 2)):
        shown = subprocess.run(['ip', 'netns', 'exec', shaper, 'tc', 'filter', 'show', 'dev', dev, 'egress'],
                               capture_output=True, text=True, check=False)
        assert 'mirred' not in shown.stdout, (dev, shown.stdout)
