"""lab_host_config for real: hosts' routing and MPTCP in one call, from outside (netns) or inside their namespace.

The same configuration through path_routing + mptcp_limits + mptcp_endpoints and through lab_host_config
is one meaning: either run finds the other's result unchanged.
"""

import json

from conftest import run_module

GEN = [{'path': 1, 'dev': 'mltp1', 'address': '10.251.0.2', 'prefix': 24, 'peer_address': '10.251.1.2',
        'gateway': '10.251.0.1', 'table': 101},
       {'path': 2, 'dev': 'mltp2', 'address': '10.251.2.2', 'prefix': 24, 'peer_address': '10.251.3.2',
        'gateway': '10.251.2.1', 'table': 102}]
SINK = [{'path': 1, 'dev': 'mltp1', 'address': '10.251.1.2', 'prefix': 24, 'peer_address': '10.251.0.2',
         'gateway': '10.251.1.1', 'table': 101},
        {'path': 2, 'dev': 'mltp2', 'address': '10.251.3.2', 'prefix': 24, 'peer_address': '10.251.2.2',
         'gateway': '10.251.3.1', 'table': 102}]
LIMITS = {'subflows': 1, 'add_addr_accepted': 1}
SIGNAL = [{'address': link['address'], 'id': link['path'], 'dev': link['dev'], 'flags': ['signal']} for link in SINK]


def ipj(ns, *args):
    return json.loads(ns.run('ip', '-j', *args).stdout or '[]')


def state(ns):
    """Owned addresses, routes, rules; the endpoints and limits; rp_filter of path 1."""
    addrs = sorted('%s %s/%d' % (a['ifname'], i['local'], i['prefixlen'])
                   for a in ipj(ns, '-4', 'addr', 'show') for i in a['addr_info'] if a['ifname'] != 'lo')
    routes = sorted('%s %s %s' % (r.get('table', 'main'), r['dst'], r.get('gateway', '-'))
                    for r in ipj(ns, '-4', 'route', 'show', 'table', 'all') if r.get('protocol') == '211')
    rules = sorted('%s %s %s' % (r['priority'], r.get('src'), r['table']) for r in ipj(ns, '-4', 'rule', 'show')
                   if r.get('protocol') == '211')
    flags = ('signal', 'subflow', 'backup', 'fullmesh')   # iproute2 6.1's JSON: "signal": true
    endpoints = sorted('%s %s %s' % (e['id'], e['address'], ','.join(f for f in flags if e.get(f)))
                       for e in ipj(ns, 'mptcp', 'endpoint', 'show'))
    limits = ns.run('ip', 'mptcp', 'limits', 'show').stdout.split()
    rp_filter = ns.run('cat', '/proc/sys/net/ipv4/conf/mltp1/rp_filter').stdout.strip()
    return addrs, routes, rules, endpoints, limits, rp_filter


def lab(netns_factory):
    gen, sink = netns_factory(), netns_factory()
    for ns in (gen, sink):
        ns.add_veth('mltp1')
        ns.add_veth('mltp2')
    return gen, sink


def hosts(gen, sink, **extra):
    return [dict({'name': 'gen', 'netns': gen.name, 'links': GEN, 'mptcp_limits': LIMITS, 'mptcp_endpoints': []},
                 **extra),
            dict({'name': 'sink', 'netns': sink.name, 'links': SINK, 'mptcp_limits': LIMITS,
                  'mptcp_endpoints': SIGNAL}, **extra)]


def test_two_namespaces_in_one_call_check_mode_idempotence_and_diff(netns_factory):
    gen, sink = lab(netns_factory)
    empty = (state(gen), state(sink))
    check = run_module(None, 'lab_host_config', {'hosts': hosts(gen, sink)}, check_mode=True, diff=True)
    assert check['rc'] == 0 and check['changed'] and check['changed_hosts'] == ['gen', 'sink']
    assert (state(gen), state(sink)) == empty, 'check mode changed something'
    done = run_module(None, 'lab_host_config', {'hosts': hosts(gen, sink)}, diff=True)
    assert done['changed'] and done['diff'] == check['diff'], 'check mode did not predict the run'
    addrs, routes, rules, endpoints, limits, rp_filter = state(sink)
    assert addrs == ['mltp1 10.251.1.2/24', 'mltp2 10.251.3.2/24']
    assert rules == ['10000 10.251.1.2 101', '10001 10.251.3.2 102']
    assert len(routes) == 6 and 'main 10.251.0.2 10.251.1.1' in routes
    assert endpoints == ['1 10.251.1.2 signal', '2 10.251.3.2 signal']
    assert limits == ['add_addr_accepted', '1', 'subflows', '1'] and rp_filter == '2'
    assert state(gen)[3] == [] and state(gen)[0] == ['mltp1 10.251.0.2/24', 'mltp2 10.251.2.2/24']
    assert done['diff']['before']['sink']['endpoints'] == [] and len(done['diff']['after']['sink']['endpoints']) == 2
    # the root namespace (where the module ran) got nothing
    assert '10.251.' not in json.dumps(json.loads(__import__('subprocess').run(
        ['ip', '-j', 'addr'], capture_output=True, text=True, check=True).stdout))
    again = run_module(None, 'lab_host_config', {'hosts': hosts(gen, sink)}, diff=True)
    assert again['rc'] == 0 and not again['changed'] and again['changed_hosts'] == []
    assert again['diff'] == {'before': {}, 'after': {}}
    # one host drifts: only it changes, and check mode says so first
    sink.run('ip', 'mptcp', 'endpoint', 'flush')
    gen.run('ip', 'mptcp', 'limits', 'set', 'subflows', '0', 'add_addr_accepted', '0')
    check = run_module(None, 'lab_host_config', {'hosts': hosts(gen, sink)}, check_mode=True)
    assert check['changed_hosts'] == ['gen', 'sink'] and state(sink)[3] == []
    assert check['hosts'][0]['limits'] == {'before': {'subflows': 0, 'add_addr_accepted': 0}, 'after': LIMITS}
    assert run_module(None, 'lab_host_config', {'hosts': hosts(gen, sink)})['changed_hosts'] == ['gen', 'sink']
    assert state(sink)[3] == ['1 10.251.1.2 signal', '2 10.251.3.2 signal']


def test_one_meaning_with_the_single_purpose_modules(netns_factory):
    """path_routing + mptcp_limits + mptcp_endpoints in a namespace, then lab_host_config there: nothing to do."""
    gen, sink = lab(netns_factory)
    run_module(sink, 'path_routing', {'links': SINK, 'rp_filter': 1})
    run_module(sink, 'mptcp_limits', LIMITS)
    run_module(sink, 'mptcp_endpoints', {'config': SIGNAL, 'state': 'overridden'})
    inside = [{'name': 'sink', 'links': SINK, 'rp_filter': 1, 'mptcp_limits': LIMITS, 'mptcp_endpoints': SIGNAL}]
    # inside the namespace (the host's own connection), and from outside
    assert not run_module(sink, 'lab_host_config', {'hosts': inside})['changed']
    assert not run_module(None, 'lab_host_config', {'hosts': [dict(inside[0], netns=sink.name)]})['changed']
    # and the other way round
    assert run_module(None, 'lab_host_config', {'hosts': hosts(gen, sink)[:1]})['changed']
    assert not run_module(gen, 'path_routing', {'links': GEN})['changed']
    assert not run_module(gen, 'mptcp_limits', LIMITS)['changed']
    assert not run_module(gen, 'mptcp_endpoints', {'config': [], 'state': 'overridden'})['changed']


def test_an_error_on_one_host_changes_nothing_anywhere(netns_factory):
    gen, sink = lab(netns_factory)
    empty = (state(gen), state(sink))
    bad = hosts(gen, sink)
    bad[1]['links'] = SINK + [{'path': 3, 'dev': 'mltp3', 'address': '10.251.5.2', 'prefix': 24,
                               'peer_address': '10.251.4.2', 'gateway': '10.251.5.1', 'table': 103}]
    result = run_module(None, 'lab_host_config', {'hosts': bad})
    assert result['rc'] == 1
    assert result['msg'] == 'hosts[1] (sink): links: interface(s) mltp3 do not exist on this host; nothing was changed'
    assert (state(gen), state(sink)) == empty
    # a route of another owner where the lab needs one: refused, named, nothing changed
    gen.run('ip', 'route', 'add', '10.251.1.2/32', 'via', '10.251.0.9', 'dev', 'mltp1', 'onlink', 'proto', 'static')
    result = run_module(None, 'lab_host_config', {'hosts': hosts(gen, sink)})
    assert result['rc'] == 1 and result['msg'].startswith('hosts[0] (gen): links: the route(s) 10.251.1.2/32 in table '
                                                          'main (protocol static 4) exist and are not the lab\'s')
    assert state(sink) == empty[1]
    # the kernel's rules on endpoints, checked before anything changes
    bad = hosts(gen, sink)
    bad[1]['mptcp_endpoints'] = [dict(SIGNAL[0], flags=['signal', 'fullmesh'])]
    result = run_module(None, 'lab_host_config', {'hosts': bad})
    assert result['rc'] == 1 and 'hosts[1] (sink): mptcp_endpoints: config[0].flags: signal and fullmesh' \
        in result['msg']
    bad[1]['mptcp_endpoints'] = SIGNAL
    bad[1]['mptcp_limits'] = {'subflows': 9}
    result = run_module(None, 'lab_host_config', {'hosts': bad})
    assert result['rc'] == 1 and 'hosts[1] (sink): mptcp_limits.subflows: must be between 0 and 8 (got 9)' \
        in result['msg']
    assert state(sink) == empty[1]


def test_namespaces_are_checked(netns_factory):
    gen, sink = lab(netns_factory)
    both = hosts(gen, sink)
    both[1]['netns'] = gen.name
    result = run_module(None, 'lab_host_config', {'hosts': both})
    assert result['rc'] == 1 and result['msg'] == "hosts[1] (sink): netns: %s is also hosts[0]'s" % gen.name
    both[1]['netns'] = 'mltnone-x'
    result = run_module(None, 'lab_host_config', {'hosts': both})
    assert result['rc'] == 1 and 'hosts[1] (sink): netns: no network namespace mltnone-x' in result['msg']
    both[1]['netns'] = '../etc'
    assert "netns: '../etc' is not a namespace name" in run_module(None, 'lab_host_config', {'hosts': both})['msg']
    assert state(gen)[0] == []


def test_a_port_endpoint_on_an_address_added_by_the_same_call(netns_factory):
    gen, sink = lab(netns_factory)
    one = hosts(gen, sink)[1]
    one['mptcp_endpoints'] = [{'address': SINK[0]['address'], 'id': 1, 'port': 10100, 'flags': ['signal']}]
    result = run_module(None, 'lab_host_config', {'hosts': [one]})
    assert result['rc'] == 0 and result['changed']
    assert state(sink)[3] == ['1 10.251.1.2 signal']
    assert not run_module(None, 'lab_host_config', {'hosts': [one]})['changed']


def test_left_alone_when_not_given(netns_factory):
    gen, sink = lab(netns_factory)
    gen.run('ip', 'mptcp', 'limits', 'set', 'subflows', '3', 'add_addr_accepted', '2')
    gen.run('ip', 'mptcp', 'endpoint', 'add', '10.9.9.9', 'id', '7', 'subflow')
    alone = {'name': 'gen', 'netns': gen.name, 'links': GEN, 'mptcp_limits': {}}
    result = run_module(None, 'lab_host_config', {'hosts': [alone]})
    assert result['rc'] == 0 and 'limits' not in result['hosts'][0] and 'endpoints' not in result['hosts'][0]
    assert state(gen)[3] == ['7 10.9.9.9 subflow'] and state(gen)[4] == ['add_addr_accepted', '2', 'subflows', '3']
