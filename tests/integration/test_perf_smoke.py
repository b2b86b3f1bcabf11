"""The smoke suite end to end: perf.yml on a virtual lab of its own.

The lab gets a unique prefix (its own namespaces, addresses and pidfiles), so
it never meets other labs on the machine; it is torn down whatever happens.
perf.yml leaves the machine as found: the smoke run creates the lab and tears
it down; a later run keeps the lab it creates (perf_keep_lab=true), and the
runs after it find the lab up and leave it so.
"""

import glob
import json
import os
import subprocess
import uuid

import pytest

from conftest import ansible_playbook, virtual_lab
from run_record_check import assert_junit_matches, assert_valid_record

GOODPUT = 1448.0 / 1514.0


@pytest.fixture(scope='module')
def lab_inventory(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip('needs root (network namespaces)')
    prefix = 'mp' + uuid.uuid4().hex[:6]
    inv = str(tmp_path_factory.mktemp('inv'))
    with virtual_lab(inv, prefix):
        yield prefix, inv


def lab_namespaces(prefix):
    return sorted(os.path.basename(p) for p in glob.glob('/run/netns/%s-*' % prefix))


@pytest.fixture(scope='module')
def smoke(lab_inventory, tmp_path_factory):
    prefix, inv = lab_inventory
    assert lab_namespaces(prefix) == [], 'the smoke run must find no lab (it runs before kept_lab)'
    results = str(tmp_path_factory.mktemp('results'))
    proc = ansible_playbook('playbooks/perf.yml', '-i', inv, '-e', 'perf_suite=smoke',
                            '-e', 'perf_results_dir=%s' % results)
    with open(os.path.join(results, 'latest', 'summary.json')) as f:
        summary = json.load(f)
    return prefix, results, summary, proc.stdout


@pytest.fixture(scope='module')
def kept_lab(lab_inventory, tmp_path_factory):
    """A lab that perf.yml created and kept (perf_keep_lab=true), for the runs that find it up."""
    prefix, inv = lab_inventory
    tmp = tmp_path_factory.mktemp('kept')
    suite = tmp / 'one.yml'
    suite.write_text('defaults: {duration_s: 1, omit_s: 0, repetitions: 1, congestion: cubic}\n'
                     'tests:\n  - {name: one, protocol: tcp, paths: 1}\n')
    existed = lab_namespaces(prefix)
    proc = ansible_playbook('playbooks/perf.yml', '-i', inv, '-e', 'perf_suite=%s' % suite,
                            '-e', 'perf_results_dir=%s' % (tmp / 'r'), '-e', 'perf_keep_lab=true')
    return prefix, inv, existed, proc.stdout


def test_summary_follows_the_contract(smoke):
    _prefix, results, s, _out = smoke
    for key in ('run_id', 'suite', 'started', 'finished', 'wall_s', 'traffic_s', 'metadata', 'tests',
                'regressions'):
        assert key in s, key
    assert s['suite'] == 'smoke'
    assert os.readlink(os.path.join(results, 'latest')) == s['run_id']
    assert [t['name'] for t in s['tests']] == ['tcp-up', 'mptcp-up', 'mptcp-down']
    # three runs of 3 measured seconds each
    assert s['traffic_s'] == pytest.approx(9.0, abs=0.3)
    assert s['wall_s'] > s['traffic_s']
    for t in s['tests']:
        stats = t['throughput_mbps']
        assert set(stats) >= {'values', 'median', 'mean', 'min', 'max', 'cv', 'n'}
        assert stats['n'] == 1 and len(t['runs']) == 1
        run = t['runs'][0]
        assert set(run) >= {'throughput_mbps', 'per_path_mbps', 'subflows', 'fallback', 'ok', 'error'}
        assert len(run['per_path_mbps']) == t['paths']


def test_record_follows_the_schema_and_is_written_once(smoke):
    _prefix, results, s, _out = smoke
    assert s['schema_version'] == 1
    assert_valid_record(s)
    for t in s['tests']:
        assert t['metrics']['throughput_mbps']['values'] == t['throughput_mbps']['values']
        assert t['metrics']['throughput_mbps']['unit'] == 'Mbit/s'
        assert t['metrics']['retransmits']['better'] == 'lower'
        assert t['runs'][0]['metrics']['throughput_mbps'] == t['runs'][0]['throughput_mbps']
    run_dir = os.path.join(results, s['run_id'])
    # the verdict came after the record and wrote its own files, not into the record
    assert os.stat(os.path.join(run_dir, 'summary.json')).st_mtime <= \
        os.stat(os.path.join(run_dir, 'verdict.json')).st_mtime
    assert s['regressions'] == [] and 'judgement' not in s
    assert all(t['verdict'] in ('ok', 'invalid') and 'outcome' not in t for t in s['tests'])
    with open(os.path.join(run_dir, 'verdict.json')) as f:
        verdict = json.load(f)
    # every test judged on each default metric its runs measured (throughput and CPU cost per GB)
    assert [(t['name'], t['metric'], t['outcome']) for t in verdict['tests']] == [
        (t['name'], metric, 'no-baseline') for t in s['tests'] for metric in ('throughput_mbps', 'cpu_s_per_gb')]
    with open(os.path.join(run_dir, 'junit.xml')) as f:
        assert_junit_matches(f.read(), s, verdict)
    with open(os.path.join(run_dir, 'verdict.md')) as f:
        assert '| tcp-up | tcp | 1 | throughput_mbps | no baseline |' in f.read()


def test_measurements_are_right(smoke):
    _prefix, _results, s, _out = smoke
    tests = dict((t['name'], t) for t in s['tests'])
    tcp = tests['tcp-up']
    assert tcp['protocol'] == 'tcp' and tcp['paths'] == 1
    assert tcp['expected_mbps'] == pytest.approx(50 * GOODPUT, abs=0.01)
    assert tcp['throughput_mbps']['median'] >= 0.9 * tcp['expected_mbps']
    assert tcp['runs'][0]['subflows'] is None
    for name in ('mptcp-up', 'mptcp-down'):
        t = tests[name]
        assert t['protocol'] == 'mptcp' and t['paths'] == 2
        assert t['expected_mbps'] == pytest.approx(100 * GOODPUT, abs=0.01)
        run = t['runs'][0]
        assert run['ok'] and run['error'] is None, run['error']
        assert run['subflows'] == 2 and run['fallback'] is False
        assert t['throughput_mbps']['median'] >= 0.9 * t['expected_mbps']
        assert min(run['per_path_mbps']) > 0.3 * run['throughput_mbps']
        # the verdict step after the run record refines 'ok' (pass, no-baseline...)
        assert t['valid'] and t['verdict'] != 'invalid' and t['utilisation'] >= 0.9


def test_metadata_and_raw_outputs(smoke):
    prefix, results, s, _out = smoke
    gen, sink = '%s-gen1' % prefix, '%s-sink1' % prefix
    shaper = '%s-shaper' % prefix
    assert set(s['metadata']) == {gen, sink, shaper}
    # the shaper's qdiscs are the paths' shaping: tbf at 50 Mbit/s on each of its 4 path interfaces
    shaping = s['metadata'].pop(shaper)
    assert shaping['role'] == 'shaper' and len(shaping['qdiscs']) == 4
    for qdiscs in shaping['qdiscs'].values():
        assert [(q['kind'], q['parent'], q['options']['rate']) for q in qdiscs] == [('tbf', 'root', 50 * 10 ** 6 // 8)]
    assert shaping['kernel'] == os.uname().release
    assert set(shaping['offloads']) == set(shaping['qdiscs'])      # the offloads of what shapes
    for host, meta in s['metadata'].items():
        assert meta['kernel'] == os.uname().release
        assert meta['mptcp_settings']['enabled'] is True
        assert meta['limits'] == {'subflows': 1, 'add_addr_accepted': 1}
        assert meta['tools']['iperf3']['version']
        assert set(meta['offloads']) == {'%s-p1' % prefix, '%s-p2' % prefix}
        assert meta['sysctls']['net.ipv4.tcp_congestion_control']
    assert [e['flags'] for e in s['metadata'][sink]['endpoints']] == [['signal'], ['signal']]
    # how the sink served the run: running, its launcher, unprivileged
    service = s['metadata'][sink]['traffic_sink']
    assert service['running'] is True and service['launcher'] in ('mptcpize', 'native')
    assert service['user'] == 'mptcp-lab' and service['mptcp_ports'] == [5201]
    raw = os.path.join(results, s['run_id'], 'raw')
    names = sorted(os.listdir(raw))
    assert '002-mptcp-up-rep1.iperf3.json' in names and '002-mptcp-up-rep1.nstat.txt' in names
    assert '002-mptcp-up-rep1.ss.txt' in names and '001-tcp-up-rep1.iperf3.json' in names
    # every nstat counter of both ends, and the time series (a download's subflows from the sink's sockets)
    with open(os.path.join(raw, '002-mptcp-up-rep1.sink.nstat.txt')) as f:
        assert 'MPTcpExtMPJoinAckRx ' in f.read()
    for stem, direction in (('002-mptcp-up-rep1', 'generator'), ('003-mptcp-down-rep1', 'sink')):
        with open(os.path.join(raw, stem + '.timeseries.json')) as f:
            series = json.load(f)
        assert [len(p['mbps']) for p in series['paths']] == [3, 3] and len(series['t']) == 3
        assert series['subflows_from'] == direction and len(series['subflows']) == 2


def test_lab_created_by_the_run_is_torn_down(smoke):
    """No namespace, process or run file of the lab is left after the run that created it."""
    prefix, _results, s, out = smoke
    assert lab_namespaces(prefix) == []
    assert glob.glob('/run/mptcp-lab/%s-*' % prefix) == []
    assert out.rstrip().split('PLAY RECAP')[0].rstrip().endswith('msg: lab torn down (created by this run)')
    # the teardown came after the run record: the traffic was all accounted for
    assert s['wall_s'] > s['traffic_s'] > 8.7


def test_progress_and_table(smoke):
    _prefix, _results, _s, out = smoke
    done = -1
    for k, name in enumerate(['tcp-up', 'mptcp-up', 'mptcp-down'], 1):
        # printed before the measurement runs: after the previous one's result, before its own
        line = out.index('[%d/3] %s rep 1/1 \u2014 ETA ' % (k, name))
        result = out.index('=> (item=[%d/3] %s rep 1/1)' % (k, name))
        assert done < line < result
        done = result
    assert 'median Mb/s' in out and 'mptcp-down' in out


def test_lab_created_and_kept_on_request(kept_lab):
    prefix, _inv, existed, out = kept_lab
    assert existed == []
    assert lab_namespaces(prefix) == ['%s-gen1' % prefix, '%s-shaper' % prefix, '%s-sink1' % prefix]
    assert 'msg: lab left up (created by this run; perf_keep_lab=true)\n' in out


def test_mptcp_over_a_subset_of_the_paths(kept_lab, tmp_path):
    """MPTCP over path 2 only: the sink announces path 2 alone for it, then all again.

    The lab existed before this run: it stays up, its sink's servers stopped.
    """
    from conftest import Netns, run_module
    prefix, inv, _existed, _out = kept_lab
    suite = tmp_path / 'subset.yml'
    suite.write_text('defaults: {duration_s: 2, omit_s: 1, repetitions: 1, congestion: cubic}\n'
                     'tests:\n  - {name: p2, protocol: mptcp, paths: [2]}\n'
                     '  - {name: all, protocol: mptcp, paths: all}\n')
    before = lab_namespaces(prefix)
    out = ansible_playbook('playbooks/perf.yml', '-i', inv, '-e', 'perf_suite=%s' % suite,
                           '-e', 'perf_results_dir=%s' % (tmp_path / 'r'), '-e', 'perf_provision=false').stdout
    assert 'msg: lab left up (it existed before this run)\n' in out
    assert lab_namespaces(prefix) == before and len(before) == 3
    # the servers ran under the supervised_process module and were stopped at the end
    pids = subprocess.run(['ip', 'netns', 'pids', '%s-sink1' % prefix], capture_output=True, text=True,
                          check=True).stdout.split()
    comms = [open('/proc/%s/comm' % p).read().strip() for p in pids if os.path.exists('/proc/%s/comm' % p)]
    assert 'iperf3' not in comms
    with open(str(tmp_path / 'r' / 'latest' / 'summary.json')) as f:
        tests = dict((t['name'], t) for t in json.load(f)['tests'])
    p2, both = tests['p2']['runs'][0], tests['all']['runs'][0]
    assert p2['ok'] and p2['subflows'] == 1 and p2['streams'][0]['paths'] == [2], p2['error']
    assert tests['p2']['expected_mbps'] == pytest.approx(50 * GOODPUT, abs=0.01)
    assert p2['throughput_mbps'] < 1.05 * tests['p2']['expected_mbps']      # one path, not two
    assert both['ok'] and both['subflows'] == 2 and both['streams'][0]['paths'] == [1, 2], both['error']
    endpoints = run_module(Netns('%s-sink1' % prefix), 'mptcp_info', {})['ansible_facts']['mptcp']['endpoints']
    assert [(e['id'], e['flags']) for e in endpoints] == [(1, ['signal']), (2, ['signal'])]


def test_bad_suite_stops_before_anything_runs(lab_inventory, tmp_path):
    _prefix, inv = lab_inventory
    suite = tmp_path / 'bad.yml'
    suite.write_text('tests:\n  - {name: fine, protocol: tcp, paths: 1}\n  - {name: wide, paths: 3}\n')
    proc = ansible_playbook('playbooks/perf.yml', '-i', inv, '-e', 'perf_suite=%s' % suite,
                            '-e', 'perf_results_dir=%s' % (tmp_path / 'r'), check=False)
    assert proc.returncode != 0
    assert "tests[1] 'wide': paths must be 1..2 (the lab has 2 paths)" in proc.stdout
    assert 'Run the measurements' not in proc.stdout
    assert not (tmp_path / 'r').exists()
