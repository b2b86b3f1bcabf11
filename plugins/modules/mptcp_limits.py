#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) mptcp.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: mptcp_limits
short_description: Set the MPTCP path manager limits
description:
  - Sets the limits of the in-kernel MPTCP path manager (C(ip mptcp limits)),
    that is how many additional subflows a connection may have, and how many
    addresses announced by the peer (ADD_ADDR) it accepts.
  - Talks netlink to the kernel through pyroute2, and acts on the network
    namespace the module runs in.
  - A limit that is not given keeps its current value.
version_added: 0.1.0
author:
  - mptcp.lab developers (@multipath-tcp)
requirements:
  - pyroute2 on the managed host
  - Linux with MPTCP
options:
  subflows:
    description:
      - Maximum number of additional subflows per MPTCP connection, 0 to 8.
    type: int
  add_addr_accepted:
    description:
      - Maximum number of addresses announced by the peer that a connection
        accepts and creates subflows to, 0 to 8.
      - A client needs at least the number of paths minus one to use every
        path a server announces.
    type: int
extends_documentation_fragment:
  - mptcp.lab.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
seealso:
  - module: mptcp.lab.mptcp_endpoints
  - module: mptcp.lab.mptcp_info
'''

EXAMPLES = r'''
- name: Two paths - one extra subflow, accept one announced address
  mptcp.lab.mptcp_limits:
    subflows: 1
    add_addr_accepted: 1

- name: Raise only the subflow limit
  mptcp.lab.mptcp_limits:
    subflows: 8
'''

RETURN = r'''
before:
  description: The limits before the call.
  returned: always
  type: dict
  sample: {subflows: 2, add_addr_accepted: 0}
after:
  description: The limits after the call (predicted in check mode).
  returned: always
  type: dict
  sample: {subflows: 1, add_addr_accepted: 1}
diff:
  description: The limits before and after, when run with C(--diff).
  returned: when diff mode is on
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.mptcp.lab.plugins.module_utils.mptcp import mptcp_netlink as nl
from ansible_collections.mptcp.lab.plugins.module_utils.mptcp.mptcp_config import ValidationError
from ansible_collections.mptcp.lab.plugins.module_utils.mptcp.mptcp_config import compute_limits as compute
from ansible_collections.mptcp.lab.plugins.module_utils.mptcp.mptcp_config import validate_limits as validate


def main():
    module = AnsibleModule(
        argument_spec=dict(
            subflows=dict(type='int'),
            add_addr_accepted=dict(type='int'),
        ),
        supports_check_mode=True,
    )
    if not nl.HAS_PYROUTE2:
        module.fail_json(msg=missing_required_lib('pyroute2'), exception=nl.PYROUTE2_IMPORT_ERROR)
    try:
        wanted = validate(module.params)
    except ValidationError as exc:
        module.fail_json(msg='%s' % exc)
    try:
        with nl.MptcpNetlink() as pm:
            before = pm.limits()
            after, changed = compute(before, wanted)
            if changed and not module.check_mode:
                pm.set_limits(after['subflows'], after['add_addr_accepted'])
                after = pm.limits()
    except (nl.MptcpError, nl.MptcpUnsupported) as exc:
        module.fail_json(msg='%s' % exc)
    result = dict(changed=changed, before=before, after=after)
    if module._diff:
        result['diff'] = {'before': before, 'after': after}
    module.exit_json(**result)


if __name__ == '__main__':
    main()
