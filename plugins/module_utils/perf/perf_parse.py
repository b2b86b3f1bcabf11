# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Parsing of what one measurement reads, and the validity gate of a run.

Pure functions over text and parsed JSON: iperf3 ``-J`` output, /proc/stat,
/proc/net/dev, the MPTcpExt counters of /proc/net/netstat (what ``nstat``
shows), and ``ss -tni`` / ``ss -Mni`` listings. No I/O here, so unit tests
feed recorded outputs.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

CPU_FIELDS = ('user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal')

# MPTcpExt counters that only move when a connection (or part of it) runs as
# plain TCP: fallback at handshake or later, infinite mappings, MPTCP turned
# off for the destination (blackhole detection).
FALLBACK_COUNTERS = ('MPCapableFallbackACK', 'MPCapableFallbackSYNACK', 'MPFallbackTokenInit',
                     'DSSCorruptionFallback', 'InfiniteMapTx', 'InfiniteMapRx',
                     'MPCapableDataFallback', 'MD5SigFallback', 'DssFallback',
                     'SimultConnectFallback', 'FallbackFailed', 'MPCapableSYNTXDisabled',
                     'MPCapableSYNTXDrop')

_ADDR_PORT = re.compile(r'^(?:\[?([0-9a-fA-F:.*%]+?)\]?):(\d+|\*)$')
_TOKEN = re.compile(r'token:([0-9a-f]+)\(id:(\d+)\)/([0-9a-f]+)\(id:(\d+)\)')
_MPTCP_TOKEN = re.compile(r'(?:^|\s)token:([0-9a-f]+)')
_KV_INT = re.compile(r'(?:^|\s)([a-z_]+):(\d+)(?=\s|$)')
_SS_CWND = re.compile(r'(?:^|\s)cwnd:(\d+)')
_SS_RTT = re.compile(r'(?:^|\s)rtt:([0-9.]+)/')
_SS_RETRANS = re.compile(r'(?:^|\s)retrans:\d+/(\d+)')


# ------------------------------------------------------------------ /proc

def parse_proc_stat(text):
    """The aggregate ``cpu`` line of /proc/stat as a dict of jiffies."""
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0] == 'cpu':
            values = [int(v) for v in fields[1:1 + len(CPU_FIELDS)]]
            values += [0] * (len(CPU_FIELDS) - len(values))
            return dict(zip(CPU_FIELDS, values))
    raise ValueError('no aggregate cpu line in /proc/stat')


def cpu_usage(before, after):
    """System-wide CPU use between two /proc/stat samples, in percent of all CPUs.

    busy_pct counts everything but idle and iowait, softirq included (where
    the network stack does much of its work); iperf3's own CPU figure covers
    only its process and misses it.
    """
    if not before or not after:
        return None
    delta = dict((k, after.get(k, 0) - before.get(k, 0)) for k in CPU_FIELDS)
    total = sum(delta.values())
    if total <= 0:
        return None

    def pct(value):
        return round(100.0 * value / total, 2)
    return {
        'busy_pct': pct(total - delta['idle'] - delta['iowait']),
        'user_pct': pct(delta['user'] + delta['nice']),
        'system_pct': pct(delta['system']),
        'softirq_pct': pct(delta['softirq']),
        'irq_pct': pct(delta['irq']),
        'iowait_pct': pct(delta['iowait']),
        'steal_pct': pct(delta['steal']),
    }


def parse_net_dev(text):
    """/proc/net/dev as {dev: {rx_bytes, rx_packets, tx_bytes, tx_packets}}."""
    out = {}
    for line in text.splitlines():
        if ':' not in line:
            continue
        name, _sep, rest = line.partition(':')
        fields = rest.split()
        if len(fields) < 16 or not fields[0].isdigit():
            continue
        out[name.strip()] = {'rx_bytes': int(fields[0]), 'rx_packets': int(fields[1]),
                             'tx_bytes': int(fields[8]), 'tx_packets': int(fields[9])}
    return out


def parse_netstat(text, group='MPTcpExt'):
    """Counters of one group of /proc/net/netstat (header line + value line)."""
    lines = [line.split() for line in text.splitlines() if line.startswith(group + ':')]
    out = {}
    for i in range(0, len(lines) - 1, 2):
        names, values = lines[i][1:], lines[i + 1][1:]
        for name, value in zip(names, values):
            try:
                out[name] = int(value)
            except ValueError:
                continue
    return out


def parse_nstat(text):
    """Every counter group of /proc/net/netstat or /proc/net/snmp, flat and
    named the way ``nstat`` names them (group + counter: ``TcpRetransSegs``,
    ``TcpExtTCPLostRetransmit``, ``MPTcpExtMPJoinSynRx``)."""
    out = {}
    header = None
    for line in text.splitlines():
        fields = line.split()
        if not fields or not fields[0].endswith(':'):
            header = None
            continue
        if header is None or header[0] != fields[0]:
            header = fields          # a group's names; its values follow
            continue
        group = fields[0][:-1]
        for name, value in zip(header[1:], fields[1:]):
            try:
                out[group + name] = int(value)
            except ValueError:
                continue
        header = None
    return out


def cpu_seconds(jiffies, hz):
    """/proc/stat jiffies (USER_HZ) of one sample as seconds: user (nice
    included), system, softirq, irq, and busy - their sum (idle, iowait and
    steal are not work this machine did)."""
    user = (jiffies.get('user', 0) + jiffies.get('nice', 0)) / float(hz)
    system, softirq, irq = (jiffies.get(k, 0) / float(hz) for k in ('system', 'softirq', 'irq'))
    return {'user_s': user, 'system_s': system, 'softirq_s': softirq, 'irq_s': irq,
            'busy_s': user + system + softirq + irq}


def counter_delta(before, after):
    """after - before for every counter; only the ones that moved."""
    out = {}
    for name, value in (after or {}).items():
        d = value - (before or {}).get(name, 0)
        if d:
            out[name] = d
    return out


def path_bytes(before, after, devs, direction):
    """Bytes each path carried in the data direction (both for bidir).

    Upload data leaves the generator (tx), download arrives (rx). Returns a
    list in the order of ``devs``; None for a device missing from a sample.
    """
    out = []
    for dev in devs:
        b, a = (before or {}).get(dev), (after or {}).get(dev)
        if b is None or a is None:
            out.append(None)
            continue
        tx, rx = a['tx_bytes'] - b['tx_bytes'], a['rx_bytes'] - b['rx_bytes']
        out.append(tx if direction == 'upload' else rx if direction == 'download' else tx + rx)
    return out


# ------------------------------------------------------------------ ss

def _split_addr(token):
    match = _ADDR_PORT.match(token)
    if not match:
        return None
    port = match.group(2)
    return match.group(1), (int(port) if port != '*' else None)


def _records(text):
    """Group ss output into (first line, detail lines) records."""
    records = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if line[0] in ' \t' and records:
            records[-1][1].append(line.strip())
        else:
            records.append([line, []])
    return records


def _endpoints(line):
    pairs = [p for p in (_split_addr(t) for t in line.split()) if p]
    if len(pairs) < 2:
        return None
    return pairs[-2], pairs[-1]


def parse_ss_subflows(text):
    """TCP sockets of ``ss -tni`` that are MPTCP subflows.

    Returns [{local, local_port, peer, peer_port, token, remote_token,
    local_id, remote_id}]; ``token`` is the local token of the MPTCP
    connection the subflow belongs to (what ``ss -M`` shows). Plain TCP
    sockets (no tcp-ulp-mptcp) are left out.
    """
    out = []
    for first, detail in _records(text):
        ends = _endpoints(first)
        info = ' '.join(detail) if detail else first
        match = _TOKEN.search(info)
        if not ends or 'tcp-ulp-mptcp' not in info or not match:
            continue
        (local, lport), (peer, pport) = ends
        out.append({'local': local, 'local_port': lport, 'peer': peer, 'peer_port': pport,
                    'remote_token': match.group(1), 'remote_id': int(match.group(2)),
                    'token': match.group(3), 'local_id': int(match.group(4))})
    return out


def parse_ss_tcp(text):
    """Every TCP socket of ``ss -tni`` with the figures a time series needs.

    Returns [{local, local_port, peer, peer_port, token, cwnd, rtt_ms,
    retrans}]: ``token`` is the local token of the MPTCP connection a
    subflow belongs to (None for plain TCP), ``retrans`` the socket's total
    retransmitted segments so far (tcpi_total_retrans; ss omits the field
    while it is 0), ``cwnd`` in segments and ``rtt_ms`` the smoothed RTT
    (None when ss shows none).
    """
    out = []
    for first, detail in _records(text):
        ends = _endpoints(first)
        if not ends:
            continue
        info = ' '.join(detail) if detail else first
        (local, lport), (peer, pport) = ends
        token = _TOKEN.search(info) if 'tcp-ulp-mptcp' in info else None
        cwnd = _SS_CWND.search(info)
        rtt = _SS_RTT.search(info)
        retrans = _SS_RETRANS.search(info)
        out.append({'local': local, 'local_port': lport, 'peer': peer, 'peer_port': pport,
                    'token': token.group(3) if token else None,
                    'cwnd': int(cwnd.group(1)) if cwnd else None,
                    'rtt_ms': float(rtt.group(1)) if rtt else None,
                    'retrans': int(retrans.group(1)) if retrans else 0})
    return out


def parse_ss_mptcp(text):
    """MPTCP sockets of ``ss -Mni``: [{local, local_port, peer, peer_port, token,
    subflows, fallback, ...}] where ``subflows`` counts the additional subflows
    (mptcpi_subflows)."""
    out = []
    for first, detail in _records(text):
        ends = _endpoints(first)
        if not ends:
            continue
        info = ' '.join(detail)
        (local, lport), (peer, pport) = ends
        rec = {'local': local, 'local_port': lport, 'peer': peer, 'peer_port': pport,
               'fallback': bool(re.search(r'(?:^|\s)fallback(?:\s|$)', info))}
        token = _MPTCP_TOKEN.search(info)
        rec['token'] = token.group(1) if token else None
        for key, value in _KV_INT.findall(info):
            rec.setdefault(key, int(value))
        rec.setdefault('subflows', 0)
        out.append(rec)
    return out


# ------------------------------------------------------------------ iperf3

def _stream_ports(report):
    return [c.get('local_port') for c in (report.get('start') or {}).get('connected') or []]


def summarize_iperf3(report, direction):
    """The numbers a run record needs from iperf3 ``-J`` output.

    throughput_mbps is the goodput the receiver counted over iperf3's measured
    window (omit seconds excluded); for bidir the two directions add up.
    Returns {ok, error, throughput_mbps, seconds, sent_mbps, retransmits,
    stream_ports}.
    """
    out = {'ok': False, 'error': None, 'throughput_mbps': None, 'seconds': None,
           'sent_mbps': None, 'retransmits': None, 'stream_ports': [], 'congestion': None,
           'bytes_received': None}
    if not isinstance(report, dict):
        out['error'] = 'iperf3 printed no JSON report'
        return out
    out['stream_ports'] = _stream_ports(report)
    if report.get('error'):
        out['error'] = 'iperf3: %s' % report['error']
        return out
    end = report.get('end') or {}
    out['congestion'] = end.get('sender_tcp_congestion')
    keys = [('sum_received', 'sum_sent')]
    if direction == 'bidir':
        keys.append(('sum_received_bidir_reverse', 'sum_sent_bidir_reverse'))
    rate = sent = 0.0
    received = 0
    seconds = []
    retrans = None
    for recv_key, sent_key in keys:
        recv, snd = end.get(recv_key), end.get(sent_key) or {}
        if not recv or 'bits_per_second' not in recv:
            out['error'] = 'iperf3 report has no end.%s' % recv_key
            return out
        rate += recv['bits_per_second']
        received += int(recv.get('bytes') or 0)
        sent += snd.get('bits_per_second') or 0.0
        seconds.append(float(recv.get('seconds') or 0.0))
        if 'retransmits' in snd:
            retrans = (retrans or 0) + int(snd['retransmits'])
    out.update(ok=True, throughput_mbps=round(rate / 1e6, 3), seconds=round(max(seconds), 3),
               sent_mbps=round(sent / 1e6, 3), retransmits=retrans, bytes_received=received)
    return out


def failed_before_measuring(result):
    """Whether a failed measurement ended before iperf3 measured anything.

    True when iperf3 printed its JSON report with an error and no interval at
    all: the test never started (the control connection closed at once, the
    server was still busy with the last test...). iperf3 fails that way now
    and then for reasons of its own; a measurement that failed during the
    test, gave no report (crashed, killed) or passed iperf3 but failed a
    gate (fallback, subflows) is not one.
    """
    if result.get('ok'):
        return False
    report = (result.get('raw') or {}).get('iperf3')
    if not isinstance(report, dict) or not report.get('error'):
        return False
    return not report.get('intervals')


def iperf3_window(report):
    """The client's own timeline from its ``intervals`` (omitted ones are flagged).

    Returns {omitted_s, measured_s, intervals} - the seconds of the omitted
    intervals (slow start, not counted), the span of the counted ones, and
    how many were counted - or None without intervals. The counted window
    ends when the test's timer fires; after it the client only exchanges
    results and exits, so the window is [exit - measured_s, exit].
    """
    if not isinstance(report, dict):
        return None
    sums = [iv.get('sum') or {} for iv in report.get('intervals') or [] if isinstance(iv, dict)]
    counted = [s for s in sums if not s.get('omitted') and 'start' in s and 'end' in s]
    if not counted:
        return None
    omitted = sum(float(s.get('seconds') or 0.0) for s in sums if s.get('omitted'))
    span = float(counted[-1]['end']) - float(counted[0]['start'])
    return {'omitted_s': round(omitted, 6), 'measured_s': round(span, 6), 'intervals': len(counted)}


# ------------------------------------------------------------------ MPTCP checks

def stream_subflows(stream_ports, bind, subflows, path_of_address):
    """Subflows of each data stream's MPTCP connection, from ``ss -tni``.

    A stream's connection is found by its initial subflow (iperf3's local
    port, from the bind address); every subflow with the same local token
    belongs to it. iperf3's control connection is left out. Returns a list,
    one {port, subflows, paths, foreign} per stream, in stream order;
    ``subflows`` is None when the connection was not seen, ``foreign`` lists
    local addresses of subflows that are not on the test's paths.
    """
    out = []
    for port in stream_ports:
        token = None
        for sf in subflows:
            if sf['local_port'] == port and (bind is None or sf['local'] == bind):
                token = sf['token']
                break
        if token is None:
            out.append({'port': port, 'subflows': None, 'paths': [], 'foreign': []})
            continue
        members = [sf for sf in subflows if sf['token'] == token]
        paths = sorted(set(path_of_address.get(sf['local']) for sf in members) - set([None]))
        foreign = sorted(set(sf['local'] for sf in members if sf['local'] not in path_of_address))
        out.append({'port': port, 'subflows': len(members), 'paths': paths, 'foreign': foreign})
    return out


def fallback_reasons(delta, mptcp_sockets=None, stream_ports=None):
    """Why the MPTCP run fell back to TCP, or [] when nothing says it did.

    Two independent witnesses: the MPTcpExt counters that only move on a
    fallback (deltas over the run, in the generator's namespace), and the
    ``fallback`` flag ``ss -M`` shows on a data stream's MPTCP socket.
    (MPCapableSYNTX against MPCapableSYNACKRX is no witness: a refused
    connection also sends an MP_CAPABLE SYN and never gets a SYN/ACK.)
    """
    reasons = ['%s +%d' % (name, delta[name]) for name in FALLBACK_COUNTERS if delta.get(name, 0) > 0]
    ports = set(stream_ports or [])
    for sock in mptcp_sockets or []:
        if sock.get('fallback') and (not ports or sock.get('local_port') in ports):
            reasons.append('ss -M: stream on port %s is in fallback' % sock.get('local_port'))
    return reasons


def gate(protocol, paths, tool_ok, tool_error, subflows, fallback, fallback_why=None, foreign=None):
    """(ok, error) of a run: the validity gate.

    A run whose tool failed keeps the tool's error. An MPTCP run is invalid
    when it fell back to TCP, when a stream has fewer subflows than the
    test's paths (or its subflows were not seen), or when subflows run from
    addresses outside the test's paths (``foreign``).
    """
    if not tool_ok:
        return False, tool_error or 'measurement failed'
    if protocol != 'mptcp':
        return True, None
    if fallback:
        return False, 'invalid: MPTCP fell back to TCP (%s)' % '; '.join(fallback_why or ['fallback'])
    if subflows is None:
        return False, 'invalid: no MPTCP subflows seen for the data streams'
    if subflows < paths:
        return False, 'invalid: %d subflow(s) for %d path(s)' % (subflows, paths)
    if foreign:
        return False, 'invalid: subflows outside the test\'s paths, from %s' % ', '.join(foreign)
    return True, None


# ------------------------------------------------------------------ one measurement's figures

def tool_outcome(report, rc, out, err, killed, limit, direction):
    """summarize_iperf3() of a finished iperf3, with the error a user should read.

    iperf3 killed at its time limit, one that printed no report (a crash,
    a bad argument) and one whose report looks fine but that exited non-zero
    are failures, named with what the tool said (its last 500 characters).
    """
    summary = summarize_iperf3(report, direction)
    if not summary['ok'] and killed:
        summary['error'] = 'iperf3 did not finish within %ds and was killed' % limit
    elif not summary['ok'] and report is None:
        summary['error'] = 'iperf3 exited with code %d: %s' % (rc, (err or out).strip()[-500:])
    elif summary['ok'] and rc != 0:
        summary.update(ok=False, error='iperf3 exited with code %d: %s' % (rc, err.strip()[-500:]))
    return summary


def path_figures(throughput, net_dev_before, net_dev_after, devs, direction, elapsed):
    """(bytes, Mbit/s of goodput, Mbit/s on the wire) of each path, in path order.

    The goodput is split by each path interface's share of the bytes (the
    tool's throughput is the whole); the wire rate is the interface's bytes
    over the elapsed seconds. None where an interface was not seen.
    """
    pbytes = path_bytes(net_dev_before, net_dev_after, devs, direction)
    total = sum(b for b in pbytes if b is not None)
    per_path = [round(throughput * b / total, 3) if (throughput is not None and total and b is not None) else None
                for b in pbytes]
    wire = [round(b * 8 / elapsed / 1e6, 3) if b is not None and elapsed > 0 else None for b in pbytes]
    return pbytes, per_path, wire


def mptcp_check(protocol, paths, summary, bind, port, path_of_address, ss_subflows, ss_mptcp, mptcp_delta):
    """What the run's connections say, and the validity gate's verdict on it.

    ``paths`` is how many paths the test uses; ``ss_subflows`` and ``ss_mptcp`` are the mid-run ``ss -tni`` and ``ss
    -Mni`` outputs, ``mptcp_delta`` the generator's MPTcpExt counter deltas.
    Returns {streams, subflows, fallback, fallback_reasons, foreign, ok,
    error}; for TCP only the tool's outcome counts.
    """
    out = {'streams': [], 'subflows': None, 'fallback': None, 'fallback_reasons': [], 'foreign': []}
    if protocol == 'mptcp':
        sockets = [m for m in parse_ss_mptcp(ss_mptcp or '') if m['peer_port'] == port]
        out['streams'] = stream_subflows(summary['stream_ports'], bind, parse_ss_subflows(ss_subflows or ''),
                                         path_of_address)
        counts = [st['subflows'] for st in out['streams']]
        out['subflows'] = min(counts) if counts and None not in counts else None
        out['fallback_reasons'] = fallback_reasons(mptcp_delta, sockets, summary['stream_ports'])
        # Without a completed run there is no connection to judge.
        out['fallback'] = bool(out['fallback_reasons']) if summary['ok'] else None
        out['foreign'] = sorted(set(a for st in out['streams'] for a in st.get('foreign') or []))
    out['ok'], out['error'] = gate(protocol, paths, summary['ok'], summary['error'],
                                   out['subflows'], out['fallback'], out['fallback_reasons'], out['foreign'])
    return out
