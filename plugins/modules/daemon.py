#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: daemon
short_description: Supervise a long-running process without systemd
version_added: 0.1.0
description:
  - Starts, stops, restarts or reports a long-running process, tracked by a
    pidfile and a small state file in O(run_dir).
  - Works where no service manager runs, for example in a network namespace
    host of the virtual lab, and on real hosts alike.
  - The process is detached (new session, stdin from C(/dev/null), output to
    O(log_file)) and inherits the network namespace the module runs in.
  - A running process is restarted when O(argv), O(env), O(config_checksum)
    or the user and group it runs as (O(user), O(group)) differ from the ones
    it was started with.
  - With O(user), the process runs with dropped privileges (see O(user)),
    while the pidfile, state file and log file stay owned by the user that
    runs the module.
  - Readiness is a condition, not a delay; with O(wait_for_port) the module
    returns once the process (or one of its children) owns a listening TCP
    socket on that port, and fails with the log tail if the process exits first.
  - A pid is only trusted when the kernel start time of the process matches
    the one recorded at start, so a recycled pid is never signalled.
options:
  name:
    description:
      - Identifier of the process; names the pidfile C(<run_dir>/<name>.pid),
        the state file and the default log file.
      - Must be unique per host. Network namespaces on one machine share the
        file system, so include the host name when several namespace hosts run
        the same program; the module refuses to manage a process that runs in
        another network namespace.
    type: str
    required: true
  argv:
    description:
      - Command and arguments, as a list (never a shell string).
      - The command is looked up in PATH when it has no slash.
      - Required when O(state) is V(started) or V(restarted).
    type: list
    elements: str
  env:
    description:
      - Extra environment variables for the process. C(LC_ALL=C) is always set.
      - Without O(user) the process inherits the module's environment; with
        O(user) it gets only a fixed minimal one (see O(user)) and these.
    type: dict
    default: {}
  user:
    description:
      - Run the process as this user (a name or a numeric uid), which must
        exist on the host.
      - The process gets the user's uid as real, effective and saved uid, the
        gid of O(group) as real, effective and saved gid, no supplementary
        groups, an empty capability bounding set, no capabilities, and the
        C(no_new_privs) flag, so neither setuid programs nor file capabilities
        give privileges back (as C(setpriv --reuid --regid --clear-groups
        --bounding-set=-all --no-new-privs) would). This is done in the forked
        child right before C(exec).
      - The process starts from a minimal environment, not the module's, made of
        C(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin),
        C(LC_ALL=C), C(HOME), C(USER) and C(LOGNAME) (the user's), and O(env).
      - The command and the files it reads must be accessible to that user; the
        log file is opened by the module and only inherited as a descriptor.
      - Part of the process's identity, so a change restarts it.
      - Unset, the process runs as the user that runs the module.
      - Only used when O(state) is V(started) or V(restarted).
    type: str
  group:
    description:
      - Group (a name or a numeric gid, which must exist) the process runs as
        with O(user); defaults to the user's primary group.
      - Needs O(user). Part of the process's identity, so a change restarts it.
    type: str
  capabilities:
    description:
      - Capabilities the process keeps with O(user) (in its permitted,
        effective, inheritable, ambient and bounding sets); every other one is
        dropped. For example V(net_admin) lets an iperf3 server set a
        congestion control that C(net.ipv4.tcp_allowed_congestion_control)
        does not list.
      - Needs O(user). Part of the process's identity, so a change restarts it.
    type: list
    elements: str
    choices: [net_admin, net_bind_service, net_raw]
    default: []
  state:
    description:
      - V(started) starts the process if it is not running, or restarts it when
        its command, environment or O(config_checksum) changed.
      - V(stopped) stops it (SIGTERM, then SIGKILL after O(timeout)).
      - V(restarted) always (re)starts it.
      - V(status) only reports; it never changes anything.
    type: str
    choices: [started, stopped, restarted, status]
    default: started
  run_dir:
    description:
      - Directory for the pidfile, state file and default log file; created
        (mode 0755) when missing.
      - It and its parents must be owned by root (or the module's user) and
        not writable by group or others (a sticky parent such as C(/tmp) is
        accepted); the module refuses another one, naming the rule. Files
        in it are written to a fresh temporary file and renamed, and never
        opened through a symlink (a planted one is refused, not followed).
        The same holds for the directory of O(log_file).
    type: path
    default: /run/mptcp-lab
  log_file:
    description: File that receives the process's stdout and stderr (appended).
    type: path
  wait_for_port:
    description:
      - TCP port on which the process must listen (in the network namespace of
        the host) before the module returns.
    type: int
  config_checksum:
    description:
      - Opaque string, typically the checksum of the process's configuration
        file; when it differs from the one recorded at start, V(started)
        restarts the process.
    type: str
  timeout:
    description: Seconds to wait for readiness on start, or for exit on stop.
    type: float
    default: 10
author:
  - mptcp.lab developers (@multipath-tcp)
extends_documentation_fragment:
  - mptcp.lab.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
'''

EXAMPLES = r'''
- name: Run an iperf3 server that accepts MPTCP, ready once it listens
  mptcp.lab.daemon:
    name: "{{ inventory_hostname }}-iperf3-5201"
    argv: [mptcpize, run, iperf3, --server, --port, "5201"]
    wait_for_port: 5201

- name: Run an iperf3 server as nobody/nogroup, without privileges
  mptcp.lab.daemon:
    name: "{{ inventory_hostname }}-iperf3-5202"
    argv: [iperf3, --server, --port, "5202"]
    user: nobody
    group: nogroup
    wait_for_port: 5202

- name: Run mptcpd and restart it when its configuration changes
  mptcp.lab.daemon:
    name: "{{ inventory_hostname }}-mptcpd"
    argv: [/usr/libexec/mptcpd, --config-file, /etc/mptcp-lab/mptcpd.conf]
    config_checksum: "{{ mptcpd_conf.checksum }}"

- name: Is it running?
  mptcp.lab.daemon:
    name: "{{ inventory_hostname }}-mptcpd"
    state: status
  register: mptcpd_status

- name: Stop the server
  mptcp.lab.daemon:
    name: "{{ inventory_hostname }}-iperf3-5201"
    state: stopped
'''

RETURN = r'''
pid:
  description: Pid of the running process, or null when it is not running.
  returned: always
  type: int
  sample: 4242
running:
  description: Whether the process runs after the module finished.
  returned: always
  type: bool
  sample: true
pidfile:
  description: Path of the pidfile.
  returned: always
  type: str
  sample: /run/mptcp-lab/sink1-iperf3-5201.pid
log_file:
  description: Path of the log file.
  returned: always
  type: str
  sample: /run/mptcp-lab/sink1-iperf3-5201.log
argv:
  description: Command line of the running process (as recorded at start).
  returned: always
  type: list
  elements: str
  sample: [mptcpize, run, iperf3, --server, --port, "5201"]
user:
  description: User the running process was started as with O(user), or null (the module's user).
  returned: always
  type: str
  sample: nobody
group:
  description: Group the running process was started as with O(user), or null.
  returned: always
  type: str
  sample: nogroup
listening:
  description: With O(state=status) and O(wait_for_port), whether the process listens on that port.
  returned: when state is status and wait_for_port is set
  type: bool
  sample: true
reason:
  description: Why the module (re)started or stopped the process, or null.
  returned: always
  type: str
  sample: argv changed
'''

import errno
import grp
import json
import os
import pwd
import signal
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mptcp.lab.plugins.module_utils import safe_files

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


def parse_stat_starttime(text):
    """(state, starttime) from the content of /proc/<pid>/stat."""
    # comm may contain spaces and parentheses: split after the last ')'.
    rest = text[text.rindex(')') + 2:].split()
    return rest[0], rest[19]


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
    """(state, starttime) of a live pid, or None when it does not exist."""
    try:
        return parse_stat_starttime(_read('%s/%d/stat' % (_PROC, pid)))
    except (IOError, OSError, ValueError):
        return None


def is_alive(pid, starttime=None):
    """True when ``pid`` exists, is not a zombie and (if given) matches starttime."""
    ident = proc_identity(pid)
    if ident is None or ident[0] in ('Z', 'X'):
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


# ---------------------------------------------------------------- module

def _view(rec):
    if not rec:
        return dict(running=False, pid=None, argv=None, user=None, group=None)
    return dict(running=True, pid=rec['pid'], argv=rec.get('argv'),
                config_checksum=rec.get('config_checksum'),
                user=rec.get('user'), group=rec.get('group'))


def run_module(module):
    try:
        _run(module)
    except safe_files.UnsafePath as e:
        module.fail_json(msg='%s: %s' % ('log_file' if module.params['log_file'] else 'run_dir', e))


def _run(module):
    p = module.params
    state = p['state']
    name = p['name']
    if not name or '/' in name or name.startswith('.'):
        module.fail_json(msg="name: must be a non-empty file name without '/' "
                             "and not starting with '.', got %r" % name)
    if state in ('started', 'restarted') and not p['argv']:
        module.fail_json(msg='argv: required (a non-empty list) when state is %s' % state)
    if p['wait_for_port'] is not None and not 0 < p['wait_for_port'] < 65536:
        module.fail_json(msg='wait_for_port: must be 1..65535, got %d' % p['wait_for_port'])
    if p['timeout'] <= 0:
        module.fail_json(msg='timeout: must be > 0, got %s' % p['timeout'])
    creds = None
    if state in ('started', 'restarted'):
        try:
            creds = resolve_credentials(p['user'], p['group'])
        except ValueError as e:
            module.fail_json(msg=str(e))
        if p['capabilities'] and not creds:
            module.fail_json(msg='capabilities: needs user (the capabilities a dropped-privilege process keeps)')
        if creds:
            creds['capabilities'] = sorted(set(p['capabilities']))
        if creds and os.geteuid() != 0 and creds['uid'] != os.geteuid():
            module.fail_json(msg='user: running as %s (uid %d) needs root; the module runs as uid %d'
                                 % (creds['user'], creds['uid'], os.geteuid()))

    d = Daemon(name, p['run_dir'], p['log_file'])
    d.check_dirs()          # also in check mode: a refused directory fails both ways
    cur = d.current()
    if cur and cur.get('netns') not in (None, netns_id()):
        module.fail_json(msg='name: %r is used by pid %d in another network namespace; '
                             'give each host its own name or run_dir' % (name, cur['pid']))
    result = dict(changed=False, pidfile=d.pidfile, log_file=d.log_file, reason=None)
    before = _view(cur)

    argv, env = None, {}
    if state in ('started', 'restarted'):
        argv = list(p['argv'])
        if '/' not in argv[0]:
            argv[0] = module.get_bin_path(argv[0], required=True)
        else:
            argv[0] = os.path.abspath(argv[0])
        env = dict((str(k), str(v)) for k, v in (p['env'] or {}).items())

    reason = None
    if state == 'started':
        if cur is None:
            reason = 'not running'
        else:
            reason = restart_reason(cur, dict(argv=argv, env=env,
                                              config_checksum=p['config_checksum'],
                                              uid=creds and creds['uid'], gid=creds and creds['gid'],
                                              capabilities=creds and creds['capabilities']))
    elif state == 'restarted':
        reason = 'restart requested' if cur else 'not running'
    elif state == 'stopped' and cur is not None:
        reason = 'stop requested'

    after = before
    if reason:
        result['changed'] = True
        result['reason'] = reason
        if state == 'stopped':
            after = _view(None)
        else:
            after = dict(running=True, pid=None, argv=argv, config_checksum=p['config_checksum'],
                         user=creds and creds['user'], group=creds and creds['group'])
        if not module.check_mode:
            if cur is not None:
                err = d.stop(cur, p['timeout'])
                if err:
                    module.fail_json(msg=err, **result)
            if state != 'stopped':
                rec, err = d.start(argv, env, p['config_checksum'], p['wait_for_port'], p['timeout'],
                                   creds)
                if err:
                    if d.current():
                        d.stop(rec, p['timeout'])
                    module.fail_json(msg='%s: %s' % (name, err), log_tail=d.log_tail(), **result)
                after = _view(rec)
    elif state == 'started' and cur is not None and p['wait_for_port'] is not None:
        # Already running: still verify readiness (cheap), so callers can rely on it.
        deadline = time.monotonic() + p['timeout']
        while not listening(cur['pid'], p['wait_for_port']):
            if time.monotonic() > deadline or not is_alive(cur['pid'], cur.get('starttime')):
                module.fail_json(msg='%s: pid %d is running but does not listen on TCP port %d'
                                     % (name, cur['pid'], p['wait_for_port']),
                                 log_tail=d.log_tail(), **result)
            time.sleep(POLL_S)

    if state == 'status' and p['wait_for_port'] is not None:
        result['listening'] = bool(cur) and listening(cur['pid'], p['wait_for_port'])
    result.update(running=after['running'], pid=after['pid'], argv=after['argv'],
                  user=after['user'], group=after['group'])
    if module._diff:
        result['diff'] = dict(before=before, after=after)
    module.exit_json(**result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='str', required=True),
            argv=dict(type='list', elements='str'),
            env=dict(type='dict', default={}),
            user=dict(type='str'),
            group=dict(type='str'),
            capabilities=dict(type='list', elements='str', default=[],
                              choices=['net_admin', 'net_bind_service', 'net_raw']),
            state=dict(type='str', default='started',
                       choices=['started', 'stopped', 'restarted', 'status']),
            run_dir=dict(type='path', default='/run/mptcp-lab'),
            log_file=dict(type='path'),
            wait_for_port=dict(type='int'),
            config_checksum=dict(type='str', no_log=False),
            timeout=dict(type='float', default=10),
        ),
        supports_check_mode=True,
    )
    run_module(module)


if __name__ == '__main__':
    main()
