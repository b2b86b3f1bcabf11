#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: net_sysctls
short_description: Set net.mptcp.* and net.ipv4.tcp_* sysctls of a host's network namespace, returning their old values
version_added: 0.2.0
description:
  - Sets the given C(net.mptcp.*) and C(net.ipv4.tcp_*) sysctls under C(/proc/sys) of the network namespace the
    module runs in (a lab namespace, a VM, a real host), and nothing else of the host. The perf suite runner
    uses it for a test's own sysctls (suite key C(sysctls)) on both ends, and to put the old values back with
    a second call given RV(before).
  - Every name and value is checked before anything is written. A name must exist in this namespace (some
    C(net.ipv4.tcp_*) settings are global and do not show in a network namespace other than the first); a
    value is an integer, a word or a few of them (C(4096 131072 6291456)); C(net.mptcp.path_manager) and
    C(net.mptcp.scheduler) must be among what the kernel offers (C(available_path_managers),
    C(available_schedulers)).
  - If the kernel still refuses a value, the settings already written by this call are put back and the
    module fails with the kernel's error, naming the field.
  - Values compare as the kernel shows them, words split on white space (the kernel writes C(tcp_rmem) with
    tabs), so a re-run with the same values changes nothing. Nothing is written to C(sysctl.d); see
    M(mptcp.lab.mptcp_settings) for settings a real host keeps across reboots.
options:
  settings:
    description:
      - The sysctls to set, by full name (C(net.mptcp.checksum_enabled), C(net.ipv4.tcp_ecn)), each to an
        integer, a word, true/false (1/0) or a list of integers and words.
    type: dict
    required: true
  label:
    description: Where O(settings) came from, prefixed to error messages (for example C(tests[2] 'x' - sysctls)).
    type: str
    default: settings
author:
  - mptcp.lab developers (@multipath-tcp)
extends_documentation_fragment:
  - mptcp.lab.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
seealso:
  - module: mptcp.lab.mptcp_settings
'''

EXAMPLES = r'''
- name: DSS checksums on and ECN for a test
  mptcp.lab.net_sysctls:
    settings:
      net.mptcp.checksum_enabled: 1
      net.ipv4.tcp_ecn: 1
  register: tuned

- name: Put the old values back
  mptcp.lab.net_sysctls:
    settings: "{{ tuned.before }}"
'''

RETURN = r'''
before:
  description: The value of each given sysctl before the call, as the kernel shows it (words joined by one space).
  returned: success
  type: dict
  sample: {net.mptcp.checksum_enabled: "0", net.ipv4.tcp_rmem: "4096 131072 6291456"}
after:
  description: The value of each given sysctl after the call (predicted in check mode).
  returned: success
  type: dict
  sample: {net.mptcp.checksum_enabled: "1", net.ipv4.tcp_rmem: "4096 131072 6291456"}
changed_settings:
  description: The names that changed (or would change in check mode).
  returned: success
  type: list
  elements: str
  sample: [net.mptcp.checksum_enabled]
'''

import errno
import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_suite import SYSCTL_NAME_RE, SuiteError, sysctl_text

PROC_SYS = '/proc/sys'
# Settings whose value must be one of a list the kernel offers (file beside them).
OFFERED = {
    'net.mptcp.path_manager': 'net.mptcp.available_path_managers',
    'net.mptcp.scheduler': 'net.mptcp.available_schedulers',
}


class SysctlError(ValueError):
    """Bad input or a refusal; the message names the field."""


def path_of(name, proc_sys=PROC_SYS):
    return os.path.join(proc_sys, *name.split('.'))


def read(name, proc_sys=PROC_SYS):
    """The value as the kernel shows it, words joined by one space; None when the sysctl does not exist."""
    try:
        with open(path_of(name, proc_sys)) as handle:
            return ' '.join(handle.read().split())
    except (IOError, OSError):
        return None


def wanted_values(settings, label, proc_sys=PROC_SYS):
    """{name: value text} of the settings, every name and value checked; nothing is written."""
    if not isinstance(settings, dict):
        raise SysctlError('%s must be a mapping of sysctl names to values, got %r' % (label, settings))
    wanted = {}
    for name in sorted(settings, key=str):
        field = '%s.%s' % (label, name)
        if not isinstance(name, str) or not SYSCTL_NAME_RE.match(name):
            raise SysctlError('%s: %r is not allowed: only net.mptcp.<name> and net.ipv4.tcp_<name> '
                              '(lowercase letters, digits and "_")' % (label, name))
        try:
            text = sysctl_text(settings[name], field)
        except SuiteError as exc:
            raise SysctlError(str(exc))
        if read(name, proc_sys) is None:
            raise SysctlError('%s: this network namespace has no such sysctl (%s does not exist; kernel %s)'
                              % (field, path_of(name, proc_sys), os.uname()[2]))
        if name in OFFERED:
            offered = (read(OFFERED[name], proc_sys) or '').split()
            if text not in offered:
                raise SysctlError('%s: %r is not offered by this kernel (available: %s)'
                                  % (field, text, ', '.join(offered) or 'none'))
        wanted[name] = text
    return wanted


def apply(changes, wanted, before, label, proc_sys=PROC_SYS):
    """Write the changes in order; on a refusal put back what this call wrote and raise."""
    done = []
    for name in changes:
        try:
            with open(path_of(name, proc_sys), 'w') as handle:
                handle.write('%s\n' % wanted[name])
        except (IOError, OSError) as exc:
            undone = []
            for old in reversed(done):
                try:
                    with open(path_of(old, proc_sys), 'w') as handle:
                        handle.write('%s\n' % before[old])
                    undone.append(old)
                except (IOError, OSError):
                    pass
            reason = exc.strerror or str(exc)
            if exc.errno == errno.EINVAL:
                reason += ' (a value the kernel does not take)'
            raise SysctlError('%s.%s: the kernel refused %r: %s%s' % (
                label, name, wanted[name], reason,
                '; put back %s' % ', '.join(sorted(undone)) if undone else ''))
        done.append(name)


def run(params, check_mode, proc_sys=PROC_SYS):
    wanted = wanted_values(params['settings'], params['label'], proc_sys)
    before = dict((name, read(name, proc_sys)) for name in wanted)
    changes = [name for name in sorted(wanted) if before[name] != wanted[name]]
    after = dict(before)
    after.update(wanted)
    if changes and not check_mode:
        apply(changes, wanted, before, params['label'], proc_sys)
        after = dict((name, read(name, proc_sys)) for name in wanted)
    result = {'changed': bool(changes), 'before': before, 'after': after, 'changed_settings': changes}
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            settings=dict(type='dict', required=True),
            label=dict(type='str', default='settings'),
        ),
        supports_check_mode=True,
    )
    try:
        result = run(module.params, module.check_mode)
    except SysctlError as exc:
        module.fail_json(msg=str(exc))
    if module._diff:
        result['diff'] = {'before': dict((k, result['before'][k]) for k in result['changed_settings']),
                          'after': dict((k, result['after'][k]) for k in result['changed_settings'])}
    module.exit_json(**result)


if __name__ == '__main__':
    main()
