# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The run record: statistics, per-run and per-test records, summary.json.

Pure functions (plus the small writer at the end). The shape of summary.json
is the DESIGN contract; fields beyond it are additions that readers may
ignore (documented in roles/perf_suite/README.md).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import time

from ansible_collections.mptcp.lab.plugins.module_utils import perf_stats
from ansible_collections.mptcp.lab.plugins.module_utils.perf_suite import expected_mbps

SAFE_RE = re.compile(r'[^A-Za-z0-9._-]+')
RUN_KEYS = ('throughput_mbps', 'per_path_mbps', 'subflows', 'fallback', 'ok', 'error')
EXTRA_RUN_KEYS = ('duration_s', 'elapsed_s', 'per_path_bytes', 'per_path_wire_mbps', 'streams',
                  'fallback_reasons', 'retransmits', 'sent_mbps', 'congestion', 'cpu', 'started', 'argv',
                  'launcher', 'sink_stats_error')


def median(values):
    ordered = sorted(values)
    n = len(ordered)
    if not n:
        return None
    mid = n // 2
    return float(ordered[mid]) if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2.0


def summarize(values):
    """{values, median, mean, min, max, cv, n} of the numbers among values, rounded for the record.

    cv = sample stdev / mean (fraction), None for fewer than 2 values (perf_stats.summarize).
    """
    stats = perf_stats.summarize(v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool))
    for key, digits in (('median', 3), ('mean', 3), ('cv', 5)):
        if stats[key] is not None:
            stats[key] = round(stats[key], digits)
    return stats


def safe_name(text):
    return SAFE_RE.sub('_', str(text)).strip('_') or 'x'


def raw_base(item):
    """File name stem of one measurement's raw outputs."""
    return '%03d-%s-rep%d' % (item['k'], safe_name(item['test']), item['rep'])


def run_record(item, result):
    """One run of the summary from a plan item and the task result.

    ``result`` is what perf_measure returned, or a failed/unreachable task
    result: then the run is kept with the task's error.
    """
    rec = {'rep': item['rep'], 'k': item['k']}
    result = result or {}
    if result.get('unreachable') or result.get('failed') or 'ok' not in result:
        msg = result.get('msg') or ('host unreachable' if result.get('unreachable') else
                                    'measurement task did not run')
        rec.update(throughput_mbps=None, per_path_mbps=[None] * item['paths'], subflows=None,
                   fallback=None, ok=False, error='task failed: %s' % msg, duration_s=0)
        return rec
    for key in RUN_KEYS + EXTRA_RUN_KEYS:
        if key in result:
            rec[key] = result[key]
    rec['ok'] = bool(result.get('ok'))
    rec['error'] = result.get('error')
    return rec


def test_verdict(test):
    """('ok' | 'invalid', reason) from the validity of the runs."""
    runs = test['runs']
    bad = [r for r in runs if not r.get('ok')]
    if not runs:
        return 'invalid', 'no run'
    if bad:
        reasons = sorted(set(str(r.get('error')) for r in bad))
        return 'invalid', '%d of %d run(s) invalid: %s' % (len(bad), len(runs), '; '.join(reasons))
    return 'ok', None


def test_record(test, runs, expected, shaping):
    ok_runs = [r for r in runs if r.get('ok')]
    stats = summarize(r.get('throughput_mbps') for r in ok_runs)
    per_path = []
    for i in range(test['paths']):
        col = [r['per_path_mbps'][i] for r in ok_runs
               if len(r.get('per_path_mbps') or []) > i and r['per_path_mbps'][i] is not None]
        per_path.append(round(median(col), 3) if col else None)
    util = round(stats['median'] / expected, 4) if expected and stats['median'] is not None else None
    rec = {
        'name': test['name'],
        'protocol': test['protocol'],
        'paths': test['paths'],
        'path_ids': test['path_ids'],
        'direction': test['direction'],
        'streams': test['streams'],
        'congestion': test.get('congestion'),
        'duration_s': test['duration_s'],
        'omit_s': test['omit_s'],
        'repetitions': test['repetitions'],
        'shaping': shaping,
        'expected_mbps': expected,
        'utilisation': util,
        'runs': sorted(runs, key=lambda r: r['rep']),
        'throughput_mbps': stats,
        'per_path_mbps_median': per_path,
        'cpu_busy_pct_median': {
            end: _median_or_none(((r.get('cpu') or {}).get(end) or {}).get('busy_pct') for r in ok_runs)
            for end in ('generator', 'sink')},
    }
    rec['verdict'], rec['verdict_reason'] = test_verdict(rec)
    rec['valid'] = rec['verdict'] == 'ok'
    return rec


def _median_or_none(values):
    values = [v for v in values if isinstance(v, (int, float))]
    return round(median(values), 2) if values else None


def build_summary(suite, items, results, lab_paths, run_id, started, finished, metadata,
                  measure_started=None, measure_finished=None, extra=None):
    """summary.json as a dict.

    ``items`` is the plan, ``results`` the task result of each item (same
    order, or matched by item k). traffic_s sums the measured traffic windows
    (iperf3's seconds, omit excluded) of every run.
    """
    by_k = {}
    for res in results:
        item = (res or {}).get('item') or (res or {}).get('perf_item')
        if isinstance(item, dict) and 'k' in item:
            by_k[item['k']] = res
    runs_by_test = dict((t['name'], []) for t in suite['tests'])
    traffic = 0.0
    for item in items:
        rec = run_record(item, by_k.get(item['k']))
        rec['raw'] = raw_base(item)
        runs_by_test[item['test']].append(rec)
        traffic += float(rec.get('duration_s') or 0)
    tests = []
    for t in suite['tests']:
        shaping = [lab_paths[i - 1] for i in t['path_ids']] if lab_paths and \
            all(i <= len(lab_paths) for i in t['path_ids']) else None
        tests.append(test_record(t, runs_by_test[t['name']], expected_mbps(t, lab_paths), shaping))
    wall = round(finished - started, 3)
    summary = {
        'run_id': run_id,
        'suite': suite['name'],
        'suite_description': suite.get('description', ''),
        'started': iso(started),
        'finished': iso(finished),
        'wall_s': wall,
        'traffic_s': round(traffic, 3),
        'wall_per_traffic': round(wall / traffic, 4) if traffic else None,
        'measurements': len(items),
        'lab_paths': lab_paths,
        'metadata': metadata,
        'tests': tests,
        'regressions': [],
    }
    if measure_started is not None and measure_finished is not None:
        summary['measure_s'] = round(measure_finished - measure_started, 3)
    summary.update(extra or {})
    return summary


def iso(epoch):
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(epoch))


def table_rows(summary):
    """Rows for the end-of-play table: test, protocol, paths, median, CV, utilisation, verdict."""
    rows = []
    for t in summary['tests']:
        s = t['throughput_mbps']
        rows.append([t['name'], t['protocol'], t['paths'], s['median'], s['cv'], t['utilisation'],
                     t['verdict']])
    return rows


# ------------------------------------------------------------------ writer

def write_json(path, data):
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write('\n')
    os.rename(tmp, path)


def write_text(path, text):
    with open(path, 'w') as f:
        f.write(text or '')


def point_latest(results_dir, run_id):
    """Atomically make <results_dir>/latest a relative symlink to run_id."""
    link = os.path.join(results_dir, 'latest')
    tmp = os.path.join(results_dir, '.latest.tmp')
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(run_id, tmp)
    os.rename(tmp, link)
    return link


def write_raw(run_dir, items, results):
    """Raw outputs of every run beside summary.json, under raw/; returns file names."""
    raw_dir = os.path.join(run_dir, 'raw')
    if not os.path.isdir(raw_dir):
        os.makedirs(raw_dir)
    by_k = {}
    for res in results:
        item = (res or {}).get('item') or (res or {}).get('perf_item')
        if isinstance(item, dict) and 'k' in item:
            by_k[item['k']] = res
    written = []
    for item in items:
        res = by_k.get(item['k']) or {}
        raw = res.get('raw') or {}
        base = os.path.join(raw_dir, raw_base(item))
        if raw.get('iperf3') is not None:
            write_json(base + '.iperf3.json', raw['iperf3'])
        elif raw.get('iperf3_stdout') or raw.get('iperf3_stderr'):
            write_text(base + '.iperf3.txt', (raw.get('iperf3_stdout') or '') + (raw.get('iperf3_stderr') or ''))
        if 'mptcp_counters' in raw:
            write_text(base + '.nstat.txt', ''.join('MPTcpExt%s %d\n' % (k, v) for k, v in
                                                    sorted((raw.get('mptcp_counters') or {}).items())))
        if raw.get('ss_subflows') is not None or raw.get('ss_mptcp') is not None:
            write_text(base + '.ss.txt', '# ss -tni state established dport = :PORT (mid-run)\n%s'
                       '# ss -Mni (mid-run)\n%s' % (raw.get('ss_subflows') or '', raw.get('ss_mptcp') or ''))
        if raw.get('sink'):
            write_json(base + '.sink.json', raw['sink'])
        if not raw and (res.get('failed') or res.get('unreachable')):
            write_json(base + '.task.json', dict((k, v) for k, v in res.items() if k != 'invocation'))
        written.append(raw_base(item))
    return written
