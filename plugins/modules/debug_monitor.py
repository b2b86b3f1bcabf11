#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: debug_monitor
short_description: Run ip mptcp monitor on a host for the length of a reproduce run
version_added: 0.2.0
description:
  - V(started) starts C(ip mptcp monitor) in the network namespace (or on the host) the task
    runs in, under a small detached supervisor, and returns once the monitor listens. The
    monitor carries a parent-death signal, so it dies with its supervisor.
  - The supervisor ends the monitor when it is stopped (V(stopped)), when the
    ansible-playbook run that started it ends (Ctrl-C included) - it holds a pidfd of that
    process, which the action plugin of this module names, whenever the host can see it
    (same boot and PID namespace - the netns lab, a local connection) - and in any case after
    O(timeout_s).
  - V(stopped) stops it and returns what it printed; the files it used are removed.
  - Starting again replaces a monitor of the same O(name) that is still running.
options:
  name:
    description: Names the monitor (its files are C(<state_dir>/<name>-debug-monitor.*)); the inventory hostname.
    type: str
    required: true
  state:
    description: V(started) or V(stopped).
    type: str
    choices: [started, stopped]
    default: started
  timeout_s:
    description: The monitor stops itself after this many seconds.
    type: int
    default: 3600
  state_dir:
    description: Where the monitor's state and output are kept while it runs.
    type: path
    default: /run/mptcp-lab
  guard:
    description:
      - The process the monitor must not outlive, as the action plugin fills it in
        (C(pid), C(starttime), C(boot_id), C(pid_ns)); not to be set by hand.
    type: dict
notes:
  - Needs Linux 5.3 or later (pidfd) and Python 3.9 or later on the host.
author:
  - mptcp.lab developers (@multipath-tcp)
extends_documentation_fragment:
  - mptcp.lab.attributes
attributes:
  action:
    support: full
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
  check_mode:
    support: full
  diff_mode:
    support: none
seealso:
  - module: mptcp.lab.debug_collect
'''

EXAMPLES = r'''
- name: Watch MPTCP events while the issue is reproduced
  mptcp.lab.debug_monitor:
    name: "{{ inventory_hostname }}"
    timeout_s: 900

- name: Stop watching and keep what was seen
  mptcp.lab.debug_monitor:
    name: "{{ inventory_hostname }}"
    state: stopped
  register: monitor
'''

RETURN = r'''
argv:
  description: The monitor's command.
  returned: always
  type: list
  elements: str
guarded:
  description: Whether the monitor watches the run's process (else only O(timeout_s) bounds it).
  returned: when started
  type: bool
output:
  description: What the monitor printed (V(stopped)).
  returned: when stopped
  type: str
events:
  description: How many events it printed (V(stopped)).
  returned: when stopped
  type: int
stopped_by:
  description: Why it stopped - C(stopped), C(timeout), C(run ended), C(child exited), or null when none ran.
  returned: when stopped
  type: str
exit_status:
  description: The monitor's exit status (negative - the signal that ended it).
  returned: when stopped
  type: int
'''

import json
import os
import re

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mptcp.lab.plugins.module_utils.process import guarded_process as dm

NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$')


def count_events(text):
    """ip mptcp monitor prints one line per event, "[  EVENT] ..."."""
    return len([line for line in (text or '').splitlines() if line.startswith('[')])


def paths(p):
    base = os.path.join(p['state_dir'], '%s-debug-monitor' % p['name'])
    return base + '.json', base + '.txt'


def read_state(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (IOError, OSError, ValueError):
        return None


def unlink(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def started(module, p, argv):
    state_path, output = paths(p)
    previous = read_state(state_path)
    running = bool(previous) and dm.alive(previous.get('supervisor_pid'), previous.get('supervisor_start'))
    if module.check_mode:
        return {'changed': True, 'argv': argv, 'replaced': running, 'guarded': dm.guard_visible(p['guard'])}
    if running:
        dm.stop(previous)
    if not os.path.isdir(p['state_dir']):
        os.makedirs(p['state_dir'], 0o755)
    state = dm.start([{'argv': argv, 'output': output, 'ready': 'netlink'}], state_path, p['timeout_s'],
                     p['guard'] or {})
    if state.get('error'):
        module.fail_json(msg='ip mptcp monitor did not start: %s' % state['error'], argv=argv)
    if not state.get('ready'):
        dm.stop(state)
        module.fail_json(msg='ip mptcp monitor did not start listening within 5 s (see %s)' % output, argv=argv)
    return {'changed': True, 'argv': argv, 'replaced': running, 'guarded': state['guarded'],
            'monitor_pid': state['pids'][0], 'supervisor_pid': state['supervisor_pid']}


def stopped(module, p, argv):
    state_path, output = paths(p)
    state = read_state(state_path)
    running = bool(state) and dm.alive(state.get('supervisor_pid'), state.get('supervisor_start'))
    if module.check_mode:
        return {'changed': running, 'argv': argv, 'output': None, 'events': None, 'stopped_by': None, 'exit_status': None}
    if running:
        dm.stop(state)
        state = read_state(state_path) or state
    text = None
    if os.path.exists(output):
        with open(output, 'rb') as f:
            text = f.read().decode('utf-8', 'replace')
    unlink(state_path)
    unlink(output)
    return {'changed': running, 'argv': argv, 'output': text, 'events': count_events(text) if text else 0,
            'stopped_by': (state or {}).get('stopped_by') if state else None,
            'exit_status': ((state or {}).get('rcs') or [None])[0]}


def run(module):
    p = module.params
    if not NAME_RE.match(p['name']):
        module.fail_json(msg='name: must be 1-100 letters, digits, ".", "_" or "-", starting with a letter '
                             'or digit, got %r' % p['name'])
    if p['timeout_s'] < 1:
        module.fail_json(msg='timeout_s: must be >= 1, got %d' % p['timeout_s'])
    ip = module.get_bin_path('ip', required=True, opt_dirs=['/usr/sbin', '/sbin'])
    argv = [ip, 'mptcp', 'monitor']
    if not hasattr(os, 'pidfd_open'):
        module.fail_json(msg='debug_monitor needs Python 3.9+ (os.pidfd_open) on the host')
    if p['state'] == 'started':
        return started(module, p, argv)
    return stopped(module, p, argv)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='str', required=True),
            state=dict(type='str', default='started', choices=['started', 'stopped']),
            timeout_s=dict(type='int', default=3600),
            state_dir=dict(type='path', default='/run/mptcp-lab'),
            guard=dict(type='dict'),
        ),
        supports_check_mode=True,
    )
    module.exit_json(**run(module))


if __name__ == '__main__':
    main()
