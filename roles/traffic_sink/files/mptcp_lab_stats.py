# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stats responder of the traffic sink (mptcp.lab).

Answers one request per TCP connection: a client sends ``stats\\n`` and gets
one JSON object back with the raw text of the sink's /proc/stat ``cpu``
line, /proc/net/dev and the MPTcpExt lines of /proc/net/netstat, then the
connection closes. The traffic generator (mptcp.lab.perf_measure) asks right
before and right after each measurement, so the sink's CPU use is known
without an extra Ansible task per measurement, on namespaces and real hosts.

Read-only and tiny by design: nothing from the client is interpreted except
the one command word, replies are bounded, one client at a time, and it only
listens on the addresses it is given.

Usage: mptcp_lab_stats.py --port 5199 [--address ADDR]...
"""

import argparse
import json
import signal
import socket
import sys

PROC_STAT = '/proc/stat'
NET_DEV = '/proc/net/dev'
NETSTAT = '/proc/net/netstat'


def read(path):
    with open(path) as f:
        return f.read()


def snapshot():
    stat = read(PROC_STAT)
    cpu = next((line for line in stat.splitlines() if line.startswith('cpu ')), '')
    netstat = ''.join(line + '\n' for line in read(NETSTAT).splitlines() if line.startswith('MPTcpExt:'))
    return json.dumps({'stat': cpu + '\n', 'net_dev': read(NET_DEV), 'netstat': netstat}).encode()


def serve(listeners):
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
                    request = conn.recv(64)
                    if request.strip() == b'stats':
                        conn.sendall(snapshot())
                except OSError:
                    pass


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--port', type=int, required=True)
    parser.add_argument('--address', action='append', default=[],
                        help='address to listen on (repeatable); all addresses when omitted')
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
    serve(listeners)


if __name__ == '__main__':
    main()
