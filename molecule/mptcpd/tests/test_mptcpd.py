"""Verify mptcpd on the converged lab: one process per namespace, in that namespace, and its endpoints.

testinfra's local backend (a few ms per command); namespaces are entered with
``ip netns exec``. Expected values come from the scenario's inventory.
"""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
sys.path.insert(0, os.path.join(ROOT, '.collections'))

from ansible_collections.mptcp.lab.plugins.module_utils.lab import lab_plan  # noqa: E402

INVENTORY = os.environ.get('MOLECULE_LAB_INVENTORY', os.path.join(ROOT, 'molecule', 'mptcpd', 'inventory'))
RUN_DIR = '/run/mptcp-lab'
CAP_NET_ADMIN = 1 << 12

testinfra_hosts = ['local://']


def _inventory():
    out = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-inventory'), '-i', INVENTORY,
                          '--list'], capture_output=True, text=True, check=True,
                         env=dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'))).stdout
    return json.loads(out)


INV = _inventory()
HOSTVARS = INV['_meta']['hostvars']
MPTCPD_HOSTS = sorted(INV['generators']['hosts'] + INV['sinks']['hosts'])
SHAPERS = INV['shapers']['hosts']


def netns_of(name):
    return HOSTVARS[name].get('ansible_netns_name', name)


def addresses(name):
    """The host's path addresses, from the lab's own address plan (what lab_path_links computes)."""
    hv = HOSTVARS[name]
    side = 'generator' if name in INV['generators']['hosts'] else 'sink'
    links = lab_plan.path_links(hv['lab_paths'], hv['lab_pair'], side, prefix=hv['lab_prefix'],
                                address_base=hv['lab_address_base'], subnet_prefix=hv['lab_subnet_prefix'])
    return sorted(link['address'] for link in links)


def mptcpd_pid(host, name):
    pidfile = host.file('%s/%s-mptcpd.pid' % (RUN_DIR, netns_of(name)))
    assert pidfile.exists, pidfile.path
    return int(pidfile.content_string.strip())


@pytest.mark.parametrize('name', MPTCPD_HOSTS)
def test_mptcpd_runs_in_its_own_namespace_with_least_privilege(host, name):
    pid = mptcpd_pid(host, name)
    proc = host.file('/proc/%d' % pid)
    assert proc.exists, 'pid %d from the pidfile is not running' % pid
    assert host.file('/proc/%d/comm' % pid).content_string.strip() == 'mptcpd'
    # the process's network namespace is the host's
    ns_inode = host.check_output('stat -L -c %%i /proc/%d/ns/net' % pid)
    assert ns_inode == host.check_output('stat -L -c %%i /run/netns/%s' % netns_of(name))
    status = dict(line.split(':', 1) for line in host.file('/proc/%d/status' % pid).content_string.splitlines())
    assert status['Uid'].split()[0] == '65534' and status['Gid'].split()[0] == '65534'
    assert int(status['CapEff'], 16) == int(status['CapBnd'], 16) == CAP_NET_ADMIN


@pytest.mark.parametrize('name', MPTCPD_HOSTS)
def test_exactly_one_mptcpd_per_namespace(host, name):
    pids = host.check_output('ip netns pids %s' % netns_of(name)).split()
    comms = [host.file('/proc/%s/comm' % p).content_string.strip() for p in pids if host.file('/proc/%s' % p).exists]
    assert comms.count('mptcpd') == 1, comms


@pytest.mark.parametrize('name', SHAPERS)
def test_no_mptcpd_on_the_shaper(host, name):
    pids = host.check_output('ip netns pids %s' % netns_of(name)).split()
    assert 'mptcpd' not in [host.file('/proc/%s/comm' % p).content_string.strip()
                            for p in pids if host.file('/proc/%s' % p).exists]


@pytest.mark.parametrize('name', MPTCPD_HOSTS)
def test_endpoints_exist_for_every_path_address_with_the_host_flags(host, name):
    wanted_flags = sorted(HOSTVARS[name]['mptcpd_addr_flags'])
    eps = json.loads(host.check_output('ip netns exec %s ip -j mptcp endpoint show' % netns_of(name)) or '[]')
    got = dict((e['address'], sorted(k for k in ('signal', 'subflow', 'backup', 'fullmesh') if e.get(k)))
               for e in eps)
    for address in addresses(name):
        assert got.get(address) == wanted_flags, (address, eps)


@pytest.mark.parametrize('name', MPTCPD_HOSTS)
def test_each_instance_reads_its_own_configuration(host, name):
    conf = host.file('%s/%s-mptcpd.conf' % (RUN_DIR, netns_of(name)))
    assert conf.exists and conf.mode == 0o644
    assert 'addr-flags=%s\n' % ','.join(HOSTVARS[name]['mptcpd_addr_flags']) in conf.content_string
