"""Tests of kind upstream (suites in the format of multipath-tcp/mptcp-upstream-virtme-docker) on the
read side: the record and its schema, the history's view and store, the verdict with a test's own
alpha and history, and what renders them (junit.xml, verdict.md, the report, the console table).

The records are synthetic (perf_fixtures.make_upstream_test and the fixture file
fixtures/perf/summary_upstream.json, the shape the upstream runner writes); the history is a
real SQLite file.
"""

import copy
import json
import os
import re
import sys

import pytest

from ansible_collections.mptcp.lab.plugins.module_utils.perf import perf_html
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_baseline import (
    BaselineError, evaluate, judge_before_writing, judged_metrics, judged_view, min_effects, regression_message,
    verdict_document)
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_ci import junit_xml, verdict_markdown
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_knobs import check_run_knobs
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_record import (
    RecordError, build_upstream_test, metric_info, metric_table, normalize, parse_time, present_metrics,
    primary_metric, run_metrics, test_identity as identity_of, test_validity as validity_of, upstream_metric_name)
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_store import Store, csv_text, otava_config
from ansible_collections.mptcp.lab.plugins.modules.perf_results import table_lines

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..', '..'))
import perf_fixtures as pf  # noqa: E402  pylint: disable=wrong-import-position
import run_record_check as check  # noqa: E402  pylint: disable=wrong-import-position

FIXTURE = os.path.join(os.path.dirname(__file__), 'fixtures', 'perf', 'summary_upstream.json')
PRIMARY = 'upstream.client-recv-primary-link'
SECOND = 'upstream.client-recv-second-link'


def fixture():
    with open(FIXTURE) as handle:
        return json.load(handle)


def upstream_of(summary):
    return [t for t in summary['tests'] if t.get('kind') == 'upstream'][0]


# ---- the record and its schema ----------------------------------------------------

def test_the_record_of_a_normal_and_an_upstream_test_follows_the_schema():
    s = fixture()
    check.assert_valid_record(s)
    assert [t.get('kind') for t in s['tests']] == [None, 'upstream']
    test = upstream_of(s)
    assert test['protocol'] is None and test['direction'] is None and test['streams'] is None
    assert sorted(test['metrics']) == [PRIMARY, SECOND]
    # the records the fixtures build for the other tests too (several repetitions, invalid ones)
    check.assert_valid_record(pf.make_upstream_summary('a', '2026-11-25T08:00:00Z', repetitions=3))
    invalid = pf.make_upstream_summary('b', '2026-11-25T08:00:00Z', validation_ok=False, failed_reps=(1,))
    check.assert_valid_record(invalid)
    assert upstream_of(invalid)['valid'] is False


def _errors_of(change):
    s = fixture()
    change(s)
    return check.record_errors(s)


@pytest.mark.parametrize('change,where', [
    # a test of any other kind keeps its protocol, direction and streams
    (lambda s: s['tests'][0].update(protocol=None), 'tests/0/protocol'),
    (lambda s: s['tests'][0].update(direction=None), 'tests/0/direction'),
    (lambda s: s['tests'][0].update(streams=None), 'tests/0/streams'),
    # and its throughput among its metrics, and no metric named by a suite
    (lambda s: s['tests'][0]['metrics'].pop('throughput_mbps'), 'tests/0/metrics'),
    (lambda s: s['tests'][0]['metrics'].update({PRIMARY: s['tests'][1]['metrics'][PRIMARY]}), 'tests/0/metrics'),
    # a test of kind upstream has none of its own, and says what its suite did
    (lambda s: s['tests'][1].update(protocol='mptcp'), 'tests/1/protocol'),
    (lambda s: s['tests'][1].update(streams=1), 'tests/1/streams'),
    (lambda s: s['tests'][1].pop('upstream'), 'tests/1'),
    (lambda s: s['tests'][1]['upstream'].update(format='other'), 'tests/1/upstream/format'),
    (lambda s: s['tests'][1]['upstream'].update(steps_sha256='xyz'), 'tests/1/upstream/steps_sha256'),
    (lambda s: s['tests'][1]['upstream']['regression'].update(alpha=1.5), 'tests/1/upstream/regression/alpha'),
    (lambda s: s['tests'][1]['upstream']['regression'].update(history_max_n=-1),
     'tests/1/upstream/regression/history_max_n'),
    (lambda s: s['tests'][1]['upstream']['regression']['steps'][0].update(metric='client-recv'),
     'tests/1/upstream/regression/steps/0/metric'),
    (lambda s: s['tests'][1]['upstream']['validation'][0].pop('ok'), 'tests/1/upstream/validation/0'),
    # metric names follow the pattern, in the test, its runs and the regressions
    (lambda s: s['tests'][1]['metrics'].update({'upstream.Client': s['tests'][1]['metrics'][PRIMARY]}),
     'tests/1/metrics'),
    (lambda s: s['tests'][1]['runs'][0]['metrics'].update({'upstream.-x': 1.0}), 'tests/1/runs/0/metrics'),
    (lambda s: s['tests'][1]['metrics'].update({'client': s['tests'][1]['metrics'][PRIMARY]}), 'tests/1/metrics'),
    (lambda s: s['regressions'].append({'test': 'Test 1', 'metric': 'upstream.', 'baseline_median': 1.0,
                                        'current_median': 0.9, 'change_pct': -10.0, 'p_value': 0.01}),
     'regressions/0/metric'),
])
def test_the_schema_refuses_what_breaks_the_contract(change, where):
    errors = _errors_of(change)
    assert errors and any(e.startswith(where) for e in errors), errors


def test_a_regression_of_an_upstream_metric_follows_the_schema():
    assert _errors_of(lambda s: s['regressions'].append(
        {'test': 'Test 1', 'metric': PRIMARY, 'baseline_median': 9953112.5, 'current_median': 9400000.0,
         'change_pct': -5.56, 'p_value': 0.0007})) == []


def test_metric_info_knows_the_table_and_the_metrics_a_suite_names():
    table = metric_table()
    assert metric_info('cpu_s_per_gb') is table['cpu_s_per_gb']
    spec = metric_info(PRIMARY)
    assert (spec.name, spec.unit, spec.better, spec.min_effect_pct, spec.judged) == (
        PRIMARY, 'value', 'higher', 1.5, True)
    assert metric_info(PRIMARY, 'bytes/s').unit == 'bytes/s'
    assert metric_info('cpu_s_per_gb', 'bytes/s').unit == 's/GB'       # the table's own unit wins
    for name in ('nope', 'upstream.', 'upstream.Client', 'upstream.-x', 'upstream.a_b', 'upstreamx.a', None):
        assert metric_info(name) is None, name
    assert PRIMARY not in table                                      # the table is unchanged
    assert upstream_metric_name('Client recv primary link') == PRIMARY
    assert upstream_metric_name('  TCP/MPTCP  rate (2 paths)!') == 'upstream.tcp-mptcp-rate-2-paths'
    assert upstream_metric_name('Débit') == 'upstream.d-bit'
    with pytest.raises(RecordError, match='no letter or digit'):
        upstream_metric_name(' -- ')


def test_the_builder_writes_the_record_shape():
    """build_upstream_test (for the runner) gives the shape of the contract, field for field."""
    expected = upstream_of(fixture())
    runs = [dict((k, r[k]) for k in ('rep', 'k', 'ok', 'error', 'per_path_mbps', 'duration_s', 'raw', 'metrics'))
            for r in expected['runs']]
    built = build_upstream_test('Test 1', runs, expected['upstream'], [1, 2], expected['shaping'], duration_s=14.2)
    assert built == expected
    check.assert_valid_record(dict(fixture(), tests=[built]))


def test_the_builder_decides_validity_from_the_runs_the_validation_and_the_figures():
    up = upstream_of(fixture())['upstream']
    run = {'rep': 1, 'k': 1, 'ok': True, 'error': None, 'per_path_mbps': [9.6, 9.5], 'duration_s': 8.0,
           'raw': 'upstream/001-Test-1', 'metrics': {PRIMARY: 9.9e6, SECOND: 9.8e6}}
    shaping = [{'rate_mbit': 10}, {'rate_mbit': 10}]
    assert build_upstream_test('t', [run], up, [1, 2], shaping)['valid'] is True
    bad = dict(up, validation=[{'name': 'iperf', 'rc': 0, 'ok': True}, {'name': 'ping', 'rc': 2, 'ok': False}])
    test = build_upstream_test('t', [run], bad, [1, 2], shaping)
    assert (test['valid'], test['invalid_reason'], test['verdict']) == (
        False, 'validation failed: ping (rc 2)', 'invalid')
    test = build_upstream_test('t', [dict(run, ok=False, error='step x: rc 1')], up, [1, 2], shaping)
    assert test['invalid_reason'] == '1 of 1 repetitions failed: step x: rc 1'
    assert test['metrics'][PRIMARY]['n'] == 0
    test = build_upstream_test('t', [dict(run, metrics={PRIMARY: None, SECOND: 9.8e6})], up, [1, 2], shaping)
    assert test['invalid_reason'] == 'no repetition produced a figure of %s' % PRIMARY
    test = build_upstream_test('t', [run], up, [1, 2], shaping, valid=False, invalid_reason='the runner says so')
    assert (test['valid'], test['invalid_reason']) == (False, 'the runner says so')
    # a test of kind upstream without a regression section: its steps and validation decide
    assert validity_of({'kind': 'upstream', 'runs': [dict(run, metrics={})], 'upstream': {}}) == (True, '')


def test_the_primary_metric_is_the_first_regression_step():
    test = upstream_of(fixture())
    assert primary_metric(test) == PRIMARY
    steps = test['upstream']['regression']['steps']
    test['upstream']['regression']['steps'] = list(reversed(steps))
    assert primary_metric(test) == SECOND                   # the suite's order, not the name order
    test['upstream'].pop('regression')
    assert primary_metric(test) == PRIMARY                  # without one: the name order
    # the other kinds keep theirs
    assert primary_metric({'runs': [{'metrics': {'throughput_mbps': 90.0}}]}) == 'throughput_mbps'
    assert primary_metric({'kind': 'latency', 'runs': [{'metrics': {'throughput_mbps': None}}]}) == 'rr_tps'


def test_run_metrics_and_present_metrics_keep_the_suites_metrics():
    assert run_metrics({'throughput_mbps': None}, {PRIMARY: 1.5, SECOND: float('nan'), 'upstream.X': 3}) == {
        'throughput_mbps': None, 'retransmits': None, PRIMARY: 1.5, SECOND: None}
    runs = [{'metrics': {SECOND: 1.0}}, {'metrics': {'cpu_s_per_gb': 0.5, PRIMARY: 2.0}}]
    assert present_metrics(runs) == ['throughput_mbps', 'cpu_s_per_gb', PRIMARY, SECOND]


# ---- identity and the history's view --------------------------------------------------

def test_the_identity_of_an_upstream_test():
    s = fixture()
    test = upstream_of(s)
    key, identity = identity_of(s, test)
    assert identity == {'name': 'Test 1', 'kind': 'upstream', 'paths': 2, 'path_ids': [1, 2],
                        'shaping': [{'rate_mbit': 10, 'delay_ms': 5, 'loss_pct': 0}] * 2,
                        'steps_sha256': test['upstream']['steps_sha256']}
    # stable: the measured duration and the figures are no part of it
    other = pf.make_upstream_test('another-run', seed=7, steps_sha256=test['upstream']['steps_sha256'])
    assert other['duration_s'] != test['duration_s']
    assert identity_of(s, other)[0] == key
    # other steps, other paths or shaping, another name: another test
    for change in (lambda t: t['upstream'].update(steps_sha256='b4' * 32),
                   lambda t: t.update(path_ids=[2, 1]),
                   lambda t: t['shaping'][1].update(rate_mbit=20),
                   lambda t: t.update(name='Test 2')):
        changed = copy.deepcopy(test)
        change(changed)
        assert identity_of(s, changed)[0] != key
    # without a digest (an older runner): still an identity, the same every time
    bare = copy.deepcopy(test)
    bare['upstream'].pop('steps_sha256')
    assert 'steps_sha256' not in identity_of(s, bare)[1]
    assert identity_of(s, bare) == identity_of(s, copy.deepcopy(bare))
    bare['upstream'] = 'x'
    with pytest.raises(RecordError, match='upstream must be an object'):
        identity_of(s, bare)


def test_normalize_carries_the_tests_own_judging_and_only_there():
    s = fixture()
    rec = normalize(s)
    normal, up = rec['results']
    assert up['identity']['kind'] == 'upstream' and up['n'] == 0 and up['values'] == []
    assert up['valid'] is True and up['primary'] == PRIMARY
    assert up['judging'] == {'alpha': 0.05, 'history_max_n': 10, 'history_since': 0}
    assert up['metrics'][PRIMARY]['values'] == [9953112.5] and up['metrics'][PRIMARY]['unit'] == 'value'
    assert up['per_path'] == [9.61, 9.58]
    # the normal test's view is the one a record without the upstream test gives
    alone = dict(s, tests=s['tests'][:1])
    assert normalize(alone)['results'] == [normal]
    assert 'judging' not in normal and 'primary' not in normal
    # only what the suite states
    test = upstream_of(s)
    test['upstream']['regression'] = {'alpha': 0.01, 'steps': test['upstream']['regression']['steps']}
    test['metrics'][PRIMARY]['unit'] = 'bytes/s'
    up = normalize(s)['results'][1]
    assert up['judging'] == {'alpha': 0.01} and up['metrics'][PRIMARY]['unit'] == 'bytes/s'
    test['upstream'].pop('regression')
    assert 'judging' not in normalize(s)['results'][1]


def test_records_without_upstream_tests_keep_their_content_hash():
    """The content hashes these records had before tests of kind upstream existed."""
    assert normalize(pf.make_summary('r', '2026-11-25T08:00:00Z'))['content_hash'] == \
        'db7d57d8b9de38714650a4515f948670a6c87421b96b6fc3a08335c290e9df27'
    assert normalize(pf.make_summary('m', '2026-11-25T08:00:00Z', tests=pf.METRIC_TESTS))['content_hash'] == \
        'cda46a08e2f51f1845f4091a33e21dace017a0121e2ed93c6f264a45e7c8aa20'


@pytest.mark.parametrize('field,value,rule', [
    ('alpha', 1.0, 'alpha must be a number between 0 and 1'),
    ('alpha', 'x', 'alpha must be a number between 0 and 1'),
    ('history_max_n', 2.5, 'history_max_n must be a whole number >= 0'),
    ('history_max_n', -1, 'history_max_n must be a whole number >= 0'),
    ('history_since', -5, 'history_since must be Unix seconds >= 0'),
    ('history_since', True, 'history_since must be Unix seconds >= 0'),
])
def test_bad_judging_parameters_are_refused_naming_the_field(field, value, rule):
    s = fixture()
    upstream_of(s)['upstream']['regression'][field] = value
    with pytest.raises(RecordError, match=re.escape("tests[1] (Test 1): upstream.regression.%s" % rule)):
        normalize(s)


# ---- the history -------------------------------------------------------------------------

def test_the_store_keeps_an_upstream_test_and_exports_it(tmp_path):
    s = fixture()
    rec = normalize(s)
    store = Store(str(tmp_path / 'history.sqlite'))
    try:
        assert store.ingest(rec) == 'added'
        assert store.ingest(normalize(fixture())) == 'unchanged'
        key = rec['results'][1]['test_key']
        run_id = s['run_id']
        row = store.result(run_id, key, PRIMARY)
        assert (row['values'], row['n'], row['valid'], row['metric']) == ([9953112.5], 1, True, PRIMARY)
        assert store.result(run_id, key)['n'] == 0                  # no throughput
        test_row = [t for t in store.tests() if t['test_key'] == key][0]
        assert (test_row['name'], test_row['protocol'], test_row['direction'], test_row['streams']) == (
            'Test 1', '', '', 0)
        assert [h['run_id'] for h in store.history(key, metric=SECOND)] == [run_id]
        results = store.all_results()
        text = csv_text(results)
        header, first, second = [line.split(',') for line in text.strip().split('\n')]
        up, normal = (first, second) if first[header.index('test')] == 'Test 1' else (second, first)
        assert header[-4:] == ['%s_median' % PRIMARY, '%s_cv' % PRIMARY, '%s_median' % SECOND, '%s_cv' % SECOND]
        cells = dict(zip(header, up))
        assert (cells['test'], cells['protocol'], cells['direction'], cells['streams']) == ('Test 1', '', '', '')
        assert cells['%s_median' % PRIMARY] == '9953112.5000' and cells['throughput_median_mbps'] == ''
        assert dict(zip(header, normal))['protocol'] == 'tcp' and dict(zip(header, normal))['streams'] == '1'
        # Otava: a metric of one figure per run by its median only, higher is better
        config = otava_config([('Test-1', 'Test-1.csv', 2, [], False, [PRIMARY])])
        assert '      %s_median:\n        column: %s_median\n        direction: 1' % (PRIMARY, PRIMARY) in config
        assert '%s_cv' % PRIMARY not in config and 'throughput_median_mbps' not in config
    finally:
        store.close()


def upstream_history(tmp_path, count, levels=None, started=None, **kwargs):
    """``count`` runs of the mixed record (3 repetitions each), one minute apart, stored;
    ``levels``: {run index: {metric: factor}}."""
    store = Store(str(tmp_path / 'history.sqlite'))
    for i in range(count):
        summary = pf.make_upstream_summary(pf.run_id_for(i), pf.started_for(i), repetitions=3,
                                           scale=(levels or {}).get(i), **kwargs)
        store.ingest(normalize(summary))
    return store


def current(index, scale=None, repetitions=3, **kwargs):
    summary = pf.make_upstream_summary(pf.run_id_for(index), pf.started_for(index), repetitions=repetitions,
                                       scale=scale, **kwargs)
    return summary, normalize(summary)


def by_case(verdicts):
    return dict(('%s %s' % (v['name'], v['metric']), v) for v in verdicts.values())


def test_last_valid_takes_every_run_or_those_since_a_time(tmp_path):
    store = upstream_history(tmp_path, 6)
    try:
        summary, rec = current(6)
        key = rec['results'][1]['test_key']
        before = rec['run']['started_ts']

        def runs(**kw):
            return [r['run_id'] for r in store.last_valid(key, before, 'x', metric=PRIMARY, **kw)]
        assert runs(limit=2) == [pf.run_id_for(5), pf.run_id_for(4)]
        assert runs(limit=0) == runs(limit=None) == [pf.run_id_for(i) for i in (5, 4, 3, 2, 1, 0)]
        since = parse_time(pf.started_for(3))
        assert runs(limit=0, since_ts=since) == [pf.run_id_for(i) for i in (5, 4, 3)]      # at or after
        assert runs(limit=2, since_ts=since) == [pf.run_id_for(i) for i in (5, 4)]
    finally:
        store.close()


# ---- the verdict -------------------------------------------------------------------------

def test_a_drop_of_an_upstream_metric_is_a_regression_judged_with_the_tests_own_history(tmp_path):
    store = upstream_history(tmp_path, 8)
    summary, rec = current(8, scale={PRIMARY: 0.95})
    try:
        # the run's options judge throughput alone and 3 runs: the suite's metrics are judged anyway,
        # over the test's own history_max_n (10: all 8 earlier runs)
        verdicts = evaluate(store, rec, last_n=3, metrics=['throughput_mbps'])
    finally:
        store.close()
    cases = by_case(verdicts)
    assert list(cases) == ['tcp-1path-up throughput_mbps', 'Test 1 %s' % PRIMARY, 'Test 1 %s' % SECOND]
    assert len(cases['tcp-1path-up throughput_mbps']['baseline']['runs']) == 3
    drop = cases['Test 1 %s' % PRIMARY]
    assert drop['verdict'] == 'regression' and -6 < drop['change_pct'] < -4
    assert drop['alpha'] == 0.05 and drop['min_effect_pct'] == 1.5
    assert drop['baseline']['runs'] == [pf.run_id_for(i) for i in range(7, -1, -1)]
    assert drop['baseline']['n'] == 24 and drop['baseline']['history_max_n'] == 10
    assert 'history_since' not in drop['baseline']
    assert cases['Test 1 %s' % SECOND]['verdict'] == 'pass'
    assert 'alpha' not in cases['tcp-1path-up throughput_mbps']
    document = verdict_document(rec, verdicts, None, 3, 0.05, 1.5, metrics=['throughput_mbps'])
    assert document['regressions'] == [{'test': 'Test 1', 'metric': PRIMARY,
                                        'baseline_median': drop['baseline_median'],
                                        'current_median': drop['current_median'],
                                        'change_pct': drop['change_pct'], 'p_value': drop['p_value']}]
    assert document['metrics'] == ['throughput_mbps', PRIMARY, SECOND]
    assert document['metric_min_effect'] == {'throughput_mbps': 1.5, PRIMARY: 1.5, SECOND: 1.5}
    entry = [t for t in document['tests'] if t['metric'] == PRIMARY][0]
    assert (entry['unit'], entry['better'], entry['outcome'], entry['alpha']) == ('value', 'higher', 'regression', 0.05)
    assert 'alpha' not in document['tests'][0]
    # the record's regressions hold it, and follow the schema
    check.assert_valid_record(dict(summary, regressions=document['regressions']))
    message = regression_message(document['regressions'], 'rid', 'last 3 valid runs',
                                 units={('Test 1', PRIMARY): 'bytes/s'})
    assert 'Test 1: %s -5.' % PRIMARY in message and 'bytes/s, p = ' in message and 'higher is better' in message


def test_the_tests_own_alpha_is_its_significance_level(tmp_path):
    store = upstream_history(tmp_path, 5, history_max_n=5)
    try:
        dummy, strict = current(5, scale={PRIMARY: 0.95}, alpha=0.001, history_max_n=5)
        dummy, loose = current(5, scale={PRIMARY: 0.95}, alpha=None, history_max_n=5)
        strict_case = by_case(evaluate(store, strict, alpha=0.05))['Test 1 %s' % PRIMARY]
        loose_case = by_case(evaluate(store, loose, alpha=0.05))['Test 1 %s' % PRIMARY]
    finally:
        store.close()
    # 3 values against 15 reach p = 2/816 at best: enough for 0.05 (the run's), not for 0.001 (the test's)
    assert strict_case['verdict'] == 'no-baseline' and 'cannot reach p < 0.001' in strict_case['reason']
    assert strict_case['alpha'] == 0.001
    assert loose_case['verdict'] == 'regression' and loose_case['alpha'] == 0.05


def test_history_max_n_is_how_many_earlier_runs_make_the_baseline(tmp_path):
    store = upstream_history(tmp_path, 6)
    try:
        def case(count):
            dummy, rec = current(6, scale={PRIMARY: 0.95}, history_max_n=count)
            return by_case(evaluate(store, rec, last_n=10))['Test 1 %s' % PRIMARY]
        one, two, every = case(1), case(2), case(0)
    finally:
        store.close()
    # one run: 3 values against 3 cannot reach p < 0.05
    assert one['baseline']['runs'] == [pf.run_id_for(5)] and one['verdict'] == 'no-baseline'
    assert two['baseline']['runs'] == [pf.run_id_for(5), pf.run_id_for(4)] and two['baseline']['n'] == 6
    assert two['verdict'] == 'regression' and two['baseline']['history_max_n'] == 2
    # 0: every earlier valid run (the run's own 10 would be the same here; 6 exist)
    assert every['verdict'] == 'regression' and len(every['baseline']['runs']) == 6
    assert every['baseline']['history_max_n'] == 0 and every['baseline']['n'] == 18


def test_history_since_leaves_the_older_runs_out_of_the_baseline(tmp_path):
    # runs 0-5 at 95 % of today's level (an older lab), runs 6-9 at today's; this run at 95 %
    older = dict((i, {PRIMARY: 0.95}) for i in range(6))
    since = int(parse_time(pf.started_for(6)))
    store = upstream_history(tmp_path, 10, levels=older)
    try:
        dummy, everything = current(10, scale={PRIMARY: 0.95}, history_since=0)
        dummy, recent = current(10, scale={PRIMARY: 0.95}, history_since=since)
        dummy, too_recent = current(10, scale={PRIMARY: 0.95}, history_since=int(parse_time(pf.started_for(8))))
        all_case = by_case(evaluate(store, everything))['Test 1 %s' % PRIMARY]
        recent_case = by_case(evaluate(store, recent))['Test 1 %s' % PRIMARY]
        late_case = by_case(evaluate(store, too_recent))['Test 1 %s' % PRIMARY]
        # a named baseline run wins over history_max_n and history_since
        named_case = by_case(evaluate(store, recent, named=pf.run_id_for(7)))['Test 1 %s' % PRIMARY]
    finally:
        store.close()
    assert len(all_case['baseline']['runs']) == 10 and all_case['verdict'] != 'regression'
    assert recent_case['baseline']['runs'] == [pf.run_id_for(i) for i in (9, 8, 7, 6)]
    assert recent_case['baseline']['history_since'] == since
    assert recent_case['verdict'] == 'regression'
    assert late_case['verdict'] == 'no-baseline' and 'since 2026-11-25T08:08:00Z' in late_case['reason']
    assert named_case['baseline']['runs'] == [pf.run_id_for(7)] and named_case['baseline']['kind'] == 'run'
    assert 'history_since' not in named_case['baseline'] and 'history_max_n' not in named_case['baseline']
    assert named_case['baseline']['n'] == 3 and named_case['alpha'] == 0.05


def test_one_value_per_run_is_judged_by_the_prediction_interval(tmp_path):
    """A suite's metric, once per run: the new value against the earlier runs' spread (perf_stats.predict_single)."""
    store = Store(str(tmp_path / 'history.sqlite'))
    try:
        for i in range(10):
            store.ingest(normalize(pf.make_upstream_summary(pf.run_id_for(i), pf.started_for(i), noise=0.001)))
        dummy, rec = current(10, scale={PRIMARY: 0.95}, repetitions=1, noise=0.001)
        drop = by_case(evaluate(store, rec))['Test 1 %s' % PRIMARY]
        dummy, rec = current(10, scale={PRIMARY: 0.9995}, repetitions=1, noise=0.001)
        same = by_case(evaluate(store, rec))['Test 1 %s' % PRIMARY]
        dummy, rec = current(10, scale={PRIMARY: 1.05}, repetitions=1, noise=0.001)
        rise = by_case(evaluate(store, rec))['Test 1 %s' % PRIMARY]
    finally:
        store.close()
    # the rank test could not go below p = 2/11 here; the prediction interval can
    assert drop['verdict'] == 'regression' and drop['p_value'] < 0.001, drop
    assert 'prediction interval of 10 earlier runs' in drop['reason']
    assert same['verdict'] == 'pass' and 'within the 95% prediction interval' in same['reason'], same
    assert rise['verdict'] == 'improvement'


def test_predict_single_is_the_prediction_interval_t():
    from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_stats import predict_single, t_sf
    base = [10.0, 11.0, 12.0]          # mean 11, s 1
    t = (8.0 - 11.0) / (1.0 * (1 + 1 / 3.0) ** 0.5)
    assert predict_single(base, 8.0) == pytest.approx(2 * t_sf(abs(t), 2))
    assert predict_single(base, 11.0) == pytest.approx(1.0)
    assert predict_single([5.0, 5.0], 5.0) == 1.0 and predict_single([5.0, 5.0], 4.0) == 0.0
    assert predict_single([5.0], 4.0) is None


def test_minimum_effects_and_judged_metrics_of_the_suites_metrics(tmp_path):
    assert min_effects(None, {PRIMARY: 10})[PRIMARY] == 10
    with pytest.raises(BaselineError, match="metric_min_effect: 'upstream.X' is not a metric"):
        min_effects(None, {'upstream.X': 10})
    with pytest.raises(BaselineError, match=r"metrics: 'upstream.client-recv-primary-link' is named by a suite"):
        judged_metrics([PRIMARY, 'throughput_mbps'])
    assert check_run_knobs({'perf_metric_min_effect': {PRIMARY: 3}}) == []
    errors = check_run_knobs({'perf_metric_min_effect': {'upstream.Bad': 3, SECOND: -1},
                              'perf_judged_metrics': [PRIMARY]})
    assert errors[0].startswith("perf_metric_min_effect: 'upstream.Bad' is not a metric")
    assert errors[1].startswith('perf_metric_min_effect.%s must be a finite number' % SECOND)
    assert errors[2].startswith("perf_judged_metrics: '%s' is named by a suite" % PRIMARY)
    store = upstream_history(tmp_path, 5)
    try:
        dummy, rec = current(5, scale={PRIMARY: 0.95})
        cases = by_case(evaluate(store, rec, metric_min_effect={PRIMARY: 10}))
    finally:
        store.close()
    assert cases['Test 1 %s' % PRIMARY]['verdict'] == 'pass' and cases['Test 1 %s' % PRIMARY]['min_effect_pct'] == 10
    assert 'but |change| = 5.' in cases['Test 1 %s' % PRIMARY]['reason']


def test_an_invalid_upstream_test_is_one_invalid_case_on_its_first_metric(tmp_path):
    store = upstream_history(tmp_path, 4)
    summary, rec = current(4, validation_ok=False)
    try:
        verdicts = evaluate(store, rec)
    finally:
        store.close()
    test = upstream_of(summary)
    assert test['valid'] is False and rec['results'][1]['valid'] is False
    cases = [v for v in verdicts.values() if v['name'] == 'Test 1']
    assert [(v['metric'], v['verdict'], v['reason']) for v in cases] == [
        (PRIMARY, 'invalid', 'validation failed: iperf (rc 1)')]
    assert cases[0]['current_median'] == test['metrics'][PRIMARY]['median']
    document = verdict_document(rec, verdicts, None, 10, 0.05, 1.5)
    assert document['counts']['invalid'] == 1
    text = junit_xml(summary, document)
    check.assert_junit_matches(text, summary, document)
    assert check.junit_counts(text)['errors'] == 1
    assert '<testcase name="Test 1 %s"' % PRIMARY in text
    assert 'message="invalid: validation failed: iperf (rc 1)"' in text
    md = verdict_markdown(summary, document)
    assert '| Test 1 | upstream | 2 | %s | **INVALID** |' % PRIMARY in md
    # a repetition whose steps failed: the same, with its reason
    summary, rec = current(4, failed_reps=(2,))
    assert rec['results'][1]['invalid_reason'] == '1 of 3 repetitions failed: step iperf3 client: rc 1'


def test_judged_before_writing_flags_the_upstream_metric(tmp_path):
    upstream_history(tmp_path, 6).close()
    summary, dummy = current(6, scale={SECOND: 0.9})
    regressions = judge_before_writing(summary, str(tmp_path / 'history.sqlite'))
    assert [(r['test'], r['metric']) for r in regressions] == [('Test 1', SECOND)]


# ---- what renders it ------------------------------------------------------------------------

@pytest.fixture
def judged(tmp_path):
    """(summary, verdict.json) of a run whose upstream test lost 5 % on its primary link, with
    its own alpha and history."""
    store = upstream_history(tmp_path, 6)
    summary, rec = current(6, scale={PRIMARY: 0.95}, alpha=0.02, history_max_n=4,
                           history_since=int(parse_time(pf.started_for(1))))
    try:
        verdicts = evaluate(store, rec)
    finally:
        store.close()
    return summary, verdict_document(rec, verdicts, None, 10, 0.05, 1.5)


def test_junit_and_markdown_render_the_upstream_test(judged):
    summary, document = judged
    text = junit_xml(summary, document)
    check.assert_junit_matches(text, summary, document)
    assert check.junit_counts(text) == {'tests': 3, 'failures': 1, 'errors': 0, 'skipped': 0}
    assert 'classname="mptcp.lab.upstream-mix.Test 1"' in text
    failure = re.search(r'<failure message="([^"]*)"', text).group(1)
    assert failure.startswith('regression: %s -5.' % PRIMARY) and ' value, p = ' in failure
    # the test's traffic seconds once, on its first case
    times = re.findall(r'<testcase name="Test 1 [^"]*" classname="[^"]*" time="([0-9.]+)"', text)
    assert times == ['24.000', '0.000']
    md = verdict_markdown(summary, document)
    assert '| Test 1 | upstream | 2 | %s | **REGRESSION** |' % PRIMARY in md
    assert '| Test 1 | upstream | 2 | %s | pass |' % SECOND in md
    assert 'Judged with their own parameters (suite key `regression`): Test 1: alpha 0.02, last 4 runs, ' \
           'since 2026-11-25T08:01:00Z.' in md
    assert ' value |' in md and 'None' not in md


def test_the_console_table_has_a_line_per_upstream_test(judged):
    summary, dummy = judged
    lines = table_lines(summary, '/r/summary.json')
    assert lines[2].startswith('Test 1') and lines[2].split()[2:4] == ['-', '2']      # no protocol of its own
    line = [l for l in lines if 'upstream:' in l][0]
    test = upstream_of(summary)
    assert line == 'Test 1                 upstream: client-recv-primary-link %.2f, client-recv-second-link %.2f; ' \
                   'validation: iperf ok' % (test['metrics'][PRIMARY]['median'], test['metrics'][SECOND]['median'])
    test['upstream']['validation'][0].update(ok=False, rc=3)
    test['metrics'][PRIMARY]['unit'] = 'bytes/s'
    line = [l for l in table_lines(summary, '/r/summary.json') if 'upstream:' in l][0]
    assert 'validation: iperf FAILED (rc 3)' in line and 'bytes/s' in line
    assert 'None' not in lines[2] + line


@pytest.mark.skipif(not perf_html.HAS_MATPLOTLIB, reason='matplotlib')
def test_the_report_renders_the_upstream_test(judged):
    summary, document = judged
    # before the verdict: the upstream metrics are pending, the table does not crash on null protocol
    table = perf_html.verdict_table(summary['tests'])
    rows = re.findall(r'<tr>(.*?)</tr>', table)[1:]
    up_rows = rows[-2:]
    assert 'rowspan="2"' in up_rows[0] and 'upstream suite, 2 paths, alpha 0.02' in up_rows[0]
    assert all('>pending</span>' in r for r in up_rows)
    assert 'None' not in table and 'NONE' not in table
    assert not perf_html.has_throughput(upstream_of(summary))
    view = judged_view(summary, document)
    table = perf_html.verdict_table(view['tests'], document['metrics'])
    rows = re.findall(r'<tr>(.*?)</tr>', table)[1:]
    assert '<code>%s</code>' % PRIMARY in rows[-2] and '>regression</span>' in rows[-2] and '&uarr;' in rows[-2]
    assert '>pass</span>' in rows[-1]
    history = [{'run_id': pf.run_id_for(i), 'started_ts': parse_time(pf.started_for(i)), 'valid': True,
                'median': 9.9e6, 'min': 9.8e6, 'max': 1e7, 'verdict': None, 'shaping': None} for i in range(6)]
    test = [t for t in view['tests'] if t['name'] == 'Test 1'][0]
    html = perf_html.render(view, [(test, PRIMARY, history, summary['run_id'])], '/r/history.sqlite')
    assert html.count('<h2 id="upstream">') == 1
    section = html[html.index('<h2 id="upstream">'):html.index('<h2 id="throughput">')]
    assert 'mptcp-upstream-virtme-docker' in section and 'judged with alpha 0.02, history_max_n 4' in section
    assert '<td>Client recv primary link</td>' in section and 'net/eth0:recv' in section
    assert '<td>iperf3 client</td><td>client</td>' in section and '>ok</span>' in section
    assert 'Not honoured here' in section and 'global.cpus' in section
    # how a suite's own metric is judged, said where the verdict's rules are
    verdict = html[html.index('<h2 id="verdict">'):html.index('<h2 id="upstream">')]
    assert "Student's prediction interval of the earlier runs' values" in verdict
    regs = html[html.index('<h3>Regressions</h3>'):]
    assert '<b>Test 1</b>: %s -5.' % PRIMARY in regs and ' value, p = ' in regs
    assert 'None' not in html.replace('None,', '')
