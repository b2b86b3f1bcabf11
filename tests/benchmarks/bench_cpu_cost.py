#!/usr/bin/env python
"""CPU cost per GB and unshaped throughput of MPTCP: does a kernel-path change show?

What it does (as root, from the repository root):

  1. builds a throwaway pair of network namespaces (<prefix><random>-g and
     -s, default prefix m13a) joined by two unshaped veth links, one subnet
     each, the sink announcing its second address (a ``signal`` endpoint), so
     MPTCP runs one subflow per link;
  2. starts on the sink an MPTCP iperf3 server (``mptcpize run``) and the
     traffic sink's stats responder (roles/traffic_sink/files), which counts
     the server's CPU as the lab's;
  3. runs mptcp.lab.perf_measure for real in the generator namespace (the
     way Ansible runs it: python -m with JSON arguments), an MPTCP 2-path
     upload, N repetitions of each condition, interleaved (A B A B ...) so a
     drift of the machine's load hits both alike:
        A  net.mptcp.checksum_enabled=0 (the default)
        B  net.mptcp.checksum_enabled=1 (DSS checksums: more work per byte)
        C  (with --gso) checksums off, GSO/GRO/TSO off on the lab's links
  4. prints every run's throughput, cpu_s_per_gb (the contract metric: busy
     CPU of the machine per GB received), lab_s_per_gb (the part the lab
     explains: busy minus other load), other_s (load that is not the lab's)
     and the sampler's own CPU; then per condition the median, mean and CV,
     and each condition against A: change of medians in percent and the
     two-sided Mann-Whitney p-value (mptcp.lab's perf_stats);
  5. tears everything down, whatever happens (also on Ctrl-C or SIGTERM).

The machine is shared: other work on it shows in other_s and inflates
cpu_s_per_gb (busy time of the whole machine); lab_s_per_gb and the
throughput are what the lab itself did.

    .venv/bin/python tests/benchmarks/bench_cpu_cost.py                   # ~3 min
    .venv/bin/python tests/benchmarks/bench_cpu_cost.py --reps 5 --duration 10 --gso --out /tmp/m13a-bench.json
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(ROOT, '.collections')
STATS = os.path.join(ROOT, 'roles', 'traffic_sink', 'files', 'mptcp_lab_stats.py')
sys.path.insert(0, COLLECTIONS)

# pylint: disable=wrong-import-position
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_stats import mann_whitney, summarize  # noqa: E402

PORT, STATS_PORT = 5201, 5199
METRICS = (('throughput_mbps', 'Mbit/s'), ('cpu_s_per_gb', 's/GB'), ('lab_s_per_gb', 's/GB'),
           ('other_s', 's'), ('sampler_cpu_s', 's'), ('retransmits', 'segs'))


class Lab(object):
    """Two namespaces, two unshaped veth links, an MPTCP iperf3 server and the stats responder."""

    def __init__(self, prefix, nice=0):
        tag = '%s%s' % (prefix, uuid.uuid4().hex[:6])
        self.nice = ['nice', '-n', str(nice)] if nice else []
        self.gen, self.sink = tag + '-g', tag + '-s'
        self.state_dir = '/tmp/%s-state' % tag
        self.procs = []
        self.links = []

    def ns(self, name, *argv, check=True):
        return subprocess.run(['ip', 'netns', 'exec', name] + list(argv), check=check,
                              capture_output=True, text=True)

    def up(self):
        for name in (self.gen, self.sink):
            subprocess.run(['ip', 'netns', 'add', name], check=True)
            self.ns(name, 'ip', 'link', 'set', 'lo', 'up')
        for i in (1, 2):
            g, s = 'g%d' % i, 's%d' % i
            subprocess.run(['ip', 'link', 'add', g, 'netns', self.gen, 'type', 'veth', 'peer', 'name', s,
                            'netns', self.sink], check=True)
            ga, sa = '10.213.%d.1' % i, '10.213.%d.2' % i
            self.ns(self.gen, 'ip', 'addr', 'add', ga + '/24', 'dev', g)
            self.ns(self.sink, 'ip', 'addr', 'add', sa + '/24', 'dev', s)
            self.ns(self.gen, 'ip', 'link', 'set', g, 'up')
            self.ns(self.sink, 'ip', 'link', 'set', s, 'up')
            self.links.append({'path': i, 'dev': g, 'address': ga, 'peer_address': sa, 'peer_dev': s})
        self.ns(self.sink, 'ip', 'mptcp', 'endpoint', 'add', self.links[1]['peer_address'], 'dev', 's2', 'signal')
        for name in (self.gen, self.sink):
            self.ns(name, 'ip', 'mptcp', 'limits', 'set', 'subflows', '2', 'add_addr_accepted', '2')
        os.makedirs(self.state_dir, mode=0o700)
        server = self.spawn(self.sink, ['mptcpize', 'run', 'iperf3', '--server', '--port', str(PORT)])
        with open('/proc/%d/stat' % server.pid) as f:
            data = f.read()
        with open(os.path.join(self.state_dir, 'iperf3.json'), 'w') as f:
            json.dump({'pid': server.pid, 'starttime': int(data[data.rindex(')') + 2:].split()[19])}, f)
        self.spawn(self.sink, [sys.executable, STATS, '--port', str(STATS_PORT), '--address',
                               self.links[0]['peer_address'], '--lab-state',
                               os.path.join(self.state_dir, '*.json')])
        for port in (PORT, STATS_PORT):
            self.wait_listen(port)

    def spawn(self, name, argv):
        proc = subprocess.Popen(['ip', 'netns', 'exec', name] + self.nice + argv, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=dict(os.environ, LC_ALL='C'))
        self.procs.append(proc)
        return proc

    def wait_listen(self, port, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self.ns(self.sink, 'ss', '-Hltn', 'sport', '=', ':%d' % port).stdout
            if out.strip():
                return
            time.sleep(0.05)
        raise RuntimeError('nothing listens on port %d in %s' % (port, self.sink))

    def condition(self, checksum, offloads):
        for name in (self.gen, self.sink):
            self.ns(name, 'sysctl', '-qw', 'net.mptcp.checksum_enabled=%d' % checksum)
        state = 'on' if offloads else 'off'
        for link in self.links:
            for name, dev in ((self.gen, link['dev']), (self.sink, link['peer_dev'])):
                self.ns(name, 'ethtool', '-K', dev, 'gso', state, 'gro', state, 'tso', state, check=False)

    def measure(self, duration, omit):
        args = {'server': self.links[0]['peer_address'], 'bind': self.links[0]['address'], 'port': PORT,
                'protocol': 'mptcp', 'duration': duration, 'omit': omit,
                'links': [dict((k, v) for k, v in link.items() if k != 'peer_dev') for link in self.links],
                'stats_address': self.links[0]['peer_address'], 'stats_port': STATS_PORT,
                '_ansible_check_mode': False, '_ansible_diff': False, '_ansible_tmpdir': None,
                '_ansible_remote_tmp': '/tmp', '_ansible_keep_remote_files': False}
        module = 'ansible_collections.mptcp.lab.plugins.modules.perf_measure'
        argv = ['ip', 'netns', 'exec', self.gen] + self.nice + [sys.executable, '-m', module]
        proc = subprocess.run(argv, input=json.dumps({'ANSIBLE_MODULE_ARGS': args}), capture_output=True,
                              text=True, env=dict(os.environ, PYTHONPATH=COLLECTIONS, LC_ALL='C'), check=False)
        try:
            return json.loads(proc.stdout)
        except ValueError:
            return {'ok': False, 'error': 'module printed no JSON: %s' % (proc.stderr or proc.stdout)[-500:]}

    def down(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for name in (self.gen, self.sink):
            subprocess.run(['ip', 'netns', 'del', name], check=False, capture_output=True)
        if os.path.isdir(self.state_dir):
            for entry in os.listdir(self.state_dir):
                os.unlink(os.path.join(self.state_dir, entry))
            os.rmdir(self.state_dir)


def figures(res):
    cost = res.get('cpu_cost') or {}
    gen = (cost.get('hosts') or {}).get('generator') or {}
    metrics = res.get('metrics') or {}
    return {'ok': bool(res.get('ok')), 'error': res.get('error'),
            'throughput_mbps': metrics.get('throughput_mbps'), 'cpu_s_per_gb': metrics.get('cpu_s_per_gb'),
            'lab_s_per_gb': cost.get('lab_s_per_gb'), 'other_s': gen.get('other_s'),
            'busy_s': gen.get('busy_s'), 'window_s': cost.get('window_s'),
            'sampler_cpu_s': (cost.get('sampler') or {}).get('cpu_s'), 'retransmits': metrics.get('retransmits'),
            'subflows': res.get('subflows')}


def loadavg():
    with open('/proc/loadavg') as f:
        return ' '.join(f.read().split()[:3])


def report(runs, conditions):
    lines = ['', 'per condition (valid runs): median / mean / CV']
    stats = {}
    for cond in conditions:
        mine = [r for r in runs if r['condition'] == cond and r['ok']]
        stats[cond] = {}
        for name, unit in METRICS:
            s = summarize([r[name] for r in mine if r[name] is not None])
            stats[cond][name] = s
            if s['n']:
                lines.append('  %s %-16s %10.4g / %10.4g / %5.1f%%  %s  (n=%d)' % (
                    cond, name, s['median'], s['mean'], 100.0 * (s['cv'] or 0.0), unit, s['n']))
    lines.append('')
    lines.append('against A: change of medians, Mann-Whitney two-sided p')
    changes = {}
    for cond in conditions[1:]:
        changes[cond] = {}
        for name, _unit in METRICS[:3]:
            a = [r[name] for r in runs if r['condition'] == 'A' and r['ok'] and r[name] is not None]
            b = [r[name] for r in runs if r['condition'] == cond and r['ok'] and r[name] is not None]
            if not a or not b:
                continue
            change = 100.0 * (stats[cond][name]['median'] - stats['A'][name]['median']) / stats['A'][name]['median']
            p = mann_whitney(b, a)['p_value']
            changes[cond][name] = {'change_pct': round(change, 2), 'p_value': round(p, 4)}
            lines.append('  %s vs A %-16s %+7.2f%%  p=%.4f' % (cond, name, change, p))
    return '\n'.join(lines), stats, changes


def interrupted(signum, frame):
    raise KeyboardInterrupt('signal %d' % signum)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--reps', type=int, default=5, help='repetitions per condition (default 5)')
    parser.add_argument('--duration', type=int, default=10, help='measured seconds per run (default 10)')
    parser.add_argument('--omit', type=int, default=2, help='omitted seconds per run (default 2)')
    parser.add_argument('--gso', action='store_true', help='add condition C: GSO/GRO/TSO off on the links')
    parser.add_argument('--prefix', default='m13a', help='namespace name prefix (default m13a)')
    parser.add_argument('--nice', type=int, default=0,
                        help='run the lab (iperf3 both ends, the module, the responder) at this nice value '
                             '(e.g. -10: ahead of the machine\'s other work)')
    parser.add_argument('--out', help='write every run and the statistics to this JSON file')
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit('needs root (network namespaces)')
    conditions = ['A', 'B'] + (['C'] if args.gso else [])
    setting = {'A': (0, True), 'B': (1, True), 'C': (0, False)}
    signal.signal(signal.SIGTERM, interrupted)
    lab = Lab(args.prefix, args.nice)
    runs = []
    load = {'before': loadavg()}
    started = time.time()
    try:
        lab.up()
        print('lab %s / %s, %d x %s, %d s (+%d omitted) each, nice %d, load %s'
              % (lab.gen, lab.sink, args.reps, '/'.join(conditions), args.duration, args.omit, args.nice,
                 load['before']))
        print('%-4s %-3s %9s %9s %9s %8s %8s %8s %6s' % ('cond', 'rep', 'Mbit/s', 'cpu s/GB', 'lab s/GB',
                                                         'other_s', 'sampler', 'retrans', 'ok'))
        for rep in range(1, args.reps + 1):
            for cond in conditions:
                lab.condition(*setting[cond])
                run = dict(figures(lab.measure(args.duration, args.omit)), condition=cond, rep=rep)
                runs.append(run)

                def fmt(value, spec):
                    return spec % value if value is not None else '-'
                print('%-4s %-3d %9s %9s %9s %8s %8s %8s %6s' % (
                    cond, rep, fmt(run['throughput_mbps'], '%.1f'), fmt(run['cpu_s_per_gb'], '%.3f'),
                    fmt(run['lab_s_per_gb'], '%.3f'), fmt(run['other_s'], '%.2f'),
                    fmt(run['sampler_cpu_s'], '%.3f'), fmt(run['retransmits'], '%d'),
                    'ok' if run['ok'] else run['error']), flush=True)
    except KeyboardInterrupt:
        print('interrupted: tearing down')
    finally:
        lab.down()
    load['after'] = loadavg()
    text, stats, changes = report(runs, conditions)
    print(text)
    print('\nmachine load (1/5/15 min) before %s, after %s; %d s in all'
          % (load['before'], load['after'], time.time() - started))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump({'runs': runs, 'stats': stats, 'changes': changes, 'load': load,
                       'args': vars(args)}, f, indent=1, sort_keys=True)


if __name__ == '__main__':
    main()
