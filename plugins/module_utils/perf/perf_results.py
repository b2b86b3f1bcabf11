# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The files of a run beside its record: raw tool outputs and the latest link.

The record itself (building, schema, validity) is perf_record's.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_record import json_bytes, raw_base, results_by_k, write_atomic


def point_latest(results_dir, run_id):
    """Atomically make <results_dir>/latest a relative symlink to run_id."""
    link = os.path.join(results_dir, 'latest')
    tmp = os.path.join(results_dir, '.latest.tmp')
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(run_id, tmp)
    os.rename(tmp, link)
    return link


def _text(text):
    return (text or '').encode('utf-8')


def _nstat(counters):
    return _text(''.join('%s %d\n' % (k, v) for k, v in sorted(counters.items())))


def _command_text(cmd):
    """One command of a test's own (suite key commands) as raw/<stem>.commands.txt shows it."""
    status = ('timed out' if cmd.get('timed_out') else 'did not start' if cmd.get('rc') is None
              else 'rc %s' % cmd.get('rc'))
    return ('# %s %s %s on %s: %s, %.3f s%s\n%s%s' % (
        cmd.get('phase'), cmd.get('name'), ' '.join(str(a) for a in cmd.get('argv') or []), cmd.get('host'),
        status, float(cmd.get('duration_s') or 0), ' (ignored)' if cmd.get('ignored') else '',
        _section('stdout', cmd.get('stdout')), _section('stderr', cmd.get('stderr'))))


def _section(name, text):
    if not text:
        return ''
    return '## %s\n%s%s' % (name, text, '' if text.endswith('\n') else '\n')


def write_raw(run_dir, items, results, flow_results=None):
    """Raw outputs of every run beside summary.json, under raw/; returns file names.

    A measurement over several pairs at once (an item with ``flows``) has
    its first flow's outputs under the measurement's name and each other
    flow's under ``<name>.flow<N>`` (``flow_results``: {generator: results}).
    """
    raw_dir = os.path.join(run_dir, 'raw')
    if not os.path.isdir(raw_dir):
        os.makedirs(raw_dir)
    by_k = results_by_k(results)
    flows_by_k = dict((gen, results_by_k(res)) for gen, res in (flow_results or {}).items())
    written = []
    for item in items:
        stem = raw_base(item)
        _write_one(os.path.join(raw_dir, stem), by_k.get(item['k']) or {})
        written.append(stem)
        for i, flow in enumerate(item.get('flows') or [], 1):
            if i > 1:
                _write_one(os.path.join(raw_dir, '%s.flow%d' % (stem, i)),
                           flows_by_k.get(flow['generator'], {}).get(item['k']) or {})
                written.append('%s.flow%d' % (stem, i))
    return written


def _write_one(base, res):
    """The raw outputs of one measurement's task result, as files ``<base>.*``."""
    if res:
        raw = res.get('raw') or {}
        if raw.get('iperf3') is not None:
            write_atomic(base + '.iperf3.json', json_bytes(raw['iperf3']))
        elif raw.get('iperf3_stdout') or raw.get('iperf3_stderr'):
            write_atomic(base + '.iperf3.txt', _text((raw.get('iperf3_stdout') or '') + (raw.get('iperf3_stderr') or '')))
        nstat = raw.get('nstat') or {}
        if nstat.get('generator') is not None:
            # every counter group (Tcp, TcpExt, MPTcpExt, IpExt...) that moved, named like nstat
            write_atomic(base + '.nstat.txt', _nstat(nstat['generator']))
        elif 'mptcp_counters' in raw:
            write_atomic(base + '.nstat.txt', _nstat(dict(('MPTcpExt' + k, v) for k, v in
                                                          (raw.get('mptcp_counters') or {}).items())))
        if nstat.get('sink') is not None:
            write_atomic(base + '.sink.nstat.txt', _nstat(nstat['sink']))
        if raw.get('timeseries') is not None:
            write_atomic(base + '.timeseries.json', json_bytes(raw['timeseries']))
        if raw.get('ss_subflows') is not None or raw.get('ss_mptcp') is not None:
            write_atomic(base + '.ss.txt', _text('# ss -tni state established dport = :PORT (mid-run)\n%s'
                                                 '# ss -Mni (mid-run)\n%s' % (raw.get('ss_subflows') or '',
                                                                              raw.get('ss_mptcp') or '')))
        if raw.get('sockperf') is not None:
            write_atomic(base + '.sockperf.txt', _text(raw['sockperf']))
        if raw.get('sink'):
            write_atomic(base + '.sink.json', json_bytes(raw['sink']))
        if res.get('commands'):
            write_atomic(base + '.commands.txt', _text(''.join(_command_text(c) for c in res['commands']
                                                               if isinstance(c, dict))))
        if not raw and (res.get('failed') or res.get('unreachable')):
            write_atomic(base + '.task.json', json_bytes(dict((k, v) for k, v in res.items() if k != 'invocation')))
