# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Processes that outlive their task but cannot outlive the run that started them.

Used for ``ip mptcp monitor`` (mptcp.lab.debug_monitor) and tcpdump
(mptcp.lab.packet_capture). The supervisor is a detached process (its own
session, stdio on /dev/null, so the task that starts it returns) that runs
its children with a parent-death signal (they die with the supervisor,
whatever kills it) and waits, without polling, on three things at once:

- a stop request (SIGTERM, SIGINT or SIGHUP: the ``stopped`` state);
- the guard: a pidfd of the ansible-playbook process that started it, when
  that process is visible from the host (same boot and PID namespace: the
  netns lab, or a local connection) - Ctrl-C or a kill of the run ends the
  monitor at once;
- a deadline (``timeout_s``), the bound on remote hosts where the run's
  process is not visible.

It also ends when a child exits by itself. Stopping sends SIGTERM to the
children (tcpdump then flushes its file and prints its counters).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ctypes
import errno
import json
import os
import select
import signal
import subprocess
import time

from ansible_collections.mptcp.lab.plugins.module_utils.process import proc_identity as procid

PR_SET_PDEATHSIG = 1
NETLINK_GENERIC = 16


def proc_cpu_seconds(pid):
    """User + system CPU seconds process pid used so far, or None."""
    seconds = procid.cpu_seconds(pid)
    return None if seconds is None else round(seconds, 3)


def pid_namespace():
    try:
        return os.readlink('/proc/self/ns/pid')
    except OSError:
        return None


def guard_of(pid):
    """What identifies process ``pid`` across hosts: {pid, starttime, boot_id, pid_ns}."""
    return {'pid': pid, 'starttime': procid.start_time(pid, include_zombie=True), 'boot_id': procid.boot_id(),
            'pid_ns': pid_namespace()}


def guard_visible(guard):
    """Whether the guard process is one this host can watch (and is alive)."""
    if not guard or not guard.get('pid'):
        return False
    if guard.get('boot_id') != procid.boot_id() or guard.get('pid_ns') != pid_namespace():
        return False
    return procid.start_time(int(guard['pid']), include_zombie=True) == guard.get('starttime')


def alive(pid, starttime):
    """Whether the supervisor recorded as (pid, starttime) is still there (a zombie one counts)."""
    return bool(pid) and procid.start_time(int(pid), include_zombie=True) == starttime


def _set_pdeathsig():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def socket_inodes(pid):
    out = set()
    try:
        names = os.listdir('/proc/%d/fd' % pid)
    except OSError:
        return out
    for name in names:
        try:
            target = os.readlink('/proc/%d/fd/%s' % (pid, name))
        except OSError:
            continue
        if target.startswith('socket:['):
            out.add(target[8:-1])
    return out


def subscribed(pid):
    """Whether process pid holds a generic netlink socket subscribed to a multicast group."""
    inodes = socket_inodes(pid)
    try:
        with open('/proc/net/netlink') as f:
            lines = f.read().splitlines()[1:]
    except (IOError, OSError):
        return False
    for line in lines:
        fields = line.split()
        if len(fields) >= 10 and int(fields[1]) == NETLINK_GENERIC and fields[3] != '00000000' \
                and fields[-1] in inodes:
            return True
    return False


def _write_json(path, data):
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(data, f)
    os.rename(tmp, path)


def _ready(child, proc):
    if child.get('ready') == 'netlink':
        return subscribed(proc.pid)
    if child.get('ready') == 'listening':
        try:
            with open(child['output'], 'rb') as f:
                return b'listening on' in f.read()
        except (IOError, OSError):
            return False
    return True


def supervise(children, state_path, timeout_s, guard, ready_fd):
    """The supervisor's body (in the detached process); never returns.

    ``children`` lists {argv, output, ready}: output receives the child's
    stdout and stderr; ready is how to tell it is at work (netlink: its
    generic netlink socket joined a multicast group; listening: it printed
    "listening on", as tcpdump does; anything else: at once).
    """
    code = 0
    try:
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, lambda *_: None)
        guard_fd = os.pidfd_open(int(guard['pid'])) if guard_visible(guard) else None
        deadline = time.monotonic() + timeout_s
        procs = []
        for child in children:
            with open(child['output'], 'wb') as out:
                procs.append(subprocess.Popen(child['argv'], stdout=out, stderr=subprocess.STDOUT,
                                              stdin=subprocess.DEVNULL, preexec_fn=_set_pdeathsig,
                                              env={'LC_ALL': 'C', 'PATH': '/usr/sbin:/usr/bin:/sbin:/bin'}))
        child_fds = [os.pidfd_open(proc.pid) for proc in procs]
        # Ready when every child is at work.
        ready = False
        limit = time.monotonic() + 5
        while time.monotonic() < limit and all(proc.poll() is None for proc in procs):
            if all(_ready(child, proc) for child, proc in zip(children, procs)):
                ready = True
                break
            time.sleep(0.01)
        state = {'supervisor_pid': os.getpid(), 'supervisor_start': procid.start_time(os.getpid()),
                 'pids': [proc.pid for proc in procs], 'children': children, 'timeout_s': timeout_s,
                 'guarded': guard_fd is not None, 'ready': ready, 'running': True,
                 'started': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}
        _write_json(state_path, state)
        os.write(ready_fd, (json.dumps(state) + '\n').encode())
        os.close(ready_fd)
        watched = [wake_r] + child_fds + ([guard_fd] if guard_fd is not None else [])
        reason = None
        while reason is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                reason = 'timeout'
                break
            try:
                readable, _w, _x = select.select(watched, [], [], remaining)
            except InterruptedError:
                continue
            if guard_fd is not None and guard_fd in readable:
                reason = 'run ended'
            elif any(fd in readable for fd in child_fds):
                reason = 'child exited'
            elif wake_r in readable:
                reason = 'stopped'
        cpu = [proc_cpu_seconds(proc.pid) for proc in procs]
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        state.update(running=False, stopped_by=reason, rcs=[proc.returncode for proc in procs], cpu_s=cpu)
        if reason == 'stopped':
            _write_json(state_path, state)
        else:
            # nobody will ask: leave the outputs, not a state that looks running
            try:
                os.unlink(state_path)
            except OSError:
                pass
    except Exception as e:  # pylint: disable=broad-except
        code = 1
        try:
            os.write(ready_fd, (json.dumps({'error': str(e)}) + '\n').encode())
        except OSError:
            pass
    os._exit(code)


def start(children, state_path, timeout_s, guard):
    """Start the detached supervisor; returns its state (or {'error': ...}) once its children are at work."""
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            os.close(ready_r)
            os.setsid()
            if os.fork() != 0:
                os._exit(0)
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            os.closerange(3, ready_w)
            os.closerange(ready_w + 1, 1024)
            supervise(children, state_path, timeout_s, guard, ready_w)
        finally:
            os._exit(1)
    os.close(ready_w)
    os.waitpid(pid, 0)
    chunks = []
    limit = time.monotonic() + 10
    while time.monotonic() < limit:
        readable, _w, _x = select.select([ready_r], [], [], max(0.0, limit - time.monotonic()))
        if not readable:
            break
        data = os.read(ready_r, 65536)
        if not data:
            break
        chunks.append(data)
    os.close(ready_r)
    try:
        return json.loads(b''.join(chunks).decode() or '{}') or {'error': 'the supervisor did not report'}
    except ValueError:
        return {'error': 'the supervisor did not report'}


def stop(state, wait_s=5.0):
    """Stop a supervisor described by its state; returns whether it was running."""
    pid, starttime = state.get('supervisor_pid'), state.get('supervisor_start')
    if not alive(pid, starttime):
        return False
    try:
        fd = os.pidfd_open(pid)
    except OSError as e:
        if e.errno == errno.ESRCH:
            return False
        raise
    try:
        os.kill(pid, signal.SIGTERM)
        select.select([fd], [], [], wait_s)
    finally:
        os.close(fd)
    return True
