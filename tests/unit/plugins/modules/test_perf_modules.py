"""The perf_history, perf_verdict and perf_report modules on synthetic run records.

The modules run in-process through AnsibleModule (real argument parsing,
real files and SQLite in a temporary directory).
"""

import base64
import csv
import json
import os
import re
import sqlite3
import sys

import pytest

from ansible.module_utils import _internal, basic
from ansible.module_utils.common.text.converters import to_bytes

from ansible_collections.mptcp.lab.plugins.module_utils.perf import perf_record
from ansible_collections.mptcp.lab.plugins.modules import perf_history, perf_report, perf_verdict

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..', '..'))
import perf_fixtures  # noqa: E402  pylint: disable=wrong-import-position


def call(module, args, check_mode=False, diff=False, capsys=None):
    payload = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    basic._ANSIBLE_ARGS = to_bytes(json.dumps({'ANSIBLE_MODULE_ARGS': payload}))
    basic._ANSIBLE_PROFILE = 'legacy'
    with pytest.raises(SystemExit) as exc:
        module.main()
    out = capsys.readouterr().out
    result = json.loads(out)
    result['rc'] = exc.value.code
    return result


@pytest.fixture
def results(tmp_path):
    """Seven runs, the last with a 3% drop of mptcp-2paths-up."""
    d = str(tmp_path / 'results')
    perf_fixtures.write_history(d, 7, scale_last={'mptcp-2paths-up': 0.97})
    return d


def test_history_check_mode_predicts_and_writes_nothing(results, capsys):
    r = call(perf_history, {'results_dir': results}, check_mode=True, diff=True, capsys=capsys)
    assert r['changed'] is True and r['status'] == 'added'
    assert r['diff']['before']['content_hash'] is None
    assert not os.path.exists(os.path.join(results, 'history.sqlite'))
    r = call(perf_history, {'results_dir': results}, capsys=capsys)
    assert r['changed'] is True and r['status'] == 'added' and r['runs_in_history'] == 1
    assert r['run_id'] == perf_fixtures.run_id_for(6)
    assert [t['name'] for t in r['tests']] == ['tcp-1path-up', 'mptcp-2paths-up', 'mptcp-2paths-down']
    r = call(perf_history, {'results_dir': results}, check_mode=True, capsys=capsys)
    assert r['changed'] is False and r['status'] == 'unchanged'
    r = call(perf_history, {'results_dir': results}, capsys=capsys)
    assert r['changed'] is False


def test_history_backfill(results, capsys):
    r = call(perf_history, {'results_dir': results, 'backfill': True}, check_mode=True, capsys=capsys)
    assert r['changed'] and len(r['backfilled']) == 6 and r['runs_in_history'] == 7
    assert not os.path.exists(os.path.join(results, 'history.sqlite'))
    r = call(perf_history, {'results_dir': results, 'backfill': True}, capsys=capsys)
    assert r['backfilled'] == [perf_fixtures.run_id_for(i) for i in range(6)]
    assert r['runs_in_history'] == 7
    r = call(perf_history, {'results_dir': results, 'backfill': True}, capsys=capsys)
    assert r['changed'] is False and r['backfilled'] == []


def test_history_backfill_skips_broken_records(results, capsys, monkeypatch):
    # other tests in the same process may import controller code, which turns module
    # warnings into controller display calls; a module run by Ansible is never in that state
    monkeypatch.setattr(_internal, 'is_controller', False)
    os.makedirs(os.path.join(results, 'broken'))
    with open(os.path.join(results, 'broken', 'summary.json'), 'w') as handle:
        handle.write('{"run_id": ')
    r = call(perf_history, {'results_dir': results, 'backfill': True}, capsys=capsys)
    assert r['rc'] == 0 and len(r['backfilled']) == 6
    assert any('broken' in str(w) for w in r.get('warnings', []))


def test_history_backfill_skips_a_malformed_record_and_reports_it(results, capsys, monkeypatch):
    monkeypatch.setattr(_internal, 'is_controller', False)
    bad = perf_fixtures.make_summary('bad-streams', perf_fixtures.started_for(0))
    bad['tests'][0]['streams'] = 'two'
    perf_fixtures.write_run(results, bad, latest=False)
    r = call(perf_history, {'results_dir': results, 'backfill': True}, capsys=capsys)
    assert r['rc'] == 0 and len(r['backfilled']) == 6
    path = os.path.join(results, 'bad-streams', 'summary.json')
    assert r['skipped'] == [{'path': path, 'reason': "test 'tcp-1path-up': streams must be an integer, got 'two'"}]
    assert any('bad-streams' in str(w) for w in r.get('warnings', []))
    # and every later run still records: the bad record never stops the history
    perf_fixtures.write_run(results, perf_fixtures.make_summary(perf_fixtures.run_id_for(7),
                                                                perf_fixtures.started_for(7)))
    r = call(perf_history, {'results_dir': results, 'backfill': True}, capsys=capsys)
    assert r['rc'] == 0 and r['status'] == 'added' and r['runs_in_history'] == 8
    assert [s['path'] for s in r['skipped']] == [path]


@pytest.mark.parametrize('name', ['res#ults', 'res?ults', 'res%20ults', 'with space'])
def test_results_dir_with_uri_characters(tmp_path, capsys, name):
    results = str(tmp_path / name)
    perf_fixtures.write_history(results, 4, scale_last={'mptcp-2paths-up': 0.9})
    r = call(perf_history, {'results_dir': results, 'backfill': True}, capsys=capsys)
    assert r['rc'] == 0 and r['runs_in_history'] == 4
    assert r['history_db'] == os.path.join(results, 'history.sqlite')
    assert os.listdir(str(tmp_path)) == [name]           # no stray database beside it
    # the read-only opener finds the same file
    r = call(perf_verdict, {'results_dir': results}, capsys=capsys)
    assert r['rc'] == 0 and r['counts']['pass'] + r['counts']['regression'] == 3
    r = call(perf_history, {'results_dir': results}, check_mode=True, capsys=capsys)
    assert r['rc'] == 0 and r['status'] == 'unchanged' and r['runs_in_history'] == 4


def test_history_of_another_schema_version_is_never_written(results, capsys):
    db = os.path.join(results, 'history.sqlite')
    call(perf_history, {'results_dir': results}, capsys=capsys)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with open(db, 'rb') as handle:
        before = handle.read()
    perf_fixtures.write_run(results, perf_fixtures.make_summary(perf_fixtures.run_id_for(7),
                                                                perf_fixtures.started_for(7)))
    r = call(perf_history, {'results_dir': results}, capsys=capsys)
    assert r['failed'] and 'history schema version 99' in r['msg'] and 'version 1' in r['msg']
    with open(db, 'rb') as handle:
        assert handle.read() == before


def test_history_fails_clearly(results, tmp_path, capsys):
    r = call(perf_history, {'results_dir': results, 'run': 'nosuchrun'}, capsys=capsys)
    assert r['failed'] and 'no run record' in r['msg'] and 'nosuchrun' in r['msg']
    bad = tmp_path / 'bad.json'
    bad.write_text(json.dumps({'run_id': 'x', 'tests': []}))
    r = call(perf_history, {'results_dir': results, 'run': str(bad)}, capsys=capsys)
    assert r['failed'] and "'started'" in r['msg']


def test_verdict_flags_the_drop_and_writes_its_own_files(results, capsys):
    call(perf_history, {'results_dir': results, 'backfill': True}, capsys=capsys)
    run_dir = os.path.join(results, perf_fixtures.run_id_for(6))
    summary_path = os.path.join(run_dir, 'summary.json')
    with open(summary_path, 'rb') as handle:
        before = handle.read()
    r = call(perf_verdict, {'results_dir': results}, check_mode=True, diff=True, capsys=capsys)
    assert r['changed'] is True
    assert not os.path.exists(os.path.join(run_dir, 'verdict.json'))
    assert r['diff']['after']['verdicts']['mptcp-2paths-up'] == 'regression'
    r = call(perf_verdict, {'results_dir': results}, capsys=capsys)
    assert r['changed'] is True
    assert [x['test'] for x in r['regressions']] == ['mptcp-2paths-up']
    assert r['counts']['regression'] == 1 and r['counts']['pass'] == 2
    assert 'mptcp-2paths-up' in r['message'] and r['baseline'] == 'last 10 valid runs'
    assert sorted(os.path.basename(p) for p in r['files_changed']) == ['junit.xml', 'verdict.json', 'verdict.md']
    with open(r['verdict_path']) as handle:
        verdict = json.load(handle)
    assert verdict['regressions'] == r['regressions']
    assert verdict['tests'][1]['outcome'] == 'regression'
    assert verdict['tests'][1]['baseline']['kind'] == 'last-valid'
    # the run record is written once: the verdict never rewrites it
    with open(summary_path, 'rb') as handle:
        assert handle.read() == before
    r = call(perf_verdict, {'results_dir': results}, capsys=capsys)
    assert r['changed'] is False
    # the judged record is still the same run for the history
    r = call(perf_history, {'results_dir': results}, capsys=capsys)
    assert r['changed'] is False


def test_record_regressions_judged_before_writing_match_the_verdict(results, capsys):
    """perf_results fills summary.json's regressions before writing it, from the history alone."""
    from ansible_collections.mptcp.lab.plugins.module_utils.perf import perf_baseline
    run_dir = os.path.join(results, perf_fixtures.run_id_for(6))
    with open(os.path.join(run_dir, 'summary.json')) as handle:
        summary = json.load(handle)
    db = os.path.join(results, 'history.sqlite')
    assert perf_baseline.judge_before_writing(summary, db) == []          # no history yet: no baseline
    call(perf_history, {'results_dir': results, 'backfill': True}, capsys=capsys)
    early = perf_baseline.judge_before_writing(summary, db)
    r = call(perf_verdict, {'results_dir': results}, capsys=capsys)
    assert [x['test'] for x in early] == ['mptcp-2paths-up'] and early == r['regressions']
    named = perf_baseline.judge_before_writing(summary, db, named=perf_fixtures.run_id_for(0))
    assert [x['test'] for x in named] == ['mptcp-2paths-up']
    assert perf_baseline.judge_before_writing(summary, db, named='no-such-run') == []


def test_verdict_named_baseline(results, capsys):
    call(perf_history, {'results_dir': results, 'backfill': True}, capsys=capsys)
    r = call(perf_verdict, {'results_dir': results, 'baseline': perf_fixtures.run_id_for(0)}, capsys=capsys)
    assert r['baseline'] == 'run %s' % perf_fixtures.run_id_for(0)
    assert [x['test'] for x in r['regressions']] == ['mptcp-2paths-up']
    r = call(perf_verdict, {'results_dir': results, 'baseline': 'kernel-a'}, capsys=capsys)
    assert r['failed'] and "'kernel-a' is not in the history" in r['msg']
    assert perf_fixtures.run_id_for(5) in r['msg'] and 'history.csv' in r['msg']


@pytest.mark.parametrize('args, text', [
    ({'baseline_runs': 0}, 'baseline_runs must be between 1 and 100'),
    ({'alpha': 1.5}, 'alpha must be between 0 and 1'),
    ({'min_effect_pct': -1}, 'min_effect_pct must be >= 0'),
    ({'baseline': '../x'}, 'baseline must be a run id'),
])
def test_verdict_validates_inputs(results, capsys, args, text):
    call(perf_history, {'results_dir': results}, capsys=capsys)
    r = call(perf_verdict, dict({'results_dir': results}, **args), capsys=capsys)
    assert r['failed'] and text in r['msg']


def test_verdict_needs_the_run_in_history_except_in_check_mode(results, capsys):
    r = call(perf_verdict, {'results_dir': results}, capsys=capsys)
    assert r['failed'] and 'perf_history' in r['msg']
    r = call(perf_verdict, {'results_dir': results}, check_mode=True, capsys=capsys)
    assert r['rc'] == 0 and r['counts']['no-baseline'] == 3


def _images(html):
    return re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)


def test_report_is_self_contained_and_idempotent(results, capsys):
    call(perf_history, {'results_dir': results, 'backfill': True}, capsys=capsys)
    call(perf_verdict, {'results_dir': results}, capsys=capsys)
    r = call(perf_report, {'results_dir': results}, check_mode=True, capsys=capsys)
    assert r['changed'] and not os.path.exists(r['path'])
    r = call(perf_report, {'results_dir': results}, capsys=capsys)
    assert r['changed'] and r['path'] == os.path.join(results, perf_fixtures.run_id_for(6), 'report.html')
    with open(r['path']) as handle:
        html = handle.read()
    images = _images(html)
    assert len(images) == 3            # throughput, per-path split, history
    for data in images:
        assert base64.b64decode(data)[:8] == b'\x89PNG\r\n\x1a\n'
    assert '<script' not in html.lower()
    assert not re.search(r'(src|href)="(https?:|//|file:)', html)
    for text in ('Throughput: TCP vs MPTCP', 'MPTCP per-path split', 'History', 'Metadata',
                 'mptcp-2paths-up', '6.18.0-mlab', 'regression', 'iperf3'):
        assert text in html
    again = call(perf_report, {'results_dir': results}, capsys=capsys)
    assert again['changed'] is False and again['files_changed'] == []


def test_report_diff_shows_the_files_before_and_after(results, capsys):
    call(perf_history, {'results_dir': results, 'backfill': True}, capsys=capsys)
    call(perf_verdict, {'results_dir': results}, capsys=capsys)
    first = call(perf_report, {'results_dir': results}, diff=True, capsys=capsys)
    assert first['diff']['before'][first['path']] is None          # the report did not exist
    assert first['diff']['after'][first['path']]
    with open(first['path'], 'a') as handle:                       # someone edits the report
        handle.write('<!-- edited -->')
    second = call(perf_report, {'results_dir': results}, diff=True, capsys=capsys)
    assert second['files_changed'] == [first['path']]
    assert second['diff']['before'][first['path']] != second['diff']['after'][first['path']]
    assert second['diff']['after'][first['path']] == first['diff']['after'][first['path']]


def test_report_export_for_change_point_tools(results, capsys):
    call(perf_history, {'results_dir': results, 'backfill': True}, capsys=capsys)
    call(perf_verdict, {'results_dir': results}, capsys=capsys)
    r = call(perf_report, {'results_dir': results}, capsys=capsys)
    with open(r['csv_path']) as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 21
    last = dict((row['test'], row['verdict']) for row in rows if row['run_id'] == perf_fixtures.run_id_for(6))
    assert last == {'tcp-1path-up': 'pass', 'mptcp-2paths-up': 'regression', 'mptcp-2paths-down': 'pass'}
    per_test = [p for p in r['csv_files'] if p.endswith('.csv')]
    assert len(per_test) == 3
    for path in per_test:
        with open(path) as handle:
            rows = list(csv.DictReader(handle))
        assert len(rows) == 7
        times = [row['time'] for row in rows]
        assert times == sorted(times)
        for row in rows:       # every metric cell parses as a number (Otava's rule)
            float(row['throughput_median_mbps'])
            float(row['throughput_cv'])
    assert os.path.join(results, 'history', 'otava.yaml') in r['csv_files']


def test_report_escapes_names(tmp_path, capsys):
    d = str(tmp_path / 'r')
    tests = [{'name': '<b>evil</b>&"', 'protocol': 'tcp', 'paths': 1, 'mbps': 40}]
    perf_fixtures.write_run(d, perf_fixtures.make_summary('r1', '2026-11-25T08:00:00Z', tests=tests))
    call(perf_history, {'results_dir': d}, capsys=capsys)
    r = call(perf_report, {'results_dir': d}, capsys=capsys)
    with open(r['path']) as handle:
        html = handle.read()
    assert '<b>evil</b>' not in html and '&lt;b&gt;evil&lt;/b&gt;&amp;&quot;' in html


def test_report_validates_history_limit(results, capsys):
    r = call(perf_report, {'results_dir': results, 'history_limit': 1}, capsys=capsys)
    assert r['failed'] and 'history_limit' in r['msg']


def test_check_mode_without_a_run_record_predicts_nothing(tmp_path, capsys):
    """A check-mode perf run writes no record: the three steps say so and change nothing."""
    results = str(tmp_path / 'results')
    os.makedirs(results)
    args = {'results_dir': results, 'run': 'not-written-yet'}
    for module in (perf_history, perf_verdict, perf_report):
        r = call(module, args, check_mode=True, capsys=capsys)
        assert r['rc'] == 0 and r['changed'] is False and 'check mode' in r['msg']
        r = call(module, args, capsys=capsys)
        assert r['failed'] and 'no run record' in r['msg']
    assert os.listdir(results) == []


def test_tags_pick_the_baseline_and_show_in_the_csv_and_report(tmp_path, capsys):
    """Runs 0-3 on kernel A at 90%, runs 4-7 on kernel B at 100%; run 8 on B at 90%."""
    results = str(tmp_path / 'results')
    for i in range(9):
        kernel = 'a' if i < 4 else 'b'
        scale = 0.9 if kernel == 'a' or i == 8 else 1.0
        summary = perf_fixtures.make_summary(perf_fixtures.run_id_for(i), perf_fixtures.started_for(i),
                                             scale=dict((t['name'], scale) for t in perf_fixtures.DEFAULT_TESTS))
        summary = dict(perf_record.migrate(summary), tags={'kernel': kernel}, notes={'i': i})
        perf_fixtures.write_run(results, summary)
    assert call(perf_history, {'results_dir': results, 'backfill': True}, capsys=capsys)['rc'] == 0
    # against the last runs whatever their tag: 9.5% slower than kernel B's runs
    plain = call(perf_verdict, {'results_dir': results, 'baseline_runs': 3}, capsys=capsys)
    assert plain['counts']['regression'] == 3
    # against kernel A's runs: the same speed
    tagged = call(perf_verdict, {'results_dir': results, 'baseline_runs': 3, 'baseline_tag': 'kernel=a'},
                  capsys=capsys)
    assert tagged['rc'] == 0 and tagged['counts']['regression'] == 0 and tagged['counts']['pass'] == 3
    assert tagged['baseline'] == 'last 3 valid runs tagged kernel=a'
    with open(tagged['verdict_path']) as handle:
        verdict = json.load(handle)
    assert verdict['baseline_tag'] == 'kernel=a'
    assert verdict['tests'][0]['baseline']['runs'] == [perf_fixtures.run_id_for(i) for i in (3, 2, 1)]
    # an unknown tag has no baseline
    none = call(perf_verdict, {'results_dir': results, 'baseline_tag': 'kernel:c'}, capsys=capsys)
    assert none['counts']['no-baseline'] == 3
    r = call(perf_verdict, {'results_dir': results, 'baseline_tag': 'kernel', 'preflight': True}, capsys=capsys)
    assert r['failed'] and 'baseline_tag: a tag is key:value' in r['msg']
    r = call(perf_verdict, {'results_dir': results, 'tags': ['ok:1', 'bad tag'], 'preflight': True}, capsys=capsys)
    assert r['failed'] and 'tags[1]: a tag is key:value' in r['msg']
    r = call(perf_verdict, {'results_dir': results, 'baseline': perf_fixtures.run_id_for(0),
                            'baseline_tag': 'kernel=a'}, capsys=capsys)
    assert r['failed'] and 'not both' in r['msg']
    report = call(perf_report, {'results_dir': results}, capsys=capsys)
    with open(report['csv_path']) as handle:
        rows = list(csv.DictReader(handle))
    assert set(row['tags'] for row in rows) == {'kernel=a', 'kernel=b'}
    with open(report['path']) as handle:
        html = handle.read()
    assert '<span class="tag">kernel=b</span>' in html and 'i: 8' in html


# ---- every metric: verdict and report (issue #13) ------------------------------

@pytest.fixture
def metric_results(tmp_path):
    """Eight runs of shaped, unshaped and request/response tests with their time series; the
    last with 12% more CPU per GB (MPTCP unshaped) and a 30% higher p99 latency."""
    d = str(tmp_path / 'results')
    tests = perf_fixtures.DEFAULT_TESTS[:2] + perf_fixtures.METRIC_TESTS
    for i in range(8):
        scale = ({'mptcp-unshaped-up': {'cpu_s_per_gb': 1.12}, 'mptcp-rr': {'latency_p99_us': 1.3}}
                 if i == 7 else None)
        summary = perf_fixtures.make_summary(perf_fixtures.run_id_for(i), perf_fixtures.started_for(i),
                                             tests=tests, scale=scale)
        perf_fixtures.write_run(d, summary)
        perf_fixtures.write_timeseries(d, summary)
    return d


def test_verdict_per_metric_through_the_module(metric_results, capsys):
    call(perf_history, {'results_dir': metric_results, 'backfill': True}, capsys=capsys)
    r = call(perf_verdict, {'results_dir': metric_results}, diff=True, capsys=capsys)
    assert sorted((x['test'], x['metric']) for x in r['regressions']) == [
        ('mptcp-rr', 'latency_p99_us'), ('mptcp-unshaped-up', 'cpu_s_per_gb')]
    assert r['counts'] == {'pass': 6, 'regression': 2, 'improvement': 0, 'no-baseline': 0, 'invalid': 0}
    assert 'mptcp-unshaped-up: regression, cpu_s_per_gb +1' in '\n'.join(r['lines'])
    assert r['diff']['after']['verdicts']['mptcp-rr'] == 'regression'
    assert r['diff']['after']['metrics']['mptcp-rr rr_tps'] == 'pass'
    assert 'cpu_s_per_gb' in r['message'] and 's/GB' in r['message']
    # its own minimum effect: 15% for CPU cost clears it, and the verdict says so
    r = call(perf_verdict, {'results_dir': metric_results, 'metric_min_effect': {'cpu_s_per_gb': 15}},
             diff=True, capsys=capsys)
    assert [(x['test'], x['metric']) for x in r['regressions']] == [('mptcp-rr', 'latency_p99_us')]
    assert r['changed'] and r['diff']['before']['metrics']['mptcp-unshaped-up cpu_s_per_gb'] == 'regression'
    with open(r['verdict_path']) as handle:
        verdict = json.load(handle)
    assert verdict['metric_min_effect']['cpu_s_per_gb'] == 15
    # only the metrics asked for
    r = call(perf_verdict, {'results_dir': metric_results, 'metrics': ['retransmits']}, capsys=capsys)
    assert set(v['metric'] for v in r['verdicts']) == {'retransmits'}
    assert sum(r['counts'].values()) == 2           # the two tests that count retransmissions


@pytest.mark.parametrize('args, text', [
    ({'metrics': ['tput']}, 'value of metrics must be one or more of: throughput_mbps'),
    ({'metric_min_effect': {'cpu': 3}}, "metric_min_effect: 'cpu' is not a metric"),
    ({'metric_min_effect': {'rr_tps': 'x'}}, 'metric_min_effect.rr_tps must be a finite number'),
])
def test_verdict_validates_metric_options(metric_results, capsys, args, text):
    r = call(perf_verdict, dict({'results_dir': metric_results, 'preflight': True}, **args), capsys=capsys)
    assert r['failed'] and text in r['msg']


def test_report_shows_every_metric_and_the_time_series(metric_results, capsys):
    call(perf_history, {'results_dir': metric_results, 'backfill': True}, capsys=capsys)
    call(perf_verdict, {'results_dir': metric_results}, capsys=capsys)
    r = call(perf_report, {'results_dir': metric_results}, capsys=capsys)
    assert r['rc'] == 0, r
    with open(r['path']) as handle:
        html = handle.read()
    # throughput, other metrics, per-path split, a time series per MPTCP test with one (2), history
    assert len(_images(html)) == 6
    for text in ('Other metrics', 'Time series (MPTCP tests)', 'raw/016-mptcp-unshaped-up-rep', 'cwnd',
                 'mptcp-2paths-up</b>: no time series (the record names no raw files of its runs)',
                 'recorded, not judged', 'latency_p99_us', 's/GB', 'transactions/s',
                 'cpu_s_per_gb 2%', 'latency_p99_us 10%', 'CPU cost per host', 'other share'):
        assert text in html, text
    # a row per test and metric: the verdict table has them all, a verdict on each judged one
    table = html[html.index('<table class="verdict">'):]
    table = table[:table.index('</table>')]
    assert table.count('<tr>') == 1 + 2 + 3 + 3 + 4
    assert table.count('>regression</span>') == 2 and table.count('>pass</span>') == 6
    assert '+12.' in table or '+11.' in table or '+13.' in table
    again = call(perf_report, {'results_dir': metric_results}, capsys=capsys)
    assert again['changed'] is False


def test_report_passes_over_a_broken_time_series(metric_results, capsys):
    run_dir = os.path.join(metric_results, perf_fixtures.run_id_for(7))
    raw = os.path.join(run_dir, 'raw')
    for name in os.listdir(raw):
        if 'mptcp-rr' in name:
            with open(os.path.join(raw, name), 'w') as handle:
                handle.write('{"t": [1, 2')                   # cut short
        elif 'mptcp-unshaped' in name and not name.endswith('rep1.timeseries.json'):
            os.unlink(os.path.join(raw, name))
    call(perf_history, {'results_dir': metric_results, 'backfill': True}, capsys=capsys)
    r = call(perf_report, {'results_dir': metric_results}, capsys=capsys)
    assert r['rc'] == 0, r
    with open(r['path']) as handle:
        html = handle.read()
    assert 'mptcp-rr</b>: no time series (' in html and 'is not JSON' in html
    assert 'raw/016-mptcp-unshaped-up-rep1.timeseries.json' in html     # the one left
    assert len(_images(html)) == 5


def test_export_has_every_metric_in_its_direction(metric_results, capsys):
    import yaml
    call(perf_history, {'results_dir': metric_results, 'backfill': True}, capsys=capsys)
    r = call(perf_report, {'results_dir': metric_results}, capsys=capsys)
    with open(r['csv_path']) as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 8 * 5
    rr = [row for row in rows if row['test'] == 'mptcp-rr']
    assert rr[0]['throughput_median_mbps'] == '' and float(rr[0]['rr_tps_median']) > 10000
    assert float(rr[0]['latency_p99_us_cv']) > 0
    cpu = [float(row['cpu_s_per_gb_median']) for row in rows if row['test'] == 'mptcp-unshaped-up']
    assert cpu[-1] > 1.08 * cpu[0]
    with open(os.path.join(metric_results, 'history', 'otava.yaml')) as handle:
        otava = yaml.safe_load(handle)
    by_name = dict((name.rsplit('-', 1)[0], test) for name, test in otava['tests'].items())
    assert by_name['mptcp-unshaped-up']['metrics']['cpu_s_per_gb_median']['direction'] == -1
    assert by_name['mptcp-rr']['metrics']['rr_tps_median']['direction'] == 1
    assert by_name['mptcp-rr']['metrics']['latency_p99_us_median']['direction'] == -1
    assert 'throughput_median_mbps' not in by_name['mptcp-rr']['metrics']
    for test in otava['tests'].values():          # every metric column of every row is a number
        with open(os.path.join(metric_results, 'history', test['file'])) as handle:
            for row in csv.DictReader(handle):
                for column in test['metrics']:
                    float(row[column])


# ---- tests of kind upstream (suites in the upstream harness's format) ----------------------

UPSTREAM_PRIMARY = 'upstream.client-recv-primary-link'


@pytest.fixture
def upstream_results(tmp_path):
    """Seven runs of a normal test and a test of kind upstream (one repetition per run, the
    suite's alpha 0.3 and all its history: 2/7 = 0.29 is the smallest p of one value against six); the last lost 5 % on the primary link."""
    d = str(tmp_path / 'results')
    for i in range(7):
        summary = perf_fixtures.make_upstream_summary(
            perf_fixtures.run_id_for(i), perf_fixtures.started_for(i), noise=0.001, alpha=0.3, history_max_n=0,
            scale={UPSTREAM_PRIMARY: 0.95} if i == 6 else None)
        perf_fixtures.write_run(d, summary)
    return d


def test_an_upstream_test_through_history_verdict_and_report(upstream_results, capsys):
    import yaml
    r = call(perf_history, {'results_dir': upstream_results, 'backfill': True}, capsys=capsys)
    assert r['rc'] == 0 and r['runs_in_history'] == 7
    assert [t['name'] for t in r['tests']] == ['tcp-1path-up', 'Test 1']
    # the run's options name neither the suite's metrics nor its alpha: the suite's own apply
    r = call(perf_verdict, {'results_dir': upstream_results, 'metrics': ['throughput_mbps'], 'baseline_runs': 3},
             capsys=capsys)
    assert r['rc'] == 0, r
    assert [(x['test'], x['metric']) for x in r['regressions']] == [('Test 1', UPSTREAM_PRIMARY)]
    assert re.search(r'Test 1: upstream\.client-recv-primary-link -[45]\.[0-9]+% \([0-9.]+ -> [0-9.]+ value, '
                     r'p = [0-9.]+e-[0-9]+, higher is better\)', r['message']), r['message']
    with open(r['verdict_path']) as handle:
        verdict = json.load(handle)
    entry = [t for t in verdict['tests'] if t['metric'] == UPSTREAM_PRIMARY][0]
    assert entry['alpha'] == 0.3 and entry['baseline']['history_max_n'] == 0 and entry['baseline']['n'] == 6
    assert verdict['metrics'] == ['throughput_mbps', UPSTREAM_PRIMARY, 'upstream.client-recv-second-link']
    with open(r['markdown_path']) as handle:
        assert '| Test 1 | upstream | 2 | %s | **REGRESSION** |' % UPSTREAM_PRIMARY in handle.read()
    # (junit.xml and summary.json beside it are checked by the session's schema and JUnit checks)
    r = call(perf_report, {'results_dir': upstream_results}, capsys=capsys)
    assert r['rc'] == 0, r
    with open(r['path']) as handle:
        html = handle.read()
    assert '<h2 id="upstream">' in html
    # a history panel per judged metric of the upstream test, beside the normal test's throughput
    history = html[html.index('<h2 id="history">'):]
    assert history.count('<code>upstream.client-recv-') == 2
    with open(r['csv_path']) as handle:
        rows = list(csv.DictReader(handle))
    up = [row for row in rows if row['test'] == 'Test 1']
    assert len(up) == 7 and up[0]['protocol'] == '' and up[0]['streams'] == ''
    assert float(up[-1]['%s_median' % UPSTREAM_PRIMARY]) < 0.96 * float(up[0]['%s_median' % UPSTREAM_PRIMARY])
    with open(os.path.join(upstream_results, 'history', 'otava.yaml')) as handle:
        otava = yaml.safe_load(handle)
    test = [t for name, t in otava['tests'].items() if name.startswith('Test-1-')][0]
    assert sorted(test['metrics']) == ['path1_median_mbps', 'path2_median_mbps', '%s_median' % UPSTREAM_PRIMARY,
                                       'upstream.client-recv-second-link_median']
    assert test['metrics']['%s_median' % UPSTREAM_PRIMARY]['direction'] == 1
    with open(os.path.join(upstream_results, 'history', test['file'])) as handle:
        for row in csv.DictReader(handle):
            for column in test['metrics']:
                float(row[column])
