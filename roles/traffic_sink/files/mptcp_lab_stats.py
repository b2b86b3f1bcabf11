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
``cpu``    the light sample taken about once a second during a measurement:
           the ``cpu`` line, the ``Tcp:`` lines of /proc/net/snmp
           (RetransSegs), and the CPU seconds of the lab's processes and of the
           responder.

The traffic generator (mptcp.lab.perf_measure) asks ``stats`` right before
and right after each measurement and ``cpu`` once a second in between, so the
sink's CPU cost over exactly the measured window is known without an extra
Ansible task per measurement, on namespaces and real hosts.

The lab's processes are the ones whose mptcp.lab.daemon state files match
``--lab-state`` (a glob, repeatable); by default, when this file is installed
as ``<run_dir>/<name>-stats.py`` (the traffic_sink role's copy), the sink's
own iperf3 servers ``<run_dir>/<name>-iperf3-*.json``. A state file counts
only while the kernel start time of its pid matches the recorded one.

Read-only and tiny by design: nothing from the client is interpreted except
the one command word, replies are bounded, one client at a time, and it only
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


def _cpu_line():
    return next((line for line in read(PROC + '/stat').splitlines() if line.startswith('cpu ')), '') + '\n'


def snapshot(patterns):
    lab_s, names = lab_cpu(patterns)
    return json.dumps({
        'version': VERSION, 'stat': _cpu_line(), 'net_dev': read(PROC + '/net/dev'),
        'netstat': read(PROC + '/net/netstat'), 'snmp': read(PROC + '/net/snmp'),
        'boot_id': boot_id(), 'clk_tck': CLK_TCK, 'lab_cpu_s': lab_s, 'lab_processes': names,
        'self_cpu_s': process_cpu_s('self')}).encode()


def light(patterns):
    lab_s, _names = lab_cpu(patterns)
    snmp = ''.join(line + '\n' for line in read(PROC + '/net/snmp').splitlines() if line.startswith('Tcp:'))
    return json.dumps({'version': VERSION, 'stat': _cpu_line(), 'snmp': snmp, 'lab_cpu_s': lab_s,
                       'self_cpu_s': process_cpu_s('self')}).encode()


COMMANDS = {b'stats': snapshot, b'cpu': light}


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
                    command = COMMANDS.get(conn.recv(64).strip())
                    if command:
                        conn.sendall(command(patterns))
                except OSError:
                    pass


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--port', type=int, required=True)
    parser.add_argument('--address', action='append', default=[],
                        help='address to listen on (repeatable); all addresses when omitted')
    parser.add_argument('--lab-state', action='append', default=[],
                        help='glob of mptcp.lab.daemon state files of the lab processes (repeatable); '
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
