#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: lab_host_config
short_description: Path addresses, policy routing and MPTCP of lab hosts, in one call
version_added: 0.2.0
description:
  - Configures a generator or a sink of the MPTCP lab, or many at once, in one module call. It sets the
    addresses, policy routing and sysctls of its paths, exactly as M(mptcp.lab.path_routing) does, then
    its MPTCP limits and endpoints, exactly as M(mptcp.lab.mptcp_limits) and
    M(mptcp.lab.mptcp_endpoints) do. The same code decides what every option means in the four modules
    (module_utils C(lab_routing) and C(mptcp_config)); this one saves the tasks, the processes and the
    netlink sessions.
  - Each item of O(hosts) is one host. Without O(hosts[].netns) it is the machine (or the network
    namespace) the module runs in - a real host over SSH, a VM, a namespace reached through the
    C(mptcp.lab.netns) connection). With O(hosts[].netns) it is that network namespace of the machine the
    module runs on, entered with C(setns) for the time of its configuration; so the controller configures
    every generator and sink of the virtual lab in one call.
  - Every host is read and planned before anything changes. Bad input, a missing interface, a route that
    is not the lab's, or an endpoint the kernel would refuse, on any host, fails the call naming the host and
    the field, with nothing changed on any host.
  - Ownership is the path_routing module's (by protocol number and place), and the endpoint list is
    applied with the mptcp_endpoints module's semantics (O(hosts[].mptcp_endpoints_state)).
  - C(net.mptcp.*) settings are not this module's; M(mptcp.lab.mptcp_settings) sets them.
options:
  hosts:
    description: One item per host.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The host's name (its inventory hostname), used in results and messages.
        type: str
        required: true
      netns:
        description:
          - A network namespace of the machine the module runs on (C(/run/netns/<netns>)) to configure
            instead of the module's own. Omit on a host reached by its own connection.
        type: str
      links:
        description: The host's paths, as O(mptcp.lab.path_routing#module:links) (the C(lab_path_links) format).
        type: list
        elements: dict
        required: true
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
            description: Prefix length of O(hosts[].links[].address).
            type: int
            required: true
          peer_address:
            description: Address of the other end host on this path (omit on a router).
            type: str
          gateway:
            description: Next hop towards O(hosts[].links[].peer_address); omit when the peer is on the same link.
            type: str
          table:
            description: Policy routing table of the path; omit for no policy routing (a router).
            type: int
      protocol:
        description: As O(mptcp.lab.path_routing#module:protocol).
        type: int
        default: 211
      rule_priority:
        description: As O(mptcp.lab.path_routing#module:rule_priority).
        type: int
        default: 10000
      rp_filter:
        description: As O(mptcp.lab.path_routing#module:rp_filter).
        type: int
        choices: [0, 1, 2]
        default: 2
      forwarding:
        description: As O(mptcp.lab.path_routing#module:forwarding).
        type: bool
      mptcp_limits:
        description:
          - The path manager limits, as M(mptcp.lab.mptcp_limits) takes them. Omitted or empty, they are
            left alone.
        type: dict
        suboptions:
          subflows:
            description: Additional subflows per connection, 0 to 8.
            type: int
          add_addr_accepted:
            description: Announced addresses accepted per connection, 0 to 8.
            type: int
      mptcp_endpoints:
        description:
          - The endpoint list, as O(mptcp.lab.mptcp_endpoints#module:config). Omitted or null, the endpoints
            are left alone.
        type: list
        elements: dict
        suboptions:
          address:
            description: IPv4 or IPv6 address of the endpoint.
            type: str
          id:
            description: Endpoint id, 1-255.
            type: int
          dev:
            description: Interface the endpoint is bound to.
            type: str
          port:
            description: Port to announce (needs the signal flag).
            type: int
          flags:
            description: signal, subflow, backup, fullmesh, laminar.
            type: list
            elements: str
      mptcp_endpoints_state:
        description: As O(mptcp.lab.mptcp_endpoints#module:state) (without V(gathered)).
        type: str
        choices: [merged, replaced, overridden, deleted]
        default: overridden
      mptcp_endpoints_implicit:
        description: As O(mptcp.lab.mptcp_endpoints#module:implicit).
        type: str
        choices: [keep, remove]
        default: keep
requirements:
  - pyroute2
  - root, to enter another network namespace (O(hosts[].netns))
author:
  - mptcp.lab developers (@multipath-tcp)
extends_documentation_fragment:
  - mptcp.lab.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
seealso:
  - module: mptcp.lab.path_routing
  - module: mptcp.lab.mptcp_limits
  - module: mptcp.lab.mptcp_endpoints
'''

EXAMPLES = r'''
- name: A lab host, over its own connection
  mptcp.lab.lab_host_config:
    hosts:
      - name: "{{ inventory_hostname }}"
        links: "{{ lab_path_links }}"
        mptcp_limits: {subflows: 1, add_addr_accepted: 1}
        mptcp_endpoints: "{{ lab_path_links | mptcp.lab.lab_endpoints(['signal']) }}"

- name: Two namespaces of this machine in one call
  mptcp.lab.lab_host_config:
    hosts:
      - name: mlab-gen1
        netns: mlab-gen1
        links:
          - {path: 1, dev: mlab-p1, address: 10.200.0.2, prefix: 24, peer_address: 10.200.1.2,
             gateway: 10.200.0.1, table: 101}
        mptcp_limits: {subflows: 0, add_addr_accepted: 0}
        mptcp_endpoints: []
      - name: mlab-sink1
        netns: mlab-sink1
        links:
          - {path: 1, dev: mlab-p1, address: 10.200.1.2, prefix: 24, peer_address: 10.200.0.2,
             gateway: 10.200.1.1, table: 101}
        mptcp_endpoints:
          - {address: 10.200.1.2, id: 1, dev: mlab-p1, flags: [signal]}
'''

RETURN = r'''
hosts:
  description: One item per host of O(hosts), in order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The host's name.
      type: str
    netns:
      description: The namespace configured, or null for the module's own.
      type: str
    changed:
      description: Whether this host changed (or would change, in check mode).
      type: bool
    addresses:
      description: Owned addresses after the run, as C(dev address/prefix).
      type: list
      elements: str
    routes:
      description: Owned routes after the run, as C(table dst via gateway dev src).
      type: list
      elements: str
    rules:
      description: Owned rules after the run, as C(priority from src lookup table).
      type: list
      elements: str
    sysctls:
      description: Sysctl values after the run.
      type: dict
    limits:
      description: The MPTCP limits C(before) and C(after) (predicted in check mode), when managed.
      type: dict
    endpoints:
      description:
        - The MPTCP endpoints C(before) and C(after) (predicted in check mode), and the C(actions), when
          managed; as M(mptcp.lab.mptcp_endpoints) returns them.
      type: dict
  sample:
    - name: mlab-sink1
      netns: mlab-sink1
      changed: false
      addresses: [mlab-p1 10.200.1.2/24]
      routes: [101 10.200.0.2/32 via 10.200.1.1 dev mlab-p1 src 10.200.1.2]
      rules: [10000 from 10.200.1.2/32 lookup 101]
      sysctls: {net.ipv4.conf.mlab-p1.rp_filter: "2"}
      limits: {before: {subflows: 1, add_addr_accepted: 1}, after: {subflows: 1, add_addr_accepted: 1}}
      endpoints: {before: [], after: [], actions: []}
changed_hosts:
  description: The names of the hosts that changed (or would change, in check mode).
  returned: always
  type: list
  elements: str
diff:
  description: Per changed host, its routing, limits and endpoints before and after, when run with C(--diff).
  returned: when diff mode is on
  type: dict
'''

import contextlib

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.mptcp.lab.plugins.module_utils.lab import lab_netlink as nl
from ansible_collections.mptcp.lab.plugins.module_utils.lab import lab_routing
from ansible_collections.mptcp.lab.plugins.module_utils.mptcp import mptcp_config
from ansible_collections.mptcp.lab.plugins.module_utils.mptcp import mptcp_netlink as mptcp_nl
from ansible_collections.mptcp.lab.plugins.module_utils.lab import route_protocols


class HostError(Exception):
    """A host cannot be configured: the message names the host and the field."""


def _label(index, item):
    return 'hosts[%d] (%s)' % (index, item['name'])


def check_netns(name):
    """None when ``name`` is a live network namespace of this machine, else why not."""
    if not name or '/' in name or name in ('.', '..') or '\0' in name:
        return 'netns: %r is not a namespace name (a file name under %s)' % (name, nl.NETNS_RUN_DIR)
    try:
        if nl.netns_is_live(name):
            return None
    except OSError as exc:
        return 'netns: %s: %s' % (nl.netns_path(name), exc.strerror)
    return 'netns: no network namespace %s on this machine (%s)' % (name, nl.netns_path(name))


class HostConfig(object):
    """One host: read and planned in plan(), changed in apply(); sockets stay open in between."""

    def __init__(self, index, item, known_protocols, laminar_ok):
        self.label = _label(index, item)
        self.item = item
        self.known_protocols = known_protocols
        self.laminar_ok = laminar_ok
        self.sockets = contextlib.ExitStack()
        self.ipr = self.pm = None
        self.routing = None
        self.limits = None          # (before, after, changed) when managed
        self.endpoints = None       # dict(entries, before, actions, predicted) when managed

    @property
    def manages_limits(self):
        return bool(self.item.get('mptcp_limits') and
                    any(v is not None for v in self.item['mptcp_limits'].values()))

    @property
    def manages_endpoints(self):
        return self.item.get('mptcp_endpoints') is not None

    @property
    def changed(self):
        return bool(self.routing.changed or (self.limits and self.limits[2]) or
                    (self.endpoints and self.endpoints['actions']))

    def fail(self, message):
        raise HostError('%s: %s' % (self.label, message))

    def plan(self):
        """Read the host and plan every part (call within in_netns)."""
        item = self.item
        try:
            self.ipr = self.sockets.enter_context(nl.open_netns())
            self.routing = lab_routing.plan(self.ipr, item['links'], item['protocol'], item['rule_priority'],
                                            item['rp_filter'], item['forwarding'],
                                            known_protocols=self.known_protocols)
        except lab_routing.RoutingError as exc:
            self.fail(str(exc))
        except (nl.LabNetlinkError, nl.NetlinkError) as exc:
            self.fail('reading its routing: %s' % exc)
        if not (self.manages_limits or self.manages_endpoints):
            return
        try:
            self.pm = self.sockets.enter_context(mptcp_nl.MptcpNetlink())
        except (mptcp_nl.MptcpUnsupported, mptcp_nl.MptcpError) as exc:
            self.fail(str(exc))
        try:
            if self.manages_limits:
                wanted = mptcp_config.validate_limits(item['mptcp_limits'])
                before = self.pm.limits()
                after, changed = mptcp_config.compute_limits(before, wanted)
                self.limits = (before, after, changed)
        except mptcp_config.ValidationError as exc:
            self.fail('mptcp_limits.%s' % exc)
        except mptcp_nl.MptcpError as exc:
            self.fail(str(exc))
        if self.manages_endpoints:
            self._plan_endpoints()

    def _plan_endpoints(self):
        item = self.item
        state = item['mptcp_endpoints_state']
        try:
            entries = mptcp_config.normalize_config(item['mptcp_endpoints'], state, laminar_ok=self.laminar_ok,
                                                    dev_exists=lambda dev: mptcp_nl.ifindex(dev) is not None)
            before = [mptcp_config.as_config(e) for e in self.pm.endpoints()]
            actions, predicted = mptcp_config.compute(before, entries, state, implicit=item['mptcp_endpoints_implicit'])
            mptcp_config.check_ports(actions, entries, [a['address'] for a in self.routing.addresses])
        except mptcp_config.ValidationError as exc:
            self.fail('mptcp_endpoints: %s' % exc)
        except mptcp_nl.MptcpError as exc:
            self.fail(str(exc))
        self.endpoints = {'state': state, 'entries': entries, 'before': mptcp_config.sort_endpoints(before),
                          'actions': actions, 'predicted': predicted}

    def apply(self):
        """Make the planned changes (call within in_netns); returns the endpoints after, if managed."""
        try:
            if self.routing.changed:
                self.routing.apply()
            if self.limits and self.limits[2]:
                after = self.limits[1]
                self.pm.set_limits(after['subflows'], after['add_addr_accepted'])
                self.limits = (self.limits[0], self.pm.limits(), True)
            if self.endpoints and self.endpoints['actions']:
                ep = self.endpoints
                ep['predicted'] = mptcp_config.apply_plan(self.pm, ep['state'], ep['entries'], ep['before'],
                                                          ep['actions'])
        except mptcp_config.ApplyError as exc:
            self.fail('mptcp_endpoints: %s' % exc)
        except (nl.LabNetlinkError, nl.NetlinkError, mptcp_nl.MptcpError) as exc:
            self.fail(str(exc))

    def result(self, diff):
        routing = self.routing.result(diff)
        out = {'name': self.item['name'], 'netns': self.item.get('netns'), 'changed': self.changed,
               'addresses': routing['addresses'], 'routes': routing['routes'], 'rules': routing['rules'],
               'sysctls': routing['sysctls']}
        before, after = {}, {}
        if diff:
            before.update(routing['diff']['before'])
            after.update(routing['diff']['after'])
        if self.limits:
            out['limits'] = {'before': self.limits[0], 'after': self.limits[1]}
            before['limits'], after['limits'] = self.limits[0], self.limits[1]
        if self.endpoints:
            out['endpoints'] = {'before': self.endpoints['before'], 'after': self.endpoints['predicted'],
                                'actions': self.endpoints['actions']}
            before['endpoints'], after['endpoints'] = self.endpoints['before'], self.endpoints['predicted']
        return out, before, after

    def close(self):
        self.sockets.close()
        self.pm = self.ipr = None


def run(params, check_mode=False, diff=False):
    """Plan every host, then (outside check mode) apply; returns the result. Raises HostError."""
    items = params['hosts']
    errors = []
    seen = {}
    for index, item in enumerate(items):
        netns = item.get('netns')
        if netns is not None:
            error = check_netns(netns)
            if error:
                errors.append('%s: %s' % (_label(index, item), error))
            elif netns in seen:
                errors.append('%s: netns: %s is also hosts[%d]\'s' % (_label(index, item), netns, seen[netns]))
            seen.setdefault(netns, index)
    if errors:
        raise HostError('; '.join(errors))
    known = route_protocols.read_rt_protos()
    laminar_ok = mptcp_nl.kernel_supports_laminar()
    hosts = [HostConfig(index, item, known, laminar_ok) for index, item in enumerate(items)]
    try:
        for host in hosts:
            try:
                with nl.in_netns(host.item.get('netns')):
                    host.plan()
            except HostError as exc:
                errors.append(str(exc))
            except nl.LabNetlinkError as exc:
                errors.append('%s: %s' % (host.label, exc))
        if errors:
            raise HostError('%s; nothing was changed' % '; '.join(errors))
        applied = []
        for host in hosts if not check_mode else []:
            if not host.changed:
                continue
            try:
                with nl.in_netns(host.item.get('netns')):
                    host.apply()
            except (HostError, nl.LabNetlinkError) as exc:
                text = str(exc) if isinstance(exc, HostError) else '%s: %s' % (host.label, exc)
                raise HostError('%s; %s' % (text, 'changed before it: %s' % ', '.join(applied) if applied
                                                  else 'no host was changed before it'))
            applied.append(host.item['name'])
        results, before, after = [], {}, {}
        for host in hosts:
            out, host_before, host_after = host.result(diff)
            results.append(out)
            if out['changed']:
                before[out['name']], after[out['name']] = host_before, host_after
    finally:
        for host in hosts:
            host.close()
    result = {'changed': any(r['changed'] for r in results), 'hosts': results,
              'changed_hosts': [r['name'] for r in results if r['changed']]}
    if diff:
        result['diff'] = {'before': before, 'after': after}
    return result


ENDPOINT_SPEC = dict(
    address=dict(type='str'),
    id=dict(type='int'),
    dev=dict(type='str'),
    port=dict(type='int'),
    flags=dict(type='list', elements='str'),
)

LINK_SPEC = dict(
    path=dict(type='int', required=True),
    dev=dict(type='str', required=True),
    address=dict(type='str', required=True),
    prefix=dict(type='int', required=True),
    peer_address=dict(type='str'),
    gateway=dict(type='str'),
    table=dict(type='int'),
)

HOST_SPEC = dict(
    name=dict(type='str', required=True),
    netns=dict(type='str'),
    links=dict(type='list', elements='dict', required=True, options=LINK_SPEC),
    protocol=dict(type='int', default=211),
    rule_priority=dict(type='int', default=10000),
    rp_filter=dict(type='int', choices=[0, 1, 2], default=2),
    forwarding=dict(type='bool'),
    mptcp_limits=dict(type='dict', options=dict(subflows=dict(type='int'), add_addr_accepted=dict(type='int'))),
    mptcp_endpoints=dict(type='list', elements='dict', options=ENDPOINT_SPEC),
    mptcp_endpoints_state=dict(type='str', choices=['merged', 'replaced', 'overridden', 'deleted'],
                               default='overridden'),
    mptcp_endpoints_implicit=dict(type='str', choices=['keep', 'remove'], default='keep'),
)


def main():
    module = AnsibleModule(
        argument_spec=dict(hosts=dict(type='list', elements='dict', required=True, options=HOST_SPEC)),
        supports_check_mode=True,
    )
    if not nl.HAS_PYROUTE2:
        module.fail_json(msg=missing_required_lib('pyroute2'), exception=nl.PYROUTE2_IMPORT_ERROR)
    try:
        result = run(module.params, module.check_mode, module._diff)
    except HostError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
