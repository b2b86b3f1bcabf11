#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: path_routing
short_description: Per-path addresses and policy routing of a multipath host
version_added: 0.1.0
description:
  - Puts one IPv4 address on the interface of each path and makes each source address leave by its
    own path, on a generator or a sink of an MPTCP lab (a network namespace or a real host).
  - For each path with a O(links[].table), a policy rule C(from <address> lookup <table>) and, in that
    table, the path's subnet and a route to O(links[].peer_address) through O(links[].gateway).
  - In the main table, a route to each path's peer address through that path (with the path's
    address as preferred source), so that a connection to the peer's path-i address uses path i
    whatever socket opened it. This is what makes the kernel's MPTCP subflows take disjoint paths.
  - Sets C(rp_filter) on the path interfaces (and lowers C(all) when it is stricter) and, if asked,
    IPv4 forwarding (for a router such as the lab's shaper).
  - Ownership is by protocol number and place. Every address, route and rule it creates carries O(protocol)
    (C(IFA_PROTO), C(RTM_PROTOCOL), C(FRA_PROTOCOL)). It removes only what carries O(protocol) and sits in
    the lab's own places - a rule C(from <address>) at one of the lab's priorities (O(rule_priority) to
    O(rule_priority) + 7) looking up a table other than main, local and default; a route in a table such
    a rule or O(links) names, or in main on a lab device; an address on a lab device (the devices of
    O(links) and of the routes in the lab's tables). Everything else on the host is left alone, also
    when it carries O(protocol).
  - O(protocol) must be a number no one else uses. The numbers of the system (0-4 - unspec, redirect,
    kernel, boot, static) and every number the host's rt_protos files name (/etc/iproute2/rt_protos,
    /usr/share/iproute2/rt_protos, rt_protos.d/*.conf) are refused before anything changes.
  - A route the module would add whose place (table, destination, metric, tos) is held by a route of
    another protocol (an administrator's C(static) route, a routing daemon's) is never replaced; the
    module fails naming the table, the destination and the protocol, before changing anything. An
    address that exists already is used as it is (it keeps its owner). A policy rule never takes
    another one over, since the kernel tells rules of different protocols apart.
options:
  links:
    description:
      - One item per path, in the format of the C(lab_path_links) host variable.
      - With O(state=absent), the links the lab had (their devices and tables widen the lab's places;
        they need not exist any more).
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Path number (1-8); orders the policy rules.
        type: int
        required: true
      dev:
        description: Interface of the path on this host. It must exist.
        type: str
        required: true
      address:
        description: IPv4 address of this host on the path.
        type: str
        required: true
      prefix:
        description: Prefix length of O(links[].address).
        type: int
        required: true
      peer_address:
        description: Address of the other end host on this path (omit on a router).
        type: str
      gateway:
        description: Next hop towards O(links[].peer_address); omit when the peer is on the same link.
        type: str
      table:
        description: Policy routing table of the path; omit for no policy routing (a router).
        type: int
  protocol:
    description:
      - Protocol number that marks the addresses, routes and rules this module owns (5-255, not in the
        host's rt_protos).
    type: int
    default: 211
  rule_priority:
    description:
      - Priority of path 1's policy rule; path i gets O(rule_priority) + i - 1. The 8 priorities from
        it are the lab's (1-32758, so that the range stays below the kernel's main and default rules).
    type: int
    default: 10000
  rp_filter:
    description:
      - Reverse path filter of the path interfaces (0 off, 1 strict, 2 loose). Null leaves it alone.
      - C(net.ipv4.conf.all.rp_filter) is lowered to this value when it is stricter, since the kernel
        applies the maximum of both.
    type: int
    choices: [0, 1, 2]
    default: 2
  forwarding:
    description: Set C(net.ipv4.ip_forward) to this value; null leaves it alone.
    type: bool
  state:
    description:
      - V(present) makes the host match O(links) and removes owned objects not in it.
      - V(absent) removes every address, route and rule of the lab (carrying O(protocol), in the lab's
        places, see above).
    type: str
    choices: [present, absent]
    default: present
requirements:
  - pyroute2
  - Linux 6.1 or newer for address ownership (C(IFA_PROTO)); older kernels never remove stale addresses.
author:
  - mptcp.lab developers (@multipath-tcp)
extends_documentation_fragment:
  - mptcp.lab.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
'''

EXAMPLES = r'''
- name: Addresses and policy routing of every path (generator or sink)
  mptcp.lab.path_routing:
    links: "{{ lab_path_links }}"

- name: A router between paths (the lab's shaper)
  mptcp.lab.path_routing:
    links:
      - {path: 1, dev: mlab-1g1, address: 10.200.0.1, prefix: 24}
      - {path: 1, dev: mlab-1s1, address: 10.200.1.1, prefix: 24}
    forwarding: true
    rp_filter: 0
'''

RETURN = r'''
addresses:
  description: Owned addresses after the run, as C(dev address/prefix).
  returned: always
  type: list
  elements: str
  sample: [mlab-p1 10.200.0.2/24]
routes:
  description: Owned routes after the run, as C(table dst via gateway dev src).
  returned: always
  type: list
  elements: str
  sample: [101 10.200.1.2/32 via 10.200.0.1 dev mlab-p1 src 10.200.0.2]
rules:
  description: Owned rules after the run, as C(priority from src lookup table).
  returned: always
  type: list
  elements: str
  sample: [10000 from 10.200.0.2/32 lookup 101]
sysctls:
  description: Sysctl values after the run.
  returned: always
  type: dict
  sample: {net.ipv4.conf.mlab-p1.rp_filter: "2"}
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.mptcp.lab.plugins.module_utils.lab import lab_netlink as nl
from ansible_collections.mptcp.lab.plugins.module_utils.lab import route_protocols
from ansible_collections.mptcp.lab.plugins.module_utils.lab.lab_routing import RoutingError, plan


def run(module):
    p = module.params
    try:
        with nl.open_netns() as ipr:
            routing = plan(ipr, p['links'], p['protocol'], p['rule_priority'], p['rp_filter'], p['forwarding'],
                           absent=p['state'] == 'absent', known_protocols=route_protocols.read_rt_protos())
            result = routing.result(module._diff)
            if routing.changed and not module.check_mode:
                routing.apply()
    except RoutingError as exc:
        module.fail_json(msg=str(exc))
    except (nl.LabNetlinkError, nl.NetlinkError) as exc:
        module.fail_json(msg=str(exc))
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            links=dict(type='list', elements='dict', default=[], options=dict(
                path=dict(type='int', required=True),
                dev=dict(type='str', required=True),
                address=dict(type='str', required=True),
                prefix=dict(type='int', required=True),
                peer_address=dict(type='str'),
                gateway=dict(type='str'),
                table=dict(type='int'),
            )),
            protocol=dict(type='int', default=211),
            rule_priority=dict(type='int', default=10000),
            rp_filter=dict(type='int', choices=[0, 1, 2], default=2),
            forwarding=dict(type='bool'),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
        ),
        supports_check_mode=True,
    )
    if not nl.HAS_PYROUTE2:
        module.fail_json(msg=missing_required_lib('pyroute2'), exception=nl.PYROUTE2_IMPORT_ERROR)
    module.exit_json(**run(module))


if __name__ == '__main__':
    main()
