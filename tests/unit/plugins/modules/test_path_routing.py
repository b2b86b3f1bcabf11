"""path_routing: wanted state, difference and validation (pure logic, module_utils/lab/lab_routing.py)."""

from ansible_collections.mptcp.lab.plugins.module_utils.lab import lab_netlink as nl
from ansible_collections.mptcp.lab.plugins.module_utils.lab import lab_routing as pr

GEN = [{'path': 1, 'dev': 'mlab-p1', 'address': '10.200.0.2', 'prefix': 24, 'peer_address': '10.200.1.2',
        'gateway': '10.200.0.1', 'table': 101},
       {'path': 2, 'dev': 'mlab-p2', 'address': '10.200.2.2', 'prefix': 24, 'peer_address': '10.200.3.2',
        'gateway': '10.200.2.1', 'table': 102}]


def test_wanted_state_per_path():
    addrs, routes, rules = pr.wanted_state(GEN, 10000)
    assert addrs == [{'dev': 'mlab-p1', 'address': '10.200.0.2', 'prefix': 24},
                     {'dev': 'mlab-p2', 'address': '10.200.2.2', 'prefix': 24}]
    assert rules == [{'priority': 10000, 'src': '10.200.0.2/32', 'table': 101},
                     {'priority': 10001, 'src': '10.200.2.2/32', 'table': 102}]
    assert sorted(pr.fmt_route(r) for r in routes) == [
        '101 10.200.0.0/24 dev mlab-p1 src 10.200.0.2',
        '101 10.200.1.2/32 via 10.200.0.1 dev mlab-p1 src 10.200.0.2',
        '102 10.200.2.0/24 dev mlab-p2 src 10.200.2.2',
        '102 10.200.3.2/32 via 10.200.2.1 dev mlab-p2 src 10.200.2.2',
        '254 10.200.1.2/32 via 10.200.0.1 dev mlab-p1 src 10.200.0.2',
        '254 10.200.3.2/32 via 10.200.2.1 dev mlab-p2 src 10.200.2.2',
    ]


def test_direct_peer_needs_no_route_and_router_links_need_no_table():
    direct = [{'path': 1, 'dev': 'eth1', 'address': '192.0.2.1', 'prefix': 30, 'peer_address': '192.0.2.2',
               'gateway': None, 'table': 101}]
    addrs, routes, rules = pr.wanted_state(direct, 100)
    assert [pr.fmt_route(r) for r in routes] == ['101 192.0.2.0/30 dev eth1 src 192.0.2.1']
    assert len(rules) == 1
    router = [{'path': 1, 'dev': 'mlab-1g1', 'address': '10.200.0.1', 'prefix': 24, 'peer_address': None,
               'gateway': None, 'table': None}]
    addrs, routes, rules = pr.wanted_state(router, 100)
    assert len(addrs) == 1 and routes == [] and rules == []


def test_peer_on_another_subnet_without_gateway_is_on_link():
    links = [{'path': 1, 'dev': 'eth1', 'address': '192.0.2.1', 'prefix': 24, 'peer_address': '198.51.100.7',
              'gateway': None, 'table': None}]
    dummy, routes, dummy2 = pr.wanted_state(links, 100)
    assert routes == [{'dst': '198.51.100.7/32', 'gateway': None, 'dev': 'eth1', 'prefsrc': '192.0.2.1',
                       'scope': nl.RT_SCOPE_LINK, 'table': nl.RT_TABLE_MAIN}]


class FakeHost(object):
    def __init__(self, addresses, routes, rules, devs=('mlab-p1', 'mlab-p2')):
        self.addresses, self.routes, self.rules, self.devs = addresses, routes, rules, set(devs)


def test_compute_removes_only_owned_objects():
    addrs, routes, rules = pr.wanted_state(GEN[:1], 10000)
    host = FakeHost(
        addresses=[{'dev': 'mlab-p1', 'address': '10.200.0.2', 'prefix': 24, 'proto': 0},    # present, not ours
                   {'dev': 'mlab-p2', 'address': '10.200.2.2', 'prefix': 24, 'proto': 211},  # ours, unwanted
                   {'dev': 'eth0', 'address': '192.0.2.9', 'prefix': 24, 'proto': 0}],       # foreign
        routes=routes[:1] + [{'table': 102, 'dst': '10.200.2.0/24', 'gateway': None, 'dev': 'mlab-p2',
                              'prefsrc': '10.200.2.2', 'scope': 253}],
        rules=rules + [{'priority': 10001, 'src': '10.200.2.2/32', 'table': 102}])
    todo = pr.compute(host, addrs, routes, rules, 211)
    assert todo['add_addrs'] == []
    assert todo['del_addrs'] == [{'dev': 'mlab-p2', 'address': '10.200.2.2', 'prefix': 24}]
    assert todo['add_routes'] == routes[1:]
    assert [r['table'] for r in todo['del_routes']] == [102]
    assert todo['add_rules'] == [] and todo['del_rules'] == [{'priority': 10001, 'src': '10.200.2.2/32', 'table': 102}]


def test_sysctls_lower_all_only_when_stricter():
    assert pr.wanted_sysctls(GEN[:1], 2, None, '1') == {'net.ipv4.conf.mlab-p1.rp_filter': '2'}
    assert pr.wanted_sysctls(GEN[:1], 0, True, '1') == {'net.ipv4.conf.mlab-p1.rp_filter': '0',
                                                        'net.ipv4.conf.all.rp_filter': '0',
                                                        'net.ipv4.ip_forward': '1'}
    assert pr.wanted_sysctls(GEN[:1], None, None, '1') == {}
    assert nl.sysctl_path('net.ipv4.conf.eth0.100.rp_filter') == '/proc/sys/net/ipv4/conf/eth0.100/rp_filter'


def test_validate():
    assert pr.validate(GEN, 211) is None
    assert 'protocol' in pr.validate(GEN, 0)
    bad = [dict(GEN[0], address='10.200.0.300')]
    assert pr.validate(bad, 211) == "links[0].address: '10.200.0.300' is not an IPv4 address"
    assert 'used by two links' in pr.validate([GEN[0], dict(GEN[1], address='10.200.0.2')], 211)
    assert 'table must be' in pr.validate([dict(GEN[0], table=254)], 211)
    assert 'needs peer_address' in pr.validate([dict(GEN[0], peer_address=None)], 211)
    assert 'prefix must be' in pr.validate([dict(GEN[0], prefix=33)], 211)
    assert pr.validate([dict(GEN[0], path=9)], 211) == 'links[0].path must be in [1, 8], got 9'
    assert pr.validate(GEN, 211, rule_priority=32759).startswith('rule_priority must be in [1, 32758]')
    assert pr.validate(GEN, 211, rule_priority=0).startswith('rule_priority must be in [1, 32758]')


def test_validate_refuses_the_systems_and_rt_protos_protocols():
    known = {0: ('unspec', '/etc/iproute2/rt_protos'), 3: ('boot', '/etc/iproute2/rt_protos'),
             12: ('bird', '/etc/iproute2/rt_protos'), 200: ('mine', '/etc/iproute2/rt_protos.d/mine.conf')}
    for bad in (0, 1, 2, 3, 4):
        assert pr.validate(GEN, bad, known_protocols=known).startswith('protocol: %d is route protocol' % bad)
    assert 'which the system uses' in pr.validate(GEN, 2, known_protocols=known)
    assert pr.validate(GEN, 200, known_protocols=known).startswith(
        'protocol: 200 is route protocol "mine" in /etc/iproute2/rt_protos.d/mine.conf')
    assert 'must be a number in [5, 255]' in pr.validate(GEN, 256, known_protocols=known)
    assert pr.validate(GEN, 211, known_protocols=known) is None
    assert pr.validate(GEN, 5, known_protocols=known) is None


RULE = {'priority': 10000, 'src': '10.200.0.2/32', 'table': 101}


def test_lab_scope_keeps_only_the_labs_places():
    addrs, routes, rules = pr.wanted_state(GEN, 10000)
    stray = [
        {'priority': 0, 'src': None, 'table': 255},                 # from all lookup local (proto kernel)
        {'priority': 32766, 'src': None, 'table': 254},             # from all lookup main
        {'priority': 10001, 'src': None, 'table': 102},             # from all: never the lab's
        {'priority': 10003, 'src': '10.9.9.9/32', 'table': 254},    # lookup main at a lab priority
        {'priority': 10008, 'src': '10.9.9.9/32', 'table': 109},    # beyond the lab's 8 priorities
        {'priority': 9999, 'src': '10.9.9.9/32', 'table': 101},     # below them
    ]
    other_routes = [
        {'table': 254, 'dst': '0.0.0.0/0', 'gateway': '192.0.2.1', 'dev': 'eth0', 'prefsrc': None, 'scope': 0},
        {'table': 255, 'dst': '127.0.0.1/32', 'gateway': None, 'dev': 'lo', 'prefsrc': None, 'scope': 254},
        {'table': 200, 'dst': '10.0.0.0/8', 'gateway': None, 'dev': 'mlab-p1', 'prefsrc': None, 'scope': 253},
    ]
    own_rules, own_routes, devs = pr.lab_scope(GEN, 10000, rules + stray, routes + other_routes)
    assert own_rules == rules
    assert own_routes == [r for r in routes if r['table'] != 254] + [r for r in routes if r['table'] == 254]
    assert devs == {'mlab-p1', 'mlab-p2'}


def test_lab_scope_finds_a_dropped_path_through_its_rule():
    dummy, routes, rules = pr.wanted_state(GEN, 10000)
    own_rules, own_routes, devs = pr.lab_scope(GEN[:1], 10000, rules, routes)
    assert own_rules == rules and devs == {'mlab-p1', 'mlab-p2'}
    assert sorted(r['table'] for r in own_routes) == [101, 101, 102, 102, 254, 254]
    # state=absent without links: the same, found from the rules alone
    assert pr.lab_scope([], 10000, rules, routes) == (rules, own_routes, devs)
    # nothing found without a rule or a link: a route of the protocol elsewhere stays
    assert pr.lab_scope([], 10000, [], routes) == ([], [], set())


def test_foreign_routes_names_the_place_and_the_owner():
    addrs, routes, rules = pr.wanted_state(GEN[:1], 10000)
    host = FakeHost([], [], [])
    host.route_protocols = {(101, '10.200.0.0/24', 0, 0): 4,        # static: in the way
                            (254, '10.200.1.2/32', 0, 0): 211,      # ours: reconciled, not a conflict
                            (101, '10.200.1.2/32', 20, 0): 3,       # another metric: no conflict
                            (102, '10.200.1.2/32', 0, 0): 77}       # another table
    assert pr.foreign_routes(host, routes, 211) == ['10.200.0.0/24 in table 101 (protocol static 4)']
    host.route_protocols[(254, '10.200.1.2/32', 0, 0)] = 77
    assert pr.foreign_routes(host, routes, 211) == ['10.200.1.2/32 in table main (protocol 77)',
                                                    '10.200.0.0/24 in table 101 (protocol static 4)']


def test_validate_refuses_two_links_needing_one_route():
    twin = dict(GEN[1], peer_address=GEN[0]['peer_address'])
    assert pr.validate([GEN[0], twin], 211) == (
        'links[0] and links[1] both need a route to 10.200.1.2/32 in table main (one route per destination and table)')
