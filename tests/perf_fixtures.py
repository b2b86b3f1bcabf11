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

# Tests with the wave-2 metrics (runs[].metrics, cpu_cost): unshaped bulk tests and a
# request/response test (throughput null by design). 'metrics' holds each metric's level,
# 'noise' its CV within a run (default 1%).
METRIC_TESTS = [
    {'name': 'tcp-unshaped-up', 'protocol': 'tcp', 'paths': 1, 'mbps': 9400.0,
     'metrics': {'cpu_s_per_gb': 0.42, 'retransmits': 3}},
    {'name': 'mptcp-unshaped-up', 'protocol': 'mptcp', 'paths': 2, 'mbps': 7600.0,
     'metrics': {'cpu_s_per_gb': 0.61, 'retransmits': 12}},
    {'name': 'mptcp-rr', 'protocol': 'mptcp', 'paths': 2, 'kind': 'latency', 'mbps': None,
     'metrics': {'rr_tps': 11800.0, 'latency_p50_us': 78.0, 'latency_p90_us': 96.0, 'latency_p99_us': 150.0},
     'noise': {'latency_p99_us': 0.03}},
]
LOWER_IS_BETTER = ('cpu_s_per_gb', 'retransmits', 'latency_p50_us', 'latency_p90_us', 'latency_p99_us')

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


def _metric_runs(spec, rng, repetitions, cv, scale, lab_paths, index):
    """Runs with the wave-2 fields: metrics, cpu_cost, rep, k and raw (see METRIC_TESTS)."""
    paths = spec.get('paths', 1)
    rates = [p.get('rate_mbit') or 1 for p in lab_paths[:paths]]
    scale = scale if isinstance(scale, dict) else {'throughput_mbps': scale}
    noise = spec.get('noise') or {}
    runs = []
    for i in range(repetitions):
        k = index * repetitions + i + 1
        base = {'rep': i + 1, 'k': k, 'raw': '%03d-%s-rep%d' % (k, spec['name'], i + 1)}
        if i in spec.get('fail', ()):
            runs.append(dict(base, throughput_mbps=None, per_path_mbps=[], subflows=0, fallback=False, ok=False,
                             error='iperf3: connect timed out', metrics={'throughput_mbps': None}))
            continue
        metrics = {}
        tput = None
        if spec.get('mbps') is not None:
            tput = round(spec['mbps'] * scale.get('throughput_mbps', 1.0) * rng.gauss(1.0, cv), 3)
        metrics['throughput_mbps'] = tput
        for name, level in sorted(spec.get('metrics', {}).items()):
            value = level * scale.get(name, 1.0) * rng.gauss(1.0, noise.get(name, 0.01))
            metrics[name] = int(round(value)) if name == 'retransmits' else round(value, 4)
        run = dict(base, throughput_mbps=tput,
                   per_path_mbps=[round(tput * r / float(sum(rates)), 3) for r in rates] if tput else [],
                   subflows=paths if spec['protocol'] == 'mptcp' else 1,
                   fallback=i in spec.get('fallback', ()), ok=True, error=None, metrics=metrics,
                   duration_s=10.0)
        if 'retransmits' in metrics:
            run['retransmits'] = metrics['retransmits']
        if 'cpu_s_per_gb' in metrics and tput:
            gb = tput * 10.0 / 8000.0
            busy = metrics['cpu_s_per_gb'] * gb
            run['cpu_cost'] = {'window_s': 10.0, 'gb_delivered': round(gb, 6), 'same_machine': True, 'hosts': {
                'generator': {'user_s': round(0.1 * busy, 6), 'system_s': round(0.5 * busy, 6),
                              'softirq_s': round(0.35 * busy, 6), 'irq_s': round(0.05 * busy, 6),
                              'busy_s': round(busy, 6), 'lab_s': round(0.9 * busy, 6), 'other_s': round(0.1 * busy, 6)},
                'sink': {'user_s': round(0.1 * busy, 6), 'system_s': round(0.5 * busy, 6),
                         'softirq_s': round(0.35 * busy, 6), 'irq_s': round(0.05 * busy, 6),
                         'busy_s': round(busy, 6), 'lab_s': round(0.9 * busy, 6), 'other_s': round(0.1 * busy, 6)}}}
        runs.append(run)
    return runs


def make_test(spec, rng, repetitions=5, cv=0.005, scale=1.0, lab_paths=None, index=0):
    """One test of a run record. spec keys: name, protocol, paths, direction, mbps,
    and optionally fail (indexes of failed repetitions), fallback (indexes), metrics
    and noise (METRIC_TESTS: then runs carry metrics and cpu_cost, and ``scale`` may
    be {metric: factor}), kind."""
    paths = spec.get('paths', 1)
    lab_paths = lab_paths or LAB_PATHS
    if 'metrics' in spec:
        runs = _metric_runs(spec, rng, repetitions, cv, scale, lab_paths, index)
    else:
        runs = []
    for i in range(repetitions if 'metrics' not in spec else 0):
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
    values = [r['throughput_mbps'] for r in runs if r['ok'] and r['throughput_mbps'] is not None]
    test = {'name': spec['name'], 'protocol': spec['protocol'], 'paths': paths,
            'direction': spec.get('direction', 'upload'), 'streams': spec.get('streams', 1),
            'expected_mbps': round(sum(p['rate_mbit'] for p in lab_paths[:paths]) * 0.956, 1),
            'runs': runs, 'throughput_mbps': summarize(values)}
    if 'metrics' in spec:
        test['expected_mbps'] = None
    if spec.get('kind'):
        test['kind'] = spec['kind']
    if 'verdict' in spec:
        test['verdict'] = spec['verdict']
    return test


def make_summary(run_id, started, tests=None, seed=0, repetitions=5, cv=0.005, scale=None,
                 kernel='6.18.0-mlab', lab_paths=None, with_lab_paths=True):
    """A run record. ``scale``: {test name: factor} applied to the throughput, or
    {test name: {metric: factor}} for the tests with metrics (METRIC_TESTS)."""
    rng = random.Random('%s-%s' % (run_id, seed))
    lab_paths = lab_paths or LAB_PATHS
    scale = scale or {}
    specs = tests or DEFAULT_TESTS
    built = [make_test(s, rng, repetitions, cv, scale.get(s['name'], 1.0), lab_paths, index)
             for index, s in enumerate(specs)]
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


# A test of kind upstream (a suite in the format of multipath-tcp/mptcp-upstream-virtme-docker),
# as the upstream runner writes it (docs/run-record.md, "Tests of kind upstream"): two paths
# through bridges, one metric per regression step, each the mean bytes/s a dstat column saw.
UPSTREAM_STEPS = (
    ('Client recv primary link', 'upstream.client-recv-primary-link', ['client', 'net/eth0:recv', 'mean'],
     9953112.5),
    ('Client recv second link', 'upstream.client-recv-second-link', ['client', 'net/eth1:recv', 'mean'],
     9949000.0),
)
UPSTREAM_SHA = 'a3' * 32


def make_upstream_test(run_id='r', seed=0, name='Test 1', repetitions=1, scale=None, noise=0.002,
                       alpha=0.05, history_max_n=10, history_since=0, steps_sha256=UPSTREAM_SHA,
                       validation_ok=True, failed_reps=(), regression_steps=None, index=1):
    """One test of kind upstream, written literally in the record's shape (not with the
    collection's builder, so that the builder can be checked against it). ``scale``:
    {metric: factor} of its levels; ``failed_reps``: repetitions whose steps failed;
    ``regression_steps``: the suite's steps (default UPSTREAM_STEPS), in its order."""
    rng = random.Random('%s-%s-%s' % (run_id, seed, name))
    steps = regression_steps or UPSTREAM_STEPS
    scale = scale or {}
    stem = 'upstream/%03d-%s' % (index, name.replace(' ', '-'))
    runs = []
    for rep in range(1, repetitions + 1):
        ok = rep not in failed_reps
        metrics = dict((metric, round(level * scale.get(metric, 1.0) * rng.gauss(1.0, noise), 1) if ok else None)
                       for dummy, metric, dummy2, level in steps)
        runs.append({'rep': rep, 'k': index * 100 + rep, 'throughput_mbps': None,
                     'per_path_mbps': [round(v / 1e6, 2) if v else None for v in metrics.values()],
                     'subflows': None, 'fallback': None, 'ok': ok,
                     'error': None if ok else 'step iperf3 client: rc 1',
                     'duration_s': 8.0, 'raw': stem if repetitions == 1 else '%s-rep%d' % (stem, rep),
                     'metrics': metrics})
    valid_runs = [r for r in runs if r['ok']]
    test_metrics = {}
    for dummy, metric, dummy2, dummy3 in steps:
        stats = summarize([r['metrics'][metric] for r in valid_runs])
        stats.update(unit='value', better='higher')
        test_metrics[metric] = stats
    per_path = [statistics.median([r['per_path_mbps'][i] for r in valid_runs]) if valid_runs else None
                for i in range(2)]
    validation = [{'name': 'iperf', 'rc': 0 if validation_ok else 1, 'ok': validation_ok}]
    reasons = []
    if failed_reps:
        reasons.append('%d of %d repetitions failed: step iperf3 client: rc 1' % (len(failed_reps), repetitions))
    if not validation_ok:
        reasons.append('validation failed: iperf (rc 1)')
    regression = {'alpha': alpha, 'history_max_n': history_max_n, 'history_since': history_since,
                  'steps': [{'name': step, 'metric': metric, 'file': 'stats/dstat.json', 'json_field': field,
                             'value': runs[-1]['metrics'][metric]} for step, metric, field, dummy in steps]}
    upstream = {'format': 'mptcp-upstream-virtme-docker', 'steps_sha256': steps_sha256,
                'bridges': [{'name': 'br0', 'rate_mbit': 10, 'delay_ms': 5, 'loss_pc': 0},
                            {'name': 'br1', 'rate_mbit': 10, 'delay_ms': 5, 'loss_pc': 0}],
                'results_dir': stem,
                'steps': [{'name': 'iperf3 server', 'host': 'server', 'rc': 0, 'timed_out': False,
                           'ignored': False, 'duration_s': 0.1, 'ok': True},
                          {'name': 'iperf3 client', 'host': 'client', 'rc': 0 if not failed_reps else 1,
                           'timed_out': False, 'ignored': False, 'duration_s': 10.4, 'ok': not failed_reps}],
                'validation': validation,
                'regression': regression,
                'not_honoured': [{'field': 'global.cpus',
                                  'reason': "the netns lab's client and server are namespaces of this machine"}]}
    for key, value in (('alpha', alpha), ('history_max_n', history_max_n), ('history_since', history_since)):
        if value is None:
            del regression[key]
    return {
        'name': name, 'kind': 'upstream',
        'protocol': None, 'direction': None, 'streams': None, 'congestion': None,
        'paths': 2, 'path_ids': [1, 2],
        'duration_s': round(14.2 + rng.random(), 1), 'omit_s': 0, 'repetitions': repetitions,
        'shaping': [{'rate_mbit': 10, 'delay_ms': 5, 'loss_pct': 0, 'queue_limit': None},
                    {'rate_mbit': 10, 'delay_ms': 5, 'loss_pct': 0, 'queue_limit': None}],
        'sysctls': None, 'offloads': None, 'backup_paths': None, 'commands': None,
        'expected_mbps': None, 'utilisation': None,
        'runs': runs,
        'throughput_mbps': summarize([]),
        'metrics': test_metrics,
        'per_path_mbps_median': per_path,
        'cpu_busy_pct_median': {'generator': None, 'sink': None},
        'valid': not reasons, 'invalid_reason': '; '.join(reasons) or None,
        'verdict': 'invalid' if reasons else 'ok', 'verdict_reason': '; '.join(reasons) or None,
        'upstream': upstream,
    }


def make_upstream_summary(run_id, started, seed=0, with_normal=True, **upstream):
    """A run record of schema version 1 with one normal test (tcp-1path-up) and one test of
    kind upstream (make_upstream_test's keyword arguments)."""
    from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_record import migrate
    summary = migrate(make_summary(run_id, started, tests=DEFAULT_TESTS[:1], seed=seed))
    if not with_normal:
        summary['tests'] = []
    for test in summary['tests']:
        test['path_ids'] = [1]
    summary['tests'].append(make_upstream_test(run_id, seed, **upstream))
    summary['suite'] = 'upstream-mix'
    summary['traffic_s'] = 5.0 * 5 + sum(r['duration_s'] for r in summary['tests'][-1]['runs'])
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


def timeseries(run, seconds=10, paths=2, seed=0):
    """A raw timeseries document (COMMON contract) of one MPTCP run: per path Mbit/s, per
    subflow cwnd, RTT and retransmits, one point a second."""
    rng = random.Random('%s-%s' % (run.get('raw'), seed))
    total = run.get('throughput_mbps') or 100.0
    t = [float(i + 1) for i in range(seconds)]
    out = {'interval_s': 1.0, 't': t, 'paths': [], 'subflows': []}
    for p in range(paths):
        share = total / paths
        out['paths'].append({'path': p + 1, 'dev': 'veth-p%d' % (p + 1),
                             'mbps': [round(share * rng.gauss(1.0, 0.03), 2) for dummy in t]})
        out['subflows'].append({'stream': 40000 + p, 'path': p + 1, 'local': '10.%d.1.1:%d' % (p + 1, 40000 + p),
                                'remote': '10.%d.2.1:5201' % (p + 1),
                                'cwnd': [int(20 + 10 * p + rng.randint(0, 40)) for dummy in t],
                                'rtt_ms': [round(0.2 + 0.1 * p + rng.random() * 0.5, 3) for dummy in t],
                                'retrans': [rng.randint(0, 2) for dummy in t]})
    return out


def write_timeseries(results_dir, summary):
    """raw/<run stem>.timeseries.json of every successful MPTCP run of a record (runs with ``raw``)."""
    written = []
    raw_dir = os.path.join(results_dir, summary['run_id'], 'raw')
    for test in summary['tests']:
        if test['protocol'] != 'mptcp':
            continue
        for run in test['runs']:
            if run.get('ok') and run.get('raw'):
                os.makedirs(raw_dir, exist_ok=True)
                path = os.path.join(raw_dir, run['raw'] + '.timeseries.json')
                with open(path, 'w') as handle:
                    json.dump(timeseries(run, paths=test['paths']), handle)
                written.append(path)
    return written


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
