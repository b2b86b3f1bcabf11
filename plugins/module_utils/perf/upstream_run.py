# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""One test of an upstream-format suite, run as upstream's harness runs it, on the netns lab.

In order, as upstream does: the test's hosts and paths are built fresh
(lab.l2_paths), the ``pre`` and ``all`` stats are taken, a per-second
sampler starts (what upstream's dstat gives: time, CPU, load, memory and
each interface's bytes received and sent), the steps run (each host's
command of a step at once, then both waited for, with the step's timeout
and ignore_err; the first failed step ends the steps), the sampler stops,
the ``post`` and ``all`` stats are taken, every process left in the hosts
is stopped and the hosts removed. Then ``stats/dstat.json`` is written
(trimmed to the ``dstat_only`` window and the dstat offsets), the
validations run in the test's results directory when no step failed, and
each regression step's ``json_field`` is read from its file.

Steps, stats and validations are the suite's own shell text: each is given
to bash as one argument (``bash -c TEXT``, a multi-line validation as a
script file run with ``bash -e``), never assembled from pieces. Steps see
RESULTS_DIR (the test's results directory, also their working directory),
HOSTNAME (client or server) and a PATH whose first directory holds
mptcp.lab's iperf3 wrapper (``--mptcp`` on iperf3 older than 3.19).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import threading
import time

from ansible_collections.mptcp.lab.plugins.module_utils.lab import l2_paths
from ansible_collections.mptcp.lab.plugins.module_utils.lab import lab_netlink as nl
from ansible_collections.mptcp.lab.plugins.module_utils.perf import upstream_suite as us

HOSTS = l2_paths.HOSTS
SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
STAT_TIMEOUT_S = 120
VALIDATION_TIMEOUT_S = 600
KILL_GRACE_S = 2.0


# ------------------------------------------------------------------ the sampler

def _cpu_times():
    with open('/proc/stat') as f:
        fields = f.readline().split()[1:]
    return [int(x) for x in fields]


def _machine_sample(prev_cpu):
    """CPU (percent since prev_cpu), load and memory of the machine, dstat's field names."""
    cpu = _cpu_times()
    out = {}
    if prev_cpu is not None:
        delta = [b - a for a, b in zip(prev_cpu, cpu)]
        total = float(sum(delta[:8])) or 1.0
        user, nice, system, idle, iowait, irq, softirq, steal = (delta + [0] * 8)[:8]
        out.update({'usr': round(100.0 * (user + nice) / total, 3), 'sys': round(100.0 * (system + irq + softirq) / total, 3),
                    'idl': round(100.0 * idle / total, 3), 'wai': round(100.0 * iowait / total, 3),
                    'stl': round(100.0 * steal / total, 3)})
    with open('/proc/loadavg') as f:
        load = f.read().split()
    out.update({'1m': float(load[0]), '5m': float(load[1]), '15m': float(load[2])})
    mem = {}
    with open('/proc/meminfo') as f:
        for line in f:
            key, value = line.split(':', 1)
            mem[key] = int(value.split()[0]) * 1024
    cached = mem.get('Cached', 0) + mem.get('SReclaimable', 0)
    out.update({'used': mem['MemTotal'] - mem['MemFree'] - mem.get('Buffers', 0) - cached,
                'free': mem['MemFree'], 'buff': mem.get('Buffers', 0), 'cach': cached})
    return out, cpu


def _link_bytes(ipr):
    """{ifname: (rx_bytes, tx_bytes)} of a namespace's eth* interfaces."""
    out = {}
    for msg in ipr.get_links():
        name = msg.get('IFLA_IFNAME')
        if not name or not name.startswith('eth'):
            continue
        stats = msg.get('IFLA_STATS64') or msg.get('IFLA_STATS') or {}
        out[name] = (stats.get('rx_bytes', 0), stats.get('tx_bytes', 0))
    return out


class Sampler(threading.Thread):
    """Once a second: the machine's CPU, load and memory, and each host's interfaces' bytes/s.

    Rows per host ('client', 'server', 'host'), each a dict of dstat's field
    names with 'time' (Unix seconds). Network figures are bytes per second
    over the last second, like dstat's; ``net/total`` sums the interfaces.
    """

    def __init__(self, namespaces, interval=1.0):
        threading.Thread.__init__(self, name='upstream-dstat')
        self.daemon = True
        self.namespaces = namespaces      # {host: its namespace}
        self.interval = interval
        self.rows = dict((host, []) for host in list(namespaces) + ['host'])
        self.error = None
        self._stop_event = threading.Event()

    def stop(self):
        self._stop_event.set()
        self.join(10)

    def run(self):
        # pyroute2's sockets answer only in the thread that opened them: opened here
        sockets = {}
        try:
            for host, ns in self.namespaces.items():
                sockets[host] = nl.open_netns(ns).__enter__()
            self._run(sockets)
        except Exception as exc:   # pylint: disable=broad-except
            self.error = '%s: %s' % (type(exc).__name__, exc)
        finally:
            for ipr in sockets.values():
                ipr.close()

    def _run(self, sockets):
        prev_cpu = _cpu_times()
        prev = dict((host, _link_bytes(ipr)) for host, ipr in sockets.items())
        prev_t = time.time()
        deadline = prev_t
        while True:
            deadline += self.interval
            if self._stop_event.wait(max(0.0, deadline - time.time())):
                return
            now = time.time()
            dt = max(now - prev_t, 1e-3)
            machine, prev_cpu = _machine_sample(prev_cpu)
            self.rows['host'].append(dict(machine, time=round(now, 3)))
            for host, ipr in sockets.items():
                cur = _link_bytes(ipr)
                row = dict(machine, time=round(now, 3))
                total_rx = total_tx = 0.0
                for name in sorted(cur):
                    rx0, tx0 = prev[host].get(name, cur[name])
                    recv = (cur[name][0] - rx0) / dt
                    send = (cur[name][1] - tx0) / dt
                    row['net/%s:recv' % name] = round(recv, 1)
                    row['net/%s:send' % name] = round(send, 1)
                    total_rx += recv
                    total_tx += send
                row['net/total:recv'] = round(total_rx, 1)
                row['net/total:send'] = round(total_tx, 1)
                self.rows[host].append(row)
                prev[host] = cur
            prev_t = now


# ------------------------------------------------------------------ dstat.json

def _spread(values):
    """Upstream's statistics of a series (None where a series is too short for one)."""
    out = {'sum': sum(values), 'diff': values[-1] - values[0], 'min': min(values), 'max': max(values),
           'mean': statistics.mean(values), 'median': statistics.median(values)}
    if len(values) >= 2:
        mean = out['mean']
        out.update(variance=statistics.variance(values, mean), stdev=statistics.stdev(values, mean),
                   pvariance=statistics.pvariance(values, mean), pstdev=statistics.pstdev(values, mean),
                   quartiles=statistics.quantiles(values, n=4), deciles=statistics.quantiles(values, n=10),
                   percentiles=statistics.quantiles(values, n=100))
    else:
        out.update(variance=None, stdev=None, pvariance=None, pstdev=None, quartiles=None, deciles=None,
                   percentiles=None)
    return out


def window(times, start=None, end=None, offset_start=1, offset_end=1):
    """(first, stop) slice of the samples kept, trimmed as upstream's harness trims its dstat series.

    With a window: from the first sample at or after ``start``, up to but
    not including the last sample before ``end`` (upstream stops one
    sample early there); then ``offset_start`` more dropped at the start
    and ``offset_end`` at the end.
    """
    first, stop = 0, len(times)
    if start is not None and end is not None:
        for i, t in enumerate(times):
            if t < start:
                first = i + 1
            elif t >= end:
                stop = i - 1
                break
    return first + offset_start, stop - offset_end


def dstat_document(rows, start=None, end=None, offset_start=1, offset_end=1):
    """stats/dstat.json's content of one host's samples, in upstream's shape.

    ``time``: raw (every sample, Unix seconds), sec (the kept ones, whole
    seconds), str/raw_str and diff (seconds between the first and last kept
    sample). Every other field: raw and filtered series and their
    statistics; network fields (``net/<if>:recv|send``) are converted from
    bytes/s to bits/s as upstream does (``bytes`` keeps the kept bytes/s).
    An empty window gives only the raw series.
    """
    if not rows:
        return {}
    times = [r['time'] for r in rows]
    first, stop = window(times, start, end, offset_start, offset_end)
    kept = rows[first:stop] if stop > first else []
    doc = {'time': {'raw': times, 'raw_str': [time.asctime(time.localtime(t)) for t in times]}}
    if kept:
        secs = [int(r['time']) for r in kept]
        doc['time'].update(sec=secs, str=[time.asctime(time.localtime(t)) for t in secs], diff=secs[-1] - secs[0])
    keys = sorted(set(k for r in rows for k in r if k != 'time'))
    for key in keys:
        raw = [r.get(key, 0) for r in rows]
        series = [r.get(key, 0) for r in kept]
        entry = {'raw': raw}
        if key.startswith('net/'):
            entry['raw_bits'] = [int(x * 8) for x in raw]
            entry['bytes'] = series
            series = [int(x * 8) for x in series]
        entry['filtered'] = series
        if series:
            entry.update(_spread(series))
        doc[key] = entry
    return doc


# ------------------------------------------------------------------ commands

def _env(host, results_dir, tools_dir, real_iperf3):
    env = {'PATH': '%s:%s' % (tools_dir, SYSTEM_PATH) if tools_dir else SYSTEM_PATH,
           'HOME': results_dir, 'LANG': 'C.UTF-8', 'RESULTS_DIR': results_dir, 'HOSTNAME': host,
           'TERM': 'dumb'}
    if real_iperf3:
        env['MPTCP_LAB_IPERF3'] = real_iperf3
    return env


def _append(path, text):
    with open(path, 'a') as f:
        f.write(text)


def _kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    proc.wait()


class TestRun(object):
    """The state of one test while it runs: its directories, hosts and log."""

    def __init__(self, test, prefix, results_dir, tools_dir=None):
        self.test = test
        self.prefix = prefix
        self.dir = results_dir
        self.tools_dir = tools_dir
        self.real_iperf3 = shutil.which('iperf3', path=SYSTEM_PATH)
        self.ns = l2_paths.namespaces(prefix)
        self.logs = dict((host, os.path.join(results_dir, '%s.log' % host)) for host in HOSTS)
        self.steps = []
        self.errors = []
        self.dstat = {}

    def _host_argv(self, host, text):
        return ['ip', 'netns', 'exec', self.ns[host], 'bash', '-c', text]

    def _popen(self, host, text, out):
        return subprocess.Popen(self._host_argv(host, text), stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, cwd=self.dir, start_new_session=True,
                                env=_env(host, self.dir, self.tools_dir, self.real_iperf3))

    def stats(self, phase):
        """Run the stats of ``phase`` and of ``all`` on their hosts; outputs appended under stats/<host>/<phase>/."""
        for entry in self.test['stats'].get(phase, []) + self.test['stats'].get('all', []):
            for host in entry['hosts']:
                d = os.path.join(self.dir, 'stats', host, phase)
                os.makedirs(d, exist_ok=True)
                with tempfile.TemporaryFile() as out:
                    proc = self._popen(host, entry['run'], out)
                    try:
                        proc.wait(STAT_TIMEOUT_S)
                    except subprocess.TimeoutExpired:
                        _kill_group(proc)
                        self.note(host, 'stat %s (%s) timed out after %d s' % (entry['name'], phase, STAT_TIMEOUT_S))
                    out.seek(0)
                    _append(os.path.join(d, entry['file']), out.read().decode('utf-8', 'replace') + '\n')

    def note(self, host, text):
        _append(self.logs[host], '## mptcp.lab: %s\n' % text)

    def run_steps(self):
        """Each step on its hosts at once, then waited for; returns (ok, dstat window start, end)."""
        start = end = None
        timeout = self.test['timeout_s']
        for step in self.test['steps']:
            for host in HOSTS:
                self.note(host, 'step: %s: %s' % (time.asctime(), step['name']))
            limit = step.get('timeout_s') or timeout
            procs = []
            files = []
            for who in HOSTS + ('all',):
                if who not in step:
                    continue
                for host in HOSTS if who == 'all' else (who,):
                    out = open(self.logs[host], 'ab')
                    files.append(out)
                    procs.append((host, self._popen(host, step[who], out), time.time()))
            if step.get('dstat_only') in ('step', 'start'):
                start = time.time()
            failed = False
            for host, proc, began in procs:
                entry = {'name': step['name'], 'host': host, 'rc': None, 'timed_out': False,
                         'ignored': bool(step.get('ignore_err')), 'duration_s': None, 'ok': True}
                try:
                    entry['rc'] = proc.wait(max(0.0, began + limit - time.time()))
                except subprocess.TimeoutExpired:
                    _kill_group(proc)
                    entry['timed_out'] = True
                    self.note(host, 'step %s timed out after %d s' % (step['name'], limit))
                entry['duration_s'] = round(time.time() - began, 3)
                entry['ok'] = not entry['timed_out'] and entry['rc'] == 0
                if not entry['ok'] and not entry['ignored']:
                    failed = True
                    self.errors.append('step %r on %s: %s' % (
                        step['name'], host, 'timed out after %d s' % limit if entry['timed_out']
                        else 'exit code %s' % entry['rc']))
                self.steps.append(entry)
            for out in files:
                out.close()
            if step.get('dstat_only') in ('step', 'end'):
                end = time.time()
            if failed:
                break
        return not self.errors, start, end

    def validate(self):
        """Each validation, in the results directory; returns its outcomes."""
        out = []
        for item in self.test['validation']:
            script = None
            if '\n' in item['run']:
                fd, script = tempfile.mkstemp(prefix='validation-', suffix='.sh')
                with os.fdopen(fd, 'w') as f:
                    f.write(item['run'] + '\n')
                argv = ['bash', '-e', script]
            else:
                argv = ['bash', '-c', item['run']]
            try:
                with open(os.path.join(self.dir, 'validation.log'), 'ab') as log:
                    log.write(('## validation: %s\n' % item['name']).encode('utf-8'))
                    log.flush()
                    proc = subprocess.Popen(argv, cwd=self.dir, stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True,
                                            env=_env('host', self.dir, self.tools_dir, self.real_iperf3))
                    try:
                        rc = proc.wait(VALIDATION_TIMEOUT_S)
                    except subprocess.TimeoutExpired:
                        _kill_group(proc)
                        rc = None
            finally:
                if script:
                    os.unlink(script)
            out.append({'name': item['name'], 'rc': rc, 'ok': rc == 0})
        return out


def regression_values(test, results_dir):
    """Each regression step's figure, read from its file; (values, errors)."""
    values = []
    errors = []
    cache = {}
    for step in test['regression']['steps']:
        entry = dict(step, value=None)
        path = os.path.join(results_dir, step['file'])
        try:
            if path not in cache:
                with open(path) as f:
                    cache[path] = json.load(f)
            value = us.json_field(cache[path], step['json_field'])
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError('%s is %r, not a number' % ('.'.join(step['json_field']), value))
            entry['value'] = value
        except (IOError, OSError, ValueError, KeyError) as exc:
            errors.append('regression step %r: %s: %s' % (step['name'], step['file'], exc))
        values.append(entry)
    return values, errors


def per_path_mbps(dstat, paths):
    """Each path's rate in Mbit/s over the kept window: the larger of the client's and the server's receive means."""
    out = []
    for i in range(paths):
        figures = [((dstat.get(host) or {}).get('net/eth%d:recv' % i) or {}).get('mean') for host in HOSTS]
        figures = [f for f in figures if isinstance(f, (int, float))]
        out.append(round(max(figures) / 1e6, 3) if figures else None)
    return out


def run_test(test, prefix, results_dir, tools_dir=None, netem=None):
    """Run one translated test (upstream_suite.translate) in ``results_dir``; returns its outcome.

    The outcome holds what the run record keeps of the test (steps,
    validation, regression values, per-path rates, the window measured,
    what could not be honoured) and ``valid``/``invalid_reason``.
    """
    for sub in ('artifacts', 'stats'):
        os.makedirs(os.path.join(results_dir, sub), exist_ok=True)
    run = TestRun(test, prefix, results_dir, tools_dir)
    not_honoured = list(test['not_honoured'])
    started = time.time()
    built = None
    sampler = None
    validation = []
    window_s = None
    try:
        built = l2_paths.build(prefix, test['bridges'], netem=netem, hw_accel=test['bridges_hw_accel'])
        if not built['netem']:
            for i, bridge in enumerate(test['bridges']):
                for key in ('delay_ms', 'loss_pc'):
                    if bridge.get(key):
                        not_honoured.append({'field': 'bridges[%d].%s' % (i, key), 'value': bridge[key],
                                             'reason': 'this kernel has no netem (sch_netem): the path is '
                                                       'shaped by rate only'})
        run.stats('pre')
        try:
            sampler = Sampler(dict((host, run.ns[host]) for host in HOSTS))
            sampler.start()
            steps_ok, start, end = run.run_steps()
        finally:
            if sampler is not None:
                sampler.stop()
        run.stats('post')
    except nl.LabNetlinkError as exc:
        run.errors.append('the test\'s hosts and paths could not be built: %s' % exc)
        steps_ok, start, end = False, None, None
    finally:
        stopped = l2_paths.remove(prefix)
    rows = sampler.rows if sampler is not None else {}
    if sampler is not None and sampler.error:
        run.errors.append('the per-second sampler failed: %s' % sampler.error)
    offsets = test['dstat']
    dstat = dict((host, dstat_document(rows.get(host) or [], start, end, offsets['offset_start'],
                                       offsets['offset_end'])) for host in HOSTS + ('host',))
    with open(os.path.join(results_dir, 'stats', 'dstat.json'), 'w') as f:
        json.dump(dstat, f)
    window_s = (dstat.get('host') or {}).get('time', {}).get('diff')
    if built is not None:
        not_honoured.append({'field': 'stats/dstat.json',
                             'value': 'usr, sys, idl, wai, stl, 1m, 5m, 15m, used, free, buff, cach',
                             'reason': 'the netns lab\'s client and server share this machine\'s kernel: their '
                                       'CPU, load and memory figures are the machine\'s'})
    if steps_ok:
        validation = run.validate()
        for item in validation:
            if not item['ok']:
                run.errors.append('validation %r failed (exit code %s)' % (item['name'], item['rc']))
    elif test['validation']:
        run.errors.append('validations not run: a step failed')
    values, reg_errors = regression_values(test, results_dir)
    run.errors.extend(reg_errors)
    return {
        'name': test['name'],
        'slug': test['slug'],
        'started': round(started, 3),
        'wall_s': round(time.time() - started, 3),
        'window_s': window_s,
        'bridges': [dict((k, b.get(k)) for k in ('name', 'rate_mbit', 'delay_ms', 'loss_pc')) for b in test['bridges']],
        'applied': (built or {}).get('bridges'),
        'steps': run.steps,
        'validation': validation,
        'regression': dict(test['regression'], steps=values),
        'per_path_mbps': per_path_mbps(dstat, len(test['bridges'])),
        'not_honoured': not_honoured,
        'stopped_pids': len(stopped),
        'valid': not run.errors,
        'invalid_reason': '; '.join(run.errors) or None,
    }
