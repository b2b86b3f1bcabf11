#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: lab_user
short_description: A system user the lab's unprivileged processes run as, removed only if the lab created it
version_added: 0.2.0
description:
  - Makes sure a system user exists for the lab's unprivileged processes (the
    traffic sink's iperf3 servers and stats responder run as it with
    M(mptcp.lab.supervised_process)), and removes it again only when this
    module created it.
  - A user it creates is a system user with its own group, no home directory
    (C(/nonexistent)), no login shell (C(/usr/sbin/nologin)) and no password,
    made with C(useradd). The creation is recorded in O(record_dir)
    (C(<name>-user.json), in a checked root-owned directory, written through
    a temporary file and never through a symlink), because the user
    outlives C(/run) across reboots.
  - V(absent) removes the user (and its group) only when the record says this
    module created it; a user that existed before is never touched. A user
    that still runs a process is kept, with a warning, and its record too,
    so a later V(absent) removes it.
  - Several labs on one machine share its user database, so they share the
    user. With O(holder) (the lab's name), the record lists the labs that use
    the user; V(present) adds the holder and V(absent) takes it out, and the
    user goes only with the last holder (a lab's teardown never removes the
    user under another lab whose sink is starting). Every change of the
    record is made under an exclusive lock of O(record_dir).
  - A holder that is a network-namespace lab of this machine (namespaces
    C(<holder>-*) exist when it takes the user) is recorded as such, and is
    dropped by the next run that adds or removes a holder once its lab is
    gone - no namespace C(<holder>-*) left and no live run holding its lease
    in O(lock_dir) - so a lab killed with its lease's guardian, or a reboot,
    does not keep the user forever. A holder on a bare-metal or VM host is
    never dropped that way, only by its own V(absent).
options:
  name:
    description:
      - Name of the user (a valid system user name, not V(root) or V(nobody),
        which other daemons share).
    type: str
    required: true
  state:
    description: V(present) creates the user when it is missing; V(absent) removes it if the record says it was created here.
    type: str
    choices: [present, absent]
    default: present
  record_dir:
    description: Directory of the creation record (root's, mode 0755, created when missing).
    type: path
    default: /var/lib/mptcp-lab
  holder:
    description:
      - Who uses the user (the lab's prefix, 1-64 letters, digits, C(.), C(_) or C(-)), kept in the record of a user
        the lab created. Without it, V(absent) removes the user only when no holder is recorded (after dropping
        the holders whose namespace lab is gone).
    type: str
  lock_dir:
    description: Directory of the labs' lease lock files (M(mptcp.lab.lab_lease)); a namespace lab whose lease a
      live run holds is not gone.
    type: path
    default: /run/mptcp-lab/locks
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
- name: The traffic sink's user, used by the lab mlab
  mptcp.lab.lab_user:
    name: mptcp-lab
    holder: mlab

- name: Remove it again if the lab created it and no other lab uses it
  mptcp.lab.lab_user:
    name: mptcp-lab
    holder: mlab
    state: absent
'''

RETURN = r'''
exists:
  description: Whether the user exists after the module ran (predicted in check mode).
  returned: always
  type: bool
  sample: true
created_by_lab:
  description: Whether the record says this module created the user.
  returned: always
  type: bool
  sample: true
uid:
  description: The user's uid, or null when it does not exist (or not yet, in check mode).
  returned: always
  type: int
  sample: 998
holders:
  description: The labs the record lists as using the user after the module ran ([] when none, or no record).
  returned: always
  type: list
  elements: str
  sample: [mlab]
pruned:
  description: The holders dropped from the record because their namespace lab is gone (predicted in check mode).
  returned: always
  type: list
  elements: str
  sample: [mpa3dcd2]
'''

import os
import re

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mptcp.lab.plugins.module_utils.lab import lab_user_record as records
from ansible_collections.mptcp.lab.plugins.module_utils.process import safe_files

NAME_RE = re.compile(r'^[a-z_][a-z0-9_-]{0,30}$')
HOLDER_RE = re.compile(r'^[A-Za-z0-9._-]{1,64}$')
SHARED = ('root', 'nobody')


def validate_name(name):
    """An error message for a user name the module refuses, or None."""
    if not NAME_RE.match(name or ''):
        return ('name: must be a system user name (lower-case letter or _, then up to 30 of a-z 0-9 _ -), '
                'got %r' % (name,))
    if name in SHARED:
        return 'name: %r is shared with other daemons; give the lab a user of its own (e.g. mptcp-lab)' % name
    return None


def run(module):
    p = module.params
    name, record_dir, holder = p['name'], p['record_dir'], p['holder']
    err = validate_name(name)
    if err:
        module.fail_json(msg=err)
    if holder is not None and not HOLDER_RE.match(holder):
        module.fail_json(msg="holder: 1-64 letters, digits, '.', '_' or '-', got %r" % (holder,))
    try:
        with records.record_lock(record_dir, create=p['state'] == 'present' and not module.check_mode):
            result, warnings, before = reconcile(module, name, record_dir, holder)
    except safe_files.UnsafePath as exc:
        module.fail_json(msg='record_dir: %s' % exc)
    if warnings:
        result['warnings'] = warnings
    if module._diff:
        after = dict(exists=result['exists'], created_by_lab=result['created_by_lab'], holders=result['holders'])
        result['diff'] = dict(before=before, after=after)
    module.exit_json(**result)


def reconcile(module, name, record_dir, holder):
    """(result, warnings, diff before) of one run, the record directory locked."""
    rec = records.read_record(record_dir, name)
    pw = records.lookup(name)
    holders, netns = records.holders_of(rec) if rec and pw else ([], [])
    before = dict(exists=pw is not None, created_by_lab=bool(rec and pw), holders=holders)
    result = dict(changed=False, exists=pw is not None, created_by_lab=bool(rec and pw),
                  uid=pw.pw_uid if pw else None, holders=holders, pruned=[])
    warnings = []
    # a holder that is a namespace lab of this machine: dropped by a later change once that lab is gone
    mine_netns = [holder] if holder and records.netns_of(holder) else []

    def gone():
        return records.gone_holders(rec, module.params['lock_dir'], keep=[holder] if holder else [])

    def write(new_holders, pruned):
        result.update(changed=True, holders=new_holders, pruned=pruned)
        if not module.check_mode:
            records.write_record(record_dir, name, pw.pw_uid, new_holders, netns + mine_netns)

    if module.params['state'] == 'present' and pw is None:
        result.update(changed=True, exists=True, created_by_lab=True, holders=[holder] if holder else [])
        if not module.check_mode:
            useradd = module.get_bin_path('useradd', required=True)
            nologin = '/usr/sbin/nologin' if os.path.exists('/usr/sbin/nologin') else '/bin/false'
            argv = [useradd, '--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent',
                    '--shell', nologin, '--comment', 'mptcp.lab unprivileged processes', name]
            rc, out, errout = module.run_command(argv, environ_update=dict(LC_ALL='C'))
            pw = records.lookup(name)
            if rc != 0 or pw is None:
                module.fail_json(msg='useradd %s failed' % name, rc=rc, stdout=out, stderr=errout)
            try:
                records.write_record(record_dir, name, pw.pw_uid, result['holders'], mine_netns)
            except safe_files.UnsafePath as exc:
                module.fail_json(msg='record_dir: %s (the user %s was created, without a record)' % (exc, name))
            result['uid'] = pw.pw_uid
    elif module.params['state'] == 'present' and rec and holder and holder not in holders:
        # a user another lab created: this lab uses it too (and the labs that are gone no longer do)
        pruned = gone()
        write(sorted([h for h in holders if h not in pruned] + [holder]), pruned)
    elif module.params['state'] == 'absent' and rec:
        pruned = gone()
        left = [h for h in holders if h != holder and h not in pruned]
        busy = records.busy_processes(pw.pw_uid) if pw and not left else []
        if left:
            if left != holders:
                write(left, pruned)
        elif busy:
            warnings.append('user %s (created by the lab) still runs pid(s) %s: kept, with its record, '
                            'for a later absent' % (name, ', '.join(str(x) for x in busy[:10])))
        else:
            result.update(changed=True, exists=False, created_by_lab=False, uid=None, holders=[], pruned=pruned)
            if not module.check_mode:
                if pw is not None:
                    rc, out, errout = records.delete_user(
                        name, lambda argv: module.run_command(argv, environ_update=dict(LC_ALL='C')),
                        module.get_bin_path)
                    if rc != 0:
                        module.fail_json(msg='userdel %s failed' % name, rc=rc, stdout=out, stderr=errout)
                with safe_files.SafeDir(record_dir) as d:
                    d.unlink(records.record_name(name))
    return result, warnings, before


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='str', required=True),
            state=dict(type='str', default='present', choices=['present', 'absent']),
            record_dir=dict(type='path', default='/var/lib/mptcp-lab'),
            holder=dict(type='str'),
            lock_dir=dict(type='path', default=records.LOCK_DIR),
        ),
        supports_check_mode=True,
    )
    run(module)


if __name__ == '__main__':
    main()
