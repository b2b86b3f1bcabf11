"""Every metric, from the measurement to the verdict: record, history, direction-aware verdict, CI files.

Built on the shared contract (COMMON): a measurement result carries ``metrics``
(a flat {name: number or null}), ``cpu_cost``; a request/response test has a
null throughput. The measurements here are synthetic (perf_fixtures,
``measured`` below); the history is a real SQLite file.
"""

import copy
import os
import sqlite3
import sys

import pytest

from ansible_collections.mptcp.lab.plugins.module_utils.perf import perf_suite as ps
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_baseline import (
    BaselineError, evaluate, judge_before_writing, judged_metrics, judged_view, min_effects, regression_message,
    verdict_document)
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_ci import junit_xml, verdict_markdown
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_knobs import check_run_knobs
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_record import (
    build_summary, metric_table, migrate, normalize, primary_metric, test_validity as validity_of)
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_stats import compare
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_store import Store

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..', '..'))
import perf_fixtures  # noqa: E402  pylint: disable=wrong-import-position
import run_record_check as check  # noqa: E402  pylint: disable=wrong-import-position

SUITE = ps.validate_suite({'name': 's', 'defaults': {'repetitions': 2, 'duration_s': 10}, 'tests': [
    {'name': 'bulk', 'protocol': 'mptcp', 'paths': 'all'},
    {'name': 'rr', 'protocol': 'mptcp', 'paths': 'all'}]}, 2)
PLAN = ps.plan(SUITE)
LAB = [{'rate_mbit': 50}, {'rate_mbit': 50}]
COST = {'window_s': 10.0, 'gb_delivered': 1.0, 'same_machine': True, 'hosts': {
    'generator': {'user_s': 0.05, 'system_s': 0.2, 'softirq_s': 0.1, 'irq_s': 0.0, 'busy_s': 0.35,
                  'lab_s': 0.3, 'other_s': 0.05},
    'sink': {'user_s': 0.04, 'system_s': 0.3, 'softirq_s': 0.2, 'irq_s': 0.01, 'busy_s': 0.55,
             'lab_s': 0.5, 'other_s': 0.02}}}


def measured(item, metrics, ok=True, **extra):
    """A measurement result as perf_measure (bulk) or the latency module (rr) return it."""
    result = {'item': item, 'ok': ok, 'error': None if ok else 'gate failed',
              'throughput_mbps': metrics.get('throughput_mbps'), 'per_path_mbps': [None, None],
              'subflows': 2, 'fallback': False, 'duration_s': 10.0, 'metrics': metrics}
    result.update(extra)
    return result


def bulk(item, tput, cpu, retrans=5):
    return measured(item, {'throughput_mbps': tput, 'cpu_s_per_gb': cpu, 'retransmits': retrans},
                    cpu_cost=COST, retransmits=retrans)


def rr(item, tps, p99):
    return measured(item, {'throughput_mbps': None, 'rr_tps': tps, 'latency_p50_us': 80.0,
                           'latency_p90_us': 95.0, 'latency_p99_us': p99})


def record(results):
    return build_summary(SUITE, PLAN, results, LAB, 'rid', 1000.0, 1050.0, {'h': {'kernel': '6.18'}})


def items(name):
    return [i for i in PLAN if i['test'] == name]


def full_record():
    b1, b2 = items('bulk')
    r1, r2 = items('rr')
    return record([bulk(b1, 9000.0, 0.9), bulk(b2, 9100.0, 0.92), rr(r1, 12000.0, 150.0),
                   rr(r2, 12100.0, float('nan'))])


# ---- the table ---------------------------------------------------------------

def test_metrics_table_has_every_contract_metric_with_direction_and_effect():
    table = metric_table()
    assert list(table) == ['throughput_mbps', 'cpu_s_per_gb', 'retransmits', 'rr_tps', 'latency_p50_us',
                           'latency_p90_us', 'latency_p99_us', 'jain_index', 'mptcp_share']
    higher = set(n for n, m in table.items() if m.better == 'higher')
    assert higher == {'throughput_mbps', 'rr_tps', 'jain_index', 'mptcp_share'}
    assert all(m.min_effect_pct > 0 for m in table.values())
    judged = [n for n, m in table.items() if m.judged]
    assert judged == ['throughput_mbps', 'cpu_s_per_gb', 'rr_tps', 'latency_p99_us', 'jain_index']
    assert table['throughput_mbps'].min_effect_pct == 1.5          # wave 1's default, kept
    # every metric is in the schema and in the metric tables of the docs
    assert set(table) <= set(check.load_schema()['$defs']['metric_name']['enum'])
    root = os.path.dirname(check.SCHEMA_PATH)
    for doc in ('run-record.md', 'statistics.md'):
        with open(os.path.join(root, doc)) as handle:
            text = handle.read()
        assert all('`%s`' % name in text for name in table), doc


# ---- the record ----------------------------------------------------------------

def test_runs_carry_the_measurements_metrics_and_cpu_cost():
    s = full_record()
    check.assert_valid_record(s)
    bulk_test, rr_test = s['tests']
    assert bulk_test['runs'][0]['metrics'] == {'throughput_mbps': 9000.0, 'cpu_s_per_gb': 0.9, 'retransmits': 5}
    assert bulk_test['runs'][0]['cpu_cost'] == COST
    # only the metrics some run has; each with unit and better
    assert list(bulk_test['metrics']) == ['throughput_mbps', 'cpu_s_per_gb', 'retransmits']
    assert bulk_test['metrics']['cpu_s_per_gb']['median'] == 0.91
    assert bulk_test['metrics']['cpu_s_per_gb']['unit'] == 's/GB'
    assert bulk_test['metrics']['cpu_s_per_gb']['better'] == 'lower'
    # per host figures beside cpu_s_per_gb
    assert bulk_test['cpu_cost']['same_machine'] is True
    assert bulk_test['cpu_cost']['hosts']['sink']['busy_s_per_gb'] == 0.55
    assert bulk_test['cpu_cost']['hosts']['generator']['softirq_s_per_gb'] == 0.1
    # a request/response test: throughput null by design, valid on its transaction rate
    assert rr_test['valid'] is True and rr_test['throughput_mbps']['n'] == 0
    assert rr_test['metrics']['throughput_mbps']['values'] == []
    assert rr_test['metrics']['rr_tps']['values'] == [12000.0, 12100.0]
    # a figure that is not a finite number is no figure
    assert rr_test['runs'][1]['metrics']['latency_p99_us'] is None
    assert rr_test['metrics']['latency_p99_us']['n'] == 1
    assert 'cpu_s_per_gb' not in rr_test['metrics']


def test_a_request_response_test_without_a_transaction_rate_is_invalid():
    r1, r2 = items('rr')
    s = record([bulk(items('bulk')[0], 9000.0, 0.9), bulk(items('bulk')[1], 9000.0, 0.9),
                rr(r1, None, None), rr(r2, None, None)])
    rr_test = s['tests'][1]
    assert rr_test['valid'] is False and rr_test['invalid_reason'] == 'no repetition produced a transaction rate'
    assert primary_metric(rr_test) == 'rr_tps'
    # a bulk test keeps its message
    assert validity_of({'protocol': 'tcp', 'runs': []})[1] == 'no repetition produced a throughput'


def test_older_results_without_metrics_still_record():
    """A measurement result of wave 1 (no 'metrics'): figures from its fields."""
    b1, b2 = items('bulk')
    s = record([{'item': b1, 'ok': True, 'error': None, 'throughput_mbps': 90.0, 'per_path_mbps': [45, 45],
                 'subflows': 2, 'fallback': False, 'retransmits': 4}])
    assert s['tests'][0]['runs'][0]['metrics'] == {'throughput_mbps': 90.0, 'retransmits': 4}
    assert s['tests'][0]['runs'][1]['metrics'] == {'throughput_mbps': None, 'retransmits': None}
    check.assert_valid_record(s)


def test_the_history_view_holds_every_metric_and_keeps_older_hashes():
    rec = normalize(full_record())
    bulk_res, rr_res = rec['results']
    assert sorted(bulk_res['metrics']) == ['cpu_s_per_gb', 'retransmits']
    assert bulk_res['metrics']['cpu_s_per_gb']['values'] == [0.9, 0.92]
    assert rr_res['n'] == 0 and rr_res['valid'] and rr_res['primary'] == 'rr_tps'
    assert rr_res['metrics']['latency_p99_us']['values'] == [150.0]
    # records without other metrics have the view (and content hash) they always had
    plain = normalize(perf_fixtures.make_summary('r', '2026-11-25T08:00:00Z'))
    assert all('metrics' not in r and 'primary' not in r for r in plain['results'])


def test_migrated_records_get_metrics_from_their_runs():
    old = perf_fixtures.make_summary('old', '2026-11-25T08:00:00Z')
    new = migrate(old)
    assert new['tests'][0]['metrics']['throughput_mbps']['n'] == 5
    assert list(new['tests'][0]['metrics']) == ['throughput_mbps', 'retransmits']
    assert new['tests'][0]['metrics']['retransmits']['n'] == 0
    check.assert_valid_record(new)


# ---- the statistics --------------------------------------------------------------

def test_compare_is_direction_aware():
    base = [1.00, 1.01, 0.99, 1.00, 1.02, 0.98] * 5
    runs = [base[i:i + 5] for i in range(0, 30, 5)]
    up = [v * 1.1 for v in base[:5]]
    down = [v * 0.9 for v in base[:5]]
    assert compare(base, up, baseline_runs=runs)['verdict'] == 'improvement'
    assert compare(base, down, baseline_runs=runs)['verdict'] == 'regression'
    lower = compare(base, up, baseline_runs=runs, better='lower')
    assert lower['verdict'] == 'regression' and lower['change_pct'] > 0
    assert compare(base, down, baseline_runs=runs, better='lower')['verdict'] == 'improvement'
    with pytest.raises(ValueError, match='better'):
        compare(base, up, better='up')


def test_compare_of_identical_values_is_a_pass():
    """No retransmission before, none now: no change, whatever the sample sizes."""
    result = compare([0, 0, 0, 0, 0, 0], [0, 0], better='lower')
    assert result['verdict'] == 'pass' and 'no change' in result['reason']


# ---- the verdict -------------------------------------------------------------------

def metric_history(tmp_path, count=7, scale_last=None, seed=0):
    store = Store(str(tmp_path / 'history.sqlite'))
    records = []
    for i in range(count):
        scale = scale_last if (scale_last and i == count - 1) else None
        summary = perf_fixtures.make_summary(perf_fixtures.run_id_for(i), perf_fixtures.started_for(i),
                                             tests=perf_fixtures.METRIC_TESTS, scale=scale, seed=seed)
        records.append((summary, normalize(summary)))
        store.ingest(records[-1][1])
    return store, records


def by_case(verdicts):
    return dict(('%s %s' % (v['name'], v['metric']), v) for v in verdicts.values())


def test_every_judged_metric_gets_a_verdict_in_its_own_direction(tmp_path):
    store, records = metric_history(tmp_path, scale_last={
        'mptcp-unshaped-up': {'cpu_s_per_gb': 1.10},           # 10% more CPU per GB: worse
        'tcp-unshaped-up': {'cpu_s_per_gb': 0.90},             # 10% less: better
        'mptcp-rr': {'rr_tps': 0.90, 'latency_p99_us': 1.30}})
    summary, rec = records[-1]
    try:
        verdicts = evaluate(store, rec, last_n=5)
    finally:
        store.close()
    cases = by_case(verdicts)
    assert sorted(cases) == sorted([
        'tcp-unshaped-up throughput_mbps', 'tcp-unshaped-up cpu_s_per_gb',
        'mptcp-unshaped-up throughput_mbps', 'mptcp-unshaped-up cpu_s_per_gb',
        'mptcp-rr rr_tps', 'mptcp-rr latency_p99_us'])     # retransmits and p50/p90: recorded, not judged
    assert cases['mptcp-unshaped-up cpu_s_per_gb']['verdict'] == 'regression'
    assert cases['mptcp-unshaped-up cpu_s_per_gb']['change_pct'] > 5
    assert cases['tcp-unshaped-up cpu_s_per_gb']['verdict'] == 'improvement'
    assert cases['mptcp-rr rr_tps']['verdict'] == 'regression'
    assert cases['mptcp-rr latency_p99_us']['verdict'] == 'regression'
    assert cases['mptcp-unshaped-up throughput_mbps']['verdict'] == 'pass'
    assert cases['mptcp-rr latency_p99_us']['min_effect_pct'] == metric_table()['latency_p99_us'].min_effect_pct
    assert cases['mptcp-unshaped-up cpu_s_per_gb']['baseline']['n'] == 25
    # the contract's regressions, with the metric
    document = verdict_document(rec, verdicts, None, 5, 0.05, 1.5)
    assert sorted((r['test'], r['metric']) for r in document['regressions']) == [
        ('mptcp-rr', 'latency_p99_us'), ('mptcp-rr', 'rr_tps'), ('mptcp-unshaped-up', 'cpu_s_per_gb')]
    assert all(sorted(r) == ['baseline_median', 'change_pct', 'current_median', 'metric', 'p_value', 'test']
               for r in document['regressions'])
    assert document['counts'] == {'pass': 2, 'regression': 3, 'improvement': 1, 'no-baseline': 0, 'invalid': 0}
    assert [(t['name'], t['metric']) for t in document['tests']][:2] == [
        ('tcp-unshaped-up', 'throughput_mbps'), ('tcp-unshaped-up', 'cpu_s_per_gb')]
    assert document['metrics'] == ['throughput_mbps', 'cpu_s_per_gb', 'rr_tps', 'latency_p99_us', 'jain_index']
    message = regression_message(document['regressions'], 'rid', 'last 5 valid runs')
    assert 'mptcp-unshaped-up: cpu_s_per_gb +' not in message       # percent sign as wave 1 wrote it
    assert 's/GB' in message and 'lower is better' in message
    # the report's view: one outcome per test (the worst), every metric's verdict beside it
    view = judged_view(summary, document)
    assert [t['outcome'] for t in view['tests']] == ['improvement', 'regression', 'regression']
    assert view['tests'][1]['judged']['throughput_mbps']['outcome'] == 'pass'
    assert view['tests'][1]['judged']['cpu_s_per_gb']['unit'] == 's/GB'
    # one JUnit case per test and metric, counts that add up
    text = junit_xml(migrate(summary), document)
    check.assert_junit_matches(text, summary, document)
    assert check.junit_counts(text) == {'tests': 6, 'failures': 3, 'errors': 0, 'skipped': 0}
    assert 'name="mptcp-rr latency_p99_us"' in text and 'regression: latency_p99_us +' in text
    md = verdict_markdown(migrate(summary), document)
    assert '| mptcp-unshaped-up | mptcp | 2 | cpu_s_per_gb | **REGRESSION** |' in md
    assert 'cpu_s_per_gb 2%' in md


def test_judged_metrics_and_minimum_effects_are_knobs(tmp_path):
    store, records = metric_history(tmp_path, scale_last={'mptcp-unshaped-up': {'cpu_s_per_gb': 1.10,
                                                                                'retransmits': 3.0}})
    rec = records[-1][1]
    try:
        cases = by_case(evaluate(store, rec, last_n=5, metrics=['retransmits', 'cpu_s_per_gb']))
        assert sorted(c for c in cases if c.startswith('mptcp-unshaped')) == [
            'mptcp-unshaped-up cpu_s_per_gb', 'mptcp-unshaped-up retransmits']
        assert cases['mptcp-unshaped-up retransmits']['verdict'] == 'regression'
        assert 'mptcp-rr rr_tps' not in cases
        # a 10% rise under a 15% minimum effect is no regression
        cases = by_case(evaluate(store, rec, last_n=5, metric_min_effect={'cpu_s_per_gb': 15}))
        assert cases['mptcp-unshaped-up cpu_s_per_gb']['verdict'] == 'pass'
        assert cases['mptcp-unshaped-up cpu_s_per_gb']['min_effect_pct'] == 15
        # the named baseline works per metric too
        cases = by_case(evaluate(store, rec, named=perf_fixtures.run_id_for(0)))
        assert cases['mptcp-unshaped-up cpu_s_per_gb']['verdict'] == 'regression'
        assert cases['mptcp-unshaped-up cpu_s_per_gb']['baseline']['n'] == 5
    finally:
        store.close()


def test_metric_knobs_are_validated_naming_the_field():
    assert judged_metrics(None) == ['throughput_mbps', 'cpu_s_per_gb', 'rr_tps', 'latency_p99_us', 'jain_index']
    assert judged_metrics('rr_tps, throughput_mbps') == ['throughput_mbps', 'rr_tps']
    with pytest.raises(BaselineError, match="metrics: 'tput' is not a metric; the metrics are throughput_mbps"):
        judged_metrics(['tput'])
    assert min_effects(2.0)['throughput_mbps'] == 2.0
    assert min_effects(2.0, {'throughput_mbps': 1.0, 'cpu_s_per_gb': 3})['throughput_mbps'] == 1.0
    with pytest.raises(BaselineError, match=r'metric_min_effect.cpu_s_per_gb must be a finite number'):
        min_effects(1.5, {'cpu_s_per_gb': float('nan')})
    with pytest.raises(BaselineError, match="metric_min_effect: 'cpu' is not a metric"):
        min_effects(1.5, {'cpu': 3})
    # the same rules, before anything exists (lab_knobs)
    assert check_run_knobs({'perf_metric_min_effect': {'cpu_s_per_gb': 3}, 'perf_judged_metrics': ['rr_tps']}) == []
    assert check_run_knobs({'perf_metric_min_effect': '{"latency_p99_us": 20}',
                            'perf_judged_metrics': 'throughput_mbps,rr_tps'}) == []
    errors = check_run_knobs({'perf_metric_min_effect': {'cpu_s_per_gb': -1, 'cpu': 2},
                              'perf_judged_metrics': ['rr', 'latency_p99_us']})
    assert errors == [
        "perf_metric_min_effect: 'cpu' is not a metric; the metrics are " + ', '.join(metric_table()),
        'perf_metric_min_effect.cpu_s_per_gb must be a finite number in [0, 1000] (percent), got -1',
        "perf_judged_metrics: 'rr' is not a metric; the metrics are " + ', '.join(metric_table())]
    assert check_run_knobs({'perf_metric_min_effect': 'cpu=3'})[0].startswith(
        'perf_metric_min_effect must map metric names to percentages')


def test_an_invalid_test_is_one_invalid_case_on_its_primary_metric(tmp_path):
    store, records = metric_history(tmp_path, count=4)
    tests = copy.deepcopy(perf_fixtures.METRIC_TESTS)
    tests[2]['fail'] = [1]
    summary = perf_fixtures.make_summary('late', '2026-11-25T10:00:00+00:00', tests=tests)
    rec = normalize(summary)
    try:
        verdicts = evaluate(store, rec)
    finally:
        store.close()
    rr_cases = [v for v in verdicts.values() if v['name'] == 'mptcp-rr']
    assert [(v['metric'], v['verdict']) for v in rr_cases] == [('rr_tps', 'invalid')]
    document = verdict_document(rec, verdicts, None, 10, 0.05, 1.5)
    check.assert_junit_matches(junit_xml(migrate(summary), document), summary, document)


def test_the_store_keeps_every_metric_and_its_verdicts(tmp_path):
    store, records = metric_history(tmp_path, count=4)
    rec = records[-1][1]
    key = rec['results'][1]['test_key']
    run_id = rec['run']['run_id']
    try:
        row = store.result(run_id, key, 'cpu_s_per_gb')
        assert row['metric'] == 'cpu_s_per_gb' and row['n'] == 5 and row['valid'] is True
        assert store.result(run_id, key, 'rr_tps') is None
        history = store.history(key, metric='cpu_s_per_gb')
        assert [h['run_id'] for h in history] == [perf_fixtures.run_id_for(i) for i in range(4)]
        last = store.last_valid(key, rec['run']['started_ts'], run_id, 2, metric='cpu_s_per_gb')
        assert [h['run_id'] for h in last] == [perf_fixtures.run_id_for(i) for i in (2, 1)]
        verdicts = evaluate(store, rec)
        assert store.set_verdicts(run_id, verdicts) is True
        assert store.set_verdicts(run_id, verdicts) is False
        assert store.result(run_id, key, 'cpu_s_per_gb')['verdict'] == 'pass'
        assert store.result(run_id, key)['verdict'] == 'pass'
        exported = [r for r in store.all_results() if r['run_id'] == run_id and r['test_key'] == key][0]
        assert sorted(exported['metrics']) == ['cpu_s_per_gb', 'retransmits']
        # re-recording a run replaces its metric rows too
        assert store.ingest(normalize(perf_fixtures.make_summary(
            run_id, perf_fixtures.started_for(3), tests=perf_fixtures.METRIC_TESTS, seed=5))) == 'replaced'
        assert store.conn.execute('SELECT COUNT(*) FROM result_metrics WHERE run_id = ?',
                                  (run_id,)).fetchone()[0] == 8
    finally:
        store.close()


def test_a_history_older_than_the_metric_table_reads_and_upgrades(tmp_path):
    path = str(tmp_path / 'history.sqlite')
    store = Store(path)
    store.ingest(normalize(perf_fixtures.make_summary(perf_fixtures.run_id_for(0), perf_fixtures.started_for(0))))
    store.close()
    conn = sqlite3.connect(path)
    conn.execute('DROP TABLE result_metrics')
    conn.commit()
    conn.close()
    ro = Store(path, readonly=True)
    try:
        assert ro.history('x', metric='cpu_s_per_gb') == [] and ro.result('r', 'x', 'rr_tps') is None
        assert ro.last_valid('x', 1e10, 'r', 5, metric='cpu_s_per_gb') == []
        assert ro.all_results()[0]['metrics'] == {}
    finally:
        ro.close()
    rw = Store(path)            # a writer adds the table (an addition within schema version 1)
    try:
        assert rw.has_table('result_metrics') and rw.schema_version() == 1
    finally:
        rw.close()


def test_judged_before_writing_per_metric(tmp_path):
    store, records = metric_history(tmp_path, count=6)
    store.close()
    summary = perf_fixtures.make_summary(perf_fixtures.run_id_for(6), perf_fixtures.started_for(6),
                                         tests=perf_fixtures.METRIC_TESTS,
                                         scale={'mptcp-unshaped-up': {'cpu_s_per_gb': 1.2}})
    regressions = judge_before_writing(summary, str(tmp_path / 'history.sqlite'))
    assert [(r['test'], r['metric']) for r in regressions] == [('mptcp-unshaped-up', 'cpu_s_per_gb')]
    with pytest.raises(BaselineError, match='metrics'):
        judge_before_writing(summary, str(tmp_path / 'none.sqlite'), metrics=['nope'])


def test_a_request_response_test_has_an_identity_of_its_own():
    from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_record import test_identity
    s = record([])
    bulk_test = dict(s['tests'][1])
    idle = dict(bulk_test, kind='latency', load='none', msg_size=64)
    loaded = dict(idle, load='bulk')
    keys = set(test_identity(s, t)[0] for t in (bulk_test, idle, loaded))
    assert len(keys) == 3
    assert test_identity(s, idle)[1]['kind'] == 'latency' and test_identity(s, idle)[1]['msg_size'] == 64
    assert 'kind' not in test_identity(s, bulk_test)[1]         # older records keep their identity
