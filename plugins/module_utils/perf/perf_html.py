# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The self-contained HTML report of a perf run (plots embedded as PNG data URIs).

Plain HTML with inline CSS, no JavaScript, no external resource: it opens from
a mail attachment or an artifact store as well as from disk. The output is
deterministic (same run and history give the same bytes), so re-writing it is
a no-op.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import html
import io
import json
import math

try:
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib import pyplot
    from matplotlib.figure import Figure
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    HAS_MATPLOTLIB = True
    MATPLOTLIB_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - depends on the environment
    HAS_MATPLOTLIB = False
    MATPLOTLIB_IMPORT_ERROR = exc

from ansible_collections.mptcp.lab.plugins.module_utils.perf import perf_timeseries
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_baseline import figure
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_record import (
    METRIC, UPSTREAM_JUDGING_KEYS, UPSTREAM_KIND, format_time, is_dynamic_metric, metric_info, metric_table,
    primary_metric)
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_stats import median
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_store import shaping_text

PROTOCOL_COLOURS = {'tcp': '#4c72b0', 'mptcp': '#dd8452'}
PATH_COLOURS = ('#55a868', '#8172b3', '#c44e52', '#937860', '#da8bc3', '#8c8c8c', '#ccb974', '#64b5cd')
VERDICT_COLOURS = {'pass': '#2e7d32', 'regression': '#c62828', 'improvement': '#1565c0',
                   'no-baseline': '#6d6d6d', 'invalid': '#ef6c00'}
METRIC_COLOUR = '#6a5acd'        # the other metrics' figure
DPI = 100
# Figures at most this wide (inches; x DPI = pixels) fit the page's column unscaled.
MAX_WIDTH_IN = 12.0

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;margin:0;
 color:#1d1d1f;background:#fafafa;line-height:1.4}
header{background:#263238;color:#fff;padding:18px 28px}
header h1{margin:0 0 4px 0;font-size:24px}
header p{margin:2px 0;color:#cfd8dc}
main{padding:8px 28px 28px 28px;max-width:1280px}
h2{border-bottom:2px solid #cfd8dc;padding-bottom:4px;margin-top:28px}
h3{margin:18px 0 6px 0}
table{border-collapse:collapse;margin:8px 0;background:#fff;font-size:14px}
th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eceff1}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.tag{display:inline-block;padding:0 6px;margin-right:4px;border:1px solid #90a4ae;border-radius:4px;font-family:monospace}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-weight:600;font-size:13px}
.banner{display:inline-block;margin-top:8px;padding:6px 14px;border-radius:6px;font-weight:700;color:#fff}
.note{color:#555;font-size:13px}
.compare{font-size:15px;background:#eef3f8;padding:6px 10px;border-left:4px solid #455a64}
table.verdict td:last-child{min-width:240px}
table.verdict td:first-child{min-width:150px}
img{max-width:100%;height:auto;background:#fff;border:1px solid #d0d7de;margin:6px 0}
.meta td,.meta th{font-size:13px}
code{background:#eceff1;padding:0 3px;border-radius:3px}
summary{cursor:pointer;color:#37474f}
"""


def esc(value):
    return html.escape('' if value is None else str(value), quote=True)


def fmt(value, digits=2, suffix=''):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return '&mdash;'
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return '%.*f%s' % (digits, value, suffix)
    return esc(value)


def badge(verdict):
    verdict = verdict or 'pending'
    colour = VERDICT_COLOURS.get(verdict, '#9e9e9e')
    return '<span class="badge" style="background:%s">%s</span>' % (colour, esc(verdict))


def png_data_uri(fig):
    buf = io.BytesIO()
    FigureCanvasAgg(fig)
    fig.savefig(buf, format='png', dpi=DPI, metadata={'Software': None})
    return 'data:image/png;base64,' + base64.b64encode(buf.getvalue()).decode('ascii')


def img(fig, alt):
    return '<img src="%s" alt="%s">' % (png_data_uri(fig), esc(alt))


def _finite(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def has_throughput(test):
    """Whether a test measures throughput (a request/response test's is null by design, and a
    test of kind upstream measures the metrics its suite names)."""
    if test.get('kind') == UPSTREAM_KIND:
        return False
    runs = [r for r in test.get('runs') or [] if isinstance(r, dict)]
    if not runs:
        return bool((test.get('throughput_mbps') or {}).get('values'))
    return any(not r.get('ok') or _finite(r.get('throughput_mbps')) for r in runs) and \
        not all(r.get('ok') and r.get('throughput_mbps') is None for r in runs)


def _values(test):
    """(repetition index, value or None when the repetition failed) in order."""
    runs = test.get('runs') or []
    if runs:
        out = []
        for i, run in enumerate(runs):
            v = run.get('throughput_mbps') if isinstance(run, dict) else None
            if isinstance(v, dict):
                v = v.get('mean', v.get('median'))
            ok = isinstance(run, dict) and run.get('ok') and isinstance(v, (int, float))
            out.append((i + 1, float(v) if ok else None))
        return out
    values = (test.get('throughput_mbps') or {}).get('values') or []
    return [(i + 1, float(v)) for i, v in enumerate(values)]


def _protocol(test):
    """A test's protocol for people: TCP, MPTCP, or 'upstream' for a test of kind upstream
    (its suite's shell steps choose the protocol)."""
    if test.get('kind') == UPSTREAM_KIND and not test.get('protocol'):
        return UPSTREAM_KIND
    return str(test.get('protocol') or '?').upper()


def _test_facts(test):
    """'MPTCP, 2 paths, upload' ('upstream, 2 paths' for a test of kind upstream: no direction)."""
    paths = test.get('paths', 1)
    parts = [_protocol(test), '%s path%s' % (paths, '' if paths == 1 else 's')]
    if test.get('direction'):
        parts.append(str(test['direction']))
    return ', '.join(parts)


def _test_label(test):
    return '%s\n%s' % (test.get('name'), _test_facts(test))


def scale_groups(tests):
    """[(label, tests)]: the tests on rate-shaped paths (an ideal goodput) and the unshaped ones
    (none), apart when there are both, since their throughputs differ by orders of magnitude."""
    shaped = [t for t in tests if _finite(t.get('expected_mbps')) and t['expected_mbps'] > 0]
    free = [t for t in tests if t not in shaped]
    if shaped and free:
        return [('rate-shaped paths', shaped), ('unshaped paths', free)]
    return [(None, tests)]


def _throughput_axes(ax, tests):
    top = 0.0
    for i, test in enumerate(tests):
        proto = str(test.get('protocol', 'tcp')).lower()
        colour = PROTOCOL_COLOURS.get(proto, '#777777')
        reps = _values(test)
        count = max(1, len(reps))
        ok = [v for dummy, v in reps if v is not None]
        if ok:
            med = median(ok)
            ax.bar(i, med, width=0.7, color=colour, alpha=0.35, label=proto.upper(), edgecolor=colour)
            ax.text(i, med / 2.0, '%.1f' % med, ha='center', va='center', fontsize=10,
                    color='#222222', fontweight='bold')
            top = max([top] + ok)
        for k, (rep, v) in enumerate(reps):
            x = i - 0.3 + 0.6 * (k + 0.5) / count
            if v is None:
                ax.plot(x, 0, marker='x', color='#c62828', markersize=8, linestyle='none')
            else:
                ax.plot(x, v, marker='o', color=colour, markersize=5, markeredgecolor='#222222',
                        markeredgewidth=0.5, linestyle='none')
        expected = test.get('expected_mbps')
        if isinstance(expected, (int, float)) and expected > 0:
            ax.hlines(expected, i - 0.4, i + 0.4, colors='#222222', linestyles='dashed', linewidth=1)
            top = max(top, expected)
    ax.set_xticks(range(len(tests)))
    ax.set_xticklabels([_test_label(t) for t in tests], fontsize=8)
    ax.set_ylim(0, top * 1.15 if top else 1)
    ax.set_xlim(-0.6, len(tests) - 0.4)
    ax.grid(axis='y', alpha=0.3)


def throughput_figure(tests):
    """Every repetition of every test (dots in repetition order), medians as bars; the
    rate-shaped and the unshaped tests on axes of their own (scale_groups)."""
    groups = scale_groups(tests)
    n = max(1, len(tests))
    fig = Figure(figsize=(min(MAX_WIDTH_IN, max(7.0, 1.5 * n + 2 + 1.2 * (len(groups) - 1))), 4.8))
    grid = fig.add_gridspec(1, len(groups), width_ratios=[max(1, len(g)) for dummy, g in groups])
    legend = {}
    for index, (label, group) in enumerate(groups):
        ax = fig.add_subplot(grid[0, index])
        _throughput_axes(ax, group)
        if index == 0:
            ax.set_ylabel('throughput (Mbit/s)')
        if label:
            ax.set_title(label, fontsize=9)
        for handle, text in zip(*ax.get_legend_handles_labels()):
            legend.setdefault(text, handle)
    ax = fig.axes[0]
    handles = [legend[k] for k in sorted(legend, key=lambda k: ('TCP', 'MPTCP').index(k) if k in ('TCP', 'MPTCP') else 2)]
    handles.append(ax.plot([], [], marker='o', color='#777777', linestyle='none', label='repetition (in order)')[0])
    handles.append(ax.hlines([], 0, 0, colors='#222222', linestyles='dashed', label='expected'))
    if any(v is None for t in tests for dummy, v in _values(t)):
        handles.append(ax.plot([], [], marker='x', color='#c62828', linestyle='none', label='failed repetition')[0])
    fig.suptitle('Throughput per test: bars = median, dots = each repetition', fontsize=11, y=0.98)
    fig.legend(handles=handles, loc='upper center', fontsize=8, ncol=5, frameon=False, bbox_to_anchor=(0.5, 0.93))
    fig.tight_layout(rect=(0, 0, 1, 0.86 if len(groups) > 1 else 0.89))
    return fig


def _per_path_bars(tests):
    """(x label, [per path Mbit/s], test index) of every successful run of the MPTCP tests."""
    bars = []
    for ti, test in enumerate(tests):
        for k, run in enumerate(test.get('runs') or []):
            if not isinstance(run, dict) or not run.get('ok'):
                continue
            per_path = [v if _finite(v) else 0.0 for v in run.get('per_path_mbps') or []]
            if any(per_path):
                bars.append(('%s\n#%d' % (test.get('name'), k + 1) if k == 0 else '#%d' % (k + 1),
                             per_path, ti))
    return bars


def _per_path_axes(ax, bars, paths):
    xs = []
    x = 0.0
    previous = None
    for label, per_path, ti in bars:
        if previous is not None and ti != previous:
            x += 0.8
        xs.append(x)
        previous = ti
        x += 1.0
    for p in range(paths):
        heights = [b[1][p] if p < len(b[1]) else 0.0 for b in bars]
        bottoms = [sum(b[1][:p]) for b in bars]
        ax.bar(xs, heights, bottom=bottoms, width=0.8, color=PATH_COLOURS[p % len(PATH_COLOURS)],
               label='path %d' % (p + 1), edgecolor='white', linewidth=0.5)
    for xpos, (label, per_path, ti) in zip(xs, bars):
        ax.annotate('%.1f' % sum(per_path), (xpos, sum(per_path)), textcoords='offset points',
                    xytext=(0, 3), ha='center', fontsize=7, color='#333333')
    ax.set_xticks(xs)
    ax.set_xticklabels([b[0] for b in bars], fontsize=7)
    ax.grid(axis='y', alpha=0.3)


def per_path_figure(tests):
    """Stacked per-path throughput of every repetition of every MPTCP test (rate-shaped and
    unshaped tests on axes of their own, scale_groups)."""
    mptcp = [t for t in tests if str(t.get('protocol')).lower() == 'mptcp']
    groups = [(label, _per_path_bars(group)) for label, group in scale_groups(mptcp)]
    groups = [(label, bars) for label, bars in groups if bars]
    if not groups:
        return None
    count = sum(len(bars) for dummy, bars in groups)
    paths = max(len(b[1]) for dummy, bars in groups for b in bars)
    fig = Figure(figsize=(min(MAX_WIDTH_IN, max(7.0, 0.45 * count + 3 + 1.2 * (len(groups) - 1))), 4.6))
    grid = fig.add_gridspec(1, len(groups), width_ratios=[len(bars) for dummy, bars in groups])
    for index, (label, bars) in enumerate(groups):
        ax = fig.add_subplot(grid[0, index])
        _per_path_axes(ax, bars, paths)
        if index == 0:
            ax.set_ylabel('throughput (Mbit/s)')
        if label:
            ax.set_title(label, fontsize=9)
    handles, labels = fig.axes[0].get_legend_handles_labels()
    fig.suptitle('MPTCP throughput split per path, each repetition', fontsize=11, y=0.98)
    fig.legend(handles, labels, loc='upper center', fontsize=8, ncol=paths, frameon=False,
               bbox_to_anchor=(0.5, 0.93))
    fig.tight_layout(rect=(0, 0, 1, 0.87 if len(groups) > 1 else 0.89))
    return fig


def _concurrent_runs(tests):
    """(test, repetition number, run) of every run over several pairs at once (runs[].flows)."""
    return [(test, k + 1, run) for test in tests for k, run in enumerate(test.get('runs') or [])
            if isinstance(run, dict) and run.get('flows')]


def flows_figure(tests):
    """Each flow's throughput of every run over several pairs at once: one cluster of bars per run
    (one bar per pair, coloured by protocol), Jain's index and the start skew above it."""
    runs = _concurrent_runs(tests)
    if not runs:
        return None
    width = sum(len(run['flows']) for dummy, dummy2, run in runs) + len(runs)
    fig = Figure(figsize=(min(MAX_WIDTH_IN, max(7.0, 0.35 * width + 2)), 4.2))
    ax = fig.add_subplot(1, 1, 1)
    x, ticks, labels = 0.0, [], []
    for test, rep, run in runs:
        xs = [x + i for i in range(len(run['flows']))]
        heights = [f.get('throughput_mbps') if _finite(f.get('throughput_mbps')) else 0.0 for f in run['flows']]
        colours = [PROTOCOL_COLOURS.get(str(f.get('protocol')).lower(), '#777777') for f in run['flows']]
        ax.bar(xs, heights, width=0.8, color=colours, edgecolor='white', linewidth=0.5)
        for xpos, f in zip(xs, run['flows']):
            if not f.get('ok'):
                ax.annotate('x', (xpos, 0), ha='center', va='bottom', color='#c44e52', fontsize=9)
        jain = (run.get('metrics') or {}).get('jain_index')
        note = 'J %s' % ('%.3f' % jain if _finite(jain) else '-')
        if _finite(run.get('start_skew_ms')):
            note += ', skew %.0f ms' % run['start_skew_ms']
        share = (run.get('protocol_share') or {}).get('mptcp')
        if _finite(share):
            note += ', MPTCP %.0f %%' % (100.0 * share)
        ax.annotate(note, ((xs[0] + xs[-1]) / 2.0, max(heights or [0])), textcoords='offset points',
                    xytext=(0, 4), ha='center', fontsize=7, color='#333333')
        ticks.append((xs[0] + xs[-1]) / 2.0)
        labels.append('%s #%d' % (test.get('name'), rep))
        x = xs[-1] + 2.0
    ax.set_xticks(ticks)
    ax.set_xticklabels(labels, fontsize=7, rotation=15, ha='right')
    ax.set_ylabel('throughput per flow (Mbit/s)')
    ax.grid(axis='y', alpha=0.3)
    ax.set_title('Each flow of the runs over several pairs at once (one bar per pair, in pair order)', fontsize=10)
    fig.tight_layout()
    return fig


def flows_table(tests):
    """Per run over several pairs at once: aggregate, Jain's index, start skew, MPTCP's share, and each flow."""
    rows = []
    for test, rep, run in _concurrent_runs(tests):
        flows = ', '.join('%s&rarr;%s %s %s%s' % (
            esc(f.get('generator')), esc(f.get('sink')), esc(f.get('protocol')), fmt(f.get('throughput_mbps'), 1),
            '' if f.get('ok') else ' (%s)' % esc(f.get('error') or 'failed')) for f in run['flows'])
        rows.append([esc(test.get('name')), fmt(rep, 0), fmt(len(run['flows']), 0), fmt(run.get('throughput_mbps'), 1),
                     fmt((run.get('metrics') or {}).get('jain_index'), 4), fmt(run.get('start_skew_ms'), 1),
                     fmt((run.get('protocol_share') or {}).get('mptcp'), 3), flows])
    return _table_from_rows(['test', 'rep', 'flows', 'aggregate Mbit/s', 'Jain', 'start skew ms', 'MPTCP share',
                             'each flow (generator&rarr;sink, protocol, Mbit/s)'], rows, numeric=(1, 2, 3, 4, 5, 6))


def metric_rows(test):
    """The metrics of a test that have figures (table order, then those its suite names,
    upstream.<slug>, in name order): [(name, stats)]."""
    metrics = test.get('metrics') or {}
    if not metrics and isinstance(test.get('throughput_mbps'), dict):
        metrics = {METRIC: test['throughput_mbps']}
    names = list(metric_table()) + sorted(n for n in metrics if is_dynamic_metric(n))
    return [(name, metrics[name]) for name in names if name in metrics and
            isinstance(metrics[name], dict) and metrics[name].get('n')]


def _spec(name, test=None):
    """The Metric line of ``name`` (metric_info), with the unit a test's record gives a metric its
    suite names."""
    entry = ((test or {}).get('metrics') or {}).get(name)
    return metric_info(name, entry.get('unit') if isinstance(entry, dict) else None)


def metrics_figure(tests):
    """One panel per metric of METRICS other than throughput that some test measured: each
    test's repetitions (dots) and median (bar). The metrics a suite names (upstream.<slug>) are
    not plotted here: the verdict table and the upstream section show them."""
    table = metric_table()
    names = [n for n in table if n != METRIC and any(n in dict(metric_rows(t)) for t in tests)]
    if not names:
        return None
    cols = min(3, len(names))
    rows = int(math.ceil(len(names) / float(cols)))
    fig = Figure(figsize=(MAX_WIDTH_IN / 3.0 * cols, 3.3 * rows))
    for i, name in enumerate(names):
        ax = fig.add_subplot(rows, cols, i + 1)
        having = [t for t in tests if name in dict(metric_rows(t))]
        for x, test in enumerate(having):
            colour = PROTOCOL_COLOURS.get(str(test.get('protocol')).lower(), METRIC_COLOUR)
            values = [float(r['metrics'][name]) for r in test.get('runs') or [] if isinstance(r, dict)
                      and r.get('ok') and _finite((r.get('metrics') or {}).get(name))]
            stats = dict(metric_rows(test))[name]
            ax.bar(x, stats['median'], width=0.6, color=colour, alpha=0.35, edgecolor=colour)
            for k, v in enumerate(values):
                ax.plot(x - 0.25 + 0.5 * (k + 0.5) / max(1, len(values)), v, marker='o', color=colour,
                        markersize=4, markeredgecolor='#222222', markeredgewidth=0.5, linestyle='none')
        ax.set_xticks(range(len(having)))
        ax.set_xticklabels([t.get('name') for t in having], fontsize=7, rotation=15, ha='right')
        ax.set_xlim(-0.6, len(having) - 0.4)
        spec = table[name]
        ax.set_title('%s (%s, %s is better)' % (name, spec.unit, spec.better), fontsize=9)
        ax.tick_params(axis='y', labelsize=8)
        ax.grid(axis='y', alpha=0.3)
    fig.tight_layout()
    return fig


def timeseries_figure(test, run, data):
    """Time series of one run of an MPTCP test (perf_timeseries.figure), in the report's colours."""
    return perf_timeseries.figure(test, run, data, PATH_COLOURS)


def trend_figure(trends, min_effect_pct):
    """One panel per test: run medians (min-max whiskers) over time.

    ``trends`` is a list of (test dict from summary.json, history rows oldest
    first, current run id), or (test, metric, history rows, current run id):
    one panel per test and metric.
    """
    trends = [t if len(t) == 4 else (t[0], METRIC, t[1], t[2]) for t in trends]
    trends = [t for t in trends if t[2]]
    if not trends:
        return None
    cols = 2 if len(trends) > 1 else 1
    rows = int(math.ceil(len(trends) / float(cols)))
    fig = Figure(figsize=(MAX_WIDTH_IN / 2.0 * cols, 3.4 * rows + 0.35))
    legend = {}
    for i, (test, metric, history, current) in enumerate(trends):
        ax = fig.add_subplot(rows, cols, i + 1)
        xs = list(range(len(history)))
        colour = PROTOCOL_COLOURS.get(str(test.get('protocol')).lower(), '#777777')
        valid = [(x, h) for x, h in zip(xs, history) if h['valid'] and h['median'] is not None]
        if valid:
            ax.plot([x for x, dummy in valid], [h['median'] for dummy, h in valid], '-', color=colour,
                    alpha=0.5, linewidth=1)
            ax.errorbar([x for x, dummy in valid], [h['median'] for dummy, h in valid],
                        yerr=[[h['median'] - h['min'] for dummy, h in valid],
                              [h['max'] - h['median'] for dummy, h in valid]],
                        fmt='o', color=colour, markersize=4, capsize=2, linewidth=0.8,
                        label='valid run (median, min-max)')
        invalid = [(x, h) for x, h in zip(xs, history) if not h['valid']]
        if invalid:
            ax.plot([x for x, dummy in invalid], [h['median'] or 0.0 for dummy, h in invalid], 'x',
                    color='#9e9e9e', markersize=7, label='invalid run')
        for kind, marker, col in (('regression', 'v', VERDICT_COLOURS['regression']),
                                  ('improvement', '^', VERDICT_COLOURS['improvement'])):
            pts = [(x, h) for x, h in zip(xs, history) if h.get('verdict') == kind and h['median'] is not None]
            if pts:
                ax.plot([x for x, dummy in pts], [h['median'] for dummy, h in pts], marker, color=col,
                        markersize=11, linestyle='none', label=kind, zorder=5)
        cur = [(x, h) for x, h in zip(xs, history) if h['run_id'] == current]
        if cur:
            x, h = cur[0]
            ax.axvspan(x - 0.4, x + 0.4, color='#fff59d', alpha=0.7, zorder=0, label='this run')
        case = (test.get('judged') or {}).get(metric) or {}
        baseline = case.get('baseline') if case else (test.get('baseline') if metric == METRIC else None)
        base = (baseline or {}).get('median')
        if isinstance(base, (int, float)):
            ax.axhline(base, color='#455a64', linestyle='--', linewidth=0.9, label='baseline median')
            # changes inside the band are never flagged: the larger of the minimum
            # effect and the run-to-run noise of the baseline runs
            noise = (baseline or {}).get('noise_pct') or 0.0
            effect = case.get('min_effect_pct')
            if effect is None:
                effect = min_effect_pct if metric == METRIC else _spec(metric, test).min_effect_pct
            band = max(effect, noise)
            ax.axhspan(base * (1 - band / 100.0), base * (1 + band / 100.0), color='#b0bec5', alpha=0.3,
                       zorder=0, label='no-flag band')
        step = max(1, int(math.ceil(len(history) / 8.0)))
        ticks = xs[::step]
        if xs and xs[-1] not in ticks:
            ticks.append(xs[-1])
        ax.set_xticks(ticks)
        ax.set_xticklabels([format_time(history[t]['started_ts'])[5:16] for t in ticks],
                           fontsize=7, rotation=30, ha='right')
        ax.set_xlim(-0.6, max(len(history) - 0.4, 0.6))
        ax.set_ylabel(_spec(metric, test).unit if _spec(metric, test) else metric, fontsize=8)
        ax.tick_params(axis='y', labelsize=8)
        ax.grid(alpha=0.3)
        ax.set_title('%s (%s)%s' % (test.get('name'), _test_facts(test),
                                    '' if metric == METRIC else ': %s' % metric), fontsize=9)
        meds = [h['median'] for h in history if h['median'] is not None]
        if meds:
            lo = min(meds + ([base] if base else []))
            hi = max([h['max'] or 0 for h in history] + [base or 0])
            pad = max((hi - lo) * 0.15, hi * 0.02, 0.5 if metric == METRIC else abs(hi) * 0.02 or 0.01)
            ax.set_ylim(max(0.0, lo - pad), hi + pad)
        for handle, label in zip(*ax.get_legend_handles_labels()):
            legend.setdefault(label, handle)
    order = ['valid run (median, min-max)', 'invalid run', 'regression', 'improvement', 'this run',
             'baseline median', 'no-flag band']
    labels = sorted(legend, key=lambda k: order.index(k) if k in order else len(order))
    height = fig.get_size_inches()[1]
    if labels:
        fig.legend([legend[k] for k in labels], labels, loc='upper center', ncol=len(labels),
                   fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / height))
    return fig


# ---- HTML pieces ----------------------------------------------------------

def _table_from_rows(headers, rows, numeric=()):
    out = ['<table><tr>%s</tr>' % ''.join('<th>%s</th>' % esc(h) for h in headers)]
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            cls = ' class="num"' if i in numeric else ''
            cells.append('<td%s>%s</td>' % (cls, cell))
        out.append('<tr>%s</tr>' % ''.join(cells))
    out.append('</table>')
    return ''.join(out)


def _scalar(value):
    return not isinstance(value, (dict, list))


def matrix(columns, depth=0):
    """A dict of dicts as one table: a row per inner key, a column per outer key."""
    names = list(columns)
    rows = []
    for name in names:
        for key in columns[name] or {}:
            if key not in rows:
                rows.append(key)
    out = ['<table class="meta"><tr><th></th>%s</tr>' % ''.join('<th>%s</th>' % esc(n) for n in names)]
    for key in rows:
        cells = []
        for name in names:
            inner = columns[name] or {}
            cells.append('<td>%s</td>' % (render_value(inner[key], depth + 1) if key in inner
                                          else '<span class="note">&ndash;</span>'))
        out.append('<tr><th>%s</th>%s</tr>' % (esc(key), ''.join(cells)))
    out.append('</table>')
    return ''.join(out)


def render_value(value, depth=0):
    """Any JSON value as HTML (tables for objects and lists of objects)."""
    if isinstance(value, dict):
        if not value:
            return '<span class="note">(none)</span>'
        if len(value) > 1 and all(isinstance(v, dict) and v and all(_scalar(x) for x in v.values())
                                  for v in value.values()):
            return matrix(value, depth)
        rows = ['<tr><th>%s</th><td>%s</td></tr>' % (esc(k), render_value(v, depth + 1))
                for k, v in value.items()]
        return '<table class="meta">%s</table>' % ''.join(rows)
    if isinstance(value, list):
        if not value:
            return '<span class="note">(none)</span>'
        if all(isinstance(v, dict) for v in value):
            keys = []
            for v in value:
                for k in v:
                    if k not in keys:
                        keys.append(k)
            rows = ['<tr>%s</tr>' % ''.join('<td>%s</td>' % render_value(v.get(k), depth + 1) for k in keys)
                    for v in value]
            return '<table class="meta"><tr>%s</tr>%s</table>' % (
                ''.join('<th>%s</th>' % esc(k) for k in keys), ''.join(rows))
        return esc(', '.join(json.dumps(v) if isinstance(v, (dict, list)) else str(v) for v in value))
    if isinstance(value, bool):
        return 'yes' if value else 'no'
    if value is None:
        return '&mdash;'
    return esc(value)


def metadata_table(metadata):
    """Hosts side by side (a column each), long entries folded (details, no script)."""
    hosts = sorted(metadata)
    keys = []
    for host in hosts:
        for key in (metadata[host] or {}) if isinstance(metadata[host], dict) else {}:
            if key not in keys:
                keys.append(key)
    out = ['<table class="meta"><tr><th></th>%s</tr>' % ''.join('<th>%s</th>' % esc(h) for h in hosts)]
    for key in keys:
        cells = []
        for host in hosts:
            data = metadata[host] if isinstance(metadata[host], dict) else {}
            if key not in data:
                cells.append('<td><span class="note">&ndash;</span></td>')
                continue
            value = data[key]
            rendered = render_value(value, 1)
            if len(json.dumps(value, default=str)) > 600:
                size = len(value) if isinstance(value, (dict, list)) else len(str(value))
                unit = 'entries' if isinstance(value, (dict, list)) else 'characters'
                rendered = '<details><summary>%d %s</summary>%s</details>' % (size, unit, rendered)
            cells.append('<td>%s</td>' % rendered)
        out.append('<tr><th>%s</th>%s</tr>' % (esc(key), ''.join(cells)))
    out.append('</table>')
    return ''.join(out)


def _p_cell(p):
    if p is None:
        return '&mdash;'
    return fmt(p, 4) if p >= 1e-4 else '%.1e' % p


def _figure_cell(value, metric):
    if not _finite(value):
        return '&mdash;'
    return fmt(value) if metric == METRIC else esc(figure(value))


def _own_alpha(test):
    """The significance level a test of kind upstream states for itself (tests[].upstream.regression.alpha)."""
    regression = (test.get('upstream') or {}).get('regression') if isinstance(test.get('upstream'), dict) else None
    alpha = regression.get('alpha') if isinstance(regression, dict) else None
    return alpha if _finite(alpha) else None


def verdict_table(tests, judging=None):
    """A row per test and metric: its figures, its baseline and its verdict.

    Judged metrics carry their verdict; other measured metrics are shown as
    recorded. The test's own columns span its rows. ``judging`` names the
    metrics the verdict judges (before there is a verdict: METRICS' default).
    """
    judging = judging or [name for name, m in metric_table().items() if m.judged]
    table = metric_table()
    headers = ['test', 'metric', 'ok reps', 'median', 'CV', 'expected', 'baseline median', 'change', 'p',
               'verdict', 'why']
    out = ['<table class="verdict"><tr>%s</tr>' % ''.join('<th>%s</th>' % esc(h) for h in headers)]
    for t in tests:
        judged = t.get('judged') or {}
        runs = t.get('runs') or []
        ok = sum(1 for r in runs if isinstance(r, dict) and r.get('ok'))
        rows = metric_rows(t)
        names = [name for name, dummy in rows]
        for name in judged:
            if name not in names:
                rows.append((name, (t.get('metrics') or {}).get(name) or {}))
        upstream = t.get('kind') == UPSTREAM_KIND
        # the metric a test exists for: throughput, or a test of kind upstream's first own metric
        main = primary_metric(t) if upstream else METRIC
        if not rows:
            rows = [(main, (t.get('metrics') or {}).get(main) or t.get('throughput_mbps') or {})]
        rows.sort(key=lambda row: list(table).index(row[0]) if row[0] in table else len(table))
        span = len(rows)
        for index, (name, stats) in enumerate(rows):
            case = judged.get(name)
            spec = _spec(name, t)
            if case:
                verdict = badge(case.get('outcome'))
                why = esc(case.get('reason') or t.get('invalid_reason') or '')
                base, change, p = (case.get('baseline') or {}).get('median'), case.get('change_pct'), case.get('p_value')
            elif not judged and name == main:
                # no verdict step yet (or a record of wave 1): the test's own outcome
                verdict = badge(t.get('outcome') or ('invalid' if t.get('valid') is False else None))
                why = esc(t.get('outcome_reason') or t.get('invalid_reason') or '')
                base, change, p = (t.get('baseline') or {}).get('median'), t.get('change_pct'), t.get('p_value')
            elif not judged and (name in judging or is_dynamic_metric(name)):
                verdict, why, base, change, p = badge(None), '', None, None, None
            else:
                verdict = '<span class="note">recorded, not judged</span>'
                why, base, change, p = '', None, None, None
            cv = stats.get('cv')
            cells = []
            if index == 0:
                rs = ' rowspan="%d"' % span if span > 1 else ''
                paths, streams = t.get('paths') or 1, t.get('streams') or 1
                if upstream:
                    # its suite's shell steps choose protocol, direction and streams
                    cells.append('<td%s><b>%s</b><br><span class="note">upstream suite, %s path%s%s</span></td>' % (
                        rs, esc(t.get('name')), fmt(paths, 0), '' if paths == 1 else 's',
                        ', alpha %s' % esc(_own_alpha(t)) if _own_alpha(t) is not None else ''))
                else:
                    cells.append('<td%s><b>%s</b><br><span class="note">%s, %s path%s, %s, %s stream%s</span></td>' % (
                        rs, esc(t.get('name')), esc(str(t.get('protocol', '')).upper()), fmt(paths, 0),
                        '' if paths == 1 else 's', esc(t.get('direction')), fmt(streams, 0), '' if streams == 1 else 's'))
            unit = spec.unit if spec else ''
            arrow = {'higher': '&uarr;', 'lower': '&darr;'}.get(spec.better if spec else None, '')
            cells.append('<td><code>%s</code> <span class="note">%s %s</span></td>' % (esc(name), esc(unit), arrow))
            for value in ('%d/%d' % (ok, len(runs)) if runs else fmt(stats.get('n'), 0),
                          _figure_cell(stats.get('median'), name),
                          fmt(cv * 100 if _finite(cv) else None, 2, '%'),
                          fmt(t.get('expected_mbps'), 1) if name == METRIC else '',
                          _figure_cell(base, name), '&mdash;' if change is None else '%+.2f%%' % change,
                          _p_cell(p)):
                cells.append('<td class="num">%s</td>' % value)
            cells.append('<td>%s</td><td>%s</td>' % (verdict, why))
            out.append('<tr>%s</tr>' % ''.join(cells))
    out.append('</table>')
    return ''.join(out)


def _ok_cell(ok):
    """A step's or validation command's outcome: a green 'ok' or an orange 'failed'."""
    return '<span class="badge" style="background:%s">%s</span>' % (
        VERDICT_COLOURS['pass' if ok else 'invalid'], 'ok' if ok else 'failed')


def upstream_section(tests):
    """Per test of kind upstream (a suite in the upstream harness's format): its metrics (each
    regression step, where its figure comes from, the median), its shell steps and validation
    commands with their outcome, and what of the suite the lab did not honour. '' without one."""
    out = []
    for t in tests:
        if t.get('kind') != UPSTREAM_KIND:
            continue
        up = t.get('upstream') if isinstance(t.get('upstream'), dict) else {}
        regression = up.get('regression') if isinstance(up.get('regression'), dict) else {}
        out.append('<h3>%s</h3>' % esc(t.get('name')))
        facts = ['format <code>%s</code>' % esc(up.get('format') or '?')]
        if up.get('results_dir'):
            facts.append('files <code>%s</code>' % esc(up['results_dir']))
        if up.get('steps_sha256'):
            facts.append('steps digest <code>%s</code>' % esc(str(up['steps_sha256'])[:12]))
        judging = ['%s %s' % (k, esc(regression[k])) for k in UPSTREAM_JUDGING_KEYS if regression.get(k) is not None]
        if judging:
            facts.append('judged with %s' % ', '.join(judging))
        out.append('<p class="note">%s</p>' % ' &middot; '.join(facts))
        if not t.get('valid', True):
            out.append('<p class="note"><b>Invalid:</b> %s</p>' % esc(t.get('invalid_reason') or 'invalid'))
        metrics = t.get('metrics') or {}
        rows = []
        steps = [s for s in regression.get('steps') or [] if isinstance(s, dict)]
        for step in steps:
            stats = metrics.get(step.get('metric')) or {}
            rows.append(['<code>%s</code>' % esc(step.get('metric')), esc(step.get('name')),
                         '%s %s' % (esc(step.get('file')), esc(' / '.join(str(f) for f in step.get('json_field') or []))),
                         esc(stats.get('unit') or ''), _figure_cell(stats.get('median'), step.get('metric')),
                         fmt(stats.get('n'), 0)])
        for name in sorted(n for n in metrics if is_dynamic_metric(n) and n not in [s.get('metric') for s in steps]):
            stats = metrics[name]
            rows.append(['<code>%s</code>' % esc(name), '', '', esc(stats.get('unit') or ''),
                         _figure_cell(stats.get('median'), name), fmt(stats.get('n'), 0)])
        if rows:
            out.append(_table_from_rows(['metric', 'regression step', 'file / JSON field', 'unit', 'median', 'n'],
                                        rows, numeric=(4, 5)))
        rows = [[esc(step.get('name')), esc(step.get('host')), esc(step.get('rc')),
                 'yes' if step.get('timed_out') else 'no', 'yes' if step.get('ignored') else 'no',
                 fmt(step.get('duration_s'), 1), _ok_cell(step.get('ok'))]
                for step in up.get('steps') or [] if isinstance(step, dict)]
        if rows:
            out.append(_table_from_rows(['step', 'host', 'rc', 'timed out', 'ignored', 's', 'outcome'], rows,
                                        numeric=(2, 5)))
        rows = [[esc(v.get('name')), esc(v.get('rc')), _ok_cell(v.get('ok'))]
                for v in up.get('validation') or [] if isinstance(v, dict)]
        if rows:
            out.append(_table_from_rows(['validation', 'rc', 'outcome'], rows, numeric=(1,)))
        skipped = [n for n in up.get('not_honoured') or [] if isinstance(n, dict)]
        if skipped:
            out.append('<p class="note"><b>Not honoured here:</b> %s</p>' % '; '.join(
                '<code>%s</code>: %s' % (esc(n.get('field')), esc(n.get('reason'))) for n in skipped))
    if not out:
        return ''
    return ('<h2 id="upstream">Tests in the upstream harness\'s format</h2>'
            '<p class="note">Tests of kind <code>upstream</code> (suites in the format of '
            'multipath-tcp/mptcp-upstream-virtme-docker): their figures are the metrics their suite names, '
            'one per step of its <code>regression</code> section (<code>upstream.&lt;name&gt;</code>), higher '
            'is better; each is judged with the test\'s own alpha and history when it states them '
            '(docs/statistics.md).</p>' + ''.join(out))


COST_COLUMNS = ('user', 'system', 'softirq', 'irq', 'busy', 'lab', 'other')
OTHER_LOAD_SHARE = 0.5


def cpu_cost_table(tests):
    """A row per test and host of tests[].cpu_cost (s/GB), with the share of other load."""
    rows = []
    for t in tests:
        cost = t.get('cpu_cost') or {}
        for host, figures in sorted((cost.get('hosts') or {}).items()):
            busy, other = figures.get('busy_s_per_gb'), figures.get('other_s_per_gb')
            share = other / busy if _finite(busy) and busy > 0 and _finite(other) else None
            rows.append([esc(t.get('name')), esc(host)] + [
                esc(figure(figures.get('%s_s_per_gb' % c))) if _finite(figures.get('%s_s_per_gb' % c))
                else '&mdash;' for c in COST_COLUMNS] + [fmt(share * 100 if share is not None else None, 0, '%'),
                                                         'yes' if cost.get('same_machine') else 'no'])
    if not rows:
        return ''
    return _table_from_rows(['test', 'host'] + ['%s s/GB' % c for c in COST_COLUMNS] + ['other share', 'one machine'],
                            rows, numeric=tuple(range(2, 2 + len(COST_COLUMNS) + 1)))


def other_load(tests):
    """Text naming the tests whose CPU time was mostly other work (None when none was)."""
    busy = []
    for t in tests:
        for host, figures in sorted(((t.get('cpu_cost') or {}).get('hosts') or {}).items()):
            total, other = figures.get('busy_s_per_gb'), figures.get('other_s_per_gb')
            if _finite(total) and total > 0 and _finite(other) and other / total > OTHER_LOAD_SHARE:
                busy.append('%s (%s: %.0f%% of the busy time)' % (t.get('name'), host, 100.0 * other / total))
                break
    if not busy:
        return None
    return 'most of the CPU time during %s was outside the lab' % ', '.join(busy)


def banner(summary):
    regs = summary.get('regressions') or []
    counts = (summary.get('judgement') or {}).get('counts') or {}
    if regs:
        return '<span class="banner" style="background:%s">%d regression%s</span>' % (
            VERDICT_COLOURS['regression'], len(regs), '' if len(regs) == 1 else 's')
    if not counts:
        return '<span class="banner" style="background:#9e9e9e">no verdict yet</span>'
    parts = ', '.join('%d %s' % (v, k) for k, v in counts.items() if v)
    if counts.get('invalid'):
        colour = VERDICT_COLOURS['invalid']
    elif counts.get('pass') or counts.get('improvement'):
        colour = VERDICT_COLOURS['pass']
    else:
        colour = VERDICT_COLOURS['no-baseline']
    return '<span class="banner" style="background:%s">no regression (%s)</span>' % (colour, esc(parts))


def _unit(metric, tests=None, name=None):
    """A metric's unit: its line's (metric_info), or the record's for a metric a suite names
    (of the test called ``name`` among ``tests``)."""
    test = [t for t in tests or [] if t.get('name') == name][:1]
    spec = _spec(metric, test[0] if test else None)
    return spec.unit if spec else ''


def render(summary, trends, history_db, csv_path=None, timeseries=None):
    """The report of one run, as a str.

    ``summary`` is the record with its verdict beside each test
    (perf_baseline.judged_view); ``trends``: list of (test, metric, history
    rows, run id) (or (test, history rows, run id): throughput);
    ``timeseries``: list of (test, run, raw timeseries document, file name)
    of the MPTCP tests, or of (test, None, None, why there is none).
    """
    tests = summary.get('tests') or []
    verdict = summary.get('judgement') or {}
    min_effect = verdict.get('min_effect_pct', 1.5)
    out = ['<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           '<title>mptcp.lab perf report: %s</title>' % esc(summary.get('run_id')),
           '<style>%s</style></head><body>' % CSS]
    kernels = sorted(set(str((h or {}).get('kernel', {}).get('release') if isinstance((h or {}).get('kernel'), dict)
                             else (h or {}).get('kernel')) for h in (summary.get('metadata') or {}).values()
                         if isinstance(h, dict) and h.get('kernel')))
    out.append('<header><h1>MPTCP perf report</h1>')
    out.append('<p>run <b>%s</b> &middot; suite <b>%s</b> &middot; kernel %s</p>' % (
        esc(summary.get('run_id')), esc(summary.get('suite')), esc(', '.join(kernels) or 'unknown')))
    out.append('<p>started %s &middot; finished %s &middot; wall %s s &middot; traffic %s s</p>' % (
        esc(summary.get('started')), esc(summary.get('finished')), fmt(summary.get('wall_s'), 1),
        fmt(summary.get('traffic_s'), 1)))
    tags, notes = summary.get('tags') or {}, summary.get('notes') or {}
    if tags or notes:
        texts = dict((k, v if isinstance(v, str) else json.dumps(v, sort_keys=True)) for k, v in notes.items())
        out.append('<p class="tags">%s%s</p>' % (
            ' '.join('<span class="tag">%s=%s</span>' % (esc(k), esc(tags[k])) for k in sorted(tags)),
            ''.join(' &middot; %s: %s' % (esc(k), esc(texts[k])) for k in sorted(texts))))
    out.append(banner(summary) + '</header><main>')

    out.append('<h2 id="verdict">Verdict</h2>')
    if verdict:
        effects = verdict.get('metric_min_effect') or {}
        effect_text = ', '.join('%s %g%%' % (esc(k), v) for k, v in effects.items()) or '%s%%' % esc(min_effect)
        if verdict.get('baseline_kernel'):
            # make compare: kernel A (the named baseline run) against kernel B (this run)
            out.append('<p class="compare"><b>Kernel A</b> (baseline, %s): %s &middot; <b>kernel B</b> '
                       '(this run): %s. The table shows A\'s median (baseline median) beside B\'s '
                       '(median) for every test and metric.</p>' % (
                           esc(verdict.get('baseline')), esc(verdict.get('baseline_kernel')),
                           esc(verdict.get('kernel') or 'unknown')))
        out.append('<p class="note">Baseline: %s. Each judged metric is compared on its own, in its '
                   'own direction (&uarr; higher is better, &darr; lower): a change is flagged when the '
                   'exact two-sided Mann-Whitney U test on the repetition values gives p &lt; %s, the '
                   'medians differ by at least the metric\'s minimum effect (%s), <em>and</em> '
                   '(last-runs baseline) the change exceeds the run-to-run noise of the baseline runs.%s '
                   'See docs/statistics.md.</p>' % (
                       esc(verdict.get('baseline')), esc(verdict.get('alpha')), effect_text,
                       ' A metric a suite names (upstream.&lt;name&gt;), one value per run, is judged instead '
                       'by Student\'s prediction interval of the earlier runs\' values: is this run one more '
                       'like them?' if any(t.get('kind') == 'upstream' for t in tests) else ''))
    busy = other_load(tests)
    if busy:
        out.append('<p class="note"><b>Other load:</b> %s. CPU cost and throughput are less steady on a '
                   'busy machine; a flag there may be the machine, not the kernel (docs/statistics.md).</p>'
                   % esc(busy))
    out.append(verdict_table(tests, verdict.get('metrics')))
    regs = summary.get('regressions') or []
    if regs:
        out.append('<h3>Regressions</h3><ul>')
        for r in regs:
            out.append('<li><b>%s</b>: %s %s (%s &rarr; %s %s, p = %s)</li>' % (
                esc(r.get('test')), esc(r.get('metric')), fmt(r.get('change_pct'), 2, '%'),
                _figure_cell(r.get('baseline_median'), r.get('metric')),
                _figure_cell(r.get('current_median'), r.get('metric')), esc(_unit(r.get('metric'), tests, r.get('test'))),
                esc('%.3g' % r['p_value']) if isinstance(r.get('p_value'), (int, float)) else '&mdash;'))
        out.append('</ul>')
    imps = summary.get('improvements') or []
    if imps:
        out.append('<h3>Improvements (information)</h3><ul>')
        for r in imps:
            out.append('<li><b>%s</b>: %s %s (%s &rarr; %s %s)</li>' % (
                esc(r.get('test')), esc(r.get('metric')), fmt(r.get('change_pct'), 2, '%'),
                _figure_cell(r.get('baseline_median'), r.get('metric')),
                _figure_cell(r.get('current_median'), r.get('metric')),
                esc(_unit(r.get('metric'), tests, r.get('test')))))
        out.append('</ul>')
    errors = [(t.get('name'), i + 1, r.get('error')) for t in tests
              for i, r in enumerate(t.get('runs') or []) if isinstance(r, dict) and not r.get('ok')]
    if errors:
        out.append('<h3>Failed repetitions</h3><ul>')
        for name, rep, error in errors:
            out.append('<li><b>%s</b> #%d: %s</li>' % (esc(name), rep, esc(error or 'failed')))
        out.append('</ul>')

    section = upstream_section(tests)
    if section:
        out.append(section)

    out.append('<h2 id="throughput">Throughput: TCP vs MPTCP</h2>')
    bulk = [t for t in tests if has_throughput(t)]
    fig = throughput_figure(bulk) if bulk else None
    out.append(img(fig, 'Throughput of each test, each repetition, TCP and MPTCP') if fig
               else '<p class="note">No throughput test in this run.</p>')

    fig = metrics_figure(tests)
    if fig:
        out.append('<h2 id="metrics">Other metrics</h2>')
        out.append('<p class="note">Each metric measured beside the throughput (docs/run-record.md): '
                   'bars = median, dots = each successful repetition.</p>')
        out.append(img(fig, 'CPU cost, request/response rate, latency and the other metrics of each test'))
    table = cpu_cost_table(tests)
    if table:
        out.append('<h3 id="cpu">CPU cost per host</h3>')
        out.append('<p class="note">CPU seconds per GB delivered over the measured window, median of the '
                   'repetitions (<code>tests[].cpu_cost</code>): <em>lab</em> is the lab\'s own processes '
                   'and the kernel\'s softirq/irq time, <em>other</em> the busy time the lab does not '
                   'explain (other work on the machine). On one machine (the netns lab) both ends see the '
                   'same counters, counted once in <code>cpu_s_per_gb</code>.</p>')
        out.append(table)

    fig = flows_figure(tests)
    if fig:
        out.append('<h2 id="flows">Several pairs at once</h2>')
        out.append('<p class="note">Tests on several generator/sink pairs at once (suite key <code>pairs</code>): '
                   'every pair\'s iperf3 started at one time, measured over the same seconds. The run\'s '
                   'throughput is the flows\' aggregate; Jain\'s index (J) is 1 when every flow got the same, '
                   '1/n when one got everything; the start skew is how far apart the flows started '
                   '(<code>runs[].flows</code>, <code>start_skew_ms</code>).</p>')
        out.append(img(fig, 'Throughput of each flow of the runs over several pairs'))
        out.append(flows_table(tests))

    out.append('<h2 id="paths">MPTCP per-path split</h2>')
    fig = per_path_figure(bulk)
    out.append(img(fig, 'Per-path throughput of the MPTCP tests') if fig
               else '<p class="note">No successful MPTCP repetition with per-path figures.</p>')

    if timeseries:
        out.append('<h2 id="timeseries">Time series (MPTCP tests)</h2>')
        out.append('<p class="note">One repetition of each MPTCP test (the one whose figure is the '
                   'median of its repetitions), sampled every second over the measured window: '
                   'Mbit/s on each path (the path links\' interface counters), and each subflow\'s '
                   'congestion window and RTT (<code>ss</code>), coloured by path.</p>')
        for test, run, data, name in timeseries:
            fig = timeseries_figure(test, run, data) if data else None
            if fig:
                out.append('<h3>%s</h3>' % esc(test.get('name')))
                out.append(img(fig, 'Time series of %s: Mbit/s per path, cwnd and RTT per subflow'
                               % test.get('name')))
                out.append('<p class="note">raw/%s</p>' % esc(name))
            else:
                out.append('<p class="note"><b>%s</b>: no time series (%s).</p>' % (
                    esc(test.get('name')), esc(name or 'the run has none')))

    out.append('<h2 id="history">History</h2>')
    fig = trend_figure(trends, min_effect)
    if fig:
        out.append('<p class="note">Each point is one run of the same test (same identity): '
                   'the median of its repetitions with min&ndash;max whiskers. This run is shaded; '
                   'runs flagged as regressions are red &#9660;, improvements blue &#9650;, invalid runs '
                   'grey &times;. The grey band around the baseline median is where no change is '
                   'flagged: the larger of the minimum effect and the run-to-run noise of the '
                   'baseline runs.</p>')
        out.append(img(fig, 'History of each test with this run and regressions marked'))
    else:
        out.append('<p class="note">No history yet.</p>')
    rows = []
    for trend in trends:
        test, metric, history, current = trend if len(trend) == 4 else (trend[0], METRIC, trend[1], trend[2])
        rows.append([esc(test.get('name')), '<code>%s</code>' % esc(metric), esc(test.get('test_key') or ''),
                     esc(shaping_text(history[-1]['shaping']) if history else ''),
                     fmt(len(history), 0), fmt(sum(1 for h in history if h['valid']), 0)])
    if rows:
        out.append(_table_from_rows(['test', 'metric', 'identity key', 'shaping (per path)', 'runs shown',
                                     'valid'], rows, numeric=(4, 5)))

    out.append('<h2 id="metadata">Metadata</h2>')
    metadata = summary.get('metadata') or {}
    if not metadata:
        out.append('<p class="note">The run record holds no metadata.</p>')
    else:
        out.append(metadata_table(metadata))
    out.append('<h2 id="files">Files</h2><p class="note">History: <code>%s</code>' % esc(history_db))
    if csv_path:
        out.append(' &middot; CSV export: <code>%s</code>' % esc(csv_path))
    out.append('</p></main></body></html>\n')
    return ''.join(out)


def close_all():
    """Free matplotlib state (figures here are not registered with pyplot)."""
    if HAS_MATPLOTLIB:
        pyplot.close('all')
