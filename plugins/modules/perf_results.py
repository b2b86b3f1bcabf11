#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: perf_results
short_description: Write the run record of a perf suite (summary.json, raw outputs, latest)
version_added: 0.1.0
description:
  - Turns the plan of a perf suite and the results of its measurements
    (M(mptcp.lab.perf_measure), one per plan item) into the run record
    C(<results_dir>/<run_id>/summary.json), in the shape of the DESIGN contract,
    writes every run's raw tool output beside it under C(raw/), and points
    C(<results_dir>/latest) at the run.
  - Failed or unreachable measurement tasks are kept as runs with their error.
  - Each run keeps the measurement's figures of every metric (C(runs[].metrics), from its
    result's C(metrics)) and its CPU cost (C(runs[].cpu_cost)). Per test it computes the
    statistics of the valid runs (values, median, mean, min, max, cv = stdev/mean as a
    fraction, n) of every metric some run measured (C(tests[].metrics), with
    C(throughput_mbps) also at the top level of the test; null throughput, as a
    request/response test has, is accepted), the CPU cost per GB of each host
    (C(tests[].cpu_cost)), the utilisation (median / expected) and the test's validity
    (C(valid), C(invalid_reason)), decided once here.
  - The record carries C(schema_version) and follows the schema shipped as
    C(docs/run-record.schema.json) (fields in C(docs/run-record.md)). It is written once and
    never rewritten; a run id whose C(summary.json) exists is refused. The verdict of the
    run is not part of it (M(mptcp.lab.perf_verdict) writes C(verdict.json) beside it), so
    C(regressions) is empty here.
  - Runs where the results go (the controller).
options:
  results_dir:
    description: Results directory (C(perf_results_dir)), created when missing.
    type: path
    required: true
  run_id:
    description: Id of the run, the name of its directory.
    type: str
    required: true
  suite:
    description: The normalized suite (RV(mptcp.lab.perf_suite#module:suite)).
    type: dict
    required: true
  plan:
    description: The plan (RV(mptcp.lab.perf_suite#module:perf_plan)).
    type: list
    elements: dict
    required: true
  results:
    description:
      - The task result of each measurement, each carrying its plan item under C(item)
        (what a looped task registers in C(results)).
    type: list
    elements: dict
    required: true
  flow_results:
    description:
      - The other generators' task results of the measurements over several pairs at once (suite key
        C(pairs)), by generator name; the first flow's are in O(results). Each such measurement becomes one run
        with its flows (C(runs[].flows)), their aggregate, Jain's index and start skew.
    type: dict
    default: {}
  upstream:
    description:
      - An upstream-format suite's tests (RV(mptcp.lab.perf_suite#module:upstream)) and the task results of
        M(mptcp.lab.perf_upstream_test), in the same order; each becomes a test of C(kind=upstream)
        (docs/upstream-suites.md).
    type: dict
    default: {}
    suboptions:
      tests:
        description: The planned tests.
        type: list
        elements: dict
        default: []
      results:
        description: Their results (a looped task's C(results)).
        type: list
        elements: dict
        default: []
  lab_paths:
    description:
      - The lab's paths, recorded and used for each test's shaping and ideal goodput; a test with a shaping of
        its own (its C(shaping) in O(suite)) records and uses that instead.
    type: list
    elements: dict
    default: []
  expected_mbps:
    description:
      - The planner's ideal goodput of each test, by test name
        (RV(mptcp.lab.perf_suite#module:expected_mbps)); computed from O(lab_paths) the same
        way when omitted.
    type: dict
  tags:
    description:
      - Tags of the run, each C(key:value) (or C(key=value)), from C(-e perf_tag=...) and the
        list C(perf_tags). Recorded as C(tags), an object; shown in the report, exported in the
        CSV and usable to pick a baseline (C(perf_baseline_tag)).
      - A key is 1-64 letters, digits, C(.), C(_) or C(-); a value 1-200 of those or any of C(:@/+~).
    type: list
    elements: str
    default: []
  notes:
    description: Free notes about the run (C(-e perf_notes='{...}')), recorded as C(notes).
    type: dict
    default: {}
  metadata:
    description:
      - Metadata of hosts, by inventory hostname, as the record keeps it. An entry of O(hosts)
        of the same name replaces it.
    type: dict
    default: {}
  hosts:
    description:
      - What the run gathered on each host, built into its entry of the record's C(metadata)
        here (perf_record.host_metadata, docs/run-record.md) - the shape of that entry is this
        module's business, not the playbook's.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Inventory hostname.
        type: str
        required: true
      role:
        description: What the host is in the run.
        type: str
        required: true
        choices: [generator, sink, shaper]
      mptcp:
        description: The host's C(ansible_facts.mptcp) (M(mptcp.lab.mptcp_info)); none on a shaper.
        type: dict
      info:
        description: M(mptcp.lab.perf_host_info)'s result (kernel, offloads, sysctls, cpu, cmdline, qdiscs).
        type: dict
      path_links:
        description: The host's C(lab_path_links).
        type: list
        elements: dict
      vm:
        description: The VM's boot record and C(uname -a) (VM lab).
        type: dict
      cpu_tuning:
        description: M(mptcp.lab.cpu_tuning)'s result; the record keeps its governor, IRQ and CPU figures.
        type: dict
      traffic_sink:
        description: The sink's service as it was while the run measured.
        type: dict
  started:
    description: Start of the perf run, seconds since the epoch.
    type: float
    required: true
  finished:
    description: End of the perf run, seconds since the epoch; now when omitted.
    type: float
  measure_started:
    description: When the first measurement started (epoch seconds), for C(measure_s) in summary.json.
    type: float
  extra:
    description: More top-level fields for summary.json (for example the lab hosts and the suite file).
    type: dict
    default: {}
  verdict:
    description:
      - The verdict knobs (those of M(mptcp.lab.perf_verdict)). When given, the record's C(regressions) are
        judged before it is written, from the history alone (runs that started before this one), so that
        summary.json is written once and complete. Without it, C(regressions) is written empty.
    type: dict
    suboptions:
      history_db:
        description: The history database; default C(<results_dir>/history.sqlite). None yet means no baseline.
        type: path
      baseline:
        description: A run id to compare with instead of the last I(baseline_runs) valid runs.
        type: str
        default: ''
      baseline_tag:
        description: C(key=value); the baseline is made of the last runs tagged so.
        type: str
        default: ''
      baseline_runs:
        description: How many earlier valid runs make the baseline.
        type: int
        default: 10
      alpha:
        description: Significance level.
        type: float
        default: 0.05
      min_effect_pct:
        description: Smallest flagged change of the throughput medians, in percent.
        type: float
        default: 1.5
      metric_min_effect:
        description: The smallest flagged change, in percent, of the metrics named (C(perf_metric_min_effect)).
        type: dict
        default: {}
      metrics:
        description: The metrics to judge (C(perf_judged_metrics)); empty for the default set.
        type: list
        elements: str
        default: []
author:
  - mptcp.lab developers (@multipath-tcp)
extends_documentation_fragment:
  - mptcp.lab.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
'''

EXAMPLES = r'''
- name: Write the run record
  mptcp.lab.perf_results:
    results_dir: /srv/mptcp-lab/results
    run_id: 20261125T081500Z-1a2b3c
    suite: "{{ plan.suite }}"
    plan: "{{ plan.perf_plan }}"
    results: "{{ measurements.results }}"
    lab_paths: "{{ lab_paths }}"
    started: "{{ perf_started }}"
  register: record
'''

RETURN = r'''
run_dir:
  description: Directory of the run.
  returned: success
  type: str
  sample: /work/main/results/20261125T081500Z-1a2b3c
summary_path:
  description: Path of summary.json.
  returned: success
  type: str
summary:
  description:
    - summary.json's content without the per-run details (tests keep their statistics and
      validity, plus C(invalid_runs)).
  returned: success
  type: dict
wall_s:
  description: Wall time of the perf run, seconds.
  returned: success
  type: float
traffic_s:
  description: Sum of the measured traffic windows, seconds.
  returned: success
  type: float
lines:
  description:
    - The run's table for the console - per test its median throughput, CV, utilisation and
      validity; per test of kind V(upstream) the median of each metric its suite names and its
      validation commands' outcome; per request/response test its transactions per second and
      round-trip percentiles; last the run's wall and traffic time and where summary.json is.
  returned: success
  type: list
  elements: str
'''

import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mptcp.lab.plugins.module_utils.perf import perf_baseline, perf_record, perf_results


def brief(summary):
    """The summary without runs and metadata, small enough to print or register."""
    out = dict((k, v) for k, v in summary.items() if k not in ('tests', 'metadata'))
    out['tests'] = [dict((k, v) for k, v in t.items() if k != 'runs') for t in summary['tests']]
    for t, full in zip(out['tests'], summary['tests']):
        t['invalid_runs'] = [{'rep': r['rep'], 'error': r.get('error')} for r in full['runs'] if not r.get('ok')]
    return out


def _figure(value, fmt, scale=1):
    return '-' if value is None else fmt % (value * scale)


def upstream_line(test):
    """The console line of a test of kind upstream: each upstream.* metric's median (its unit
    when not the default), then its validation commands' outcome."""
    metrics = test.get('metrics') or {}
    figures = []
    for name in perf_record.upstream_metrics(test):
        stats = metrics.get(name) or {}
        unit = stats.get('unit') or perf_record.UPSTREAM_UNIT
        figures.append('%s %s%s' % (name[len('upstream.'):], perf_baseline.figure(stats.get('median')),
                                    '' if unit == perf_record.UPSTREAM_UNIT else ' ' + unit))
    checks = [v for v in perf_record.upstream_part(test, 'validation') or [] if isinstance(v, dict)]
    outcome = ', '.join('%s %s' % (v.get('name'), 'ok' if v.get('ok') else 'FAILED (rc %s)' % v.get('rc'))
                        for v in checks) or 'none'
    return '%-22s upstream: %s; validation: %s' % (test['name'], ', '.join(figures) or 'no metric', outcome)


def table_lines(summary, summary_path):
    """The run's results as console lines (RV(lines))."""
    header = ('test', 'proto', 'paths', 'median Mb/s', 'CV', 'util', 'verdict')
    lines = ['%-22s %-6s %5s %10s %7s %6s  %s' % header]
    for test in summary['tests']:
        tput = test.get('throughput_mbps') or {}
        cv = tput.get('cv') if (tput.get('n') or 0) >= 2 else None
        lines.append('%-22s %-6s %5d %10s %7s %6s  %s' % (
            test['name'], test['protocol'] or '-', test['paths'], _figure(tput.get('median'), '%.2f'),
            _figure(cv, '%.2f%%', 100), _figure(test.get('utilisation'), '%.1f%%', 100), test.get('verdict')))
    # tests in the upstream harness's format: the medians of the metrics their suite names, and
    # their validation commands
    for test in summary['tests']:
        if test.get('kind') == perf_record.UPSTREAM_KIND:
            lines.append(upstream_line(test))
    # request/response tests: their own figures (medians of the valid runs)
    for test in summary['tests']:
        if test.get('kind') != 'latency':
            continue
        metrics = test.get('metrics') or {}
        medians = [_figure((metrics.get(name) or {}).get('median'), '%.1f')
                   for name in ('rr_tps', 'latency_p50_us', 'latency_p90_us', 'latency_p99_us')]
        lines.append('%-22s %s transactions/s, round trip p50 %s / p90 %s / p99 %s us%s' % tuple(
            [test['name']] + medians + [' (under a bulk load)' if test.get('load') == 'bulk' else '']))
    # tests on several pairs at once: the flows' fairness and how far apart they started
    for test in summary['tests']:
        if not test.get('pairs'):
            continue
        metrics = test.get('metrics') or {}
        skews = [r['start_skew_ms'] for r in test.get('runs') or [] if isinstance(r.get('start_skew_ms'), (int, float))]
        share = ''
        if test.get('mix'):
            # flows of both protocols: the MPTCP flows' share of the aggregate
            share = ', %d MPTCP + %d TCP flows: MPTCP share %s' % (
                test['mix'].get('mptcp', 0), test['mix'].get('tcp', 0),
                _figure((metrics.get('mptcp_share') or {}).get('median'), '%.3f'))
        if test.get('bottleneck'):
            share += ' (shared bottleneck %s Mbit/s)' % test['bottleneck'].get('rate_mbit')
        lines.append('%-22s %d pairs at once: Jain\'s index %s, start skew up to %s ms%s' % (
            test['name'], test['pairs'], _figure((metrics.get('jain_index') or {}).get('median'), '%.4f'),
            _figure(max(skews) if skews else None, '%.1f'), share))
    lines.append('run %s: wall %.1f s, traffic %.1f s (ratio %s), %s' % (
        summary['run_id'], summary['wall_s'], summary['traffic_s'],
        _figure(summary.get('wall_per_traffic'), '%.3f'), summary_path))
    return lines


def upstream_pairs(upstream):
    """[(test, its result)] of an upstream-format suite, matched by name (a test without one did not run)."""
    by_name = dict((r.get('name') or (r.get('item') or {}).get('name'), r) for r in upstream['results'] or [])
    return [(t, by_name.get(t['name'])) for t in upstream['tests'] or []]


def main():
    module = AnsibleModule(
        argument_spec=dict(
            results_dir=dict(type='path', required=True),
            run_id=dict(type='str', required=True),
            suite=dict(type='dict', required=True),
            plan=dict(type='list', elements='dict', required=True),
            results=dict(type='list', elements='dict', required=True),
            flow_results=dict(type='dict', default={}),
            upstream=dict(type='dict', default={}, options=dict(
                tests=dict(type='list', elements='dict', default=[]),
                results=dict(type='list', elements='dict', default=[]),
            )),
            lab_paths=dict(type='list', elements='dict', default=[]),
            expected_mbps=dict(type='dict'),
            tags=dict(type='list', elements='str', default=[]),
            notes=dict(type='dict', default={}),
            metadata=dict(type='dict', default={}),
            hosts=dict(type='list', elements='dict', default=[], options=dict(
                name=dict(type='str', required=True),
                role=dict(type='str', required=True, choices=['generator', 'sink', 'shaper']),
                mptcp=dict(type='dict'),
                info=dict(type='dict'),
                path_links=dict(type='list', elements='dict'),
                vm=dict(type='dict'),
                cpu_tuning=dict(type='dict'),
                traffic_sink=dict(type='dict'),
            )),
            started=dict(type='float', required=True),
            finished=dict(type='float'),
            measure_started=dict(type='float'),
            extra=dict(type='dict', default={}),
            verdict=dict(type='dict', options=dict(
                history_db=dict(type='path'),
                baseline=dict(type='str', default=''),
                baseline_tag=dict(type='str', default=''),
                baseline_runs=dict(type='int', default=10),
                alpha=dict(type='float', default=0.05),
                min_effect_pct=dict(type='float', default=1.5),
                metric_min_effect=dict(type='dict', default={}),
                metrics=dict(type='list', elements='str', default=[]),
            )),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if not perf_record.RUN_ID_RE.match(p['run_id']) or p['run_id'] in ('latest', '.', '..'):
        module.fail_json(msg="run_id: letters, digits, '.', '_' and '-' only, not 'latest', got %r" % p['run_id'])
    run_dir = os.path.join(p['results_dir'], p['run_id'])
    path = os.path.join(run_dir, 'summary.json')
    if os.path.lexists(path):
        module.fail_json(msg='run_id: %s already has a run record (%s), which is written once; '
                             'pick another run id' % (p['run_id'], path))
    try:
        tags = perf_record.parse_tags(p['tags'])
    except perf_record.RecordError as e:
        module.fail_json(msg=str(e))
    finished = p['finished'] or time.time()
    metadata = dict(p['metadata'], **perf_record.hosts_metadata(p['hosts']))
    upstream = upstream_pairs(p['upstream'])
    kernels = [r.get('kernel') for dummy, r in upstream if r and r.get('kernel')]
    if kernels:
        # an upstream-format suite's hosts, as that harness names them (namespaces of this machine)
        for name, role in (('client', 'generator'), ('server', 'sink')):
            metadata.setdefault(name, perf_record.host_metadata(role, info={'kernel': kernels[0]}))
    summary = perf_record.build_summary(p['suite'], p['plan'], p['results'], p['lab_paths'], p['run_id'],
                                        p['started'], finished, metadata,
                                        measure_started=p['measure_started'], measure_finished=finished,
                                        extra=p['extra'], expected=p['expected_mbps'],
                                        tags=tags, notes=p['notes'], flow_results=p['flow_results'],
                                        upstream=upstream)
    if p['verdict'] is not None:
        # The record is written once, complete: its regressions are judged now,
        # from the history alone (perf_baseline.judge_before_writing).
        v = p['verdict']
        try:
            tag = perf_record.parse_tag(v['baseline_tag'], 'baseline_tag') if v['baseline_tag'] else None
            summary['regressions'] = perf_baseline.judge_before_writing(
                summary, v['history_db'] or os.path.join(p['results_dir'], 'history.sqlite'),
                named=(v['baseline'] or '').strip() or None, last_n=v['baseline_runs'], alpha=v['alpha'],
                min_effect_pct=v['min_effect_pct'], tag=tag, metrics=v['metrics'],
                metric_min_effect=v['metric_min_effect'])
        except perf_record.PerfError as e:
            module.fail_json(msg='verdict: %s' % e)
    result = dict(changed=not module.check_mode, run_dir=run_dir, summary_path=path,
                  wall_s=summary['wall_s'], traffic_s=summary['traffic_s'], summary=brief(summary),
                  lines=table_lines(summary, path),
                  latest=os.path.join(p['results_dir'], 'latest'))
    if module.check_mode:
        module.exit_json(**result)
    try:
        if not os.path.isdir(run_dir):
            os.makedirs(run_dir)
        perf_results.write_raw(run_dir, p['plan'], p['results'], p['flow_results'])
        perf_record.write_record(path, summary)
        perf_results.point_latest(p['results_dir'], p['run_id'])
    except perf_record.RecordError as e:
        module.fail_json(msg='run_id: %s' % e)
    except (IOError, OSError) as e:
        module.fail_json(msg='results_dir: cannot write the run record under %s: %s' % (p['results_dir'], e))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
