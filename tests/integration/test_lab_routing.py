"""path_routing for real in a throwaway namespace: addresses, rules, tables, sysctls, ownership."""

import json

from conftest import run_module

LINKS = [{'path': 1, 'dev': 'mltp1', 'address': '10.250.0.2', 'prefix': 24, 'peer_address': '10.250.1.2',
          'gateway': '10.250.0.1', 'table': 101},
         {'path': 2, 'dev': 'mltp2', 'address': '10.250.2.2', 'prefix': 24, 'peer_address': '10.250.3.2',
          'gateway': '10.250.2.1', 'table': 102}]


def ipj(ns, *args):
    return json.loads(ns.run('ip', '-j', *args).stdout or '[]')


def state(ns):
    addrs = sorted('%s %s/%d' % (a['ifname'], i['local'], i['prefixlen'])
                   for a in ipj(ns, '-4', 'addr', 'show') for i in a['addr_info'] if a['ifname'] != 'lo')
    routes = sorted('%s %s %s' % (r.get('table', 'main'), r['dst'], r.get('gateway', '-'))
                    for r in ipj(ns, '-4', 'route', 'show', 'table', 'all') if r.get('protocol') == '211')
    rules = sorted('%s %s %s' % (r['priority'], r.get('src'), r['table']) for r in ipj(ns, '-4', 'rule', 'show')
                   if r.get('protocol') == '211')
    return addrs, routes, rules


def setup(ns):
    ns.add_veth('mltp1')
    ns.add_veth('mltp2')


def test_paths_idempotence_check_mode_and_reconcile(netns):
    setup(netns)
    check = run_module(netns, 'path_routing', {'links': LINKS}, check_mode=True, diff=True)
    assert check['changed'] and state(netns) == ([], [], [])
    result = run_module(netns, 'path_routing', {'links': LINKS}, diff=True)
    assert result['changed'] and result['diff'] == check['diff']
    addrs, routes, rules = state(netns)
    assert addrs == ['mltp1 10.250.0.2/24', 'mltp2 10.250.2.2/24']
    assert routes == ['101 10.250.0.0/24 -', '101 10.250.1.2 10.250.0.1', '102 10.250.2.0/24 -',
                      '102 10.250.3.2 10.250.2.1', 'main 10.250.1.2 10.250.0.1', 'main 10.250.3.2 10.250.2.1']
    assert rules == ['10000 10.250.0.2 101', '10001 10.250.2.2 102']
    assert netns.run('cat', '/proc/sys/net/ipv4/conf/mltp1/rp_filter').stdout.strip() == '2'
    # each source address leaves by its own path
    out = netns.run('ip', '-j', 'route', 'get', '10.250.3.2', 'from', '10.250.2.2').stdout
    assert json.loads(out)[0]['dev'] == 'mltp2'
    assert json.loads(netns.run('ip', '-j', 'route', 'get', '10.250.1.2').stdout)[0]['prefsrc'] == '10.250.0.2'
    assert not run_module(netns, 'path_routing', {'links': LINKS})['changed']
    # drop path 2: its address, routes and rule go, path 1 stays
    assert run_module(netns, 'path_routing', {'links': LINKS[:1]}, check_mode=True)['changed']
    assert len(state(netns)[2]) == 2
    assert run_module(netns, 'path_routing', {'links': LINKS[:1]})['changed']
    addrs, routes, rules = state(netns)
    assert addrs == ['mltp1 10.250.0.2/24'] and rules == ['10000 10.250.0.2 101'] and len(routes) == 3
    assert not run_module(netns, 'path_routing', {'links': LINKS[:1]})['changed']


def test_foreign_objects_stay_and_absent_removes_only_owned(netns):
    setup(netns)
    netns.run('ip', 'addr', 'add', '192.0.2.1/24', 'dev', 'mltp1')
    netns.run('ip', 'route', 'add', '198.51.100.0/24', 'via', '192.0.2.254', 'proto', 'static')
    netns.run('ip', 'rule', 'add', 'from', '192.0.2.1', 'lookup', '200', 'priority', '10000')
    run_module(netns, 'path_routing', {'links': LINKS})
    assert not run_module(netns, 'path_routing', {'links': LINKS})['changed']
    result = run_module(netns, 'path_routing', {'state': 'absent'})
    assert result['changed'] and state(netns) == (['mltp1 192.0.2.1/24'], [], [])
    assert '192.0.2.1' in netns.run('ip', '-4', 'addr', 'show', 'dev', 'mltp1').stdout
    assert '198.51.100.0/24' in netns.run('ip', 'route').stdout
    assert 'lookup 200' in netns.run('ip', 'rule').stdout
    assert not run_module(netns, 'path_routing', {'state': 'absent'})['changed']


def test_router_mode_sets_forwarding(netns):
    setup(netns)
    links = [{'path': 1, 'dev': 'mltp1', 'address': '10.250.0.1', 'prefix': 24}]
    result = run_module(netns, 'path_routing', {'links': links, 'forwarding': True, 'rp_filter': 0})
    assert result['changed'] and result['rc'] == 0
    assert netns.run('cat', '/proc/sys/net/ipv4/ip_forward').stdout.strip() == '1'
    assert state(netns)[1:] == ([], [])
    assert not run_module(netns, 'path_routing', {'links': links, 'forwarding': True, 'rp_filter': 0})['changed']


def test_bad_input_fails_early_and_changes_nothing(netns):
    setup(netns)
    extra = dict(LINKS[0], dev='nope', path=3, address='10.250.4.2', peer_address='10.250.5.2', table=103)
    missing = run_module(netns, 'path_routing', {'links': LINKS + [extra]})
    assert missing['failed'] and 'interface(s) nope do not exist' in missing['msg']
    bad = run_module(netns, 'path_routing', {'links': [dict(LINKS[0], gateway='10.250.0.300')]})
    assert bad['failed'] and bad['msg'] == "links[0].gateway: '10.250.0.300' is not an IPv4 address"
    assert state(netns) == ([], [], [])


def proto_routes(ns, table):
    return sorted('%s %s %s' % (r['dst'], r.get('gateway', '-'), r.get('protocol'))
                  for r in ipj(ns, '-4', 'route', 'show', 'table', table))


def test_a_foreign_route_in_the_way_is_never_taken_over(netns):
    setup(netns)
    netns.run('ip', 'route', 'add', '10.250.1.2/32', 'dev', 'mltp1', 'table', '101', 'proto', 'static')
    netns.run('ip', 'route', 'add', '10.250.3.2/32', 'dev', 'mltp2', 'proto', 'boot')
    before = proto_routes(netns, '101'), proto_routes(netns, 'main')
    for check_mode in (True, False):
        result = run_module(netns, 'path_routing', {'links': LINKS}, check_mode=check_mode)
        assert result['failed'] and result['rc'] == 1
        assert '10.250.1.2/32 in table 101 (protocol static 4)' in result['msg']
        assert '10.250.3.2/32 in table main (protocol boot 3)' in result['msg']
        assert 'Nothing was changed' in result['msg']
        assert state(netns) == ([], [], [])            # no address, route or rule of the lab
        assert (proto_routes(netns, '101'), proto_routes(netns, 'main')) == before
    assert before[0] == ['10.250.1.2 - static']
    # once the foreign routes are gone the lab's go in; absent leaves a foreign route added later alone
    netns.run('ip', 'route', 'del', '10.250.1.2/32', 'table', '101')
    netns.run('ip', 'route', 'del', '10.250.3.2/32')
    assert run_module(netns, 'path_routing', {'links': LINKS})['changed']
    netns.run('ip', 'route', 'add', 'unreachable', '10.250.9.9/32', 'table', '101', 'proto', 'static')
    assert not run_module(netns, 'path_routing', {'links': LINKS})['changed']
    assert run_module(netns, 'path_routing', {'state': 'absent'})['changed']
    assert proto_routes(netns, '101') == ['10.250.9.9 - static']


def test_the_labs_own_route_is_reconciled_in_place(netns):
    setup(netns)
    assert run_module(netns, 'path_routing', {'links': LINKS})['changed']
    moved = [dict(LINKS[0], gateway='10.250.0.254'), LINKS[1]]
    check = run_module(netns, 'path_routing', {'links': moved}, check_mode=True, diff=True)
    assert check['changed'] and '101 10.250.1.2 10.250.0.1' in state(netns)[1]
    result = run_module(netns, 'path_routing', {'links': moved}, diff=True)
    assert result['changed'] and result['rc'] == 0 and result['diff'] == check['diff']
    routes = state(netns)[1]
    assert '101 10.250.1.2 10.250.0.254' in routes and 'main 10.250.1.2 10.250.0.254' in routes
    assert not any(r.endswith(' 10.250.0.1') for r in routes)
    assert not run_module(netns, 'path_routing', {'links': moved})['changed']


def test_an_identical_foreign_rule_is_neither_taken_over_nor_removed(netns):
    setup(netns)
    netns.run('ip', 'rule', 'add', 'from', '10.250.0.2', 'lookup', '101', 'priority', '10000')
    assert run_module(netns, 'path_routing', {'links': LINKS})['changed']
    rules = [(r['priority'], r.get('protocol')) for r in ipj(netns, '-4', 'rule', 'show') if r['priority'] == 10000]
    assert sorted(rules, key=str) == sorted([(10000, None), (10000, '211')], key=str)
    assert not run_module(netns, 'path_routing', {'links': LINKS})['changed']
    assert run_module(netns, 'path_routing', {'state': 'absent'})['changed']
    rules = [(r['priority'], r.get('src'), r.get('protocol')) for r in ipj(netns, '-4', 'rule', 'show')
             if r['priority'] == 10000]
    assert rules == [(10000, '10.250.0.2', None)]


def test_two_links_needing_the_same_route_fail_early(netns):
    setup(netns)
    twin = dict(LINKS[1], peer_address=LINKS[0]['peer_address'], table=101)
    result = run_module(netns, 'path_routing', {'links': [LINKS[0], twin]})
    assert result['failed'] and 'links[0] and links[1] both need a route to 10.250.2.0/24' not in result['msg']
    assert 'links[0] and links[1] both need a route to 10.250.1.2/32 in table main' in result['msg']
    assert state(netns) == ([], [], [])


def test_add_route_never_overwrites_a_route_in_its_place(netns):
    """Even when a route appears between reading and applying, the lab's add fails instead of replacing it."""
    from ansible_collections.mptcp.lab.plugins.module_utils.lab import lab_netlink as nl
    setup(netns)
    netns.run('ip', 'route', 'add', '10.250.1.2/32', 'dev', 'mltp1', 'proto', 'static')
    with nl.open_netns(netns.name) as ipr:
        index = nl.links(ipr)['mltp2']['index']
        route = {'dst': '10.250.1.2/32', 'table': nl.RT_TABLE_MAIN, 'scope': nl.RT_SCOPE_LINK, 'oif': index}
        try:
            nl.add_route(ipr, route, 211)
        except nl.LabNetlinkError as exc:
            assert str(exc) == 'add route 10.250.1.2/32 table 254: File exists'
        else:
            raise AssertionError('the route was replaced')
        assert nl.route_protocols(ipr)[(nl.RT_TABLE_MAIN, '10.250.1.2/32', 0, 0)] == 4
    assert proto_routes(netns, 'main') == ['10.250.1.2 - static']


def all_state(ns):
    return (ns.run('ip', 'rule', 'show').stdout, ns.run('ip', '-4', 'route', 'show', 'table', 'all').stdout,
            ns.run('ip', '-4', 'addr', 'show').stdout)


def test_a_protocol_the_system_uses_is_refused_before_any_change(netns):
    setup(netns)
    before = all_state(netns)
    for protocol in (2, 3, 4, 0):
        for state in ('present', 'absent'):
            result = run_module(netns, 'path_routing', {'links': LINKS, 'protocol': protocol, 'state': state})
            assert result['failed'] and result['msg'].startswith('protocol: %d is route protocol' % protocol)
            assert 'which the system uses' in result['msg']
            assert all_state(netns) == before
    # the host's rt_protos: 12 is bird on Debian
    result = run_module(netns, 'path_routing', {'links': LINKS, 'protocol': 12})
    assert result['failed'] and 'route protocol "bird" in /etc/iproute2/rt_protos' in result['msg']
    assert all_state(netns) == before
    assert 'lookup local' in before[0] and 'lookup main' in before[0]


def test_objects_of_the_labs_protocol_outside_the_labs_places_stay(netns):
    """Carrying protocol 211 is not enough: the lab removes only what sits in its tables, priorities, devices."""
    setup(netns)
    netns.add_veth('mltp9')
    from ansible_collections.mptcp.lab.plugins.module_utils.lab import lab_netlink as nl
    with nl.open_netns(netns.name) as ipr:     # iproute2 6.1 cannot set an address's protocol
        nl.add_address(ipr, nl.links(ipr)['mltp9']['index'], '192.0.2.1', 24, 211)
        assert [a['proto'] for a in nl.addresses(ipr) if a['address'] == '192.0.2.1'] == [211]
    netns.run('ip', 'route', 'add', '198.51.100.0/24', 'dev', 'mltp9', 'proto', '211')
    netns.run('ip', 'route', 'add', '198.51.100.0/24', 'dev', 'mltp9', 'table', '300', 'proto', '211')
    netns.run('ip', 'rule', 'add', 'from', '192.0.2.1', 'lookup', 'main', 'priority', '10002', 'proto', '211')
    netns.run('ip', 'rule', 'add', 'from', '192.0.2.1', 'lookup', '300', 'priority', '500', 'proto', '211')
    netns.run('ip', 'rule', 'add', 'lookup', '300', 'priority', '10003', 'proto', '211')
    before = all_state(netns)
    assert run_module(netns, 'path_routing', {'links': LINKS})['changed']
    assert not run_module(netns, 'path_routing', {'links': LINKS})['changed']
    assert run_module(netns, 'path_routing', {'links': LINKS[:1]})['changed']
    assert run_module(netns, 'path_routing', {'state': 'absent', 'links': LINKS})['changed']
    assert all_state(netns) == before
    assert not run_module(netns, 'path_routing', {'state': 'absent', 'links': LINKS})['changed']
