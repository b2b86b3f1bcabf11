#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: path_shaping
short_description: Rate, delay and loss of lab paths, as qdiscs on a router's egress interfaces
version_added: 0.1.0
description:
  - Reconciles the root qdisc of each listed interface so that traffic leaving by it is shaped to
    O(devices[].rate_mbit), with optional delay, loss and queue length by netem.
  - Meant for a router between the end hosts (the lab's shaper), never for the end hosts' own
    interfaces, whose kernel paths are what a measurement measures.
  - With O(qdisc=tbf) the root is C(tbf) (handle C(1ab:)); with O(qdisc=htb) the root is C(htb) with one class
    C(1ab:1) and a C(pfifo) leaf. When delay, loss or a queue limit is asked for, a C(netem) qdisc (handle
    C(10:)) is the child of C(1ab:1) and holds the queue.
  - An interface whose O(devices[].rate_mbit) is null is not rate-limited. Without delay, loss or queue limit
    it gets the kernel's default root back (the lab's root removed, as O(state=absent) does); with them,
    the root is a C(netem) qdisc with the lab's handle C(1ab:) (no rate limit, netem's own queue).
  - When netem is asked for, the module first checks that the kernel can create a netem qdisc and
    fails naming the field (for example C(lab_paths[0].delay_ms)) before changing anything when it
    cannot. It tries for real on the loopback of a scratch, anonymous network namespace that vanishes
    with the check, so nothing of the host is touched; C(sch_netem) loaded, or the running kernel's
    configuration or module lists, answer without trying. In check mode it never tries; it predicts
    from those files and, when they cannot tell, says so in RV(netem) and a warning and goes on.
  - Ownership. The lab's root qdisc is a C(tbf) or C(htb) with handle C(1ab:) ("lab"), a handle of its own;
    administrators' trees usually start at C(1:), and the kernel numbers qdiscs added without a handle
    from C(8000:) up, so neither is ever taken for the lab's. The kernel's default root
    (handle C(0:), that is C(noqueue) on a veth, C(mq), C(fq_codel) or C(pfifo_fast) on a NIC) is replaced by
    the lab's. Any other root qdisc (an administrator's C(fq), C(cake), C(sfq), or a C(tbf) with another
    handle, an C(htb 1:) included) is foreign and is never replaced silently; the module fails naming the
    interface and the qdisc before changing anything, unless O(replace_foreign=true); O(state=absent)
    never removes it.
  - Labs shaped before version 0.2 used the handle C(1:), which an administrator's tree also uses, so
    such a root is now foreign; remove it (C(tc qdisc del dev <dev> root)) or provision once with
    O(replace_foreign=true). A virtual lab is rebuilt by its teardown and provisioning anyway.
  - An interface whose qdiscs differ from the wanted ones is rebuilt (its root qdisc replaced), which
    drops the packets queued on it at that moment. Interfaces not listed are never touched.
options:
  devices:
    description: The interfaces to shape, with each one's shaping.
    type: list
    elements: dict
    default: []
    suboptions:
      dev:
        description: Interface name. It must exist.
        type: str
        required: true
      rate_mbit:
        description:
          - Rate in Mbit/s (10^6 bit/s), counted on whole frames as they leave.
          - A number, or null for no rate limit (see above). The key must be given either way, so that a
            forgotten rate is an error, never an unshaped path.
        type: raw
        required: true
      delay_ms:
        description: One-way delay added by netem, in milliseconds.
        type: float
      loss_pct:
        description: Random loss added by netem, in percent.
        type: float
      queue_limit:
        description: Queue length of netem in packets (netem holds the queue when present).
        type: int
      label:
        description:
          - Name of this item in error messages, for example C(lab_paths[1]); defaults to
            C(devices[<index>]).
        type: str
  qdisc:
    description:
      - V(tbf) is a token bucket; V(htb) a one-class hierarchical token bucket.
      - Both are precise at lab rates; tbf is the simpler of the two and the default.
    type: str
    choices: [tbf, htb]
    default: tbf
  burst_bytes:
    description:
      - Size of the token bucket in bytes. Null picks the default documented in the notes.
      - Smaller than one full-size frame (1514 bytes) is refused.
    type: int
  queue_ms:
    description:
      - Length of the queue when netem does not hold it, as the time to drain it at the path's rate
        (tbf C(latency); for htb the pfifo limit in full-size frames). Null picks the default in the
        notes.
    type: float
  replace_foreign:
    description:
      - With O(state=present), replace a root qdisc that is neither the kernel's default nor the lab's
        (see the ownership rule above). Off by default, so that an administrator's qdisc is not lost by
        accident; O(state=absent) never removes a foreign root, whatever this says.
    type: bool
    default: false
  bottlenecks:
    description:
      - Shared bottlenecks, each an C(ifb) device of its own through which the egress of several listed
        interfaces passes (see the notes). Null (the default) leaves every bottleneck and redirect as it is.
      - Given, it is the whole wanted state for the listed interfaces and the named ifb devices; a listed
        interface that is a member of none has no redirect, and a bottleneck without members is removed.
      - With O(state=absent), every named bottleneck and the redirects of the listed interfaces are removed.
    type: list
    elements: dict
    suboptions:
      name:
        description:
          - Name of the ifb device. The module creates it; a device of that name that is not an ifb is not
            the lab's and the module fails, changing nothing.
        type: str
        required: true
      rate_mbit:
        description: Rate of the bottleneck in Mbit/s, shaped like a device's (O(qdisc), O(burst_bytes), O(queue_ms)).
          Required when O(bottlenecks[].members) is not empty.
        type: raw
      members:
        description: Interfaces of O(devices) whose egress passes through this bottleneck (each in one at most).
        type: list
        elements: str
        default: []
      label:
        description: Name of this item in error messages; defaults to C(bottlenecks[<index>]).
        type: str
  state:
    description:
      - V(present) shapes the listed interfaces.
      - V(absent) removes the lab's root qdisc (C(tbf) or C(htb), handle C(1ab:)) of the listed interfaces,
        which gives them back the kernel's default. An interface without the lab's root (default or
        foreign) is left as it is and reported unchanged.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Defaults, chosen by measurement on the virtual lab (see the C(lab_shaper) role README).
    O(burst_bytes) defaults to the larger of 2 full-size frames and 1 ms at the path's rate
    (6250 bytes at 50 Mbit/s). O(queue_ms) defaults to 100 ms.
  - "A shared bottleneck: every packet leaving a member interface is redirected, by a C(u32) filter of
    preference 427 on the interface's C(clsact) egress (C(mirred egress redirect)), to the bottleneck's ifb
    device. The ifb's root qdisc paces the packets of all its members together and sends each back out of its
    own interface, whose root qdisc (its own shaping) then applies as well. The filter is the lab's by its
    preference; removing it removes the C(clsact) qdisc too when no other filter is left on it. Needs the
    kernel's ifb driver (C(CONFIG_IFB))."
requirements:
  - pyroute2
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
- name: Shape two paths at 50 Mbit/s in both directions (shaper side interfaces)
  mptcp.lab.path_shaping:
    devices:
      - {dev: mlab-1g1, rate_mbit: 50, label: "lab_paths[0]"}
      - {dev: mlab-1s1, rate_mbit: 50, label: "lab_paths[0]"}
      - {dev: mlab-1g2, rate_mbit: 50, label: "lab_paths[1]"}
      - {dev: mlab-1s2, rate_mbit: 50, label: "lab_paths[1]"}

- name: Path 2 unshaped (no rate limit; the interface gets the kernel's default qdisc)
  mptcp.lab.path_shaping:
    devices:
      - {dev: mlab-1g2, rate_mbit: null, label: "lab_paths[1]"}
      - {dev: mlab-1s2, rate_mbit: null, label: "lab_paths[1]"}

- name: Two pairs' path 1 through one shared 100 Mbit/s bottleneck, generator to sink
  mptcp.lab.path_shaping:
    devices:
      - {dev: mlab-1s1, rate_mbit: 50}
      - {dev: mlab-2s1, rate_mbit: 50}
    bottlenecks:
      - {name: mlab-bs, rate_mbit: 100, members: [mlab-1s1, mlab-2s1]}

- name: A lossy, slow path (needs sch_netem in the kernel)
  mptcp.lab.path_shaping:
    qdisc: htb
    devices:
      - {dev: eth1, rate_mbit: 10, delay_ms: 20, loss_pct: 0.5, queue_limit: 100}
'''

RETURN = r'''
devices:
  description:
    - The shaping of each listed interface after the run, as tc would describe it; C(default) for the
      kernel's default root, C(<kind> <handle> (not the lab's)) for a foreign one.
  returned: always
  type: dict
  sample: {mlab-1s1: "tbf rate 50.0Mbit burst 6250b latency 100.0ms", eth2: "fq 8001: (not the lab's)"}
bottlenecks:
  description:
    - With O(bottlenecks), each named bottleneck after the run, C(<shaping> <- <members>), or C(absent).
  returned: when O(bottlenecks) is given
  type: dict
  sample: {mlab-bs: "tbf rate 100.0Mbit burst 12500b latency 100.0ms <- mlab-1s1, mlab-1s2, mlab-2s1, mlab-2s2"}
redirects:
  description: With O(bottlenecks), the bottleneck each listed interface's egress passes through (null for none).
  returned: when O(bottlenecks) is given
  type: dict
  sample: {mlab-1s1: mlab-bs, mlab-1g1: null}
netem:
  description:
    - Whether the kernel can create netem qdiscs and how that was found; C(unknown) in check mode when
      the kernel's files cannot tell (the run then tries for real).
  returned: when an item asks for delay, loss or a queue limit (O(state=present))
  type: dict
  sample: {available: false, how: "CONFIG_NET_SCH_NETEM is not set (/proc/config.gz)"}
'''

import errno
import gzip
import math
import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.mptcp.lab.plugins.module_utils.lab import lab_bottleneck as lb
from ansible_collections.mptcp.lab.plugins.module_utils.lab import lab_netlink as nl
from ansible_collections.mptcp.lab.plugins.module_utils.lab.shaping_rules import (
    CLASS, DEFAULT_QUEUE_MS, FRAME, LEAF, ROOT, default_burst, rate_bytes)

MAX_RATE_MBIT = 34000    # tbf and htb carry the rate in 32 bits of bytes/s without the 64-bit attributes
NETEM_KEYS = ('delay_ms', 'loss_pct', 'queue_limit')


def validate(devices, burst_bytes, queue_ms):
    if burst_bytes is not None and burst_bytes < FRAME:
        return 'burst_bytes must be at least %d (one full-size frame), got %d' % (FRAME, burst_bytes)
    if queue_ms is not None and not 0 < queue_ms <= 10000:
        return 'queue_ms must be in (0, 10000], got %s' % queue_ms
    seen = set()
    for i, item in enumerate(devices):
        label = item.get('label') or 'devices[%d]' % i
        rate = item['rate_mbit']
        if isinstance(rate, str) and rate.strip():
            try:
                rate = float(rate)
            except ValueError:
                pass
        if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float))
                                 or math.isnan(rate) or math.isinf(rate)):
            return '%s.rate_mbit must be a number in (0, %d] or null (no rate limit), got %r' % (
                label, MAX_RATE_MBIT, item['rate_mbit'])
        item['rate_mbit'] = None if rate is None else float(rate)
        if item['rate_mbit'] is not None and not 0 < item['rate_mbit'] <= MAX_RATE_MBIT:
            return '%s.rate_mbit must be in (0, %d], got %s' % (label, MAX_RATE_MBIT, item['rate_mbit'])
        if item.get('delay_ms') is not None and not 0 <= item['delay_ms'] <= 60000:
            return '%s.delay_ms must be in [0, 60000], got %s' % (label, item['delay_ms'])
        if item.get('loss_pct') is not None and not 0 <= item['loss_pct'] <= 100:
            return '%s.loss_pct must be in [0, 100], got %s' % (label, item['loss_pct'])
        if item.get('queue_limit') is not None and not 1 <= item['queue_limit'] <= 1 << 20:
            return '%s.queue_limit must be in [1, 1048576], got %s' % (label, item['queue_limit'])
        if item['dev'] in seen:
            return '%s.dev %s is listed twice' % (label, item['dev'])
        seen.add(item['dev'])
    return None


def needs_netem(item):
    return any(item.get(key) is not None for key in NETEM_KEYS)


def netem_options(item):
    """A netem qdisc's options as read_current() returns them."""
    return {'kind': 'netem',
            'latency': int(nl.tc_common.time2tick((item.get('delay_ms') or 0) * 1000)),
            'loss': nl.tc_common.percent2u32(item.get('loss_pct') or 0),
            'limit': item.get('queue_limit') or 1000}


def wanted(item, qdisc, burst_bytes, queue_ms):
    """The qdiscs one interface should carry, in the form read_current() returns."""
    if item['rate_mbit'] is None:
        # no rate limit: the kernel's default root, or netem alone as the lab's root
        root = netem_options(item) if needs_netem(item) else None
        return {'burst': None, 'queue_ms': None, 'root': root, 'class': None, 'leaf': None}
    rate = rate_bytes(item['rate_mbit'])
    burst = burst_bytes or default_burst(item['rate_mbit'])
    queue_ms = queue_ms or DEFAULT_QUEUE_MS
    queue = int(rate * queue_ms / 1000.0)
    state = {'burst': burst, 'queue_ms': queue_ms}
    if qdisc == 'tbf':
        state['root'] = {'kind': 'tbf', 'rate': rate, 'buffer': nl.psched_ticks(burst, rate),
                         'limit': queue + burst}
        state['class'] = None
    else:
        state['root'] = {'kind': 'htb'}
        ticks = nl.psched_ticks(burst, rate)
        state['class'] = {'rate': rate, 'ceil': rate, 'buffer': ticks, 'cbuffer': ticks}
    if needs_netem(item):
        state['leaf'] = netem_options(item)
    elif qdisc == 'htb':
        state['leaf'] = {'kind': 'pfifo', 'limit': max(2, int(math.ceil(queue / float(FRAME))))}
    else:
        state['leaf'] = None
    return state


def read_current(ipr, index, qdiscs=None):
    """The shaping of one interface in the form wanted() returns.

    ``root`` is None for the kernel's default root (handle 0:, or no qdisc at all), the lab's root in
    wanted()'s form, or ``{'kind', 'foreign': True}`` for anybody else's; ``root_handle`` is the
    handle of the root qdisc (0 for the default). ``qdiscs``: the device's, when already read
    (lab_netlink.qdiscs_by_index: one dump for every device).
    """
    current = {'root': None, 'class': None, 'leaf': None, 'root_handle': 0}
    for q in nl.qdiscs(ipr, index) if qdiscs is None else qdiscs:
        if q['parent'] == nl.TC_H_ROOT:
            current['root_handle'] = q['handle']
            if q['handle'] == 0:
                continue   # the kernel's default (noqueue, mq, fq_codel, pfifo_fast...)
            if q['handle'] == ROOT and q['kind'] == 'tbf':
                current['root'] = dict(q['options'], kind='tbf')
            elif q['handle'] == ROOT and q['kind'] == 'htb':
                current['root'] = {'kind': 'htb'}
            elif q['handle'] == ROOT and q['kind'] == 'netem':
                current['root'] = dict(q['options'], kind='netem')   # an unshaped path with delay or loss
            else:
                current['root'] = {'kind': q['kind'], 'foreign': True}
        elif q['parent'] == CLASS and q['handle'] == LEAF:
            leaf = {'kind': q['kind']}
            if q['kind'] == 'netem':
                leaf.update(q['options'])
            elif q['kind'] == 'pfifo':
                leaf['limit'] = q['options'].get('limit')
            current['leaf'] = leaf
    if current['root'] and current['root']['kind'] == 'htb' and not current['root'].get('foreign'):
        current['class'] = nl.htb_classes(ipr, index).get(CLASS)
        if current['class'] is not None:
            current['class'].pop('parent', None)
    if current['root'] is None or current['root'].get('foreign'):
        current['leaf'] = None
    return current


def is_foreign(current):
    return bool(current['root'] and current['root'].get('foreign'))


def root_name(current):
    """``<kind> <handle>`` of the root qdisc, as tc shows it (``fq 8001:``)."""
    return '%s %s' % (current['root']['kind'], tc_handle(current['root_handle']))


def tc_handle(handle):
    return '%x:' % (handle >> 16) if not handle & 0xFFFF else '%x:%x' % (handle >> 16, handle & 0xFFFF)


def same(current, want):
    return (current['root'] == want['root'] and current['class'] == want['class']
            and current['leaf'] == want['leaf'])


def describe(item, want, qdisc):
    if item['rate_mbit'] is None:
        if want['root'] is None:
            return 'default'
        return 'netem delay %sms loss %s%% limit %d (no rate limit)' % (
            float(item.get('delay_ms') or 0), float(item.get('loss_pct') or 0), want['root']['limit'])
    text = '%s rate %sMbit burst %db' % (qdisc, float(item['rate_mbit']), want['burst'])
    if want['leaf'] and want['leaf']['kind'] == 'netem':
        netem = (float(item.get('delay_ms') or 0), float(item.get('loss_pct') or 0), want['leaf']['limit'])
        text += ' netem delay %sms loss %s%% limit %d' % netem
    else:
        text += ' latency %sms' % float(want['queue_ms'])
    return text


def describe_current(current):
    if current['root'] is None:
        return 'default'
    if is_foreign(current):
        return "%s (not the lab's)" % root_name(current)
    text = current['root']['kind']
    if current['root'].get('rate'):
        text += ' rate %sMbit' % (current['root']['rate'] * 8 / 1e6)
    elif current['class'] and current['class'].get('rate'):
        text += ' rate %sMbit' % (current['class']['rate'] * 8 / 1e6)
    if current['leaf']:
        text += ' + %s' % current['leaf']['kind']
    return text


NETEM_CONFIG = 'CONFIG_NET_SCH_NETEM'


def netem_static(root='/', release=None):
    """What the running kernel's files say about netem, without creating anything.

    Returns ``(available, how, certain)``: available True, False or None (the files cannot tell);
    certain False when the answer is a likely one only (a loadable module on disk may still fail to
    load). ``root`` and ``release`` are for tests.
    """
    release = release or os.uname()[2]

    def path(*parts):
        return os.path.join(root, *parts)

    if os.path.isdir(path('sys/module/sch_netem')):
        return True, 'sch_netem is loaded (/sys/module/sch_netem)', True
    config = None
    try:
        with gzip.open(path('proc/config.gz'), 'rt') as handle:
            config = handle.read()
    except (IOError, OSError):
        pass
    if config is not None:
        if '%s=y' % NETEM_CONFIG in config:
            return True, '%s=y (/proc/config.gz)' % NETEM_CONFIG, True
        if '%s=m' % NETEM_CONFIG not in config:
            return False, '%s is not set (/proc/config.gz)' % NETEM_CONFIG, True
    modules = path('lib/modules', release)
    lists = {}
    for name in ('modules.builtin', 'modules.dep'):
        try:
            with open(os.path.join(modules, name)) as handle:
                lists[name] = handle.read()
        except (IOError, OSError):
            pass
    if '/sch_netem.ko' in lists.get('modules.builtin', ''):
        return True, 'built in (%s/modules.builtin)' % modules, True
    try:
        with open(path('proc/sys/kernel/modules_disabled')) as handle:
            disabled = handle.read().strip() == '1'
    except (IOError, OSError):
        disabled = False
    if 'modules.dep' in lists:
        if '/sch_netem.ko' not in lists['modules.dep']:
            return False, 'no sch_netem module in %s/modules.dep' % modules, 'modules.builtin' in lists
        if disabled:
            return False, 'sch_netem is not loaded and module loading is disabled (kernel.modules_disabled=1)', True
        return True, 'loadable module (%s/modules.dep)' % modules, False
    return None, 'neither /proc/config.gz nor %s/modules.dep is readable' % modules, False


def qdisc_probe(kind, **options):
    """True when the kernel creates a ``kind`` qdisc, tried on the loopback of a scratch namespace.

    The namespace is anonymous and vanishes with the probe: no name on the host can clash with it and
    nothing is left behind. False when the kernel does not know the kind; raises nl.LabNetlinkError
    when the probe itself cannot run.
    """
    try:
        with nl.open_scratch_netns() as ipr:
            try:
                ipr.tc('add', kind, index=1, handle=LEAF, **options)
            except nl.NetlinkError as exc:
                if exc.code in (errno.ENOENT, errno.EOPNOTSUPP):
                    return False   # unknown qdisc kind
                raise nl.LabNetlinkError('%s probe: add a %s qdisc in a scratch namespace: %s'
                                         % (kind, kind, nl.netlink_message(exc)))
            return True
    except nl.NetlinkError as exc:
        raise nl.LabNetlinkError('%s probe: open a netlink socket in a scratch namespace: %s'
                                 % (kind, nl.netlink_message(exc)))
    except OSError as exc:
        raise nl.LabNetlinkError('%s probe: %s' % (kind, exc))


def netem_support(check_mode):
    """``{'available': True|False|None, 'how': text}``: None only in check mode, when files cannot tell."""
    available, how, certain = netem_static()
    if certain:
        return {'available': available, 'how': how}
    if check_mode:
        if available is None:
            return {'available': None, 'how': 'unknown: not tried in check mode, %s' % how}
        return {'available': available, 'how': how + ', not tried in check mode'}
    if qdisc_probe('netem', delay=0):
        return {'available': True, 'how': 'a netem qdisc was created in a scratch namespace'}
    return {'available': False, 'how': 'the kernel refused a netem qdisc in a scratch namespace (unknown kind)'}


def remove_root(ipr, index, dev, handle):
    try:
        ipr.tc('del', index=index, handle=handle, parent=nl.TC_H_ROOT)
    except nl.NetlinkError as exc:
        if exc.code != errno.ENOENT:
            raise nl.LabNetlinkError('remove root qdisc %s of %s: %s' % (tc_handle(handle), dev,
                                                                         nl.netlink_message(exc)))


def build(ipr, index, dev, item, want, qdisc, current):
    """Replace the interface's qdiscs with the wanted ones (the lab's or, when allowed, a foreign root)."""
    if current['root'] is not None:
        remove_root(ipr, index, dev, current['root_handle'])
    if want['root'] is None:
        return      # unshaped: the kernel's default root is back
    if want['root']['kind'] == 'netem':
        nl.tc(ipr, 'add', 'netem', index, dev, handle=ROOT, delay=(item.get('delay_ms') or 0) * 1000,
              loss=item.get('loss_pct') or 0, limit=want['root']['limit'])
        return
    rate = want['root'].get('rate') or want['class']['rate']
    if qdisc == 'tbf':
        nl.tc(ipr, 'add', 'tbf', index, dev, handle=ROOT, rate=rate, burst=want['burst'],
              limit=want['root']['limit'])
    else:
        nl.tc(ipr, "add", "htb", index, dev, handle=ROOT, default=CLASS & 0xFFFF)
        nl.tc(ipr, 'add-class', 'htb', index, dev, handle=CLASS, parent=ROOT, rate=rate, ceil=rate,
              burst=want['burst'], cburst=want['burst'])
    leaf = want['leaf']
    if leaf and leaf['kind'] == 'netem':
        nl.tc(ipr, 'add', 'netem', index, dev, handle=LEAF, parent=CLASS,
              delay=(item.get('delay_ms') or 0) * 1000, loss=item.get('loss_pct') or 0, limit=leaf['limit'])
    elif leaf:
        nl.tc(ipr, 'add', 'pfifo', index, dev, handle=LEAF, parent=CLASS, limit=leaf['limit'])


def label_of(i, item):
    return item.get('label') or 'devices[%d]' % i


def netem_message(devices):
    i, item = next((i, item) for i, item in enumerate(devices) if needs_netem(item))
    label = label_of(i, item)
    keys = [key for key in NETEM_KEYS if item.get(key) is not None]
    fields = ', '.join('%s.%s' % (label, k) for k in keys)
    return ('%s: this kernel has no netem qdisc (sch_netem), so %s cannot be emulated; remove %s or use a kernel '
            'with CONFIG_NET_SCH_NETEM. Nothing was changed.' % (fields, ' and '.join(keys), fields))


def foreign_message(foreign):
    return ("devices: %s not the lab's (the lab's root is tbf or htb with handle 1ab:, the kernel's default has "
            "handle 0:); the lab does not replace a qdisc it did not create. Remove it (tc qdisc del dev <dev> "
            "root) or set replace_foreign=true. Nothing was changed."
            % '; '.join('the root qdisc %s of %s (%s) is' % (what, dev, label) for dev, label, what in foreign))


def plan_bottlenecks(module, ipr, bottlenecks, devices, links, dump, result, before, after):
    """The changes the shared bottlenecks need (lab_bottleneck.plan), their shaping, and the result's view.

    Fills ``result['bottlenecks']`` ({name: shaping and members, or absent}),
    ``result['redirects']`` ({dev: bottleneck or None}) and the diff's
    ``before``/``after``. Fails, changing nothing, on a device of a
    bottleneck's name that is not an ifb.
    """
    p = module.params
    redirects = {}
    for item in devices:
        redirects[item['dev']] = lb.read_redirect(ipr, links[item['dev']]['index'])
    shared = lb.plan(bottlenecks, devices, links, redirects)
    if shared['foreign']:
        module.fail_json(msg='; '.join("%s.name: %s exists and is a %s, not an ifb device of the lab; the lab does not "
                                       "change a device it did not create. Nothing was changed." % f
                                       for f in shared['foreign']))
    by_index = dict((v['index'], k) for k, v in links.items())
    shared['shape'] = []
    view_before, view_after = {}, {}
    for item in bottlenecks:
        name = item['name']
        link = links.get(name)
        current = None
        if link is not None:
            current = read_current(ipr, link['index'], dump.get(link['index'], []))
            view_before[name] = describe_current(current) + ' <- ' + lb.describe_members(
                sorted(dev for dev, target in redirects.items() if target == link['index']))
        else:
            view_before[name] = 'absent'
        if name not in shared['wanted']:
            view_after[name] = 'absent'
            continue
        want = wanted({'rate_mbit': item['rate_mbit']}, p['qdisc'], p['burst_bytes'], p['queue_ms'])
        view_after[name] = describe({'rate_mbit': item['rate_mbit']}, want, p['qdisc']) + ' <- ' + \
            lb.describe_members(sorted(item['members']))
        if current is None or not same(current, want):
            shared['shape'].append((name, item, want, current))
    shared['changes'] = bool(shared['create'] or shared['delete'] or shared['redirect'] or shared['shape'])
    wanted_of = dict((dev, name) for name, item in shared['wanted'].items() for dev in item['members'])
    before['bottlenecks'], after['bottlenecks'] = view_before, view_after
    result['bottlenecks'] = view_after
    result['redirects'] = dict((item['dev'], wanted_of.get(item['dev'])) for item in devices)
    before['redirects'] = dict((dev, by_index.get(target)) for dev, target in redirects.items())
    after['redirects'] = result['redirects']
    return shared


def apply_bottlenecks(ipr, shared, qdisc, links, dump):
    """Carry out plan_bottlenecks()'s changes: ifb devices and their shaping, then redirects, then removals."""
    index_of = dict((name, v['index']) for name, v in links.items())
    for name in shared['create']:
        index_of[name] = lb.create_ifb(ipr, name)
    for name, item, want, current in shared['shape']:
        build(ipr, index_of[name], name, item, want, qdisc,
              current or {'root': None, 'class': None, 'leaf': None, 'root_handle': 0})
    for dev, target in shared['redirect']:
        index = index_of[dev]
        qdiscs = dump.get(index, [])
        if lb.has_clsact(qdiscs):
            lb.remove_redirect(ipr, index, dev, keep_clsact=target is not None)
        if target is not None:
            lb.add_redirect(ipr, index, dev, index_of[target], target, qdiscs)
    for name in shared['delete']:
        nl.delete_link(ipr, index_of[name], name)


def run(module):
    p = module.params
    devices = p['devices']
    error = validate(devices, p['burst_bytes'], p['queue_ms'])
    if error:
        module.fail_json(msg=error)
    bottlenecks = p['bottlenecks']
    if bottlenecks is not None:
        error = lb.validate(bottlenecks, devices)
        if error:
            module.fail_json(msg=error)
    absent = p['state'] == 'absent'
    if absent and bottlenecks is not None:
        for item in bottlenecks:
            item['members'] = []    # absent: no bottleneck, no redirect
    result = {'changed': False, 'devices': {}}
    before, after = {}, {}
    todo = []
    try:
        with nl.open_netns() as ipr:
            links = nl.links(ipr)
            missing = [item['dev'] for item in devices if item['dev'] not in links]
            if missing:
                module.fail_json(msg='devices: interface(s) %s do not exist on this host' % ', '.join(missing))
            dump = nl.qdiscs_by_index(ipr)
            currents = [read_current(ipr, links[item['dev']]['index'], dump.get(links[item['dev']]['index'], []))
                        for item in devices]
            foreign = [(item['dev'], label_of(i, item), root_name(current))
                       for i, (item, current) in enumerate(zip(devices, currents)) if is_foreign(current)]
            if not absent and foreign and not p['replace_foreign']:
                module.fail_json(msg=foreign_message(foreign))
            if not absent and any(needs_netem(item) for item in devices):
                result['netem'] = netem_support(module.check_mode)
                if result['netem']['available'] is False:
                    module.fail_json(msg=netem_message(devices), netem=result['netem'])
                if result['netem']['available'] is None:
                    module.warn('netem: %s; the run will try for real' % result['netem']['how'])
            for item, current in zip(devices, currents):
                index = links[item['dev']]['index']
                before[item['dev']] = describe_current(current)
                if absent:
                    if current['root'] is not None and not is_foreign(current):
                        after[item['dev']] = 'default'
                        todo.append((index, item, None, current))
                    else:
                        after[item['dev']] = before[item['dev']]
                        if is_foreign(current):
                            module.warn("%s: the root qdisc %s is not the lab's; left alone"
                                        % (item['dev'], root_name(current)))
                    continue
                want = wanted(item, p['qdisc'], p['burst_bytes'], p['queue_ms'])
                after[item['dev']] = describe(item, want, p['qdisc'])
                if not same(current, want):
                    todo.append((index, item, want, current))
            result['devices'] = after
            shared = None
            if bottlenecks is not None:
                shared = plan_bottlenecks(module, ipr, bottlenecks, devices, links, dump, result, before, after)
            result['changed'] = bool(todo) or bool(shared and shared['changes'])
            if module._diff:
                result['diff'] = {'before': before, 'after': after}
            if todo and not module.check_mode:
                for index, item, want, current in todo:
                    if want is None:
                        remove_root(ipr, index, item['dev'], ROOT)
                    else:
                        build(ipr, index, item['dev'], item, want, p['qdisc'], current)
            if shared and shared['changes'] and not module.check_mode:
                apply_bottlenecks(ipr, shared, p['qdisc'], links, dump)
    except lb.BottleneckError as exc:
        module.fail_json(msg=str(exc), **result)
    except (nl.LabNetlinkError, nl.NetlinkError) as exc:
        module.fail_json(msg=nl.netlink_message(exc) if isinstance(exc, nl.NetlinkError) else str(exc), **result)
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            devices=dict(type='list', elements='dict', default=[], options=dict(
                dev=dict(type='str', required=True),
                # a number, or null (the key given) for no rate limit: checked by validate()
                rate_mbit=dict(type='raw', required=True),
                delay_ms=dict(type='float'),
                loss_pct=dict(type='float'),
                queue_limit=dict(type='int'),
                label=dict(type='str'),
            )),
            qdisc=dict(type='str', choices=['tbf', 'htb'], default='tbf'),
            burst_bytes=dict(type='int'),
            queue_ms=dict(type='float'),
            replace_foreign=dict(type='bool', default=False),
            bottlenecks=dict(type='list', elements='dict', options=dict(
                name=dict(type='str', required=True),
                # a number; null only for a bottleneck without members: checked by lab_bottleneck.validate()
                rate_mbit=dict(type='raw'),
                members=dict(type='list', elements='str', default=[]),
                label=dict(type='str'),
            )),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
        ),
        supports_check_mode=True,
    )
    if not nl.HAS_PYROUTE2:
        module.fail_json(msg=missing_required_lib('pyroute2'), exception=nl.PYROUTE2_IMPORT_ERROR)
    module.exit_json(**run(module))


if __name__ == '__main__':
    main()
