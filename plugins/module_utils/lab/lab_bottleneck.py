# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Shared bottlenecks on the lab's shaper: the egress of several interfaces through one shaped point.

A bottleneck is an ``ifb`` device whose root qdisc carries the lab's shaping
(mptcp.lab.path_shaping's tbf or htb). Each member interface gets a
``clsact`` qdisc and, at its egress, one ``u32`` filter of the lab's
preference (FILTER_PREF) that matches every packet and redirects it to the
ifb (``mirred egress redirect``). The ifb queues and paces the packets of all
its members together, then sends each one back out of the interface it came
from, where that interface's own root qdisc (the path's shaping) applies as
before. So several pairs' paths share one rate, and each path keeps its own.

Ownership: the lab's ifb devices have the names the lab gives them (the
caller's list) and are of kind ifb; a device of that name of any other kind
is not the lab's and is never changed. The lab's filter is the one of
preference FILTER_PREF at the egress of an interface the caller lists;
removing it removes the clsact qdisc too when no other filter is left there.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import re

from ansible_collections.mptcp.lab.plugins.module_utils.lab import lab_netlink as nl

FILTER_PREF = 0x1AB           # 427: the lab's filter preference ("lab")
CLSACT_PARENT = 0xFFFFFFF1    # TC_H_CLSACT
CLSACT_HANDLE = 0xFFFF0000
EGRESS = 0xFFFFFFF3           # TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS)
INGRESS = 0xFFFFFFF2
ETH_P_ALL = 0x0003
IFNAME_RE = re.compile(r'^[A-Za-z0-9_.-]{1,15}$')


class BottleneckError(Exception):
    pass


def validate(bottlenecks, devices):
    """The first problem of the ``bottlenecks`` option, or None; rates are made floats in place.

    Each item is ``{name, rate_mbit, members, label}``: ``members`` are
    interfaces of ``devices`` (the module's list), each in one bottleneck at
    most; a bottleneck with members needs a rate, one without is removed.
    """
    listed = set(item['dev'] for item in devices)
    names, owner = set(), {}
    for i, item in enumerate(bottlenecks):
        label = item.get('label') or 'bottlenecks[%d]' % i
        name = item.get('name')
        if not isinstance(name, str) or not IFNAME_RE.match(name):
            return '%s.name must be an interface name of 1-15 letters, digits, ".", "_" or "-", got %r' % (label, name)
        if name in names:
            return '%s.name %s is listed twice' % (label, name)
        if name in listed:
            return '%s.name %s is also one of the devices: a bottleneck is an ifb device of its own' % (label, name)
        names.add(name)
        members = item.get('members') or []
        for dev in members:
            if dev not in listed:
                return ('%s.members: %s is not one of the devices (a member must be an interface this task '
                        'shapes)' % (label, dev))
            if dev in owner:
                return '%s.members: %s is already a member of %s (one bottleneck per interface)' % (
                    label, dev, owner[dev])
            owner[dev] = name
        rate = item.get('rate_mbit')
        if members:
            if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate <= 34000:
                return '%s.rate_mbit must be a number in (0, 34000] for a bottleneck with members, got %r' % (
                    label, rate)
            item['rate_mbit'] = float(rate)
        item['members'] = list(members)
    return None


def redirect_target(filters):
    """The ifindex the lab's filter (FILTER_PREF) redirects to, among one egress's filter messages, or None."""
    for msg in filters:
        if msg.get('TCA_KIND') != 'u32' or (msg['info'] >> 16) != FILTER_PREF:
            continue
        options = msg.get('TCA_OPTIONS')
        if not hasattr(options, 'get'):
            continue
        actions = options.get('TCA_U32_ACT')
        if not actions:
            continue
        for _name, action in actions.get('attrs', []):
            if not hasattr(action, 'get') or action.get('TCA_ACT_KIND') != 'mirred':
                continue
            parms = (action.get('TCA_ACT_OPTIONS') or {}).get('TCA_MIRRED_PARMS') or {}
            if parms.get('ifindex'):
                return parms['ifindex']
    return None


def _filters(ipr, index, parent):
    try:
        return list(ipr.get_filters(index=index, parent=parent))
    except nl.NetlinkError as exc:
        if exc.code in (errno.EINVAL, errno.ENOENT):
            return []    # no clsact qdisc on the interface
        raise


def read_redirect(ipr, index):
    """The ifindex the lab's filter on one interface's egress redirects to, or None (one filter dump)."""
    return redirect_target(_filters(ipr, index, EGRESS))


def has_clsact(qdiscs):
    return any(q['kind'] == 'clsact' for q in qdiscs)


def add_redirect(ipr, index, dev, target_index, target, qdiscs):
    """Redirect every packet leaving ``dev`` to the ifb ``target`` (the lab's filter)."""
    try:
        if not has_clsact(qdiscs):
            ipr.tc('add', 'clsact', index=index)
        ipr.tc('add-filter', 'u32', index=index, parent=EGRESS, prio=FILTER_PREF, protocol=ETH_P_ALL,
               target=0x10000, keys=['0x0/0x0+0'],
               action={'kind': 'mirred', 'direction': 'egress', 'action': 'redirect', 'ifindex': target_index})
    except nl.NetlinkError as exc:
        raise BottleneckError('redirect the egress of %s to %s: %s' % (dev, target, nl.netlink_message(exc)))


def remove_redirect(ipr, index, dev, keep_clsact):
    """Remove the lab's filter of ``dev``'s egress, and then the clsact qdisc unless ``keep_clsact`` (a
    redirect follows) or other filters use it (read only here, where it matters)."""
    try:
        # no kind: pyroute2 would ask for a u32 filter's match and target to delete it
        ipr.tc('del-filter', index=index, parent=EGRESS, prio=FILTER_PREF, protocol=ETH_P_ALL)
    except nl.NetlinkError as exc:
        if exc.code != errno.ENOENT:
            raise BottleneckError('remove the redirect of %s: %s' % (dev, nl.netlink_message(exc)))
    if keep_clsact or _filters(ipr, index, EGRESS) or _filters(ipr, index, INGRESS):
        return
    try:
        ipr.tc('del', 'clsact', index=index, parent=CLSACT_PARENT, handle=CLSACT_HANDLE)
    except nl.NetlinkError as exc:
        if exc.code not in (errno.ENOENT, errno.EINVAL):
            raise BottleneckError('remove the clsact qdisc of %s: %s' % (dev, nl.netlink_message(exc)))


def create_ifb(ipr, name):
    """Create the ifb device ``name`` and set it up; its index."""
    try:
        ipr.link('add', ifname=name, kind='ifb')
    except nl.NetlinkError as exc:
        if exc.code in (errno.EOPNOTSUPP, errno.ENOENT):
            raise BottleneckError('create the ifb device %s: this kernel has no ifb driver (CONFIG_IFB), which '
                                  'a shared bottleneck needs' % name)
        raise BottleneckError('create the ifb device %s: %s' % (name, nl.netlink_message(exc)))
    index = ipr.link_lookup(ifname=name)[0]
    nl.set_up(ipr, index, name)
    return index


def plan(bottlenecks, devices, links, redirects):
    """What to change, from the wanted bottlenecks and the current state.

    ``links``: lab_netlink.links() of the namespace; ``redirects``: {dev:
    current target ifindex or None} of every listed device. Returns
    ``{'create': [names], 'delete': [names], 'redirect': [(dev, name or None)],
    'wanted': {name: item}, 'foreign': [(label, name, kind)]}``; ``redirect``
    lists only the devices whose target changes.
    """
    by_index = dict((v['index'], k) for k, v in links.items())
    member_of = {}
    out = {'create': [], 'delete': [], 'redirect': [], 'wanted': {}, 'foreign': []}
    for i, item in enumerate(bottlenecks):
        name = item['name']
        link = links.get(name)
        if link is not None and link['kind'] != 'ifb':
            out['foreign'].append((item.get('label') or 'bottlenecks[%d]' % i, name, link['kind'] or 'device'))
            continue
        if item['members']:
            out['wanted'][name] = item
            for dev in item['members']:
                member_of[dev] = name
            if link is None:
                out['create'].append(name)
        elif link is not None:
            out['delete'].append(name)
    for item in devices:
        dev = item['dev']
        current = by_index.get(redirects.get(dev)) if redirects.get(dev) else None
        want = member_of.get(dev)
        if current != want:
            out['redirect'].append((dev, want))
    return out


def describe_members(members):
    return ', '.join(members) if members else 'none'
