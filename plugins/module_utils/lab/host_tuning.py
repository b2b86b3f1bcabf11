# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Host tuning of a real lab machine: NIC offloads, CPU governor, IRQ affinity.

Offloads go through the kernel's ethtool interface (``SIOCETHTOOL`` with
``ETHTOOL_GFEATURES``/``ETHTOOL_SFEATURES`` and the ``ETH_SS_FEATURES``
string set, as the ``ethtool -k/-K`` commands do) through pyroute2's ethtool
ioctl helper; nothing parses ``ethtool`` output. Like netlink, the ioctl acts
on the network namespace of the calling process.

The CPU governor (cpufreq) and IRQ affinity (/proc/irq) are plain files;
every path is a parameter so that unit tests can point them at a scratch tree.
Everything returns plain dicts and strings so that modules compare and diff.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import json
import os
import re
import traceback

from ansible_collections.mptcp.lab.plugins.module_utils.process import safe_files

try:
    from pyroute2.ethtool.ioctl import IoctlEthtool
except ImportError:  # pragma: no cover - depends on the host
    HAS_PYROUTE2 = False
    PYROUTE2_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_PYROUTE2 = True
    PYROUTE2_IMPORT_ERROR = None

SYS_CPU = '/sys/devices/system/cpu'
SYS_NET = '/sys/class/net'
PROC_IRQ = '/proc/irq'
PROC = '/proc'

# The offloads by their ethtool short name, and the kernel features behind
# each (ethtool -K <dev> tso off toggles all of the tso ones). Features a
# kernel does not know are skipped.
OFFLOADS = (
    ('gro', ('rx-gro',)),
    ('gso', ('tx-generic-segmentation',)),
    ('tso', ('tx-tcp-segmentation', 'tx-tcp-ecn-segmentation', 'tx-tcp-mangleid-segmentation',
             'tx-tcp6-segmentation', 'tx-tcp-accecn-segmentation')),
    ('lro', ('rx-lro',)),
    ('gro_hw', ('rx-gro-hw',)),
)
OFFLOAD_NAMES = tuple(name for name, _features in OFFLOADS)
OFFLOAD_FEATURES = dict(OFFLOADS)
FEATURE_RE = re.compile(r'^[a-z0-9][a-z0-9_-]{0,63}$')
CPULIST_RE = re.compile(r'^\d+(-\d+)?(,\d+(-\d+)?)*$')


class TuningError(Exception):
    """A refusal by the kernel or bad input, with a message naming the object."""


# ---------------------------------------------------------------- offloads

def read_features(dev):
    """Every ethtool feature of ``dev``: {name: {active, available, requested}}.

    ``available`` is the kernel's "changeable" bit: a feature that is not
    available is fixed (ethtool prints ``[fixed]``).
    """
    eth = IoctlEthtool()
    try:
        eth.change_ifname(dev)
        try:
            feats = eth.get_features()
        except OSError as exc:
            raise TuningError('%s: cannot read the features (%s)' % (dev, os.strerror(exc.errno or 0) or exc))
        out = {}
        for name in list(feats.keys()):
            if not name:
                continue
            out[name] = {'active': bool(feats.is_active(name)), 'available': bool(feats.is_available(name)),
                         'requested': bool(feats.is_requested(name))}
        return out
    finally:
        eth.close()


def write_features(dev, changes):
    """Request ``changes`` ({feature: bool}) on ``dev`` in one ETHTOOL_SFEATURES call."""
    if not changes:
        return
    eth = IoctlEthtool()
    try:
        eth.change_ifname(dev)
        feats = eth.get_features()
        for name, value in sorted(changes.items()):
            feats[name] = bool(value)
        try:
            eth.set_features(feats)
        except OSError as exc:
            raise TuningError('%s: the kernel refused the feature change %s (%s)'
                              % (dev, json.dumps(changes, sort_keys=True), os.strerror(exc.errno or 0) or exc))
    finally:
        eth.close()


def feature_text(feature):
    """ethtool-style state of one feature: 'on', 'off', 'off [fixed]', 'off [requested on]'."""
    text = 'on' if feature['active'] else 'off'
    if not feature['available']:
        text += ' [fixed]'
    elif feature['requested'] != feature['active']:
        text += ' [requested %s]' % ('on' if feature['requested'] else 'off')
    return text


def offload_state(features, name):
    """Summary of one offload: 'on', 'off' (each maybe ' [fixed]'), 'mixed', or None (unknown here)."""
    members = [features[f] for f in OFFLOAD_FEATURES[name] if f in features]
    if not members:
        return None
    active = set(m['active'] for m in members)
    if len(active) > 1:
        return 'mixed'
    text = 'on' if active.pop() else 'off'
    if not any(m['available'] for m in members):
        text += ' [fixed]'
    return text


def summarize(features, extra=()):
    """The offloads (and any ``extra`` raw feature) of one interface, ethtool-style."""
    out = {}
    for name in OFFLOAD_NAMES:
        state = offload_state(features, name)
        if state is not None:
            out[name] = state
    for name in extra:
        out[name] = feature_text(features[name]) if name in features else None
    return out


def plan_features(features, wanted, field):
    """The feature changes ({feature: bool}) that make ``features`` match ``wanted``.

    ``wanted`` maps offload short names (gro, gso, tso, lro, gro_hw) or raw
    feature names to a bool; None means keep. Raises TuningError naming
    ``field`` when a wanted feature is unknown or fixed in another state.
    """
    changes = {}
    for key in sorted(wanted):
        value = wanted[key]
        if value is None:
            continue
        names = OFFLOAD_FEATURES.get(key)
        raw = names is None
        if raw:
            names = (key,)
        present = [n for n in names if n in features]
        if not present:
            raise TuningError('%s.%s: this interface has no such feature%s' % (
                field, key, '' if raw else ' (%s)' % ', '.join(names)))
        for name in present:
            feat = features[name]
            if feat['active'] == bool(value):
                # requested differs while active matches: a dependency holds it;
                # asking again changes nothing
                continue
            if not feat['available']:
                if raw or len(present) == 1:
                    raise TuningError('%s.%s: %s is fixed %s on this interface (the driver cannot change it)'
                                      % (field, key, name, 'on' if feat['active'] else 'off'))
                # a fixed member of a group (tso on a NIC without tx-tcp6-segmentation): leave it
                continue
            changes[name] = bool(value)
    return changes


def check_applied(features, changes, field):
    """After a write: the features that did not take the requested state."""
    refused = sorted(n for n, v in changes.items() if n in features and features[n]['active'] != v)
    if refused:
        raise TuningError('%s: the kernel kept %s in the old state after the change (a feature it depends '
                          'on is off, e.g. tso needs scatter-gather and tx checksumming)' % (field, ', '.join(refused)))


# ---------------------------------------------------------------- CPU lists

def parse_cpulist(text, field='cpus'):
    """'0-2,5' -> [0, 1, 2, 5]. Raises TuningError naming ``field``."""
    text = str(text).strip().replace(' ', '')
    if not CPULIST_RE.match(text):
        raise TuningError('%s: %r is not a CPU list (like "2", "2-3" or "0,2-3")' % (field, text))
    cpus = set()
    for part in text.split(','):
        low, _sep, high = part.partition('-')
        low, high = int(low), int(high or low)
        if high < low:
            raise TuningError('%s: %r has a descending range %s' % (field, text, part))
        cpus.update(range(low, high + 1))
    return sorted(cpus)


def format_cpulist(cpus):
    """[0, 1, 2, 5] -> '0-2,5'."""
    ranges = []
    for cpu in sorted(set(cpus)):
        if ranges and cpu == ranges[-1][1] + 1:
            ranges[-1][1] = cpu
        else:
            ranges.append([cpu, cpu])
    return ','.join(str(low) if low == high else '%d-%d' % (low, high) for low, high in ranges)


def _read(path):
    try:
        with open(path) as handle:
            return handle.read().strip()
    except (IOError, OSError):
        return None


def _write(path, text):
    with open(path, 'w') as handle:
        handle.write('%s\n' % text)


def online_cpus(sys_cpu=SYS_CPU):
    text = _read(os.path.join(sys_cpu, 'online'))
    if text:
        return parse_cpulist(text, 'online CPUs')
    return list(range(os.cpu_count() or 1))


def check_cpus(text, field, sys_cpu=SYS_CPU):
    """A CPU list that must name online CPUs only; returns its canonical form."""
    cpus = parse_cpulist(text, field)
    online = online_cpus(sys_cpu)
    offline = [c for c in cpus if c not in online]
    if offline:
        raise TuningError('%s: CPU(s) %s are not online on this host (online: %s)'
                          % (field, format_cpulist(offline), format_cpulist(online)))
    return format_cpulist(cpus)


# ---------------------------------------------------------------- governor

def read_governors(sys_cpu=SYS_CPU):
    """({cpu: governor} of the online CPUs that have cpufreq, available governors common to all)."""
    governors, available = {}, None
    for cpu in online_cpus(sys_cpu):
        base = os.path.join(sys_cpu, 'cpu%d' % cpu, 'cpufreq')
        gov = _read(os.path.join(base, 'scaling_governor'))
        if gov is None:
            continue
        governors[cpu] = gov
        offered = set((_read(os.path.join(base, 'scaling_available_governors')) or '').split())
        available = offered if available is None else available & offered
    return governors, sorted(available or [])


def write_governor(cpu, governor, sys_cpu=SYS_CPU):
    path = os.path.join(sys_cpu, 'cpu%d' % cpu, 'cpufreq', 'scaling_governor')
    try:
        _write(path, governor)
    except (IOError, OSError) as exc:
        raise TuningError('governor: cannot set %s on CPU %d (%s)' % (governor, cpu, exc.strerror or exc))


# ---------------------------------------------------------------- IRQs

def dev_irqs(dev, sys_net=SYS_NET):
    """The IRQ numbers of a network interface (MSI/MSI-X vectors of its device).

    Taken from ``<dev>/device/msi_irqs``, or its parent's for devices on a
    bus such as virtio. Virtual interfaces (veth, bridges) have none.
    """
    if not os.path.isdir(os.path.join(sys_net, dev)):
        raise TuningError('%s: no such interface on this host' % dev)
    device = os.path.join(sys_net, dev, 'device')
    for candidate in (os.path.join(device, 'msi_irqs'), os.path.join(device, os.pardir, 'msi_irqs')):
        try:
            names = os.listdir(candidate)
        except OSError:
            continue
        irqs = sorted(int(n) for n in names if n.isdigit())
        if irqs:
            return irqs
    legacy = _read(os.path.join(device, 'irq'))
    if legacy and legacy.isdigit() and int(legacy) > 0:
        return [int(legacy)]
    return []


def read_irq_affinity(irq, proc_irq=PROC_IRQ):
    return _read(os.path.join(proc_irq, str(irq), 'smp_affinity_list'))


def write_irq_affinity(irq, cpulist, proc_irq=PROC_IRQ):
    try:
        _write(os.path.join(proc_irq, str(irq), 'smp_affinity_list'), cpulist)
    except (IOError, OSError) as exc:
        hint = ' (a kernel-managed IRQ: its affinity cannot be changed)' if exc.errno == errno.EIO else ''
        raise TuningError('IRQ %d: cannot set the affinity to %s: %s%s' % (irq, cpulist, exc.strerror or exc, hint))


def irqbalance_running(proc=PROC):
    """Whether an irqbalance process runs (it would undo IRQ pinning)."""
    try:
        pids = [p for p in os.listdir(proc) if p.isdigit()]
    except OSError:
        return False
    for pid in pids:
        if _read(os.path.join(proc, pid, 'comm')) == 'irqbalance':
            return True
    return False


# ---------------------------------------------------------------- saved state

def load_saved(path):
    """The state saved before the first change, or None when there is none.

    The record's directory must be root's and not writable by others, and a
    symlink in place of the record is refused (safe_files).
    """
    directory, name = safe_files.split(path)
    try:
        if not os.path.lexists(directory):
            return None
        with safe_files.SafeDir(directory) as d:
            raw = d.read(name)
    except safe_files.UnsafePath as exc:
        raise TuningError('save_file: %s' % exc)
    except (IOError, OSError) as exc:
        raise TuningError('%s: cannot read the saved state (%s)' % (path, exc.strerror or exc))
    if raw is None:
        return None
    try:
        return json.loads(raw.decode('utf-8'))
    except ValueError as exc:
        raise TuningError('%s: the saved state is not JSON (%s)' % (path, exc))


def save_state(path, data):
    """Write ``data`` to ``path`` atomically (directory created 0755 and checked, file mode 0600)."""
    directory, name = safe_files.split(path)
    try:
        with safe_files.SafeDir(directory, create=True) as d:
            d.write(name, json.dumps(data, sort_keys=True, indent=1), mode=0o600)
    except safe_files.UnsafePath as exc:
        raise TuningError('save_file: %s' % exc)


def remove_saved(path):
    directory, name = safe_files.split(path)
    if not os.path.lexists(directory):
        return
    try:
        with safe_files.SafeDir(directory) as d:
            d.unlink(name)
    except safe_files.UnsafePath as exc:
        raise TuningError('save_file: %s' % exc)
    except OSError as exc:
        raise TuningError('%s: cannot remove the saved state (%s)' % (path, exc.strerror or exc))
