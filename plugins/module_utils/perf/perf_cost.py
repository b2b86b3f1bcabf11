# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What one measurement cost and how it went over time, from timed samples.

Pure arithmetic over the samples perf_measure's sampler took (each a dict
with a monotonic time ``t``): the measured window, counters interpolated at
its bounds, the CPU cost per host and per GB, the sender's retransmits, the
MPTcpExt events of interest and the per-second time series. No I/O here, so
unit tests feed synthetic samples. docs/statistics.md ("CPU cost") has the
reasoning.

The measured window. iperf3 starts its timers right before the first data
leaves; its intervals time the omitted seconds (flagged) and the counted
ones from there. So the window starts ``omitted_s`` after the data's start,
which the sampler watches for in the path interfaces' byte counters (every
5 ms until it shows), and lasts ``measured_s`` (anchored_window); without a
visible start it ends at iperf3's exit. Every
counter (CPU jiffies, interface bytes, RetransSegs, the lab's process CPU)
is linearly interpolated at both bounds between the samples around them
(every 0.2 s locally, every second on the sink, plus one right before the
start and one right after the exit).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_parse import cpu_seconds

HOST_KEYS = ('user_s', 'system_s', 'softirq_s', 'irq_s', 'busy_s', 'lab_s', 'other_s')

# MPTcpExt counters worth a look in every MPTCP run (deltas over the whole
# run, per end): data-level duplicates and mapping trouble, address
# announcements, joins, and subflow resets/failures.
MPTCP_EVENTS = (
    # data sequence (DSS): duplicates, mapping mismatches, checksum errors, reinjections
    'DuplicateData', 'DSSNotMatching', 'DSSNoMatchTCP', 'DSSCorruptionReset', 'DataCsumErr',
    'NoDSSInWindow', 'OFOQueue', 'MPTCPRetrans',
    # ADD_ADDR
    'AddAddr', 'AddAddrTx', 'AddAddrTxDrop', 'AddAddrDrop', 'EchoAdd', 'EchoAddTx',
    # MP_JOIN
    'MPJoinSynTx', 'MPJoinSynRx', 'MPJoinSynAckRx', 'MPJoinAckRx', 'MPJoinRejected',
    'MPJoinNoTokenFound', 'MPJoinSynAckHMacFailure', 'MPJoinAckHMacFailure',
    # subflow resets, failures, stale subflows
    'MPRstTx', 'MPRstRx', 'MPFailTx', 'MPFailRx', 'MPFastcloseTx', 'MPFastcloseRx',
    'SubflowStale', 'SubflowRecover', 'RmSubflow',
)


# ------------------------------------------------------------------ interpolation

def value_at(points, t):
    """Linear interpolation of sorted (time, value) points at time t.

    Outside the points the nearest one is taken (a counter does not move
    before the first sample or after the last); None without points.
    """
    if not points:
        return None
    if t <= points[0][0]:
        return points[0][1]
    if t >= points[-1][0]:
        return points[-1][1]
    lo, hi = 0, len(points) - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if points[mid][0] <= t:
            lo = mid
        else:
            hi = mid
    (t0, v0), (t1, v1) = points[lo], points[hi]
    if t1 == t0:
        return v1
    return v0 + (v1 - v0) * (t - t0) / (t1 - t0)


def points(samples, get):
    """(t, get(sample)) of the samples where get gives a number, sorted by time."""
    out = []
    for sample in samples or []:
        try:
            value = get(sample)
        except (KeyError, TypeError, AttributeError):
            value = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out.append((sample['t'], value))
    out.sort(key=lambda p: p[0])
    return out


def delta(samples, get, start, end):
    """How much a counter moved between start and end (interpolated), or None."""
    pts = points(samples, get)
    if not pts:
        return None
    return value_at(pts, end) - value_at(pts, start)


def covers(samples, start, end):
    """Whether samples exist at or before start and at or after end."""
    times = [s['t'] for s in samples or []]
    return bool(times) and min(times) <= start and max(times) >= end


def window(t_exit, measured_s, t_spawn):
    """(start, end) of the measured window anchored at iperf3's exit (the fallback; see anchored_window)."""
    end = t_exit
    return max(t_spawn, end - measured_s), end


def anchored_window(t_spawn, t_exit, omitted_s, measured_s, data_start):
    """(start, end, anchor) of the measured window on the monotonic clock.

    iperf3 starts its timers right before the first data leaves, and its
    intervals time the omitted seconds and the counted ones from there. So
    the window is [data start + omitted_s, + measured_s] when the sampler
    saw the data start (``data_start``, None otherwise) and that window ends
    by the exit; else it is anchored at the exit, [exit - measured_s, exit],
    which is late by the results exchange (tens of ms, more on a busy
    machine). ``anchor`` says which: 'data start' or 'exit'.
    """
    if data_start is not None and data_start >= t_spawn:
        start = data_start + omitted_s
        end = start + measured_s
        if end <= t_exit + 0.05:
            return start, min(end, t_exit), 'data start'
    start, end = window(t_exit, measured_s, t_spawn)
    return start, end, 'exit'


DATA_KEYS = {'upload': ('tx_bytes',), 'download': ('rx_bytes',), 'bidir': ('tx_bytes', 'rx_bytes')}


def data_bytes(net_dev, devs, direction):
    """Bytes the paths' interfaces carried so far in the data direction (one /proc/net/dev sample)."""
    keys = DATA_KEYS[direction]
    return sum(net_dev[d][k] for d in devs if d in net_dev for k in keys)


# ------------------------------------------------------------------ CPU

def host_cpu(samples, start, end, hz):
    """One host's CPU seconds over [start, end].

    ``samples``: [{t, cpu: /proc/stat jiffies, lab_s, sampler_s}]. Returns
    {user_s, system_s, softirq_s, irq_s, busy_s, lab_s, sampler_s} (the
    last two None when never sampled), or None without CPU samples.
    """
    seconds = [dict(s, _sec=cpu_seconds(s['cpu'], hz)) for s in samples or [] if s.get('cpu')]
    if not seconds:
        return None
    out = {}
    for key in ('user_s', 'system_s', 'softirq_s', 'irq_s', 'busy_s'):
        out[key] = delta(seconds, lambda s, k=key: s['_sec'][k], start, end)
    for key in ('lab_s', 'sampler_s'):
        out[key] = delta(samples, lambda s, k=key: s[k], start, end)
    return out


def rounded(value, digits=4):
    return None if value is None else round(value, digits)


def cpu_cost(gen, sink, same_machine, window_s, throughput_mbps):
    """The run's cpu_cost and its cpu_s_per_gb (None when a part is unknown).

    ``gen``/``sink``: host_cpu() of each end (sink None without its
    responder); ``same_machine`` None when the boot_ids are unknown (then
    no per-GB figure: the ends might be one machine). On one machine (same boot_id: the netns lab) /proc/stat is
    the machine's on both ends: it is counted once, and ``other_s`` - busy
    time explained neither by the lab's processes (iperf3 on both ends), the
    samplers (this module's and the sink's responder) nor softirq/irq - is
    the machine's, shown on both hosts. ``gb_delivered`` is the receiver's
    goodput over the window (its bytes when the windows coincide).
    """
    gb = throughput_mbps * 1e6 / 8 * window_s / 1e9 if throughput_mbps is not None and window_s else None
    found = dict((name, host) for name, host in (('generator', gen), ('sink', sink)) if host is not None)
    hosts = dict((name, dict((k, host.get(k)) for k in HOST_KEYS + ('sampler_s',)) if host else None)
                 for name, host in (('generator', gen), ('sink', sink)))
    if same_machine and len(found) == 2:
        machines = [['generator', 'sink']]
    else:
        machines = [[name] for name in sorted(found)]
    totals = []
    for names in machines:
        first = found[names[0]]
        if None in (first['busy_s'], first['softirq_s'], first['irq_s']):
            other = None
        else:
            lab = [found[n].get(k) for n in names for k in ('lab_s', 'sampler_s')]
            other = max(0.0, first['busy_s'] - first['softirq_s'] - first['irq_s']
                        - sum(v for v in lab if v is not None))
        for name in names:
            hosts[name]['other_s'] = other
        totals.append((first['busy_s'], other))
    for name in hosts:
        host = hosts[name]
        if host is not None:
            host['busy_s_per_gb'] = host['busy_s'] / gb if gb and host['busy_s'] is not None else None
            hosts[name] = dict((k, rounded(v)) for k, v in host.items())
    per_gb = lab_per_gb = None
    # both ends known: one machine (same boot_id), or two whose figures we both have;
    # without the boot_ids two hosts might be one machine counted twice
    complete = gen is not None and (same_machine is True or (same_machine is False and sink is not None))
    if complete and gb and None not in [busy for busy, _other in totals]:
        per_gb = round(sum(busy for busy, _other in totals) / gb, 4)
        if None not in [other for _busy, other in totals]:
            lab_per_gb = round(sum(busy - other for busy, other in totals) / gb, 4)
    return {
        'window_s': rounded(window_s),
        'gb_delivered': rounded(gb, 6),
        'same_machine': same_machine,
        'hosts': hosts,
        'lab_s_per_gb': lab_per_gb,
    }, per_gb


# ------------------------------------------------------------------ retransmits

def sender_retransmits(direction, gen_samples, sink_samples, start, end):
    """Tcp RetransSegs of the sending end(s) over the window, or None when not sampled.

    Upload sends from the generator, download from the sink, bidir from both.
    The counter is the sender's network namespace's: every subflow of an
    MPTCP connection counts (iperf3 sees only the first subflow's TCP_INFO).
    """
    ends = {'upload': [gen_samples], 'download': [sink_samples], 'bidir': [gen_samples, sink_samples]}[direction]
    total = 0.0
    for samples in ends:
        moved = delta(samples, lambda s: s['retrans'], start, end)
        if moved is None:
            return None
        total += moved
    return int(round(total))


def mptcp_events(delta_by_end):
    """{end: {counter: delta}} for the MPTcpExt counters of interest (0 when it did not move)."""
    out = {}
    for end, counters in delta_by_end.items():
        if counters is None:
            out[end] = None
            continue
        out[end] = dict((name, counters.get('MPTcpExt' + name, 0)) for name in MPTCP_EVENTS)
    return out


# ------------------------------------------------------------------ time series

def edges(start, end, interval=1.0):
    """Bucket edges over the window: whole intervals, the last one stretched to the end."""
    n = max(1, int(round((end - start) / interval)))
    return [start + k * interval for k in range(n)] + [end]


def path_series(samples, paths, direction, bounds):
    """Per path Mbit/s in each bucket, from the interface byte counters (data direction).

    ``paths``: [(path number, generator's interface on it)].
    """
    keys = DATA_KEYS[direction]
    out = []
    for i, dev in paths:
        pts = points(samples, lambda s, d=dev: sum(s['net_dev'][d][k] for k in keys))
        mbps = []
        for a, b in zip(bounds[:-1], bounds[1:]):
            if not pts or b <= a:
                mbps.append(None)
                continue
            mbps.append(round((value_at(pts, b) - value_at(pts, a)) * 8 / (b - a) / 1e6, 3))
        out.append({'path': i, 'dev': dev, 'mbps': mbps})
    return out


def _nearest(ss_samples, t, tolerance):
    best = None
    for sample in ss_samples:
        gap = abs(sample['t'] - t)
        if gap <= tolerance and (best is None or gap < abs(best['t'] - t)):
            best = sample
    return best


def subflow_series(ss_samples, stream_ports, bind, path_of, bounds, tolerance=0.6, figures=None):
    """Per subflow cwnd, RTT (ms) and retransmitted segments in each bucket.

    ``ss_samples``: [{t, socks: perf_parse.parse_ss_tcp()}]. A subflow
    belongs to a data stream through its MPTCP token (the token of the
    stream's initial subflow: iperf3's local port from the bind address); a
    plain TCP stream is its own socket. iperf3's control connection is left
    out. cwnd and RTT are the ss sample nearest each bucket's end (within
    ``tolerance`` s); retrans is the growth of the socket's total
    retransmits over the bucket. ``figures``: other samples to take those
    from (the sink's sockets, turned to the generator's side), matched by
    the subflow's addresses and ports.
    """
    ports = set(stream_ports or [])
    token_stream = {}
    for sample in ss_samples:
        for sock in sample['socks']:
            if sock['local_port'] in ports and sock['token'] and (bind is None or sock['local'] == bind):
                token_stream[sock['token']] = sock['local_port']
    found = {}
    for sample in ss_samples:
        for sock in sample['socks']:
            if sock['token']:
                stream = token_stream.get(sock['token'])
            else:
                stream = sock['local_port'] if sock['local_port'] in ports else None
            if stream is None:
                continue
            key = (sock['local'], sock['local_port'], sock['peer'], sock['peer_port'])
            found.setdefault(key, stream)
    picks = [_nearest(ss_samples if figures is None else figures, t, tolerance) for t in bounds]
    out = []
    for key, stream in found.items():
        local, lport, peer, pport = key

        def field(sample, name, k=key):
            if sample is None:
                return None
            for sock in sample['socks']:
                if (sock['local'], sock['local_port'], sock['peer'], sock['peer_port']) == k:
                    return sock[name]
            return None
        totals = [field(s, 'retrans') for s in picks]
        retrans = [None if a is None or b is None else max(0, b - a) for a, b in zip(totals[:-1], totals[1:])]
        out.append({'stream': stream, 'path': path_of.get(local), 'local': '%s:%s' % (local, lport),
                    'remote': '%s:%s' % (peer, pport),
                    'cwnd': [field(s, 'cwnd') for s in picks[1:]],
                    'rtt_ms': [field(s, 'rtt_ms') for s in picks[1:]],
                    'retrans': retrans})
    out.sort(key=lambda sf: (sf['stream'], sf['path'] is None, sf['path'] or 0, sf['local']))
    return out


def cpu_series(gen_samples, sink_samples, same_machine, bounds, hz):
    """Per host, the CPU in each bucket in cores (CPU seconds per second): busy, lab, other.

    The same arithmetic as cpu_cost, bucket by bucket, so load that comes
    and goes during a run shows where it was. The sink's samples are a
    second apart: its figures are smoothed over about a second.
    """
    out = {'generator': None, 'sink': None}
    for a, b in zip(bounds[:-1], bounds[1:]):
        gen = host_cpu(gen_samples, a, b, hz)
        sink = host_cpu(sink_samples, a, b, hz) if sink_samples else None
        cost, _per_gb = cpu_cost(gen, sink, same_machine, b - a, None)
        for name, host in cost['hosts'].items():
            if host is None:
                continue
            series = out[name] = out[name] or {'busy': [], 'lab': [], 'other': []}
            for key, field in (('busy', 'busy_s'), ('lab', 'lab_s'), ('other', 'other_s')):
                value = host.get(field)
                series[key].append(None if value is None or b <= a else round(value / (b - a), 3))
    return out


def timeseries(local_samples, ss_samples, paths, direction, stream_ports, bind, path_of, start, end,
               interval=1.0, sink_ss=None, sink_samples=None, same_machine=None, hz=100):
    """The run's time series (format: docs/measurement.md, "Time series").

    The subflows' figures come from the sending end: the generator's
    sockets for upload (and bidir), the sink's for download when its
    responder listed them (``sink_ss``), else the generator's;
    ``subflows_from`` says which. ``cpu``: cpu_series() of both ends.
    """
    bounds = edges(start, end, interval)
    from_sink = direction == 'download' and bool(sink_ss)
    return {
        'interval_s': interval,
        't': [round(b - start, 3) for b in bounds[1:]],
        'paths': path_series(local_samples, paths, direction, bounds),
        'subflows': subflow_series(ss_samples, stream_ports, bind, path_of, bounds,
                                   figures=sink_ss if from_sink else None),
        'subflows_from': 'sink' if from_sink else 'generator',
        'cpu': cpu_series(local_samples, sink_samples, same_machine, bounds, hz),
    }
