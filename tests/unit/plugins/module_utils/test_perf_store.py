"""The SQLite history, baseline selection and CSV export (on a temporary database)."""

import csv
import io
import os
import sys

import pytest
import yaml

from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_baseline import (
    BaselineError, evaluate, judged_view, regression_message, verdict_document)
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_record import normalize
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_store import (
    EmptyStore, Store, StoreError, csv_text, open_readonly, otava_config, shaping_text)

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..', '..'))
import perf_fixtures  # noqa: E402  pylint: disable=wrong-import-position


def run(index, **kwargs):
    return perf_fixtures.make_summary(perf_fixtures.run_id_for(index), perf_fixtures.started_for(index),
                                      **kwargs)


@pytest.fixture
def store(tmp_path):
    s = Store(str(tmp_path / 'history.sqlite'))
    yield s
    s.close()


def test_ingest_is_idempotent(store):
    record = normalize(run(0))
    assert store.ingest(record) == 'added'
    assert store.ingest(record) == 'unchanged'
    assert store.ingest(normalize(run(0, seed=3))) == 'replaced'
    assert store.count_runs() == 1
    assert len(store.run_results(perf_fixtures.run_id_for(0))) == 3
    assert store.integrity_check() == 'ok'


def test_store_uses_wal_and_a_schema_version(store, tmp_path):
    assert store.conn.execute('PRAGMA journal_mode').fetchone()[0] == 'wal'
    assert store.schema_version() == 1
    store.conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match='schema version 99'):
        Store(str(tmp_path / 'history.sqlite'), readonly=True)


def test_failed_transaction_leaves_nothing(store):
    def boom(conn):
        raise RuntimeError('killed half-way')
    with pytest.raises(RuntimeError):
        store.ingest(normalize(run(0)), before_commit=boom)
    assert store.count_runs() == 0
    assert store.conn.execute('SELECT COUNT(*) FROM results').fetchone()[0] == 0


def test_last_valid_skips_invalid_later_and_current_runs(store):
    for i in range(8):
        tests = None
        if i == 3:   # run 3: one repetition of every test failed -> invalid
            tests = [dict(t, fail=[1]) for t in perf_fixtures.DEFAULT_TESTS]
        store.ingest(normalize(run(i, tests=tests)))
    key = normalize(run(0))['results'][1]['test_key']
    current = normalize(run(6))
    rows = store.last_valid(key, current['run']['started_ts'], current['run']['run_id'], 3)
    assert [r['run_id'] for r in rows] == [perf_fixtures.run_id_for(i) for i in (5, 4, 2)]
    assert all(r['valid'] and len(r['values']) == 5 for r in rows)
    history = store.history(key, until_ts=current['run']['started_ts'])
    assert [h['run_id'] for h in history] == [perf_fixtures.run_id_for(i) for i in range(7)]
    assert history[3]['valid'] is False and 'failed' in history[3]['invalid_reason']


def test_evaluate_default_and_named_baselines(store):
    for i in range(6):
        store.ingest(normalize(run(i)))
    slow = normalize(run(6, scale={'mptcp-2paths-up': 0.97}))
    store.ingest(slow)
    verdicts = evaluate(store, slow, last_n=5)
    by_name = dict((v['name'], v) for v in verdicts.values())
    assert by_name['mptcp-2paths-up']['verdict'] == 'regression'
    assert by_name['mptcp-2paths-up']['baseline']['runs'] == [perf_fixtures.run_id_for(i)
                                                              for i in (5, 4, 3, 2, 1)]
    assert by_name['mptcp-2paths-up']['baseline']['n'] == 25
    assert by_name['tcp-1path-up']['verdict'] == 'pass'
    named = evaluate(store, slow, named=perf_fixtures.run_id_for(2))
    named_up = [v for v in named.values() if v['name'] == 'mptcp-2paths-up'][0]
    assert named_up['verdict'] == 'regression' and named_up['baseline']['n'] == 5
    with pytest.raises(BaselineError, match='own baseline'):
        evaluate(store, slow, named=slow['run']['run_id'])


def test_first_run_has_no_baseline(store):
    record = normalize(run(0))
    store.ingest(record)
    assert set(v['verdict'] for v in evaluate(store, record).values()) == {'no-baseline'}


def test_verdict_document_has_the_contract_fields(store):
    for i in range(6):
        store.ingest(normalize(run(i)))
    summary = run(6, scale={'mptcp-2paths-up': 0.97, 'mptcp-2paths-down': 1.04})
    record = normalize(summary)
    verdicts = evaluate(store, record)
    document = verdict_document(record, verdicts, None, 5, 0.05, 1.5)
    assert [r['test'] for r in document['regressions']] == ['mptcp-2paths-up']
    reg = document['regressions'][0]
    assert sorted(reg) == ['baseline_median', 'change_pct', 'current_median', 'metric', 'p_value', 'test']
    assert reg['metric'] == 'throughput_mbps' and reg['change_pct'] < -1.5 and reg['p_value'] < 0.05
    assert [r['test'] for r in document['improvements']] == ['mptcp-2paths-down']
    assert [t['outcome'] for t in document['tests']] == ['pass', 'regression', 'improvement']
    assert document['counts'] == {'pass': 1, 'regression': 1, 'improvement': 1,
                                  'no-baseline': 0, 'invalid': 0}
    assert document['run_id'] == record['run']['run_id'] and document['baseline'] == 'last 5 valid runs'
    message = regression_message(document['regressions'], '20261125T080600Z', 'last 5 valid runs')
    assert 'mptcp-2paths-up' in message and 'throughput_mbps' in message
    # the report's view puts the verdict beside each test, and leaves the record alone
    view = judged_view(summary, document)
    assert summary.get('judgement') is None and 'outcome' not in summary['tests'][1]
    assert [t['outcome'] for t in view['tests']] == ['pass', 'regression', 'improvement']
    assert view['regressions'] == document['regressions']
    assert view['judgement']['counts'] == document['counts']
    # the view read as a record is the same record (identity and figures untouched)
    assert normalize(view)['content_hash'] == record['content_hash']


def test_set_verdicts_reports_changes(store):
    record = normalize(run(0))
    store.ingest(record)
    verdicts = evaluate(store, record)
    assert store.set_verdicts(record['run']['run_id'], verdicts) is True
    assert store.set_verdicts(record['run']['run_id'], verdicts) is False
    assert store.run_results(record['run']['run_id'])[0]['verdict'] == 'no-baseline'


def test_csv_export_columns_and_rows(store):
    for i in range(3):
        store.ingest(normalize(run(i)))
    text = csv_text(store.all_results())
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 9
    first = rows[0]
    assert first['time'] == '2026-11-25 08:00:00 +0000'
    assert first['run_id'] == '20261125T080000Z' and first['kernel'] == '6.18.0-mlab'
    assert first['valid'] == '1' and first['repetitions'] == '5'
    mptcp = [r for r in rows if r['test'] == 'mptcp-2paths-up'][0]
    assert mptcp['shaping'] == '50mbit/q100;50mbit/q100'
    assert float(mptcp['path1_median_mbps']) + float(mptcp['path2_median_mbps']) == pytest.approx(
        float(mptcp['throughput_median_mbps']), rel=0.02)


def test_otava_config_is_valid_yaml():
    config = yaml.safe_load(otava_config([('mptcp-up-1234abcd', 'mptcp-up-1234abcd.csv', 2)]))
    test = config['tests']['mptcp-up-1234abcd']
    assert test['type'] == 'csv' and test['time_column'] == 'time'
    assert test['file'] == 'mptcp-up-1234abcd.csv'
    assert set(test['metrics']) == {'throughput_median_mbps', 'throughput_cv', 'path1_median_mbps',
                                    'path2_median_mbps'}
    assert test['metrics']['throughput_cv']['direction'] == -1
    assert 'run_id' in test['attributes'] and 'kernel' in test['attributes']


def test_shaping_text():
    assert shaping_text([{'rate_mbit': 50, 'delay_ms': 10}, {'rate_mbit': 20, 'loss_pct': 0.5}]) == \
        '50mbit/10ms;20mbit/0.5loss'
    assert shaping_text(None) == ''
    assert shaping_text([{'rate_mbit': None}, {'rate_mbit': 50}]) == 'unshaped;50mbit'


def test_open_readonly_in_check_mode(tmp_path):
    assert isinstance(open_readonly(str(tmp_path / 'none.sqlite'), True, 'x'), EmptyStore)
    with pytest.raises(StoreError, match='perf_history'):
        open_readonly(str(tmp_path / 'none.sqlite'), False, 'x')
