# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Per-path addresses, policy routing and sysctls of a lab host: the plan and its application.

What mptcp.lab.path_routing does, as functions, so that mptcp.lab.lab_host_config
configures a host's routing the same way (one meaning for every option), also for
many network namespaces in one call. Everything acts on the network namespace of
the calling thread: ``ipr`` is an IPRoute socket opened there, and the sysctls
are read and written under /proc/sys as that thread sees it.

Ownership is by protocol number and place (see lab_scope()); the module's
documentation (plugins/modules/path_routing.py) says it for users.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from ansible_collections.mptcp.lab.plugins.module_utils.lab import lab_netlink as nl
from ansible_collections.mptcp.lab.plugins.module_utils.lab import route_protocols
from ansible_collections.mptcp.lab.plugins.module_utils.lab.lab_plan import MAX_PATHS

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
        dump = nl.route_dump(ipr)
        for route in nl.routes(ipr, protocol, dump):
            route['dev'] = self.names.get(route.pop('oif'), None)
            self.proto_routes.append(route)
        self.proto_rules = nl.rules(ipr, protocol)
        self.route_protocols = nl.route_protocols(ipr, dump)
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


class RoutingError(Exception):
    """Bad input, a missing interface or a route the lab does not own: nothing was changed."""


class RoutingPlan(object):
    """What a host's routing is and should be, read once; apply() makes it so."""

    def __init__(self, host, protocol, want, have_sys, want_sys, todo, todo_sys, owned_before):
        self.host = host
        self.protocol = protocol
        self.want_addrs, self.want_routes, self.want_rules = want
        self.have_sys = have_sys
        self.want_sys = want_sys
        self.todo = todo
        self.todo_sys = todo_sys
        self.owned_before = owned_before

    @property
    def changed(self):
        return any(self.todo.values()) or bool(self.todo_sys)

    @property
    def addresses(self):
        """The addresses the host will have (dev, address, prefix)."""
        return list(self.want_addrs)

    def result(self, diff=False):
        """The module result: owned state after the run, and the diff when asked."""
        result = {
            'changed': self.changed,
            'addresses': sorted(fmt_addr(a) for a in self.want_addrs),
            'routes': sorted(fmt_route(r) for r in self.want_routes),
            'rules': sorted(fmt_rule(r) for r in self.want_rules),
            'sysctls': dict(self.have_sys, **self.want_sys),
        }
        if diff:
            result['diff'] = {
                'before': {'addresses': sorted(fmt_addr(a) for a in self.owned_before),
                           'routes': sorted(fmt_route(r) for r in self.host.routes),
                           'rules': sorted(fmt_rule(r) for r in self.host.rules),
                           'sysctls': self.have_sys},
                'after': {'addresses': result['addresses'], 'routes': result['routes'],
                          'rules': result['rules'], 'sysctls': self.want_sys},
            }
        return result

    def apply(self):
        """Sysctls first, then deletions and additions; raises LabNetlinkError (or NetlinkError)."""
        for key, value in sorted(self.todo_sys.items()):
            nl.write_sysctl(key, value)
        apply(self.host, self.todo, self.protocol)


def plan(ipr, links, protocol=211, rule_priority=10000, rp_filter=2, forwarding=None, absent=False,
         known_protocols=None):
    """Read the host (through ``ipr`` and /proc/sys) and plan; raises RoutingError.

    ``links``: the host's links (with ``absent``, the links the lab had, which widen its places);
    ``known_protocols``: route_protocols.read_rt_protos() of the host.
    """
    error = validate(links, protocol, rule_priority, known_protocols)
    if error:
        raise RoutingError(error)
    wanted_links = [] if absent else links
    host = Host(ipr, protocol)
    host.scope(links, rule_priority)
    missing = [link['dev'] for link in wanted_links if link['dev'] not in host.links]
    if missing:
        raise RoutingError('links: interface(s) %s do not exist on this host' % ', '.join(missing))
    want = wanted_state(wanted_links, rule_priority)
    todo = compute(host, want[0], want[1], want[2], protocol)
    taken = foreign_routes(host, todo['add_routes'], protocol)
    if taken:
        raise RoutingError('links: the route(s) %s exist and are not the lab\'s (protocol %d): the lab never '
                           'takes over a route it did not create. Remove them or choose other addresses '
                           'or tables. Nothing was changed.' % ('; '.join(taken), protocol))
    want_sys = {} if absent else wanted_sysctls(wanted_links, rp_filter, forwarding,
                                                nl.read_sysctl('net.ipv4.conf.all.rp_filter'))
    have_sys = dict((k, nl.read_sysctl(k)) for k in want_sys)
    todo_sys = dict((k, v) for k, v in want_sys.items() if have_sys[k] != v)
    owned_before = [dict(dev=a['dev'], address=a['address'], prefix=a['prefix'])
                    for a in host.addresses if a['proto'] == protocol and a['dev'] in host.devs]
    return RoutingPlan(host, protocol, want, have_sys, want_sys, todo, todo_sys, owned_before)
