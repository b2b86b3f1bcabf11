#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: lab_lease
short_description: One run at a time on a lab, and nothing left behind a run that dies
version_added: 0.1.0
description:
  - Takes (V(acquired)) or gives back (V(released)) the lease of a lab for the ansible-playbook run it runs
    under, on the controller.
  - The lease is an exclusive C(flock) on C(<lock_dir>/lab-<prefix>.lock) and, with O(results_dir), on
    C(<lock_dir>/results-<hash>.lock). A second run on the same lab or results directory fails at once,
    naming the holder (its pid, run id and start time). A lock whose holder is dead is taken over, and the
    dead run's marker is honoured (the namespaces it created do not count as a lab that existed before).
  - The locks are held by a guardian, a small detached process that watches the ansible-playbook process
    (found up the parent chain) through a pidfd. When the playbook ends without releasing the lease
    (Ctrl-C, SIGTERM, SIGKILL, every host failed, an error), the guardian removes what the run created
    (O(on_abort)) and then the lock files. The callback M(mptcp.lab.perf_progress) (a callback plugin) makes
    ansible-playbook wait for that before it exits.
  - O(lock_dir) and its parent must be directories owned by the user running the module (root) that group
    and others cannot write; lock files are opened without following symbolic links.
  - V(released) with no lease held is a no-op. Re-taking a lease the run already holds (a playbook imported
    by another one) is a no-op too, and returns the lease as taken first (C(reentrant)).
  - Never reports C(changed) - the lease is the run's own bookkeeping, gone when the run ends, so a playbook
    that takes one still reports changed=0 on its second run. C(acquired) and C(released) say what it did.
options:
  prefix:
    description: The lab prefix (C(lab_prefix)); its namespaces are C(<prefix>-*).
    type: str
    required: true
  state:
    description: V(acquired) takes the lease, V(released) gives it back (changing nothing else).
    type: str
    choices: [acquired, released]
    default: acquired
  purpose:
    description: What the run does, shown to a run that finds the lab in use.
    type: str
    choices: [perf, provision, teardown]
    default: perf
  run_id:
    description:
      - The run's id, shown to a run that finds the lab in use. With O(results_dir), an aborted run's
        C(<results_dir>/<run_id>) without C(summary.json) is removed.
      - Letters, digits, C(.), C(_) and C(-).
    type: str
  results_dir:
    description: The results directory the run writes to; it gets a lock of its own (by its real path).
    type: path
  virtual:
    description: Whether the lab is the netns lab on this machine (C(lab_kind=virtual)); only then are its
      namespaces and processes the guardian's business.
    type: bool
    default: true
  keep_lab:
    description: The run keeps the lab it creates (C(perf_keep_lab)); an abort then only stops the processes
      the run started.
    type: bool
    default: false
  on_abort:
    description:
      - V(remove_created) removes, when the run dies without releasing the lease, the lab's namespaces that did
        not exist when the lease was taken (their processes, links and C(<run_dir>) files with them), the
        supervised processes of the lab started since (M(mptcp.lab.supervised_process) state files), a
        run directory without C(summary.json), and - once none of the lab's namespaces is left - the lab's hold
        on the users recorded in O(user_record_dir) (M(mptcp.lab.lab_user)) - a user the lab created goes with
        its last holder.
      - V(release_only) only frees the locks (C(teardown.yml)).
    type: str
    choices: [remove_created, release_only]
    default: remove_created
  user_record_dir:
    description: Directory of the records of the users the labs created (the O(mptcp.lab.lab_user#module:record_dir)
      of M(mptcp.lab.lab_user), the traffic sink's C(traffic_sink_state_dir)).
    type: path
    default: /var/lib/mptcp-lab
  run_dir:
    description: Run directory of the lab's supervised processes (their state files name them).
    type: path
    default: /run/mptcp-lab
  lock_dir:
    description: Directory of the lock files.
    type: path
    default: /run/mptcp-lab/locks
  owner_pid:
    description: The process the lease belongs to; default the ansible-playbook process this module runs under.
    type: int
requirements:
  - Linux 5.3 or later (pidfd), Python 3.9 or later
  - pyroute2 (for the cleanup of a virtual lab)
notes:
  - Runs on the controller (C(localhost)), where the netns lab lives.
author:
  - mptcp.lab developers (@multipath-tcp)
extends_documentation_fragment:
  - mptcp.lab.attributes
attributes:
  check_mode:
    support: full
    details: In check mode a lab held by another run still fails; nothing is locked and no guardian starts.
  diff_mode:
    support: none
'''

EXAMPLES = r'''
- name: Take the lab for this run (fails at once when another run holds it)
  mptcp.lab.lab_lease:
    prefix: "{{ lab_prefix }}"
    purpose: perf
    run_id: "{{ perf_suite_run_id }}"
    results_dir: "{{ perf_suite_results_path }}"
  register: perf_lab_lease

- name: Give the lab back at the end of the run
  mptcp.lab.lab_lease:
    prefix: "{{ lab_prefix }}"
    state: released
'''

RETURN = r'''
acquired:
  description: Whether this call took the lease (false when the run already held it, or in check mode).
  returned: state=acquired
  type: bool
reentrant:
  description: The run already held the lease (taken by an earlier task of the same ansible-playbook).
  returned: state=acquired
  type: bool
lab_existed:
  description: Whether the lab had namespaces when the run took the lease (those of a dead run's abort excluded).
  returned: state=acquired
  type: bool
existing:
  description: The lab's namespaces when the lease was taken (what an abort keeps).
  returned: when the lease is taken
  type: list
  elements: str
orphans:
  description: Namespaces left by a dead run that created them (this run owns them now).
  returned: when the lease is taken
  type: list
  elements: str
took_over:
  description: Stale locks taken over, each with the dead holder's record.
  returned: state=acquired
  type: list
  elements: dict
holder:
  description: The lease record (pid, pid_start, run_id, purpose, started, host, guardian, lab, results).
  returned: state=acquired
  type: dict
lock_files:
  description: The lock files of the lease.
  returned: when the lease is taken
  type: list
  elements: str
released:
  description: The lock files given back.
  returned: state=released
  type: list
  elements: str
'''

import re

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mptcp.lab.plugins.module_utils.lab import lab_lease

PREFIX_RE = re.compile(r'^[a-z][a-z0-9]{0,9}$')
RUN_ID_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$')


def validate(p):
    """An error text naming the option and the rule, or None."""
    if not PREFIX_RE.match(p['prefix']):
        return 'prefix: must be 1 to 10 lowercase letters or digits, starting with a letter; got %r' % p['prefix']
    if p.get('run_id') and not RUN_ID_RE.match(p['run_id']):
        return 'run_id: letters, digits, ".", "_" and "-" only; got %r' % p['run_id']
    for key in ('lock_dir', 'run_dir', 'results_dir', 'user_record_dir'):
        if p.get(key) is not None and not p[key].startswith('/'):
            return '%s: must be an absolute path; got %r' % (key, p[key])
    return None


ARGUMENT_SPEC = dict(
    prefix=dict(type='str', required=True),
    state=dict(type='str', choices=['acquired', 'released'], default='acquired'),
    purpose=dict(type='str', choices=['perf', 'provision', 'teardown'], default='perf'),
    run_id=dict(type='str'),
    results_dir=dict(type='path'),
    virtual=dict(type='bool', default=True),
    keep_lab=dict(type='bool', default=False),
    on_abort=dict(type='str', choices=list(lab_lease.ABORT_ACTIONS), default='remove_created'),
    run_dir=dict(type='path', default=lab_lease.RUN_DIR),
    user_record_dir=dict(type='path', default=lab_lease.USER_RECORD_DIR),
    lock_dir=dict(type='path', default=lab_lease.LOCK_DIR),
    owner_pid=dict(type='int'),
)


def run(params, check_mode=False):
    """Take or give back the lease: ``(result, warnings)``; raises lab_lease.LeaseError.

    The module and its action plugin (plugins/action/lab_lease.py: on the controller, in the
    ansible-playbook worker, without a module process) both run this.
    """
    p = dict(params)
    error = validate(p)
    if error:
        raise lab_lease.LeaseError(error)
    if p['owner_pid']:
        owner = (p['owner_pid'], lab_lease.proc_start(p['owner_pid']))
        if owner[1] is None:
            raise lab_lease.LeaseError('owner_pid: no process %d' % p['owner_pid'])
    else:
        owner = lab_lease.find_playbook()
        if owner is None:
            raise lab_lease.LeaseError('lab_lease runs under ansible-playbook on the controller: '
                                       'no ansible-playbook among its parent processes (or give owner_pid)')
    if p['state'] == 'released':
        return lab_lease.release(p, owner, check_mode), []
    result = lab_lease.acquire(p, owner, check_mode)
    warnings = ['%s: took over the lease of %s, which is dead (%s)'
                % (stale['lock'], lab_lease.describe(stale['holder']), stale['state'])
                for stale in result['took_over']]
    if result.get('orphans'):
        warnings.append('lab %s: namespaces %s were created by a run that died; this run owns them now'
                        % (p['prefix'], ', '.join(result['orphans'])))
    return result, warnings


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    try:
        result, warnings = run(module.params, module.check_mode)
    except lab_lease.LeaseError as exc:
        module.fail_json(msg=str(exc))
    for warning in warnings:
        module.warn(warning)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
