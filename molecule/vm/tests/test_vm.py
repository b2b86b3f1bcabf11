"""Verify the converged VM lab inside the guests: their kernel, the shaper's netem, addresses, MPTCP.

testinfra's SSH backend, with the lab's own key and pinned host key (both in
lab_vm_state_dir), one connection per guest kept open (ControlPersist), so a
command costs a round trip, not an interpreter start. Expected values come
from the scenario's inventory, converge.yml and the collection's address plan.
"""

import json
import os
import re
import subprocess
import sys

import pytest
import testinfra
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
sys.path.insert(0, os.path.join(ROOT, '.collections'))

from ansible_collections.mptcp.lab.plugins.module_utils.lab import lab_plan  # noqa: E402

INVENTORY = os.environ.get('MOLECULE_LAB_INVENTORY', os.path.join(ROOT, 'molecule', 'vm', 'inventory'))
CONVERGE = os.environ.get('MOLECULE_LAB_CONVERGE', os.path.join(ROOT, 'molecule', 'vm', 'converge.yml'))


def _inventory():
    out = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-inventory'), '-i', INVENTORY,
                          '--list'], capture_output=True, text=True, check=True,
                         env=dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'))).stdout
    return json.loads(out)


INV = _inventory()
HOSTVARS = INV['_meta']['hostvars']
GEN = INV['generators']['hosts'][0]
SINK = HOSTVARS[GEN]['lab_peer']
SHAPER = INV['shapers']['hosts'][0]
PREFIX = HOSTVARS[SHAPER]['lab_prefix']
STATE_DIR = '/var/lib/mptcp-lab/%s' % PREFIX
with open(CONVERGE) as handle:
    PATHS = yaml.safe_load(handle)[0]['vars']['lab_paths']


def guest(name):
    return testinfra.get_host(
        'ssh://root@127.0.0.1:%d' % HOSTVARS[name]['ansible_port'],
        ssh_identity_file=os.path.join(STATE_DIR, 'id_ed25519'),
        ssh_extra_args='-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes '
                       '-o IdentityAgent=none' % os.path.join(STATE_DIR, 'known_hosts'))


@pytest.fixture(scope='module')
def hosts():
    return dict((name, guest(name)) for name in (GEN, SINK, SHAPER))


def record(name):
    with open(os.path.join(STATE_DIR, name + '.json')) as handle:
        return json.load(handle)


def ipj(host, *args):
    return json.loads(host.check_output(' '.join(['ip', '-j'] + list(args))) or '[]')


@pytest.mark.parametrize('name', ['gen', 'sink', 'shaper'])
def test_the_guest_runs_the_kernel_under_test(hosts, name):
    vm = {'gen': GEN, 'sink': SINK, 'shaper': SHAPER}[name]
    release = hosts[vm].check_output('uname -r')
    assert release == record(vm)['kernel_release']
    assert release != os.uname().release


def test_the_shaper_vm_applies_netem_delay_and_loss_per_path(hosts):
    """Each path is shaped in both directions on the shaper's two NICs of that path."""
    shaper = hosts[SHAPER]
    for path_id, spec in enumerate(PATHS, 1):
        devs = [link['dev'] for link in lab_plan.shaper_links(PATHS, [1], prefix=PREFIX)
                if link['path'] == path_id]
        assert len(devs) == 2, devs
        for dev in devs:
            text = shaper.check_output('tc qdisc show dev %s' % dev)
            rate = re.search(r'rate (\d+)Mbit', text)
            assert rate and int(rate.group(1)) == spec['rate_mbit'], text
            if spec.get('delay_ms'):
                assert re.search(r'netem .*delay %dms' % spec['delay_ms'], text), text
            if spec.get('loss_pct'):
                assert re.search(r'netem .*loss %s%%' % spec['loss_pct'], text), text
            if not spec.get('delay_ms') and not spec.get('loss_pct'):
                assert 'netem' not in text, text


def test_the_ends_have_their_path_addresses_and_endpoints(hosts):
    for name, side in ((GEN, 'generator'), (SINK, 'sink')):
        addrs = set(a['local'] for link in ipj(hosts[name], 'addr', 'show') for a in link.get('addr_info', [])
                    if a.get('family') == 'inet')
        wanted = set(link['address'].split('/')[0] for link in lab_plan.path_links(PATHS, 1, side, prefix=PREFIX))
        assert wanted <= addrs, (name, wanted, addrs)
    endpoints = hosts[SINK].check_output('ip mptcp endpoint show')
    for link in lab_plan.path_links(PATHS, 1, 'sink', prefix=PREFIX):
        assert re.search(r'%s .*signal' % re.escape(link['address'].split('/')[0]), endpoints), endpoints


def test_the_delay_of_path_1_shows_in_its_round_trip(hosts):
    gen = lab_plan.path_links(PATHS, 1, 'generator', prefix=PREFIX)[0]['address'].split('/')[0]
    sink = lab_plan.path_links(PATHS, 1, 'sink', prefix=PREFIX)[0]['address'].split('/')[0]
    out = hosts[GEN].check_output('ping -n -q -c 5 -i 0.2 -I %s %s' % (gen, sink))
    avg = float(re.search(r'= [\d.]+/([\d.]+)/', out).group(1))
    assert avg >= 2 * PATHS[0]['delay_ms'], out
