"""The run record as a contract: schema, migration of older records, metrics, CI outputs."""

import copy
import json
import os
import sys

import pytest

from ansible_collections.mptcp.lab.plugins.module_utils.perf import perf_html
from ansible_collections.mptcp.lab.plugins.module_utils.perf import perf_record
from ansible_collections.mptcp.lab.plugins.module_utils.perf import perf_suite as ps
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_baseline import judged_view, verdict_document
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_ci import junit_xml, verdict_markdown
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_record import (
    RecordError, SCHEMA_VERSION, build_summary, migrate, normalize, write_record)

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..', '..'))
import perf_fixtures  # noqa: E402  pylint: disable=wrong-import-position
import run_record_check as check  # noqa: E402  pylint: disable=wrong-import-position

SUITE = ps.validate_suite({'name': 's', 'defaults': {'repetitions': 2, 'duration_s': 10}, 'tests': [
    {'name': 'tcp', 'protocol': 'tcp', 'paths': 1},
    {'name': 'mptcp', 'protocol': 'mptcp', 'paths': 'all'}]}, 2)
PLAN = ps.plan(SUITE)
LAB = [{'rate_mbit': 50}, {'rate_mbit': 50}]


def measured(item, tput, ok=True, error=None, retransmits=3):
    return {'item': item, 'ok': ok, 'error': error, 'throughput_mbps': tput,
            'per_path_mbps': [tput] if item['protocol'] == 'tcp' else [tput / 2, tput / 2],
            'subflows': None if item['protocol'] == 'tcp' else 2,
            'fallback': None if item['protocol'] == 'tcp' else False, 'duration_s': 10.0,
            'retransmits': retransmits}


def built(results=None):
    results = results if results is not None else [
        measured(PLAN[0], 47.8, retransmits=2), measured(PLAN[1], 94.0, retransmits=10),
        measured(PLAN[2], 47.6, retransmits=4), {'item': PLAN[3], 'failed': True, 'msg': 'boom'}]
    return build_summary(SUITE, PLAN, results, LAB, 'rid', 1000.0, 1050.0, {'h': {'kernel': '6.18'}})


def test_schema_is_valid_and_matches_the_code():
    schema = check.load_schema()
    assert schema['properties']['schema_version'] == {'const': SCHEMA_VERSION}
    names = schema['$defs']['metric_name']['enum']
    # every metric the code records is one the schema (and DESIGN) names
    assert set(check.metric_names()) <= set(names)
    assert {'throughput_mbps', 'retransmits'} <= set(check.metric_names())


def test_a_built_record_follows_the_schema():
    s = built()
    assert s['schema_version'] == SCHEMA_VERSION
    check.assert_valid_record(s)
    # DESIGN's fields are all there, and the new ones beside them
    tcp, mptcp = s['tests']
    assert tcp['metrics']['throughput_mbps']['values'] == tcp['throughput_mbps']['values'] == [47.8, 47.6]
    assert tcp['metrics']['throughput_mbps']['unit'] == 'Mbit/s'
    assert tcp['metrics']['throughput_mbps']['better'] == 'higher'
    assert tcp['metrics']['retransmits'] == dict(perf_record.summarize([2, 4]), unit='count', better='lower')
    assert [r['metrics'] for r in tcp['runs']] == [{'throughput_mbps': 47.8, 'retransmits': 2},
                                                   {'throughput_mbps': 47.6, 'retransmits': 4}]
    # a failed run has no figures, and stays out of the statistics
    assert mptcp['runs'][1]['metrics'] == {'throughput_mbps': None, 'retransmits': None}
    assert mptcp['metrics']['retransmits']['values'] == [10.0]
    # validity decided once, with distinct names; verdict is its deprecated alias
    assert tcp['valid'] is True and tcp['invalid_reason'] is None and tcp['verdict'] == 'ok'
    assert mptcp['valid'] is False and 'task failed: boom' in mptcp['invalid_reason']
    assert mptcp['verdict'] == 'invalid' and mptcp['verdict_reason'] == mptcp['invalid_reason']


def test_the_planners_expectation_is_recorded():
    s = build_summary(SUITE, PLAN, [], LAB, 'rid', 0.0, 1.0, {}, expected={'tcp': 40.0, 'mptcp': None})
    assert [t['expected_mbps'] for t in s['tests']] == [40.0, None]


@pytest.mark.parametrize('breakage, where', [
    (lambda s: s.pop('schema_version'), 'schema_version'),
    (lambda s: s['tests'][0].update(streams='two'), 'tests/0/streams'),
    (lambda s: s['tests'][0].update(protocol='udp'), 'tests/0/protocol'),
    (lambda s: s['tests'][0]['metrics'].update(bogus_metric=s['tests'][0]['metrics']['retransmits']),
     'tests/0/metrics'),
    (lambda s: s['tests'][0]['metrics']['retransmits'].pop('better'), 'tests/0/metrics/retransmits'),
    (lambda s: s['tests'][0]['runs'][0].pop('metrics'), 'tests/0/runs/0'),
    (lambda s: s['regressions'].append({'test': 'tcp', 'metric': 'throughput_mbps'}), 'regressions/0'),
    (lambda s: s.update(started='yesterday'), 'started'),
])
def test_the_schema_catches_a_broken_record(breakage, where):
    s = built()
    breakage(s)
    if where == 'schema_version':
        errors = check.record_errors(dict(s, schema_version=None))
    else:
        errors = check.record_errors(s)
    assert errors and any(e.startswith(where) for e in errors), errors


def test_adding_a_metric_is_one_line(monkeypatch):
    monkeypatch.setattr(perf_record, 'METRICS', perf_record.METRICS + (
        ('jain_index', 'fraction', 'higher', 'jain_index'),))
    results = [dict(measured(item, 47.8), jain_index=0.99) for item in PLAN]
    s = built(results)
    assert s['tests'][1]['metrics']['jain_index']['median'] == 0.99
    assert s['tests'][1]['runs'][0]['metrics']['jain_index'] == 0.99
    check.assert_valid_record(s)


def test_wave1_records_migrate_on_read_and_keep_their_history_identity():
    old = perf_fixtures.make_summary('old', '2026-11-25T08:00:00Z', tests=[
        {'name': 'ok', 'protocol': 'mptcp', 'paths': 2, 'mbps': 90},
        {'name': 'failed-rep', 'protocol': 'tcp', 'paths': 1, 'mbps': 45, 'fail': [2]}])
    # a wave-1 verdict step rewrote the file with judgements in 'verdict'
    old['tests'][0].update(verdict='regression', verdict_reason='p = 0.001', change_pct=-3.0)
    old['verdict'] = {'counts': {'regression': 1}}
    before = copy.deepcopy(old)
    new = migrate(old)
    assert old == before                                  # the record read is not changed
    assert new['schema_version'] == SCHEMA_VERSION and 'verdict' not in new
    assert new['tests'][0]['valid'] is True and 'verdict' not in new['tests'][0]
    assert new['tests'][1]['valid'] is False and '1 of 5 repetitions failed' in new['tests'][1]['invalid_reason']
    assert new['tests'][0]['metrics']['throughput_mbps']['n'] == 5
    check.assert_valid_record(new)
    # the history's view of it is what wave 1 stored: the same content hash
    assert normalize(old)['content_hash'] == normalize(new)['content_hash']
    # a current record is read as it is
    current = built()
    assert migrate(current) is current


def test_a_newer_record_is_refused_by_name():
    with pytest.raises(RecordError, match=r'schema_version 2 is newer than this collection reads \(1\)'):
        migrate(dict(built(), schema_version=2))
    with pytest.raises(RecordError, match='schema_version must be a whole number'):
        migrate(dict(built(), schema_version='1'))


def test_malformed_fields_are_record_errors_naming_the_field():
    s = built()
    s['tests'][0]['streams'] = 'two'
    with pytest.raises(RecordError, match="test 'tcp': streams must be an integer, got 'two'"):
        normalize(s)
    s = built()
    s['tests'][1]['path_ids'] = ['x']
    with pytest.raises(RecordError, match='path_ids must be a list of integers'):
        normalize(s)


def test_a_record_is_written_once(tmp_path):
    path = str(tmp_path / 'summary.json')
    write_record(path, built())
    with open(path, 'rb') as handle:
        first = handle.read()
    with pytest.raises(RecordError, match='written once'):
        write_record(path, built(results=[]))
    with open(path, 'rb') as handle:
        assert handle.read() == first
    assert json.loads(first)['schema_version'] == SCHEMA_VERSION


# ---- CI outputs ----------------------------------------------------------------

def judged(outcomes):
    """A record with three valid tests and one invalid, and a verdict with the given outcomes."""
    summary = perf_fixtures.make_summary('rid', '2026-11-25T08:00:00Z', tests=perf_fixtures.DEFAULT_TESTS + [
        {'name': 'broken', 'protocol': 'tcp', 'paths': 1, 'mbps': 40, 'fail': [0]}])
    summary = migrate(summary)
    record = normalize(summary)
    verdicts = {}
    for res, outcome in zip(record['results'], outcomes):
        regression = outcome == 'regression'
        verdicts[res['test_key']] = {
            'name': res['identity']['name'], 'verdict': outcome, 'reason': 'because',
            'baseline_median': 93.9 if outcome != 'no-baseline' else None,
            'current_median': res['median'], 'change_pct': -3.05 if regression else 0.1,
            'p_value': 0.0003 if regression else 0.5, 'baseline': None}
    return summary, verdict_document(record, verdicts, None, 10, 0.05, 1.5)


def test_junit_one_testcase_per_test_and_metric_with_matching_counts():
    summary, verdict = judged(['pass', 'regression', 'no-baseline', 'invalid'])
    text = junit_xml(summary, verdict)
    assert check.junit_errors(text) == []
    check.assert_junit_matches(text, summary, verdict)
    assert check.junit_counts(text) == {'tests': 4, 'failures': 1, 'errors': 1, 'skipped': 1}
    assert 'name="mptcp-2paths-up throughput_mbps"' in text
    # the failure carries the figures
    assert ('message="regression: throughput_mbps -3.05%% (93.90 -&gt; %.2f Mbit/s, p = 0.0003)"'
            % verdict['tests'][1]['current_median']) in text
    assert 'type="invalid"' in text and '1 of 5 repetitions failed' in text


def test_the_junit_check_can_fail():
    summary, verdict = judged(['pass', 'regression', 'no-baseline', 'invalid'])
    text = junit_xml(summary, verdict)
    assert check.junit_errors(text.replace('failures="1"', 'failures="0"'))
    assert check.junit_errors(text.replace('<skipped ', '<failure message="x" /><skipped ', 1))
    assert check.junit_errors('<testsuite/>')
    # what tests/junit.xsd refuses: an unknown element, a failure without its message, a bad time
    assert any('junit.xsd' in e for e in check.junit_errors(text.replace('<properties>', '<props/><properties>', 1)))
    assert any('junit.xsd' in e for e in check.junit_errors(
        text.replace('<skipped ', '<failure /><skipped ', 1)))
    assert any('junit.xsd' in e for e in check.junit_errors(text.replace('time="', 'time="x', 1)))
    with pytest.raises(AssertionError):
        check.assert_junit_matches(junit_xml(summary, judged(['pass'] * 4)[1]), summary, verdict)


def test_verdict_markdown_is_a_table_a_ci_step_can_post():
    summary, verdict = judged(['pass', 'regression', 'improvement', 'invalid'])
    text = verdict_markdown(summary, verdict)
    lines = text.splitlines()
    assert lines[0] == '### mptcp.lab perf verdict: run `rid` (suite default)'
    assert '1 regression, 1 invalid, 1 improvement, 1 pass against the last 10 valid runs' in text
    rows = [line for line in lines if line.startswith('| ') and 'protocol' not in line]
    assert len(rows) == 4 and all(row.count(' | ') == 9 for row in rows)
    assert '| mptcp-2paths-up | mptcp | 2 | throughput_mbps | **REGRESSION** | 93.90 |' in text
    assert 'Regressions:' in text and '- **mptcp-2paths-up**: throughput_mbps -3.05%' in text


def test_a_named_baseline_shows_kernel_a_beside_kernel_b():
    summary = migrate(perf_fixtures.make_summary('rid', '2026-11-25T08:00:00Z'))
    record = normalize(summary)
    plain = verdict_document(record, {}, None, 10, 0.05, 1.5)
    assert plain['baseline_kernel'] is None and plain['kernel'] == record['run']['kernel']
    assert 'Kernel A' not in verdict_markdown(summary, plain)
    named = verdict_document(record, {}, 'runA', 10, 0.05, 1.5, baseline_kernel='6.1.0-57-amd64')
    assert named['baseline'] == 'run runA' and named['baseline_kernel'] == '6.1.0-57-amd64'
    assert ('Kernel A (baseline): `6.1.0-57-amd64`; kernel B (this run): `%s`.' % record['run']['kernel']
            in verdict_markdown(summary, named))
    # the report reads the verdict through judged_view, as perf_report does
    html = perf_html.render(judged_view(summary, named), [], 'history.db')
    assert '<b>Kernel A</b> (baseline, run runA): 6.1.0-57-amd64' in html
    assert '<b>Kernel A</b>' not in perf_html.render(judged_view(summary, plain), [], 'history.db')


# ---- tags and notes --------------------------------------------------------------

def test_tags_parse_and_name_the_bad_one():
    assert perf_record.parse_tags(['kernel:6.18-rc3', 'series=v2', 'sha:1a2b', 'kernel:6.18']) == {
        'kernel': '6.18', 'series': 'v2', 'sha': '1a2b'}
    assert perf_record.parse_tags('url:https://x/y') == {'url': 'https://x/y'}
    assert perf_record.parse_tags(None) == {}
    for tags, text in ((['ok:1', 'nokey'], r'perf_tags\[1\]: a tag is key:value'),
                       (['bad key:1'], r'perf_tags\[0\]: the key of a tag'),
                       (['k:two words'], r'perf_tags\[0\]: the value of a tag'),
                       (['k:'], r'the value of a tag'), ([3], r'a tag is a string')):
        with pytest.raises(RecordError, match=text):
            perf_record.parse_tags(tags)


def test_tags_and_notes_are_recorded_and_part_of_the_history_view():
    s = build_summary(SUITE, PLAN, [], LAB, 'rid', 0.0, 1.0, {}, tags={'kernel': '6.18-rc3'},
                      notes={'why': 'rebased', 'n': 2})
    assert s['tags'] == {'kernel': '6.18-rc3'} and s['notes'] == {'why': 'rebased', 'n': 2}
    check.assert_valid_record(s)
    assert normalize(s)['run']['tags'] == {'kernel': '6.18-rc3'}
    untagged = build_summary(SUITE, PLAN, [], LAB, 'rid', 0.0, 1.0, {})
    assert 'tags' not in normalize(untagged)['run']
    assert normalize(untagged)['content_hash'] != normalize(s)['content_hash']
    assert check.record_errors(dict(s, tags={'kernel': 6}))


def test_a_test_with_its_own_shaping_records_it_and_is_a_test_of_its_own():
    """tests[].shaping is the shaping the test ran under (its own, else the lab's), and part of its identity."""
    suite = ps.validate_suite({'name': 's', 'defaults': {'repetitions': 1}, 'tests': [
        {'name': 'mptcp', 'protocol': 'mptcp', 'paths': 'all'},
        {'name': 'mptcp-raw', 'protocol': 'mptcp', 'paths': 'all', 'shaping': 'none'},
        {'name': 'tcp-slow', 'protocol': 'tcp', 'paths': [2], 'shaping': [{'rate_mbit': 50}, {'rate_mbit': 10}]},
    ]}, 2)
    plan = ps.plan(suite, LAB)
    expected = dict((t['name'], ps.expected_mbps(t, LAB)) for t in suite['tests'])
    s = build_summary(suite, plan, [measured(plan[0], 94.0), measured(plan[1], 3000.0), measured(plan[2], 9.5)],
                      LAB, 'rid', 0.0, 50.0, {}, expected=expected)
    check.assert_valid_record(s)
    lab, raw, slow = s['tests']
    assert lab['shaping'] == LAB and lab['expected_mbps'] == pytest.approx(95.64, abs=0.01)
    assert raw['shaping'] == [{'rate_mbit': None}, {'rate_mbit': None}]
    # unshaped: no ideal, so no "of ideal" figure
    assert raw['expected_mbps'] is None and raw['utilisation'] is None
    assert slow['shaping'] == [{'rate_mbit': 10}]
    assert slow['utilisation'] == pytest.approx(9.5 / (10 * ps.GOODPUT_FACTOR), abs=1e-4)
    idents = dict((r['identity']['name'], r) for r in normalize(s)['results'])
    assert idents['mptcp-raw']['identity']['shaping'] == [{'rate_mbit': None}, {'rate_mbit': None}]
    assert idents['tcp-slow']['identity']['shaping'] == [{'rate_mbit': 10}]
    # the same test under another shaping is another test: it never serves as the other's baseline
    renamed = copy.deepcopy(s)
    renamed['tests'][1]['name'] = 'mptcp'
    renamed['tests'] = renamed['tests'][1:2]
    assert normalize(renamed)['results'][0]['test_key'] != idents['mptcp']['test_key']
    # a test whose shaping is the lab's, spelled out, is the plain test
    same = ps.validate_suite({'name': 's', 'defaults': {'repetitions': 1}, 'tests': [
        {'name': 'mptcp', 'protocol': 'mptcp', 'paths': 'all', 'shaping': [{'rate_mbit': 50.0}, {'rate_mbit': 50}]}]}, 2)
    s2 = build_summary(same, ps.plan(same, LAB), [], LAB, 'rid2', 0.0, 1.0, {})
    assert normalize(s2)['results'][0]['test_key'] == idents['mptcp']['test_key']


# ---- a measurement over several pairs at once (suite key pairs)

def _pairs(count):
    return [{'generator': 'g%d' % n, 'sink': 's%d' % n,
             'links': [{'path': p, 'dev': 'p%d' % p, 'address': '10.%d.%d.2' % (n, p),
                        'peer_address': '10.%d.%d.3' % (n, p)} for p in (1, 2)]} for n in range(1, count + 1)]


PAIRS_SUITE = ps.validate_suite({'name': 'p', 'defaults': {'repetitions': 2, 'duration_s': 10}, 'tests': [
    {'name': 'solo'}, {'name': 'four', 'pairs': 4}]}, 2, pair_count=4)
PAIRS_PLAN = ps.attach_links(ps.plan(PAIRS_SUITE), _pairs(4)[0]['links'], _pairs(4))


def flow_result(item, tput, started_at, ok=True, error=None):
    res = measured(item, tput, ok=ok, error=error)
    res.update(started_at=started_at, start_late_s=0.0, attempts=1, retried_error=None)
    return res


def test_jain_index():
    assert perf_record.jain_index([10, 10, 10, 10]) == 1.0
    assert perf_record.jain_index([40, 0, 0, 0]) == 0.25
    assert perf_record.jain_index([30, 10]) == pytest.approx(0.8)
    assert perf_record.jain_index([]) is None and perf_record.jain_index([0, 0]) is None
    assert perf_record.jain_index([None, 'x']) is None


def test_a_run_over_four_pairs_keeps_each_flow_the_aggregate_fairness_and_skew():
    solo1, four1, solo2, four2 = PAIRS_PLAN
    assert [f['generator'] for f in four1['flows']] == ['g1', 'g2', 'g3', 'g4']
    t0 = 1000.0
    primary = [measured(solo1, 94.0), flow_result(four1, 90.0, t0 + 0.004), measured(solo2, 94.1),
               flow_result(four2, 94.0, t0 + 100.0)]
    others = {'g2': [{'item': solo1, 'skipped': True}, flow_result(four1, 92.0, t0),
                     {'item': solo2, 'skipped': True}, flow_result(four2, 94.0, t0 + 100.01)],
              'g3': [flow_result(four1, 94.0, t0 + 0.031), flow_result(four2, 94.0, t0 + 100.0)],
              # g4's second flow fell back: that run is not valid, and says which flow
              'g4': [flow_result(four1, 70.0, t0 + 0.012),
                     flow_result(four2, 93.0, t0 + 100.0, ok=False, error='MPTCP fell back to TCP')]}
    s = build_summary(PAIRS_SUITE, PAIRS_PLAN, primary, [{'rate_mbit': 50}, {'rate_mbit': 50}], 'rid',
                      0.0, 50.0, {}, flow_results=others)
    check.assert_valid_record(s)
    solo, four = s['tests']
    assert 'pairs' not in solo and 'flows' not in solo['runs'][0]
    assert four['pairs'] == 4 and four['expected_mbps'] == pytest.approx(4 * solo['expected_mbps'], abs=0.01)
    run1, run2 = four['runs']
    assert [(f['generator'], f['sink'], f['protocol'], f['throughput_mbps']) for f in run1['flows']] == [
        ('g1', 's1', 'mptcp', 90.0), ('g2', 's2', 'mptcp', 92.0), ('g3', 's3', 'mptcp', 94.0),
        ('g4', 's4', 'mptcp', 70.0)]
    assert run1['ok'] and run1['throughput_mbps'] == 346.0 and run1['per_path_mbps'] == [173.0, 173.0]
    assert run1['start_skew_ms'] == pytest.approx(31.0, abs=0.05)
    expected_jain = 346.0 ** 2 / (4 * (90.0 ** 2 + 92.0 ** 2 + 94.0 ** 2 + 70.0 ** 2))
    assert run1['metrics']['jain_index'] == pytest.approx(expected_jain, abs=1e-5)
    assert run1['metrics']['throughput_mbps'] == 346.0 and 'cpu_s_per_gb' not in run1['metrics']
    assert run1['retransmits'] == 12 and run1['duration_s'] == 10.0
    assert [f['raw'] for f in run1['flows']] == ['002-four-rep1'] + ['002-four-rep1.flow%d' % n for n in (2, 3, 4)]
    assert not run2['ok'] and run2['error'] == 'flow 4 (g4 -> s4): MPTCP fell back to TCP'
    assert run2['metrics']['jain_index'] is None
    # the aggregate of the valid run is the test's figure; the traffic counts once per measurement
    assert four['throughput_mbps']['values'] == [346.0] and not four['valid']
    assert s['traffic_s'] == 40.0
    # a flow whose generator reported nothing is a failed flow, named
    lost = build_summary(PAIRS_SUITE, PAIRS_PLAN, primary, [], 'rid', 0.0, 50.0, {},
                         flow_results=dict(others, g3=[]))['tests'][1]['runs'][0]
    assert not lost['ok'] and lost['throughput_mbps'] is None and lost['start_skew_ms'] is None
    assert 'flow 3 (g3 -> s3): task failed: measurement task did not run' in lost['error']


def test_pairs_are_part_of_the_identity_only_beyond_one():
    s = perf_fixtures.make_summary('20261125T080000Z', '2026-11-25T08:00:00Z')
    test = dict(s['tests'][1])
    plain = perf_record.test_identity(s, test)
    assert perf_record.test_identity(s, dict(test, pairs=1)) == plain
    four = perf_record.test_identity(s, dict(test, pairs=4))
    assert four[0] != plain[0] and four[1]['pairs'] == 4


def test_flows_that_did_not_start_together_make_the_run_invalid():
    item = PAIRS_PLAN[1]
    primary = [flow_result(item, 94.0, 1000.0)]
    # 10 s measured: 1000 ms apart is the limit, 1001 ms is past it
    ok = build_summary(PAIRS_SUITE, PAIRS_PLAN, primary, [], 'rid', 0.0, 1.0, {}, flow_results={
        'g%d' % n: [flow_result(item, 94.0, 1001.0)] for n in (2, 3, 4)})['tests'][1]['runs'][0]
    assert ok['ok'] and ok['start_skew_ms'] == 1000.0
    late = build_summary(PAIRS_SUITE, PAIRS_PLAN, primary, [], 'rid', 0.0, 1.0, {}, flow_results={
        'g%d' % n: [flow_result(item, 94.0, 1000.0 + n * 0.3337)] for n in (2, 3, 4)})['tests'][1]['runs'][0]
    assert not late['ok'] and late['start_skew_ms'] == pytest.approx(1334.8, abs=0.1)
    assert late['error'] == 'the flows started 1335 ms apart, more than 10 % of the 10.0 s they measured: not at once'
    assert late['metrics']['jain_index'] is None


MIX_SUITE = ps.validate_suite({'name': 'p', 'defaults': {'repetitions': 1, 'duration_s': 10}, 'tests': [
    {'name': 'mixed', 'mix': {'mptcp': 2, 'tcp': 2}, 'bottleneck': {'rate_mbit': 100}}]}, 2, pair_count=4)
MIX_PLAN = ps.attach_links(ps.plan(MIX_SUITE), _pairs(4)[0]['links'], _pairs(4))


def test_a_run_of_both_protocols_keeps_each_protocols_share():
    item, = MIX_PLAN
    t0 = 1000.0
    primary = [flow_result(item, 30.0, t0)]
    tcp = dict(flow_result(item, 20.0, t0 + 0.002), subflows=None, fallback=None, per_path_mbps=[20.0])
    others = {'g2': [flow_result(item, 32.0, t0 + 0.001)], 'g3': [tcp], 'g4': [dict(tcp, throughput_mbps=13.6)]}
    lab = [{'rate_mbit': 50}, {'rate_mbit': 50}]
    s = build_summary(MIX_SUITE, MIX_PLAN, primary, lab, 'rid', 0.0, 20.0, {}, flow_results=others)
    check.assert_valid_record(s)
    test, = s['tests']
    assert test['mix'] == {'mptcp': 2, 'tcp': 2} and test['bottleneck'] == {'rate_mbit': 100}
    assert test['expected_mbps'] == pytest.approx(100 * ps.GOODPUT_FACTOR, abs=0.01)
    run, = test['runs']
    assert [f['protocol'] for f in run['flows']] == ['mptcp', 'mptcp', 'tcp', 'tcp']
    assert run['ok'] and run['throughput_mbps'] == 95.6
    assert run['per_protocol_mbps'] == {'mptcp': 62.0, 'tcp': 33.6}
    assert run['protocol_share'] == {'mptcp': round(62.0 / 95.6, 4), 'tcp': round(33.6 / 95.6, 4)}
    assert run['metrics']['mptcp_share'] == run['protocol_share']['mptcp']
    # the gates are the MPTCP flows': TCP flows have no subflows and never fall back
    assert run['subflows'] == 2 and run['fallback'] is False
    assert test['metrics']['mptcp_share']['median'] == pytest.approx(run['protocol_share']['mptcp'], abs=1e-3)
    assert test['metrics']['mptcp_share']['better'] == 'higher'
    # the mix and the bottleneck are part of the identity
    key, identity = perf_record.test_identity(s, test)
    assert identity['mix'] == {'mptcp': 2, 'tcp': 2} and identity['bottleneck'] == {'rate_mbit': 100}
    assert perf_record.test_identity(s, dict(test, bottleneck={'rate_mbit': 60}))[0] != key
    # a run of one protocol has no share
    assert 'protocol_share' not in build_summary(PAIRS_SUITE, PAIRS_PLAN, [], [], 'rid', 0.0, 1.0, {})[
        'tests'][1]['runs'][0]
