"""sockperf's output and the request/response checks (mptcp.lab perf_latency)."""

import os

import pytest

from ansible_collections.mptcp.lab.plugins.module_utils.perf import perf_latency as pl
from ansible_collections.mptcp.lab.plugins.module_utils.perf import perf_parse as pp

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures', 'perf')


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return f.read()


def test_round_trip_run_recorded_with_colours():
    out = pl.parse_sockperf(fixture('sockperf-pingpong-rtt.txt'))
    assert out['ok'] and out['error'] is None
    assert out['version'] == '3.7-no.git' and out['round_trip'] is True
    assert (out['total_s'], out['warmup_ms'], out['sent'], out['received']) == (3.004, 400, 1529, 1528)
    assert (out['valid_s'], out['valid_sent'], out['valid_received']) == (2.544, 1439, 1439)
    assert (out['avg_us'], out['std_us']) == (1767.695, 2675.219)
    assert (out['dropped'], out['duplicated'], out['out_of_order']) == (0, 0, 0)
    assert out['observations'] == 1439
    assert (out['min_us'], out['max_us']) == (52.187, 14945.921)
    assert out['percentiles'] == {'99.999': 14945.921, '99.990': 14945.921, '99.900': 12004.115,
                                  '99.000': 8083.090, '90.000': 7019.834, '75.000': 3247.677,
                                  '50.000': 79.478, '25.000': 64.229}


def test_metrics_of_a_round_trip_run():
    m = pl.rr_metrics(pl.parse_sockperf(fixture('sockperf-pingpong-rtt.txt')))
    assert m == {'rr_tps': round(1439 / 2.544, 1), 'latency_p50_us': 79.478, 'latency_p90_us': 7019.834,
                 'latency_p99_us': 8083.09}
    assert list(m) == list(pl.METRICS)


def test_one_way_figures_are_doubled_to_round_trips():
    out = pl.parse_sockperf(fixture('sockperf-pingpong-oneway.txt'))
    assert out['ok'] and out['round_trip'] is False and out['avg_us'] == 17.029
    m = pl.rr_metrics(out)
    assert m['latency_p50_us'] == pytest.approx(2 * 14.241)
    assert m['latency_p90_us'] == pytest.approx(2 * 24.651)
    assert m['latency_p99_us'] == pytest.approx(2 * 43.306)
    assert m['rr_tps'] == round(16132 / 0.55, 1)


@pytest.mark.parametrize('text, error', [
    ('sockperf: \x1b[2;35m== version #3.7-no.git == \x1b[0m\n'
     'sockperf: ERROR: Can`t connect socket (errno=111 Connection refused)\n',
     'sockperf: ERROR: Can`t connect socket (errno=111 Connection refused)'),
    ('sockperf: == version #3.7-no.git == \n'
     'sockperf: ERROR: [fd=3] Can`t bind socket 10.213.9.9:0 (errno=99 Cannot assign requested address)\n',
     'sockperf: ERROR: [fd=3] Can`t bind socket 10.213.9.9:0 (errno=99 Cannot assign requested address)'),
    ("sockperf: '-m' Invalid message size: 10 (min: 14)\nping-pong (pp): Run sockperf client ...\n",
     "sockperf: '-m' Invalid message size: 10 (min: 14)"),
    ('', 'sockperf printed no statistics (no valid round trip)'),
    ('sockperf: Test ended\nsockperf: No messages were sent\n', 'sockperf printed no statistics (no valid round trip)'),
    ('sockperf: [Valid Duration] RunTime=0.550 sec; SentMessages=3; ReceivedMessages=3\n'
     'sockperf: Total 3 observations; each percentile contains 0.03 observations\n',
     'sockperf printed no percentiles (3 observations)'),
])
def test_failures_say_why(text, error):
    out = pl.parse_sockperf(text)
    assert not out['ok'] and out['error'] == error
    assert pl.rr_metrics(out) == dict.fromkeys(pl.METRICS)


def test_no_result_has_no_metrics():
    assert pl.rr_metrics(None) == {'rr_tps': None, 'latency_p50_us': None, 'latency_p90_us': None,
                                   'latency_p99_us': None}


def test_a_missing_p90_is_null_not_a_guess():
    text = ('sockperf: [Valid Duration] RunTime=1.000 sec; SentMessages=10; ReceivedMessages=10\n'
            'sockperf: ====> avg-rtt=100.000 (std-dev=1.000)\n'
            'sockperf: ---> percentile 99.000 = 120.000\nsockperf: ---> percentile 50.000 = 99.000\n')
    m = pl.rr_metrics(pl.parse_sockperf(text))
    assert m == {'rr_tps': 10.0, 'latency_p50_us': 99.0, 'latency_p90_us': None, 'latency_p99_us': 120.0}


def test_window_and_load_cover():
    start, end = pl.rr_window(100.0, 112.65)
    assert start == pytest.approx(102.4) and end == pytest.approx(112.5)
    assert pl.load_covers((102.4, 112.5), (102.0, 113.5)) == (True, None)
    ok, why = pl.load_covers((102.4, 112.5), (102.9, 113.5))
    assert not ok and why == 'invalid: the bulk load started 0.50 s after the request/response window'
    ok, why = pl.load_covers((102.4, 112.5), (102.0, 111.25))
    assert not ok and why == 'invalid: the bulk load ended 1.25 s before the request/response window'


def test_rr_connection_is_found_among_the_subflows():
    ss = ('ESTAB 0 0 10.0.2.2:40000 10.0.3.2:5201\n\t cubic tcp-ulp-mptcp flags:Mmec token:0000(id:0)/aaaa(id:0)\n'
          'ESTAB 0 0 10.0.2.2:40010 10.0.3.2:11111\n\t cubic tcp-ulp-mptcp flags:Mmec token:0000(id:0)/bbbb(id:0)\n'
          'ESTAB 0 0 10.0.4.2:50000 10.0.3.2:11111\n\t cubic tcp-ulp-mptcp flags:Jjec token:1111(id:2)/bbbb(id:2)\n')
    subflows = pp.parse_ss_subflows(ss)
    port = pl.rr_connection_port(subflows, '10.0.2.2', '10.0.3.2', 11111)
    assert port == 40010
    streams = pp.stream_subflows([port], '10.0.2.2', subflows, {'10.0.2.2': 1, '10.0.4.2': 2})
    assert streams == [{'port': 40010, 'subflows': 2, 'paths': [1, 2], 'foreign': []}]
    assert pl.rr_connection_port(subflows, '10.0.2.2', '10.0.3.2', 11211) is None
    assert pl.rr_connection_port(subflows, '10.9.9.9', None, 11111) is None
    assert pl.rr_connection_port(subflows, None, None, 11111) == 40010


def test_latency_runs_in_the_run_record():
    """What perf_latency returns becomes runs[].metrics and tests[].metrics of summary.json."""
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..', '..'))
    import run_record_check as check  # pylint: disable=import-outside-toplevel
    from ansible_collections.mptcp.lab.plugins.module_utils.perf import perf_record
    from ansible_collections.mptcp.lab.plugins.module_utils.perf import perf_suite as ps

    suite = ps.validate_suite({'name': 's', 'defaults': {'repetitions': 2, 'duration_s': 5}, 'tests': [
        {'name': 'up', 'protocol': 'tcp', 'paths': 1},
        {'name': 'rr', 'kind': 'latency', 'load': 'bulk'}]}, 2)
    plan = ps.plan(suite)

    def rr_result(item, tps, p50):
        return {'item': item, 'ok': True, 'error': None, 'throughput_mbps': None, 'per_path_mbps': [None, None],
                'subflows': 2, 'fallback': False, 'duration_s': 4.55,
                'metrics': {'rr_tps': tps, 'latency_p50_us': p50, 'latency_p90_us': p50 * 1.2,
                            'latency_p99_us': p50 * 1.5},
                'rr': {'valid_s': 4.55, 'msg_size': 64}, 'load': {'ok': True, 'throughput_mbps': 93.9}}

    results = [{'item': plan[0], 'ok': True, 'error': None, 'throughput_mbps': 47.8, 'per_path_mbps': [47.8],
                'subflows': None, 'fallback': None, 'duration_s': 5.0, 'retransmits': 0},
               rr_result(plan[1], 80.0, 12000.0),
               {'item': plan[2], 'ok': True, 'error': None, 'throughput_mbps': 47.7, 'per_path_mbps': [47.7],
                'subflows': None, 'fallback': None, 'duration_s': 5.0, 'retransmits': 0},
               rr_result(plan[3], 76.0, 13000.0)]
    s = perf_record.build_summary(suite, plan, results, [{'rate_mbit': 50}] * 2, 'rid', 1000.0, 1050.0,
                                  {'h': {'kernel': '6.18'}})
    check.assert_valid_record(s)
    up, rr = s['tests']
    assert set(up['metrics']) == {'throughput_mbps', 'retransmits'} and 'kind' not in up
    assert (rr['kind'], rr['load'], rr['msg_size'], rr['omit_s']) == ('latency', 'bulk', 64, 0)
    assert rr['valid'] is True and rr['expected_mbps'] is None and rr['throughput_mbps']['n'] == 0
    assert rr['runs'][0]['metrics'] == {'throughput_mbps': None, 'retransmits': None, 'rr_tps': 80.0,
                                        'latency_p50_us': 12000.0, 'latency_p90_us': 14400.0,
                                        'latency_p99_us': 18000.0}
    assert rr['metrics']['rr_tps']['values'] == [80.0, 76.0] and rr['metrics']['rr_tps']['better'] == 'higher'
    assert rr['metrics']['latency_p99_us']['median'] == 18750.0 and rr['metrics']['latency_p99_us']['unit'] == 'us'
    assert rr['runs'][1]['load']['throughput_mbps'] == 93.9 and rr['runs'][0]['rr']['msg_size'] == 64
    assert s['traffic_s'] == 2 * 5.0 + 2 * 4.55
    # kind, load and msg_size are part of the test's identity (history): a load change is another test
    key, identity = perf_record.test_identity(s, rr)
    assert (identity['kind'], identity['load'], identity['msg_size']) == ('latency', 'bulk', 64)
    assert perf_record.test_identity(s, dict(rr, load='none'))[0] != key
    assert 'kind' not in perf_record.test_identity(s, up)[1]
