#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: path_routing
short_description: Per-path addresses and policy routing of a multipath host
version_added: 0.1.0
description:
  - Puts one IPv4 address on the interface of each path and makes each source address leave by its
    own path, on a generator or a sink of an MPTCP lab (a network namespace or a real host).
  - For each path with a O(links[].table), a policy rule C(from <address> lookup <table>) and, in that
    table, the path's subnet and a route to O(links[].peer_address) through O(links[].gateway).
  - In the main table, a route to each path's peer address through that path (with the path's
    address as preferred source), so that a connection to the peer's path-i address uses path i
    whatever socket opened it. This is what makes the kernel's MPTCP subflows take disjoint paths.
  - Sets C(rp_filter) on the path interfaces (and lowers C(all) when it is stricter) and, if asked,
    IPv4 forwarding (for a router such as the lab's shaper).
  - Ownership is by protocol number and place. Every address, route and rule it creates carries O(protocol)
    (C(IFA_PROTO), C(RTM_PROTOCOL), C(FRA_PROTOCOL)). It removes only what carries O(protocol) and sits in
    the lab's own places - a rule C(from <address>) at one of the lab's priorities (O(rule_priority) to
    O(rule_priority) + 7) looking up a table other than main, local and default; a route in a table such
    a rule or O(links) names, or in main on a lab device; an address on a lab device (the devices of
    O(links) and of the routes in the lab's tables). Everything else on the host is left alone, also
    when it carries O(protocol).
  - O(protocol) must be a number no one else uses. The numbers of the system (0-4 - unspec, redirect,
    kernel, boot, static) and every number the host's rt_protos files name (/etc/iproute2/rt_protos,
    /usr/share/iproute2/rt_protos, rt_protos.d/*.conf) are refused before anything changes.
  - A route the module would add whose place (table, destination, metric, tos) is held by a route of
    another protocol (an administrator's C(static) route, a routing daemon's) is never replaced; the
    module fails naming the table, the destination and the protocol, before changing anything. An
    address that exists already is used as it is (it keeps its owner). A policy rule never takes
    another one over, since the kernel tells rules of different protocols apart.
options:
  links:
    description:
      - One item per path, in the format of the C(lab_path_links) host variable.
      - With O(state=absent), the links the lab had (their devices and tables widen the lab's places;
        they need not exist any more).
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Path number (1-8); orders the policy rules.
        type: int
        required: true
      dev:
        description: Interface of the path on this host. It must exist.
        type: str
        required: true
      address:
        description: IPv4 address of this host on the path.
        type: str
        required: true
      prefix:
        description: Prefix length of O(links[].address).
        type: int
        required: true
      peer_address:
        description: Address of the other end host on this path (omit on a router).
        type: str
      gateway:
        description: Next hop towards O(links[].peer_address); omit when the peer is on the same link.
        type: str
      table:
        description: Policy routing table of the path; omit for no policy routing (a router).
        type: int
  protocol:
    description:
      - Protocol number that marks the addresses, routes and rules this module owns (5-255, not in the
        host's rt_protos).
    type: int
    default: 211
  rule_priority:
    description:
      - Priority of path 1's policy rule; path i gets O(rule_priority) + i - 1. The 8 priorities from
        it are the lab's (1-32758, so that the range stays below the kernel's main and default rules).
    type: int
    default: 10000
  rp_filter:
    description:
      - Reverse path filter of the path interfaces (0 off, 1 strict, 2 loose). Null leaves it alone.
      - C(net.ipv4.conf.all.rp_filter) is lowered to this value when it is stricter, since the kernel
        applies the maximum of both.
    type: int
    choices: [0, 1, 2]
    default: 2
  forwarding:
    description: Set C(net.ipv4.ip_forward) to this value; null leaves it alone.
    type: bool
  state:
    description:
      - V(present) makes the host match O(links) and removes owned objects not in it.
      - V(absent) removes every address, route and rule of the lab (carrying O(protocol), in the lab's
        places, see above).
    type: str
    choices: [present, absent]
    default: present
requirements:
  - pyroute2
  - Linux 6.1 or newer for address ownership (C(IFA_PROTO)); older kernels never remove stale addresses.
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
- name: Addresses and policy routing of every path (generator or sink)
  mptcp.lab.path_routing:
    links: "{{ lab_path_links }}"

- name: A router between paths (the lab's shaper)
  mptcp.lab.path_routing:
    links:
      - {path: 1, dev: mlab-1g1, address: 10.200.0.1, prefix: 24}
      - {path: 1, dev: mlab-1s1, address: 10.200.1.1, prefix: 24}
    forwarding: true
    rp_filter: 0
'''

RETURN = r'''
addresses:
  description: Owned addresses after the run, as C(dev address/prefix).
  returned: always
  type: list
  elements: str
  sample: [mlab-p1 10.200.0.2/24]
routes:
  description: Owned routes after the run, as C(table dst via gateway dev src).
  returned: always
  type: list
  elements: str
  sample: [101 10.200.1.2/32 via 10.200.0.1 dev mlab-p1 src 10.200.0.2]
rules:
  description: Owned rules after the run, as C(priority from src lookup table).
  returned: always
  type: list
  elements: str
  sample: [10000 from 10.200.0.2/32 lookup 101]
sysctls:
  description: Sysctl values after the run.
  returned: always
  type: dict
  sample: {net.ipv4.conf.mlab-p1.rp_filter: "2"}
'''

import ipaddress

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.mptcp.lab.plugins.module_utils import lab_netlink as nl
from ansible_collections.mptcp.lab.plugins.module_utils import route_protocols
from ansible_collections.mptcp.lab.plugins.module_utils.lab_plan import MAX_PATHS

# Names of the route protocols of /etc/iproute2/rt_protos, for messages.
PROTOCOL_NAMES = {0: 'unspec', 1: 'redirect', 2: 'kernel', 3: 'boot', 4: 'static', 8: 'gated', 9: 'ra',
                  10: 'mrt', 11: 'zebra', 12: 'bird', 13: 'dnrouted', 14: 'xorp', 15: 'ntk', 16: 'dhcp',
                  17: 'mrouted', 18: 'keepalived', 42: 'babel', 99: 'openr', 186: 'bgp', 187: 'isis',
                  188: 'ospf', 189: 'rip', 192: 'eigrp'}
TABLE_NAMES = {nl.RT_TABLE_MAIN: 'main'}
# unspec, default, main, local: never a lab table
RESERVED_TABLES = (0, 253, 254, 255)
# The lab's rule priorities are rule_priority .. rule_priority + MAX_PATHS - 1, below main's 32766.
MAX_RULE_PRIORITY = 32765 - (MAX_PATHS - 1)


def _ip(value, field):
    try:
        return ipaddress.IPv4Address(value)
    except (ValueError, TypeError):
        raise ValueError('%s: %r is not an IPv4 address' % (field, value))


def validate(links, protocol, rule_priority=10000, known_protocols=None):
    """Returns an error text or None. ``known_protocols``: route_protocols.read_rt_protos() of the host."""
    dummy, error = route_protocols.check_protocol(protocol, 'protocol', known_protocols or {})
    if error:
        return error
    if not 1 <= rule_priority <= MAX_RULE_PRIORITY:
        return 'rule_priority must be in [1, %d] (the lab uses %d priorities from it, below main\'s 32766), got %d' % (
            MAX_RULE_PRIORITY, MAX_PATHS, rule_priority)
    seen = set()
    for i, link in enumerate(links):
        field = 'links[%d]' % i
        if not 1 <= link['path'] <= MAX_PATHS:
            return '%s.path must be in [1, %d], got %d' % (field, MAX_PATHS, link['path'])
        try:
            _ip(link['address'], field + '.address')
            for key in ('peer_address', 'gateway'):
                if link.get(key):
                    _ip(link[key], '%s.%s' % (field, key))
        except ValueError as exc:
            return str(exc)
        if not 1 <= link['prefix'] <= 32:
            return '%s.prefix must be in [1, 32], got %d' % (field, link['prefix'])
        if link.get('table') is not None and not 1 <= link['table'] <= 0xFFFFFFFF or link.get('table') in (253, 254, 255):
            return '%s.table must be a table id other than 253-255 (default, main, local), got %r' % (field, link['table'])
        if link['address'] in seen:
            return '%s.address %s is used by two links' % (field, link['address'])
        seen.add(link['address'])
        if link.get('table') is not None and not link.get('peer_address'):
            return '%s: a path with a table needs peer_address' % field
    places = {}
    for i, link in enumerate(links):
        for route in wanted_state([link], 0)[1]:
            place = (route['table'], route['dst'])
            if place in places:
                return ('links[%d] and links[%d] both need a route to %s in table %s (one route per destination '
                        'and table)' % (places[place], i, route['dst'], TABLE_NAMES.get(route['table'], route['table'])))
            places[place] = i
    return None


def wanted_state(links, rule_priority):
    """Addresses, routes and rules the links ask for (plain comparable dicts, devs by name)."""
    addresses, routes, rules = [], [], []
    for link in links:
        dev, address = link['dev'], link['address']
        net = ipaddress.IPv4Network('%s/%d' % (address, link['prefix']), strict=False)
        addresses.append({'dev': dev, 'address': address, 'prefix': link['prefix']})
        peer = link.get('peer_address')
        gateway = link.get('gateway') or None
        peer_route = None
        if peer and ipaddress.IPv4Address(peer) not in net:
            peer_route = {'dst': '%s/32' % peer, 'gateway': gateway, 'dev': dev, 'prefsrc': address,
                          'scope': nl.RT_SCOPE_UNIVERSE if gateway else nl.RT_SCOPE_LINK}
        if peer_route:
            routes.append(dict(peer_route, table=nl.RT_TABLE_MAIN))
        table = link.get('table')
        if table is not None:
            routes.append({'table': table, 'dst': str(net), 'gateway': None, 'dev': dev, 'prefsrc': address,
                           'scope': nl.RT_SCOPE_LINK})
            if peer_route:
                routes.append(dict(peer_route, table=table))
            rules.append({'priority': rule_priority + link['path'] - 1, 'src': '%s/32' % address, 'table': table})
    return addresses, routes, rules


def wanted_sysctls(links, rp_filter, forwarding, current_all_rp):
    want = {}
    if rp_filter is not None:
        for link in links:
            want[conf_key(link['dev'], 'rp_filter')] = str(rp_filter)
        if current_all_rp is not None and int(current_all_rp) > rp_filter:
            want['net.ipv4.conf.all.rp_filter'] = str(rp_filter)
    if forwarding is not None:
        want['net.ipv4.ip_forward'] = '1' if forwarding else '0'
    return want


def conf_key(dev, key):
    return 'net.ipv4.conf.%s.%s' % (dev, key)


def fmt_route(route):
    text = '%s %s' % (route['table'], route['dst'])
    if route.get('gateway'):
        text += ' via %s' % route['gateway']
    text += ' dev %s' % route['dev']
    if route.get('prefsrc'):
        text += ' src %s' % route['prefsrc']
    return text


def fmt_rule(rule):
    return '%d from %s lookup %d' % (rule['priority'], rule['src'] or 'all', rule['table'])


def fmt_addr(addr):
    return '%s %s/%d' % (addr['dev'], addr['address'], addr['prefix'])


class Host(object):
    """Current owned state of the host, read once."""

    def __init__(self, ipr, protocol):
        self.ipr = ipr
        self.protocol = protocol
        self.links = nl.links(ipr)
        self.names = dict((v['index'], k) for k, v in self.links.items())
        self.addresses = []
        for addr in nl.addresses(ipr):
            addr['dev'] = self.names.get(addr['index'], str(addr['index']))
            self.addresses.append(addr)
        # everything carrying the protocol; lab_scope() keeps what is in the lab's places
        self.proto_routes = []
        for route in nl.routes(ipr, protocol):
            route['dev'] = self.names.get(route.pop('oif'), None)
            self.proto_routes.append(route)
        self.proto_rules = nl.rules(ipr, protocol)
        self.route_protocols = nl.route_protocols(ipr)
        self.rules = self.routes = self.devs = None

    def scope(self, links, rule_priority):
        self.rules, self.routes, self.devs = lab_scope(links, rule_priority, self.proto_rules, self.proto_routes)


def lab_scope(links, rule_priority, rules, routes):
    """The lab's own rules and routes among those carrying its protocol, and the lab's devices.

    A rule is the lab's when it is at one of the lab's priorities, from an address (never ``from all``),
    looking up a table that is not main, local or default. The lab's tables are those of its rules and
    of ``links``; a route is the lab's in one of them, or in main on one of the lab's devices: the
    devices of ``links`` and of the routes in the lab's tables. So a path dropped from ``links`` is still
    found (through its rule) and removed, and an object elsewhere that carries the protocol is not.
    Returns ``(rules, routes, devices)``.
    """
    priorities = range(rule_priority, rule_priority + MAX_PATHS)
    own_rules = [r for r in rules
                 if r['priority'] in priorities and r.get('src') and r['table'] not in RESERVED_TABLES]
    tables = set(r['table'] for r in own_rules)
    tables.update(link['table'] for link in links if link.get('table') is not None)
    tables.difference_update(RESERVED_TABLES)
    table_routes = [r for r in routes if r['table'] in tables]
    devs = set(link['dev'] for link in links)
    devs.update(r['dev'] for r in table_routes if r.get('dev'))
    main_routes = [r for r in routes if r['table'] == nl.RT_TABLE_MAIN and r.get('dev') in devs]
    return own_rules, table_routes + main_routes, devs


def foreign_routes(host, add_routes, protocol):
    """The routes to add whose place (table, destination, metric 0, tos 0) holds a route of another owner.

    The kernel keeps one route per key: adding ours would fail, replacing it would take the other
    route over (relabelled with our protocol, then deleted by state=absent). Returns one text per
    conflict, naming the table, the destination and the other route's protocol.
    """
    out = []
    for route in add_routes:
        proto = host.route_protocols.get((route['table'], route['dst'], 0, 0))
        if proto is not None and proto != protocol:
            table = TABLE_NAMES.get(route['table'], route['table'])
            name = PROTOCOL_NAMES.get(proto)
            out.append('%s in table %s (protocol %s)'
                       % (route['dst'], table, '%s %d' % (name, proto) if name else proto))
    return out


def compute(host, want_addrs, want_routes, want_rules, protocol):
    """What to add and delete: dict of lists."""
    have_addrs = [dict(dev=a['dev'], address=a['address'], prefix=a['prefix']) for a in host.addresses]
    owned_addrs = [dict(dev=a['dev'], address=a['address'], prefix=a['prefix'])
                   for a in host.addresses if a['proto'] == protocol and a['dev'] in host.devs]
    return {
        'add_addrs': [a for a in want_addrs if a not in have_addrs],
        'del_addrs': [a for a in owned_addrs if a not in want_addrs],
        'add_routes': [r for r in want_routes if r not in host.routes],
        'del_routes': [r for r in host.routes if r not in want_routes],
        'add_rules': [r for r in want_rules if r not in host.rules],
        'del_rules': [r for r in host.rules if r not in want_rules],
    }


def apply(host, todo, protocol):
    ipr = host.ipr

    def index(dev):
        return host.links[dev]['index']

    for rule in todo['del_rules']:
        nl.delete_rule(ipr, rule, protocol)
    for route in todo['del_routes']:
        if route['dev'] in host.links:
            nl.delete_route(ipr, dict(route, oif=index(route['dev'])), protocol)
    for addr in todo['del_addrs']:
        if addr['dev'] in host.links:
            nl.delete_address(ipr, index(addr['dev']), addr['address'], addr['prefix'])
    for addr in todo['add_addrs']:
        nl.add_address(ipr, index(addr['dev']), addr['address'], addr['prefix'], protocol)
    for route in todo['add_routes']:
        nl.add_route(ipr, dict(route, oif=index(route['dev'])), protocol)
    for rule in todo['add_rules']:
        nl.add_rule(ipr, rule, protocol)


def run(module):
    p = module.params
    absent = p['state'] == 'absent'
    error = validate(p['links'], p['protocol'], p['rule_priority'], route_protocols.read_rt_protos())
    if error:
        module.fail_json(msg=error)
    links = [] if absent else p['links']
    with nl.open_netns() as ipr:
        host = Host(ipr, p['protocol'])
        host.scope(p['links'], p['rule_priority'])
        missing = [link['dev'] for link in links if link['dev'] not in host.links]
        if missing:
            module.fail_json(msg='links: interface(s) %s do not exist on this host' % ', '.join(missing))
        want_addrs, want_routes, want_rules = wanted_state(links, p['rule_priority'])
        todo = compute(host, want_addrs, want_routes, want_rules, p['protocol'])
        taken = foreign_routes(host, todo['add_routes'], p['protocol'])
        if taken:
            module.fail_json(msg='links: the route(s) %s exist and are not the lab\'s (protocol %d): the lab never '
                                 'takes over a route it did not create. Remove them or choose other addresses '
                                 'or tables. Nothing was changed.' % ('; '.join(taken), p['protocol']))
        want_sys = {} if absent else wanted_sysctls(links, p['rp_filter'], p['forwarding'],
                                                    nl.read_sysctl('net.ipv4.conf.all.rp_filter'))
        have_sys = dict((k, nl.read_sysctl(k)) for k in want_sys)
        todo_sys = dict((k, v) for k, v in want_sys.items() if have_sys[k] != v)
        changed = any(todo.values()) or bool(todo_sys)
        owned_before = [dict(dev=a['dev'], address=a['address'], prefix=a['prefix'])
                        for a in host.addresses if a['proto'] == p['protocol'] and a['dev'] in host.devs]
        result = {
            'changed': changed,
            'addresses': sorted(fmt_addr(a) for a in want_addrs),
            'routes': sorted(fmt_route(r) for r in want_routes),
            'rules': sorted(fmt_rule(r) for r in want_rules),
            'sysctls': dict(have_sys, **want_sys),
        }
        if module._diff:
            result['diff'] = {
                'before': {'addresses': sorted(fmt_addr(a) for a in owned_before),
                           'routes': sorted(fmt_route(r) for r in host.routes),
                           'rules': sorted(fmt_rule(r) for r in host.rules),
                           'sysctls': have_sys},
                'after': {'addresses': result['addresses'], 'routes': result['routes'],
                          'rules': result['rules'], 'sysctls': want_sys},
            }
        if changed and not module.check_mode:
            try:
                for key, value in sorted(todo_sys.items()):
                    nl.write_sysctl(key, value)
                apply(host, todo, p['protocol'])
            except (nl.LabNetlinkError, nl.NetlinkError) as exc:
                module.fail_json(msg=str(exc))
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            links=dict(type='list', elements='dict', default=[], options=dict(
                path=dict(type='int', required=True),
                dev=dict(type='str', required=True),
                address=dict(type='str', required=True),
                prefix=dict(type='int', required=True),
                peer_address=dict(type='str'),
                gateway=dict(type='str'),
                table=dict(type='int'),
            )),
            protocol=dict(type='int', default=211),
            rule_priority=dict(type='int', default=10000),
            rp_filter=dict(type='int', choices=[0, 1, 2], default=2),
            forwarding=dict(type='bool'),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
        ),
        supports_check_mode=True,
    )
    if not nl.HAS_PYROUTE2:
        module.fail_json(msg=missing_required_lib('pyroute2'), exception=nl.PYROUTE2_IMPORT_ERROR)
    module.exit_json(**run(module))


if __name__ == '__main__':
    main()
