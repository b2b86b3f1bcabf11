"""The example bare-metal inventory stays consistent and usable by the playbooks (no hosts contacted)."""

import base64
import ipaddress
import json
import os
import re
import subprocess

from conftest import ROOT, VENV_BIN

INVENTORY = os.path.join(ROOT, 'inventories', 'bare-metal')
ENV = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'))


def ansible(tool, *args, **env):
    proc = subprocess.run([os.path.join(VENV_BIN, tool)] + list(args), cwd=ROOT, env=dict(ENV, **env),
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def test_example_inventory_is_a_consistent_lab():
    data = json.loads(ansible('ansible-inventory', '-i', INVENTORY, '--list'))
    hostvars = data['_meta']['hostvars']
    generators, sinks, shapers = (data[g]['hosts'] for g in ('generators', 'sinks', 'shapers'))
    assert generators and sinks and len(shapers) <= 1
    shaper_addresses = set()
    for shaper in shapers:
        links = hostvars[shaper]['lab_shaper_links']
        shaper_addresses = set(link['address'] for link in links)
        assert len(set(link['dev'] for link in links)) == len(links)
    for host in generators + sinks + shapers:
        hv = hostvars[host]
        assert hv['lab_kind'] == 'bare_metal' and hv['ansible_connection'] == 'ssh'
        # SSH goes to the management address, never to a path address
        assert ipaddress.ip_address(hv['ansible_host'])
        path_addresses = [link['address'] for link in hv.get('lab_path_links', hv.get('lab_shaper_links', []))]
        assert hv['ansible_host'] not in path_addresses
    for gen in generators:
        hv = hostvars[gen]
        sink = hv['lab_peer']
        assert sink in sinks
        mine, theirs = hv['lab_path_links'], hostvars[sink]['lab_path_links']
        assert len(mine) == len(theirs) == len(hv['lab_paths'])
        for path, (a, b) in enumerate(zip(mine, theirs), start=1):
            assert a['path'] == b['path'] == path and a['table'] == b['table']
            assert a['peer_address'] == b['address'] and b['peer_address'] == a['address']
            for link in (a, b):
                net = ipaddress.ip_network('%s/%d' % (link['address'], link['prefix']), strict=False)
                assert ipaddress.ip_address(link['gateway']) in net and link['gateway'] in shaper_addresses


def test_example_shaper_shapes_every_link_at_its_paths_rate():
    out = ansible('ansible', '-i', INVENTORY, 'shapers', '-m', 'ansible.builtin.debug',
                  '-a', 'msg=devices:{{ lab_shaper_devices | to_json | b64encode }}')
    devices = json.loads(base64.b64decode(re.search(r'devices:([A-Za-z0-9+/=]+)', out).group(1)))
    assert [(d['dev'], d['rate_mbit'], d['label']) for d in devices] == [
        ('enp2s0f0', 1000, 'lab_paths[0]'), ('enp2s0f1', 1000, 'lab_paths[1]'),
        ('enp2s0f2', 1000, 'lab_paths[0]'), ('enp2s0f3', 1000, 'lab_paths[1]')]


def test_playbooks_parse_against_the_example():
    for playbook in ('provision.yml', 'teardown.yml'):
        out = ansible('ansible-playbook', '-i', INVENTORY, '--list-hosts', os.path.join(ROOT, 'playbooks', playbook))
        assert 'gen1.lab.example' in out and 'sink1.lab.example' in out and 'shaper1.lab.example' in out
