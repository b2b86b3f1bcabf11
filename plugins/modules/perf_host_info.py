#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: perf_host_info
short_description: Host facts that a perf run must record besides MPTCP's
version_added: 0.1.0
description:
  - Returns what decides TCP and MPTCP throughput on a host besides the MPTCP
    configuration (which M(mptcp.lab.mptcp_info) gives) - the offloads of the
    path interfaces (C(ethtool -k)), TCP and socket buffer sysctls of the host's
    network namespace, the CPU model and count, the kernel release and command line.
  - With O(qdiscs), also the queueing disciplines (kind, handle, parent, decoded
    options) of O(devs), or of every shaped interface (tbf, htb or netem) when
    O(devs) is empty - on a shaper, what shapes the paths; then the offloads are
    those of the shaped interfaces too.
  - Read only; meant to run once per perf run, on every generator, sink and shaper.
options:
  devs:
    description:
      - Interfaces whose offloads to record (the host's path interfaces).
      - Empty with O(qdiscs), every shaped interface.
    type: list
    elements: str
    default: []
  qdiscs:
    description: Also record qdiscs (through netlink, pyroute2).
    type: bool
    default: false
  sysctls:
    description: C(/proc/sys) keys to record, dotted (C(net.ipv4.tcp_congestion_control)).
    type: list
    elements: str
    default:
      - net.ipv4.tcp_congestion_control
      - net.core.default_qdisc
      - net.ipv4.tcp_rmem
      - net.ipv4.tcp_wmem
      - net.core.rmem_max
      - net.core.wmem_max
      - net.ipv4.tcp_timestamps
      - net.ipv4.tcp_sack
      - net.ipv4.tcp_ecn
      - net.ipv4.tcp_no_metrics_save
      - net.ipv4.tcp_mtu_probing
author:
  - mptcp.lab developers (@multipath-tcp)
extends_documentation_fragment:
  - mptcp.lab.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
'''

EXAMPLES = r'''
- name: Record offloads and TCP settings of the path interfaces
  mptcp.lab.perf_host_info:
    devs: "{{ lab_path_links | map(attribute='dev') | list }}"
  register: host_info
'''

RETURN = r'''
offloads:
  description: Per interface, every C(ethtool -k) feature and its state (on/off; fixed ones marked).
  returned: always
  type: dict
  sample: {mlab-p1: {tcp-segmentation-offload: "on", generic-receive-offload: "on"}}
sysctls:
  description: The requested sysctls and their values (null when absent).
  returned: always
  type: dict
  sample: {net.ipv4.tcp_congestion_control: bbr}
qdiscs:
  description:
    - With O(qdiscs), per interface its qdiscs - C(kind), C(handle) and C(parent) (tc's
      C(major:minor) notation, C(root)) and the decoded C(options) (tbf C(rate) in bytes/s,
      C(buffer) in psched ticks, C(limit) in bytes).
  returned: when qdiscs is true
  type: dict
  sample: {mlab-1s1: [{kind: tbf, handle: "1:", parent: root, options: {rate: 6250000, buffer: 1000, limit: 625000}}]}
cpu:
  description: CPU model and how many CPUs are online.
  returned: always
  type: dict
  sample: {model: "AMD EPYC", count: 2}
cmdline:
  description: The kernel command line.
  returned: always
  type: str
kernel:
  description: The running kernel's release (C(uname -r)).
  returned: always
  type: str
  sample: 6.18.0-1-amd64
'''

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mptcp.lab.plugins.module_utils.lab import lab_netlink as nl

SHAPING_KINDS = ('tbf', 'htb', 'netem')
TC_H_ROOT = 0xFFFFFFFF


def tc_handle(value):
    """tc's notation of a 32-bit handle: 'root', '1:' or '1:1'."""
    if value == TC_H_ROOT:
        return 'root'
    major, minor = value >> 16, value & 0xFFFF
    return '%x:%s' % (major, '%x' % minor if minor else '')


def read_qdiscs(devs):
    """{dev: [qdisc, ...]} for devs, or for every shaped interface when devs is empty."""
    if not nl.HAS_PYROUTE2:
        return {'error': 'pyroute2 is not installed'}
    out = {}
    with nl.open_netns() as ipr:
        links = nl.links(ipr)
        for dev in devs or sorted(links):
            if dev not in links:
                out[dev] = {'error': 'no such interface'}
                continue
            found = [{'kind': q['kind'], 'handle': tc_handle(q['handle']), 'parent': tc_handle(q['parent']),
                      'options': q['options']} for q in nl.qdiscs(ipr, links[dev]['index'])]
            if devs or any(q['kind'] in SHAPING_KINDS for q in found):
                out[dev] = found
    return out


def parse_ethtool_features(text):
    """``ethtool -k`` output as {feature: 'on' | 'off' | 'on [fixed]' ...}."""
    out = {}
    for line in text.splitlines():
        if ':' not in line or line.startswith('Features for'):
            continue
        name, _sep, value = line.partition(':')
        value = value.strip()
        if name.strip() and value:
            out[name.strip()] = value
    return out


def parse_cpuinfo(text):
    model, count = None, 0
    for line in text.splitlines():
        key, _sep, value = line.partition(':')
        key = key.strip()
        if key == 'processor':
            count += 1
        elif key == 'model name' and model is None:
            model = value.strip()
    return {'model': model, 'count': count}


def read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except (IOError, OSError):
        return None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            devs=dict(type='list', elements='str', default=[]),
            qdiscs=dict(type='bool', default=False),
            sysctls=dict(type='list', elements='str', default=[
                'net.ipv4.tcp_congestion_control', 'net.core.default_qdisc', 'net.ipv4.tcp_rmem',
                'net.ipv4.tcp_wmem', 'net.core.rmem_max', 'net.core.wmem_max',
                'net.ipv4.tcp_timestamps', 'net.ipv4.tcp_sack', 'net.ipv4.tcp_ecn',
                'net.ipv4.tcp_no_metrics_save', 'net.ipv4.tcp_mtu_probing']),
        ),
        supports_check_mode=True,
    )
    p = module.params
    sysctls = {}
    for key in p['sysctls']:
        if '..' in key or key.startswith('.'):
            module.fail_json(msg='sysctls: %r is not a sysctl key' % key)
        sysctls[key] = read(os.path.join('/proc/sys', *key.split('.')))
    qdiscs = None
    if p['qdiscs']:
        try:
            qdiscs = read_qdiscs(p['devs'])
        except (OSError, nl.NetlinkError, nl.LabNetlinkError) as e:
            qdiscs = {'error': str(e)}
    # a shaper (no devs): the offloads of the interfaces that shape
    offload_devs = p['devs'] or sorted(dev for dev, found in (qdiscs or {}).items() if isinstance(found, list))
    offloads = {}
    if offload_devs:
        ethtool = module.get_bin_path('ethtool')
        for dev in offload_devs:
            if not ethtool:
                offloads[dev] = {'error': 'ethtool not installed'}
                continue
            rc, out, err = module.run_command([ethtool, '-k', dev], environ_update={'LC_ALL': 'C'})
            offloads[dev] = parse_ethtool_features(out) if rc == 0 else {'error': err.strip() or out.strip()}
    result = dict(changed=False, offloads=offloads, sysctls=sysctls, kernel=os.uname()[2],
                  cpu=parse_cpuinfo(read('/proc/cpuinfo') or ''), cmdline=read('/proc/cmdline'))
    if qdiscs is not None:
        result['qdiscs'] = qdiscs
    module.exit_json(**result)


if __name__ == '__main__':
    main()
