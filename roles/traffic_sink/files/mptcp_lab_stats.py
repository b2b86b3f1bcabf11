# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stats responder of the traffic sink (mptcp.lab).

Answers one request per TCP connection, then closes it. A client sends a
command word and gets one JSON object back:

``stats``  the raw text of the sink's /proc/stat ``cpu`` line, /proc/net/dev,
           /proc/net/netstat and /proc/net/snmp (every counter group, what
           ``nstat`` reads), the machine's boot_id, and the CPU seconds of the
           lab's processes on this sink and of the responder itself.
``cpu [PORT]``  the light sample taken about once a second during a
           measurement: the ``cpu`` line, the ``Tcp:`` lines of /proc/net/snmp
           (RetransSegs), the CPU seconds of the lab's processes and of the
           responder, and with PORT the established TCP sockets on that local
           port with their cwnd, RTT and retransmits (sock_diag, what ``ss
           -ti`` reads), so a download's subflows are seen from their sender.

The traffic generator (mptcp.lab.perf_measure) asks ``stats`` right before
and right after each measurement and ``cpu`` once a second in between, so the
sink's CPU cost over exactly the measured window is known without an extra
Ansible task per measurement, on namespaces and real hosts.

The lab's processes are the ones whose mptcp.lab.supervised_process state
files match ``--lab-state`` (a glob, repeatable); by default, when this file is installed
as ``<run_dir>/<name>-stats.py`` (the traffic_sink role's copy), the sink's
own iperf3 servers ``<run_dir>/<name>-iperf3-*.json``. A state file counts
only while the kernel start time of its pid matches the recorded one.

Read-only and tiny by design: nothing from the client is interpreted except
the command word and a port number, replies are bounded, one client at a time, and it only
listens on the addresses it is given. Standard library only.

Usage: mptcp_lab_stats.py --port 5199 [--address ADDR]... [--lab-state GLOB]...
"""

import argparse
import glob
import json
import os
import re
import signal
import socket
import struct
import sys

PROC = '/proc'
VERSION = 2
CLK_TCK = os.sysconf('SC_CLK_TCK')


def read(path):
    with open(path) as f:
        return f.read()


def boot_id():
    try:
        return read(PROC + '/sys/kernel/random/boot_id').strip()
    except (IOError, OSError):
        return None


def _stat_fields(pid):
    data = read('%s/%s/stat' % (PROC, pid))
    return data[data.rindex(')') + 2:].split()


def process_cpu_s(pid):
    """CPU seconds a process used so far (scheduler runtime, ns), or None when it is gone."""
    try:
        return int(read('%s/%s/schedstat' % (PROC, pid)).split()[0]) / 1e9
    except (IOError, OSError, ValueError, IndexError):
        pass
    try:
        fields = _stat_fields(pid)
        return (int(fields[11]) + int(fields[12])) / float(CLK_TCK)
    except (IOError, OSError, ValueError, IndexError):
        return None


def default_lab_state():
    """The sink's own iperf3 servers when installed as <run_dir>/<name>-stats.py."""
    here = os.path.abspath(__file__)
    name = os.path.basename(here)
    if not name.endswith('-stats.py'):
        return []
    return [os.path.join(os.path.dirname(here), glob.escape(name[:-len('-stats.py')]) + '-iperf3-*.json')]


def lab_processes(patterns):
    """[(name, pid)] of the live processes the state files matching patterns describe."""
    out = []
    own = os.getpid()
    for pattern in patterns:
        for path in sorted(glob.glob(pattern)):
            try:
                with open(path) as f:
                    rec = json.loads(f.read(65536))
                pid, start = rec['pid'], rec['starttime']
                if not isinstance(pid, int) or pid == own or int(_stat_fields(pid)[19]) != int(start):
                    continue
            except (IOError, OSError, ValueError, KeyError, TypeError, IndexError):
                continue
            out.append((re.sub(r'\.json$', '', os.path.basename(path)), pid))
    return out


def lab_cpu(patterns):
    total, names = 0.0, []
    for name, pid in lab_processes(patterns):
        cpu = process_cpu_s(pid)
        if cpu is not None:
            total += cpu
            names.append(name)
    return round(total, 6), names


# sock_diag (what ss reads): established TCP sockets with their tcp_info
NETLINK_SOCK_DIAG, SOCK_DIAG_BY_FAMILY, NLMSG_ERROR, NLMSG_DONE = 4, 20, 2, 3
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
INET_DIAG_INFO = 2
TCP_ESTABLISHED = 1
MAX_SOCKETS = 256


def _plain(address):
    """An IPv4-mapped IPv6 address (a dual-stack listener's socket) as plain IPv4."""
    return address[7:] if address.startswith('::ffff:') and '.' in address else address


def _tcp_dump(family):
    """[(src, sport, dst, dport, tcp_info bytes)] of the established TCP sockets of one family."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG)
    try:
        sock.settimeout(1.0)
        req = struct.pack('=BBBxI', family, socket.IPPROTO_TCP, 1 << (INET_DIAG_INFO - 1), 1 << TCP_ESTABLISHED)
        req += b'\0' * 48                                 # inet_diag_sockid: no filter, we filter below
        sock.send(struct.pack('=IHHII', 16 + len(req), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, 1, 0) + req)
        out = []
        while True:
            data = sock.recv(65536)
            off = 0
            while off + 16 <= len(data):
                length, kind = struct.unpack_from('=IH', data, off)
                if kind in (NLMSG_DONE, NLMSG_ERROR) or length < 16:
                    return out
                body = data[off + 16:off + length]
                off += (length + 3) & ~3
                if len(body) < 72:
                    continue
                sport, dport = struct.unpack_from('>HH', body, 4)
                size = 4 if family == socket.AF_INET else 16
                src = _plain(socket.inet_ntop(family, body[8:8 + size]))
                dst = _plain(socket.inet_ntop(family, body[24:24 + size]))
                attr, info = 72, None
                while attr + 4 <= len(body):
                    alen, atype = struct.unpack_from('=HH', body, attr)
                    if alen < 4:
                        break
                    if atype == INET_DIAG_INFO:
                        info = body[attr + 4:attr + alen]
                    attr += (alen + 3) & ~3
                out.append((src, sport, dst, dport, info))
    finally:
        sock.close()


def tcp_sockets(port):
    """Established TCP sockets on local port ``port``: [[local, port, peer, peer port, cwnd, rtt_us, retrans]].

    From tcp_info (what ``ss -ti`` shows): snd_cwnd, the smoothed RTT and
    total_retrans. Plain sock_diag, no privilege needed; at most MAX_SOCKETS.
    """
    out = []
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            found = _tcp_dump(family)
        except OSError:
            continue
        for src, sport, dst, dport, info in found:
            if sport != port or info is None or len(info) < 104 or len(out) >= MAX_SOCKETS:
                continue
            rtt, cwnd, retrans = (struct.unpack_from('=I', info, off)[0] for off in (68, 80, 100))
            out.append([src, sport, dst, dport, cwnd, rtt, retrans])
    return out


def _cpu_line():
    return next((line for line in read(PROC + '/stat').splitlines() if line.startswith('cpu ')), '') + '\n'


def snapshot(patterns):
    lab_s, names = lab_cpu(patterns)
    return json.dumps({
        'version': VERSION, 'stat': _cpu_line(), 'net_dev': read(PROC + '/net/dev'),
        'netstat': read(PROC + '/net/netstat'), 'snmp': read(PROC + '/net/snmp'),
        'boot_id': boot_id(), 'clk_tck': CLK_TCK, 'lab_cpu_s': lab_s, 'lab_processes': names,
        'self_cpu_s': process_cpu_s('self')}).encode()


def light(patterns, port=None):
    lab_s, _names = lab_cpu(patterns)
    snmp = ''.join(line + '\n' for line in read(PROC + '/net/snmp').splitlines() if line.startswith('Tcp:'))
    reply = {'version': VERSION, 'stat': _cpu_line(), 'snmp': snmp, 'lab_cpu_s': lab_s}
    if port is not None:
        reply['tcp'] = tcp_sockets(port)
    reply['self_cpu_s'] = process_cpu_s('self')
    return json.dumps(reply).encode()


def handle(request, patterns):
    """The reply to one request (bytes), or None for anything but ``stats``, ``cpu`` or ``cpu <port>``."""
    words = request.split()
    if words == [b'stats']:
        return snapshot(patterns)
    if words == [b'cpu']:
        return light(patterns)
    if len(words) == 2 and words[0] == b'cpu' and words[1].isdigit() and 0 < int(words[1]) < 65536:
        return light(patterns, int(words[1]))
    return None


def serve(listeners, patterns):
    import selectors
    sel = selectors.DefaultSelector()
    for sock in listeners:
        sel.register(sock, selectors.EVENT_READ)
    while True:
        for key, _mask in sel.select():
            try:
                conn, _peer = key.fileobj.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2.0)
                try:
                    reply = handle(conn.recv(64), patterns)
                    if reply is not None:
                        conn.sendall(reply)
                except OSError:
                    pass


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--port', type=int, required=True)
    parser.add_argument('--address', action='append', default=[],
                        help='address to listen on (repeatable); all addresses when omitted')
    parser.add_argument('--lab-state', action='append', default=[],
                        help='glob of mptcp.lab.supervised_process state files of the lab processes (repeatable); '
                             'default: <run_dir>/<name>-iperf3-*.json beside an installed <name>-stats.py')
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    listeners = []
    for address in args.address or ['0.0.0.0']:
        family = socket.AF_INET6 if ':' in address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, args.port))
        sock.listen(16)
        listeners.append(sock)
    serve(listeners, args.lab_state or default_lab_state())


if __name__ == '__main__':
    main()
