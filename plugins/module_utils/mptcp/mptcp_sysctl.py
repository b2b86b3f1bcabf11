# -*- coding: utf-8 -*-
# Copyright: (c) mptcp.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""net.mptcp.* sysctls, read and written under /proc/sys/net/mptcp.

/proc/sys/net shows the network namespace of the process that opens the
file, so these helpers act on the caller's namespace, like the netlink helper.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

PROC_DIR = '/proc/sys/net/mptcp'

# The settings mptcp_settings manages: name -> kind.
SETTINGS = (
    ('enabled', 'bool'),
    ('path_manager', 'str'),
    ('scheduler', 'str'),
    ('checksum_enabled', 'bool'),
    ('allow_join_initial_addr_port', 'bool'),
    ('add_addr_timeout', 'int'),
    ('close_timeout', 'int'),
    ('stale_loss_cnt', 'int'),
    ('blackhole_timeout', 'int'),
)
SETTING_KINDS = dict(SETTINGS)
SETTING_NAMES = [name for name, _kind in SETTINGS]
# Files that are not settings but lists of what the kernel offers.
AVAILABLE_FILES = ('available_path_managers', 'available_schedulers')
# Before net.mptcp.path_manager (6.15) the path manager was chosen by number.
PM_TYPES = {'kernel': 0, 'userspace': 1}
PM_NAMES = dict((v, k) for k, v in PM_TYPES.items())
INT_MAX = 2147483647


def supported(proc_dir=PROC_DIR):
    return os.path.isdir(proc_dir)


def read_raw(name, proc_dir=PROC_DIR):
    """Raw text of one sysctl, or None when the kernel does not have it."""
    try:
        with open(os.path.join(proc_dir, name)) as handle:
            return handle.read().strip()
    except (IOError, OSError):
        return None


def write_raw(name, text, proc_dir=PROC_DIR):
    """Write one sysctl; raises OSError with the kernel's errno on refusal."""
    with open(os.path.join(proc_dir, name), 'w') as handle:
        handle.write('%s\n' % text)


def parse(name, raw):
    """Typed value of a sysctl's text (booleans for the on/off knobs)."""
    if raw is None:
        return None
    kind = SETTING_KINDS.get(name)
    if kind == 'str':
        return raw
    try:
        number = int(raw)
    except ValueError:
        return raw
    if kind == 'bool':
        return bool(number)
    return number


def format_value(name, value):
    """Text to write for a typed value."""
    if SETTING_KINDS.get(name) == 'bool' or isinstance(value, bool):
        return '1' if value else '0'
    return '%s' % value


def available(name, proc_dir=PROC_DIR):
    """The space-separated list ``available_<name>`` as a list, or None if absent."""
    raw = read_raw('available_%s' % name, proc_dir)
    if raw is None:
        return None
    return raw.split()


def available_path_managers(proc_dir=PROC_DIR):
    """What path_manager accepts; kernels with only pm_type offer kernel and userspace."""
    listed = available('path_managers', proc_dir)
    if listed is not None:
        return listed
    if read_raw('pm_type', proc_dir) is not None:
        return sorted(PM_TYPES, key=PM_TYPES.get)
    return []


def available_schedulers(proc_dir=PROC_DIR):
    listed = available('schedulers', proc_dir)
    if listed is not None:
        return listed
    current = read_raw('scheduler', proc_dir)
    return [current] if current else []


def read_path_manager(proc_dir=PROC_DIR):
    """The path manager by name, from path_manager or (older kernels) pm_type."""
    raw = read_raw('path_manager', proc_dir)
    if raw is not None:
        return raw
    pm_type = read_raw('pm_type', proc_dir)
    if pm_type is None:
        return None
    try:
        return PM_NAMES.get(int(pm_type), pm_type)
    except ValueError:
        return pm_type


def has_path_manager_file(proc_dir=PROC_DIR):
    return os.path.exists(os.path.join(proc_dir, 'path_manager'))


def read_settings(proc_dir=PROC_DIR):
    """The managed settings this kernel has, typed; absent ones are left out."""
    values = {}
    for name in SETTING_NAMES:
        if name == 'path_manager':
            value = read_path_manager(proc_dir)
        else:
            value = parse(name, read_raw(name, proc_dir))
        if value is not None:
            values[name] = value
    return values


def read_all(proc_dir=PROC_DIR):
    """Every readable net.mptcp.* setting (typed where known), without the available_* lists."""
    values = {}
    if not supported(proc_dir):
        return values
    for name in sorted(os.listdir(proc_dir)):
        if name in AVAILABLE_FILES:
            continue
        raw = read_raw(name, proc_dir)
        if raw is None:
            continue
        if name in SETTING_KINDS:
            values[name] = parse(name, raw)
        else:
            try:
                values[name] = int(raw)
            except ValueError:
                values[name] = raw
    return values


def write_setting(name, value, proc_dir=PROC_DIR):
    """Write one managed setting; path_manager falls back to pm_type on older kernels."""
    if name == 'path_manager' and not has_path_manager_file(proc_dir):
        write_raw('pm_type', '%d' % PM_TYPES[value], proc_dir)
    else:
        write_raw(name, format_value(name, value), proc_dir)


def sysctl_key(name, proc_dir=PROC_DIR):
    """The sysctl.d key of a managed setting (pm_type on kernels without path_manager)."""
    if name == 'path_manager' and not has_path_manager_file(proc_dir):
        return 'net.mptcp.pm_type'
    return 'net.mptcp.%s' % name


def sysctl_value(name, value, proc_dir=PROC_DIR):
    if name == 'path_manager' and not has_path_manager_file(proc_dir):
        return '%d' % PM_TYPES[value]
    return format_value(name, value)


def render_sysctl_d(settings, proc_dir=PROC_DIR, header=None):
    """sysctl.d text for ``settings`` (name -> typed value), in a stable order."""
    lines = [header or '# Managed by mptcp.lab.mptcp_settings: MPTCP settings applied at boot.']
    for name in SETTING_NAMES:
        if name in settings and settings[name] is not None:
            lines.append('%s = %s' % (sysctl_key(name, proc_dir), sysctl_value(name, settings[name], proc_dir)))
    return '\n'.join(lines) + '\n'
