# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Whether a recorded pid is still the same process: /proc/<pid>/stat, read in one place.

A pid is recycled once its process is gone, so the lab records a process as
its pid and its kernel start time (field 22 of /proc/<pid>/stat: clock ticks
since boot) and trusts the pid only while both match; the boot id tells
whether a start time can be compared at all (another boot, another clock).

The command name (field 2) may hold spaces and parentheses: the fields are
split after its last ``)``. A zombie (state Z or X) has ended: it is not
"still running" unless the caller asks to count it.

Only the standard library is used, and nothing is imported late: the
guardians of lab_lease and vm_lab call these functions after the module's
own files are gone.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

# Positions in stat_fields(): field N of proc(5) is at N - 3.
STATE, PPID, UTIME, STIME, STARTTIME = 0, 1, 11, 12, 19
ZOMBIE_STATES = ('Z', 'X')


def stat_fields(text):
    """The fields of a /proc/<pid>/stat text from the state (field 3) on; ValueError when it is none."""
    end = text.rfind(')')
    if end < 0:
        raise ValueError('not a /proc/<pid>/stat line: no command name')
    fields = text[end + 2:].split()
    if len(fields) <= STARTTIME:
        raise ValueError('not a /proc/<pid>/stat line: %d fields after the command name' % len(fields))
    return fields


def read_stat(pid, proc='/proc'):
    """stat_fields() of process ``pid`` (zombies included), or None when it is gone."""
    try:
        with open('%s/%d/stat' % (proc, pid)) as f:
            return stat_fields(f.read())
    except (IOError, OSError, ValueError):
        return None


def running(pid, proc='/proc'):
    """Whether ``pid`` exists and is not a zombie."""
    fields = read_stat(pid, proc)
    return fields is not None and fields[STATE] not in ZOMBIE_STATES


def start_time(pid, include_zombie=False, proc='/proc'):
    """Kernel start time of ``pid`` (clock ticks since boot, an int), or None when it is gone
    (or a zombie, unless ``include_zombie``)."""
    fields = read_stat(pid, proc)
    if fields is None or (fields[STATE] in ZOMBIE_STATES and not include_zombie):
        return None
    return int(fields[STARTTIME])


def same_process(pid, start, proc='/proc'):
    """True while ``pid`` (a positive int) is the live, non-zombie process that started at ``start``.

    ``start`` is a start_time(), as an int or as its decimal text (records keep either); None
    (nothing recorded) never matches.
    """
    if not isinstance(pid, int) or pid <= 0 or start is None:
        return False
    now = start_time(pid, proc=proc)
    return now is not None and str(now) == str(start)


def parent_pid(pid, proc='/proc'):
    """The parent pid of ``pid`` (zombies included), or None when it is gone."""
    fields = read_stat(pid, proc)
    return None if fields is None else int(fields[PPID])


def cpu_seconds(pid, proc='/proc'):
    """User + system CPU seconds ``pid`` used so far (a zombie's included), or None when it is gone."""
    fields = read_stat(pid, proc)
    if fields is None:
        return None
    return (int(fields[UTIME]) + int(fields[STIME])) / float(os.sysconf('SC_CLK_TCK'))


def boot_id():
    """This kernel's boot id (start times of two boots do not compare), or None."""
    try:
        with open('/proc/sys/kernel/random/boot_id') as f:
            return f.read().strip()
    except (IOError, OSError):
        return None
