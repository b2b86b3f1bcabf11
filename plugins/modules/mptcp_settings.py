#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) mptcp.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: mptcp_settings
short_description: Manage the net.mptcp.* sysctls
description:
  - Sets the MPTCP sysctls (C(net.mptcp.*)) under C(/proc/sys/net/mptcp).
    These are per network namespace; the module acts on the namespace it
    runs in.
  - Only the options given are managed; the others are left as they are.
  - O(path_manager) and O(scheduler) are checked against what the kernel
    offers (C(available_path_managers), C(available_schedulers)). On kernels
    older than 6.15, which only have C(pm_type), O(path_manager) accepts
    V(kernel) and V(userspace) and is written as C(pm_type) 0 or 1.
  - Every value is checked before anything is written. If the kernel still
    refuses a value, the settings already written by this call are put back.
  - O(persist) also writes a C(sysctl.d) file so that a real host applies the
    same settings at boot. It is meant for hosts, not for network namespaces
    (C(sysctl.d) applies to the initial namespace only).
version_added: 0.1.0
author:
  - mptcp.lab developers (@multipath-tcp)
requirements:
  - Linux with MPTCP
options:
  enabled:
    description: Whether new sockets may use MPTCP (C(net.mptcp.enabled)).
    type: bool
  path_manager:
    description:
      - The default path manager of new connections (C(net.mptcp.path_manager)),
        one of the kernel's C(available_path_managers), usually V(kernel) or
        V(userspace) (the one mptcpd drives).
    type: str
  scheduler:
    description:
      - The packet scheduler of new connections (C(net.mptcp.scheduler)), one
        of the kernel's C(available_schedulers), usually V(default).
    type: str
  checksum_enabled:
    description: Whether to use DSS checksums (C(net.mptcp.checksum_enabled)).
    type: bool
  allow_join_initial_addr_port:
    description:
      - Whether the peer may create subflows towards the initial address and
        port (C(net.mptcp.allow_join_initial_addr_port)).
    type: bool
  add_addr_timeout:
    description: Seconds before an unacknowledged ADD_ADDR is sent again (C(net.mptcp.add_addr_timeout)), 0 or more.
    type: int
  close_timeout:
    description: Seconds an orphaned MPTCP socket lingers after close (C(net.mptcp.close_timeout)), 0 or more.
    type: int
  stale_loss_cnt:
    description:
      - Retransmission intervals after which a subflow is considered stale
        (C(net.mptcp.stale_loss_cnt)), 0 or more.
    type: int
  blackhole_timeout:
    description:
      - Initial seconds MPTCP stays disabled on a path after a middlebox
        blackhole is detected, 0 to turn the detection off
        (C(net.mptcp.blackhole_timeout), Linux 6.12+).
    type: int
  persist:
    description:
      - Also write the given settings to O(persist_path), for real hosts.
    type: bool
    default: false
  persist_path:
    description: The C(sysctl.d) file that O(persist) writes; it holds only the settings given.
    type: path
    default: /etc/sysctl.d/90-mptcp-lab.conf
extends_documentation_fragment:
  - mptcp.lab.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
seealso:
  - module: mptcp.lab.mptcp_info
  - module: ansible.posix.sysctl
  - name: MPTCP sysctl documentation
    description: The kernel's description of every net.mptcp setting.
    link: https://docs.kernel.org/networking/mptcp-sysctl.html
'''

EXAMPLES = r'''
- name: MPTCP on, in-kernel path manager
  mptcp.lab.mptcp_settings:
    enabled: true
    path_manager: kernel
    scheduler: default

- name: Let mptcpd drive the path manager
  mptcp.lab.mptcp_settings:
    path_manager: userspace

- name: Settings on a real host, kept across reboots
  mptcp.lab.mptcp_settings:
    enabled: true
    checksum_enabled: false
    add_addr_timeout: 60
    persist: true
'''

RETURN = r'''
before:
  description: Every managed setting the kernel has, before the call.
  returned: always
  type: dict
  sample:
    enabled: true
    path_manager: kernel
    scheduler: default
    checksum_enabled: false
    allow_join_initial_addr_port: true
    add_addr_timeout: 120
    close_timeout: 60
    stale_loss_cnt: 4
    blackhole_timeout: 3600
after:
  description: Every managed setting the kernel has, after the call (predicted in check mode).
  returned: always
  type: dict
  sample:
    enabled: true
    path_manager: userspace
    scheduler: default
    checksum_enabled: false
    allow_join_initial_addr_port: true
    add_addr_timeout: 120
    close_timeout: 60
    stale_loss_cnt: 4
    blackhole_timeout: 3600
changed_settings:
  description: The names of the settings that changed (or would change in check mode).
  returned: always
  type: list
  elements: str
  sample: [path_manager]
persist_path:
  description: The sysctl.d file written (or that would be written in check mode).
  returned: when O(persist=true)
  type: str
  sample: /etc/sysctl.d/90-mptcp-lab.conf
diff:
  description: The settings given, before and after, and the sysctl.d file when O(persist=true).
  returned: when diff mode is on
  type: list
'''

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mptcp.lab.plugins.module_utils.mptcp import mptcp_sysctl as sysctl


class ValidationError(Exception):
    """Bad input: the message names the field and the rule."""


def validate(params, proc_dir=sysctl.PROC_DIR):
    """The wanted settings (those given), checked against what the kernel offers."""
    if not sysctl.supported(proc_dir):
        raise ValidationError('this kernel has no MPTCP (%s does not exist)' % proc_dir)
    wanted = {}
    for name in sysctl.SETTING_NAMES:
        value = params.get(name)
        if value is None:
            continue
        kind = sysctl.SETTING_KINDS[name]
        if name == 'path_manager':
            offered = sysctl.available_path_managers(proc_dir)
            if not offered:
                raise ValidationError('path_manager: this kernel has neither net.mptcp.path_manager nor pm_type')
            if value not in offered:
                raise ValidationError('path_manager: %r is not offered by this kernel (available: %s)'
                                      % (value, ', '.join(offered)))
        elif name == 'scheduler':
            if sysctl.read_raw('scheduler', proc_dir) is None:
                raise ValidationError('scheduler: this kernel has no net.mptcp.scheduler')
            offered = sysctl.available_schedulers(proc_dir)
            if value not in offered:
                raise ValidationError('scheduler: %r is not offered by this kernel (available: %s)'
                                      % (value, ', '.join(offered)))
        else:
            if sysctl.read_raw(name, proc_dir) is None:
                raise ValidationError('%s: this kernel has no net.mptcp.%s' % (name, name))
            if kind == 'int' and not 0 <= value <= sysctl.INT_MAX:
                raise ValidationError('%s: must be between 0 and %d (got %s)' % (name, sysctl.INT_MAX, value))
        wanted[name] = value
    return wanted


def compute(before, wanted):
    """The settings after the change and the names that change, in a stable order."""
    after = dict(before)
    after.update(wanted)
    changes = [name for name in sysctl.SETTING_NAMES if name in wanted and before.get(name) != wanted[name]]
    return after, changes


def apply(before, after, changes, proc_dir=sysctl.PROC_DIR):
    """Write the changes; on a refusal put back what was written and re-raise."""
    done = []
    for name in changes:
        try:
            sysctl.write_setting(name, after[name], proc_dir)
        except (IOError, OSError) as exc:
            restored = True
            for written in reversed(done):
                try:
                    sysctl.write_setting(written, before[written], proc_dir)
                except (IOError, OSError):
                    restored = False
            raise ValidationError('%s: the kernel refused %r (%s); %s'
                                  % (name, after[name], exc.strerror or exc,
                                     'nothing was changed' if restored else
                                     'and the settings already written could not all be put back'))
        done.append(name)


def read_file(path):
    try:
        with open(path) as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def write_file(module, path, text):
    directory = os.path.dirname(path) or '.'
    fd, tmp = tempfile.mkstemp(dir=directory, prefix='.mptcp-lab.')
    with os.fdopen(fd, 'w') as handle:
        handle.write(text)
    os.chmod(tmp, 0o644)
    module.atomic_move(tmp, path)


def run(module):
    params = module.params
    wanted = validate(params)
    before = sysctl.read_settings()
    after, changes = compute(before, wanted)
    result = {'before': before, 'changed_settings': changes}
    diffs = [{
        'before_header': 'net.mptcp', 'after_header': 'net.mptcp',
        'before': dict((k, before.get(k)) for k in wanted),
        'after': dict((k, after.get(k)) for k in wanted),
    }]
    file_changed = False
    if params['persist']:
        path = params['persist_path']
        text = sysctl.render_sysctl_d(wanted)
        old = read_file(path)
        file_changed = old != text
        result['persist_path'] = path
        diffs.append({'before_header': path, 'after_header': path, 'before': old or '', 'after': text})
        if file_changed and not os.path.isdir(os.path.dirname(path) or '.'):
            raise ValidationError('persist_path: directory %s does not exist' % os.path.dirname(path))
    if changes and not module.check_mode:
        apply(before, after, changes)
        after = sysctl.read_settings()
    if file_changed and not module.check_mode:
        write_file(module, params['persist_path'], text)
    result['after'] = after
    result['changed'] = bool(changes) or file_changed
    if module._diff:
        result['diff'] = diffs
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            enabled=dict(type='bool'),
            path_manager=dict(type='str'),
            scheduler=dict(type='str'),
            checksum_enabled=dict(type='bool'),
            allow_join_initial_addr_port=dict(type='bool'),
            add_addr_timeout=dict(type='int'),
            close_timeout=dict(type='int'),
            stale_loss_cnt=dict(type='int'),
            blackhole_timeout=dict(type='int'),
            persist=dict(type='bool', default=False),
            persist_path=dict(type='path', default='/etc/sysctl.d/90-mptcp-lab.conf'),
        ),
        supports_check_mode=True,
    )
    try:
        result = run(module)
    except ValidationError as exc:
        module.fail_json(msg='%s' % exc)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
