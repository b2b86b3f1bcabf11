"""host_prep gives a real host its own MPTCP endpoints and limits back.

Two throwaway namespaces play a generator and a sink of a bare-metal lab,
cabled back to back, each with a "management NIC" carrying an endpoint the
lab did not create, and limits of their own. The role runs on them through
mptcp.lab.netns (no SSH, no traffic: tests/integration/test_bare_metal.py
does the same over SSH with a perf run). Provisioning must own the endpoint
set while the lab is up, save what was there once (never the lab's own state
on a re-run), and teardown must put exactly that back and forget the record.
"""

import json
import os
import sys
import textwrap

import pytest
import yaml

from conftest import ansible_playbook, recap, run_module

PLAY = textwrap.dedent('''\
    - hosts: generators:sinks
      gather_facts: false
      roles:
        - role: mptcp.lab.host_prep
    ''')


def mptcp(ns):
    res = run_module(ns, 'mptcp_info', {})
    assert res['rc'] == 0, res
    facts = res['ansible_facts']['mptcp']
    return facts['endpoints'], facts['limits']


def addresses(ns):
    out = json.loads(ns.run('ip', '-j', '-4', 'address', 'show').stdout)
    return sorted(a['local'] for link in out if link['ifname'] != 'lo' for a in link.get('addr_info', []))


@pytest.fixture
def hosts(tmp_path, netns_factory):
    gen, sink = netns_factory(), netns_factory()
    tag = gen.name[-5:]
    gen_links, sink_links = [], []
    for path in (1, 2):
        gdev, sdev = 'p%d%s' % (path, tag), 'q%d%s' % (path, tag)
        gen.add_veth(gdev, peer_ns=sink, peer_name=sdev)
        net = '198.19.%d' % path
        gen_links.append({'path': path, 'dev': gdev, 'address': net + '.2', 'prefix': 24,
                          'peer_address': net + '.3', 'table': 100 + path})
        sink_links.append({'path': path, 'dev': sdev, 'address': net + '.3', 'prefix': 24,
                           'peer_address': net + '.2', 'table': 100 + path})
    # the management NICs, with endpoints and limits of the hosts' own
    gen.add_veth('mg' + tag)
    gen.run('ip', 'address', 'add', '10.252.0.11/24', 'dev', 'mg' + tag)
    gen.run('ip', 'mptcp', 'endpoint', 'add', '10.252.0.11', 'id', '42', 'dev', 'mg' + tag, 'subflow')
    gen.run('ip', 'mptcp', 'limits', 'set', 'subflows', '5', 'add_addr_accepted', '3')
    sink.add_veth('ms' + tag)
    sink.run('ip', 'address', 'add', '10.252.0.12/24', 'dev', 'ms' + tag)
    sink.run('ip', 'mptcp', 'endpoint', 'add', '10.252.0.12', 'id', '7', 'dev', 'ms' + tag, 'subflow', 'backup')
    inventory = {'all': {
        'vars': {'ansible_connection': 'mptcp.lab.netns', 'ansible_python_interpreter': sys.executable,
                 'host_prep_install_packages': False, 'host_prep_state_dir': str(tmp_path / 'state')},
        'children': {
            'generators': {'hosts': {gen.name: {'lab_path_links': gen_links, 'lab_peer': sink.name}}},
            'sinks': {'hosts': {sink.name: {'lab_path_links': sink_links}}}}}}
    (tmp_path / 'inventory.yml').write_text(yaml.safe_dump(inventory))
    (tmp_path / 'play.yml').write_text(PLAY)

    def play(*args):
        proc = ansible_playbook(str(tmp_path / 'play.yml'), '-i', str(tmp_path / 'inventory.yml'), *args)
        return proc, recap(proc)

    def record(ns):
        path = tmp_path / 'state' / ('%s-mptcp.json' % ns.name)
        return json.loads(path.read_text()) if path.exists() else None

    return dict(gen=gen, sink=sink, play=play, record=record, state=tmp_path / 'state')


def test_teardown_gives_back_the_hosts_own_endpoints_and_limits(hosts):
    gen, sink, play, record = hosts['gen'], hosts['sink'], hosts['play'], hosts['record']
    own = dict((ns.name, mptcp(ns)) for ns in (gen, sink))
    assert own[gen.name] == ([{'id': 42, 'address': '10.252.0.11', 'port': None, 'dev': 'mg' + gen.name[-5:],
                               'flags': ['subflow']}], {'subflows': 5, 'add_addr_accepted': 3})
    assert [e['id'] for e in own[sink.name][0]] == [7]

    # check mode predicts the change on both and changes nothing, record included
    proc, rc = play('--check')
    assert rc[gen.name]['changed'] > 0 and rc[sink.name]['changed'] > 0, proc.stdout[-3000:]
    assert dict((ns.name, mptcp(ns)) for ns in (gen, sink)) == own
    assert record(gen) is None and record(sink) is None and addresses(gen) == ['10.252.0.11']

    # provisioned: the lab owns the endpoint set (the hosts' own endpoints would add subflows)
    proc, rc = play()
    assert rc[gen.name]['failed'] == 0 and rc[sink.name]['failed'] == 0, proc.stdout[-3000:]
    assert mptcp(gen) == ([], {'subflows': 1, 'add_addr_accepted': 1})
    sink_eps, sink_limits = mptcp(sink)
    assert [(e['id'], e['address'], e['flags']) for e in sink_eps] == \
        [(1, '198.19.1.3', ['signal']), (2, '198.19.2.3', ['signal'])]
    assert sink_limits == {'subflows': 1, 'add_addr_accepted': 1}
    # what the hosts had is saved, implicit endpoints aside
    for ns in (gen, sink):
        saved = record(ns)
        assert (saved['endpoints'], saved['limits']) == own[ns.name], saved
        assert oct(os.stat(hosts['state'] / ('%s-mptcp.json' % ns.name)).st_mode & 0o777) == '0o644'

    # a re-run changes nothing and never saves the lab's own state over the host's
    proc, rc = play()
    assert rc[gen.name]['changed'] == 0 and rc[sink.name]['changed'] == 0, proc.stdout[-3000:]
    assert (record(gen)['endpoints'], record(gen)['limits']) == own[gen.name]
    # the perf suite switches the sink's endpoints between segments; teardown does not care
    res = run_module(sink, 'mptcp_endpoints', {'state': 'overridden', 'config': [
        {'address': '198.19.2.3', 'id': 2, 'dev': 'q2' + gen.name[-5:], 'flags': ['signal']}]})
    assert res['rc'] == 0 and res['changed'], res

    # teardown in check mode predicts and changes nothing
    proc, rc = play('--check', '-e', 'host_prep_state=absent')
    assert rc[gen.name]['changed'] > 0 and rc[sink.name]['changed'] > 0, proc.stdout[-3000:]
    assert mptcp(gen) == ([], {'subflows': 1, 'add_addr_accepted': 1})
    assert record(gen) is not None and record(sink) is not None

    # teardown: exactly the hosts' own endpoints and limits, ids and devices included; record forgotten
    proc, rc = play('-e', 'host_prep_state=absent')
    assert rc[gen.name]['failed'] == 0 and rc[sink.name]['failed'] == 0, proc.stdout[-3000:]
    for ns in (gen, sink):
        assert mptcp(ns) == own[ns.name], ns.name
        assert record(ns) is None
    assert addresses(gen) == ['10.252.0.11'] and addresses(sink) == ['10.252.0.12']
    assert os.listdir(str(hosts['state'])) == []

    # and again: nothing to do, nothing removed (no record: only the lab's addresses are looked for)
    proc, rc = play('-e', 'host_prep_state=absent')
    assert rc[gen.name]['changed'] == 0 and rc[sink.name]['changed'] == 0, proc.stdout[-3000:]
    assert dict((ns.name, mptcp(ns)) for ns in (gen, sink)) == own


def test_without_a_record_teardown_removes_only_the_labs_endpoints(hosts):
    """A host provisioned before records existed: the lab's endpoints go, the host's stay."""
    gen, sink, play, record = hosts['gen'], hosts['sink'], hosts['play'], hosts['record']
    proc, rc = play()
    assert rc[sink.name]['failed'] == 0, proc.stdout[-3000:]
    os.unlink(str(hosts['state'] / ('%s-mptcp.json' % sink.name)))
    sink.run('ip', 'mptcp', 'endpoint', 'add', '10.252.0.12', 'id', '9', 'dev', 'ms' + gen.name[-5:], 'signal')
    proc, rc = play('-e', 'host_prep_state=absent')
    assert rc[sink.name]['failed'] == 0, proc.stdout[-3000:]
    eps, limits = mptcp(sink)
    assert [(e['id'], e['address']) for e in eps] == [(9, '10.252.0.12')]
    assert limits == {'subflows': 1, 'add_addr_accepted': 1}, 'without a record, limits stay as they are'
    assert record(gen) is None
