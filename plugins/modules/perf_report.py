#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: perf_report
short_description: Write the HTML report of a perf run and the CSV export of the history
version_added: "0.1.0"
description:
  - Writes C(report.html) beside a run's C(summary.json), self-contained (plots embedded as PNG
    data URIs, inline CSS, no JavaScript), with the verdict table (a row per test and metric, with
    value, baseline, change, verdict; from C(verdict.json) beside the record, written by
    M(mptcp.lab.perf_verdict)), the throughput of each test across repetitions (TCP vs MPTCP),
    the other metrics (CPU cost, request/response rate, latency...), the per-path split of
    MPTCP throughput, a time-series plot per MPTCP test (Mbit/s per path, cwnd and RTT per
    subflow, from the run's C(raw/*.timeseries.json)), the history trend of each test and
    judged metric with this run and flagged regressions marked, and the hosts' metadata.
  - A test of kind V(upstream) (a suite in the format of multipath-tcp/mptcp-upstream-virtme-docker)
    has its metrics (C(upstream.<slug>)) in the verdict table and the history, and a section of its
    own - its regression steps and their figures, its shell steps and validation commands with their
    outcome, what of the suite the lab did not honour.
  - Exports the history for change-point tools such as Apache Otava (formerly Hunter), into
    O(results_dir)) C(history.csv) (every run of every test, one row each, with the median and
    CV of every metric) and C(history/), one CSV per test (one row per valid run - time,
    metrics, attributes) with an C(otava.yaml) describing them, each metric in its direction.
  - Output is deterministic, so running it again reports no change.
author:
  - mptcp.lab developers (@multipath-tcp)
options:
  results_dir:
    description: The perf results directory (C(perf_results_dir)).
    type: path
    required: true
  run:
    description: The run to report on, a run id, V(latest) or the path of a C(summary.json).
    type: str
    default: latest
  history_db:
    description: The history database. Defaults to C(history.sqlite) in O(results_dir).
    type: path
  dest:
    description: Where to write the report. Defaults to C(report.html) beside the C(summary.json).
    type: path
  history_limit:
    description: How many runs of each test (up to this run) the trend plots show (2-1000).
    type: int
    default: 30
  export:
    description: Also write the CSV export of the whole history.
    type: bool
    default: true
  lab_paths:
    description:
      - Deprecated and ignored. A test's identity comes from its run record alone.
    type: list
    elements: dict
extends_documentation_fragment:
  - mptcp.lab.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
requirements:
  - matplotlib (on the host that writes the report)
seealso:
  - module: mptcp.lab.perf_history
  - module: mptcp.lab.perf_verdict
"""

EXAMPLES = r"""
- name: Write the report of the latest run and the CSV export
  mptcp.lab.perf_report:
    results_dir: results
  register: report

- name: Show where the report is
  ansible.builtin.debug:
    msg: "Report: {{ report.path }}"
"""

RETURN = r"""
path:
  description: Absolute path of the report.
  returned: always
  type: str
  sample: /srv/mptcp-lab/results/20261125T081537Z/report.html
run_id:
  description: The run reported on.
  returned: always
  type: str
csv_path:
  description: The history CSV (every run of every test), when O(export) is true.
  returned: when export is true
  type: str
  sample: /srv/mptcp-lab/results/history.csv
csv_files:
  description: The per-test CSV files and the Otava configuration, when O(export) is true.
  returned: when export is true
  type: list
  elements: str
files_changed:
  description: The files that were (or in check mode would be) written.
  returned: always
  type: list
  elements: str
"""

import hashlib
import json
import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.mptcp.lab.plugins.module_utils.perf import perf_html
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_baseline import judged_metrics, judged_view
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_record import (
    METRIC, RecordError, is_dynamic_metric, open_run, read_bytes, slug, write_atomic)
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_store import (
    csv_metrics, csv_text, open_readonly, otava_config, run_module)
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_timeseries import load_timeseries


def _digest(data):
    return hashlib.sha256(data).hexdigest()[:16] if data is not None else None


def export_files(store, results_dir):
    """{path: bytes} of the CSV export."""
    files = {}
    results = store.all_results()
    files[os.path.join(results_dir, 'history.csv')] = csv_text(results).encode('utf-8')
    by_test = {}
    for r in results:
        by_test.setdefault(r['test_key'], []).append(r)
    otava = []
    directory = os.path.join(results_dir, 'history')
    for test in store.tests():
        rows = [r for r in by_test.get(test['test_key'], []) if r['valid']]
        # Otava reads every metric cell as a number: keep the per-path columns and the
        # metrics every row has
        paths = min([len([v for v in r['per_path'] if v is not None]) for r in rows] or [0])
        metrics = [m for m in csv_metrics(rows)
                   if all(((r.get('metrics') or {}).get(m) or {}).get('cv') is not None for r in rows)]
        # a metric of one figure per run (a test of kind upstream, one repetition): its median only
        medians = [m for m in csv_metrics(rows) if m not in metrics
                   and all(((r.get('metrics') or {}).get(m) or {}).get('median') is not None for r in rows)]
        name = '%s-%s' % (slug(test['name']), test['test_key'][:8])
        filename = name + '.csv'
        files[os.path.join(directory, filename)] = csv_text(rows, max_paths=paths,
                                                            metrics=metrics + medians).encode('utf-8')
        throughput = all(r['n'] and r['cv'] is not None for r in rows)
        otava.append((name, filename, paths, metrics, throughput, medians))
    files[os.path.join(directory, 'otava.yaml')] = otava_config(otava).encode('utf-8')
    return files


def load_verdict(run_dir):
    """verdict.json beside the record, or None before the verdict step ran."""
    data = read_bytes(os.path.join(run_dir, 'verdict.json'))
    if data is None:
        return None
    try:
        return json.loads(data.decode('utf-8'))
    except ValueError as exc:
        raise RecordError('%s is not valid JSON: %s' % (os.path.join(run_dir, 'verdict.json'), exc))


def report(params, check_mode, warn=None):
    if params['history_limit'] < 2 or params['history_limit'] > 1000:
        raise RecordError('history_limit must be between 2 and 1000, got %d' % params['history_limit'])
    if params.get('lab_paths') is not None and warn:
        warn('lab_paths is deprecated and ignored: identity comes from the run record')
    opened = open_run(params, check_mode)
    results_dir, db_path, run_id = opened.results_dir, opened.db_path, opened.run_id
    dest = os.path.abspath(params['dest'] or os.path.join(opened.run_dir, 'report.html'))
    if opened.record is None:
        return {'changed': False, 'run_id': run_id, 'files_changed': [], 'path': dest,
                'msg': 'no run record at %s (check mode): nothing to report' % opened.summary_path,
                'diff': {'before': {}, 'after': {}}}
    verdict = load_verdict(opened.run_dir)
    view = judged_view(opened.summary, verdict)
    judged = list((verdict or {}).get('metrics') or judged_metrics(None))
    timeseries = []
    for test in view['tests']:
        if str(test.get('protocol')).lower() == 'mptcp':
            run, data, name = load_timeseries(opened.run_dir, test)
            timeseries.append((test, run, data, name))
    store = open_readonly(db_path, check_mode, 'writing the report')
    try:
        started_ts = opened.record['run']['started_ts']
        trends = []
        for test, res in zip(view['tests'], opened.record['results']):
            # a panel per judged metric the test measured (throughput: every test that has it)
            measured = set(name for name, stats in (res.get('metrics') or {}).items() if stats.get('n'))
            if res['n'] or res.get('primary', METRIC) == METRIC:
                measured.add(METRIC)
            # and the metrics its suite names (upstream.<slug>), judged wherever measured
            for metric in [m for m in judged if m in measured] + sorted(
                    m for m in measured if is_dynamic_metric(m) and m not in judged):
                history = store.history(res['test_key'], until_ts=started_ts, limit=params['history_limit'],
                                        metric=metric)
                trends.append((test, metric, history, run_id))
        csv_path = os.path.join(results_dir, 'history.csv') if params['export'] else None
        files = {dest: perf_html.render(view, trends, db_path, csv_path, timeseries).encode('utf-8')}
        if params['export']:
            files.update(export_files(store, results_dir))
    finally:
        store.close()
        perf_html.close_all()

    before = dict((p, read_bytes(p)) for p in files)
    changed_files = sorted(p for p, data in files.items() if before[p] != data)
    if not check_mode:
        for path in changed_files:
            directory = os.path.dirname(path)
            if not os.path.isdir(directory):
                os.makedirs(directory)
            write_atomic(path, files[path])
    result = {
        'changed': bool(changed_files),
        'path': dest,
        'run_id': run_id,
        'files_changed': changed_files,
        'diff': {'before': dict((p, _digest(before[p])) for p in changed_files),
                 'after': dict((p, _digest(files[p])) for p in changed_files)},
    }
    if params['export']:
        result['csv_path'] = csv_path
        result['csv_files'] = sorted(p for p in files if p not in (dest, csv_path))
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            results_dir=dict(type='path', required=True),
            run=dict(type='str', default='latest'),
            history_db=dict(type='path'),
            dest=dict(type='path'),
            history_limit=dict(type='int', default=30),
            export=dict(type='bool', default=True),
            lab_paths=dict(type='list', elements='dict'),
        ),
        supports_check_mode=True,
    )
    if not perf_html.HAS_MATPLOTLIB:
        module.fail_json(msg=missing_required_lib('matplotlib'),
                         exception=str(perf_html.MATPLOTLIB_IMPORT_ERROR))
    run_module(module, report)


if __name__ == '__main__':
    main()
