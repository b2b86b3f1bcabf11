"""Synthetic run records (summary.json) that follow the DESIGN contract.

Used by the unit and integration tests of the history, verdict and report
steps, so they do not need a real perf run. Values are drawn from a seeded
generator: the same arguments give the same record.
"""

import json
import os
import random
import statistics

LAB_PATHS = [{'rate_mbit': 50, 'queue_limit': 100}, {'rate_mbit': 50, 'queue_limit': 100}]

DEFAULT_TESTS = [
    {'name': 'tcp-1path-up', 'protocol': 'tcp', 'paths': 1, 'direction': 'upload', 'mbps': 47.8},
    {'name': 'mptcp-2paths-up', 'protocol': 'mptcp', 'paths': 2, 'direction': 'upload', 'mbps': 93.9},
    {'name': 'mptcp-2paths-down', 'protocol': 'mptcp', 'paths': 2, 'direction': 'download', 'mbps': 93.5},
]


def summarize(values):
    n = len(values)
    if not n:
        return {'values': [], 'median': None, 'mean': None, 'min': None, 'max': None, 'cv': None, 'n': 0}
    mean = statistics.mean(values)
    cv = statistics.stdev(values) / mean if n > 1 and mean else None
    return {'values': values, 'median': statistics.median(values), 'mean': mean, 'min': min(values),
            'max': max(values), 'cv': cv, 'n': n}


def make_test(spec, rng, repetitions=5, cv=0.005, scale=1.0, lab_paths=None):
    """One test of a run record. spec keys: name, protocol, paths, direction, mbps,
    and optionally fail (indexes of failed repetitions), fallback (indexes)."""
    paths = spec.get('paths', 1)
    lab_paths = lab_paths or LAB_PATHS
    runs = []
    for i in range(repetitions):
        if i in spec.get('fail', ()):
            runs.append({'throughput_mbps': None, 'per_path_mbps': [], 'subflows': 0,
                         'fallback': False, 'ok': False, 'error': 'iperf3: connect timed out'})
            continue
        value = round(spec['mbps'] * scale * rng.gauss(1.0, cv), 3)
        rates = [p['rate_mbit'] for p in lab_paths[:paths]]
        per_path = [round(value * r / float(sum(rates)), 3) for r in rates]
        runs.append({'throughput_mbps': value, 'per_path_mbps': per_path,
                     'subflows': paths if spec['protocol'] == 'mptcp' else 1,
                     'fallback': i in spec.get('fallback', ()), 'ok': True, 'error': None})
    values = [r['throughput_mbps'] for r in runs if r['ok']]
    test = {'name': spec['name'], 'protocol': spec['protocol'], 'paths': paths,
            'direction': spec.get('direction', 'upload'), 'streams': spec.get('streams', 1),
            'expected_mbps': round(sum(p['rate_mbit'] for p in lab_paths[:paths]) * 0.956, 1),
            'runs': runs, 'throughput_mbps': summarize(values)}
    if 'verdict' in spec:
        test['verdict'] = spec['verdict']
    return test


def make_summary(run_id, started, tests=None, seed=0, repetitions=5, cv=0.005, scale=None,
                 kernel='6.18.0-mlab', lab_paths=None, with_lab_paths=True):
    """A run record. ``scale``: {test name: factor} applied to the throughput."""
    rng = random.Random('%s-%s' % (run_id, seed))
    lab_paths = lab_paths or LAB_PATHS
    scale = scale or {}
    specs = tests or DEFAULT_TESTS
    built = [make_test(s, rng, repetitions, cv, scale.get(s['name'], 1.0), lab_paths) for s in specs]
    metadata = {}
    for host in ('mlab-gen1', 'mlab-sink1'):
        metadata[host] = {
            'kernel': kernel,
            'mptcp_settings': {'enabled': 1, 'path_manager': 'kernel', 'scheduler': 'default',
                               'checksum_enabled': 0},
            'limits': {'subflows': 2, 'add_addr_accepted': 1},
            'endpoints': [{'address': '10.%d.1.2' % i, 'id': i, 'flags': ['signal'] if 'sink' in host else []}
                          for i in (1, 2)],
            'tools': {'iperf3': '3.12', 'mptcpize': '0.12'},
            'offloads': {'veth0': {'tso': 'on', 'gso': 'on', 'gro': 'on'}},
        }
    summary = {
        'run_id': run_id, 'suite': 'default', 'started': started,
        'finished': started, 'wall_s': 60.0, 'traffic_s': 5.0 * repetitions * len(built),
        'metadata': metadata, 'tests': built, 'regressions': [],
    }
    if with_lab_paths:
        summary['lab_paths'] = lab_paths
    return summary


def write_run(results_dir, summary, latest=True):
    """Write <results_dir>/<run_id>/summary.json (and the latest symlink)."""
    run_dir = os.path.join(results_dir, summary['run_id'])
    os.makedirs(run_dir, exist_ok=True)
    path = os.path.join(run_dir, 'summary.json')
    with open(path, 'w') as handle:
        json.dump(summary, handle, indent=2)
    if latest:
        link = os.path.join(results_dir, 'latest')
        tmp = link + '.tmp'
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(summary['run_id'], tmp)
        os.replace(tmp, link)
    return path


def run_id_for(index):
    return '20261125T%02d%02d00Z' % (8 + index // 60, index % 60)


def started_for(index):
    return '2026-11-25T%02d:%02d:00+00:00' % (8 + index // 60, index % 60)


def write_history(results_dir, count, scale_last=None, seed=0, **kwargs):
    """``count`` runs one minute apart; the last one scaled by ``scale_last``."""
    paths = []
    for i in range(count):
        scale = scale_last if (scale_last and i == count - 1) else None
        summary = make_summary(run_id_for(i), started_for(i), seed=seed, scale=scale, **kwargs)
        paths.append(write_run(results_dir, summary))
    return paths


if __name__ == '__main__':  # pragma: no cover - manual use
    import sys
    target = sys.argv[1] if len(sys.argv) > 1 else 'results-fixture'
    write_history(target, int(sys.argv[2]) if len(sys.argv) > 2 else 8,
                  scale_last={'mptcp-2paths-up': 0.97})
    print('wrote synthetic runs to %s' % target)
