# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Netlink for the lab: namespaces, links, addresses, routes, rules, qdiscs.

The lab's one rtnetlink helper, built on pyroute2 (the MPTCP generic netlink
helper is mptcp_netlink.py). Everything returns plain dicts so that modules
compare state with ``==`` and build diffs from it.

Namespaces are handled the way iproute2 handles them (``/run/netns/<name>``
bind mounts), but in-process: entering a namespace to open a netlink socket
costs a setns() pair (under a millisecond) instead of a fork, which matters
when the controller reconciles 65 namespaces in one call.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ctypes
import errno
import fcntl
import os
import select
import signal
import time
import traceback

try:
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError
    from pyroute2.netlink.rtnl.tcmsg import common as tc_common
except ImportError:  # pragma: no cover - depends on the host
    HAS_PYROUTE2 = False
    PYROUTE2_IMPORT_ERROR = traceback.format_exc()

    class NetlinkError(Exception):
        """Placeholder so that except clauses stay valid without pyroute2."""
else:
    HAS_PYROUTE2 = True
    PYROUTE2_IMPORT_ERROR = None

NETNS_RUN_DIR = '/run/netns'
CLONE_NEWNET = 0x40000000
MS_REC = 0x4000
MS_BIND = 0x1000
MS_SHARED = 1 << 20
MNT_DETACH = 2
NS_GET_NSTYPE = 0xB703   # ioctl on a namespace file: its CLONE_NEW* type (Linux 4.11+)
AF_INET = 2
IFF_UP = 1
RT_TABLE_MAIN = 254
RT_SCOPE_UNIVERSE = 0
RT_SCOPE_LINK = 253
TC_H_ROOT = 0xFFFFFFFF

_LIBC = None


class LabNetlinkError(Exception):
    """A kernel or system refusal, with a message naming the object."""


def _libc():
    global _LIBC
    if _LIBC is None:
        _LIBC = ctypes.CDLL(None, use_errno=True)
        _LIBC.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]
        _LIBC.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
        _LIBC.setns.argtypes = [ctypes.c_int, ctypes.c_int]
        _LIBC.unshare.argtypes = [ctypes.c_int]
    return _LIBC


def _check(ret, what):
    if ret != 0:
        err = ctypes.get_errno()
        raise LabNetlinkError('%s: %s' % (what, os.strerror(err)))


def netlink_message(exc):
    """Readable text of a NetlinkError: the kernel's message, and the errno's text when it differs.

    pyroute2's own str() is the repr of its args, ``(17, 'File exists')``.
    """
    code = getattr(exc, 'code', None)
    args = getattr(exc, 'args', ())
    text = args[1] if len(args) > 1 and isinstance(args[1], str) and args[1] else None
    if not code:
        return text or str(exc)
    reason = os.strerror(code)
    if not text or text == reason:
        return reason
    return text if reason in text else '%s (%s)' % (text, reason)


# ---------------------------------------------------------------- namespaces

def netns_path(name):
    return os.path.join(NETNS_RUN_DIR, name)


def list_netns():
    """Names of the namespaces under /run/netns, sorted."""
    try:
        return sorted(os.listdir(NETNS_RUN_DIR))
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return []
        raise


def netns_exists(name):
    return os.path.exists(netns_path(name))


def netns_is_live(name):
    """True when /run/netns/<name> is a network namespace (a bind mount of one), False otherwise.

    False for a stale entry: the plain file ``ip netns add`` (or create_netns) leaves behind when it is
    killed between creating the file and bind-mounting the namespace onto it, on which setns() fails
    with EINVAL. Also False for anything else that is not a network namespace (a directory, another
    namespace type). Raises OSError only when the entry cannot be opened for another reason than
    being gone (ENOENT gives False).
    """
    try:
        fd = os.open(netns_path(name), os.O_RDONLY)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return False
        raise
    try:
        return fcntl.ioctl(fd, NS_GET_NSTYPE) == CLONE_NEWNET
    except OSError:
        return False   # ENOTTY: not a namespace file
    finally:
        os.close(fd)


def _ns_id(path):
    st = os.stat(path)
    return st.st_dev, st.st_ino


def _prepare_run_dir():
    """Make /run/netns a shared mount point, as ip-netns does.

    Shared, so that namespaces created later also appear inside mount
    namespaces entered earlier (for example by ``ip netns exec``).
    """
    libc = _libc()
    try:
        os.makedirs(NETNS_RUN_DIR, 0o755)
    except OSError as exc:
        if exc.errno != errno.EEXIST:
            raise
    run_dir = NETNS_RUN_DIR.encode()
    if libc.mount(b'none', run_dir, None, MS_SHARED | MS_REC, None) == 0:
        return
    if ctypes.get_errno() != errno.EINVAL:
        _check(-1, 'make %s shared' % NETNS_RUN_DIR)
    # Not a mount point yet: bind it onto itself, then share it.
    _check(libc.mount(run_dir, run_dir, b'none', MS_BIND | MS_REC, None), 'bind %s' % NETNS_RUN_DIR)
    _check(libc.mount(b'none', run_dir, None, MS_SHARED | MS_REC, None), 'make %s shared' % NETNS_RUN_DIR)


def create_netns(name):
    """Create namespace ``name`` (like ``ip netns add``) and bring its loopback up."""
    libc = _libc()
    try:
        _prepare_run_dir()
    except OSError as exc:
        raise LabNetlinkError('create namespace %s: %s: %s' % (name, NETNS_RUN_DIR, exc.strerror))
    path = netns_path(name)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0)
    except OSError as exc:
        raise LabNetlinkError('create namespace %s: %s: %s' % (name, path, exc.strerror))
    os.close(fd)
    home = os.open('/proc/thread-self/ns/net', os.O_RDONLY)
    try:
        try:
            _check(libc.unshare(CLONE_NEWNET), 'create namespace %s' % name)
            _check(libc.mount(b'/proc/thread-self/ns/net', path.encode(), b'none', MS_BIND, None),
                   'bind namespace %s' % name)
        finally:
            _check(libc.setns(home, CLONE_NEWNET), 'return to the original namespace')
    except Exception:
        libc.umount2(path.encode(), MNT_DETACH)
        try:
            os.unlink(path)
        except OSError:
            pass
        raise
    finally:
        os.close(home)
    with open_netns(name) as ipr:
        set_up(ipr, 1, '%s/lo' % name)


def netns_pids(names):
    """Pids of the processes whose network namespace is one of ``names``, in one /proc scan.

    Returns ``{name: [pid, ...]}`` (every name present, possibly empty).
    """
    if isinstance(names, str):
        names = [names]
    wanted = {}
    for name in names:
        try:
            wanted[_ns_id(netns_path(name))] = name
        except OSError:
            pass
    found = dict((name, []) for name in names)
    if not wanted:
        return found
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            name = wanted.get(_ns_id('/proc/%s/ns/net' % entry))
        except OSError:
            continue  # gone, or a kernel thread
        if name is not None:
            found[name].append(int(entry))
    for pids in found.values():
        pids.sort()
    return found


def _open_pidfds(names):
    """Pidfds of the processes now in the namespaces (the caller excluded): ``{fd: pid}``.

    Each pidfd is opened from a /proc scan, then the process is checked again through it: its
    /proc/<pid>/ns/net must still be one of the namespaces while the pidfd says the process has not
    exited (so the pid was not reused in between). A pidfd keeps naming its process whatever happens to
    the pid afterwards: signals sent through it never reach another process.
    """
    wanted = set()
    for name in names:
        try:
            wanted.add(_ns_id(netns_path(name)))
        except OSError:
            pass
    fds = {}
    for pid in sorted(p for found in netns_pids(names).values() for p in found if p != os.getpid()):
        try:
            fd = os.pidfd_open(pid)
        except OSError:
            continue        # gone already
        try:
            alive = not select.select([fd], [], [], 0)[0]
            same_ns = _ns_id('/proc/%d/ns/net' % pid) in wanted
        except OSError:
            alive = same_ns = False
        if alive and same_ns:
            fds[fd] = pid
        else:
            os.close(fd)
    return fds


def _signal_and_wait(fds, sig, timeout):
    """Send ``sig`` through every pidfd, then wait up to ``timeout`` s; returns the fds still alive."""
    for fd in fds:
        try:
            signal.pidfd_send_signal(fd, sig)
        except ProcessLookupError:
            pass            # exited already
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN)
    pending = set(fds)
    deadline = time.monotonic() + timeout
    while pending:
        left_ms = int((deadline - time.monotonic()) * 1000)
        if left_ms <= 0:
            break
        for fd, dummy in poller.poll(left_ms):
            pending.discard(fd)
            poller.unregister(fd)
    return pending


def _comm(pid):
    try:
        with open('/proc/%d/comm' % pid) as handle:
            return handle.read().strip()
    except (IOError, OSError):
        return '?'


def kill_netns_pids(names, timeout=5.0, rounds=5):
    """Stop every process of the namespaces; returns the pids that were signalled, sorted.

    Each round scans /proc, holds a pidfd per process found (never a bare pid that may have been
    reused), sends SIGTERM through it, SIGKILL to what survives ``timeout`` s, waits for the exits,
    then scans again: a process that forked or entered the namespace meanwhile is caught by the next
    round. After ``rounds`` rounds with processes still there, raises LabNetlinkError naming them.
    """
    if isinstance(names, str):
        names = [names]
    signalled = set()
    for dummy in range(rounds):
        fds = _open_pidfds(names)
        if not fds:
            return sorted(signalled)
        try:
            signalled.update(fds.values())
            alive = _signal_and_wait(fds, signal.SIGTERM, timeout)
            if alive:
                alive = _signal_and_wait(alive, signal.SIGKILL, max(timeout, 1.0))
        finally:
            for fd in fds:
                os.close(fd)
    left = sorted(p for found in netns_pids(names).values() for p in found if p != os.getpid())
    if left:
        raise LabNetlinkError('processes still in namespace(s) %s after %d rounds of SIGTERM and SIGKILL: %s'
                              % (', '.join(names), rounds, ', '.join('%d (%s)' % (p, _comm(p)) for p in left)))
    return sorted(signalled)


def delete_netns(name):
    """Remove a namespace's name (like ``ip netns del``); links inside die with it."""
    path = netns_path(name).encode()
    libc = _libc()
    if libc.umount2(path, MNT_DETACH) != 0 and ctypes.get_errno() not in (errno.EINVAL, errno.ENOENT):
        _check(-1, 'unmount namespace %s' % name)
    try:
        os.unlink(path)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise LabNetlinkError('remove namespace %s (%s): %s' % (name, path.decode(), exc.strerror))


def _ipr_after(enter):
    """An IPRoute socket opened after ``enter(libc)`` moved this thread to another network namespace.

    The thread goes back to its own namespace before returning; the socket stays where it was made.
    """
    libc = _libc()
    home = os.open('/proc/thread-self/ns/net', os.O_RDONLY)
    try:
        enter(libc)
        try:
            return IPRoute()
        finally:
            _check(libc.setns(home, CLONE_NEWNET), 'return to the original namespace')
    finally:
        os.close(home)


class _IPRouteContext(object):
    """A context manager giving an IPRoute socket, closed on exit."""

    ipr = None

    def _open(self):
        raise NotImplementedError

    def __enter__(self):
        self.ipr = self._open()
        return self.ipr

    def __exit__(self, *exc):
        if self.ipr is not None:
            self.ipr.close()
        return False


class open_netns(_IPRouteContext):
    """``with open_netns(name) as ipr``: an IPRoute socket inside namespace ``name``.

    ``name=None`` means the caller's namespace. The socket is created inside
    the namespace and keeps working there after the thread returns home.
    """

    def __init__(self, name=None):
        self.name = name

    def _open(self):
        if self.name is None:
            return IPRoute()
        try:
            target = os.open(netns_path(self.name), os.O_RDONLY)
        except OSError as exc:
            raise LabNetlinkError('namespace %s: %s' % (self.name, exc.strerror))
        try:
            return _ipr_after(lambda libc: _check(libc.setns(target, CLONE_NEWNET),
                                                  'enter namespace %s' % self.name))
        finally:
            os.close(target)


class in_netns(object):
    """``with in_netns(name):`` the calling thread is in network namespace ``name`` until the block ends.

    What the block opens there stays there: IPRoute and MPTCP netlink sockets, interface name lookups
    (if_nametoindex), files under /proc/sys/net (their namespace is the opener's). So code written for
    "the namespace I run in" configures another namespace of this machine unchanged, one setns() pair
    per block instead of a process. ``name=None`` stays where the thread is. The thread goes back to
    its own namespace at the end of the block, also when it raises.
    """

    def __init__(self, name=None):
        self.name = name
        self._home = None

    def __enter__(self):
        if self.name is None:
            return self
        try:
            target = os.open(netns_path(self.name), os.O_RDONLY)
        except OSError as exc:
            raise LabNetlinkError('namespace %s: %s' % (self.name, exc.strerror))
        try:
            home = os.open('/proc/thread-self/ns/net', os.O_RDONLY)
            try:
                _check(_libc().setns(target, CLONE_NEWNET), 'enter namespace %s' % self.name)
            except Exception:
                os.close(home)
                raise
        finally:
            os.close(target)
        self._home = home
        return self

    def __exit__(self, *exc):
        home, self._home = self._home, None
        if home is not None:
            try:
                _check(_libc().setns(home, CLONE_NEWNET), 'return to the original namespace')
            finally:
                os.close(home)
        return False


class open_scratch_netns(_IPRouteContext):
    """``with open_scratch_netns() as ipr``: an IPRoute socket in a new, anonymous network namespace.

    The namespace has no name and only a loopback (down); it lives as long as the socket and vanishes
    with it, so whatever is tried in it (a qdisc probe, say) leaves nothing behind on the host and
    cannot clash with the host's names.
    """

    def _open(self):
        return _ipr_after(lambda libc: _check(libc.unshare(CLONE_NEWNET),
                                              'create a scratch network namespace'))


def netnsid(ipr, name):
    """The id under which ``ipr``'s namespace knows namespace ``name`` (None if none)."""
    fd = os.open(netns_path(name), os.O_RDONLY)
    try:
        reply = ipr.get_netnsid(fd=fd)
    finally:
        os.close(fd)
    nsid = reply.get('nsid') if isinstance(reply, dict) else None
    if nsid is None or nsid < 0 or nsid == 0xFFFFFFFF:
        return None
    return nsid


# ---------------------------------------------------------------- links

def links(ipr):
    """Links of a namespace: ``{name: {index, kind, peer_index, peer_nsid, up, mtu}}``."""
    found = {}
    for msg in ipr.get_links():
        found[msg.get('IFLA_IFNAME')] = {
            'index': msg['index'],
            'kind': msg.get_nested('IFLA_LINKINFO', 'IFLA_INFO_KIND'),
            'peer_index': msg.get('IFLA_LINK'),
            'peer_nsid': msg.get('IFLA_LINK_NETNSID'),
            'up': bool(msg['flags'] & IFF_UP),
            'mtu': msg.get('IFLA_MTU'),
        }
    return found


def add_veth(ipr, name, peer_name, peer_netns):
    """Create a veth pair: ``name`` in ipr's namespace, ``peer_name`` in ``peer_netns``."""
    fd = os.open(netns_path(peer_netns), os.O_RDONLY)
    try:
        ipr.link('add', ifname=name, kind='veth', peer={'ifname': peer_name, 'net_ns_fd': fd})
    except NetlinkError as exc:
        raise LabNetlinkError('create veth %s <-> %s/%s: %s' % (name, peer_netns, peer_name, netlink_message(exc)))
    finally:
        os.close(fd)


def delete_link(ipr, index, name=''):
    try:
        ipr.link('del', index=index)
    except NetlinkError as exc:
        if exc.code != errno.ENODEV:
            raise LabNetlinkError('delete link %s: %s' % (name or index, netlink_message(exc)))


def set_up(ipr, index, name=''):
    try:
        ipr.link('set', index=index, state='up')
    except NetlinkError as exc:
        raise LabNetlinkError('set link %s up: %s' % (name or index, netlink_message(exc)))


# ---------------------------------------------------------------- addresses

def addresses(ipr):
    """IPv4 addresses: list of ``{index, address, prefix, proto}``."""
    found = []
    for msg in ipr.get_addr(family=AF_INET):
        found.append({
            'index': msg['index'],
            'address': msg.get('IFA_LOCAL') or msg.get('IFA_ADDRESS'),
            'prefix': msg['prefixlen'],
            'proto': msg.get('IFA_PROTO') or 0,
        })
    return found


def add_address(ipr, index, address, prefix, proto):
    try:
        ipr.addr('add', index=index, address=address, prefixlen=prefix, proto=proto)
    except NetlinkError as exc:
        raise LabNetlinkError('add address %s/%d: %s' % (address, prefix, netlink_message(exc)))


def delete_address(ipr, index, address, prefix):
    try:
        ipr.addr('del', index=index, address=address, prefixlen=prefix)
    except NetlinkError as exc:
        if exc.code not in (errno.EADDRNOTAVAIL, errno.ENODEV):
            raise LabNetlinkError('delete address %s/%d: %s' % (address, prefix, netlink_message(exc)))


# ---------------------------------------------------------------- routes and rules

def route_dump(ipr):
    """Every IPv4 route message of every table, for routes() and route_protocols() to share one dump."""
    return list(ipr.get_routes(family=AF_INET))


def routes(ipr, proto, dump=None):
    """IPv4 routes carrying protocol ``proto``, in every table (from ``dump`` when given: route_dump()).

    Each: ``{table, dst, gateway, oif, scope, prefsrc}`` (dst as ``a.b.c.d/len``).
    """
    found = []
    for msg in ipr.get_routes(family=AF_INET) if dump is None else dump:
        if msg['proto'] != proto:
            continue
        found.append(_route_key(msg))
    return found


def _route_key(msg):
    table = msg.get('RTA_TABLE') or msg['table']
    dst = msg.get('RTA_DST') or '0.0.0.0'
    return {
        'table': table,
        'dst': '%s/%d' % (dst, msg['dst_len']),
        'gateway': msg.get('RTA_GATEWAY'),
        'oif': msg.get('RTA_OIF'),
        'scope': msg['scope'],
        'prefsrc': msg.get('RTA_PREFSRC'),
    }


def route_protocols(ipr, dump=None):
    """Protocol of every IPv4 route, by the key the kernel tells routes apart by (``dump``: route_dump()).

    ``{(table, dst, metric, tos): proto}`` with dst as ``a.b.c.d/len``: two routes with the same key
    cannot coexist, so adding one whose key is taken fails (and replacing it would overwrite the
    other's owner).
    """
    found = {}
    for msg in ipr.get_routes(family=AF_INET) if dump is None else dump:
        found[route_id(msg)] = msg['proto']
    return found


def route_id(msg):
    table = msg.get('RTA_TABLE') or msg['table']
    dst = msg.get('RTA_DST') or '0.0.0.0'
    return (table, '%s/%d' % (dst, msg['dst_len']), msg.get('RTA_PRIORITY') or 0, msg['tos'])


def route_args(route, proto):
    dst, dst_len = route['dst'].split('/')
    args = {'dst': dst, 'dst_len': int(dst_len), 'table': route['table'], 'proto': proto,
            'scope': route['scope'], 'oif': route['oif']}
    if route.get('gateway'):
        args['gateway'] = route['gateway']
    if route.get('prefsrc'):
        args['prefsrc'] = route['prefsrc']
    return args


def add_route(ipr, route, proto):
    """Add a route (never replace: a route with the same key that is not ours is an error, EEXIST)."""
    try:
        ipr.route('add', **route_args(route, proto))
    except NetlinkError as exc:
        raise LabNetlinkError('add route %s table %s: %s' % (route['dst'], route['table'], netlink_message(exc)))


def delete_route(ipr, route, proto):
    try:
        ipr.route('del', **route_args(route, proto))
    except NetlinkError as exc:
        if exc.code not in (errno.ESRCH, errno.ENODEV):
            raise LabNetlinkError('delete route %s table %s: %s'
                                  % (route['dst'], route['table'], netlink_message(exc)))


def rules(ipr, proto):
    """IPv4 policy rules carrying protocol ``proto``: ``{priority, src, table}``."""
    found = []
    for msg in ipr.get_rules(family=AF_INET):
        if (msg.get('FRA_PROTOCOL') or 0) != proto:
            continue
        src = msg.get('FRA_SRC')
        found.append({
            'priority': msg.get('FRA_PRIORITY') or 0,
            'src': '%s/%d' % (src, msg['src_len']) if src else None,
            'table': msg.get('FRA_TABLE') or msg['table'],
        })
    return found


def _rule_args(rule, proto):
    args = {'table': rule['table'], 'priority': rule['priority'], 'FRA_PROTOCOL': proto}
    if rule.get('src'):
        src, src_len = rule['src'].split('/')
        args['src'] = src
        args['src_len'] = int(src_len)
    return args


def add_rule(ipr, rule, proto):
    try:
        ipr.rule('add', **_rule_args(rule, proto))
    except NetlinkError as exc:
        raise LabNetlinkError('add rule from %s lookup %s: %s' % (rule.get('src'), rule['table'], netlink_message(exc)))


def delete_rule(ipr, rule, proto):
    try:
        ipr.rule('del', **_rule_args(rule, proto))
    except NetlinkError as exc:
        if exc.code != errno.ENOENT:
            raise LabNetlinkError('delete rule from %s lookup %s: %s'
                                  % (rule.get('src'), rule['table'], netlink_message(exc)))


# ---------------------------------------------------------------- sysctl (per namespace)

def sysctl_path(key):
    """``net.ipv4.conf.<dev>.rp_filter`` -> its /proc/sys path (interface names may contain dots)."""
    conf = 'net.ipv4.conf.'
    if key.startswith(conf):
        dev, name = key[len(conf):].rsplit('.', 1)
        return os.path.join('/proc/sys/net/ipv4/conf', dev, name)
    return '/proc/sys/' + key.replace('.', '/')


def read_sysctl(key):
    """Text of a sysctl of the caller's namespace, or None when it does not exist."""
    try:
        with open(sysctl_path(key)) as handle:
            return handle.read().strip()
    except (IOError, OSError):
        return None


def write_sysctl(key, value):
    try:
        with open(sysctl_path(key), 'w') as handle:
            handle.write('%s\n' % value)
    except (IOError, OSError) as exc:
        raise LabNetlinkError('set %s=%s: %s' % (key, value, exc.strerror))


# ---------------------------------------------------------------- qdiscs

def psched_ticks(size, rate):
    """Transmission time of ``size`` bytes at ``rate`` bytes/s in psched ticks, as tc computes it."""
    return tc_common.calc_xmittime(rate, size)


def qdiscs(ipr, index):
    """Qdiscs of one device: list of ``{kind, handle, parent, options}`` (options decoded).

    The kernel dumps the qdiscs of every device whatever is asked: for many devices, read them
    once with qdiscs_by_index().
    """
    return qdiscs_by_index(ipr).get(index, [])


def qdiscs_by_index(ipr):
    """Qdiscs of every device of the namespace, in one dump: ``{index: [{kind, handle, parent, options}]}``."""
    found = {}
    for msg in ipr.get_qdiscs():
        kind = msg.get('TCA_KIND')
        found.setdefault(msg['index'], []).append({'kind': kind, 'handle': msg['handle'], 'parent': msg['parent'],
                                                   'options': _decode_options(kind, msg.get('TCA_OPTIONS'))})
    return found


def _decode_options(kind, options):
    if options is None:
        return {}
    if not hasattr(options, 'get'):
        # pyroute2 leaves the options of the kinds it has no parser for (bfifo...) as hex text 'aa:bb:..'
        if kind in ('pfifo', 'bfifo'):
            raw = bytes.fromhex(options.replace(':', ''))
            if len(raw) >= 4:
                return {'limit': int.from_bytes(raw[:4], 'little')}   # struct tc_fifo_qopt, host order
        return {}
    if kind == 'tbf':
        parms = options.get('TCA_TBF_PARMS') or {}
        return {'rate': parms.get('rate'), 'buffer': parms.get('buffer'), 'limit': parms.get('limit')}
    if kind in ('pfifo', 'bfifo'):
        return {'limit': options.get('limit')}
    if kind == 'netem':
        # pyroute2 names struct tc_netem_qopt's latency "delay" (psched ticks, as time2tick gives them)
        return {'limit': options.get('limit'), 'latency': options.get('delay', options.get('latency')),
                'loss': options.get('loss')}
    return {}


def htb_classes(ipr, index):
    """HTB classes of a device: ``{classid: {parent, rate, ceil, buffer, cbuffer}}``."""
    found = {}
    for msg in ipr.get_classes(index=index):
        if msg.get('TCA_KIND') != 'htb':
            continue
        parms = (msg.get('TCA_OPTIONS') or {}).get('TCA_HTB_PARMS') or {}
        found[msg['handle']] = {'parent': msg['parent'], 'rate': parms.get('rate'), 'ceil': parms.get('ceil'),
                                'buffer': parms.get('buffer'), 'cbuffer': parms.get('cbuffer')}
    return found


def tc(ipr, command, kind, index, what, **kwargs):
    try:
        ipr.tc(command, kind, index=index, **kwargs)
    except NetlinkError as exc:
        raise LabNetlinkError('%s %s qdisc on %s: %s' % (command, kind, what, netlink_message(exc)))
