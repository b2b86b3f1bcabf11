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

import collections
import math

from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_record import (
    METRIC, PerfError, default_judged, format_time, is_dynamic_metric, metric_info, metric_table)
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_stats import VERDICTS, compare, median

MAX_MIN_EFFECT_PCT = 1000
# How a test's outcome is read from its metrics' outcomes: the first found wins.
OUTCOME_ORDER = ('invalid', 'regression', 'improvement', 'pass', 'no-baseline')


class BaselineError(PerfError):
    """The requested baseline cannot be used."""


def judged_metrics(metrics=None):
    """The metrics to judge, table order: ``metrics`` (names) or METRICS' default set.

    The metrics a suite names (upstream.<slug>) are not chosen here: they are
    judged for every test that measured them (test_cases). Raises BaselineError
    naming the field and the metrics it knows.
    """
    table = metric_table()
    if not metrics:
        return default_judged()
    if isinstance(metrics, str):
        metrics = [m.strip() for m in metrics.split(',') if m.strip()]
    named = [m for m in metrics if is_dynamic_metric(m)]
    if named:
        raise BaselineError('metrics: %s %s named by a suite (upstream.*): such metrics are judged for every '
                            'test that measured them; metrics chooses among %s'
                            % (', '.join(repr(m) for m in named), 'is' if len(named) == 1 else 'are',
                               ', '.join(table)))
    unknown = [m for m in metrics if m not in table]
    if unknown:
        raise BaselineError('metrics: %s %s not a metric; the metrics are %s'
                            % (', '.join(repr(m) for m in unknown), 'is' if len(unknown) == 1 else 'are',
                               ', '.join(table)))
    return [name for name in table if name in metrics]


def min_effects(min_effect_pct=None, metric_min_effect=None):
    """{metric: minimum effect in percent} of every metric.

    METRICS' default for each; ``min_effect_pct`` (perf_min_effect_pct, the
    verdict's knob since wave 1) is throughput's; ``metric_min_effect``
    ({metric: percent}, perf_metric_min_effect) wins for the metrics it names,
    which may be metrics a suite names (upstream.<slug>: then they are in the
    result too; the others have UPSTREAM_MIN_EFFECT_PCT, effect_of).
    Raises BaselineError naming the metric and the rule.
    """
    table = metric_table()
    effects = dict((name, float(m.min_effect_pct)) for name, m in table.items())
    if min_effect_pct is not None:
        effects[METRIC] = _effect('min_effect_pct', min_effect_pct)
    if metric_min_effect:
        if not isinstance(metric_min_effect, dict):
            raise BaselineError('metric_min_effect must map metric names to percentages, got %r'
                                % (metric_min_effect,))
        for name, value in metric_min_effect.items():
            if metric_info(name) is None:
                raise BaselineError('metric_min_effect: %r is not a metric; the metrics are %s'
                                    % (name, ', '.join(table)))
            effects[name] = _effect('metric_min_effect.%s' % name, value)
    return effects


def effect_of(effects, metric):
    """The minimum effect (percent) of ``metric``: ``effects`` (min_effects) or the metric's default."""
    if metric in effects:
        return effects[metric]
    spec = metric_info(metric)
    return float(spec.min_effect_pct) if spec else None


def _effect(field, value):
    try:
        number = float(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        number = None
    if number is None or not math.isfinite(number) or not 0 <= number <= MAX_MIN_EFFECT_PCT:
        raise BaselineError('%s must be a finite number of percent in [0, %d], got %r'
                            % (field, MAX_MIN_EFFECT_PCT, value))
    return number


def unknown_run_message(store, run_id, results_dir):
    recent = store.recent_runs(10)
    listing = ', '.join('%s (%s)' % (r['run_id'], r['started']) for r in recent) or 'none yet'
    return ('perf_baseline: run %r is not in the history (%s). Run ids are the directory names '
            'under %s, and the run_id column of history.csv there. Most recent runs: %s'
            % (run_id, store.path, results_dir, listing))


MIN_BASELINE_RUNS = 3


def baseline_for(store, run_id, started_ts, test_key, named=None, last_n=10, tag=None, metric=METRIC,
                 since_ts=None):
    """(values, description) of the baseline of one test (and metric) of a run.

    The description holds 'run_values' (the values of each baseline run),
    which the verdict uses to estimate the lab's run-to-run noise. ``last_n``
    0 (or None) takes every earlier valid run; ``since_ts`` only those that
    started at or after it (Unix seconds). A named run ignores both.
    """
    if named:
        res = store.result(named, test_key)
        if res is None:
            return [], {'kind': 'run', 'runs': [named], 'n': 0, 'median': None,
                        'note': 'run %s has no test with this identity' % named}
        if not res['valid']:
            return [], {'kind': 'run', 'runs': [named], 'n': 0, 'median': None,
                        'note': 'this test was invalid in run %s: %s' % (named, res['invalid_reason'])}
        if metric != METRIC:
            res = store.result(named, test_key, metric)
        if res is None or not res['values']:
            return [], {'kind': 'run', 'runs': [named], 'n': 0, 'median': None,
                        'note': 'run %s did not measure %s in this test' % (named, metric)}
        values = list(res['values'])
        return values, {'kind': 'run', 'runs': [named], 'n': len(values),
                        'median': median(values) if values else None, 'run_values': None}
    if since_ts:
        rows = store.last_valid(test_key, started_ts, run_id, last_n or None, tag=tag, metric=metric,
                                since_ts=since_ts)
    else:
        rows = store.last_valid(test_key, started_ts, run_id, last_n or None, tag=tag, metric=metric)
    values = []
    for row in rows:
        values.extend(row['values'])
    description = {'kind': 'last-valid', 'runs': [r['run_id'] for r in rows], 'n': len(values),
                   'median': median(values) if values else None,
                   'run_values': [r['values'] for r in rows]}
    needed = min(MIN_BASELINE_RUNS, last_n) if last_n else MIN_BASELINE_RUNS
    if rows and len(rows) < needed:
        description['note'] = ('only %d earlier valid run(s) of this test%s%s; %d are needed to '
                               'estimate the run-to-run noise' % (
                                   len(rows), '' if metric == METRIC else ' measured %s' % metric,
                                   ' since %s' % format_time(since_ts, 'iso') if since_ts else '', needed))
        return [], description
    return values, description


def _round(value, digits):
    return None if value is None else round(value, digits)


def _finish(verdict, name, test_key, metric):
    verdict['name'] = name
    verdict['test_key'] = test_key
    verdict['metric'] = metric
    verdict['baseline_median'] = _round(verdict.get('baseline_median'), 3)
    verdict['current_median'] = _round(verdict.get('current_median'), 3)
    verdict['change_pct'] = _round(verdict.get('change_pct'), 2)
    verdict['p_value'] = None if verdict.get('p_value') is None else float('%.4g' % verdict['p_value'])
    if verdict['verdict'] not in VERDICTS:  # pragma: no cover - programming error
        raise ValueError('unknown verdict %r' % verdict['verdict'])
    return verdict


def test_cases(res, metrics):
    """The metrics judged for one normalized result: those of ``metrics`` it measured, then
    every metric named by its suite (upstream.<slug>) it measured, in name order: the suite
    asked for them (its primary metric, throughput, the transaction rate or its first
    upstream.* metric, decides an invalid test)."""
    measured = dict((name, stats) for name, stats in (res.get('metrics') or {}).items() if stats.get('n'))
    if res['n']:
        measured[METRIC] = res
    if not res['valid']:
        return [res.get('primary') or METRIC]
    return [name for name in metrics if name in measured] + sorted(
        name for name in measured if is_dynamic_metric(name) and name not in metrics)


def judging_of(res, metric, alpha, last_n):
    """(alpha, last_n, since_ts, own) of one test and metric: a test's own judging parameters
    (normalize's ``judging``, from tests[].upstream.regression) for the metrics its suite
    names, else the run's. ``own`` says whether the test's were used."""
    own = res.get('judging') if is_dynamic_metric(metric) else None
    if not own:
        return alpha, last_n, None, False
    return (own.get('alpha', alpha), own.get('history_max_n', last_n), own.get('history_since') or None, True)


def evaluate(store, record, named=None, last_n=10, alpha=0.05, min_effect_pct=1.5, tag=None,
             metrics=None, metric_min_effect=None):
    """The verdict of every test and judged metric of a normalized run record.

    Returns {(test_key, metric): {...compare() result..., 'name', 'test_key', 'metric',
    'baseline'}} in test order, then METRICS order. ``metrics`` names the judged
    metrics (default: METRICS' judged ones), each with its own direction and
    minimum effect (``min_effect_pct`` is throughput's, ``metric_min_effect``
    {metric: percent} overrides any; min_effects). The metrics a suite names
    (upstream.<slug>) are judged for every test that measured them, after the
    others, with the test's own alpha, number of baseline runs
    (``history_max_n``, 0: all) and earliest baseline run (``history_since``,
    Unix seconds) when it states them (normalize's ``judging``); a named
    baseline run wins over the last two. Such a verdict carries its ``alpha``,
    and its baseline ``history_max_n`` and ``history_since``.
    """
    run = record['run']
    if named is not None and named == run['run_id']:
        raise BaselineError('perf_baseline: run %r cannot be its own baseline' % named)
    judged = judged_metrics(metrics)
    effects = min_effects(min_effect_pct, metric_min_effect)
    verdicts = collections.OrderedDict()
    for res in record['results']:
        name = res['identity']['name']
        for metric in test_cases(res, judged):
            # a test's own alpha and history (tests[].upstream.regression) for the metrics its
            # suite names; a named baseline run still wins over its history
            test_alpha, test_last_n, since_ts, own = judging_of(res, metric, alpha, last_n)
            if not res['valid']:
                current = res['median'] if metric == METRIC else ((res.get('metrics') or {}).get(metric) or {}).get('median')
                verdict = {'verdict': 'invalid', 'reason': res['invalid_reason'], 'baseline_median': None,
                           'current_median': current, 'change_pct': None, 'p_value': None,
                           'baseline': None}
            else:
                current = res['values'] if metric == METRIC else res['metrics'][metric]['values']
                values, description = baseline_for(store, run['run_id'], run['started_ts'], res['test_key'],
                                                   named=named, last_n=test_last_n, tag=tag, metric=metric,
                                                   since_ts=since_ts)
                if tag is not None:
                    description['tag'] = '%s=%s' % tag
                if own and not named:
                    description['history_max_n'] = test_last_n
                    if since_ts:
                        description['history_since'] = since_ts
                runs = description.pop('run_values')
                verdict = compare(values, current, alpha=test_alpha, min_effect_pct=effect_of(effects, metric),
                                  baseline_runs=runs if runs and len(runs) >= 2 else None,
                                  better=metric_info(metric).better,
                                  # a suite's own metric is one value per run: the prediction interval
                                  single=is_dynamic_metric(metric))
                if description.get('note') and verdict['verdict'] == 'no-baseline':
                    verdict['reason'] = description['note']
                if verdict.get('guard_pct') is not None:
                    description['noise_pct'] = round(verdict['guard_pct'], 3)
                verdict['baseline'] = description
            if own:
                verdict['alpha'] = test_alpha
            verdict['min_effect_pct'] = effect_of(effects, metric)
            verdicts[(res['test_key'], metric)] = _finish(verdict, name, res['test_key'], metric)
    return verdicts


def judge_before_writing(summary, db_path, named=None, last_n=10, alpha=0.05, min_effect_pct=1.5, tag=None,
                         metrics=None, metric_min_effect=None):
    """The regressions of a run record not yet written, for its ``regressions`` field.

    Judging only reads the history: the baseline of a test is made of runs that
    started before this one, so the run itself need not be in the store, and
    mptcp.lab.perf_verdict later reaches the same verdicts from the same history.
    No history yet (a first run) means no baseline: no regressions.
    """
    import os
    from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_record import normalize
    from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_store import Store
    # bad options fail whether or not there is a history
    judged_metrics(metrics)
    min_effects(min_effect_pct, metric_min_effect)
    if not os.path.exists(db_path):
        return []
    store = Store(db_path, readonly=True)
    try:
        if named and not store.has_run(named):
            return []
        verdicts = evaluate(store, normalize(summary), named=named, last_n=last_n, alpha=alpha,
                            min_effect_pct=min_effect_pct, tag=tag, metrics=metrics,
                            metric_min_effect=metric_min_effect)
    finally:
        store.close()
    return entries(verdicts, 'regression')


def entries(verdicts, kind):
    """The contract's regressions (or improvements) list: one entry per test and metric."""
    return [{'test': v['name'], 'metric': v.get('metric') or METRIC, 'baseline_median': v['baseline_median'],
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
          'and the run-to-run noise of the baseline runs; per metric, in its own direction')


def _cases_of(record, verdicts):
    """(result, verdict) pairs in test order: verdicts keyed by (test_key, metric), or by a
    bare test_key (its throughput's)."""
    by_test = collections.OrderedDict()
    for key, v in verdicts.items():
        test_key, metric = key if isinstance(key, tuple) else (key, v.get('metric') or METRIC)
        by_test.setdefault(test_key, []).append(dict(v, metric=metric))
    for res in record['results']:
        for v in by_test.get(res['test_key'], []):
            yield res, v


def test_outcome(outcomes):
    """A test's outcome from its metrics' outcomes (OUTCOME_ORDER: an invalid test, then any
    regression, then any improvement, ...)."""
    for outcome in OUTCOME_ORDER:
        if outcome in outcomes:
            return outcome
    return None


def verdict_document(record, verdicts, named, last_n, alpha, min_effect_pct, tag=None, metrics=None,
                     metric_min_effect=None, baseline_kernel=None):
    """verdict.json: the judgement of a run, beside (never inside) its summary.json.

    ``tests`` has one entry per test and judged metric (the contract's
    ``metric``), with its ``outcome`` (pass, regression, improvement,
    no-baseline, invalid): a distinct name from the record's ``valid``, which
    is about the measurement, not the comparison. ``counts`` counts those
    entries (the JUnit test cases).
    """
    counts = dict((k, 0) for k in VERDICTS)
    tests = []
    cases = list(_cases_of(record, verdicts))
    for res, v in cases:
        counts[v['verdict']] += 1
        metric = v['metric']
        spec = metric_info(metric, ((res.get('metrics') or {}).get(metric) or {}).get('unit'))
        entry = {'name': v['name'], 'test_key': res['test_key'], 'metric': metric,
                 'unit': spec.unit if spec else None, 'better': spec.better if spec else None,
                 'min_effect_pct': v.get('min_effect_pct'),
                 'outcome': v['verdict'], 'reason': v['reason'], 'baseline': v.get('baseline'),
                 'baseline_median': v['baseline_median'], 'current_median': v['current_median'],
                 'change_pct': v['change_pct'], 'p_value': v['p_value']}
        if v.get('alpha') is not None:
            entry['alpha'] = v['alpha']         # the test's own (tests[].upstream.regression)
        tests.append(entry)
    effects = min_effects(min_effect_pct, metric_min_effect)
    judged = judged_metrics(metrics)
    # and the metrics named by the suites of this run's tests, judged where measured
    judged = judged + sorted(set(t['metric'] for t in tests if is_dynamic_metric(t['metric'])))
    return {
        'verdict_version': VERDICT_VERSION,
        'run_id': record['run']['run_id'],
        'baseline': describe_baseline(named, last_n, tag),
        'baseline_run': named or None,
        'kernel': record['run'].get('kernel') or None,
        'baseline_kernel': baseline_kernel or None,
        'baseline_tag': '%s=%s' % tag if tag else None,
        'baseline_runs': last_n,
        'alpha': alpha,
        'min_effect_pct': min_effect_pct,
        'metrics': judged,
        'metric_min_effect': dict((name, effect_of(effects, name)) for name in judged),
        'test': METHOD,
        'counts': counts,
        'tests': tests,
        'regressions': entries(dict(enumerate(v for dummy, v in cases)), 'regression'),
        'improvements': entries(dict(enumerate(v for dummy, v in cases)), 'improvement'),
    }


CASE_FIELDS = ('outcome', 'reason', 'baseline', 'baseline_median', 'current_median', 'change_pct', 'p_value',
               'unit', 'better', 'min_effect_pct', 'test_key', 'alpha')


def judged_view(summary, verdict):
    """The record with its verdict beside each test, in memory, for the report.

    Never written: summary.json stays as the record step wrote it. Tests get
    ``judged`` ({metric: its verdict entry}), ``outcome`` (the test's, from its
    metrics': test_outcome), ``outcome_reason``, and ``baseline``,
    ``change_pct``, ``p_value`` and ``test_key`` of its throughput (or first
    judged metric); the run gets ``regressions``, ``improvements`` and
    ``judgement`` (the verdict's options and counts).
    """
    view = dict(summary)
    if not verdict:
        return view
    by_name = collections.OrderedDict()
    for entry in verdict.get('tests') or []:
        by_name.setdefault(entry['name'], collections.OrderedDict())[entry.get('metric') or METRIC] = entry
    tests = []
    for test in summary.get('tests') or []:
        test = dict(test)
        cases = by_name.get(test.get('name'))
        if cases:
            main = cases.get(METRIC) or list(cases.values())[0]
            outcome = test_outcome([c['outcome'] for c in cases.values()])
            worst = [c for c in cases.values() if c['outcome'] == outcome][0]
            test.update(test_key=main['test_key'], outcome=outcome, outcome_reason=worst['reason'],
                        baseline=main.get('baseline'), change_pct=main['change_pct'], p_value=main['p_value'],
                        judged=dict((metric, dict((k, c.get(k)) for k in CASE_FIELDS))
                                    for metric, c in cases.items()))
        tests.append(test)
    view['tests'] = tests
    view['regressions'] = verdict.get('regressions') or []
    view['improvements'] = verdict.get('improvements') or []
    view['judgement'] = dict((k, verdict.get(k)) for k in (
        'baseline', 'baseline_run', 'baseline_tag', 'baseline_runs', 'alpha', 'min_effect_pct', 'metrics',
        'metric_min_effect', 'test', 'counts', 'kernel', 'baseline_kernel'))
    return view


def figure(value):
    """A metric's figure for people: 2 decimals from 10 up (91.80 Mbit/s), else 4 significant
    digits (0.3512 s/GB)."""
    if value is None:
        return '-'
    return '%.2f' % value if abs(value) >= 10 else '%.4g' % value


def regression_message(regressions, run_id, baseline_text, units=None):
    """The play's failure message listing each regression; ``units``: {(test, metric): unit} of the
    metrics a suite names (verdict.json's tests[].unit), else their default ("value")."""
    lines = ['%d regression(s) in run %s against %s:' % (len(regressions), run_id, baseline_text)]
    for r in regressions:
        spec = metric_info(r['metric'], (units or {}).get((r['test'], r['metric'])))
        lines.append('  - %s: %s %.2f%% (%s -> %s %s, p = %.3g%s)'
                     % (r['test'], r['metric'], r['change_pct'], figure(r['baseline_median']),
                        figure(r['current_median']), spec.unit if spec else '', r['p_value'],
                        '' if r['metric'] == METRIC or not spec else ', %s is better' % spec.better))
    return '\n'.join(lines)
