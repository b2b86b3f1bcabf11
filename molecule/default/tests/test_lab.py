"""Verify the real state of the converged lab: namespaces, qdiscs, addresses, routes, MPTCP.

testinfra's local backend with ``ip netns exec`` (a few ms per command); the
expected values come from the scenario's inventory and converge.yml, through
the collection's own address plan.
"""

import json
import os
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
sys.path.insert(0, os.path.join(ROOT, '.collections'))

from ansible_collections.mptcp.lab.plugins.module_utils.lab import lab_plan  # noqa: E402

testinfra_hosts = ['local://']

INVENTORY = os.environ.get('MOLECULE_LAB_INVENTORY', os.path.join(ROOT, 'molecule', 'default', 'inventory'))
CONVERGE = os.environ.get('MOLECULE_LAB_CONVERGE', os.path.join(ROOT, 'molecule', 'default', 'converge.yml'))


def _inventory():
    out = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-inventory'), '-i', INVENTORY,
                          '--list'], capture_output=True, text=True, check=True,
                         env=dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'))).stdout
    return json.loads(out)


INV = _inventory()
HOSTVARS = INV['_meta']['hostvars']
PREFIX = HOSTVARS[INV['shapers']['hosts'][0]]['lab_prefix']
with open(CONVERGE) as handle:
    CONVERGED = yaml.safe_load(handle)[0]['vars']
PATHS = CONVERGED['lab_paths']
BOTTLENECK = CONVERGED.get('lab_bottleneck')
PAIRS = sorted((HOSTVARS[g]['lab_pair'], g, HOSTVARS[g]['lab_peer']) for g in INV['generators']['hosts'])
SHAPER = INV['shapers']['hosts'][0]
N = len(PATHS)


def ipj(host, ns, *args):
    cmd = host.run('ip netns exec %s %s' % (ns, ' '.join(args)))
    assert cmd.rc == 0, cmd.stderr
    return json.loads(cmd.stdout or '[]')


def links_of(pair, side):
    return lab_plan.path_links(PATHS, pair, side, prefix=PREFIX)


def test_namespaces_exist(host):
    names = set(line.split()[0] for line in host.check_output('ip netns list').splitlines())
    wanted = {SHAPER} | set(g for dummy, g, dummy2 in PAIRS) | set(s for dummy, dummy2, s in PAIRS)
    assert wanted <= names
    assert not [n for n in names if n.startswith(PREFIX + '-') and n not in wanted]


@pytest.mark.parametrize('pair', [p[0] for p in PAIRS])
def test_every_shaper_qdisc_carries_its_path_rate(host, pair):
    qdiscs = dict((q['dev'], q) for q in ipj(host, SHAPER, 'tc', '-j', 'qdisc', 'show') if q['kind'] == 'tbf')
    for path, shape in enumerate(PATHS, start=1):
        for side in 'gs':
            dev = lab_plan.shaper_dev(PREFIX, pair, path, 'gs'.index(side))
            assert qdiscs[dev]['options']['rate'] * 8 == shape['rate_mbit'] * 1e6, dev
    assert len([d for d in qdiscs if d.startswith('%s-%d' % (PREFIX, pair))]) == 2 * N


@pytest.mark.skipif(not BOTTLENECK, reason='the converged lab has no shared bottleneck')
def test_the_shared_bottleneck_takes_every_path_of_every_pair_in_each_direction(host):
    links = dict((link['ifname'], link) for link in ipj(host, SHAPER, 'ip', '-d', '-j', 'link', 'show'))
    qdiscs = dict((q['dev'], q) for q in ipj(host, SHAPER, 'tc', '-j', 'qdisc', 'show') if q.get('root'))
    for side in (0, 1):
        name = lab_plan.bottleneck_dev(PREFIX, side)
        assert links[name]['linkinfo']['info_kind'] == 'ifb' and 'UP' in links[name]['flags'], links.get(name)
        assert qdiscs[name]['kind'] == 'tbf' and qdiscs[name]['handle'] == '1ab:'
        assert qdiscs[name]['options']['rate'] * 8 == BOTTLENECK['rate_mbit'] * 1e6
        for pair, dummy, dummy2 in PAIRS:
            for path in range(1, N + 1):
                dev = lab_plan.shaper_dev(PREFIX, pair, path, side)
                shown = host.check_output('ip netns exec %s tc filter show dev %s egress' % (SHAPER, dev))
                assert 'pref 427 u32' in shown and 'Egress Redirect to device %s' % name in shown, (dev, shown)


def test_shaper_routes_between_its_paths(host):
    assert host.check_output('ip netns exec %s cat /proc/sys/net/ipv4/ip_forward' % SHAPER) == '1'


@pytest.mark.parametrize('pair, gen, sink', PAIRS)
def test_addresses_rules_and_routes_per_path(host, pair, gen, sink):
    for ns, side in ((gen, 'generator'), (sink, 'sink')):
        rules = ipj(host, ns, 'ip', '-j', 'rule', 'show')
        for link in links_of(pair, side):
            addrs = [a['local'] for i in ipj(host, ns, 'ip', '-j', '-4', 'addr', 'show', 'dev', link['dev'])
                     for a in i['addr_info']]
            assert addrs == [link['address']]
            assert any(r.get('src') == link['address'] and str(r['table']) == str(link['table']) for r in rules)
            table = ipj(host, ns, 'ip', '-j', 'route', 'show', 'table', str(link['table']))
            assert {'dst': link['peer_address'], 'gateway': link['gateway'], 'dev': link['dev']}.items() <= \
                [r for r in table if r['dst'] == link['peer_address']][0].items()
            main = ipj(host, ns, 'ip', '-j', 'route', 'get', link['peer_address'])
            assert main[0]['dev'] == link['dev'] and main[0]['prefsrc'] == link['address']


@pytest.mark.parametrize('pair, gen, sink', PAIRS)
def test_mptcp_endpoints_and_limits(host, pair, gen, sink):
    endpoints = ipj(host, sink, 'ip', '-j', 'mptcp', 'endpoint', 'show')
    # ip -j prints each flag as a boolean key
    flags = ('signal', 'subflow', 'backup', 'fullmesh', 'laminar')
    assert sorted((e['address'], e['id'], e['dev'], [f for f in flags if e.get(f)]) for e in endpoints) == \
        [(link['address'], link['path'], link['dev'], ['signal']) for link in links_of(pair, 'sink')]
    assert ipj(host, gen, 'ip', '-j', 'mptcp', 'endpoint', 'show') == []
    for ns in (gen, sink):
        # iproute2 6.1 prints limits as text even with -j
        limits = host.check_output('ip netns exec %s ip mptcp limits show' % ns).split()
        assert dict(zip(limits[::2], map(int, limits[1::2]))) == {'add_addr_accepted': N - 1, 'subflows': N - 1}
