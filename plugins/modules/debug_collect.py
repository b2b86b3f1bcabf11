#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: debug_collect
short_description: Collect what an MPTCP bug report needs from one host, in one call
version_added: 0.2.0
description:
  - Runs, on the host (the network namespace, VM or machine) it is called on,
    what mptcpd's C(mptcp-get-debug) collects - C(uname -a), C(/etc/os-release),
    C(sysctl net.mptcp), C(ip mptcp endpoint show), C(ip mptcp limits show),
    C(ss -ManiH) and C(nstat) - and what the lab knows - addresses, links,
    policy rules, the routes of the main table and of O(tables), qdiscs, the
    offloads of every interface (C(ethtool -k)), congestion-control sysctls,
    the iperf3 and mptcpd versions, mptcpd's configuration (and its journal
    where systemd runs), the kernel's MPTCP configuration lines and the files
    in O(files).
  - Every command is an argument list run with C(LC_ALL=C); a missing tool is
    recorded as such, never as a failure of the task.
  - Read-only, so a second invocation during a perf run does not disturb it. C(nstat)
    runs with C(-s) (its history is never updated) on a history file of the lab's own
    (O(state_dir)), never the user's; only O(reset_nstat) writes that history.
  - Nothing secret leaves the host. No environment is read; only the files
    named here are; a file whose name says it holds a key is refused; a text
    holding a private key is replaced by a note.
  - The controller packs the results of every host into one archive with
    M(mptcp.lab.debug_bundle); C(playbooks/debug.yml) does both.
options:
  tables:
    description: The lab's policy-routing tables; their IPv4 and IPv6 routes are listed.
    type: list
    elements: int
    default: []
  files:
    description:
      - Further files to include (the lab's mptcpd configuration and log, say). A missing
        file is recorded as missing.
    type: list
    elements: path
    default: []
  phase:
    description: A label for this collection (V(before), V(after) in the reproduce mode).
    type: str
  reset_nstat:
    description:
      - After collecting, reset nstat's history (C(nstat -n)) on the lab's history file,
        so that the next collection's C(nstat) shows what moved since (the reproduce mode).
    type: bool
    default: false
  forget_nstat:
    description:
      - After collecting, remove the lab's nstat history of this network namespace (the
        reproduce mode's last collection), so that nothing of the collection stays behind.
    type: bool
    default: false
  state_dir:
    description: Where the lab keeps nstat's history of this network namespace.
    type: path
    default: /run/mptcp-lab/debug
  history_name:
    description:
      - Names the history file C(<state_dir>/<history_name>-nstat.hist), e.g. the lab host's name,
        so that the lab's teardown, which removes its hosts' files in C(/run/mptcp-lab), removes it
        too. Without it the file is named by the network namespace's inode.
    type: str
  max_item_bytes:
    description: Largest output kept per item; longer ones keep their tail and are marked C(truncated).
    type: int
    default: 1048576
  timeout:
    description: Seconds allowed to each command before it is killed.
    type: int
    default: 20
notes:
  - Reports C(changed=false) unless O(reset_nstat) reset the history.
author:
  - mptcp.lab developers (@multipath-tcp)
extends_documentation_fragment:
  - mptcp.lab.attributes
attributes:
  check_mode:
    support: full
    details: Collects in check mode too (it only reads); O(reset_nstat) is then predicted, not done.
  diff_mode:
    support: none
seealso:
  - module: mptcp.lab.debug_bundle
  - module: mptcp.lab.debug_monitor
'''

EXAMPLES = r'''
- name: Collect everything on this host
  mptcp.lab.debug_collect:
    tables: "{{ lab_path_links | default([]) | map(attribute='table') | list }}"
  register: collected

- name: Collect, then reset nstat before reproducing an issue
  mptcp.lab.debug_collect:
    phase: before
    reset_nstat: true
'''

RETURN = r'''
items:
  description: Every item, in order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The item's name (its file name in the archive).
      type: str
      sample: mptcp_endpoints
    argv:
      description: The command that ran, or null for a file.
      type: list
      elements: str
    path:
      description: The file read, or null for a command.
      type: str
    rc:
      description: The command's exit code (0 for a file read), null when it could not run.
      type: int
    output:
      description: Its output (stdout, then stderr), or the file's text.
      type: str
    error:
      description: Why the item is missing or incomplete, or null.
      type: str
    truncated:
      description: Whether only the tail of the output was kept.
      type: bool
    seconds:
      description: How long it took.
      type: float
phase:
  description: O(phase).
  returned: always
  type: str
nstat_history:
  description: The nstat history file used.
  returned: always
  type: str
netns:
  description: The identity of the network namespace collected (C(net:[inode])).
  returned: always
  type: str
'''

import gzip
import os
import socket
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mptcp.lab.plugins.module_utils.process import debug_bundle as db
from ansible_collections.mptcp.lab.plugins.module_utils.mptcp import mptcpd as mptcpd_utils


def netns_identity():
    try:
        return os.readlink('/proc/self/ns/net')
    except OSError:
        return 'net:[unknown]'


def nstat_history(state_dir, name=None):
    """The lab's nstat history file of this network namespace (nstat's own is per user, not per namespace)."""
    if name:
        return os.path.join(state_dir, '%s-nstat.hist' % name)
    ident = netns_identity()
    digits = ''.join(c for c in ident if c.isdigit()) or 'unknown'
    return os.path.join(state_dir, 'nstat-net%s.hist' % digits)


def read_text(path, max_bytes):
    with open(path, 'rb') as f:
        data = f.read()
    return data.decode('utf-8', 'replace')


def file_item(name, path, max_bytes, reader=read_text):
    started = time.monotonic()
    item = {'name': name, 'argv': None, 'path': path, 'rc': None, 'output': '', 'error': None,
            'truncated': False, 'redacted': False}
    if db.secret_path(path):
        item['error'] = 'refused: the name says the file holds a secret'
    else:
        try:
            text = reader(path, max_bytes)
            text, item['redacted'] = db.redact(text)
            item['output'], item['truncated'] = db.clip(text, max_bytes)
            item['rc'] = 0
        except (IOError, OSError) as e:
            item['error'] = 'not read: %s' % (e.strerror or e)
    item['seconds'] = round(time.monotonic() - started, 3)
    return item


def kernel_config(path, max_bytes):
    """The MPTCP lines of the running kernel's config (/proc/config.gz or /boot/config-<release>)."""
    if path.endswith('.gz'):
        with gzip.open(path, 'rb') as f:
            return db.kconfig_lines(f.read().decode('utf-8', 'replace'))
    return db.kconfig_lines(read_text(path, max_bytes))


def command_item(module, name, argv, env, max_bytes, timeout):
    started = time.monotonic()
    item = {'name': name, 'argv': list(argv), 'path': None, 'rc': None, 'output': '', 'error': None,
            'truncated': False, 'redacted': False}
    binary = argv[0] if os.path.isabs(argv[0]) else module.get_bin_path(argv[0], opt_dirs=['/usr/sbin', '/sbin'])
    if not binary or not os.access(binary, os.X_OK):
        item['error'] = 'not installed: %s' % argv[0]
    else:
        timeout_bin = module.get_bin_path('timeout')
        full = [binary] + list(argv[1:])
        if timeout_bin:
            full = [timeout_bin, '--kill-after=2', str(timeout)] + full
        rc, out, err = module.run_command(full, environ_update=env)
        text = out + (('\n' if out and not out.endswith('\n') else '') + err if err else '')
        text, item['redacted'] = db.redact(text)
        item['output'], item['truncated'] = db.clip(text, max_bytes)
        item['rc'] = rc
        if rc == 124 and timeout_bin:
            item['error'] = 'killed after %ds' % timeout
    item['seconds'] = round(time.monotonic() - started, 3)
    return item


def interfaces():
    try:
        return [name for _index, name in socket.if_nameindex() if name != 'lo']
    except OSError:
        return []


def collect(module, p):
    history = nstat_history(p['state_dir'], p['history_name'])
    base_env = {'LC_ALL': 'C'}
    history_env = dict(base_env, NSTAT_HISTORY=history)
    systemd = os.path.isdir('/run/systemd/system')
    mptcpd_bin = mptcpd_utils.find_binary()
    items = []
    for name, argv, env in db.host_commands(p['tables'], interfaces(), mptcpd_bin, systemd):
        if name == 'nstat' and not os.path.exists(history):
            # no reset yet: like a first plain nstat, the values since boot (history untouched)
            argv = argv[:1] + ['-a'] + argv[1:]
        items.append(command_item(module, name, argv, history_env if env == 'history' else base_env,
                                  p['max_item_bytes'], p['timeout']))
    for name, path in db.BASE_FILES:
        items.append(file_item(name, path, p['max_item_bytes']))
    release = os.uname()[2]
    for path in ('/proc/config.gz', '/boot/config-%s' % release):
        if os.path.exists(path):
            items.append(file_item('kernel_config_mptcp', path, p['max_item_bytes'], kernel_config))
            break
    else:
        items.append({'name': 'kernel_config_mptcp', 'argv': None, 'path': '/proc/config.gz', 'rc': None,
                      'output': '', 'error': 'no kernel config found', 'truncated': False, 'seconds': 0})
    used = set(item['name'] for item in items)
    for path in list(db.MPTCPD_CONF_FILES) + list(p['files']):
        if path in db.MPTCPD_CONF_FILES and not os.path.exists(path):
            continue
        name = 'mptcpd_conf' if path == db.MPTCPD_CONF_FILES[0] else db.file_item_name(path, used)
        used.add(name)
        items.append(file_item(name, path, p['max_item_bytes']))
    return items, history


def reset_nstat(module, history):
    nstat = module.get_bin_path('nstat', opt_dirs=['/usr/sbin', '/sbin'])
    if not nstat:
        return 'not installed: nstat'
    directory = os.path.dirname(history)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o700)
    rc, out, err = module.run_command([nstat, '-n'], environ_update={'LC_ALL': 'C', 'NSTAT_HISTORY': history})
    if rc != 0:
        module.fail_json(msg='nstat -n failed', rc=rc, stdout=out, stderr=err)
    return None


def run(module):
    p = module.params
    if p['max_item_bytes'] < 1024:
        module.fail_json(msg='max_item_bytes: must be >= 1024, got %d' % p['max_item_bytes'])
    if p['timeout'] < 1:
        module.fail_json(msg='timeout: must be >= 1, got %d' % p['timeout'])
    for table in p['tables']:
        if not 0 < table < 2 ** 32:
            module.fail_json(msg='tables: must be routing table numbers 1..4294967295, got %d' % table)
    name = p['history_name']
    if name is not None and (not name or name.startswith('.') or '/' in name or len(name) > 200):
        module.fail_json(msg='history_name: must be a file name part (no "/", not starting with "."), got %r'
                         % name)
    if p['reset_nstat'] and p['forget_nstat']:
        module.fail_json(msg='reset_nstat and forget_nstat: one collection cannot both reset and forget '
                         'the nstat history')
    items, history = collect(module, p)
    result = {'changed': False, 'items': items, 'phase': p['phase'], 'nstat_history': history,
              'netns': netns_identity()}
    if p['reset_nstat']:
        result['changed'] = True
        if not module.check_mode:
            result['nstat_reset_error'] = reset_nstat(module, history)
    elif p['forget_nstat'] and os.path.lexists(history):
        result['changed'] = True
        if not module.check_mode:
            os.unlink(history)
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            tables=dict(type='list', elements='int', default=[]),
            files=dict(type='list', elements='path', default=[]),
            phase=dict(type='str'),
            reset_nstat=dict(type='bool', default=False),
            state_dir=dict(type='path', default='/run/mptcp-lab/debug'),
            history_name=dict(type='str'),
            forget_nstat=dict(type='bool', default=False),
            max_item_bytes=dict(type='int', default=1048576),
            timeout=dict(type='int', default=20),
        ),
        supports_check_mode=True,
    )
    module.exit_json(**run(module))


if __name__ == '__main__':
    main()
