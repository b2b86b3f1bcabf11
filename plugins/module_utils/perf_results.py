# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The files of a run beside its record: raw tool outputs and the latest link.

The record itself (building, schema, validity) is perf_record's.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.mptcp.lab.plugins.module_utils.perf_record import json_bytes, raw_base, write_atomic


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
        written.append(raw_base(item))
    return written
