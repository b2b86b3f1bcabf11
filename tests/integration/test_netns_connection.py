"""mptcp.lab.netns connection plugin, for real: commands, modules, files, the namespace's own view."""

import json
import os
import shutil
import textwrap

import pytest

from conftest import ansible_playbook

PLAYBOOK = textwrap.dedent('''
    - hosts: all
      gather_facts: false
      tasks:
        - name: The namespace's own /sys (ip netns exec semantics)
          ansible.builtin.command: ls /sys/class/net
          register: sysnet
        - name: A module runs inside the namespace (python from the venv)
          ansible.builtin.command: cat /proc/net/dev
          register: procnet
        - name: put_file (copy goes through put_file when pipelining is off, and for the file itself)
          ansible.builtin.copy:
            content: "hello from {{ inventory_hostname }}\\n"
            dest: "{{ work }}/put.txt"
            mode: "0644"
        - name: fetch_file
          ansible.builtin.fetch:
            src: "{{ work }}/put.txt"
            dest: "{{ work }}/fetched/"
            flat: true
        - name: /etc/netns/<name>/ files are bind-mounted over /etc
          ansible.builtin.command: cat /etc/hosts
          register: etc_hosts
        - name: become to another user works without a password (raw; nobody cannot read the venv)
          ansible.builtin.raw: id -u
          become: true
          become_method: ansible.builtin.su
          become_flags: -s /bin/sh
          become_user: nobody
          register: nobody
        - name: Report
          ansible.builtin.copy:
            content: "{{ {'sysnet': sysnet.stdout_lines, 'procnet': procnet.stdout, 'hosts': etc_hosts.stdout,
                          'uid': nobody.stdout | trim} | to_json }}"
            dest: "{{ work }}/report.json"
            mode: "0644"
          delegate_to: localhost
''')


def write_inventory(path, ns, alias=None):
    host = alias or ns.name
    extra = {'ansible_netns_name': ns.name} if alias else {}
    with open(path, 'w') as handle:
        json.dump({'all': {'hosts': {host: extra}, 'vars': {
            'ansible_connection': 'mptcp.lab.netns',
            'ansible_python_interpreter': '{{ ansible_playbook_python }}'}}}, handle)


@pytest.fixture
def etc_netns(netns):
    """A per-namespace /etc/hosts, as ip-netns(8) documents it; removed afterwards."""
    directory = os.path.join('/etc/netns', netns.name)
    os.makedirs(directory)
    with open(os.path.join(directory, 'hosts'), 'w') as handle:
        handle.write('192.0.2.1 only-in-%s\n' % netns.name)
    yield directory
    shutil.rmtree(directory)
    try:
        os.rmdir('/etc/netns')
    except OSError:
        pass


@pytest.mark.parametrize('pipelining', ['True', 'False'])
def test_tasks_run_inside_the_namespace(netns, etc_netns, tmp_path, pipelining):
    netns.add_veth('mltv0')
    inventory = tmp_path / 'inventory.json'
    write_inventory(inventory, netns, alias='labhost')
    playbook = tmp_path / 'play.yml'
    playbook.write_text(PLAYBOOK)
    work = tmp_path / 'work'
    work.mkdir()
    ansible_playbook(str(playbook), '-i', str(inventory), '-e', 'work=%s' % work,
                     env={'ANSIBLE_PIPELINING': pipelining})
    report = json.loads((work / 'report.json').read_text())
    assert sorted(report['sysnet']) == ['lo', 'mltv0', 'mltv0p']
    assert 'mltv0' in report['procnet'] and 'eth0' not in report['procnet']
    assert 'only-in-%s' % netns.name in report['hosts']
    assert report['uid'] == '65534'
    assert (work / 'put.txt').read_text() == 'hello from labhost\n'
    assert (work / 'fetched' / 'put.txt').read_text() == 'hello from labhost\n'


def test_missing_namespace_makes_the_host_unreachable(tmp_path):
    class Missing(object):
        name = 'mlt-missing-%d' % os.getpid()
    inventory = tmp_path / 'inventory.json'
    write_inventory(inventory, Missing)
    playbook = tmp_path / 'play.yml'
    playbook.write_text('- hosts: all\n  gather_facts: false\n  tasks:\n    - ansible.builtin.ping:\n')
    proc = ansible_playbook(str(playbook), '-i', str(inventory), check=False)
    assert proc.returncode == 4, proc.stdout
    assert 'network namespace %s does not exist' % Missing.name in proc.stdout


DELEGATION_PLAYBOOK = textwrap.dedent('''
    - hosts: "{{ origin }}"
      gather_facts: false
      tasks:
        - name: Not delegated, then delegated to each target (the namespace of the delegated host)
          ansible.builtin.command: readlink /proc/self/ns/net
          register: seen
          delegate_to: "{{ item | default(omit, true) }}"
          loop: "{{ [''] + targets }}"
        - name: Report
          ansible.builtin.copy:
            content: "{{ seen.results | map(attribute='stdout') | list | to_json }}"
            dest: "{{ work }}/{{ inventory_hostname }}.json"
            mode: "0644"
          delegate_to: localhost
''')


def netns_inode(ns):
    """What readlink /proc/self/ns/net prints inside namespace ns."""
    return 'net:[%d]' % os.stat(os.path.join('/run/netns', ns.name)).st_ino


def test_delegate_to_runs_in_the_delegated_hosts_namespace(netns_factory, tmp_path):
    """Under delegate_to, Ansible keeps inventory_hostname (the original host's), so the namespace
    must come from the delegated host: its ansible_netns_name, else its address, else its name."""
    a, b, c = netns_factory(), netns_factory(), netns_factory()
    hosts = {
        'alias-a': {'ansible_netns_name': a.name},   # origin with its own ansible_netns_name
        b.name: {},                                  # plain: the namespace is the inventory name
        'alias-b': {'ansible_netns_name': b.name},
        'via-addr-c': {'ansible_host': c.name},      # no ansible_netns_name: its address
    }
    inventory = tmp_path / 'inventory.json'
    inventory.write_text(json.dumps({'all': {'hosts': hosts, 'vars': {
        'ansible_connection': 'mptcp.lab.netns',
        'ansible_python_interpreter': '{{ ansible_playbook_python }}'}}}))
    playbook = tmp_path / 'play.yml'
    playbook.write_text(DELEGATION_PLAYBOOK)
    work = tmp_path / 'work'
    work.mkdir()
    cases = {'alias-a': ([b.name, 'alias-b', 'via-addr-c'], [a, b, b, c]),
             b.name: (['alias-a', 'via-addr-c'], [b, a, c])}
    for origin, (targets, expected) in cases.items():
        ansible_playbook(str(playbook), '-i', str(inventory), '-e', json.dumps(
            {'origin': origin, 'targets': targets, 'work': str(work)}))
        seen = json.loads((work / ('%s.json' % origin)).read_text())
        assert seen == [netns_inode(ns) for ns in expected], (origin, targets)
    assert len({netns_inode(ns) for ns in (a, b, c)}) == 3
