# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Header-only packet captures of a measurement: tcpdump's command, its counters, a pcap reader.

A capture is one ``tcpdump -s 150`` per path interface (150 bytes hold the
Ethernet, IP and TCP headers with every MPTCP option), filtered to TCP,
written straight to a pcap file. ``Captures`` runs them as children of the
calling process (perf_measure: around iperf3 on the generator); the
``packet_capture`` module runs them under a guarded supervisor (the sink).
``mptcp_options`` reads a pcap back and counts the MPTCP options it holds,
so tests and reports need no tcpdump to check a capture.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ctypes
import os
import re
import select
import signal
import struct
import subprocess
import time

from ansible_collections.mptcp.lab.plugins.module_utils.process.guarded_process import proc_cpu_seconds

SNAPLEN = 150
FILTER = ['tcp']
STATS_RE = re.compile(r'^(\d+) packets? (captured|received by filter|dropped by kernel)', re.M)
SAFE_RE = re.compile(r'[^A-Za-z0-9._-]+')
MPTCP_SUBTYPES = {0: 'MP_CAPABLE', 1: 'MP_JOIN', 2: 'DSS', 3: 'ADD_ADDR', 4: 'REMOVE_ADDR', 5: 'MP_PRIO',
                  6: 'MP_FAIL', 7: 'MP_FASTCLOSE', 8: 'MP_TCPRST'}


def tcpdump_argv(tcpdump, dev, path, snaplen=SNAPLEN):
    """tcpdump on one interface into a pcap file, headers only; as root it keeps root (-Z) to write there."""
    return [tcpdump, '-i', dev, '-s', str(int(snaplen)), '-n', '--immediate-mode', '-Z', 'root', '-w', path] + FILTER


def file_name(stem, role, dev):
    """<stem>.<role>.<dev>.pcap, every part safe as a file name."""
    return '%s.%s.%s.pcap' % tuple(SAFE_RE.sub('_', str(x)).strip('_') or 'x' for x in (stem, role, dev))


def parse_stats(text):
    """{captured, received, dropped} from tcpdump's closing lines (None when absent)."""
    found = dict((kind, int(n)) for n, kind in STATS_RE.findall(text or ''))
    return {'captured': found.get('captured'), 'received': found.get('received by filter'),
            'dropped': found.get('dropped by kernel')}


def _set_pdeathsig():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


class Captures(object):
    """tcpdump per interface as children of this process; start() returns once all listen."""

    def __init__(self, tcpdump, devs, directory, stem, role, snaplen=SNAPLEN):
        self.items = []
        for dev in devs:
            path = os.path.join(directory, file_name(stem, role, dev))
            self.items.append({'dev': dev, 'path': path, 'argv': tcpdump_argv(tcpdump, dev, path, snaplen),
                               'proc': None, 'log': b''})

    def start(self, timeout=5.0):
        """Start every tcpdump; returns an error text or None once each printed "listening on"."""
        for item in self.items:
            item['proc'] = subprocess.Popen(item['argv'], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.PIPE, preexec_fn=_set_pdeathsig,
                                            env={'LC_ALL': 'C', 'PATH': '/usr/sbin:/usr/bin:/sbin:/bin'})
        limit = time.monotonic() + timeout
        for item in self.items:
            while b'listening on' not in item['log']:
                remaining = limit - time.monotonic()
                if remaining <= 0:
                    return 'tcpdump on %s did not start listening within %gs' % (item['dev'], timeout)
                readable, _w, _x = select.select([item['proc'].stderr], [], [], remaining)
                if readable:
                    data = os.read(item['proc'].stderr.fileno(), 4096)
                    if not data:
                        return 'tcpdump on %s exited: %s' % (item['dev'], item['log'].decode('utf-8', 'replace').strip())
                    item['log'] += data
        return None

    def stop(self):
        """Stop every tcpdump (SIGTERM: it flushes its file); returns one record per interface.

        Each record has tcpdump's own CPU seconds (cpu_s), the capture's direct cost.
        """
        for item in self.items:
            item['cpu_s'] = proc_cpu_seconds(item['proc'].pid) if item['proc'] is not None else None
        for item in self.items:
            if item['proc'] is not None and item['proc'].poll() is None:
                item['proc'].terminate()
        out = []
        for item in self.items:
            proc = item['proc']
            if proc is not None:
                try:
                    rest = proc.communicate(timeout=5)[1]
                except subprocess.TimeoutExpired:
                    proc.kill()
                    rest = proc.communicate()[1]
                item['log'] += rest or b''
            log = item['log'].decode('utf-8', 'replace')
            record = {'dev': item['dev'], 'file': os.path.basename(item['path']), 'path': item['path'],
                      'bytes': os.path.getsize(item['path']) if os.path.exists(item['path']) else None,
                      'cpu_s': item.get('cpu_s'), 'error': None}
            record.update(parse_stats(log))
            if proc is None or record['captured'] is None:
                record['error'] = 'tcpdump: %s' % (log.strip()[-300:] or 'did not run')
            out.append(record)
        return out


# ---------------------------------------------------------------- pcap reader

def _packets(data):
    if len(data) < 24:
        raise ValueError('not a pcap file: %d bytes' % len(data))
    magic = data[:4]
    if magic in (b'\xd4\xc3\xb2\xa1', b'\x4d\x3c\xb2\xa1'):
        endian = '<'
    elif magic in (b'\xa1\xb2\xc3\xd4', b'\xa1\xb2\x3c\x4d'):
        endian = '>'
    else:
        raise ValueError('not a pcap file (magic %s)' % magic.hex())
    linktype = struct.unpack(endian + 'I', data[20:24])[0] & 0x0fffffff
    offset = 24
    while offset + 16 <= len(data):
        _sec, _frac, caplen, _length = struct.unpack(endian + 'IIII', data[offset:offset + 16])
        offset += 16
        yield linktype, data[offset:offset + caplen]
        offset += caplen


def _ip_payload(linktype, frame):
    """(src, dst, transport protocol, payload) of a frame, or None."""
    if linktype == 1:  # Ethernet
        ethertype, rest = struct.unpack('!H', frame[12:14])[0], frame[14:]
        while ethertype == 0x8100 and len(rest) >= 4:
            ethertype, rest = struct.unpack('!H', rest[2:4])[0], rest[4:]
    elif linktype == 113:  # Linux cooked v1
        ethertype, rest = struct.unpack('!H', frame[14:16])[0], frame[16:]
    elif linktype == 276:  # Linux cooked v2
        ethertype, rest = struct.unpack('!H', frame[0:2])[0], frame[20:]
    elif linktype in (101, 12):  # raw IP
        ethertype, rest = (0x0800 if frame[:1] and frame[0] >> 4 == 4 else 0x86dd), frame
    else:
        return None
    if ethertype == 0x0800 and len(rest) >= 20:
        ihl = (rest[0] & 0x0f) * 4
        return rest[12:16], rest[16:20], rest[9], rest[ihl:]
    if ethertype == 0x86dd and len(rest) >= 40:
        return rest[8:24], rest[24:40], rest[6], rest[40:]
    return None


def tcp_mptcp_options(segment):
    """(flags, [MPTCP subtype names]) of a TCP segment."""
    if len(segment) < 20:
        return None, []
    data_offset = (segment[12] >> 4) * 4
    flags = segment[13]
    options = segment[20:min(data_offset, len(segment))]
    found = []
    i = 0
    while i < len(options):
        kind = options[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        if i + 1 >= len(options) or options[i + 1] < 2:
            break
        length = options[i + 1]
        if kind == 30 and i + 2 < len(options):
            found.append(MPTCP_SUBTYPES.get(options[i + 2] >> 4, 'subtype%d' % (options[i + 2] >> 4)))
        i += length
    return flags, found


def mptcp_options(path):
    """Counts of a pcap: packets, tcp, MPTCP options by subtype, and SYNs carrying MP_CAPABLE / MP_JOIN."""
    with open(path, 'rb') as f:
        data = f.read()
    counts = {'packets': 0, 'tcp': 0, 'options': {}, 'syn_mp_capable': 0, 'syn_mp_join': 0, 'ports': []}
    ports = set()
    for linktype, frame in _packets(data):
        counts['packets'] += 1
        ip = _ip_payload(linktype, frame)
        if not ip or ip[2] != 6:
            continue
        counts['tcp'] += 1
        segment = ip[3]
        flags, found = tcp_mptcp_options(segment)
        if len(segment) >= 4:
            ports.add(struct.unpack('!HH', segment[:4]))
        for name in found:
            counts['options'][name] = counts['options'].get(name, 0) + 1
        if flags is not None and flags & 0x02:
            if 'MP_CAPABLE' in found:
                counts['syn_mp_capable'] += 1
            if 'MP_JOIN' in found:
                counts['syn_mp_join'] += 1
    counts['ports'] = sorted(ports)
    return counts
