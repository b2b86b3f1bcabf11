#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: state_dir
short_description: A directory for the lab's state files that only root can change
version_added: 0.2.0
description:
  - Creates a directory for the lab's records, pidfiles or logs (missing
    parents too, with O(mode)), or checks an existing one, before the lab
    writes files there.
  - Refuses, naming the rule, a directory that is a symlink, is not owned by
    root (the module's user), is writable by its group or by others, or lies
    below a directory another user could replace (a sticky one such as
    C(/tmp) is accepted). Such a directory is never taken over (no chown, no
    chmod), since whoever controls it may have planted files in it.
  - An existing root-owned directory with fewer permissions than O(mode)
    (for example 0700 where the lab's unprivileged processes must read) gets
    O(mode).
options:
  path:
    description: The directory.
    type: path
    required: true
  mode:
    description:
      - Mode of the directory, as an octal string; no group or other write
        permission (V(0755), V(0750), V(0700)).
    type: str
    default: '0755'
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
  - module: mptcp.lab.supervised_process
'''

EXAMPLES = r'''
- name: Directory of the saved state
  mptcp.lab.state_dir:
    path: /var/lib/mptcp-lab
'''

RETURN = r'''
path:
  description: The directory, absolute.
  returned: always
  type: str
  sample: /var/lib/mptcp-lab
mode:
  description: Its mode after the module ran (predicted in check mode).
  returned: always
  type: str
  sample: '0755'
'''

import os
import stat

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mptcp.lab.plugins.module_utils.process import safe_files


def parse_mode(text):
    """The mode as an int, or ValueError naming the field and the rule."""
    try:
        mode = int(str(text), 8)
    except ValueError:
        raise ValueError('mode: must be an octal mode such as 0755, got %r' % (text,))
    if mode & ~0o777 or mode & (stat.S_IWGRP | stat.S_IWOTH) or not mode & stat.S_IRWXU == stat.S_IRWXU:
        raise ValueError('mode: must give the owner rwx and nobody else write permission (e.g. 0755), got %r'
                         % (text,))
    return mode


def run(module):
    p = module.params
    path = os.path.abspath(p['path'])
    try:
        mode = parse_mode(p['mode'])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    result = dict(changed=False, path=path, mode='%04o' % mode)
    before = dict(exists=os.path.lexists(path), mode=None)
    try:
        if before['exists']:
            with safe_files.SafeDir(path) as d:
                current = stat.S_IMODE(os.fstat(d.fd).st_mode)
                before['mode'] = '%04o' % current
                if current != mode:
                    result['changed'] = True
                    if not module.check_mode:
                        os.fchmod(d.fd, mode)
        else:
            result['changed'] = True
            # the parents that exist must be safe (check mode says so now too)
            safe_files.check_parents(path)
            if not module.check_mode:
                with safe_files.SafeDir(path, create=True, mode=mode):
                    pass
    except safe_files.UnsafePath as exc:
        module.fail_json(msg='path: %s' % exc)
    if module._diff:
        result['diff'] = dict(before=before, after=dict(exists=True, mode=result['mode']))
    module.exit_json(**result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            mode=dict(type='str', default='0755'),
        ),
        supports_check_mode=True,
    )
    run(module)


if __name__ == '__main__':
    main()
