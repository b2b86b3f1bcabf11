# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The lease of a lab: one run at a time, and nothing left behind a run that dies.

A run (perf.yml, provision.yml, teardown.yml) takes a lease on its lab (the
lab prefix) and on its results directory: an exclusive flock() on
``<lock_dir>/lab-<prefix>.lock`` and ``<lock_dir>/results-<hash>.lock``. The
lock files hold who holds them (the ansible-playbook pid and its kernel start
time, the run id, the start time) and what the lab was when the run began
(the lab's namespaces, the supervised processes running): that is the run's
ownership marker.

The locks are held by a guardian: a small detached process forked by the
module that takes the lease. It watches the ansible-playbook process through
a pidfd. The playbook's last step releases the lease (SIGUSR1: the guardian
removes the lock files and exits). When ansible-playbook ends without
releasing it (Ctrl-C, SIGTERM, SIGKILL, every host failed, an error), the
guardian removes what the run created -- the lab's namespaces that did not
exist when the lease was taken (with their processes and files), the
supervised processes started since, a run directory without summary.json --
and then the lock files. SIGUSR2 asks it to do that at once (the
perf_progress callback does, when the playbook ends, so that ansible-playbook
exits after the cleanup). SIGTERM makes it exit leaving its marker.

A lock whose file is not locked and whose holder is dead is stale: the next
run takes it over and inherits its marker (the namespaces the dead run
created are not taken for a lab that existed before).

Everything the guardian needs is imported here, at import time: it runs after
the module's own files are gone.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import hashlib
import json
import os
import select
import shutil
import signal
import socket
import stat
import time

from ansible_collections.mptcp.lab.plugins.module_utils.lab import lab_netlink as nl
from ansible_collections.mptcp.lab.plugins.module_utils.lab import lab_user_record
from ansible_collections.mptcp.lab.plugins.module_utils.process import proc_identity as procid

LOCK_DIR = '/run/mptcp-lab/locks'
RUN_DIR = '/run/mptcp-lab'
USER_RECORD_DIR = '/var/lib/mptcp-lab'
ABORT_ACTIONS = ('remove_created', 'release_only')
RELEASE_SIGNAL = signal.SIGUSR1      # the run ended well: remove the locks, keep everything
CLEANUP_SIGNAL = signal.SIGUSR2      # the run ended without releasing: remove what it created
KILL_TIMEOUT_S = 3.0


class LeaseError(Exception):
    """Bad state or bad input; the text names the file, the rule and the value."""


class LeaseBusy(LeaseError):
    """The lab or the results directory is held by another live run."""


# ---------------------------------------------------------------- processes

# A recorded pid is trusted while its kernel start time matches (None when gone or a zombie).
proc_start = procid.start_time
proc_alive = procid.same_process


def _cmdline(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            return [a.decode('utf-8', 'replace') for a in f.read().split(b'\0') if a]
    except (IOError, OSError):
        return []


def is_playbook_cmdline(argv):
    """True for ansible-playbook itself or a Python running it (its workers are forks: the same argv)."""
    return any(os.path.basename(a) == 'ansible-playbook' for a in argv[:2])


def find_playbook(pid=None):
    """(pid, start) of the ansible-playbook process this one runs under: the topmost one up the parent chain."""
    pid = pid or os.getpid()
    found = None
    seen = set()
    while pid and pid > 1 and pid not in seen:
        seen.add(pid)
        if is_playbook_cmdline(_cmdline(pid)):
            found = pid
        pid = procid.parent_pid(pid)
    if found is None:
        return None
    return found, proc_start(found)


# ---------------------------------------------------------------- files

def check_dir(path, mode):
    """Create ``path`` (mode) if missing; refuse anything but a directory of ours that others cannot write."""
    try:
        os.mkdir(path, mode)
    except OSError as exc:
        if exc.errno != errno.EEXIST:
            raise LeaseError('%s: cannot create it: %s' % (path, exc.strerror))
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise LeaseError('%s: must be a directory (not a symbolic link or a file)' % path)
    if st.st_uid != os.geteuid():
        raise LeaseError('%s: must be owned by uid %d, is owned by uid %d' % (path, os.geteuid(), st.st_uid))
    if st.st_mode & 0o022:
        raise LeaseError('%s: must not be writable by group or others (mode %04o)' % (path, stat.S_IMODE(st.st_mode)))


def lock_name(kind, key):
    if kind == 'lab':
        return 'lab-%s.lock' % key
    return 'results-%s.lock' % hashlib.sha256(key.encode('utf-8')).hexdigest()[:16]


def _check_fd(fd, path):
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_nlink != 1:
        raise LeaseError('%s: must be a regular file of uid %d with one link' % (path, os.geteuid()))


def _read_fd(fd):
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    return b''.join(chunks)


def parse_holder(data):
    try:
        holder = json.loads(data.decode('utf-8'))
    except (ValueError, UnicodeDecodeError):
        return None
    return holder if isinstance(holder, dict) else None


def write_holder(fd, holder):
    data = json.dumps(holder, sort_keys=True).encode('utf-8')
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, data)


def open_lock(path):
    """Open and try to flock ``path``: (fd, True) when locked by us, (fd, False) when another holds it.

    A lock file removed or replaced between open() and flock() (its holder released it) is opened again.
    """
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            if exc.errno == errno.ENOENT:       # the directory was removed meanwhile
                check_dir(os.path.dirname(path), 0o700)
                continue
            raise LeaseError('%s: cannot open it: %s' % (path, exc.strerror))
        try:
            _check_fd(fd, path)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                locked = True
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EWOULDBLOCK):
                    raise
                locked = False
            try:
                same = os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
        except BaseException:
            os.close(fd)
            raise
        if same:
            return fd, locked
        os.close(fd)


def read_holder(fd, attempts=20):
    """The holder record of a lock file another process holds (it may be writing it: retried briefly)."""
    for dummy in range(attempts):
        holder = parse_holder(_read_fd(fd))
        if holder is not None:
            return holder
        time.sleep(0.05)
    return {}


def describe(holder):
    """The holder, as a person reads it: 'ansible-playbook pid 42 (perf run R, started T on host)'."""
    if not holder:
        return 'an unknown holder (its lock file is unreadable)'
    what = [holder.get('purpose') or 'run']
    if holder.get('run_id'):
        what.append('run %s' % holder['run_id'])
    return 'ansible-playbook pid %s (%s, started %s on %s)' % (
        holder.get('pid'), ' '.join(what), holder.get('started', '?'), holder.get('host', '?'))


def unlink_if_same(path, fd):
    """Remove the lock file ``path`` if it is still the file open as ``fd``."""
    try:
        if os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino:
            os.unlink(path)
    except FileNotFoundError:
        pass


def remove_lock_dir(lock_dir):
    try:
        os.rmdir(lock_dir)
    except OSError:
        pass  # not empty (another run's lock) or gone


# ---------------------------------------------------------------- the lab's state

def lab_namespaces(prefix):
    """(live, stale) names under /run/netns that start with '<prefix>-'."""
    live, stale = [], []
    for name in nl.list_netns():
        if name.startswith(prefix + '-'):
            (live if nl.netns_is_live(name) else stale).append(name)
    return live, stale


def _regular_files(run_dir, prefix):
    try:
        entries = sorted(os.listdir(run_dir))
    except OSError:
        return []
    out = []
    for entry in entries:
        if entry.startswith(prefix + '-'):
            try:
                if stat.S_ISREG(os.lstat(os.path.join(run_dir, entry)).st_mode):
                    out.append(entry)
            except OSError:
                continue
    return out


def lab_daemons(run_dir, prefix):
    """{name: [pid, start]} of the running supervised processes of the lab
    (mptcp.lab.supervised_process state files)."""
    out = {}
    for entry in _regular_files(run_dir, prefix):
        if not entry.endswith('.json'):
            continue
        try:
            with open(os.path.join(run_dir, entry)) as f:
                rec = json.load(f)
        except (IOError, OSError, ValueError):
            continue
        if not isinstance(rec, dict):
            continue
        try:
            start = int(rec.get('starttime'))     # supervised_process records it as text
        except (TypeError, ValueError):
            continue
        if proc_alive(rec.get('pid'), start):
            out[entry[:-len('.json')]] = [rec['pid'], start]
    return out


def files_of(files, prefix, removed, whole_lab):
    """The run files that go with the removed namespaces: all '<prefix>-*' when the whole lab goes."""
    if whole_lab:
        return [f for f in files if f.startswith(prefix + '-')]
    out = []
    for name in files:
        owner = next((ns for ns in sorted(removed, key=len, reverse=True) if name.startswith(ns + '-')), None)
        if owner:
            out.append(name)
    return out


def created_by_run(lab, live):
    """The live namespaces the run owns: those that did not exist when it took the lease (none when it keeps the lab)."""
    if lab.get('keep'):
        return []
    existing = set(lab.get('existing') or [])
    return [n for n in live if n not in existing]


# ---------------------------------------------------------------- cleanup after an abort

def stop_process_group(pid, start, timeout=KILL_TIMEOUT_S):
    """SIGTERM, then SIGKILL, a supervised process and its group, only while it is the same process."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 2.0)):
        if not proc_alive(pid, start):
            return True
        try:
            fd = os.pidfd_open(pid)
        except OSError:
            return True
        try:
            if proc_start(pid) != start:
                return True
            try:
                os.killpg(pid, sig)      # the daemon leads its session: its children go too
            except OSError:
                pass
            signal.pidfd_send_signal(fd, sig)
            select.select([fd], [], [], wait)
        except OSError:
            pass
        finally:
            os.close(fd)
    return not proc_alive(pid, start)


def abort_cleanup(holder, run_dir, lock_dir=LOCK_DIR):
    """Remove what the run of ``holder`` created; returns (actions, errors)."""
    actions, errors = [], []
    lab = holder.get('lab') or {}
    if holder.get('on_abort') == 'remove_created' and lab.get('virtual'):
        prefix = lab['prefix']
        before = dict((k, v) for k, v in (lab.get('daemons') or {}).items())
        # 1. the supervised processes the run started (the traffic sink's servers)
        for name, ident in sorted(lab_daemons(run_dir, prefix).items()):
            if before.get(name) == ident:
                continue
            if stop_process_group(ident[0], ident[1]):
                actions.append('stop %s (pid %d)' % (name, ident[0]))
                for ext in ('.pid', '.json'):
                    try:
                        os.unlink(os.path.join(run_dir, name + ext))
                    except OSError:
                        pass
            else:
                errors.append('%s (pid %d) survived SIGKILL' % (name, ident[0]))
        # 2. the namespaces it created, with their processes, links and files
        try:
            live, stale = lab_namespaces(prefix)
            remove = created_by_run(lab, live)
            whole = not lab.get('keep') and not [n for n in live if n not in remove]
            if remove:
                nl.kill_netns_pids(remove, KILL_TIMEOUT_S)
            for name in remove:
                # as netns_wiring: when the whole lab goes, its links go with the namespaces (in one batch)
                if not whole:
                    try:
                        with nl.open_netns(name) as ipr:
                            for link, info in sorted(nl.links(ipr).items()):
                                if link.startswith(prefix + '-'):
                                    nl.delete_link(ipr, info['index'], '%s/%s' % (name, link))
                    except (nl.LabNetlinkError, nl.NetlinkError, OSError):
                        pass  # the namespace goes anyway, and its links with it
                nl.delete_netns(name)
                actions.append('remove namespace %s' % name)
            for name in stale:
                if name not in (lab.get('existing') or []):
                    nl.delete_netns(name)
                    actions.append('remove stale entry %s' % nl.netns_path(name))
            for name in files_of(_regular_files(run_dir, prefix), prefix, remove, whole and bool(remove)):
                try:
                    os.unlink(os.path.join(run_dir, name))
                    actions.append('remove %s' % os.path.join(run_dir, name))
                except FileNotFoundError:
                    pass
        except (nl.LabNetlinkError, nl.NetlinkError, OSError) as exc:
            errors.append('lab %s: %s' % (prefix, exc))
        # 3. the lab is gone: it no longer holds the sink's user (mptcp.lab.lab_user), which goes with
        # its last holder when the lab created it (as at the end of a run that tore its lab down)
        if not errors and not lab_user_record.netns_of(prefix, nl.NETNS_RUN_DIR):
            done, failed = lab_user_record.drop_lab(lab.get('user_record_dir') or USER_RECORD_DIR, prefix,
                                                    lock_dir, nl.NETNS_RUN_DIR)
            actions.extend(done)
            errors.extend(failed)
    results = holder.get('results') or {}
    run_path = results.get('run_path')
    if holder.get('on_abort') == 'remove_created' and run_path and not results.get('run_existed'):
        if os.path.isdir(run_path) and not os.path.islink(run_path) \
                and not os.path.exists(os.path.join(run_path, 'summary.json')):
            try:
                shutil.rmtree(run_path)
                actions.append('remove %s (no summary.json)' % run_path)
            except OSError as exc:
                errors.append('%s: %s' % (run_path, exc.strerror))
    return actions, errors


# ---------------------------------------------------------------- the guardian

def _close_fds(keep):
    null = os.open('/dev/null', os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    for name in os.listdir('/proc/self/fd'):
        fd = int(name)
        if fd > 2 and fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def _guard(locks, holder, run_dir, lock_dir, ready_fd):
    """The guardian's life: wait for the owner's end or a signal, then release or clean up. Never returns."""
    code = 0
    holder['guardian'], holder['guardian_start'] = os.getpid(), proc_start(os.getpid())
    try:
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            owner = os.pidfd_open(holder['pid'])
        except OSError:
            owner = None
        if owner is not None and proc_start(holder['pid']) != holder['pid_start']:
            os.close(owner)
            owner = None
        _close_fds(set(fd for fd, dummy in locks) | set([wake_r, wake_w, ready_fd] + ([owner] if owner else [])))
        os.chdir('/')
        os.umask(0o022)
        for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_IGN)
        for sig in (RELEASE_SIGNAL, CLEANUP_SIGNAL, signal.SIGTERM):
            signal.signal(sig, lambda *args: None)
        signal.set_wakeup_fd(wake_w)
        os.write(ready_fd, str(os.getpid()).encode())
        os.close(ready_fd)
        event = 'abort' if owner is None else None
        poller = select.poll()
        if owner is not None:
            poller.register(owner, select.POLLIN)
        poller.register(wake_r, select.POLLIN)
        while event is None:
            for fd, dummy in poller.poll():
                if fd == owner:
                    event = 'abort'
                    break
                for num in os.read(wake_r, 64):
                    if num == RELEASE_SIGNAL:
                        event = 'release'
                    elif num == CLEANUP_SIGNAL:
                        event = event or 'abort'
                    elif num == signal.SIGTERM:
                        event = event or 'leave'
        if event == 'leave':
            os._exit(0)
        if event == 'abort':
            holder['state'] = 'cleaning up'
            for fd, dummy in locks:
                write_holder(fd, holder)
            actions, errors = abort_cleanup(holder, run_dir, lock_dir)
            if errors:
                holder.update(state='cleanup failed', cleanup_errors=errors, cleanup_actions=actions)
                for fd, dummy in locks:
                    write_holder(fd, holder)
                os._exit(1)
        for fd, path in locks:
            unlink_if_same(path, fd)
        remove_lock_dir(lock_dir)
    except BaseException:  # pylint: disable=broad-except
        code = 2
    os._exit(code)


def spawn_guardian(locks, holder, run_dir, lock_dir):
    """Double-fork the guardian (its own session, no descriptor of ours but the locks); returns its (pid, start)."""
    ready_r, ready_w = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.close(ready_r)
            os.setsid()
            if os.fork() == 0:
                _guard(locks, holder, run_dir, lock_dir, ready_w)
        finally:
            os._exit(0)
    os.close(ready_w)
    os.waitpid(child, 0)
    data = b''
    while True:
        chunk = os.read(ready_r, 32)
        if not chunk:
            break
        data += chunk
    os.close(ready_r)
    if not data:
        raise LeaseError('the guardian of the lease did not start')
    pid = int(data)
    return pid, proc_start(pid)


def signal_guardian(holder, sig, timeout):
    """Send ``sig`` to the holder's guardian and wait for its exit; False when it was not running."""
    pid, start = holder.get('guardian'), holder.get('guardian_start')
    if not proc_alive(pid, start):
        return False
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return False
    try:
        if proc_start(pid) != start:
            return False
        signal.pidfd_send_signal(fd, sig)
        ready, dummy, dummy2 = select.select([fd], [], [], timeout)
        if not ready:
            raise LeaseError('the guardian of the lease (pid %d) did not end within %ss' % (pid, timeout))
    finally:
        os.close(fd)
    return True


# ---------------------------------------------------------------- acquire and release

def _now_iso():
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())


def lock_paths(lock_dir, prefix, results_dir):
    paths = [('lab', prefix, os.path.join(lock_dir, lock_name('lab', prefix)))]
    if results_dir:
        paths.append(('results', results_dir, os.path.join(lock_dir, lock_name('results', results_dir))))
    return paths


def acquire(params, owner, check_mode=False):
    """Take the lease (or find it held by this very run); returns the result dict. Raises LeaseBusy/LeaseError.

    Never ``changed``: the lease is the run's own bookkeeping, gone when the run ends, so that a playbook run
    twice still reports changed=0 the second time.
    """
    lock_dir, run_dir, prefix = params['lock_dir'], params['run_dir'], params['prefix']
    results_dir = os.path.realpath(params['results_dir']) if params.get('results_dir') else None
    if check_mode:
        for path in (os.path.dirname(lock_dir), lock_dir):
            if os.path.lexists(path):
                check_dir(path, 0o755)
    else:
        check_dir(os.path.dirname(lock_dir), 0o755)
        check_dir(lock_dir, 0o700)
    taken, fresh = [], []
    result = dict(changed=False, acquired=False, reentrant=False, took_over=[], lock_files=[])
    try:
        inherited = {}
        for kind, key, path in lock_paths(lock_dir, prefix, results_dir):
            if check_mode and not os.path.exists(path):
                continue
            fd, locked = open_lock(path)
            taken.append((fd, path))
            old = parse_holder(_read_fd(fd)) if locked else read_holder(fd)
            if locked and not old:
                fresh.append((fd, path))
            if old and old.get('pid') == owner[0] and old.get('pid_start') == owner[1]:
                result.update(reentrant=True, holder=old, lab_existed=_existed(old))
                continue
            if not locked:
                raise LeaseBusy('%s %s is in use by %s: wait for it to end' % (
                    'lab' if kind == 'lab' else 'results directory', key, describe(old)))
            if old:
                if proc_alive(old.get('pid'), old.get('pid_start')):
                    raise LeaseBusy('%s %s is held by %s, whose guardian is gone (%s): wait for it to end' % (
                        'lab' if kind == 'lab' else 'results directory', key, describe(old), path))
                result['took_over'].append(dict(lock=path, holder=old, state=old.get('state', 'held')))
                if kind == 'lab':
                    inherited = old.get('lab') or {}
        if result['reentrant']:
            return result
        live, dummy = lab_namespaces(prefix) if params.get('virtual', True) else ([], [])
        # a dead run's marker: the namespaces it created are not a lab that existed before this run
        orphans = created_by_run(inherited, live) if inherited.get('virtual') else []
        existing = sorted(n for n in live if n not in orphans)
        started = time.time()
        holder = dict(
            pid=owner[0], pid_start=owner[1], run_id=params.get('run_id') or '', purpose=params['purpose'],
            started=_now_iso(), started_ts=started, host=socket.gethostname(), state='held',
            on_abort=params['on_abort'],
            lab=dict(prefix=prefix, virtual=params.get('virtual', True), keep=params.get('keep_lab', False),
                     existing=existing, orphans=orphans, daemons=lab_daemons(run_dir, prefix),
                     user_record_dir=params.get('user_record_dir') or USER_RECORD_DIR),
            results=None)
        if results_dir:
            run_path = os.path.join(results_dir, params['run_id']) if params.get('run_id') else None
            holder['results'] = dict(dir=results_dir, run_path=run_path,
                                     run_existed=bool(run_path and os.path.lexists(run_path)))
        files = [path for dummy, dummy2, path in lock_paths(lock_dir, prefix, results_dir)]
        result.update(acquired=not check_mode, holder=holder, lab_existed=bool(existing),
                      existing=existing, orphans=orphans, lock_files=files)
        if check_mode:
            return result
        for fd, dummy in taken:
            write_holder(fd, holder)
        holder['guardian'], holder['guardian_start'] = spawn_guardian(taken, dict(holder), run_dir, lock_dir)
        for fd, dummy in taken:
            write_holder(fd, holder)
        result['holder'] = holder
        fresh = []
        return result
    finally:
        # refused or failed: the lock files this call created go again (a stale holder's stay, as markers)
        for fd, path in fresh:
            unlink_if_same(path, fd)
        for fd, dummy in taken:
            os.close(fd)
        if fresh and not check_mode:
            remove_lock_dir(lock_dir)


def _existed(holder):
    lab = holder.get('lab') or {}
    return bool(lab.get('existing'))


def release(params, owner, check_mode=False):
    """Release the lease this run holds: the guardian removes the lock files and exits, nothing else changes."""
    lock_dir, prefix = params['lock_dir'], params['prefix']
    path = os.path.join(lock_dir, lock_name('lab', prefix))
    result = dict(changed=False, released=[])
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return result
    except OSError as exc:
        raise LeaseError('%s: cannot open it: %s' % (path, exc.strerror))
    try:
        _check_fd(fd, path)
        holder = parse_holder(_read_fd(fd)) or {}
        if holder.get('pid') != owner[0] or holder.get('pid_start') != owner[1]:
            raise LeaseBusy('lab %s is held by %s, not by this run: not released' % (prefix, describe(holder)))
        results_dir = (holder.get('results') or {}).get('dir')
        result['released'] = [lock for dummy, dummy2, lock in lock_paths(lock_dir, prefix, results_dir)]
        if check_mode:
            return result
        if not signal_guardian(holder, RELEASE_SIGNAL, params.get('timeout', 30)):
            # the guardian is gone: release the files ourselves, under their locks
            for dummy, dummy2, lock in lock_paths(lock_dir, prefix, results_dir):
                try:
                    lfd, locked = open_lock(lock)
                except LeaseError:
                    continue
                try:
                    mine = parse_holder(_read_fd(lfd)) or {}
                    if locked and (not mine or (mine.get('pid'), mine.get('pid_start')) == tuple(owner)):
                        unlink_if_same(lock, lfd)
                finally:
                    os.close(lfd)
            remove_lock_dir(lock_dir)
        return result
    finally:
        os.close(fd)


def held_by(lock_dir, owner):
    """The holder records of the lock files in lock_dir held by ``owner`` (pid, start)."""
    out = []
    try:
        names = sorted(os.listdir(lock_dir))
    except OSError:
        return out
    for name in names:
        if not name.endswith('.lock'):
            continue
        try:
            fd = os.open(os.path.join(lock_dir, name), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            holder = parse_holder(_read_fd(fd))
        finally:
            os.close(fd)
        if holder and holder.get('pid') == owner[0] and holder.get('pid_start') == owner[1]:
            out.append(holder)
    return out
