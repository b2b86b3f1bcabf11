#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: packet_capture
short_description: Header-only packet captures on a host's path interfaces, across tasks
version_added: 0.2.0
description:
  - V(started) starts one C(tcpdump -s 150) per interface of O(interfaces), TCP only, each
    writing C(<directory>/<stem>.<role>.<interface>.pcap), and returns once every one listens.
  - V(stopped) stops them (tcpdump flushes its file) and returns, per interface, the file and
    tcpdump's counters (captured, received by filter, dropped by kernel).
  - The tcpdumps run under a detached supervisor and carry a parent-death signal; they end
    when stopped, when the ansible-playbook run that started them ends (Ctrl-C included)
    wherever the host can see that process (the netns lab), and after O(timeout_s) in any case.
  - The perf suite uses it on the sink, around each measurement of a test with C(capture true);
    the generator's side is taken by M(mptcp.lab.perf_measure) itself.
options:
  name:
    description: Names the capture (its state file is C(<state_dir>/<name>-capture.json)).
    type: str
    required: true
  state:
    description: V(started) or V(stopped).
    type: str
    choices: [started, stopped]
    default: started
  interfaces:
    description: The interfaces to capture on (V(started)).
    type: list
    elements: str
    default: []
  directory:
    description: Where the pcap files go (created if missing) (V(started)).
    type: path
  stem:
    description: The files' name stem (the measurement's raw name) (V(started)).
    type: str
  role:
    description: The host's role in the file names.
    type: str
    default: sink
  snaplen:
    description: Bytes kept of each packet (C(tcpdump -s)); 150 hold every header and MPTCP option.
    type: int
    default: 150
  timeout_s:
    description: The captures stop themselves after this many seconds.
    type: int
    default: 3600
  state_dir:
    description: Where the capture's state is kept while it runs.
    type: path
    default: /run/mptcp-lab
  guard:
    description: The process the captures must not outlive, as the action plugin fills it in; not to be set by hand.
    type: dict
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
  - module: mptcp.lab.perf_measure
'''

EXAMPLES = r'''
- name: Capture on the sink's path interfaces
  mptcp.lab.packet_capture:
    name: "{{ inventory_hostname }}"
    interfaces: "{{ lab_path_links | map(attribute='dev') | list }}"
    directory: /tmp/captures
    stem: 001-mptcp-rep1

- name: Stop capturing
  mptcp.lab.packet_capture:
    name: "{{ inventory_hostname }}"
    state: stopped
  register: capture
'''

RETURN = r'''
files:
  description:
    - Per interface (V(stopped)) - C(dev), C(file), C(path), C(bytes), C(captured), C(received), C(dropped),
      C(cpu_s) (tcpdump's own CPU seconds, the capture's direct cost) and C(error).
  returned: when stopped
  type: list
  elements: dict
stopped_by:
  description: Why the captures ended - C(stopped), or null when none ran.
  returned: when stopped
  type: str
'''

import json
import os
import re

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mptcp.lab.plugins.module_utils.process import guarded_process as gp
from ansible_collections.mptcp.lab.plugins.module_utils.process import packet_capture as pc

NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$')
IFNAME_RE = re.compile(r'^[^/\s:]{1,15}$')


def state_path(p):
    return os.path.join(p['state_dir'], '%s-capture.json' % p['name'])


def read_state(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (IOError, OSError, ValueError):
        return None


def started(module, p):
    for field in ('directory', 'stem'):
        if not p[field]:
            module.fail_json(msg='%s: required with state started' % field)
    if not p['interfaces']:
        module.fail_json(msg='interfaces: must list at least one interface')
    for dev in p['interfaces']:
        if not IFNAME_RE.match(dev):
            module.fail_json(msg='interfaces: %r is not an interface name' % dev)
    if not 20 <= p['snaplen'] <= 65535:
        module.fail_json(msg='snaplen: must be 20..65535, got %d' % p['snaplen'])
    tcpdump = module.get_bin_path('tcpdump', required=True, opt_dirs=['/usr/sbin', '/sbin'])
    path = state_path(p)
    previous = read_state(path)
    running = bool(previous) and gp.alive(previous.get('supervisor_pid'), previous.get('supervisor_start'))
    children = []
    for dev in p['interfaces']:
        pcap = os.path.join(p['directory'], pc.file_name(p['stem'], p['role'], dev))
        children.append({'argv': pc.tcpdump_argv(tcpdump, dev, pcap, p['snaplen']), 'output': pcap + '.log',
                         'ready': 'listening', 'dev': dev, 'pcap': pcap})
    if module.check_mode:
        return {'changed': True, 'replaced': running, 'files': [c['pcap'] for c in children]}
    if running:
        gp.stop(previous)
    for directory in (p['directory'], p['state_dir']):
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o755)
    state = gp.start(children, path, p['timeout_s'], p['guard'] or {})
    if state.get('error'):
        module.fail_json(msg='tcpdump did not start: %s' % state['error'])
    if not state.get('ready'):
        gp.stop(state)
        logs = []
        for child in children:
            try:
                with open(child['output']) as f:
                    logs.append('%s: %s' % (child['dev'], f.read().strip()[-300:]))
            except (IOError, OSError):
                pass
        module.fail_json(msg='tcpdump did not start listening within 5 s: %s' % '; '.join(logs))
    return {'changed': True, 'replaced': running, 'guarded': state['guarded'], 'files': [c['pcap'] for c in children]}


def stopped(module, p):
    path = state_path(p)
    state = read_state(path)
    running = bool(state) and gp.alive(state.get('supervisor_pid'), state.get('supervisor_start'))
    if module.check_mode or not state:
        return {'changed': running, 'files': [], 'stopped_by': None}
    if running:
        gp.stop(state)
        state = read_state(path) or state
    files = []
    cpu = state.get('cpu_s') or []
    for index, child in enumerate(state.get('children') or []):
        log = ''
        try:
            with open(child['output']) as f:
                log = f.read()
            os.unlink(child['output'])
        except (IOError, OSError):
            pass
        record = {'dev': child['dev'], 'file': os.path.basename(child['pcap']), 'path': child['pcap'],
                  'bytes': os.path.getsize(child['pcap']) if os.path.exists(child['pcap']) else None,
                  'cpu_s': cpu[index] if index < len(cpu) else None, 'error': None}
        record.update(pc.parse_stats(log))
        if record['captured'] is None:
            record['error'] = 'tcpdump: %s' % (log.strip()[-300:] or 'no counters')
        files.append(record)
    try:
        os.unlink(path)
    except OSError:
        pass
    return {'changed': running, 'files': files, 'stopped_by': state.get('stopped_by')}


def run(module):
    p = module.params
    if not NAME_RE.match(p['name']):
        module.fail_json(msg='name: must be 1-100 letters, digits, ".", "_" or "-", starting with a letter '
                             'or digit, got %r' % p['name'])
    if p['timeout_s'] < 1:
        module.fail_json(msg='timeout_s: must be >= 1, got %d' % p['timeout_s'])
    if not hasattr(os, 'pidfd_open'):
        module.fail_json(msg='packet_capture needs Python 3.9+ (os.pidfd_open) on the host')
    return started(module, p) if p['state'] == 'started' else stopped(module, p)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='str', required=True),
            state=dict(type='str', default='started', choices=['started', 'stopped']),
            interfaces=dict(type='list', elements='str', default=[]),
            directory=dict(type='path'),
            stem=dict(type='str'),
            role=dict(type='str', default='sink'),
            snaplen=dict(type='int', default=150),
            timeout_s=dict(type='int', default=3600),
            state_dir=dict(type='path', default='/run/mptcp-lab'),
            guard=dict(type='dict'),
        ),
        supports_check_mode=True,
    )
    module.exit_json(**run(module))


if __name__ == '__main__':
    main()
