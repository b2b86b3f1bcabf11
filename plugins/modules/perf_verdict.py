#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: perf_verdict
short_description: Compare a perf run with its baseline and write the verdict beside its record
version_added: "0.1.0"
description:
  - Gives every test of a run a verdict on each judged metric it measured (O(metrics), by
    default throughput, CPU cost per GB, transactions per second and p99 latency), V(pass),
    V(regression), V(improvement), V(no-baseline) or V(invalid), by comparing its repetition
    values with a baseline taken from the history (see M(mptcp.lab.perf_history), which must
    have recorded the run first). An invalid test has one verdict, V(invalid), on the metric
    it exists to measure.
  - The baseline is the pooled repetition values of the last O(baseline_runs) valid runs of the
    same test (same identity) that started before this run, or, with O(baseline), the values of
    that one named run (for kernel A against kernel B).
  - A change is flagged when the exact two-sided Mann-Whitney U test on the repetition values
    gives p < O(alpha), the medians differ by at least O(min_effect_pct) percent, and (default
    baseline) the change exceeds the run-to-run noise of the baseline runs (a Student-t
    prediction interval of a new run's median at level O(alpha)). Each metric has its own
    direction (throughput and transactions per second are better higher, CPU cost, latency and
    retransmits lower) and its own minimum effect (O(metric_min_effect)); a change the wrong
    way is a regression, the right way an improvement (information only). The collection's
    docs/statistics.md justifies the choice.
  - Writes, beside the run's C(summary.json) (which it never changes, a run record being written
    once), C(verdict.json) (per test its C(outcome), reason, baseline, C(change_pct) and
    C(p_value); C(regressions) in the DESIGN contract's shape, C(improvements), counts and the
    options), C(junit.xml) (one testcase per test and metric; a regression is a failure with
    the figures in its message, an invalid test an error, no baseline skipped) and
    C(verdict.md) (the Markdown table a CI step posts), each atomically; and the verdicts
    into the history.
author:
  - mptcp.lab developers (@multipath-tcp)
options:
  results_dir:
    description: The perf results directory (C(perf_results_dir)).
    type: path
    required: true
  run:
    description: The run to judge, a run id, V(latest) or the path of a C(summary.json).
    type: str
    default: latest
  history_db:
    description: The history database. Defaults to C(history.sqlite) in O(results_dir).
    type: path
  baseline:
    description:
      - The run id of a named baseline run (C(perf_baseline)). Empty means the last
        O(baseline_runs) valid runs of each test.
    type: str
    default: ""
  baseline_runs:
    description:
      - How many earlier valid runs of a test make its default baseline (1-100). At least 3 of
        them (fewer if this is smaller) must exist for a verdict other than V(no-baseline), since
        the spread of their medians measures the lab's run-to-run noise.
    type: int
    default: 10
  alpha:
    description: Significance level of the two-sided test (0 < alpha < 1).
    type: float
    default: 0.05
  min_effect_pct:
    description:
      - Smallest change of the throughput medians, in percent, that can be flagged (0-1000).
      - The other metrics have their own (O(metric_min_effect)).
    type: float
    default: 1.5
  metric_min_effect:
    description:
      - The smallest flagged change of the medians, in percent (0-1000), of the metrics named
        (C(perf_metric_min_effect)), for example 3 for V(cpu_s_per_gb) and 20 for V(latency_p99_us).
        A metric not named keeps its default (docs/statistics.md); V(throughput_mbps) named here
        wins over O(min_effect_pct).
      - It may name a metric of a test of kind V(upstream) (C(upstream.<slug>), default 1.5).
    type: dict
    default: {}
  metrics:
    description:
      - The metrics to judge (C(perf_judged_metrics)); empty for the default set
        (V(throughput_mbps), V(cpu_s_per_gb), V(rr_tps), V(latency_p99_us), V(jain_index)). The others are
        recorded and kept in the history, but not judged.
      - The metrics a suite names, those of a test of kind V(upstream) (C(upstream.<slug>), one per step
        of its C(regression) section), are not chosen here - they are judged for every test that
        measured them, with the test's own C(alpha), C(history_max_n) and C(history_since) when it states
        them (a named O(baseline) still wins over the last two).
    type: list
    elements: str
    choices: [throughput_mbps, cpu_s_per_gb, retransmits, rr_tps, latency_p50_us, latency_p90_us,
              latency_p99_us, jain_index, mptcp_share]
    default: []
  lab_paths:
    description:
      - Deprecated and ignored. A test's identity comes from its run record alone.
    type: list
    elements: dict
  baseline_tag:
    description:
      - C(key=value) (or C(key:value)) picks the default baseline among the runs tagged so
        (C(perf_baseline_tag), for example V(kernel=6.18-rc3)) - the last O(baseline_runs)
        valid runs of each test that carry that tag. Not with O(baseline).
    type: str
    default: ""
  tags:
    description:
      - The tags the run will carry (C(perf_tag), C(perf_tags)), only checked, with
        O(preflight), so that a bad tag stops the run before it measures.
    type: list
    elements: str
    default: []
  preflight:
    description:
      - Only check the options and that the O(baseline) run exists (in the history, or as a run
        record under O(results_dir) that M(mptcp.lab.perf_history) will record); judge nothing
        and change nothing. For refusing a bad C(-e perf_baseline=...) before a run starts.
    type: bool
    default: false
extends_documentation_fragment:
  - mptcp.lab.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
seealso:
  - module: mptcp.lab.perf_history
  - module: mptcp.lab.perf_report
"""

EXAMPLES = r"""
- name: Judge the latest run against the last 10 valid runs of each test
  mptcp.lab.perf_verdict:
    results_dir: results
  register: verdict

- name: Compare kernel B (latest run) with kernel A (a named run)
  mptcp.lab.perf_verdict:
    results_dir: results
    baseline: 20261124T200102Z

- name: Fail on regressions
  ansible.builtin.fail:
    msg: "{{ verdict.message }}"
  when: verdict.regressions | length > 0
"""

RETURN = r"""
run_id:
  description: The judged run (empty with O(preflight), as are the other results but RV(baseline)).
  returned: always
  type: str
  sample: 20261125T081537Z
baseline:
  description: What the run was compared with.
  returned: always
  type: str
  sample: last 10 valid runs
regressions:
  description: The DESIGN contract's regressions list, one entry per test and metric.
  returned: always
  type: list
  elements: dict
  sample:
    - test: mptcp-2paths-up
      metric: throughput_mbps
      baseline_median: 91.8
      current_median: 89.0
      change_pct: -3.05
      p_value: 0.0003
improvements:
  description: Significant speed-ups, same fields as RV(regressions); information only.
  returned: always
  type: list
  elements: dict
verdicts:
  description: Per test and judged metric, its verdict and why.
  returned: always
  type: list
  elements: dict
  sample:
    - test: mptcp-2paths-up
      metric: throughput_mbps
      verdict: regression
      reason: p = 0.0003 < 0.05 and |change| = 3.05% >= 1.5%
      change_pct: -3.05
      p_value: 0.0003
counts:
  description: How many verdicts (tests and metrics) of each kind.
  returned: always
  type: dict
  sample: {pass: 3, regression: 1, improvement: 0, no-baseline: 0, invalid: 0}
lines:
  description: One readable line per test and judged metric, its verdict and why.
  returned: always
  type: list
  elements: str
  sample:
    - "mptcp-2paths-up: regression, throughput_mbps -3.05% (p = 0.0003 < 0.05 and |change| = 3.05% >= 1.5%)"
message:
  description: A readable list of the regressions (empty when there is none).
  returned: always
  type: str
summary_path:
  description: The run record that was judged (read only).
  returned: always
  type: str
verdict_path:
  description: The verdict file, C(verdict.json) beside the run record.
  returned: always
  type: str
junit_path:
  description: The JUnit XML file, C(junit.xml) beside the run record.
  returned: always
  type: str
markdown_path:
  description: The Markdown summary, C(verdict.md) beside the run record.
  returned: always
  type: str
files_changed:
  description: The files that were (or in check mode would be) written.
  returned: always
  type: list
  elements: str
"""

import json
import math
import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_baseline import (
    BaselineError, describe_baseline, entries, evaluate, judged_metrics, min_effects, regression_message,
    test_outcome, unknown_run_message, verdict_document)
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_ci import junit_xml, verdict_markdown
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_record import (
    json_bytes, metric_names, open_run, parse_tag, parse_tags, read_bytes, write_atomic)
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_store import (
    Store, StoreError, open_readonly, run_module)

VERDICT_FILES = ('verdict.json', 'junit.xml', 'verdict.md')


def validate(params):
    if not 1 <= params['baseline_runs'] <= 100:
        raise BaselineError('baseline_runs must be between 1 and 100, got %d' % params['baseline_runs'])
    if not 0 < params['alpha'] < 1:
        raise BaselineError('alpha must be between 0 and 1 (exclusive), got %s' % params['alpha'])
    if not (params['min_effect_pct'] >= 0 and math.isfinite(params['min_effect_pct'])):
        raise BaselineError('min_effect_pct must be >= 0 and finite, got %s' % params['min_effect_pct'])
    judged_metrics(params.get('metrics'))
    min_effects(params['min_effect_pct'], params.get('metric_min_effect'))
    baseline = (params['baseline'] or '').strip()
    if baseline and (os.sep in baseline or baseline in ('.', '..')):
        raise BaselineError('baseline must be a run id (a directory name under results_dir), got %r'
                            % baseline)
    tag = None
    if params.get('baseline_tag'):
        if baseline:
            raise BaselineError('baseline and baseline_tag: name a run or a tag, not both')
        tag = parse_tag(params['baseline_tag'], 'baseline_tag')
    # the run's own tags, checked before it measures (preflight)
    parse_tags(params.get('tags'), 'tags')
    return baseline or None, tag


def verdict_line(v):
    change = '' if v['change_pct'] is None else ' %+.2f%%' % v['change_pct']
    return '%s: %s, %s%s (%s)' % (v['name'], v['verdict'], v['metric'], change, v['reason'])


def preflight(named, results_dir, db_path, baseline_runs, tag=None):
    """The result of a preflight: the options are valid and the named baseline exists."""
    if named and not os.path.isfile(os.path.join(results_dir, named, 'summary.json')):
        store = open_readonly(db_path, True, 'checking the baseline')
        try:
            if not store.has_run(named):
                raise BaselineError(unknown_run_message(store, named, results_dir))
        finally:
            store.close()
    baseline_text = describe_baseline(named, baseline_runs, tag)
    return {'changed': False, 'run_id': '', 'summary_path': '', 'baseline': baseline_text,
            'verdict_path': '', 'junit_path': '', 'markdown_path': '', 'files_changed': [],
            'regressions': [], 'improvements': [], 'verdicts': [], 'counts': {}, 'lines': [],
            'message': '', 'msg': 'verdict options valid; baseline: %s' % baseline_text,
            'diff': {'before': {}, 'after': {}}}


def judge(params, check_mode, warn=None):
    named, tag = validate(params)
    if params.get('lab_paths') is not None and warn:
        warn('lab_paths is deprecated and ignored: identity comes from the run record')
    if params['preflight']:
        results_dir = os.path.abspath(params['results_dir'])
        db_path = os.path.abspath(params['history_db'] or os.path.join(results_dir, 'history.sqlite'))
        return preflight(named, results_dir, db_path, params['baseline_runs'], tag)
    opened = open_run(params, check_mode)
    baseline_text = describe_baseline(named, params['baseline_runs'], tag)
    paths = dict((name, os.path.join(opened.run_dir, name)) for name in VERDICT_FILES)
    result = {'changed': False, 'run_id': opened.run_id, 'summary_path': opened.summary_path,
              'verdict_path': paths['verdict.json'], 'junit_path': paths['junit.xml'],
              'markdown_path': paths['verdict.md'], 'baseline': baseline_text, 'files_changed': []}
    if opened.record is None:
        result.update(regressions=[], improvements=[], verdicts=[], counts={}, lines=[], message='',
                      msg='no run record at %s (check mode): nothing to judge' % opened.summary_path,
                      diff={'before': {}, 'after': {}})
        return result
    record, run_id, db_path = opened.record, opened.run_id, opened.db_path
    store = open_readonly(db_path, check_mode, 'giving a verdict')
    try:
        # in check mode the history step did not record the run: judge it anyway
        if store.run_hash(run_id) is None and not check_mode:
            raise StoreError('run %s is not in the history %s: record it with '
                             'mptcp.lab.perf_history first' % (run_id, db_path))
        if named and not store.has_run(named):
            raise BaselineError(unknown_run_message(store, named, opened.results_dir))
        # the named baseline's kernels (make compare: kernel A), shown beside this run's
        baseline_kernel = (store.get_run(named) or {}).get('kernel') if named else None
        verdicts = evaluate(store, record, named=named, last_n=params['baseline_runs'],
                            alpha=params['alpha'], min_effect_pct=params['min_effect_pct'], tag=tag,
                            metrics=params['metrics'], metric_min_effect=params['metric_min_effect'])
    finally:
        store.close()

    document = verdict_document(record, verdicts, named, params['baseline_runs'],
                                params['alpha'], params['min_effect_pct'], tag,
                                metrics=params['metrics'], metric_min_effect=params['metric_min_effect'],
                                baseline_kernel=baseline_kernel)
    files = {paths['verdict.json']: json_bytes(document),
             paths['junit.xml']: junit_xml(opened.summary, document).encode('utf-8'),
             paths['verdict.md']: verdict_markdown(opened.summary, document).encode('utf-8')}
    before = dict((path, read_bytes(path)) for path in files)
    changed_files = sorted(path for path, data in files.items() if before[path] != data)
    store_changed = False
    if not check_mode:
        for path in changed_files:
            write_atomic(path, files[path])
        store = Store(db_path)
        try:
            store_changed = store.set_verdicts(run_id, verdicts)
        finally:
            store.close()
    regressions = entries(verdicts, 'regression')
    previous = _previous_outcomes(before[paths['verdict.json']])
    result.update({
        'changed': bool(changed_files) or store_changed,
        'files_changed': changed_files,
        'regressions': regressions,
        'improvements': document['improvements'],
        'verdicts': [{'test': v['name'], 'metric': v['metric'], 'verdict': v['verdict'], 'reason': v['reason'],
                      'change_pct': v['change_pct'], 'p_value': v['p_value'],
                      'baseline_median': v['baseline_median'], 'current_median': v['current_median']}
                     for v in verdicts.values()],
        'counts': document['counts'],
        'lines': [verdict_line(v) for v in verdicts.values()],
        'message': regression_message(regressions, run_id, baseline_text, units=dict(
            ((t['name'], t['metric']), t['unit']) for t in document['tests'])) if regressions else '',
        'diff': {'before': previous, 'after': _outcomes(document)},
    })
    return result


def _outcomes(document):
    """The diff's view of a verdict: regressions, each test's outcome, each test and metric's."""
    by_test = {}
    for t in document.get('tests') or []:
        by_test.setdefault(t['name'], []).append(t['outcome'])
    return {'regressions': document.get('regressions'),
            'verdicts': dict((name, test_outcome(outcomes)) for name, outcomes in by_test.items()),
            'metrics': dict(('%s %s' % (t['name'], t.get('metric') or 'throughput_mbps'), t['outcome'])
                            for t in document.get('tests') or [])}


def _previous_outcomes(data):
    """What an earlier verdict.json of this run said (for the diff)."""
    if data is None:
        return {'regressions': None, 'verdicts': {}, 'metrics': {}}
    try:
        return _outcomes(json.loads(data.decode('utf-8')))
    except (ValueError, KeyError, TypeError, AttributeError):
        return {'regressions': None, 'verdicts': {}, 'metrics': {}}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            results_dir=dict(type='path', required=True),
            run=dict(type='str', default='latest'),
            history_db=dict(type='path'),
            baseline=dict(type='str', default=''),
            baseline_runs=dict(type='int', default=10),
            alpha=dict(type='float', default=0.05),
            min_effect_pct=dict(type='float', default=1.5),
            metric_min_effect=dict(type='dict', default={}),
            metrics=dict(type='list', elements='str', default=[], choices=list(metric_names())),
            lab_paths=dict(type='list', elements='dict'),
            baseline_tag=dict(type='str', default=''),
            tags=dict(type='list', elements='str', default=[]),
            preflight=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )
    run_module(module, judge)


if __name__ == '__main__':
    main()
