# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""A long-running process supervised without systemd: pidfile, state file and log.

Used by mptcp.lab.supervised_process. A process is started detached (its
own session, stdin from /dev/null, output appended to its log), optionally
with dropped privileges (uid/gid, no supplementary groups, only the kept
capabilities, no_new_privs), and recorded in ``<run_dir>/<name>.json`` and
``<run_dir>/<name>.pid``. A recorded pid is only trusted while the kernel
start time of the process matches the recorded one, so a recycled pid is
never signalled. Readiness is a TCP listening socket owned by the process or
one of its descendants, read from /proc.

Other readers of the state files (lab_lease, the traffic sink's stats
responder) rely on their name and content: keep both as they are.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import grp
import json
import os
import pwd
import signal
import time

from ansible_collections.mptcp.lab.plugins.module_utils.process import proc_identity as procid
from ansible_collections.mptcp.lab.plugins.module_utils.process import safe_files

POLL_S = 0.01
PR_SET_NO_NEW_PRIVS = 38
PR_CAPBSET_DROP = 24
PR_SET_KEEPCAPS = 8
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
CAPS = dict(net_bind_service=10, net_admin=12, net_raw=13)
TCP_LISTEN = '0A'
_PROC = '/proc'
SAFE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'


# ---------------------------------------------------------------- pure helpers

def parse_listen_inodes(text, port):
    """Socket inodes of TCP sockets in LISTEN state on ``port``.

    ``text`` is the content of /proc/net/tcp or /proc/net/tcp6.
    """
    inodes = set()
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10:
            continue
        local, state, inode = fields[1], fields[3], fields[9]
        try:
            lport = int(local.rsplit(':', 1)[1], 16)
        except (IndexError, ValueError):
            continue
        if state == TCP_LISTEN and lport == port:
            inodes.add(inode)
    return inodes


def restart_reason(recorded, wanted):
    """Why a process started as ``recorded`` must restart to become ``wanted``.

    Both are dicts with argv, env, config_checksum, uid and gid; returns None
    when nothing relevant differs. A checksum of None in ``wanted`` means the
    caller does not track one, so it is not compared. A uid/gid of None means
    "as the module's user" (records written before user existed have none).
    """
    if recorded.get('argv') != wanted['argv']:
        return 'argv changed'
    if (recorded.get('env') or {}) != (wanted.get('env') or {}):
        return 'env changed'
    if (recorded.get('uid'), recorded.get('gid')) != (wanted.get('uid'), wanted.get('gid')):
        return 'user changed'
    if sorted(recorded.get('capabilities') or []) != sorted(wanted.get('capabilities') or []):
        return 'capabilities changed'
    if wanted.get('config_checksum') is not None and \
            recorded.get('config_checksum') != wanted['config_checksum']:
        return 'config_checksum changed'
    return None


def _lookup(field, value, by_name, by_id, what):
    """The database entry of ``value`` (a name or a numeric id), or ValueError."""
    try:
        return by_id(int(value)) if value.isdigit() else by_name(value)
    except (KeyError, OverflowError, ValueError):
        raise ValueError('%s: no %s %r on this host (name or numeric id of an existing %s)'
                         % (field, what, value, what))


def resolve_credentials(user, group):
    """Credentials for ``user``/``group`` (names or numeric ids).

    Returns None when ``user`` is not set, else a dict with user, uid, group,
    gid and home. Raises ValueError naming the field when a value does not
    exist, or when group is set without user.
    """
    if not user:
        if group:
            raise ValueError('group: needs user (the group a dropped-privilege process runs as)')
        return None
    pw = _lookup('user', user, pwd.getpwnam, pwd.getpwuid, 'user')
    gr = _lookup('group', group, grp.getgrnam, grp.getgrgid, 'group') if group else None
    gid = gr.gr_gid if gr else pw.pw_gid
    if gr is None:
        try:
            gname = grp.getgrgid(gid).gr_name
        except KeyError:
            gname = str(gid)
    else:
        gname = gr.gr_name
    return dict(user=pw.pw_name, uid=pw.pw_uid, group=gname, gid=gid, home=pw.pw_dir)


def _prctl(option, arg, arg2=0):
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, arg, arg2, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, 'prctl(%d, %d): %s' % (option, arg, os.strerror(err)))


def _capset(mask):
    """Set the permitted, effective and inheritable sets of this thread to mask."""
    import ctypes

    class Header(ctypes.Structure):
        _fields_ = [('version', ctypes.c_uint32), ('pid', ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [('effective', ctypes.c_uint32), ('permitted', ctypes.c_uint32),
                    ('inheritable', ctypes.c_uint32)]

    data = (Data * 2)()
    for i in (0, 1):
        word = (mask >> (32 * i)) & 0xffffffff
        data[i].effective = data[i].permitted = data[i].inheritable = word
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.capset(ctypes.byref(Header(0x20080522, 0)), data) != 0:
        err = ctypes.get_errno()
        raise OSError(err, 'capset: %s' % os.strerror(err))


def drop_privileges(uid, gid, capabilities=()):
    """In a child about to exec: become uid/gid with no way back to privilege.

    No supplementary groups, a capability bounding set with only
    ``capabilities``, real, effective and saved ids set (the kernel then
    clears the permitted, effective and ambient capabilities; the kept ones
    are set again and made ambient, so they survive exec), and no_new_privs
    (setuid bits and file capabilities are ignored by exec).
    """
    keep = set(CAPS[c] for c in capabilities)
    os.setgroups([])
    if os.geteuid() == 0:
        try:
            last_cap = int(_read('/proc/sys/kernel/cap_last_cap'))
        except (IOError, OSError, ValueError):
            last_cap = 63
        for cap in range(last_cap + 1):
            if cap in keep:
                continue
            try:
                _prctl(PR_CAPBSET_DROP, cap)
            except OSError as e:
                if e.errno != errno.EINVAL:   # a capability this kernel lacks
                    raise
    if keep:
        _prctl(PR_SET_KEEPCAPS, 1)
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if uid != 0 and 0 in os.getresuid():
        raise OSError(errno.EPERM, 'uid 0 still held after setresuid')
    if keep:
        _capset(sum(1 << c for c in keep))
        for cap in sorted(keep):
            _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap)
    _prctl(PR_SET_NO_NEW_PRIVS, 1)


# ---------------------------------------------------------------- process state

def _read(path):
    with open(path) as f:
        return f.read()


def proc_identity(pid):
    """(state, starttime) of a live pid, or None when it does not exist.

    The start time is text: the state files keep it so (their other readers rely on it).
    """
    fields = procid.read_stat(pid, _PROC)
    return None if fields is None else (fields[procid.STATE], fields[procid.STARTTIME])


def is_alive(pid, starttime=None):
    """True when ``pid`` exists, is not a zombie and (if given) matches starttime."""
    ident = proc_identity(pid)
    if ident is None or ident[0] in procid.ZOMBIE_STATES:
        return False
    return starttime is None or ident[1] == starttime


def netns_id():
    """Inode of the network namespace the module runs in."""
    return os.stat('/proc/self/ns/net').st_ino


def descendants(pid):
    """pid and all its descendants (via /proc/<pid>/task/*/children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            tasks = os.listdir('%s/%d/task' % (_PROC, p))
        except OSError:
            continue
        for t in tasks:
            try:
                todo.extend(int(c) for c in _read('%s/%d/task/%s/children' % (_PROC, p, t)).split())
            except (IOError, OSError, ValueError):
                pass
    return out


def socket_inodes(pids):
    """Socket inodes held open by any of ``pids``."""
    inodes = set()
    for pid in pids:
        fd_dir = '%s/%d/fd' % (_PROC, pid)
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if target.startswith('socket:['):
                inodes.add(target[8:-1])
    return inodes


def listening(pid, port):
    """True when pid (or a descendant) owns a TCP listening socket on port."""
    wanted = set()
    for name in ('tcp', 'tcp6'):
        try:
            wanted |= parse_listen_inodes(_read('%s/net/%s' % (_PROC, name)), port)
        except (IOError, OSError):
            pass
    if not wanted:
        return False
    return bool(wanted & socket_inodes(descendants(pid)))


def spawn_detached(argv, env, log_fd, creds=None):
    """Fork and exec argv in a new session; stdin /dev/null, output to log_fd.

    Returns the child's pid. The child keeps no other descriptor of ours, so
    whoever runs the module (a connection plugin reading our stdout) never
    waits for the daemon. With ``creds`` (resolve_credentials), the child
    drops its privileges right before exec; a failure ends it (exit 127) with
    the reason in the log.
    """
    pid = os.fork()
    if pid:
        return pid
    # In the child: never return into the module's code.
    try:
        os.setsid()
        null = os.open('/dev/null', os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.closerange(3, 65536)
        os.chdir('/')
        if creds:
            drop_privileges(creds['uid'], creds['gid'], creds.get('capabilities') or ())
        os.execve(argv[0], argv, env)
    except BaseException as e:  # pylint: disable=broad-except
        try:
            os.write(2, ('cannot execute %s: %s\n' % (argv[0], e)).encode())
        finally:
            os._exit(127)
    return None  # not reached


def reap(pid):
    """Exit code of our child ``pid`` if it has ended (reaping it), else None."""
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except OSError:
        return -1
    if not done:
        return None
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else -1


class Daemon(object):
    """One supervised process: its files, recorded state and life cycle.

    Its files live in checked directories (plugins/module_utils/safe_files):
    root's, not writable by group or others, never through a symlink.
    """

    def __init__(self, name, run_dir, log_file=None):
        self.name = name
        self.run_dir = os.path.abspath(run_dir)
        self.pidfile = os.path.join(self.run_dir, name + '.pid')
        self.statefile = os.path.join(self.run_dir, name + '.json')
        self.log_file = os.path.abspath(log_file) if log_file else os.path.join(self.run_dir, name + '.log')
        self.log_dir, self.log_name = safe_files.split(self.log_file)

    def check_dirs(self):
        """Refuse (UnsafePath) an existing run or log directory that another user could change."""
        for path in (self.run_dir, self.log_dir):
            if os.path.lexists(path):
                safe_files.SafeDir(path).close()

    def recorded(self):
        """The state file's content, or {} (missing or not JSON); UnsafePath for a symlink."""
        if not os.path.lexists(self.run_dir):
            return {}
        with safe_files.SafeDir(self.run_dir) as d:
            raw = d.read(self.name + '.json')
        try:
            data = json.loads(raw.decode('utf-8')) if raw is not None else {}
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def current(self):
        """Recorded state if its process still runs, else None."""
        rec = self.recorded()
        pid = rec.get('pid')
        if not isinstance(pid, int) or not is_alive(pid, rec.get('starttime')):
            return None
        return rec

    def _write_state(self, rec):
        with safe_files.SafeDir(self.run_dir, create=True) as d:
            d.write(self.name + '.json', json.dumps(rec, sort_keys=True))
            d.write(self.name + '.pid', '%d\n' % rec['pid'])

    def clear(self):
        if not os.path.lexists(self.run_dir):
            return
        with safe_files.SafeDir(self.run_dir) as d:
            d.unlink(self.name + '.pid')
            d.unlink(self.name + '.json')

    def log_tail(self, limit=2000):
        try:
            with safe_files.SafeDir(self.log_dir) as d:
                data = d.read(self.log_name) or b''
        except (IOError, OSError, safe_files.UnsafePath):
            return ''
        return data[-limit:].decode('utf-8', 'replace')

    def start(self, argv, env, config_checksum, wait_for_port, timeout, creds=None):
        """Start the process detached; returns (rec, error or None)."""
        # A dropped-privilege process starts from a fixed, minimal
        # environment: nothing of the connecting user's leaks into it.
        full_env = dict(PATH=SAFE_PATH) if creds else dict(os.environ)
        full_env.update(env)
        full_env['LC_ALL'] = 'C'
        if creds:
            full_env.update(HOME=creds['home'], USER=creds['user'], LOGNAME=creds['user'])
        safe_files.SafeDir(self.run_dir, create=True).close()
        with safe_files.SafeDir(self.log_dir, create=True) as d:
            log_fd = d.open_append(self.log_name)
        try:
            banner = '--- %s start: %s\n' % (time.strftime('%Y-%m-%dT%H:%M:%S'), json.dumps(argv))
            os.write(log_fd, banner.encode())
            pid = spawn_detached(argv, full_env, log_fd, creds)
        finally:
            os.close(log_fd)
        ident = proc_identity(pid)
        rec = dict(pid=pid, starttime=ident[1] if ident else None, argv=argv,
                   env=env, config_checksum=config_checksum, netns=netns_id(),
                   started=time.time())
        if creds:
            rec.update((k, creds[k]) for k in ('user', 'uid', 'group', 'gid', 'capabilities'))
        self._write_state(rec)
        deadline = time.monotonic() + timeout
        while True:
            code = reap(pid)
            if code is not None:
                self.clear()
                return rec, 'process exited with code %s before it was ready' % code
            if wait_for_port is None or listening(pid, wait_for_port):
                return rec, None
            if time.monotonic() > deadline:
                return rec, 'process did not listen on TCP port %d within %ss' % (wait_for_port, timeout)
            time.sleep(POLL_S)

    def stop(self, rec, timeout):
        """Stop a running process: SIGTERM, then SIGKILL; returns error or None."""
        pid, starttime = rec['pid'], rec.get('starttime')
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5)):
            try:
                # The process leads its own session: signal the whole group so
                # wrappers (e.g. mptcpize, shells) and their children go too.
                os.killpg(pid, sig)
            except OSError:
                try:
                    os.kill(pid, sig)
                except OSError:
                    pass
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                if not is_alive(pid, starttime):
                    self.clear()
                    return None
                time.sleep(POLL_S)
        return 'pid %d did not exit after SIGTERM and SIGKILL' % pid
