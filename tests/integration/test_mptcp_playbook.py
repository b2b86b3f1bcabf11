"""The MPTCP modules through a real ansible-playbook run inside a namespace."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.dirname(sys.executable)

PLAYBOOK = '''
- name: Configure MPTCP in a namespace
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Settings
      mptcp.lab.mptcp_settings:
        enabled: true
        path_manager: kernel
        scheduler: default
        add_addr_timeout: 60
    - name: Limits
      mptcp.lab.mptcp_limits:
        subflows: 8
        add_addr_accepted: 8
    - name: Endpoints
      mptcp.lab.mptcp_endpoints:
        state: overridden
        config:
          - {address: 10.3.0.1, flags: [signal]}
          - {address: 10.3.0.2, flags: [subflow, backup]}
          - {address: 10.3.0.3, flags: [signal]}
          - {address: 10.3.0.4, flags: [subflow, backup]}
          - {address: 10.3.0.5, flags: [signal]}
          - {address: 10.3.0.6, flags: [subflow, backup]}
          - {address: 10.3.0.7, flags: [signal]}
          - {address: 10.3.0.8, flags: [subflow, backup]}
    - name: Facts
      mptcp.lab.mptcp_info:
    - name: Check the facts
      ansible.builtin.assert:
        that:
          - ansible_facts.mptcp.endpoints | length == 8
          - ansible_facts.mptcp.limits.subflows == 8
'''


def run_playbook(ns, path, *extra):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'),
               PATH=VENV_BIN + os.pathsep + os.environ.get('PATH', ''))
    argv = ['ip', 'netns', 'exec', ns.name, os.path.join(VENV_BIN, 'ansible-playbook'), '-c', 'local',
            '-i', 'localhost,', '-e', 'ansible_python_interpreter=%s' % sys.executable, path] + list(extra)
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)


def recap(stdout):
    for line in stdout.splitlines():
        if line.startswith('localhost') and 'ok=' in line:
            return dict(part.split('=') for part in line.split()[2:])
    raise AssertionError('no recap in:\n' + stdout)


def test_playbook_configures_and_is_idempotent(netns, tmp_path):
    path = tmp_path / 'mptcp.yml'
    path.write_text(PLAYBOOK)
    first = run_playbook(netns, str(path))
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    assert recap(first.stdout)['changed'] == '3'
    out = netns.run('ip', 'mptcp', 'endpoint', 'show').stdout
    assert len(out.strip().splitlines()) == 8
    second = run_playbook(netns, str(path), '--diff')
    assert second.returncode == 0, second.stdout[-4000:]
    assert recap(second.stdout)['changed'] == '0'
