# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Baseline selection and the verdict of a run against it.

The baseline of a test is, by default, the pooled repetition values of its
last N valid runs that started before the current one; or, when a run id is
named, that run's values of the same test (same identity).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.mptcp.lab.plugins.module_utils.perf_record import METRIC, PerfError
from ansible_collections.mptcp.lab.plugins.module_utils.perf_stats import VERDICTS, compare, median


class BaselineError(PerfError):
    """The requested baseline cannot be used."""


def unknown_run_message(store, run_id, results_dir):
    recent = store.recent_runs(10)
    listing = ', '.join('%s (%s)' % (r['run_id'], r['started']) for r in recent) or 'none yet'
    return ('perf_baseline: run %r is not in the history (%s). Run ids are the directory names '
            'under %s, and the run_id column of history.csv there. Most recent runs: %s'
            % (run_id, store.path, results_dir, listing))


MIN_BASELINE_RUNS = 3


def baseline_for(store, run_id, started_ts, test_key, named=None, last_n=10, tag=None):
    """(values, description) of the baseline of one test of a run.

    The description holds 'run_values' (the values of each baseline run),
    which the verdict uses to estimate the lab's run-to-run noise.
    """
    if named:
        res = store.result(named, test_key)
        if res is None:
            return [], {'kind': 'run', 'runs': [named], 'n': 0, 'median': None,
                        'note': 'run %s has no test with this identity' % named}
        if not res['valid']:
            return [], {'kind': 'run', 'runs': [named], 'n': 0, 'median': None,
                        'note': 'this test was invalid in run %s: %s' % (named, res['invalid_reason'])}
        values = list(res['values'])
        return values, {'kind': 'run', 'runs': [named], 'n': len(values),
                        'median': median(values) if values else None, 'run_values': None}
    rows = store.last_valid(test_key, started_ts, run_id, last_n, tag=tag)
    values = []
    for row in rows:
        values.extend(row['values'])
    description = {'kind': 'last-valid', 'runs': [r['run_id'] for r in rows], 'n': len(values),
                   'median': median(values) if values else None,
                   'run_values': [r['values'] for r in rows]}
    if rows and len(rows) < min(MIN_BASELINE_RUNS, last_n):
        description['note'] = ('only %d earlier valid run(s) of this test; %d are needed to '
                               'estimate the run-to-run noise' % (len(rows), min(MIN_BASELINE_RUNS, last_n)))
        return [], description
    return values, description


def _round(value, digits):
    return None if value is None else round(value, digits)


def evaluate(store, record, named=None, last_n=10, alpha=0.05, min_effect_pct=1.5, tag=None):
    """The verdict of every test of a normalized run record.

    Returns {test_key: {...compare() result..., 'name', 'baseline'}} in test order.
    """
    run = record['run']
    if named is not None and named == run['run_id']:
        raise BaselineError('perf_baseline: run %r cannot be its own baseline' % named)
    verdicts = {}
    for res in record['results']:
        name = res['identity']['name']
        if not res['valid']:
            verdict = {'verdict': 'invalid', 'reason': res['invalid_reason'], 'baseline_median': None,
                       'current_median': res['median'], 'change_pct': None, 'p_value': None,
                       'baseline': None}
        elif not res['values']:
            # a request/response test (kind: latency) has no throughput to judge
            verdict = {'verdict': 'no-baseline', 'reason': 'no throughput to judge (a request/response test)',
                       'baseline_median': None, 'current_median': None, 'change_pct': None, 'p_value': None,
                       'baseline': None}
        else:
            values, description = baseline_for(store, run['run_id'], run['started_ts'],
                                               res['test_key'], named=named, last_n=last_n, tag=tag)
            if tag is not None:
                description['tag'] = '%s=%s' % tag
            runs = description.pop('run_values')
            verdict = compare(values, res['values'], alpha=alpha, min_effect_pct=min_effect_pct,
                              baseline_runs=runs if runs and len(runs) >= 2 else None)
            if description.get('note') and verdict['verdict'] == 'no-baseline':
                verdict['reason'] = description['note']
            if verdict.get('guard_pct') is not None:
                description['noise_pct'] = round(verdict['guard_pct'], 3)
            verdict['baseline'] = description
        verdict['name'] = name
        verdict['test_key'] = res['test_key']
        verdict['baseline_median'] = _round(verdict.get('baseline_median'), 3)
        verdict['current_median'] = _round(verdict.get('current_median'), 3)
        verdict['change_pct'] = _round(verdict.get('change_pct'), 2)
        verdict['p_value'] = None if verdict.get('p_value') is None else float('%.4g' % verdict['p_value'])
        if verdict['verdict'] not in VERDICTS:  # pragma: no cover - programming error
            raise ValueError('unknown verdict %r' % verdict['verdict'])
        verdicts[res['test_key']] = verdict
    return verdicts


def judge_before_writing(summary, db_path, named=None, last_n=10, alpha=0.05, min_effect_pct=1.5, tag=None):
    """The regressions of a run record not yet written, for its ``regressions`` field.

    Judging only reads the history: the baseline of a test is made of runs that
    started before this one, so the run itself need not be in the store, and
    mptcp.lab.perf_verdict later reaches the same verdicts from the same history.
    No history yet (a first run) means no baseline: no regressions.
    """
    import os
    from ansible_collections.mptcp.lab.plugins.module_utils.perf_record import normalize
    from ansible_collections.mptcp.lab.plugins.module_utils.perf_store import Store
    if not os.path.exists(db_path):
        return []
    store = Store(db_path, readonly=True)
    try:
        if named and not store.has_run(named):
            return []
        verdicts = evaluate(store, normalize(summary), named=named, last_n=last_n, alpha=alpha,
                            min_effect_pct=min_effect_pct, tag=tag)
    finally:
        store.close()
    return entries(verdicts, 'regression')


def entries(verdicts, kind):
    """The contract's regressions (or improvements) list."""
    return [{'test': v['name'], 'metric': METRIC, 'baseline_median': v['baseline_median'],
             'current_median': v['current_median'], 'change_pct': v['change_pct'],
             'p_value': v['p_value']}
            for v in verdicts.values() if v['verdict'] == kind]


def describe_baseline(named, last_n, tag=None):
    if named:
        return 'run %s' % named
    if tag is not None:
        return 'last %d valid runs tagged %s=%s' % ((last_n,) + tuple(tag))
    return 'last %d valid runs' % last_n


VERDICT_VERSION = 1
METHOD = ('exact two-sided Mann-Whitney U on repetition values, minimum effect size, '
          'and the run-to-run noise of the baseline runs')


def verdict_document(record, verdicts, named, last_n, alpha, min_effect_pct, tag=None):
    """verdict.json: the judgement of a run, beside (never inside) its summary.json.

    Per test its ``outcome`` (pass, regression, improvement, no-baseline,
    invalid): a distinct name from the record's ``valid``, which is about
    the measurement, not the comparison.
    """
    counts = dict((k, 0) for k in VERDICTS)
    tests = []
    for res in record['results']:
        v = verdicts[res['test_key']]
        counts[v['verdict']] += 1
        tests.append({'name': v['name'], 'test_key': res['test_key'], 'metric': METRIC,
                      'outcome': v['verdict'], 'reason': v['reason'], 'baseline': v.get('baseline'),
                      'baseline_median': v['baseline_median'], 'current_median': v['current_median'],
                      'change_pct': v['change_pct'], 'p_value': v['p_value']})
    return {
        'verdict_version': VERDICT_VERSION,
        'run_id': record['run']['run_id'],
        'baseline': describe_baseline(named, last_n, tag),
        'baseline_run': named or None,
        'baseline_tag': '%s=%s' % tag if tag else None,
        'baseline_runs': last_n,
        'alpha': alpha,
        'min_effect_pct': min_effect_pct,
        'test': METHOD,
        'counts': counts,
        'tests': tests,
        'regressions': entries(verdicts, 'regression'),
        'improvements': entries(verdicts, 'improvement'),
    }


def judged_view(summary, verdict):
    """The record with its verdict beside each test, in memory, for the report.

    Never written: summary.json stays as the record step wrote it. Tests get
    ``outcome``, ``outcome_reason``, ``baseline``, ``change_pct``,
    ``p_value`` and ``test_key``; the run gets ``regressions``,
    ``improvements`` and ``judgement`` (the verdict's options and counts).
    """
    view = dict(summary)
    if not verdict:
        return view
    by_name = dict((t['name'], t) for t in verdict.get('tests') or [])
    tests = []
    for test in summary.get('tests') or []:
        test = dict(test)
        v = by_name.get(test.get('name'))
        if v:
            test.update(test_key=v['test_key'], outcome=v['outcome'], outcome_reason=v['reason'],
                        baseline=v.get('baseline'), change_pct=v['change_pct'], p_value=v['p_value'])
        tests.append(test)
    view['tests'] = tests
    view['regressions'] = verdict.get('regressions') or []
    view['improvements'] = verdict.get('improvements') or []
    view['judgement'] = dict((k, verdict.get(k)) for k in (
        'baseline', 'baseline_run', 'baseline_tag', 'baseline_runs', 'alpha', 'min_effect_pct', 'test',
        'counts'))
    return view


def regression_message(regressions, run_id, baseline_text):
    lines = ['%d regression(s) in run %s against %s:' % (len(regressions), run_id, baseline_text)]
    for r in regressions:
        lines.append('  - %s: %s %.2f%% (%.2f -> %.2f Mbit/s, p = %.3g)'
                     % (r['test'], r['metric'], r['change_pct'], r['baseline_median'],
                        r['current_median'], r['p_value']))
    return '\n'.join(lines)
