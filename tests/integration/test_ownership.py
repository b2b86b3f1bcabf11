"""The lab touches only what it created: foreign rules, routes, qdiscs and endpoints survive, byte for byte.

A bare-metal lab (generator, shaper, sink: three namespaces run through mptcp.lab.netns, with
host_prep as provision.yml and teardown.yml run it on real machines) whose machines carry an
administrator's objects before provisioning: policy rules and routes of protocol kernel (2) and boot
(3) inside the lab's own places (its rule priorities, tables and path devices), a rule of the lab's own
protocol outside them, an htb 1: tree on a NIC of the shaper that is not a lab path, and MPTCP endpoints.
Provisioning leaves every one of them in place, and after teardown `ip rule`, `ip route show table
all`, `tc qdisc` and `ip mptcp endpoint` print exactly what they printed before.

Also: a route protocol the system uses (2, 3, boot, kernel), given as lab_route_protocol or
lab_host_route_protocol, stops provisioning before anything exists, with a message naming the variable.
"""

import importlib.util
import json
import os
import sys
import textwrap
import uuid

import pytest
import yaml

from conftest import ROOT, ansible_playbook, changed

spec = importlib.util.spec_from_file_location('lab_inventory', os.path.join(ROOT, 'scripts', 'lab-inventory.py'))
lab_inventory = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lab_inventory)


PROVISION = textwrap.dedent("""\
    - hosts: shapers:generators:sinks
      gather_facts: false
      roles:
        - role: mptcp.lab.host_prep
          vars:
            host_prep_state: "{{ state }}"
    """)


class Machine(object):
    """A namespace playing a real machine (as in test_host_prep_mptcp.py)."""

    def __init__(self, ns):
        self.ns, self.name = ns, ns.name

    def run(self, *argv):
        return self.ns.run(*argv)


def snapshot(machine):
    """What the acceptance compares: rules, IPv4 routes of every table, qdiscs, MPTCP endpoints."""
    return {
        'rules': machine.run('ip', '-d', 'rule', 'show').stdout,     # -d: with every rule's protocol
        'routes': machine.run('ip', '-d', '-4', 'route', 'show', 'table', 'all').stdout,
        'qdiscs': machine.run('tc', 'qdisc', 'show').stdout,
        'classes': machine.run('tc', 'class', 'show', 'dev', 'eth9').stdout,
        'endpoints': machine.run('ip', 'mptcp', 'endpoint', 'show').stdout,
    }


def lines(text, *words):
    return [line for line in text.splitlines() if all(w in line for w in words)]


@pytest.fixture
def lab(tmp_path, netns_factory):
    """Generator, shaper and sink namespaces cabled as a bare-metal lab (two paths), run through mptcp.lab.netns."""
    gen, shaper, sink = (Machine(netns_factory()) for dummy in range(3))
    gen_links, sink_links, shaper_links = [], [], []
    for path in (1, 2):
        gen.ns.add_veth('eth%d' % path, peer_ns=shaper.ns, peer_name='eth%d' % path)
        sink.ns.add_veth('eth%d' % path, peer_ns=shaper.ns, peer_name='eth%d' % (path + 2))
        gnet, snet = '198.18.%d' % (2 * path - 1), '198.18.%d' % (2 * path)
        gen_links.append({'path': path, 'dev': 'eth%d' % path, 'address': gnet + '.2', 'prefix': 24,
                          'peer_address': snet + '.2', 'gateway': gnet + '.1', 'table': 100 + path})
        sink_links.append({'path': path, 'dev': 'eth%d' % path, 'address': snet + '.2', 'prefix': 24,
                           'peer_address': gnet + '.2', 'gateway': snet + '.1', 'table': 100 + path})
        shaper_links.append({'path': path, 'dev': 'eth%d' % path, 'address': gnet + '.1', 'prefix': 24})
        shaper_links.append({'path': path, 'dev': 'eth%d' % (path + 2), 'address': snet + '.1', 'prefix': 24})
    inventory = {'all': {
        'vars': {'ansible_connection': 'mptcp.lab.netns', 'ansible_python_interpreter': sys.executable,
                 'lab_kind': 'bare_metal', 'lab_prefix': gen.name[:8],
                 'lab_paths': [{'rate_mbit': 50}, {'rate_mbit': 50}],
                 'host_prep_install_packages': False, 'host_prep_state_dir': str(tmp_path / 'state')},
        'children': {
            'generators': {'hosts': {gen.name: {'lab_path_links': gen_links, 'lab_peer': sink.name}}},
            'sinks': {'hosts': {sink.name: {'lab_path_links': sink_links}}},
            'shapers': {'hosts': {shaper.name: {
                'lab_shaper_links': shaper_links,
                # as inventories/bare-metal/group_vars/shapers.yml has it
                'lab_shaper_devices': '{{ lab_shaper_links | mptcp.lab.lab_path_shaping(lab_paths) }}'}}}}}}
    (tmp_path / 'inventory.yml').write_text(yaml.safe_dump(inventory))
    (tmp_path / 'play.yml').write_text(PROVISION)

    def play(state):
        return ansible_playbook(str(tmp_path / 'play.yml'), '-i', str(tmp_path / 'inventory.yml'),
                                '-e', 'state=%s' % state)
    return dict(gen=gen, shaper=shaper, sink=sink, play=play)


def add_foreign_objects(machine):
    """An administrator's objects: in the lab's places but not of its protocol, or of its protocol elsewhere."""
    run = machine.run
    # a NIC that is no lab path, with an htb 1: tree (root, class, leaf)
    machine.ns.add_veth('eth9')
    run('tc', 'qdisc', 'add', 'dev', 'eth9', 'root', 'handle', '1:', 'htb', 'default', '1')
    run('tc', 'class', 'add', 'dev', 'eth9', 'parent', '1:', 'classid', '1:1', 'htb', 'rate', '10mbit')
    run('tc', 'qdisc', 'add', 'dev', 'eth9', 'parent', '1:1', 'handle', '10:', 'pfifo', 'limit', '50')
    run('ip', 'addr', 'add', '192.0.2.9/24', 'dev', 'eth9')
    # rules of protocol kernel (2) and boot (3) at the lab's priorities (10000-10007), looking up its tables
    run('ip', 'rule', 'add', 'from', '192.0.2.20', 'lookup', '101', 'priority', '10000', 'proto', '2')
    run('ip', 'rule', 'add', 'from', '192.0.2.21', 'lookup', '102', 'priority', '10001', 'proto', 'boot')
    # a rule of the lab's own protocol, outside its places (lookup main, another priority)
    run('ip', 'rule', 'add', 'from', '192.0.2.22', 'lookup', 'main', 'priority', '500', 'proto', '211')
    # routes of protocol 2 and boot in the lab's tables and on its path devices. The NICs carry an address
    # of the host's: the kernel flushes every route of a device whose last IPv4 address goes (the lab's,
    # at teardown), whoever owns the route, so routes on a NIC without an address of the host's own
    # cannot outlive the lab's address there.
    run('ip', 'addr', 'add', '192.0.2.101/32', 'dev', 'eth1')
    run('ip', 'addr', 'add', '192.0.2.102/32', 'dev', 'eth2')
    run('ip', 'route', 'add', '203.0.113.0/24', 'dev', 'eth1', 'table', '101', 'proto', '2')
    run('ip', 'route', 'add', '203.0.113.0/24', 'dev', 'eth2', 'table', '102', 'proto', 'boot')
    run('ip', 'route', 'add', '198.51.100.0/24', 'dev', 'eth1', 'proto', 'boot')
    run('ip', 'route', 'add', '198.51.101.0/24', 'dev', 'eth2', 'proto', '2')
    # and of the lab's protocol on a device that is not the lab's
    run('ip', 'route', 'add', '198.51.102.0/24', 'dev', 'eth9', 'proto', '211')
    run('ip', 'route', 'add', '198.51.102.0/24', 'dev', 'eth9', 'table', '300', 'proto', '211')
    # an MPTCP endpoint of the administrator's
    run('ip', 'mptcp', 'endpoint', 'add', '192.0.2.9', 'id', '99', 'dev', 'eth9', 'signal')


def test_foreign_rules_routes_qdiscs_and_endpoints_survive_provisioning_and_teardown(lab):
    gen, sink, shaper = lab['gen'], lab['sink'], lab['shaper']
    for machine in (gen, sink, shaper):
        add_foreign_objects(machine)
    before = dict((m.name, snapshot(m)) for m in (gen, sink, shaper))
    assert lines(before[gen.name]['rules'], '192.0.2.20 lookup 101 proto kernel')
    assert lines(before[gen.name]['rules'], '192.0.2.21 lookup 102 proto boot')
    assert lines(before[shaper.name]['qdiscs'], 'htb 1: dev eth9 root')

    lab['play']('present')
    during = dict((m.name, snapshot(m)) for m in (gen, sink, shaper))
    # the lab is up: its own rules, routes and qdiscs are there ...
    assert lines(during[gen.name]['rules'], 'from 198.18.1.2 lookup 101 proto 211')
    assert lines(during[shaper.name]['qdiscs'], 'tbf 1ab: dev eth1 root')
    # ... and every foreign rule, route and qdisc is still there, as it was
    for m in (gen, sink, shaper):
        for key in ('rules', 'routes', 'qdiscs'):
            now = during[m.name][key].splitlines()
            missing = [line for line in before[m.name][key].splitlines() if line not in now]
            if key == 'qdiscs' and m is shaper:     # the kernel's default roots of the paths, shaped now
                missing = [line for line in missing if not line.startswith('qdisc noqueue 0: dev eth')
                           or 'dev eth9' in line]
            assert missing == [], (m.name, key, missing)
        for word in ('198.51.100.0/24 dev eth1 table main proto boot', '203.0.113.0/24 dev eth1 table 101 proto kernel',
                     '198.51.102.0/24 dev eth9 table main proto 211', '198.51.102.0/24 dev eth9 table 300 proto 211'):
            assert lines(during[m.name]['routes'], word), (m.name, word)
        assert during[m.name]['classes'] == before[m.name]['classes']
    # the shaper's endpoint is not the lab's business at all
    assert during[shaper.name]['endpoints'] == before[shaper.name]['endpoints']
    assert changed(lab['play']('present')) == {}

    lab['play']('absent')
    after = dict((m.name, snapshot(m)) for m in (gen, sink, shaper))
    for m in (gen, sink, shaper):
        for key in before[m.name]:
            assert after[m.name][key] == before[m.name][key], (m.name, key, before[m.name][key], after[m.name][key])
    assert changed(lab['play']('absent')) == {}


# ---------------------------------------------------------------- protocols the system uses

@pytest.fixture
def virtual_lab(tmp_path):
    if os.geteuid() != 0:
        pytest.skip('needs root')
    prefix = 'mlo%s' % uuid.uuid4().hex[:6]
    inventory = str(tmp_path / prefix)
    lab_inventory.write(inventory, prefix, 1, None)
    yield prefix, inventory
    ansible_playbook(os.path.join(ROOT, 'playbooks', 'teardown.yml'), '-i', inventory, check=False)


def lab_objects(prefix):
    netns = sorted(n for n in os.listdir('/run/netns') if n.startswith(prefix + '-')) \
        if os.path.isdir('/run/netns') else []
    files = sorted(n for n in os.listdir('/run/mptcp-lab') if n.startswith(prefix + '-')) \
        if os.path.isdir('/run/mptcp-lab') else []
    return netns, files


@pytest.mark.parametrize('variable, value, rule', [
    ('lab_route_protocol', '2', '2 is route protocol "kernel", which the system uses'),
    ('lab_route_protocol', 'boot', "'boot' is the name of route protocol 3, which the system uses"),
    ('lab_host_route_protocol', '3', '3 is route protocol "boot", which the system uses'),
    ('lab_host_route_protocol', 'kernel', "'kernel' is the name of route protocol 2, which the system uses"),
    ('lab_shaper_route_protocol', '4', '4 is route protocol "static", which the system uses'),
])
def test_a_route_protocol_of_the_system_fails_before_any_change(virtual_lab, variable, value, rule):
    prefix, inventory = virtual_lab
    root_rules = json.dumps(os.popen('ip rule show').read())
    for playbook in ('provision.yml', 'perf.yml') if value == '2' else ('provision.yml',):
        proc = ansible_playbook(os.path.join(ROOT, 'playbooks', playbook), '-i', inventory,
                                '-e', '%s=%s' % (variable, value), check=False)
        assert proc.returncode != 0, proc.stdout[-3000:]
        out = ' '.join(proc.stdout.split())
        assert '%s: %s' % (variable, rule) in out, proc.stdout[-3000:]
        assert 'Traceback' not in proc.stdout + proc.stderr
        assert lab_objects(prefix) == ([], []), playbook
    assert json.dumps(os.popen('ip rule show').read()) == root_rules
