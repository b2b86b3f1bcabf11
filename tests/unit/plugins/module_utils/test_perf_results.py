"""Statistics, run records and summary.json (mptcp.lab perf_results)."""

import json
import os

import pytest

from ansible_collections.mptcp.lab.plugins.module_utils.perf import perf_record as pr
from ansible_collections.mptcp.lab.plugins.module_utils.perf import perf_results as files
from ansible_collections.mptcp.lab.plugins.module_utils.perf import perf_suite as ps


def test_summarize_contract_fields():
    s = pr.summarize([10.0, 12.0, 11.0])
    assert set(s) == {'values', 'median', 'mean', 'min', 'max', 'cv', 'n'}
    assert s['median'] == 11.0 and s['mean'] == 11.0 and s['min'] == 10.0 and s['max'] == 12.0
    assert s['n'] == 3 and s['values'] == [10.0, 12.0, 11.0]
    assert s['cv'] == pytest.approx(1.0 / 11.0, abs=1e-5)        # sample stdev 1.0


def test_summarize_edge_cases():
    assert pr.summarize([]) == {'values': [], 'median': None, 'mean': None, 'min': None,
                                'max': None, 'cv': None, 'n': 0}
    one = pr.summarize([47.8])
    assert one['cv'] is None and one['median'] == 47.8
    assert pr.summarize([1, 2, 3, 4])['median'] == 2.5
    assert pr.summarize([None, 3.0, True])['values'] == [3.0]      # junk ignored


SUITE = ps.validate_suite({'name': 's', 'defaults': {'repetitions': 2, 'duration_s': 10}, 'tests': [
    {'name': 'tcp', 'protocol': 'tcp', 'paths': 1},
    {'name': 'mptcp', 'protocol': 'mptcp', 'paths': 'all'}]}, 2)
PLAN = ps.plan(SUITE)
LAB = [{'rate_mbit': 50}, {'rate_mbit': 50}]


def measured(item, tput, ok=True, error=None, subflows=2, fallback=False):
    per_path = [tput] if item['protocol'] == 'tcp' else [tput / 2, tput / 2]
    return {'item': item, 'changed': False, 'ok': ok, 'error': error, 'throughput_mbps': tput,
            'per_path_mbps': per_path, 'subflows': None if item['protocol'] == 'tcp' else subflows,
            'fallback': None if item['protocol'] == 'tcp' else fallback, 'duration_s': 10.0,
            'elapsed_s': 11.1, 'cpu': {'generator': {'busy_pct': 20.0}, 'sink': {'busy_pct': 30.0}},
            'raw': {'iperf3': {'end': {}}, 'mptcp_counters': {'MPJoinSynAckRx': 2},
                    'ss_subflows': 'x\n', 'ss_mptcp': 'y\n', 'sink': None}}


def results():
    tcp1, mptcp1, tcp2, mptcp2 = PLAN
    return [measured(tcp1, 47.8), measured(mptcp1, 94.0),
            {'item': tcp2, 'failed': True, 'msg': 'boom'},
            measured(mptcp2, 47.0, ok=False, error='invalid: 1 subflow(s) for 2 path(s)', subflows=1)]


def test_build_summary_contract():
    s = pr.build_summary(SUITE, PLAN, results(), LAB, 'rid', 1000.0, 1050.0, {'h': {}})
    for key in ('run_id', 'suite', 'started', 'finished', 'wall_s', 'traffic_s', 'metadata', 'tests',
                'regressions'):
        assert key in s
    assert s['regressions'] == [] and s['suite'] == 's' and s['run_id'] == 'rid'
    assert s['wall_s'] == 50.0
    assert s['traffic_s'] == 30.0          # three runs measured 10 s, the failed task none
    assert s['wall_per_traffic'] == pytest.approx(50.0 / 30.0, abs=1e-4)
    assert s['started'] == '1970-01-01T00:16:40Z'
    tcp, mptcp = s['tests']
    for t in (tcp, mptcp):
        for key in ('name', 'protocol', 'paths', 'direction', 'expected_mbps', 'runs', 'throughput_mbps'):
            assert key in t
        for run in t['runs']:
            for key in ('throughput_mbps', 'per_path_mbps', 'subflows', 'fallback', 'ok', 'error'):
                assert key in run
    assert tcp['expected_mbps'] == pytest.approx(47.82, abs=0.01)
    assert mptcp['expected_mbps'] == pytest.approx(95.64, abs=0.01)
    # the failed task is kept, with its error, and left out of the statistics
    assert [r['ok'] for r in tcp['runs']] == [True, False]
    assert tcp['runs'][1]['error'] == 'task failed: boom' and tcp['runs'][1]['per_path_mbps'] == [None]
    assert tcp['throughput_mbps']['values'] == [47.8] and tcp['throughput_mbps']['n'] == 1
    assert tcp['verdict'] == 'invalid' and 'task failed: boom' in tcp['verdict_reason']
    assert mptcp['throughput_mbps']['values'] == [94.0]
    assert mptcp['verdict'] == 'invalid' and 'subflow' in mptcp['verdict_reason']
    assert mptcp['utilisation'] == pytest.approx(94.0 / 95.64, abs=1e-3)
    assert mptcp['per_path_mbps_median'] == [47.0, 47.0]
    assert mptcp['shaping'] == LAB and tcp['shaping'] == LAB[:1]
    assert mptcp['cpu_busy_pct_median'] == {'generator': 20.0, 'sink': 30.0}
    assert [r['raw'] for r in tcp['runs']] == ['001-tcp-rep1', '003-tcp-rep2']
    json.dumps(s)


def test_all_valid_gives_ok_verdict():
    res = [measured(i, 47.8 if i['protocol'] == 'tcp' else 94.0) for i in PLAN]
    s = pr.build_summary(SUITE, PLAN, res, LAB, 'rid', 0.0, 50.0, {})
    assert [t['verdict'] for t in s['tests']] == ['ok', 'ok'] and all(t['valid'] for t in s['tests'])
    expected = dict((t['name'], t['expected_mbps']) for t in s['tests'])
    rows = [[t['name'], t['protocol'], t['paths'], t['throughput_mbps']['median'], t['throughput_mbps']['cv'],
             t['utilisation'], t['verdict']] for t in s['tests']]
    assert rows == [['tcp', 'tcp', 1, 47.8, 0.0, round(47.8 / expected['tcp'], 4), 'ok'],
                    ['mptcp', 'mptcp', 2, 94.0, 0.0, round(94.0 / expected['mptcp'], 4), 'ok']]


def test_missing_results_are_runs_with_an_error():
    s = pr.build_summary(SUITE, PLAN, [], LAB, 'rid', 0.0, 1.0, {})
    runs = [r for t in s['tests'] for r in t['runs']]
    assert len(runs) == 4 and not any(r['ok'] for r in runs)
    assert runs[0]['error'] == 'task failed: measurement task did not run'
    assert s['traffic_s'] == 0 and s['wall_per_traffic'] is None


def test_unshaped_lab_has_no_expectation():
    s = pr.build_summary(SUITE, PLAN, [], [], 'rid', 0.0, 1.0, {})
    assert all(t['expected_mbps'] is None and t['utilisation'] is None for t in s['tests'])


def test_write_raw_summary_and_latest(tmp_path):
    run_dir = tmp_path / 'rid'
    run_dir.mkdir()
    names = files.write_raw(str(run_dir), PLAN, results())
    assert names == ['001-tcp-rep1', '002-mptcp-rep1', '003-tcp-rep2', '004-mptcp-rep2']
    raw = run_dir / 'raw'
    assert json.loads((raw / '002-mptcp-rep1.iperf3.json').read_text()) == {'end': {}}
    assert (raw / '002-mptcp-rep1.nstat.txt').read_text() == 'MPTcpExtMPJoinSynAckRx 2\n'
    assert 'x\n' in (raw / '002-mptcp-rep1.ss.txt').read_text()
    assert json.loads((raw / '003-tcp-rep2.task.json').read_text())['msg'] == 'boom'
    pr.write_record(str(run_dir / 'summary.json'), {'a': 1})
    files.point_latest(str(tmp_path), 'rid')
    assert os.readlink(str(tmp_path / 'latest')) == 'rid'
    (tmp_path / 'rid2').mkdir()
    files.point_latest(str(tmp_path), 'rid2')
    assert os.readlink(str(tmp_path / 'latest')) == 'rid2'
    assert json.loads((tmp_path / 'latest' / '..' / 'rid' / 'summary.json').read_text()) == {'a': 1}


def test_write_raw_nstat_of_both_ends_and_timeseries(tmp_path):
    run_dir = tmp_path / 'rid'
    run_dir.mkdir()
    series = {'interval_s': 1.0, 't': [1.0, 2.0], 'paths': [{'path': 1, 'dev': 'p1', 'mbps': [9.5, 9.6]}],
              'subflows': []}
    res = results()
    res[1]['raw'].update(nstat={'generator': {'TcpRetransSegs': 3, 'MPTcpExtMPJoinSynAckRx': 2},
                                'sink': {'MPTcpExtMPJoinAckRx': 2}},
                         timeseries=series)
    res[3]['raw'].update(nstat={'generator': {'TcpRetransSegs': 1}, 'sink': None}, timeseries=None)
    files.write_raw(str(run_dir), PLAN, res)
    raw = run_dir / 'raw'
    # the generator's full deltas replace the MPTcpExt-only ones; the sink's beside them
    assert (raw / '002-mptcp-rep1.nstat.txt').read_text() == 'MPTcpExtMPJoinSynAckRx 2\nTcpRetransSegs 3\n'
    assert (raw / '002-mptcp-rep1.sink.nstat.txt').read_text() == 'MPTcpExtMPJoinAckRx 2\n'
    assert json.loads((raw / '002-mptcp-rep1.timeseries.json').read_text()) == series
    # a run without the sink's counters or a series (failed run) gets no such file
    assert (raw / '004-mptcp-rep2.nstat.txt').read_text() == 'TcpRetransSegs 1\n'
    assert not (raw / '004-mptcp-rep2.sink.nstat.txt').exists()
    assert not (raw / '004-mptcp-rep2.timeseries.json').exists()
    assert not (raw / '001-tcp-rep1.timeseries.json').exists()


def test_commands_around_a_measurement_go_into_the_run_and_raw(tmp_path):
    res = results()
    ran = [{'host': 'g1', 'phase': 'pre', 'name': 'pre[0]', 'argv': ['ip', 'mptcp', 'endpoint', 'show'], 'rc': 0,
            'timed_out': False, 'duration_s': 0.01, 'ok': True, 'ignored': False, 'stdout': '10.0.0.1 id 1\n',
            'stderr': ''},
           {'host': 's1', 'phase': 'post', 'name': 'post[0]', 'argv': ['script:/s/p.sh'], 'rc': 2,
            'timed_out': False, 'duration_s': 0.02, 'ok': False, 'ignored': False, 'stdout': '', 'stderr': 'no'}]
    res[1].update(commands=ran, commands_error="commands failed: s1 post: post[0] exited with 2")
    res[0].update(commands=ran[:1])
    s = pr.build_summary(SUITE, PLAN, res, LAB, 'rid', 1000.0, 1050.0, {})
    tcp, mptcp = s['tests']
    # what ran is recorded, without its output; a failed post command fails a run that measured fine
    assert tcp['runs'][0]['commands'] == [dict((k, ran[0][k]) for k in pr.COMMAND_RUN_KEYS)]
    assert tcp['runs'][0]['ok']
    assert not mptcp['runs'][0]['ok'] and mptcp['runs'][0]['error'].startswith('commands failed: s1 post')
    assert mptcp['runs'][0]['throughput_mbps'] == 94.0
    run_dir = tmp_path / 'rid'
    run_dir.mkdir()
    files.write_raw(str(run_dir), PLAN, res)
    text = (run_dir / 'raw' / '002-mptcp-rep1.commands.txt').read_text()
    assert text == ('# pre pre[0] ip mptcp endpoint show on g1: rc 0, 0.010 s\n## stdout\n10.0.0.1 id 1\n'
                    '# post post[0] script:/s/p.sh on s1: rc 2, 0.020 s\n## stderr\nno\n')
    assert not (run_dir / 'raw' / '003-tcp-rep2.commands.txt').exists()


def test_a_tests_commands_are_recorded_and_part_of_its_identity():
    suite = ps.validate_suite({'name': 's', 'tests': [
        {'name': 'a', 'commands': {'pre': [{'host': 'sink', 'argv': ['ip', 'mptcp', 'endpoint', 'show']}]}},
        {'name': 'b'}]}, 2)
    s = pr.build_summary(suite, ps.plan(suite), [], LAB, 'rid', 0.0, 1.0, {})
    a, b = s['tests']
    assert a['commands'] == {'pre': [{'host': 'sink', 'argv': ['ip', 'mptcp', 'endpoint', 'show'],
                                      'timeout_s': 60, 'ignore_errors': False}]}
    assert b['commands'] is None
    key_a = pr.test_identity(s, a)
    assert key_a[1]['commands'] == {'pre': [{'host': 'sink', 'argv': ['ip', 'mptcp', 'endpoint', 'show']}]}
    assert key_a[0] != pr.test_identity(s, dict(a, commands=None))[0]
