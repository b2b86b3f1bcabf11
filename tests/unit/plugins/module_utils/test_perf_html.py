"""The report's pieces: the verdict table per test and metric, the grouping by scale, the time series."""

import os
import re
import sys

import pytest

from ansible_collections.mptcp.lab.plugins.module_utils.perf import perf_html
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_record import migrate

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..', '..'))
import perf_fixtures  # noqa: E402  pylint: disable=wrong-import-position

pytestmark = pytest.mark.skipif(not perf_html.HAS_MATPLOTLIB, reason='matplotlib')


def record(tests=None):
    return migrate(perf_fixtures.make_summary('r', '2026-11-25T08:00:00Z',
                                              tests=tests or perf_fixtures.DEFAULT_TESTS[:1] + perf_fixtures.METRIC_TESTS))


def rows_of(html):
    return re.findall(r'<tr>(.*?)</tr>', html)[1:]


def test_verdict_table_has_a_row_per_test_and_measured_metric():
    s = record()
    html = perf_html.verdict_table(s['tests'])
    rows = rows_of(html)
    # tcp-1path-up: throughput; unshaped: throughput, cpu, retransmits (x2); rr: rr_tps, p50, p90, p99
    assert len(rows) == 1 + 3 + 3 + 4
    assert 'rowspan="4"' in html and 'rowspan="3"' in html
    # before any verdict the judged metrics are pending, the others recorded
    assert html.count('>pending</span>') == 1 + 2 + 2 + 2
    assert html.count('recorded, not judged') == 2 + 2
    # no throughput row for the request/response test (null by design)
    rr = html[html.index('<b>mptcp-rr</b>'):]
    assert 'throughput_mbps' not in rr


def test_verdict_table_shows_each_metric_verdict():
    s = record()
    test = dict(s['tests'][2], judged={
        'throughput_mbps': {'outcome': 'pass', 'reason': 'fine', 'baseline': {'median': 7600.0},
                            'change_pct': 0.3, 'p_value': 0.4},
        'cpu_s_per_gb': {'outcome': 'regression', 'reason': 'costlier', 'baseline': {'median': 0.55},
                         'change_pct': 11.04, 'p_value': 3e-6}})
    html = perf_html.verdict_table([test], ['throughput_mbps', 'cpu_s_per_gb'])
    rows = rows_of(html)
    assert len(rows) == 3
    assert '>regression</span>' in rows[1] and '+11.04%' in rows[1] and '3.0e-06' in rows[1]
    assert '0.55' in rows[1] and 's/GB' in rows[1] and '&darr;' in rows[1]
    assert '>pass</span>' in rows[0] and '&uarr;' in rows[0]
    assert 'recorded, not judged' in rows[2]


def test_shaped_and_unshaped_tests_are_plotted_apart():
    s = record()
    groups = perf_html.scale_groups([t for t in s['tests'] if perf_html.has_throughput(t)])
    assert [(label, [t['name'] for t in tests]) for label, tests in groups] == [
        ('rate-shaped paths', ['tcp-1path-up']), ('unshaped paths', ['tcp-unshaped-up', 'mptcp-unshaped-up'])]
    assert not perf_html.has_throughput(s['tests'][3])
    fig = perf_html.throughput_figure([t for t in s['tests'] if perf_html.has_throughput(t)])
    assert len(fig.axes) == 2 and fig.get_size_inches()[0] <= perf_html.MAX_WIDTH_IN
    assert perf_html.scale_groups(s['tests'][:1]) == [(None, s['tests'][:1])]


def test_time_series_figure_takes_gaps_and_ragged_series():
    s = record()
    test = s['tests'][2]
    data = perf_fixtures.timeseries(test['runs'][0], seconds=6)
    data['paths'][0]['mbps'][2] = None                       # a missing sample
    data['subflows'][1]['cwnd'] = data['subflows'][1]['cwnd'][:3]   # a subflow that closed early
    data['subflows'].append({'stream': 1, 'path': None, 'cwnd': ['x'], 'rtt_ms': None})
    fig = perf_html.timeseries_figure(test, test['runs'][0], data)
    assert len(fig.axes) == 3
    paths, cwnd, rtt = fig.axes
    assert [line.get_label() for line in paths.get_lines()] == ['path 1 (veth-p1)', 'path 2 (veth-p2)']
    assert len(cwnd.get_lines()) == 3 and len(rtt.get_lines()) == 3
    assert all(len(line.get_xdata()) == 6 for line in cwnd.get_lines())
    assert perf_html.timeseries_figure(test, test['runs'][0], {'t': []}) is None
    perf_html.close_all()


def test_metrics_figure_has_a_panel_per_other_metric():
    s = record()
    fig = perf_html.metrics_figure(s['tests'])
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ['cpu_s_per_gb (s/GB, lower is better)', 'retransmits (count, lower is better)',
                      'rr_tps (transactions/s, higher is better)', 'latency_p50_us (us, lower is better)',
                      'latency_p90_us (us, lower is better)', 'latency_p99_us (us, lower is better)']
    assert perf_html.metrics_figure(record(perf_fixtures.DEFAULT_TESTS)['tests']) is None
    perf_html.close_all()


def test_the_run_shown_over_time_is_the_median_one_with_a_file(tmp_path):
    import json
    from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_timeseries import load_timeseries
    test = record()['tests'][2]
    values = [r['metrics']['throughput_mbps'] for r in test['runs']]
    middle = sorted(values)[len(values) // 2]
    chosen = [r for r in test['runs'] if r['metrics']['throughput_mbps'] == middle][0]
    assert load_timeseries(str(tmp_path), test) == (None, None, 'no raw/*.timeseries.json file')
    raw = tmp_path / 'raw'
    raw.mkdir()
    for run in test['runs']:
        (raw / (run['raw'] + '.timeseries.json')).write_text(json.dumps(perf_fixtures.timeseries(run)))
    run, data, name = load_timeseries(str(tmp_path), test)
    assert run is chosen and name == chosen['raw'] + '.timeseries.json' and len(data['t']) == 10
    (raw / name).write_text('{"t": []}')                 # no time axis: the next closest one
    run, data, other = load_timeseries(str(tmp_path), test)
    assert run is not chosen and other != name
    assert load_timeseries(str(tmp_path), dict(test, runs=[dict(r, ok=False) for r in test['runs']]))[2] == \
        'no successful repetition'


def test_cpu_cost_per_host_and_other_load():
    s = record()
    html = perf_html.cpu_cost_table(s['tests'])
    rows = rows_of(html)
    assert len(rows) == 4                    # the two unshaped tests, generator and sink each
    assert 'tcp-unshaped-up' in rows[0] and 'generator' in rows[0] and '10%' in rows[0]
    assert perf_html.other_load(s['tests']) is None        # 10% other load: not worth a word
    busy = dict(s['tests'][1], cpu_cost={'same_machine': True, 'hosts': {
        'generator': {'busy_s_per_gb': 3.0, 'lab_s_per_gb': 0.6, 'other_s_per_gb': 2.4}}})
    assert perf_html.other_load([busy]) == \
        'most of the CPU time during tcp-unshaped-up (generator: 80% of the busy time) was outside the lab'
    assert perf_html.cpu_cost_table(record(perf_fixtures.DEFAULT_TESTS)['tests']) == ''


def test_runs_over_several_pairs_get_a_bar_per_flow_and_a_row_per_run():
    figures = ((1, 94.0), (2, 92.5), (3, 5.0))
    flows = [{'generator': 'g%d' % n, 'sink': 's%d' % n, 'protocol': 'mptcp', 'throughput_mbps': v,
              'ok': v > 10, 'error': None if v > 10 else 'MPTCP fell back to TCP'} for n, v in figures]
    run = {'ok': False, 'throughput_mbps': 191.5, 'flows': flows, 'start_skew_ms': 3.2,
           'metrics': {'throughput_mbps': 191.5, 'jain_index': None}}
    second = dict(run, ok=True, flows=flows[:2], start_skew_ms=None, metrics={'jain_index': 0.99993})
    tests = [{'name': 'x3', 'protocol': 'mptcp', 'runs': [run, second]},
             {'name': 'one', 'protocol': 'mptcp', 'runs': [{'ok': True, 'throughput_mbps': 94.0}]}]
    fig = perf_html.flows_figure(tests)
    ax = fig.axes[0]
    assert [round(p.get_height(), 1) for p in ax.patches] == [94.0, 92.5, 5.0, 94.0, 92.5]
    notes = [t.get_text() for t in ax.texts]
    assert notes == ['x', 'J -, skew 3 ms', 'J 1.000']
    assert [t.get_text() for t in ax.get_xticklabels()] == ['x3 #1', 'x3 #2']
    rows = rows_of(perf_html.flows_table(tests))
    assert len(rows) == 2 and 'g3&rarr;s3 mptcp 5.0 (MPTCP fell back to TCP)' in rows[0] and '3.2' in rows[0]
    assert '0.9999' in rows[1]
    # a run without several pairs has neither
    assert perf_html.flows_figure(tests[1:]) is None
    # flows of both protocols: MPTCP's share of the run, in the note and the table
    mixed = dict(second, protocol_share={'mptcp': 0.6485, 'tcp': 0.3515})
    fig = perf_html.flows_figure([{'name': 'mix', 'protocol': 'mptcp', 'runs': [mixed]}])
    assert [t.get_text() for t in fig.axes[0].texts] == ['J 1.000, MPTCP 65 %']
    assert '0.648' in rows_of(perf_html.flows_table([{'name': 'mix', 'protocol': 'mptcp', 'runs': [mixed]}]))[0]
    perf_html.close_all()
