#!/usr/bin/env python
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Measure goodput through the provisioned virtual lab for several tbf burst/queue settings.

The evidence behind the lab_shaper defaults (roles/lab_shaper/README.md). For
each setting it reshapes every shaper interface of pair 1 with ``tc qdisc
replace`` (all paths at --rate), runs iperf3 (under mptcpize for --mptcp) from
gen1 to sink1's path-1 address --reps times, and prints the mean, the
coefficient of variation and the share of the ideal goodput (1448/1514 of the
rate per path). Re-run playbooks/provision.yml afterwards to restore the
inventory's shaping.

    ansible-playbook playbooks/provision.yml
    scripts/shaping-sweep.py --mptcp --settings 6250:20,6250:50,6250:100 --reps 5
    ansible-playbook playbooks/provision.yml
"""

import argparse
import json
import statistics
import subprocess
import sys
import time

IDEAL = 1448.0 / 1514.0
PORT = '5298'


def nsrun(ns, *argv, check=False):
    return subprocess.run(['ip', 'netns', 'exec', ns] + list(argv), capture_output=True, text=True, check=check)


def shape(shaper, devs, rate, burst, queue_ms):
    for dev in devs:
        nsrun(shaper, 'tc', 'qdisc', 'replace', 'dev', dev, 'root', 'handle', '1:', 'tbf', 'rate', '%smbit' % rate,
              'burst', str(burst), 'latency', '%sms' % queue_ms, check=True)


def iperf3(gen, sink, mptcp, seconds, address):
    wrap = ['mptcpize', 'run'] if mptcp else []
    server = subprocess.Popen(['ip', 'netns', 'exec', sink] + wrap + ['iperf3', '-s', '-1', '-p', PORT],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while ':%s ' % PORT not in nsrun(sink, 'ss', '-Hltn').stdout:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError('iperf3 server did not start')
            time.sleep(0.02)
        out = nsrun(gen, *(wrap + ['iperf3', '-c', address, '-p', PORT, '-t', str(seconds), '-O', '2', '-J']),
                    check=True).stdout
        server.wait(timeout=10)
    finally:
        if server.poll() is None:
            server.kill()
    end = json.loads(out)['end']
    return end['sum_received']['bits_per_second'] / 1e6, end['sum_sent'].get('retransmits')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--prefix', default='mlab', help='lab prefix of the provisioned lab (default mlab)')
    parser.add_argument('--paths', type=int, default=2, help='paths of the lab (default 2)')
    parser.add_argument('--rate', type=float, default=50, help='rate of every path in Mbit/s (default 50)')
    parser.add_argument('--settings', default='6250:100', help='comma-separated burst_bytes:queue_ms')
    parser.add_argument('--mptcp', action='store_true', help='MPTCP over every path (default: TCP on path 1)')
    parser.add_argument('--reps', type=int, default=3)
    parser.add_argument('--seconds', type=int, default=10)
    args = parser.parse_args(argv)
    p = args.prefix
    devs = ['%s-1%s%d' % (p, side, path) for path in range(1, args.paths + 1) for side in 'gs']
    ideal = args.rate * IDEAL * (args.paths if args.mptcp else 1)
    for setting in args.settings.split(','):
        burst, queue_ms = setting.split(':')
        shape(p + '-shaper', devs, args.rate, int(burst), float(queue_ms))
        runs = [iperf3(p + '-gen1', p + '-sink1', args.mptcp, args.seconds, '10.200.1.2') for dummy in range(args.reps)]
        values = [r[0] for r in runs]
        mean = statistics.mean(values)
        print('%s burst=%sB queue=%sms mean=%.2f Mbit/s (%.1f%% of ideal %.1f) cv=%.2f%% runs=%s retransmits=%s'
              % ('mptcp' if args.mptcp else 'tcp', burst, queue_ms, mean, 100 * mean / ideal, ideal,
                 100 * statistics.pstdev(values) / mean, [round(v, 2) for v in values], [r[1] for r in runs]),
              flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
