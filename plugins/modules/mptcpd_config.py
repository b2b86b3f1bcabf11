#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) mptcp.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: mptcpd_config
short_description: Validate and write an mptcpd configuration file
version_added: 0.1.0
description:
  - Renders the C([core]) section of C(mptcpd.conf) (log, plugin-dir,
    path-manager, addr-flags, notify-flags, load-plugins) from options, and
    writes it only when its content differs.
  - Before writing anything it validates the wanted configuration against the
    mptcpd that is installed, found with O(binary) and asked for its version
    with C(--version). C(signal) and C(fullmesh) are mutually exclusive;
    C(addr-flags) and C(notify-flags) need mptcpd 0.8, C(load-plugins) and
    the C(check_route) notify flag need 0.9, the C(fullmesh) flag needs 0.11;
    O(path_manager) and O(load_plugins) must exist as C(<name>.so) in
    O(plugin_dir). Any violation fails the task, naming the option and the
    rule, and changes nothing.
  - The file is written with mode C(0644), owned by root; mptcpd refuses a
    world-writable file and may run as an unprivileged user that must read it.
options:
  path:
    description: Configuration file to write. Parent directories are created (mode C(0755)).
    type: path
    default: /etc/mptcpd/mptcpd.conf
  binary:
    description:
      - The mptcpd executable whose version the configuration is checked
        against.
      - When omitted, the usual locations are tried (C(/usr/libexec/mptcpd),
        C(/usr/local/libexec/mptcpd), C(/usr/local/bin/mptcpd), ...).
      - When it does not exist, the task fails, except in check mode, where
        the version rules are skipped with a warning (mptcpd may be about to
        be installed).
    type: path
  version:
    description:
      - mptcpd version to validate against instead of asking O(binary), for
        example C(0.13) in check mode before the daemon is installed.
    type: str
  log:
    description: Logging destination of the daemon.
    type: str
    choices: [stderr, syslog, journal, 'null']
  plugin_dir:
    description:
      - Plugin directory (absolute). Omitted from the file when not set; mptcpd
        then uses its compile-time directory, which the module looks for
        beside O(binary) (C(<prefix>/lib/<triplet>/mptcpd), C(<prefix>/lib64/mptcpd),
        C(<prefix>/lib/mptcpd)) to check the plugin names.
    type: path
  path_manager:
    description: Default path manager plugin, for example C(addr_adv) or C(sspi).
    type: str
  addr_flags:
    description: Flags of the addresses the in-kernel path manager plugins announce.
    type: list
    elements: str
    choices: [subflow, signal, backup, fullmesh]
    default: []
  notify_flags:
    description: Which address notifications reach the plugins.
    type: list
    elements: str
    choices: [existing, skip_link_local, skip_loopback, check_route]
    default: []
  load_plugins:
    description: Plugins to load (all of O(plugin_dir) when empty), in load order.
    type: list
    elements: str
    default: []
author:
  - mptcp.lab developers (@multipath-tcp)
extends_documentation_fragment:
  - mptcp.lab.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
notes:
  - In check mode, when mptcpd is not installed yet and O(version) is not
    given, the version rules are skipped with a warning; the others apply.
seealso:
  - module: mptcp.lab.mptcp_info
'''

EXAMPLES = r'''
- name: Announce every address as a subflow endpoint, including those present at start
  mptcp.lab.mptcpd_config:
    path: /etc/mptcpd/mptcpd.conf
    log: stderr
    plugin_dir: /usr/lib/x86_64-linux-gnu/mptcpd
    path_manager: addr_adv
    addr_flags: [subflow]
    notify_flags: [existing, skip_link_local, skip_loopback]
  register: mptcpd_conf

- name: One configuration per network namespace of the lab
  mptcp.lab.mptcpd_config:
    path: /run/mptcp-lab/mlab-sink1/mptcpd.conf
    plugin_dir: /usr/lib/x86_64-linux-gnu/mptcpd
    path_manager: addr_adv
    addr_flags: [signal]
    notify_flags: [existing, skip_loopback]
'''

RETURN = r'''
path:
  description: The configuration file.
  returned: always
  type: str
  sample: /etc/mptcpd/mptcpd.conf
checksum:
  description: SHA-1 of the wanted file content (equal to the file's after a real run).
  returned: always
  type: str
  sample: 3a4e5c0d6e1f0a5b8c7d9e2f1a0b3c4d5e6f7a8b
content:
  description: The wanted file content.
  returned: always
  type: str
  sample: "[core]\nlog=stderr\npath-manager=addr_adv\n"
config:
  description: The normalized configuration (flags in canonical order, duplicates removed).
  returned: always
  type: dict
  sample: {log: stderr, plugin_dir: /usr/lib/x86_64-linux-gnu/mptcpd, path_manager: addr_adv,
           addr_flags: [subflow], notify_flags: [existing], load_plugins: []}
previous_config:
  description:
    - The configuration the file held before (same form as RV(config)), or null when there was no file.
    - Lets a caller find what the previous configuration did, for example
      endpoints announced with the previous O(addr_flags).
  returned: always
  type: dict
  sample: {log: stderr, plugin_dir: null, path_manager: addr_adv, addr_flags: [subflow],
           notify_flags: [existing], load_plugins: []}
version:
  description: The mptcpd version the configuration was validated against, or null if unknown.
  returned: always
  type: str
  sample: '0.12'
binary:
  description: The mptcpd executable that was asked for its version, or null.
  returned: always
  type: str
  sample: /usr/libexec/mptcpd
plugin_dir:
  description: The plugin directory the plugin names were checked against (given or found), or null.
  returned: always
  type: str
  sample: /usr/lib/x86_64-linux-gnu/mptcpd
plugins:
  description: Plugins found in that directory, or null when it is unknown or missing.
  returned: always
  type: list
  elements: str
  sample: [addr_adv, sspi]
'''

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mptcp.lab.plugins.module_utils.mptcp import mptcpd as mpd

HEADER = 'Managed by Ansible (mptcp.lab.mptcpd_config); local changes are overwritten.'


def detect_version(module):
    """(binary, version tuple) of the installed mptcpd; (None, None) if absent."""
    binary = module.params['binary'] or mpd.find_binary()
    if not binary or not os.path.exists(binary):
        return binary, None
    if not os.path.isfile(binary) or not os.access(binary, os.X_OK):
        module.fail_json(msg='binary: %s is not an executable file' % binary)
    rc, out, err = module.run_command([binary, '--version'], environ_update={'LC_ALL': 'C'})
    version = mpd.parse_version(out) or mpd.parse_version(err)
    if rc != 0 or version is None:
        module.fail_json(msg='binary: %s --version did not report an mptcpd version' % binary,
                         rc=rc, stdout=out, stderr=err)
    return binary, version


def read_text(path):
    try:
        with open(path) as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def write_text(module, path, text):
    """Write atomically with mode 0644 (owner and group left to the caller: root)."""
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    fd, tmp = tempfile.mkstemp(prefix='.mptcpd.conf.', dir=directory)
    try:
        with os.fdopen(fd, 'w') as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        module.atomic_move(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def run_module(module):
    p = module.params
    config = mpd.normalize(p)

    version = None
    binary = None
    if p['version']:
        version = mpd.parse_version_string(p['version'])
        if version is None:
            module.fail_json(msg="version: must look like '0.12' or '0.13.1', got %r" % p['version'])
    else:
        binary, version = detect_version(module)
        if version is None:
            if module.check_mode:
                module.warn('mptcpd is not installed (yet): version rules were not checked')
            else:
                module.fail_json(msg='binary: mptcpd not found (%s); install it first, or set binary'
                                 % (binary or 'tried ' + ', '.join(mpd.BINARY_CANDIDATES)))

    plugins = None
    plugin_dir = config['plugin_dir']
    if plugin_dir:
        plugins = mpd.available_plugins(plugin_dir)
        if plugins is None and not module.check_mode:
            module.fail_json(msg='plugin_dir: %s is not a readable directory' % plugin_dir)
    elif version is not None:
        # Not set: mptcpd uses its compile-time directory, found beside the binary.
        plugin_dir = mpd.detect_plugin_dir(binary)
        plugins = mpd.available_plugins(plugin_dir) if plugin_dir else None

    errors = mpd.validate(dict(config, plugin_dir=plugin_dir), version, plugins)
    if errors:
        module.fail_json(msg='; '.join(errors), errors=errors, version=mpd.version_string(version))

    content = mpd.render(config, header=HEADER)
    before = read_text(p['path'])
    changed = before != content
    if changed and not module.check_mode:
        write_text(module, p['path'], content)
    elif not changed:
        # Content equal: still make sure mptcpd accepts the file (not world-writable).
        mode = os.stat(p['path']).st_mode & 0o7777
        if mode != 0o644:
            changed = True
            if not module.check_mode:
                os.chmod(p['path'], 0o644)

    result = dict(changed=changed, path=p['path'], checksum=mpd.checksum(content), content=content,
                  config=config, previous_config=mpd.config_from_file(before),
                  version=mpd.version_string(version), binary=binary, plugins=plugins,
                  plugin_dir=plugin_dir)
    if module._diff:
        result['diff'] = dict(before=before or '', after=content,
                              before_header=p['path'], after_header=p['path'])
    module.exit_json(**result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', default='/etc/mptcpd/mptcpd.conf'),
            binary=dict(type='path'),
            version=dict(type='str'),
            log=dict(type='str', choices=list(mpd.LOG_CHOICES)),
            plugin_dir=dict(type='path'),
            path_manager=dict(type='str'),
            addr_flags=dict(type='list', elements='str', choices=list(mpd.ADDR_FLAGS), default=[]),
            notify_flags=dict(type='list', elements='str', choices=list(mpd.NOTIFY_FLAGS), default=[]),
            load_plugins=dict(type='list', elements='str', default=[]),
        ),
        supports_check_mode=True,
    )
    run_module(module)


if __name__ == '__main__':
    main()
