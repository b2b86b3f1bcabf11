#!/usr/bin/env python
"""Noise of the request/response metrics, measured with mptcp.lab.perf_latency on a real lab.

What it does (as root, from the repository root):

  1. builds a throwaway two-path lab in network namespaces of its own
     (--prefix, default mlb + random; tests/integration/latency_lab.py: tbf
     50 Mbit/s per path with a 100 KiB queue, the traffic sink's servers);
  2. runs R rounds (--reps, default 5) of four request/response
     measurements of --duration seconds (default 5), interleaved:
     TCP over path 1 and MPTCP over both paths, each idle and under a cubic
     bulk flow of the same protocol (load: bulk);
  3. prints, per configuration and metric (rr_tps, latency_p50_us,
     latency_p90_us, latency_p99_us), the median, the CV over the runs
     (stdev/mean), min and max, how many runs were valid, the bulk flow's
     throughput, and the machine's load average before and after;
     writes everything to --out (JSON) when given;
  4. tears the lab down, whatever happens.

    .venv/bin/python tests/benchmarks/bench_latency.py --reps 5 --duration 5 --out /tmp/bench-latency.json

Each measurement costs about --duration + 2.3 s (sockperf's fixed pause):
the default run takes about 3 minutes.
"""

import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, '.collections'))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'integration'))

# pylint: disable=wrong-import-position
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_stats import summarize  # noqa: E402
from latency_lab import LatencyLab  # noqa: E402

CONFIGS = (('tcp-idle', 'tcp', 'none'), ('mptcp-idle', 'mptcp', 'none'),
           ('tcp-bulk', 'tcp', 'bulk'), ('mptcp-bulk', 'mptcp', 'bulk'))
METRICS = ('rr_tps', 'latency_p50_us', 'latency_p90_us', 'latency_p99_us')


def loadavg():
    with open('/proc/loadavg') as f:
        return [float(v) for v in f.read().split()[:3]]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--reps', type=int, default=5)
    parser.add_argument('--duration', type=int, default=5)
    parser.add_argument('--prefix', default='mlb')
    parser.add_argument('--out')
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit('needs root (network namespaces)')
    lab = LatencyLab(args.prefix)
    runs = dict((name, []) for name, _p, _l in CONFIGS)
    before = loadavg()
    started = time.time()
    try:
        lab.build()
        for rep in range(1, args.reps + 1):
            for name, protocol, load in CONFIGS:
                res = lab.measure(protocol, load=load, duration=args.duration, congestion='cubic')
                runs[name].append({'ok': res['ok'], 'error': res['error'], 'metrics': res['metrics'],
                                   'load_mbps': (res.get('load') or {}).get('throughput_mbps'),
                                   'subflows': res['subflows'], 'elapsed_s': res['elapsed_s']})
                sys.stderr.write('[%d/%d] %-11s %s %s\n' % (rep, args.reps, name, 'ok' if res['ok'] else res['error'],
                                                            json.dumps(res['metrics'])))
    finally:
        lab.destroy()
    after = loadavg()
    report = {'reps': args.reps, 'duration_s': args.duration, 'wall_s': round(time.time() - started, 1),
              'loadavg_before': before, 'loadavg_after': after, 'configs': {}}
    print('%-11s %-15s %12s %8s %12s %12s %6s' % ('config', 'metric', 'median', 'CV', 'min', 'max', 'valid'))
    for name, _protocol, _load in CONFIGS:
        ok = [r for r in runs[name] if r['ok']]
        stats = {}
        for metric in METRICS:
            s = summarize(r['metrics'][metric] for r in ok if r['metrics'][metric] is not None)
            stats[metric] = s
            print('%-11s %-15s %12s %7s%% %12s %12s %3d/%d' % (
                name, metric, '-' if s['median'] is None else '%.1f' % s['median'],
                '-' if s['cv'] is None else '%.1f' % (100 * s['cv']),
                '-' if s['min'] is None else '%.1f' % s['min'], '-' if s['max'] is None else '%.1f' % s['max'],
                len(ok), len(runs[name])))
        loads = [r['load_mbps'] for r in ok if r['load_mbps'] is not None]
        if loads:
            print('%-11s %-15s %12.1f' % (name, 'bulk Mbit/s', sorted(loads)[len(loads) // 2]))
        report['configs'][name] = {'runs': runs[name], 'stats': stats}
    print('load average before %s, after %s; %.0f s' % (before, after, report['wall_s']))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(report, f, indent=1)


if __name__ == '__main__':
    main()
