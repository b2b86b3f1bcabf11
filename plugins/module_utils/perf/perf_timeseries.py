# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The time series of a run, beside its record: which run to show, reading it, its figure.

The raw writer stores each measurement's per-second samples as
``raw/<run stem>.timeseries.json`` (docs/run-record.md): per path Mbit/s
from the path links' counters, per subflow cwnd, RTT and retransmits. The
report shows one run per MPTCP test from them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import math
import os

try:
    from matplotlib.figure import Figure
except ImportError:  # pragma: no cover - perf_html says matplotlib is missing
    Figure = None

from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_record import metric_values, primary_metric, read_bytes

SUBFLOW_STYLES = ('-', '--', ':', '-.')
TIMESERIES_SUFFIX = '.timeseries.json'
MAX_TIMESERIES_BYTES = 16 * 1024 * 1024


def _finite(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def load_timeseries(run_dir, test):
    """(run, document, file name) of the run of a test to plot over time, or (None, None, why).

    The run is the successful one whose figure (of the test's primary metric)
    is closest to the median of the repetitions, among those with a
    ``raw/<run>.timeseries.json`` (docs/run-record.md); a file that cannot be
    read as that format is passed over.
    """
    ok = [r for r in test.get('runs') or [] if isinstance(r, dict) and r.get('ok')]
    runs = [r for r in ok if r.get('raw')]
    if not runs:
        return None, None, 'no successful repetition' if not ok else 'the record names no raw files of its runs'
    primary = primary_metric(test)
    values = metric_values(runs, primary)
    centre = sorted(values)[len(values) // 2] if values else None

    def distance(run):
        value = (run.get('metrics') or {}).get(primary)
        if centre is None or not isinstance(value, (int, float)):
            return (1, run.get('rep') or 0)
        return (0, abs(value - centre), run.get('rep') or 0)
    problems = []
    for run in sorted(runs, key=distance):
        name = os.path.basename(str(run['raw'])) + TIMESERIES_SUFFIX
        path = os.path.join(run_dir, 'raw', name)
        if not os.path.isfile(path):
            continue
        if os.path.getsize(path) > MAX_TIMESERIES_BYTES:
            problems.append('%s is larger than %d bytes' % (name, MAX_TIMESERIES_BYTES))
            continue
        try:
            data = json.loads(read_bytes(path).decode('utf-8'))
        except (ValueError, UnicodeDecodeError) as exc:
            problems.append('%s is not JSON: %s' % (name, exc))
            continue
        if not isinstance(data, dict) or not isinstance(data.get('t'), list) or not data['t']:
            problems.append('%s has no time axis (t)' % name)
            continue
        return run, data, name
    return None, None, '; '.join(problems) or 'no raw/*%s file' % TIMESERIES_SUFFIX


def _series(values, length):
    """A time series as floats of the given length (None and non-numbers: gaps)."""
    values = list(values or [])[:length]
    return [float(v) if _finite(v) else float('nan') for v in values] + [float('nan')] * (length - len(values))


def figure(test, run, data, colours):
    """Time series of one run of an MPTCP test: Mbit/s per path, then cwnd and RTT per subflow.

    ``data`` is the run's raw timeseries document (docs/run-record.md).
    """
    t = [float(v) for v in data.get('t') or [] if _finite(v)]
    if not t:
        return None
    n = len(t)
    fig = Figure(figsize=(10.5, 7.4))
    axes = [fig.add_subplot(3, 1, i + 1) for i in range(3)]
    for ax in axes[1:]:
        ax.sharex(axes[0])
    for i, path in enumerate(p for p in data.get('paths') or [] if isinstance(p, dict)):
        number = path.get('path') if isinstance(path.get('path'), int) else i + 1
        axes[0].plot(t, _series(path.get('mbps'), n), '-', color=colours[(number - 1) % len(colours)],
                     linewidth=1.6, label='path %s%s' % (number, ' (%s)' % path['dev'] if path.get('dev') else ''))
    per_path = {}
    for sub in (s for s in data.get('subflows') or [] if isinstance(s, dict)):
        number = sub.get('path') if isinstance(sub.get('path'), int) and sub.get('path') > 0 else 0
        style = SUBFLOW_STYLES[per_path.get(number, 0) % len(SUBFLOW_STYLES)]
        per_path[number] = per_path.get(number, 0) + 1
        colour = colours[(number - 1) % len(colours)] if number else '#555555'
        label = '%s -> %s (path %s)' % (sub.get('local') or '?', sub.get('remote') or '?', number or '?')
        axes[1].plot(t, _series(sub.get('cwnd'), n), style, color=colour, linewidth=1.3, label=label)
        axes[2].plot(t, _series(sub.get('rtt_ms'), n), style, color=colour, linewidth=1.3, label=label)
    titles = ('Mbit/s per path (interface counters)', 'cwnd per subflow (segments)', 'RTT per subflow (ms)')
    for ax, title in zip(axes, titles):
        ax.set_title(title, fontsize=9, loc='left')
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
        ax.set_ylim(bottom=0)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc='best', frameon=True, framealpha=0.8)
    axes[2].set_xlabel('seconds since the measured window started', fontsize=8)
    fig.suptitle('%s (%s, %s path%s, %s), repetition %s' % (
        test.get('name'), str(test.get('protocol')).upper(), test.get('paths', 1),
        '' if test.get('paths', 1) == 1 else 's', test.get('direction', ''), run.get('rep', '?')), fontsize=10)
    fig.tight_layout()
    return fig
