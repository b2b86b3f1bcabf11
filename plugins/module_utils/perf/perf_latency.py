# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Request/response (latency) measurements: sockperf's output and the checks.

Pure functions, no I/O, so unit tests feed recorded outputs. The module
mptcp.lab.perf_latency runs ``sockperf ping-pong --tcp --full-rtt`` (under
``mptcpize run`` for MPTCP) and, under load, an iperf3 bulk flow around it;
the ss parsers, the fallback witnesses and the validity gate of a run are
perf_parse's, shared with the bulk measurements.

What sockperf 3.7 measures (ping-pong, TCP): one message of ``--msg-size``
bytes in flight, the next sent when the reply arrived; every round trip is
an observation. ``--full-rtt`` reports round trips (without it, half of
them). Its client connects, sends a few warm-up messages, pauses 2 s (fixed
in its code), then runs ``--time`` seconds, of which it drops the first
400 ms and the last 50 ms: the "Valid Duration". sockperf exits with 0 also
when it failed (connection refused, bind error): its ``ERROR:`` lines and the
missing statistics say so.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# The metrics of one request/response run (perf_record.METRICS names them).
METRICS = ('rr_tps', 'latency_p50_us', 'latency_p90_us', 'latency_p99_us')
# sockperf's fixed timing (src/client.cpp, src/defs.h of sockperf 3.7):
# the pause after the warm-up, and the excluded head and tail of --time.
PAUSE_S = 2.0
HEAD_S = 0.4
TAIL_S = 0.05
# After its window, the client waits 0.1 s for late replies, then prints.
CLEANUP_S = 0.1
MIN_MSG_SIZE = 14
MAX_MSG_SIZE = 65000

_ANSI = re.compile(r'\x1b\[[0-9;]*m')
_VERSION = re.compile(r'version #?([0-9][0-9A-Za-z.\-]*)')
_TOTAL = re.compile(r'\[Total Run\] RunTime=([0-9.]+) sec; Warm up time=([0-9]+) msec; '
                    r'SentMessages=([0-9]+); ReceivedMessages=([0-9]+)')
_VALID = re.compile(r'\[Valid Duration\] RunTime=([0-9.]+) sec; SentMessages=([0-9]+); '
                    r'ReceivedMessages=([0-9]+)')
_AVG = re.compile(r'avg-(rtt|latency)=([0-9.]+) \(std-dev=([0-9.]+)\)')
_LOSS = re.compile(r'# dropped messages = ([0-9]+); # duplicated messages = ([0-9]+); '
                   r'# out-of-order messages = ([0-9]+)')
_OBS = re.compile(r'Total ([0-9]+) observations')
_PCT = re.compile(r'---> percentile ([0-9.]+) = +([0-9.]+)')
_EXTREME = re.compile(r'---> <(MIN|MAX)> observation = +([0-9.]+)')
_ERROR = re.compile(r'(ERROR: .*|\S+ Invalid .*)$')


def strip_ansi(text):
    return _ANSI.sub('', text or '')


def parse_sockperf(text):
    """The figures of one ``sockperf ping-pong`` client run.

    Returns {ok, error, version, round_trip, total_s, warmup_ms, sent,
    received, valid_s, valid_sent, valid_received, avg_us, std_us, dropped,
    duplicated, out_of_order, observations, min_us, max_us, percentiles}
    where percentiles maps the percentile as sockperf prints it ('99.000')
    to microseconds. ``ok`` is false, with ``error``, when sockperf printed
    an error or no statistics.
    """
    text = strip_ansi(text)
    out = {'ok': False, 'error': None, 'version': None, 'round_trip': None, 'total_s': None,
           'warmup_ms': None, 'sent': None, 'received': None, 'valid_s': None, 'valid_sent': None,
           'valid_received': None, 'avg_us': None, 'std_us': None, 'dropped': None, 'duplicated': None,
           'out_of_order': None, 'observations': None, 'min_us': None, 'max_us': None, 'percentiles': {}}
    errors = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        m = _VERSION.search(line)
        if m and out['version'] is None and '==' in line:
            out['version'] = m.group(1)
            continue
        m = _TOTAL.search(line)
        if m:
            out.update(total_s=float(m.group(1)), warmup_ms=int(m.group(2)), sent=int(m.group(3)),
                       received=int(m.group(4)))
            continue
        m = _VALID.search(line)
        if m:
            out.update(valid_s=float(m.group(1)), valid_sent=int(m.group(2)), valid_received=int(m.group(3)))
            continue
        m = _AVG.search(line)
        if m:
            out.update(round_trip=m.group(1) == 'rtt', avg_us=float(m.group(2)), std_us=float(m.group(3)))
            continue
        m = _LOSS.search(line)
        if m:
            out.update(dropped=int(m.group(1)), duplicated=int(m.group(2)), out_of_order=int(m.group(3)))
            continue
        m = _OBS.search(line)
        if m:
            out['observations'] = int(m.group(1))
            continue
        m = _PCT.search(line)
        if m:
            out['percentiles'][m.group(1)] = float(m.group(2))
            continue
        m = _EXTREME.search(line)
        if m:
            out['min_us' if m.group(1) == 'MIN' else 'max_us'] = float(m.group(2))
            continue
        m = _ERROR.search(line)
        if m:
            errors.append(m.group(1).strip())
    if errors:
        out['error'] = 'sockperf: %s' % '; '.join(errors)
    elif out['valid_s'] is None or not out['valid_received']:
        out['error'] = 'sockperf printed no statistics (no valid round trip)'
    elif '50.000' not in out['percentiles'] or '99.000' not in out['percentiles']:
        out['error'] = 'sockperf printed no percentiles (%s observations)' % out['observations']
    else:
        out['ok'] = True
    return out


def rr_metrics(parsed):
    """runs[].metrics of a request/response run: transactions/s and round-trip percentiles (us).

    rr_tps is sockperf's valid round trips over its valid duration; the
    latencies are round trips when sockperf ran with --full-rtt (else its
    one-way estimate, half a round trip, doubled here so both read alike).
    All None for a failed run.
    """
    out = dict((name, None) for name in METRICS)
    if not parsed or not parsed.get('ok'):
        return out
    if parsed['valid_s']:
        out['rr_tps'] = round(parsed['valid_received'] / parsed['valid_s'], 1)
    factor = 1.0 if parsed.get('round_trip') in (True, None) else 2.0
    for name, key in (('latency_p50_us', '50.000'), ('latency_p90_us', '90.000'), ('latency_p99_us', '99.000')):
        value = parsed['percentiles'].get(key)
        out[name] = round(value * factor, 3) if value is not None else None
    return out


def rr_window(started, ended):
    """(start, end) of sockperf's valid window in the clock of ``started``/``ended``.

    ``started`` is when the client process was started, ``ended`` when it
    exited. The window ends CLEANUP_S + TAIL_S before the exit; it starts no
    earlier than PAUSE_S + HEAD_S after the start (connection and warm-up
    come on top, so the true start is later, never earlier).
    """
    return started + PAUSE_S + HEAD_S, ended - CLEANUP_S - TAIL_S


def load_covers(rr, load):
    """Whether the load ran over the whole RR window: (ok, error).

    ``rr`` is the RR window (start, end); ``load`` is (when the bulk flow's
    data began to flow, when it ended). Both on one clock.
    """
    if load[0] > rr[0]:
        return False, ('invalid: the bulk load started %.2f s after the request/response window'
                       % (load[0] - rr[0]))
    if load[1] < rr[1]:
        return False, ('invalid: the bulk load ended %.2f s before the request/response window'
                       % (rr[1] - load[1]))
    return True, None


def rr_connection_port(subflows, bind, server, port):
    """Local port of the RR connection's first subflow (from ``ss -tni``, perf_parse), or None.

    The client binds to ``bind`` and connects to ``server``:``port``; only
    one such connection exists during a run.
    """
    for sf in subflows:
        if sf['peer_port'] == port and (bind is None or sf['local'] == bind) and \
                (server is None or sf['peer'] == server):
            return sf['local_port']
    return None
