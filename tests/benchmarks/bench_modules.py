#!/usr/bin/env python
"""Wall time of the MPTCP modules on this machine.

Prints:
  * one module call (mptcp_limits, then mptcp_endpoints, mptcp_info), run
    the way Ansible runs a module (python -m ... with JSON arguments) inside a
    network namespace: median of N calls;
  * configuring 8 endpoints + limits + settings in a fresh namespace with one
    ansible-playbook run (3 tasks), and the idempotent re-run.

Every namespace it creates is named mlbench<random> and deleted at the end.
Run as root from the repository root:

    .venv/bin/python tests/benchmarks/bench_modules.py [--calls 10]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(ROOT, '.collections')
VENV_BIN = os.path.dirname(sys.executable)

PLAYBOOK = '''
- name: MPTCP host config
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
%s
''' % '\n'.join('          - {address: 10.77.%d.1, dev: b%d, flags: [%s]}'
                % (i, i, 'signal' if i % 2 else 'subflow') for i in range(8))


# The same ansible-playbook start-up with no module call: what the figures above include anyway.
BASELINE = '''
- name: Baseline
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Nothing
      ansible.builtin.meta: noop
'''


def sh(*argv):
    subprocess.run(argv, check=True, capture_output=True)


class Namespace:
    def __init__(self):
        self.name = 'mlbench%s' % uuid.uuid4().hex[:8]
        sh('ip', 'netns', 'add', self.name)
        for i in range(8):
            sh('ip', 'link', 'add', 'b%d' % i, 'netns', self.name, 'type', 'veth', 'peer', 'name', 'b%dp' % i,
               'netns', self.name)
            sh('ip', '-n', self.name, 'addr', 'add', '10.77.%d.1/24' % i, 'dev', 'b%d' % i)

    def delete(self):
        subprocess.run(['ip', 'netns', 'del', self.name], check=False)


def module_call(ns, module, args):
    payload = dict(args, _ansible_check_mode=False, _ansible_diff=False)
    env = dict(os.environ, PYTHONPATH=COLLECTIONS, LC_ALL='C')
    argv = ['ip', 'netns', 'exec', ns.name, sys.executable, '-m',
            'ansible_collections.mptcp.lab.plugins.modules.%s' % module]
    start = time.monotonic()
    proc = subprocess.run(argv, input=json.dumps({'ANSIBLE_MODULE_ARGS': payload}), capture_output=True,
                          text=True, env=env, check=False)
    elapsed = time.monotonic() - start
    result = json.loads(proc.stdout)
    if result.get('failed'):
        raise SystemExit('%s failed: %s' % (module, result.get('msg')))
    return elapsed


def playbook(ns, path):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'),
               PATH=VENV_BIN + os.pathsep + os.environ.get('PATH', ''))
    argv = ['ip', 'netns', 'exec', ns.name, os.path.join(VENV_BIN, 'ansible-playbook'), '-c', 'local',
            '-i', 'localhost,', '-e', 'ansible_python_interpreter=%s' % sys.executable, path]
    start = time.monotonic()
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit('ansible-playbook failed:\n%s\n%s' % (proc.stdout[-3000:], proc.stderr[-2000:]))
    recap = [line for line in proc.stdout.splitlines() if line.startswith('localhost') and 'ok=' in line]
    return elapsed, recap[-1].split(':', 1)[1].split() if recap else []


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--calls', type=int, default=10, help='module calls to time (median reported)')
    opts = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit('needs root (network namespaces)')

    created = []
    try:
        ns = Namespace()
        created.append(ns)
        print('one module call inside a namespace (median of %d):' % opts.calls)
        for module, args in (('mptcp_limits', {'subflows': 2, 'add_addr_accepted': 1}),
                             ('mptcp_endpoints', {'config': [{'address': '10.77.0.1', 'flags': ['subflow']}]}),
                             ('mptcp_info', {})):
            times = [module_call(ns, module, args) for _i in range(opts.calls)]
            print('  %-16s %.3f s  (min %.3f, max %.3f)' % (module, statistics.median(times), min(times), max(times)))

        fresh = Namespace()
        created.append(fresh)
        paths = []
        try:
            for text in (PLAYBOOK, BASELINE):
                with tempfile.NamedTemporaryFile('w', suffix='.yml', delete=False) as handle:
                    handle.write(text)
                    paths.append(handle.name)
            first, recap1 = playbook(fresh, paths[0])
            second, recap2 = playbook(fresh, paths[0])
            baseline = playbook(fresh, paths[1])[0]
        finally:
            for path in paths:
                os.unlink(path)
        print('8 endpoints + limits + settings, fresh namespace, one ansible-playbook run (3 tasks):')
        print('  first run   %.2f s  %s' % (first, ' '.join(recap1[:2])))
        print('  re-run      %.2f s  %s' % (second, ' '.join(recap2[:2])))
        print('  (ansible-playbook start-up alone, one no-op task: %.2f s)' % baseline)
    finally:
        for ns in created:
            ns.delete()


if __name__ == '__main__':
    main()
