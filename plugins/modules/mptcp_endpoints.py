#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) mptcp.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: mptcp_endpoints
short_description: Manage the MPTCP endpoints of the kernel path manager
description:
  - Declares the MPTCP endpoints (C(ip mptcp endpoint)) of the in-kernel path
    manager of one host, as a network resource module.
  - Talks netlink to the kernel (generic netlink family C(mptcp_pm)) through
    pyroute2; it never runs or parses C(ip).
  - Acts on the network namespace the module runs in, so it works the same on
    a network namespace of the virtual lab and on a real host.
  - An endpoint is identified by its O(config[].address) and O(config[].port).
    The same address with two different ports is two endpoints.
  - A change of only C(backup) or C(fullmesh) is made in place (netlink
    C(MPTCP_PM_CMD_SET_FLAGS)), which keeps the endpoint id and the live
    subflows that use it.
  - Any other change of an existing endpoint (the flags C(signal), C(subflow)
    or C(laminar), O(config[].dev), or an explicit O(config[].id) different
    from the current one) cannot be made in place by the kernel, so the
    endpoint is deleted and added again with the same id (unless a new id is
    given). This is reported as a C(replace) action; subflows using that
    endpoint are closed by the kernel.
  - Everything the kernel would reject is checked before anything is changed,
    and the error names the field and the rule. If the kernel still refuses a
    request, the changes already made by this call are rolled back and the
    kernel's own error text is reported.
  - Endpoints the kernel created itself (flag C(implicit)) are reported like
    the others in C(before), C(after) and C(gathered). See O(implicit) for
    what V(overridden) and V(deleted) do with them; listing one in O(config)
    turns it into an ordinary endpoint with the same id (a C(replace)),
    whatever O(implicit) is.
version_added: 0.1.0
author:
  - mptcp.lab developers (@multipath-tcp)
requirements:
  - pyroute2 on the managed host
  - Linux with MPTCP (5.6 or later); the C(laminar) flag needs 6.18 or later
options:
  config:
    description:
      - The endpoints.
      - With O(state=deleted) and no O(config), every endpoint is removed
        (except implicit ones, see O(implicit)).
    type: list
    elements: dict
    suboptions:
      address:
        description:
          - IPv4 or IPv6 address of the endpoint.
          - Required, except with O(state=deleted) where an O(config[].id)
            alone selects an endpoint.
        type: str
      id:
        description:
          - Endpoint id, 1 to 255, unique on the host.
          - When omitted, a new endpoint gets an id from the kernel and an
            existing endpoint keeps the id it has. Ids are never renumbered.
          - When given and different from the current id of the endpoint, the
            endpoint is re-created with the new id (a C(replace) action).
        type: int
      dev:
        description:
          - Interface the endpoint is bound to. It must exist in the host's
            network namespace.
          - With O(state=merged), omitting it keeps the current interface;
            with O(state=replaced) or O(state=overridden), omitting it means
            no interface.
        type: str
      port:
        description:
          - TCP port to announce with the address (1 to 65535). Part of the
            endpoint's identity.
          - Needs the C(signal) flag, excludes C(subflow), and needs the
            address assigned to a local interface, because the kernel opens
            a listening socket on it.
        type: int
      flags:
        description:
          - Endpoint flags, a subset of C(signal), C(subflow), C(backup),
            C(fullmesh) and C(laminar) (Linux 6.18+).
          - C(signal) and C(fullmesh) are mutually exclusive. C(implicit) is
            set by the kernel only and cannot be requested.
          - With O(state=merged), omitting it keeps the current flags of an
            existing endpoint (and means no flags for a new one). A given
            list is the endpoint's complete set of flags.
        type: list
        elements: str
  state:
    description:
      - V(merged) adds the listed endpoints and updates the listed attributes
        of existing ones; other endpoints are untouched.
      - V(replaced) makes each listed endpoint exactly as given (omitted
        attributes take their defaults); other endpoints are untouched.
      - V(overridden) makes the endpoints exactly O(config); every other
        endpoint is removed (implicit ones only with O(implicit=remove)).
      - V(deleted) removes the listed endpoints, matched by address (and port
        and id when given; or by id alone; other attributes are ignored, so the
        output of V(gathered) can be fed back), or every endpoint when O(config) is empty
        (a flush, after which the kernel numbers new endpoints from 1 again;
        when implicit endpoints are kept, the others are deleted one by one
        instead and the numbering goes on).
      - V(gathered) returns the current endpoints in O(config) format, and
        changes nothing.
    type: str
    choices: [merged, replaced, overridden, deleted, gathered]
    default: merged
  implicit:
    description:
      - What V(overridden), and V(deleted) without O(config), do with the
        implicit endpoints that O(config) does not list.
      - The in-kernel path manager creates an implicit endpoint itself when a
        subflow uses a local address that has no endpoint (typically on a
        client that follows the peer's announcements). That is runtime state
        of past connections, not configuration, and it comes back with the
        next connection. Removing it would make every run after MPTCP
        traffic report a change, so by default it is left alone.
      - V(keep) leaves unlisted implicit endpoints in place. They still count
        toward the kernel's cap of 8 endpoints and keep their ids, and the
        validation counts them.
      - V(remove) removes them like any other unlisted endpoint.
      - An implicit endpoint that O(config) lists is always handled as
        listed (made ordinary, or deleted with O(state=deleted)). Other
        states never remove unlisted endpoints, so this option does not
        change them.
    type: str
    choices: [keep, remove]
    default: keep
extends_documentation_fragment:
  - mptcp.lab.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
notes:
  - In check mode, C(after) is the predicted state; the id of an endpoint the
    kernel would number itself is predicted as V(null).
  - The kernel allows at most 8 endpoints per network namespace, implicit
    ones included.
seealso:
  - module: mptcp.lab.mptcp_limits
  - module: mptcp.lab.mptcp_settings
  - module: mptcp.lab.mptcp_info
  - name: ip-mptcp(8)
    description: The iproute2 command this module replaces.
    link: https://man7.org/linux/man-pages/man8/ip-mptcp.8.html
'''

EXAMPLES = r'''
- name: Announce the second path address, let the client use both paths
  mptcp.lab.mptcp_endpoints:
    config:
      - address: 10.0.2.2
        dev: eth1
        flags: [signal]
      - address: 2001:db8:2::2
        dev: eth1
        flags: [signal]

- name: Mark a path as backup (in place, live subflows stay up)
  mptcp.lab.mptcp_endpoints:
    config:
      - address: 10.0.2.1
        flags: [subflow, backup]

- name: Exactly these endpoints, nothing else
  mptcp.lab.mptcp_endpoints:
    state: overridden
    config:
      - address: 10.0.1.1
        id: 1
        dev: eth0
        flags: [subflow]
      - address: 10.0.2.1
        id: 2
        dev: eth1
        flags: [subflow, fullmesh]

- name: Announce a second port on the main address
  mptcp.lab.mptcp_endpoints:
    config:
      - address: 10.0.1.2
        port: 10100
        flags: [signal]

- name: Remove one endpoint
  mptcp.lab.mptcp_endpoints:
    state: deleted
    config:
      - address: 10.0.2.1

- name: Exactly these endpoints, and none of the kernel's implicit ones either
  mptcp.lab.mptcp_endpoints:
    state: overridden
    implicit: remove
    config:
      - address: 10.0.1.1
        flags: [subflow]

- name: Remove all endpoints but the implicit ones (runtime state of the path manager)
  mptcp.lab.mptcp_endpoints:
    state: deleted

- name: Remove all endpoints, implicit ones included
  mptcp.lab.mptcp_endpoints:
    state: deleted
    implicit: remove

- name: Read the endpoints
  mptcp.lab.mptcp_endpoints:
    state: gathered
  register: mptcp_endpoints_now
'''

RETURN = r'''
before:
  description: The endpoints before the call, in O(config) format, sorted by id.
  returned: when O(state) is not V(gathered)
  type: list
  elements: dict
  sample:
    - {address: 10.0.2.1, id: 1, port: null, dev: eth1, flags: [subflow]}
after:
  description:
    - The endpoints after the call, in O(config) format, sorted by id.
    - In check mode, the predicted endpoints (an id the kernel would choose is V(null)).
  returned: when O(state) is not V(gathered)
  type: list
  elements: dict
  sample:
    - {address: 10.0.2.1, id: 1, port: null, dev: eth1, flags: [subflow, backup]}
gathered:
  description: The current endpoints in O(config) format.
  returned: when O(state=gathered)
  type: list
  elements: dict
  sample:
    - {address: 10.0.2.1, id: 1, port: null, dev: eth1, flags: [subflow]}
actions:
  description:
    - What was done (or would be done in check mode), in order.
    - C(action) is V(add), V(delete), V(set_flags) (in place, id and subflows
      kept) or V(replace) (delete and add again).
    - C(endpoint) is the endpoint added, deleted or as it becomes;
      C(previous) is the endpoint before a V(set_flags) or V(replace).
  returned: when O(state) is not V(gathered)
  type: list
  elements: dict
  sample:
    - action: set_flags
      endpoint: {address: 10.0.2.1, id: 1, port: null, dev: eth1, flags: [subflow, backup]}
      previous: {address: 10.0.2.1, id: 1, port: null, dev: eth1, flags: [subflow]}
diff:
  description: Endpoints before and after, when run with C(--diff).
  returned: when diff mode is on and O(state) is not V(gathered)
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.mptcp.lab.plugins.module_utils.mptcp import mptcp_netlink as nl
from ansible_collections.mptcp.lab.plugins.module_utils.mptcp.mptcp_config import (
    STATES,
    ApplyError,
    ValidationError,
    apply_plan,
    as_config,
    check_ports,
    compute,
    normalize_config,
    sort_endpoints,
)


def run(module):
    state = module.params['state']
    config = module.params['config'] or []
    implicit = module.params.get('implicit') or 'keep'
    if state == 'gathered' and config:
        raise ValidationError('config: must be empty with state=gathered')
    entries = normalize_config(config, state, laminar_ok=nl.kernel_supports_laminar(),
                               dev_exists=lambda dev: nl.ifindex(dev) is not None)
    try:
        pm = nl.MptcpNetlink()
    except nl.MptcpUnsupported as exc:
        module.fail_json(msg='%s' % exc)
    with pm:
        before = [as_config(e) for e in pm.endpoints()]
        if state == 'gathered':
            module.exit_json(changed=False, gathered=sort_endpoints(before))
        actions, predicted = compute(before, entries, state, implicit=implicit)
        check_ports(actions, entries)
        result = {'changed': bool(actions), 'before': sort_endpoints(before), 'actions': actions}
        if actions and not module.check_mode:
            try:
                after = apply_plan(pm, state, entries, before, actions)
            except ApplyError as exc:
                module.fail_json(msg='%s' % exc, before=result['before'], after=[as_config(e) for e in pm.endpoints()],
                                 planned_actions=actions)
        else:
            after = predicted
        result['after'] = after
        if module._diff:
            result['diff'] = {'before': {'endpoints': result['before']}, 'after': {'endpoints': after}}
        return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            config=dict(type='list', elements='dict', options=dict(
                address=dict(type='str'),
                id=dict(type='int'),
                dev=dict(type='str'),
                port=dict(type='int'),
                flags=dict(type='list', elements='str'),
            )),
            state=dict(type='str', default='merged', choices=list(STATES)),
            implicit=dict(type='str', default='keep', choices=['keep', 'remove']),
        ),
        supports_check_mode=True,
    )
    if not nl.HAS_PYROUTE2:
        module.fail_json(msg=missing_required_lib('pyroute2'), exception=nl.PYROUTE2_IMPORT_ERROR)
    try:
        result = run(module)
    except ValidationError as exc:
        module.fail_json(msg='%s' % exc)
    except nl.MptcpError as exc:
        module.fail_json(msg='%s' % exc)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
