# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The timed samples of one measurement (perf_measure): readers and the sampler thread.

The sampler is one thread that wakes on a fixed schedule (an Event wait, no
busy loop) while iperf3 runs. From the spawn until the data starts it polls
the paths' byte counters every 5 ms (the measured window is anchored there,
perf_cost.anchored_window); every 0.2 s it reads on the generator:
the ``cpu`` line of /proc/stat, the path interfaces' byte counters
(/proc/net/dev), Tcp RetransSegs (/proc/net/snmp) and the iperf3 client's
CPU (/proc/<pid>/schedstat). Once a second it also lists the test's TCP
sockets with ``ss -tni`` (cwnd, RTT, retransmits per subflow) and asks the
sink's stats responder for its light ``cpu`` sample (with the sink's sockets
on the test's port, the sending end of a download); half-way through the
run it keeps an ``ss -Mni`` listing too. It counts its own CPU (the thread's
and the ss children's) so the cost of watching is known. ``Client`` runs
iperf3 as our own child, so its exit time and CPU are exact. The pure
arithmetic over these samples lives in perf_cost.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ctypes
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time

from ansible_collections.mptcp.lab.plugins.module_utils.perf import perf_cost as pcost
from ansible_collections.mptcp.lab.plugins.module_utils.perf import perf_parse as pp
from ansible_collections.mptcp.lab.plugins.module_utils.process import proc_identity as procid

HZ = os.sysconf('SC_CLK_TCK')


def read_file(path):
    with open(path) as f:
        return f.read()


def process_cpu_s(pid):
    """CPU seconds process pid used so far (scheduler runtime), or None when it is gone."""
    try:
        return int(read_file('/proc/%d/schedstat' % pid).split()[0]) / 1e9
    except (IOError, OSError, ValueError, IndexError):
        pass
    return procid.cpu_seconds(pid)


def _die_with_parent():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


def _exit_code(status):
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else -1


def run_counted(argv, env):
    """Run a short command; (rc, output with stderr, CPU seconds it used)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        out = proc.stdout.read()
    finally:
        proc.stdout.close()
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = _exit_code(status)
    return proc.returncode, out.decode('utf-8', 'replace'), usage.ru_utime + usage.ru_stime


def local_full():
    """The generator's counters before and after a run (all of nstat's groups)."""
    return {
        't': time.monotonic(),
        'cpu': pp.parse_proc_stat(read_file('/proc/stat')),
        'net_dev': pp.parse_net_dev(read_file('/proc/net/dev')),
        'nstat': dict(pp.parse_nstat(read_file('/proc/net/snmp')), **pp.parse_nstat(read_file('/proc/net/netstat'))),
    }


class SinkClient(object):
    """The sink's stats responder (roles/traffic_sink/files/mptcp_lab_stats.py)."""

    def __init__(self, address, port, timeout=2.0):
        self.address, self.port, self.timeout = address, port, timeout

    def ask(self, command, timeout=None):
        """One request: (sample, error); the sample's ``t`` is the request's midpoint on our monotonic clock."""
        if not self.address:
            return None, None
        t0 = time.monotonic()
        try:
            conn = socket.create_connection((self.address, self.port), timeout=timeout or self.timeout)
            try:
                conn.sendall(command.encode() + b'\n')
                chunks = []
                while True:
                    data = conn.recv(65536)
                    if not data:
                        break
                    chunks.append(data)
            finally:
                conn.close()
            t1 = time.monotonic()
            if not chunks:
                return None, 'sink stats responder %s:%d: no reply to %r (a responder older than this module?)' % (
                    self.address, self.port, command)
            reply = json.loads(b''.join(chunks).decode('utf-8'))
            return self.sample(reply, (t0 + t1) / 2.0), None
        except (OSError, ValueError, KeyError, TypeError) as e:
            return None, 'sink stats responder %s:%d: %s' % (self.address, self.port, e or type(e).__name__)

    @staticmethod
    def sample(reply, t):
        out = {'t': t, 'cpu': pp.parse_proc_stat(reply['stat']),
               'lab_s': reply.get('lab_cpu_s'), 'sampler_s': reply.get('self_cpu_s')}
        snmp = pp.parse_nstat(reply.get('snmp') or '')
        out['retrans'] = snmp.get('TcpRetransSegs')
        if isinstance(reply.get('tcp'), list):
            # the sink's sockets on the test's port, seen from the generator's side (local = generator)
            out['socks'] = [{'local': peer, 'local_port': pport, 'peer': local, 'peer_port': lport, 'token': None,
                             'cwnd': cwnd, 'rtt_ms': rtt_us / 1000.0, 'retrans': retrans}
                            for local, lport, peer, pport, cwnd, rtt_us, retrans in reply['tcp']]
        if 'net_dev' in reply:      # the full 'stats' reply
            out['net_dev'] = pp.parse_net_dev(reply['net_dev'])
            out['mptcp'] = pp.parse_netstat(reply.get('netstat') or '')
            out['nstat'] = dict(snmp, **pp.parse_nstat(reply.get('netstat') or ''))
            out['boot_id'] = reply.get('boot_id')
            out['lab_processes'] = reply.get('lab_processes')
        return out


class Sampler(threading.Thread):
    """Samples the generator (and the sink, once a second) while iperf3 runs."""

    def __init__(self, devs, sink, ss_argv, ss_mptcp_argv, mid_s, env, period=0.2, ss_every=5, port=None,
                 direction='upload'):
        threading.Thread.__init__(self)
        self.daemon = True
        self.devs, self.sink, self.env, self.port, self.direction = devs, sink, env, port, direction
        self.data_start = self.data_start_uncertainty = None
        self.ss_argv, self.ss_mptcp_argv, self.mid_s = ss_argv, ss_mptcp_argv, mid_s
        self.period, self.ss_every = period, ss_every
        self.poll_s, self.watch_s = 0.005, 3.0
        self._last_poll = None
        self.pid = None
        self.local, self.ss, self.sink_samples, self.sink_ss = [], [], [], []
        self.mid = {}
        self.errors = []
        self.child_cpu_s = 0.0
        self.thread_cpu_s = 0.0
        self.ss_runs = 0
        self._halt = threading.Event()
        self._thread_t0 = 0.0
        self._clock = None
        self.sink_error = None
        self._start_t = None

    # one local tick: cheap reads only
    def tick(self, lab_s=None):
        t = time.monotonic()
        net_dev = pp.parse_net_dev(read_file('/proc/net/dev'))
        sample = {'t': t, 'cpu': pp.parse_proc_stat(read_file('/proc/stat')),
                  'net_dev': dict((dev, net_dev[dev]) for dev in self.devs if dev in net_dev),
                  'retrans': pp.parse_nstat(read_file('/proc/net/snmp')).get('TcpRetransSegs'),
                  'sampler_s': self.cost_s()}
        if lab_s is None and self.pid is not None:
            lab_s = process_cpu_s(self.pid)
        sample['lab_s'] = lab_s
        self.local.append(sample)
        return sample

    def cost_s(self):
        """CPU seconds the sampler used so far (its thread, its ss children), from any thread."""
        own = self.thread_cpu_s
        if self._clock is not None and self.is_alive():
            try:
                own = time.clock_gettime(self._clock) - self._thread_t0
            except OSError:
                pass
        return own + self.child_cpu_s

    def slow_tick(self, t_rel):
        rc, out, cpu = run_counted(self.ss_argv, self.env)
        self.child_cpu_s += cpu
        self.ss_runs += 1
        if rc == 0:
            self.ss.append({'t': time.monotonic(), 'socks': pp.parse_ss_tcp(out)})
        elif len(self.errors) < 3:
            self.errors.append('ss: exit %d: %s' % (rc, out.strip()[-200:]))
        if not self.mid and t_rel >= self.mid_s:
            # half-way: the listing the validity gate judges (subflows, fallback)
            rc2, out2, cpu2 = run_counted(self.ss_mptcp_argv, self.env)
            self.child_cpu_s += cpu2
            self.mid = {'subflows': out if rc == 0 else None, 'mptcp': out2 if rc2 == 0 else None}
        if self.sink is not None and self.sink_error is None:
            sample, self.sink_error = self.sink.ask('cpu %d' % self.port if self.port else 'cpu', timeout=0.5)
            if sample is not None:
                self.sink_samples.append(sample)
                if 'socks' in sample:
                    self.sink_ss.append({'t': sample['t'], 'socks': sample.pop('socks')})

    def watch(self, t, base, floor=8192):
        """One poll of the data's start: True once the data started (``data_start`` is set).

        iperf3's setup (its control connection, the handshakes, the
        parameters) moves well under ``floor`` bytes on the paths; its
        first data burst (an initial window, ~14 KB) crosses it at once. The
        start lies between the last poll below the floor and the first
        above it: their midpoint, within half the gap
        (``data_start_uncertainty``).
        """
        moved = pcost.data_bytes(pp.parse_net_dev(read_file('/proc/net/dev')), self.devs, self.direction) - base
        if moved > floor:
            self.data_start = (self._last_poll + t) / 2.0
            self.data_start_uncertainty = (t - self._last_poll) / 2.0
            return True
        self._last_poll = t
        return False

    def start_for(self, pid, t_spawn):
        self.pid = pid
        self._start_t = t_spawn
        self.start()

    def run(self):
        try:
            self._clock = time.pthread_getcpuclockid(threading.get_ident())
        except (AttributeError, OSError):
            self._clock = None
        self._thread_t0 = time.thread_time()
        k = 1
        # until the data starts (at most watch_s), poll the paths' byte counters every poll_s
        base = pcost.data_bytes(self.local[0]['net_dev'], self.devs, self.direction) if self.local else None
        watching = base is not None
        self._last_poll = self._start_t
        try:
            while True:
                due = self._start_t + k * self.period
                now = time.monotonic()
                if self._halt.wait(max(0.0, min(due, now + self.poll_s) - now if watching else due - now)):
                    break
                now = time.monotonic()
                if watching:
                    watching = not self.watch(now, base) and now < self._start_t + self.watch_s
                if now < due:
                    continue
                self.tick()
                t_rel = time.monotonic() - self._start_t
                # once a second, a tick before each whole second: iperf3's intervals (and
                # the time series' buckets) end about on whole seconds after the omitted
                # ones, so every bucket's end has a listing just before it, the last one
                # included (taken while the test still runs)
                if (k + 1) % self.ss_every == 0 or (not self.mid and t_rel >= self.mid_s):
                    self.slow_tick(t_rel)
                k += 1
        except Exception as e:  # pylint: disable=broad-except
            # a sampler that fails stops sampling; the run goes on and says why
            self.errors.append('sampler stopped: %s: %s' % (type(e).__name__, e))
        finally:
            self.thread_cpu_s = time.thread_time() - self._thread_t0

    def finish(self, lab_s):
        """At the client's exit: the closing tick (with the client's final CPU), then stop the thread."""
        pid, self.pid = self.pid, None
        self.tick(lab_s=lab_s)
        self._halt.set()
        if pid is not None:
            self.join(10)


class Client(object):
    """The iperf3 client as our own child: its exit time and CPU are known exactly.

    A timer sends SIGTERM after ``limit`` seconds and SIGKILL 5 s later; the
    child is only signalled while it is unreaped (waitid WNOWAIT first), so
    a recycled pid is never hit. Should this module die first, the kernel
    kills the child (PR_SET_PDEATHSIG): no iperf3 is left behind.
    """

    def __init__(self, argv, env, limit):
        self.argv, self.env, self.limit = argv, env, limit
        self.pid = None
        self.lock = threading.Lock()
        self.reaped = False
        self.killed = False
        self.t_spawn = self.t_exit = None
        self.cpu_s = None

    def _kill(self, sig):
        with self.lock:
            if not self.reaped:
                self.killed = True
                try:
                    os.kill(self.pid, sig)
                except OSError:
                    pass

    def run(self, sampler):
        """Run to the end while sampler samples; returns (rc, stdout, stderr)."""
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            sampler.tick(lab_s=0.0)
            self.t_spawn = time.monotonic()
            try:
                proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=self.env,
                                        preexec_fn=_die_with_parent)
            except OSError as e:
                self.t_exit = time.monotonic()
                sampler.tick(lab_s=0.0)
                return 127, '', 'cannot run %s: %s' % (self.argv[0], e)
            self.pid = proc.pid
            sampler.start_for(proc.pid, self.t_spawn)
            timers = [threading.Timer(self.limit, self._kill, (signal.SIGTERM,)),
                      threading.Timer(self.limit + 5, self._kill, (signal.SIGKILL,))]
            for timer in timers:
                timer.daemon = True
                timer.start()
            os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
            self.t_exit = time.monotonic()
            with self.lock:
                self.reaped = True
                for timer in timers:
                    timer.cancel()
            _pid, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = _exit_code(status)
            self.cpu_s = usage.ru_utime + usage.ru_stime
            sampler.finish(self.cpu_s)
            out.seek(0)
            err.seek(0)
            return (proc.returncode, out.read().decode('utf-8', 'replace'),
                    err.read().decode('utf-8', 'replace'))
