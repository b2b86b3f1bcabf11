# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Two hosts joined by one Ethernet bridge per path: the topology of upstream's perf harness, in namespaces.

The client (``<prefix>-uc``) and the server (``<prefix>-us``) each have
``eth0..ethN-1``; path i is the subnet 10.0.i.0/24, the client .2 and the
server .3 on it, as upstream's steps expect. Between them, a middle
namespace (``<prefix>-ub``) holds one bridge per path with two ports
(``c<i>`` toward the client, ``s<i>`` toward the server). The shaping is on
those ports, both directions, never on the ends' own interfaces: a rate
(tbf, the lab's burst and 100 ms queue), and delay and loss with netem under
it when the kernel has netem. No routes or MPTCP endpoints are set: the
suite's steps do that, as on upstream's fresh VMs.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import subprocess

from ansible_collections.mptcp.lab.plugins.module_utils.lab import lab_netlink as nl
from ansible_collections.mptcp.lab.plugins.module_utils.lab import shaping_rules as rules

HOSTS = ('client', 'server')
ADDRESS = {'client': 2, 'server': 3}
ROUTE_PROTO = 211        # the lab's addresses, as netns_wiring marks them (lab_route_protocol)


def namespaces(prefix):
    """{client, server, bridge: namespace name} of a prefix."""
    return {'client': '%s-uc' % prefix, 'server': '%s-us' % prefix, 'bridge': '%s-ub' % prefix}


def address(path_index, host):
    return '10.0.%d.%d' % (path_index, ADDRESS[host])


def netem_available():
    """Whether the kernel can make a netem qdisc: tried in a scratch namespace that vanishes after."""
    try:
        with nl.open_scratch_netns() as ipr:
            ipr.tc('add', 'netem', index=1, handle=rules.ROOT, delay=1000)
        return True
    except Exception:    # pylint: disable=broad-except
        return False


def _shape(ipr, index, dev, bridge, netem):
    """The qdiscs of one bridge port; returns the shaping applied ({rate_mbit, delay_ms, loss_pc})."""
    rate_mbit = bridge.get('rate_mbit')
    delay = bridge.get('delay_ms') if netem else None
    loss = bridge.get('loss_pc') if netem else None
    if rate_mbit:
        burst = rules.default_burst(rate_mbit)
        nl.tc(ipr, 'add', 'tbf', index, dev, handle=rules.ROOT, rate=rules.rate_bytes(rate_mbit), burst=burst,
              limit=rules.queue_bytes(rate_mbit) + burst)
        if delay or loss:
            nl.tc(ipr, 'add', 'netem', index, dev, handle=rules.LEAF, parent=rules.CLASS,
                  delay=(delay or 0) * 1000, loss=loss or 0)
    elif delay or loss:
        nl.tc(ipr, 'add', 'netem', index, dev, handle=rules.ROOT, delay=(delay or 0) * 1000, loss=loss or 0)
    return {'rate_mbit': rate_mbit or None, 'delay_ms': delay or None, 'loss_pc': loss or None}


def _offloads_off(ns, devices):
    """gro, gso, tso, tx, rx and sg off on devices of namespace ns (upstream's bridges_hw_accel: false)."""
    for dev in devices:
        proc = subprocess.run(['ip', 'netns', 'exec', ns, 'ethtool', '-K', dev, 'gro', 'off', 'gso', 'off',
                               'tso', 'off', 'tx', 'off', 'rx', 'off', 'sg', 'off'],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                              check=False)
        if proc.returncode != 0:
            raise nl.LabNetlinkError('offloads off on %s/%s: %s' % (ns, dev, proc.stdout.strip()))


def build(prefix, bridges, netem=None, hw_accel=True):
    """Create the namespaces, bridges and interfaces of one test; returns what was built.

    ``bridges``: [{ifname, rate_mbit, delay_ms, loss_pc}], one per path.
    ``netem``: whether delay and loss can be applied (None: find out).
    Raises LabNetlinkError; the caller removes the namespaces (remove())
    also when building failed half-way.
    """
    names = namespaces(prefix)
    for name in names.values():
        if nl.netns_exists(name):
            raise nl.LabNetlinkError('namespace %s exists already: another run of prefix %s is using it, '
                                     'or one was killed (remove it with ip netns del %s)' % (name, prefix, name))
    if netem is None:
        netem = not any(b.get('delay_ms') or b.get('loss_pc') for b in bridges) or netem_available()
    for name in names.values():
        nl.create_netns(name)
    applied = []
    with nl.open_netns(names['bridge']) as mid:
        for i, bridge in enumerate(bridges):
            mid.link('add', ifname=bridge['ifname'], kind='bridge')
            br = mid.link_lookup(ifname=bridge['ifname'])[0]
            shaping = None
            for host, port in (('client', 'c%d' % i), ('server', 's%d' % i)):
                nl.add_veth(mid, port, 'eth%d' % i, names[host])
                idx = mid.link_lookup(ifname=port)[0]
                mid.link('set', index=idx, master=br)
                nl.set_up(mid, idx, port)
                shaping = _shape(mid, idx, '%s/%s' % (names['bridge'], port), bridge, netem)
            nl.set_up(mid, br, bridge['ifname'])
            applied.append(dict(shaping, name=bridge['name'], ifname=bridge['ifname']))
    for host in HOSTS:
        with nl.open_netns(names[host]) as ipr:
            for i in range(len(bridges)):
                idx = ipr.link_lookup(ifname='eth%d' % i)[0]
                nl.add_address(ipr, idx, address(i, host), 24, ROUTE_PROTO)
                nl.set_up(ipr, idx, '%s/eth%d' % (names[host], i))
    if not hw_accel:
        ports = [b['ifname'] for b in bridges] + ['c%d' % i for i in range(len(bridges))] + \
            ['s%d' % i for i in range(len(bridges))]
        _offloads_off(names['bridge'], ports)
    return {'namespaces': names, 'bridges': applied, 'netem': netem}


def remove(prefix):
    """Stop every process in the test's namespaces, then remove them; returns the pids stopped."""
    names = [n for n in namespaces(prefix).values() if nl.netns_exists(n)]
    pids = []
    if names:
        pids = nl.kill_netns_pids(names)
    for name in names:
        try:
            nl.delete_netns(name)
        except OSError as exc:   # pragma: no cover - gone meanwhile
            if exc.errno != errno.ENOENT:
                raise
    return pids
