# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The record of a system user the lab created (mptcp.lab.lab_user), and the labs that hold it.

``<record_dir>/<name>-user.json`` says that the lab created the user and which labs use it (``holders``,
their prefixes). ``netns_holders`` are the holders that were network-namespace labs of this machine when
they took the user (namespaces ``<holder>-*`` existed): such a lab is gone once no namespace of it is left
and no live run holds its lease, and its entry is then dropped by the next change of the record (a lab
killed with its guardian, a reboot). A holder on a bare-metal or VM host has no namespace here and is
never dropped that way: only its own teardown takes it out.

Shared by the module lab_user and by the lease's guardian (lab_lease), which drops the holder of the lab
it removed after an aborted run, and removes the user with its last holder. Every change of a record is
made under an exclusive flock of the record directory.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import fcntl
import json
import os
import pwd
import subprocess
import time

from ansible_collections.mptcp.lab.plugins.module_utils.process import proc_identity as procid
from ansible_collections.mptcp.lab.plugins.module_utils.process import safe_files

SAVED_BY = 'mptcp.lab.lab_user'
SUFFIX = '-user.json'
NETNS_DIR = '/run/netns'
LOCK_DIR = '/run/mptcp-lab/locks'
SBIN_PATH = '/usr/sbin:/sbin:/usr/bin:/bin'
ZOMBIE_WAIT_S = 5.0


def lookup(name):
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def record_name(name):
    return name + SUFFIX


def read_record(record_dir, name):
    """The creation record, or None."""
    if not os.path.lexists(record_dir):
        return None
    with safe_files.SafeDir(record_dir) as d:
        raw = d.read(record_name(name))
    if raw is None:
        return None
    try:
        rec = json.loads(raw.decode('utf-8'))
    except ValueError:
        return None
    return rec if isinstance(rec, dict) and rec.get('saved_by') == SAVED_BY and rec.get('user') == name else None


def holders_of(rec):
    """(holders, netns_holders) of a record, sorted; netns_holders is a subset of holders."""
    holders = sorted(set(h for h in (rec or {}).get('holders') or [] if isinstance(h, str)))
    netns = sorted(set((rec or {}).get('netns_holders') or []) & set(holders))
    return holders, netns


def write_record(record_dir, name, uid, holders, netns_holders=()):
    netns = sorted(set(netns_holders) & set(holders))
    with safe_files.SafeDir(record_dir, create=True) as d:
        d.write(record_name(name), json.dumps(dict(saved_by=SAVED_BY, user=name, uid=uid, group=name,
                                                   holders=sorted(holders), netns_holders=netns),
                                              sort_keys=True) + '\n')


def recorded_users(record_dir):
    """Names of the users with a record in ``record_dir`` (a missing directory has none)."""
    if not os.path.lexists(record_dir):
        return []
    with safe_files.SafeDir(record_dir) as d:
        entries = os.listdir(d.fd)
    return sorted(entry[:-len(SUFFIX)] for entry in entries if entry.endswith(SUFFIX) and len(entry) > len(SUFFIX))


@contextlib.contextmanager
def record_lock(record_dir, create):
    """An exclusive flock of the record directory (nothing when it does not exist and need not)."""
    if not create and not os.path.lexists(record_dir):
        yield
        return
    with safe_files.SafeDir(record_dir, create=create) as d:
        fcntl.flock(d.fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(d.fd, fcntl.LOCK_UN)


def processes_of(uid, zombies=True):
    """Pids of processes running with ``uid`` as real uid (without the zombies unless ``zombies``)."""
    pids = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            if os.stat('/proc/' + entry).st_uid != uid:
                continue
            if not zombies and not procid.running(int(entry)):
                continue
            pids.append(int(entry))
        except (IOError, OSError):
            continue
    return sorted(pids)


def busy_processes(uid, wait_s=ZOMBIE_WAIT_S):
    """The processes of ``uid``, once those that ended are reaped (up to ``wait_s``).

    A process just stopped is a zombie until its parent (often init, after a double fork) reaps it; userdel
    still counts it as the user's. Live processes are returned at once.
    """
    deadline = time.monotonic() + wait_s
    while True:
        pids = processes_of(uid)
        if not pids or processes_of(uid, zombies=False) or time.monotonic() >= deadline:
            return pids
        time.sleep(0.05)


# ---------------------------------------------------------------- is a lab gone?

def netns_of(prefix, netns_dir=NETNS_DIR):
    """Entries ``<prefix>-*`` of ``netns_dir`` (a stale entry counts: its lab is not torn down yet)."""
    try:
        return sorted(n for n in os.listdir(netns_dir) if n.startswith(prefix + '-'))
    except FileNotFoundError:
        return []


def lease_held(prefix, lock_dir=LOCK_DIR):
    """Whether a live run holds the lease of lab ``prefix`` (mptcp.lab.lab_lease's lock file).

    Live: its ansible-playbook process or its guardian is still the recorded process. A lock file that
    cannot be read as a holder record (being written) counts as held.
    """
    try:
        fd = os.open(os.path.join(lock_dir, 'lab-%s.lock' % prefix), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    except OSError:
        return True
    try:
        raw = os.read(fd, 1 << 20)
    finally:
        os.close(fd)
    try:
        holder = json.loads(raw.decode('utf-8'))
    except (ValueError, UnicodeDecodeError):
        return True
    if not isinstance(holder, dict):
        return True
    return procid.same_process(holder.get('pid'), holder.get('pid_start')) \
        or procid.same_process(holder.get('guardian'), holder.get('guardian_start'))


def lab_gone(prefix, lock_dir=LOCK_DIR, netns_dir=NETNS_DIR):
    """A namespace lab is gone when no namespace ``<prefix>-*`` is left and no live run holds its lease."""
    return not netns_of(prefix, netns_dir) and not lease_held(prefix, lock_dir)


def gone_holders(rec, lock_dir=LOCK_DIR, netns_dir=NETNS_DIR, keep=()):
    """The record's namespace-lab holders whose lab is gone (never one in ``keep``: the caller's own lab)."""
    dummy, netns = holders_of(rec)
    return [h for h in netns if h not in keep and lab_gone(h, lock_dir, netns_dir)]


# ---------------------------------------------------------------- removing the user

def delete_user(name, run_command, bin_path):
    """userdel ``name``, then groupdel its own group when userdel left it. Returns (rc, stdout, stderr) of userdel.

    ``run_command(argv)`` -> (rc, stdout, stderr); ``bin_path(name)`` -> the program's path or None.
    """
    userdel = bin_path('userdel')
    if not userdel:
        return 127, '', 'userdel: not found'
    rc, out, err = run_command([userdel, name])
    if rc == 0:
        groupdel = bin_path('groupdel')
        if groupdel:
            # the user's own group, when userdel left it (USERGROUPS_ENAB no)
            run_command([groupdel, name])
    return rc, out, err


def _run(argv):
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=dict(PATH=SBIN_PATH, LC_ALL='C'), check=False)
    return proc.returncode, proc.stdout.decode('utf-8', 'replace'), proc.stderr.decode('utf-8', 'replace')


def _which(program):
    for directory in SBIN_PATH.split(':'):
        path = os.path.join(directory, program)
        if os.access(path, os.X_OK):
            return path
    return None


def drop_lab(record_dir, prefix, lock_dir=LOCK_DIR, netns_dir=NETNS_DIR):
    """Take the gone lab ``prefix`` out of every user record in ``record_dir``; returns (actions, errors).

    The lease's guardian calls it once it removed the namespace lab ``prefix`` after an aborted run. The
    namespace labs the records list that are gone too are dropped with it. A user whose last holder goes is
    removed, with its record (the record says the lab created it), unless one of its processes still runs:
    then it stays, its record without holders, for the next lab_user absent.
    """
    actions, errors = [], []
    try:
        with record_lock(record_dir, create=False):
            for name in recorded_users(record_dir):
                rec, pw = read_record(record_dir, name), lookup(name)
                if not rec or pw is None:
                    continue
                holders, netns = holders_of(rec)
                if prefix not in holders:
                    continue
                gone = set([prefix] + gone_holders(rec, lock_dir, netns_dir))
                left = [h for h in holders if h not in gone]
                busy = [] if left else busy_processes(pw.pw_uid)
                if left or busy:
                    write_record(record_dir, name, pw.pw_uid, left, netns)
                    actions.append('drop the holder(s) %s of user %s%s' % (
                        ', '.join(sorted(gone & set(holders))), name,
                        ' (kept: pid(s) %s still run)' % ', '.join(str(x) for x in busy[:10]) if busy else ''))
                    continue
                rc, out, err = delete_user(name, _run, _which)
                if rc != 0:
                    errors.append('userdel %s: rc %d: %s' % (name, rc, (err or out).strip()))
                    continue
                with safe_files.SafeDir(record_dir) as d:
                    d.unlink(record_name(name))
                actions.append('remove user %s (created by the lab, its last holder %s gone)' % (name, prefix))
    except (safe_files.UnsafePath, OSError) as exc:
        errors.append('user records in %s: %s' % (record_dir, exc))
    return actions, errors
