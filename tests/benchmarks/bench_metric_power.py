#!/usr/bin/env python
"""False alarms and detection power of the verdict for every metric, from real noise.

The verdict judges each metric on its own (docs/statistics.md, "Every
metric"): throughput, CPU cost per GB, transactions per second and p99
latency by default. How often does it cry wolf on each, and what change does
it catch? That depends on each metric's noise on this machine, which this
benchmark measures for real, then judges exactly as the verdict does
(perf_stats.compare, each metric in its direction with its minimum effect).

  collect   builds a throwaway lab of two network namespaces (prefix m13b<random>)
            joined by two unshaped veth links, MPTCP with both paths (the sink
            announces its second address), and runs N runs of a small suite,
            R repetitions each, interleaved as perf.yml does:
              tcp-up     iperf3, TCP over path 1
              mptcp-up   iperf3 under mptcpize, both paths
              mptcp-rr   sockperf ping-pong under mptcpize (request/response)
            Per repetition: throughput, CPU seconds per GB (the machine's busy
            time from /proc/stat over the measured window: both ends share one
            kernel, counted once; the lab's own processes apart, so other load
            on the machine is visible), iperf3's retransmits, the transaction
            rate and latency percentiles. Each run is a run record written by
            the collection's own code (perf_record.build_summary), so the
            analysis reads them as the history does. With --b-sysctl the runs
            of the schedule's B condition set a sysctl in both namespaces (for
            example net.mptcp.checksum_enabled=1): a real kernel change.
            With --pin G,S the generator's processes run on CPU G and the
            sink's on CPU S (taskset), so they do not move between CPUs.
            The lab is removed at the end, also on Ctrl-C or a failure.
  grid      the same rule on log-normal noise of a grid of sizes, per default minimum effect.
  analyze   per test and metric: the noise (CV within a run, spread of run
            medians), A/A false alarms (each A run judged against the A runs
            before it), the power against a change injected into real runs
            (each A run's values moved by e% the wrong way, judged against the
            runs before it) for a grid of e, the smallest e caught in >= 95% of
            the trials, and the same from the log-normal model with the measured
            noise (--sim-trials trials per cell); and the power on the real B
            runs, if any.

    .venv/bin/python tests/benchmarks/bench_metric_power.py collect --runs 14 --repetitions 5 --duration 5
    .venv/bin/python tests/benchmarks/bench_metric_power.py analyze /tmp/m13b.../results
    .venv/bin/python tests/benchmarks/bench_metric_power.py grid

Run as root, from the repository root. Needs iperf3, mptcpize, sockperf.
"""

import argparse
import json
import math
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, '.collections'))

# pylint: disable=wrong-import-position
from ansible_collections.mptcp.lab.plugins.module_utils.perf import perf_suite  # noqa: E402
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_baseline import MIN_BASELINE_RUNS  # noqa: E402
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_record import (  # noqa: E402
    build_summary, load_summary, metric_table, normalize, parse_time, write_record)
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_stats import (  # noqa: E402
    compare, median, wilson_interval)

TICK = float(os.sysconf('SC_CLK_TCK'))
ADDR = {1: ('10.213.1.1', '10.213.1.2'), 2: ('10.213.2.1', '10.213.2.2')}
PORTS = {'tcp': 5201, 'mptcp': 5202, 'rr': 11111}
EFFECTS = (1, 2, 3, 5, 7.5, 10, 15, 20, 30, 50)
JUDGED_HERE = ('throughput_mbps', 'cpu_s_per_gb', 'retransmits', 'rr_tps', 'latency_p50_us', 'latency_p90_us',
               'latency_p99_us')


def log(msg):
    sys.stdout.write('[%s] %s\n' % (time.strftime('%H:%M:%S'), msg))
    sys.stdout.flush()


def run(argv, **kwargs):
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kwargs)


# ---------------------------------------------------------------- the lab

class Lab:
    """Two namespaces, two veth links (one per path), MPTCP on both paths; servers in the sink."""

    def __init__(self, prefix, pin=None):
        self.prefix = prefix
        # --pin: the generator's and the sink's processes each on a CPU of their own
        self.pin = pin
        self.gen, self.sink = '%s-gen' % prefix, '%s-sink' % prefix
        self.servers = []
        self.made = []

    def ns(self, name, *argv):
        taskset = []
        if self.pin:
            taskset = ['taskset', '--cpu-list', self.pin[0 if name == self.gen else 1]]
        return ['ip', 'netns', 'exec', name] + taskset + list(argv)

    def up(self):
        for name in (self.gen, self.sink):
            run(['ip', 'netns', 'add', name])
            self.made.append(name)
            run(['ip', '-n', name, 'link', 'set', 'lo', 'up'])
        for path, (gen_addr, sink_addr) in ADDR.items():
            g, s = '%sg%d' % (self.prefix, path), '%ss%d' % (self.prefix, path)
            run(['ip', 'link', 'add', g, 'netns', self.gen, 'type', 'veth', 'peer', 'name', s, 'netns', self.sink])
            for name, dev, addr in ((self.gen, g, gen_addr), (self.sink, s, sink_addr)):
                run(['ip', '-n', name, 'addr', 'add', addr + '/24', 'dev', dev])
                run(['ip', '-n', name, 'link', 'set', dev, 'up'])
        for name in (self.gen, self.sink):
            run(['ip', '-n', name, 'mptcp', 'limits', 'set', 'subflow', '2', 'add_addr_accepted', '2'])
        run(['ip', '-n', self.sink, 'mptcp', 'endpoint', 'add', ADDR[2][1], 'dev', '%ss2' % self.prefix, 'signal'])
        # listening on every address of the sink: an MP_JOIN to its second address needs a listener there
        for argv in (['iperf3', '-s', '-p', str(PORTS['tcp'])],
                     ['mptcpize', 'run', 'iperf3', '-s', '-p', str(PORTS['mptcp'])],
                     ['mptcpize', 'run', 'sockperf', 'server', '--tcp', '-i', '0.0.0.0', '-p', str(PORTS['rr'])]):
            self.servers.append(subprocess.Popen(self.ns(self.sink, *argv), stdout=subprocess.DEVNULL,
                                                 stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            listening = run(self.ns(self.sink, 'ss', '-Hltn')).stdout
            if all(':%d ' % port in listening for port in PORTS.values()):
                return
            for proc in self.servers:
                if proc.poll() is not None:
                    raise RuntimeError('a server of the lab exited: %s' % proc.args)
            time.sleep(0.05)
        raise RuntimeError('the lab servers did not listen within 20 s')

    def sysctl(self, setting):
        key, value = setting.split('=', 1)
        for name in (self.gen, self.sink):
            run(self.ns(name, 'sysctl', '-qw', '%s=%s' % (key, value)))

    def mptcp_counters(self):
        text = run(self.ns(self.gen, 'cat', '/proc/net/netstat')).stdout.splitlines()
        for head, values in zip(text[::2], text[1::2]):
            if head.startswith('MPTcpExt:'):
                return dict(zip(head.split()[1:], (int(v) for v in values.split()[1:])))
        return {}

    def down(self):
        for proc in self.servers:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        for name in self.made:
            subprocess.run(['ip', 'netns', 'del', name], check=False)
        left = [line.split()[0] for line in run(['ip', 'netns', 'list']).stdout.splitlines()
                if line.startswith(self.prefix + '-')]
        if left:
            log('WARNING: namespaces left behind: %s' % left)


# ---------------------------------------------------------------- CPU

def machine_ticks():
    """(user, system, softirq, irq, busy) ticks of the whole machine (/proc/stat)."""
    with open('/proc/stat') as handle:
        fields = [int(v) for v in handle.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    del idle, iowait
    return (user + nice, system, softirq, irq, user + nice + system + irq + softirq + steal)


def process_ticks(pid):
    try:
        with open('/proc/%d/stat' % pid) as handle:
            fields = handle.read().rsplit(')', 1)[1].split()
        return int(fields[11]) + int(fields[12])          # utime + stime
    except (OSError, IndexError, ValueError):
        return None


class Sampler(threading.Thread):
    """/proc/stat and the lab processes' CPU every 100 ms, with monotonic time stamps."""

    def __init__(self, pids):
        super().__init__(daemon=True)
        self.pids = pids
        self.samples = []
        self.stop = threading.Event()
        self.last = dict((pid, 0) for pid in pids)

    def sample(self):
        lab = 0
        for pid in self.pids:
            ticks = process_ticks(pid)
            if ticks is not None:
                self.last[pid] = ticks
            lab += self.last[pid]
        self.samples.append((time.monotonic(), machine_ticks(), lab))

    def run(self):
        while not self.stop.is_set():
            self.sample()
            self.stop.wait(0.1)
        self.sample()

    def at(self, when):
        """The counters interpolated at monotonic time ``when``."""
        before = [s for s in self.samples if s[0] <= when]
        after = [s for s in self.samples if s[0] >= when]
        a = before[-1] if before else self.samples[0]
        b = after[0] if after else self.samples[-1]
        f = 0.0 if b[0] == a[0] else (when - a[0]) / (b[0] - a[0])
        machine = tuple(x + f * (y - x) for x, y in zip(a[1], b[1]))
        return machine, a[2] + f * (b[2] - a[2])


def cpu_cost(sampler, start, end, gb):
    m0, lab0 = sampler.at(start)
    m1, lab1 = sampler.at(end)
    user, system, softirq, irq, busy = ((y - x) / TICK for x, y in zip(m0, m1))
    lab = (lab1 - lab0) / TICK + softirq + irq
    host = {'user_s': round(user, 4), 'system_s': round(system, 4), 'softirq_s': round(softirq, 4),
            'irq_s': round(irq, 4), 'busy_s': round(busy, 4), 'lab_s': round(lab, 4),
            'other_s': round(max(0.0, busy - lab), 4)}
    return {'window_s': round(end - start, 3), 'gb_delivered': round(gb, 6), 'same_machine': True,
            'hosts': {'generator': host}}


# ---------------------------------------------------------------- measurements

def measure_bulk(lab, item, server_pid):
    port = PORTS[item['protocol']]
    argv = ['iperf3', '-c', ADDR[1][1], '-B', ADDR[1][0], '-p', str(port), '-t', str(item['duration_s']),
            '-O', str(item['omit_s']), '-J', '-C', 'cubic']
    if item['protocol'] == 'mptcp':
        argv = ['mptcpize', 'run'] + argv
    before = lab.mptcp_counters()
    proc = subprocess.Popen(lab.ns(lab.gen, *argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = Sampler([proc.pid, server_pid])
    sampler.start()
    out, err = proc.communicate(timeout=item['duration_s'] + item['omit_s'] + 60)
    end = time.monotonic()
    sampler.stop.set()
    sampler.join()
    after = lab.mptcp_counters()
    result = {'item': item, 'ok': False, 'error': None, 'throughput_mbps': None,
              'per_path_mbps': [None] * item['paths'], 'subflows': None, 'fallback': None,
              'duration_s': item['duration_s']}
    try:
        data = json.loads(out)
    except ValueError:
        result['error'] = 'iperf3: %s' % (err or out)[-300:]
        return result
    if data.get('error'):
        result['error'] = 'iperf3: %s' % data['error']
        return result
    received = data['end']['sum_received']
    gb = received['bytes'] / 1e9
    tput = received['bits_per_second'] / 1e6
    retrans = data['end']['sum_sent'].get('retransmits')
    cost = cpu_cost(sampler, end - item['duration_s'], end, gb)
    if item['protocol'] == 'mptcp':
        joined = after.get('MPJoinSynAckRx', 0) - before.get('MPJoinSynAckRx', 0)
        capable = after.get('MPCapableSYNACKRX', 0) - before.get('MPCapableSYNACKRX', 0)
        result.update(fallback=capable < 1, subflows=1 + joined if capable else 0)
        if capable < 1 or joined < 1:
            result['error'] = 'MPTCP not used on both paths (MP_CAPABLE %d, MP_JOIN %d)' % (capable, joined)
            return result
    result.update(ok=True, throughput_mbps=round(tput, 3), retransmits=retrans, cpu_cost=cost,
                  metrics={'throughput_mbps': round(tput, 3),
                           'cpu_s_per_gb': round(cost['hosts']['generator']['busy_s'] / gb, 5),
                           'retransmits': retrans})
    result['lab_cpu_s_per_gb'] = round(cost['hosts']['generator']['lab_s'] / gb, 5)
    return result


RR_RE = {
    'runtime': re.compile(r'\[Valid Duration\] RunTime=([0-9.]+) sec; SentMessages=(\d+); ReceivedMessages=(\d+)'),
    'percentile': re.compile(r'---> percentile ([0-9.]+) =\s*([0-9.]+)'),
}


def measure_rr(lab, item):
    argv = ['mptcpize', 'run', 'sockperf', 'ping-pong', '--tcp', '-i', ADDR[1][1], '-p', str(PORTS['rr']),
            '-t', str(item['duration_s'])]
    before = lab.mptcp_counters()
    proc = subprocess.run(lab.ns(lab.gen, *argv), capture_output=True, text=True, check=False,
                          timeout=item['duration_s'] + 60)
    after = lab.mptcp_counters()
    result = {'item': item, 'ok': False, 'error': None, 'throughput_mbps': None,
              'per_path_mbps': [None] * item['paths'], 'subflows': None, 'fallback': None,
              'duration_s': item['duration_s']}
    text = proc.stdout + proc.stderr
    match = RR_RE['runtime'].search(text)
    if proc.returncode or not match:
        result['error'] = 'sockperf (rc %d): %s' % (proc.returncode, text[-300:])
        return result
    if after.get('MPCapableSYNACKRX', 0) - before.get('MPCapableSYNACKRX', 0) < 1:
        result.update(fallback=True, error='sockperf did not use MPTCP')
        return result
    percentiles = dict((float(p), float(v)) for p, v in RR_RE['percentile'].findall(text))
    tps = int(match.group(3)) / float(match.group(1))
    result.update(ok=True, fallback=False, subflows=1, metrics={
        'throughput_mbps': None, 'rr_tps': round(tps, 2), 'latency_p50_us': percentiles.get(50.0),
        'latency_p90_us': percentiles.get(90.0), 'latency_p99_us': percentiles.get(99.0)})
    return result


SUITE = {'name': 'metric-noise', 'description': 'noise of every metric (bench_metric_power.py)',
         'defaults': {'omit_s': 1, 'congestion': 'cubic'},
         'tests': [{'name': 'tcp-up', 'protocol': 'tcp', 'paths': 1},
                   {'name': 'mptcp-up', 'protocol': 'mptcp', 'paths': 'all'},
                   {'name': 'mptcp-rr', 'protocol': 'mptcp', 'paths': 'all'}]}


def collect(args):
    if os.geteuid() != 0:
        sys.exit('run as root: the lab is made of network namespaces')
    prefix = 'm13b' + uuid.uuid4().hex[:4]
    out = args.out or tempfile.mkdtemp(prefix='%s-' % prefix)
    results = os.path.join(out, 'results')
    os.makedirs(results, exist_ok=True)
    suite = perf_suite.validate_suite(dict(SUITE, defaults=dict(SUITE['defaults'], duration_s=args.duration,
                                                                repetitions=args.repetitions)), 2)
    items = perf_suite.plan(suite)
    schedule = list(args.schedule.replace(',', '')) if args.schedule else ['A'] * args.runs
    pin = args.pin.split(',') if args.pin else None
    if pin and (len(pin) != 2 or not all(cpu.isdigit() for cpu in pin)):
        sys.exit('--pin: two CPU numbers, the generator\'s and the sink\'s, e.g. 0,1')
    lab = Lab(prefix, pin)

    def on_signal(signum, frame):
        raise KeyboardInterrupt('signal %d' % signum)
    signal.signal(signal.SIGTERM, on_signal)
    loads = {}
    try:
        lab.up()
        log('lab %s up; %d runs of %d measurements, results in %s%s' % (
            prefix, len(schedule), len(items), results, '; generator on CPU %s, sink on CPU %s' % tuple(pin) if pin else ''))
        condition = 'A'
        for index, cond in enumerate(schedule):
            if cond != condition and args.b_sysctl:
                lab.sysctl(args.b_sysctl if cond == 'B' else args.a_sysctl)
            condition = cond
            run_id = '%s-%03d-%s' % (time.strftime('%Y%m%dT%H%M%SZ', time.gmtime()), index, cond)
            started = time.time()
            load_before = os.getloadavg()[0]
            measured = []
            for item in items:
                if item['test'] == 'mptcp-rr':
                    measured.append(measure_rr(lab, item))
                else:
                    server = lab.servers[0 if item['protocol'] == 'tcp' else 1].pid
                    measured.append(measure_bulk(lab, item, server))
            finished = time.time()
            summary = build_summary(suite, items, measured, [{'rate_mbit': None}, {'rate_mbit': None}], run_id,
                                    started, finished, {'machine': {'kernel': os.uname().release}},
                                    tags={'condition': cond, 'bench': 'metric-power'},
                                    notes={'b_sysctl': args.b_sysctl if cond == 'B' else None, 'pin': args.pin,
                                           'load': [load_before, os.getloadavg()[0]],
                                           'lab_cpu_s_per_gb': [[r.get('lab_cpu_s_per_gb') for r in measured]]})
            os.makedirs(os.path.join(results, run_id))
            write_record(os.path.join(results, run_id, 'summary.json'), summary)
            loads[run_id] = [load_before, os.getloadavg()[0]]
            failed = [r['error'] for r in measured if not r['ok']]
            shown = ('throughput_mbps', 'cpu_s_per_gb', 'rr_tps', 'latency_p99_us')
            figures = ['%s %s' % (t['name'], ' '.join('%s=%s' % (k, v['median']) for k, v in t['metrics'].items()
                                                      if v['n'] and k in shown)) for t in summary['tests']]
            log('run %d/%d (%s) %.0f s, load %.1f: %s%s' % (
                index + 1, len(schedule), cond, finished - started, load_before, ', '.join(figures),
                '; FAILED: %s' % failed if failed else ''))
    except KeyboardInterrupt as exc:
        log('stopping: %s' % exc)
    finally:
        log('removing the lab %s' % prefix)
        lab.down()
    return results


# ---------------------------------------------------------------- analysis

def load_runs(results_dir):
    runs = []
    for name in sorted(os.listdir(results_dir)):
        path = os.path.join(results_dir, name, 'summary.json')
        if os.path.isfile(path):
            summary = load_summary(path)
            runs.append({'run_id': summary['run_id'], 'started': parse_time(summary['started']),
                         'condition': (summary.get('tags') or {}).get('condition', 'A'), 'summary': summary,
                         'record': normalize(summary)})
    runs.sort(key=lambda r: r['started'])
    return runs


def values_of(res, metric):
    if metric == 'throughput_mbps':
        return list(res['values'])
    return list(((res.get('metrics') or {}).get(metric) or {}).get('values') or [])


LAB_ONLY = 'lab_cpu_s_per_gb'


def lab_only(summary, test_name):
    """The lab's own CPU seconds per GB of each successful run of a test (runs[].cpu_cost:
    the lab's processes, softirq and irq), which other load on the machine does not inflate."""
    values = []
    for test in summary['tests']:
        if test['name'] != test_name:
            continue
        for run in test['runs']:
            cost = run.get('cpu_cost') or {}
            host = (cost.get('hosts') or {}).get('generator') or {}
            if run.get('ok') and host.get('lab_s') is not None and cost.get('gb_delivered'):
                values.append(host['lab_s'] / cost['gb_delivered'])
    return values


def series(runs, condition='A'):
    """{(test, metric): [values of each valid run of the condition, in order]}; beside the
    metrics, LAB_ONLY: the CPU cost without the other load on the machine."""
    out = {}
    for run in runs:
        if run['condition'] != condition:
            continue
        for res in run['record']['results']:
            if not res['valid']:
                continue
            for metric in JUDGED_HERE:
                values = values_of(res, metric)
                if values:
                    out.setdefault((res['identity']['name'], metric), []).append(values)
            values = lab_only(run['summary'], res['identity']['name'])
            if values:
                out.setdefault((res['identity']['name'], LAB_ONLY), []).append(values)
    return out


def spec_of(metric):
    """The METRICS line of a metric (LAB_ONLY is judged as cpu_s_per_gb)."""
    return metric_table()['cpu_s_per_gb' if metric == LAB_ONLY else metric]


def run_values(run, test, metric):
    """The values of a test's metric in one run (none when the test was invalid there)."""
    res = [x for x in run['record']['results'] if x['identity']['name'] == test and x['valid']]
    if not res:
        return []
    if metric == LAB_ONLY:
        return lab_only(run['summary'], test)
    return values_of(res[0], metric)


def judge(base_runs, current, metric, min_effect, alpha=0.05):
    pooled = [v for r in base_runs for v in r]
    return compare(pooled, current, alpha=alpha, min_effect_pct=min_effect,
                   baseline_runs=base_runs if len(base_runs) >= 2 else None,
                   better=spec_of(metric).better)['verdict']


def trials(run_values, metric, min_effect, baseline_runs, warmup, effect=0.0):
    """Flags of each run judged against the runs before it (its values moved by ``effect``
    percent the wrong way): A/A with effect 0 (any flag), power otherwise (a regression)."""
    sign = -1 if spec_of(metric).better == 'higher' else 1
    flags = []
    for i in range(max(warmup, MIN_BASELINE_RUNS), len(run_values)):
        base = run_values[max(0, i - baseline_runs):i]
        current = [v * (1 + sign * effect / 100.0) for v in run_values[i]]
        verdict = judge(base, current, metric, min_effect)
        flags.append(verdict in ('regression', 'improvement') if not effect else verdict == 'regression')
    return flags


def noise(run_values):
    meds = [median(r) for r in run_values]
    centre = sum(meds) / len(meds)
    cvs = []
    for r in run_values:
        if len(r) > 1 and sum(r):
            m = sum(r) / len(r)
            cvs.append(math.sqrt(sum((v - m) ** 2 for v in r) / (len(r) - 1)) / m)
    between = (math.sqrt(sum((m - centre) ** 2 for m in meds) / (len(meds) - 1)) / centre
               if len(meds) > 1 and centre else None)
    return {'runs': len(run_values), 'median': median(meds), 'cv_within': median(cvs) if cvs else None,
            'sd_between': between}


def simulate(within, between, metric, min_effect, repetitions=5, baseline_runs=10, n=600, seed=1, effects=None):
    """{0: A/A alarm rate, effect: power} of the rule on noise of the measured size.

    Log-normal: each run's level and each repetition vary by a factor exp(N(0, s)), s
    chosen so that the coefficient of variation is ``between`` and ``within``: normal
    noise for small spreads, and positive, skewed figures for large ones (as a latency
    tail or a CPU cost under other load are).
    """
    better = spec_of(metric).better
    sign = -1 if better == 'higher' else 1
    within = math.sqrt(math.log(1 + within ** 2))
    between = math.sqrt(math.log(1 + between ** 2))
    out = {}
    for effect in (0.0,) + tuple(effects or EFFECTS):
        rng = random.Random(seed)
        flags = 0
        for dummy in range(n):
            base = []
            for dummy2 in range(baseline_runs):
                level = 100 * math.exp(rng.gauss(0, between))
                base.append([level * math.exp(rng.gauss(0, within)) for dummy3 in range(repetitions)])
            level = 100 * (1 + sign * effect / 100.0) * math.exp(rng.gauss(0, between))
            current = [level * math.exp(rng.gauss(0, within)) for dummy3 in range(repetitions)]
            verdict = compare([v for r in base for v in r], current, min_effect_pct=min_effect,
                              baseline_runs=base, better=better)['verdict']
            flags += (verdict != 'pass') if not effect else (verdict == 'regression')
        out[effect] = flags / float(n)
    return out


def rate(flags):
    k, n = sum(flags), len(flags)
    if not n:
        return 'no trial'
    lo, hi = wilson_interval(k, n)
    return '%d/%d = %.0f%% (%.0f-%.0f%%)' % (k, n, 100.0 * k / n, 100 * lo, 100 * hi)


def analyze(results_dir, baseline_runs=10, warmup=3, sim_trials=600, out_json=None):
    runs = load_runs(results_dir)
    a_series = series(runs, 'A')
    loads = [r['summary'].get('notes', {}).get('load') for r in runs if r['summary'].get('notes', {}).get('load')]
    counts = dict((c, sum(r['condition'] == c for r in runs)) for c in 'AB')
    print('=== %s: %d runs (%d A, %d B)' % (results_dir, len(runs), counts['A'], counts['B']))
    if loads:
        print('load average (1 min) at the start of the runs: min %.1f, median %.1f, max %.1f (2 cores)'
              % (min(l[0] for l in loads), median([l[0] for l in loads]), max(l[0] for l in loads)))
    summary = {}
    print('\n%-9s %-16s %5s %9s %9s %10s %-24s %-10s %-10s %s' % (
        'test', 'metric', 'runs', 'CV within', 'sd runs', 'min.effect', 'A/A false alarms (real)',
        'A/A (sim)', '>=95% real', '>=95% sim (effect: power)'))
    for (test, metric), values in sorted(a_series.items()):
        if len(values) < 2:
            continue
        spec = spec_of(metric)
        effect = spec.min_effect_pct
        n = noise(values)
        aa = trials(values, metric, effect, baseline_runs, warmup)
        power = dict((e, trials(values, metric, effect, baseline_runs, warmup, e)) for e in EFFECTS)
        real95 = next((e for e in EFFECTS if power[e] and sum(power[e]) >= 0.95 * len(power[e])), None)
        sim = simulate(n['cv_within'] or 0.0, n['sd_between'] or 0.0, metric, effect, n=sim_trials)
        sim95 = next((e for e in EFFECTS if sim[e] >= 0.95), None)
        print('%-9s %-16s %5d %8.2f%% %8.2f%% %9.1f%% %-24s %-10s %-10s %s' % (
            test, metric, n['runs'], 100 * (n['cv_within'] or 0), 100 * (n['sd_between'] or 0), effect, rate(aa),
            '%.1f%%' % (100 * sim[0.0]), '%s%%' % real95 if real95 else '> %s%%' % EFFECTS[-1],
            ('%s%%' % sim95 if sim95 else '> %s%%' % EFFECTS[-1]) + ' (' + ', '.join(
                '%g: %.0f%%' % (e, 100 * sim[e]) for e in EFFECTS if e <= (sim95 or EFFECTS[-1])) + ')'))
        summary['%s %s' % (test, metric)] = {
            'noise': n, 'min_effect_pct': effect, 'better': spec.better, 'judged': spec.judged,
            'false_alarms': [sum(aa), len(aa)], 'power': dict((str(e), [sum(f), len(f)]) for e, f in power.items()),
            'smallest_effect_95_real': real95, 'simulated': dict((str(e), p) for e, p in sim.items()),
            'smallest_effect_95_sim': sim95}
    b_runs = [r for r in runs if r['condition'] == 'B']
    if b_runs:
        print('\nreal B runs (%s) against the A runs before each:' % (
            b_runs[0]['summary'].get('notes', {}).get('b_sysctl')))
        ordered = []
        for run in runs:
            ordered.append(run)
        b_series = series(runs, 'B')
        for (test, metric), dummy in sorted(a_series.items()):
            if (test, metric) not in b_series:
                continue
            flags, changes = [], []
            for i, run in enumerate(ordered):
                if run['condition'] != 'B':
                    continue
                before = [r for r in ordered[:i] if r['condition'] == 'A'][-baseline_runs:]
                base = [v for v in (run_values(r, test, metric) for r in before) if v]
                current = run_values(run, test, metric)
                if len(base) < MIN_BASELINE_RUNS or not current:
                    continue
                spec = spec_of(metric)
                result = compare([v for r in base for v in r], current, min_effect_pct=spec.min_effect_pct,
                                 baseline_runs=base, better=spec.better)
                flags.append(result['verdict'] == 'regression')
                changes.append(result['change_pct'])
            if flags:
                print('  %-9s %-16s change median %+.2f%%, flagged as regression %s' % (
                    test, metric, median(changes), rate(flags)))
                summary.setdefault('%s %s' % (test, metric), {})['b_runs'] = {
                    'changes': changes, 'regressions': [sum(flags), len(flags)]}
    if out_json:
        with open(out_json, 'w') as handle:
            json.dump(summary, handle, indent=1)
        print('\ndetails: %s' % out_json)
    return summary


GRID = ((0.0025, 0.0), (0.005, 0.0025), (0.01, 0.005), (0.02, 0.01), (0.03, 0.015), (0.05, 0.025),
        (0.1, 0.05), (0.2, 0.1))
GRID_EFFECTS = (1, 1.5, 2, 2.5, 3, 4, 5, 6, 7.5, 10, 12.5, 15, 20, 30, 50)


def grid(trials=400, min_effects=(1.5, 2, 3, 5, 10), metric='cpu_s_per_gb'):
    """The smallest effect caught in >= 95% of the trials, and the A/A alarm rate, for a grid
    of noise levels and minimum effects (log-normal model, 10 baseline runs x 5 repetitions,
    5 current; the rule does not depend on the metric but for its direction)."""
    print('log-normal model, %d trials per cell: baseline 10 runs x 5 repetitions, current 5; smallest effect '
          'caught in >= 95%% of the trials (of %s) / A/A alarms' % (trials, ', '.join('%g%%' % e for e in GRID_EFFECTS)))
    print('%-10s %-8s %s' % ('CV within', 'sd runs', ' '.join('%-15s' % ('min %g%%' % e) for e in min_effects)))
    for within, between in GRID:
        cells = []
        for effect in min_effects:
            sim = simulate(within, between, metric, effect, n=trials, effects=GRID_EFFECTS)
            smallest = next((e for e in GRID_EFFECTS if sim[e] >= 0.95), None)
            text = '%g%%' % smallest if smallest else '>%g%%' % GRID_EFFECTS[-1]
            cells.append('%-15s' % ('%s / %.1f%%' % (text, 100 * sim[0.0])))
        print('%-10s %-8s %s' % ('%.2f%%' % (100 * within), '%.2f%%' % (100 * between), ' '.join(cells)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    sub = parser.add_subparsers(dest='command', required=True)
    c = sub.add_parser('collect', help='measure real runs in a throwaway lab')
    c.add_argument('--runs', type=int, default=14, help='A runs (without --schedule)')
    c.add_argument('--schedule', help="conditions in order, e.g. 'AAAAAAAA,BABABA' (B: --b-sysctl)")
    c.add_argument('--b-sysctl', help='the B condition, e.g. net.mptcp.checksum_enabled=1')
    c.add_argument('--a-sysctl', help='back to A, e.g. net.mptcp.checksum_enabled=0')
    c.add_argument('--repetitions', type=int, default=5)
    c.add_argument('--duration', type=int, default=5, help='seconds of traffic per repetition')
    c.add_argument('--pin', help="the generator's and the sink's CPU, e.g. 0,1 (default: not pinned)")
    c.add_argument('--out', help='working directory (default a new one under /tmp)')
    a = sub.add_parser('analyze', help='judge the runs of a collection')
    a.add_argument('results_dir')
    a.add_argument('--baseline-runs', type=int, default=10)
    a.add_argument('--warmup', type=int, default=3)
    a.add_argument('--sim-trials', type=int, default=600)
    g = sub.add_parser('grid', help='the rule on log-normal noise of a grid of sizes (no lab)')
    g.add_argument('--trials', type=int, default=400)
    g.add_argument('--min-effects', default='1.5,2,3,5,10', help='minimum effects (percent), comma-separated')
    args = parser.parse_args()
    if args.command == 'grid':
        grid(args.trials, [float(e) for e in args.min_effects.split(',')])
    elif args.command == 'collect':
        if args.repetitions > 5:
            parser.error('--repetitions: at most 5')
        if args.b_sysctl and not args.a_sysctl:
            parser.error('--b-sysctl needs --a-sysctl (how to go back to A)')
        results = collect(args)
        analyze(results, out_json=os.path.join(os.path.dirname(results), 'bench.json'))
    else:
        analyze(args.results_dir, baseline_runs=args.baseline_runs, warmup=args.warmup,
                sim_trials=args.sim_trials,
                out_json=os.path.join(os.path.dirname(os.path.abspath(args.results_dir)), 'bench.json'))


if __name__ == '__main__':
    main()
