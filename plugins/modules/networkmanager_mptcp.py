#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) mptcp.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: networkmanager_mptcp
short_description: Detect NetworkManager managing MPTCP endpoints, and refuse or turn it off
version_added: 0.1.0
description:
  - NetworkManager 1.40 and later add MPTCP endpoints for the addresses of the
    devices it manages (C(connection.mptcp-flags); the value 0 means the
    global default of C(NetworkManager.conf), whose own fallback is
    C(enabled,subflow)). A path-manager daemon such as mptcpd manages the
    same endpoints, and two managers fight over them.
  - The module reads the global default from C(NetworkManager.conf) and its
    C(conf.d) snippets (in NetworkManager's reading order), asks C(nmcli) for
    each connection profile's C(connection.mptcp-flags) when NetworkManager
    runs, and reads the keyfiles in C(system-connections) when it does not.
  - With O(policy=refuse) the task fails, listing what enables MPTCP, when
    NetworkManager runs and manages MPTCP endpoints.
  - With O(policy=disable) it writes a drop-in file that makes C(disabled) the
    global default, sets C(disabled) on every profile whose own flags enable
    MPTCP (C(nmcli connection modify)), reloads NetworkManager's configuration
    and reapplies the active devices whose behaviour changed.
  - Files of others that still enable MPTCP (a later C(conf.d) file, a
    device-matched C([connection-*]) section) are not edited; the task fails
    and names them.
  - What V(disable) changed is returned in RV(previous); given back as
    O(previous) with O(policy=revert), it puts NetworkManager back as it was.
options:
  policy:
    description:
      - V(detect) only reports.
      - V(refuse) fails when NetworkManager manages MPTCP endpoints.
      - V(disable) turns NetworkManager's MPTCP endpoint handling off.
      - V(revert) undoes what V(disable) did, as O(previous) describes it -
        the drop-in gets its previous content back (or goes, when it did not
        exist), each listed profile whose flags are still C(disabled) gets
        its previous flags back (a profile changed since, or gone, is left
        alone with a warning); then NetworkManager reloads its configuration
        and reapplies the active devices whose MPTCP handling changes.
    type: str
    choices: [detect, refuse, disable, revert]
    default: detect
  previous:
    description:
      - With O(policy=revert), the state to put back - RV(previous) of the
        V(disable) run (or runs) to undo.
    type: dict
    suboptions:
      drop_in:
        description: Content of the drop-in file before V(disable) wrote it; null when it did not exist.
        type: str
      connections:
        description: Profiles V(disable) changed, with their flags before the change.
        type: list
        elements: dict
        default: []
        suboptions:
          uuid:
            description: The profile's UUID.
            type: str
            required: true
          name:
            description: The profile's name (for messages only).
            type: str
          flags:
            description: Its C(connection.mptcp-flags) value before the change (0 is the default).
            type: int
            required: true
  drop_in:
    description:
      - Name of the file V(disable) writes in C(/etc/NetworkManager/conf.d).
      - It must sort after every other file there that sets C(connection.mptcp-flags);
        otherwise the task fails and names the file that wins.
    type: str
    default: 99-mptcp-lab-mptcpd.conf
  config_root:
    description:
      - Directory under which NetworkManager's configuration paths are read
        and written (C(/) on a live system; a mounted image or a test
        fixture otherwise). C(nmcli) is not affected.
    type: path
    default: /
  reapply:
    description: With V(disable), reapply active devices whose MPTCP handling changed (C(nmcli device reapply)).
    type: bool
    default: true
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
  - NetworkManager runs in the initial network namespace only; on the hosts of
    the netns lab there is nothing to detect.
  - NetworkManager also needs C(net.mptcp.enabled=1) and, by default, a
    default route on the device before it adds endpoints; the module does not
    count on either and treats an enabling configuration as managing.
'''

EXAMPLES = r'''
- name: Fail if NetworkManager would fight mptcpd over MPTCP endpoints
  mptcp.lab.networkmanager_mptcp:
    policy: refuse

- name: Leave MPTCP endpoints to mptcpd
  mptcp.lab.networkmanager_mptcp:
    policy: disable

- name: Only look
  mptcp.lab.networkmanager_mptcp:
  register: nm

- name: Turn it off, remembering what changed
  mptcp.lab.networkmanager_mptcp:
    policy: disable
  register: nm_off

- name: Later, put NetworkManager back as it was
  mptcp.lab.networkmanager_mptcp:
    policy: revert
    previous: "{{ nm_off.previous }}"
'''

RETURN = r'''
installed:
  description: Whether NetworkManager (the daemon or nmcli) is installed.
  returned: always
  type: bool
  sample: true
running:
  description: Whether NetworkManager runs (answers nmcli).
  returned: always
  type: bool
  sample: true
version:
  description: NetworkManager's version, or null when unknown.
  returned: always
  type: str
  sample: 1.42.4
managing:
  description: Whether NetworkManager runs and manages MPTCP endpoints (before any change).
  returned: always
  type: bool
  sample: true
reasons:
  description: What enables MPTCP endpoint handling in NetworkManager.
  returned: always
  type: list
  elements: str
  sample: ["connection 'Wired' (5f0c...) enables MPTCP endpoints (enabled,subflow) through NetworkManager's built-in default (enabled,subflow)"]
global_default:
  description: The global C(connection.mptcp-flags) default and the file it comes from, or null.
  returned: always
  type: dict
  sample: {value: 1, names: [disabled], file: /etc/NetworkManager/conf.d/99-mptcp-lab-mptcpd.conf}
connections:
  description: Connection profiles with their own and effective MPTCP flags.
  returned: always
  type: list
  elements: dict
  sample: [{uuid: 5f0c, name: Wired, device: eth0, active: true, flags: 0, effective: 34,
            effective_names: [enabled, subflow], enables: true}]
previous:
  description:
    - What this call changed, as it was before - the drop-in's previous
      content (null when it did not exist) and the profiles whose flags
      V(disable) set to C(disabled), with their previous flags. The
      O(previous) of a later V(revert). Without a change, no profile and the
      drop-in as it is.
  returned: always
  type: dict
  sample: {drop_in: null, connections: [{uuid: 77aa, name: Spare, flags: 34}]}
actions:
  description: What V(disable) or V(revert) did (or would do in check mode).
  returned: always
  type: list
  elements: str
  sample: ["write /etc/NetworkManager/conf.d/99-mptcp-lab-mptcpd.conf", "nmcli connection modify 5f0c connection.mptcp-flags disabled"]
'''

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mptcp.lab.plugins.module_utils.mptcp import networkmanager as nm

DAEMON_PATHS = ('usr/sbin/NetworkManager', 'usr/bin/NetworkManager')


def _read(path):
    try:
        with open(path) as handle:
            return handle.read()
    except (IOError, OSError):
        return None


class NetworkManagerProbe(object):
    """Reads NetworkManager's state: nmcli when it runs, files otherwise."""

    def __init__(self, module):
        self.module = module
        self.root = module.params['config_root']
        self.nmcli = module.get_bin_path('nmcli')

    def nmcli_run(self, *args, **kwargs):
        return self.module.run_command([self.nmcli] + list(args), environ_update={'LC_ALL': 'C'}, **kwargs)

    def nmcli_check(self, *args):
        rc, out, err = self.nmcli_run(*args)
        if rc != 0:
            self.module.fail_json(msg='nmcli %s failed' % ' '.join(args), rc=rc, stdout=out, stderr=err)
        return out

    def installed(self):
        return bool(self.nmcli) or any(os.path.exists(os.path.join(self.root, p)) for p in DAEMON_PATHS) \
            or os.path.isdir(os.path.join(self.root, 'etc/NetworkManager'))

    def status(self):
        """(running, version tuple or None)."""
        if not self.nmcli:
            return False, None
        rc, out, _err = self.nmcli_run('-t', '-f', 'RUNNING,VERSION', 'general')
        if rc == 0:
            fields = nm.split_terse(out.strip())
            if fields and fields[0] == 'running':
                return True, nm.parse_version(fields[1] if len(fields) > 1 else '')
        rc, out, _err = self.nmcli_run('--version')
        return False, nm.parse_version(out) if rc == 0 else None

    def conf_texts(self, extra=None):
        """(path, text) of the configuration files; extra=(path, text) adds or replaces one."""
        files = nm.conf_files(self.root, extra_etc=[os.path.basename(extra[0])] if extra else ())
        texts = []
        for path in files:
            text = extra[1] if extra and path == extra[0] else _read(path)
            if text is not None:
                texts.append((path, text))
        return texts

    def connections_nmcli(self):
        conns = nm.parse_connection_list(
            self.nmcli_check('-t', '-f', 'UUID,NAME,DEVICE,ACTIVE', 'connection', 'show'))
        for conn in conns:
            out = self.nmcli_check('-t', '-g', 'connection.mptcp-flags', 'connection', 'show', 'uuid', conn['uuid'])
            try:
                conn['flags'] = nm.parse_flags(out.strip())
            except nm.FlagsError as exc:
                self.module.fail_json(msg='connection %s: %s' % (conn['uuid'], exc))
            conn['file'] = None
        return conns

    def connections_keyfiles(self):
        conns = []
        for rel in nm.KEYFILE_DIRS:
            directory = os.path.join(self.root, rel)
            try:
                names = sorted(os.listdir(directory))
            except OSError:
                continue
            for name in names:
                if not name.endswith('.nmconnection'):
                    continue
                path = os.path.join(directory, name)
                text = _read(path)
                if text is None:
                    continue
                try:
                    conns.append(nm.keyfile_connection(path, text))
                except nm.FlagsError as exc:
                    self.module.fail_json(msg='%s: %s' % (path, exc))
        return conns


def run_module(module):
    p = module.params
    probe = NetworkManagerProbe(module)
    name = p['drop_in']
    if '/' in name or not name.endswith('.conf') or name.startswith('.'):
        module.fail_json(msg="drop_in: must be a file name ending in .conf, without '/', got %r" % name)
    drop_in = os.path.join(p['config_root'], nm.CONF_ETC_DIR, name)

    result = dict(changed=False, installed=probe.installed(), running=False, version=None,
                  managing=False, reasons=[], global_default=None, connections=[], actions=[],
                  previous=dict(drop_in=_read(drop_in), connections=[]))
    if p['policy'] == 'revert':
        run_revert(module, probe, drop_in, result)
    if not result['installed']:
        module.exit_json(**result)

    running, version = probe.status()
    result.update(running=running, version='.'.join(str(v) for v in version) if version else None)
    try:
        global_default, device_defaults = nm.conf_defaults(probe.conf_texts())
    except nm.FlagsError as exc:
        module.fail_json(msg=str(exc), **result)
    connections = probe.connections_nmcli() if running and nm.supports_mptcp(version) \
        else probe.connections_keyfiles()
    managing, reasons = nm.assess(running, version, global_default, device_defaults, connections)
    if global_default:
        global_default = dict(global_default, names=nm.flag_names(global_default['value']))
    result.update(managing=managing, reasons=reasons, global_default=global_default,
                  connections=connections)

    if p['policy'] == 'refuse':
        if managing:
            module.fail_json(msg='NetworkManager %s manages MPTCP endpoints, which mptcpd manages too: %s. '
                                 'Set policy disable (role: mptcpd_networkmanager_policy=disable) to turn '
                                 "NetworkManager's MPTCP handling off, or configure connection.mptcp-flags=disabled."
                                 % (result['version'] or '', '; '.join(reasons)), **result)
        if reasons and not running and nm.supports_mptcp(version):
            module.warn('NetworkManager is installed but not running; once started it would manage '
                        'MPTCP endpoints: %s' % '; '.join(reasons))
        module.exit_json(**result)
    if p['policy'] == 'detect' or not nm.supports_mptcp(version):
        module.exit_json(**result)

    # policy == disable
    current_text = _read(drop_in)
    global_after, _devices = nm.conf_defaults(probe.conf_texts(extra=(drop_in, nm.DROP_IN_TEXT)))
    plan = nm.disable_plan(global_after, device_defaults, connections, drop_in, current_text)
    if not running:
        plan['blockers'] += ['profile %r (%s) has mptcp-flags=%s and NetworkManager is not running to change it'
                             % (c['name'], c['file'], ','.join(nm.flag_names(c['flags']))) for c in plan['modify']]
    if plan['blockers']:
        module.fail_json(msg='cannot turn NetworkManager MPTCP handling off: %s' % '; '.join(plan['blockers']),
                         blockers=plan['blockers'], **result)

    actions = []
    if plan['write_drop_in']:
        actions.append('write %s' % drop_in)
    for conn in plan['modify']:
        actions.append('nmcli connection modify %s connection.mptcp-flags disabled' % conn['uuid'])
    reapply = []
    if running and actions:
        actions.append('nmcli general reload conf')
        if p['reapply']:
            reapply = sorted(set(c['device'] for c in connections
                                 if c.get('active') and c.get('device') and c.get('enables')))
            actions += ['nmcli device reapply %s' % dev for dev in reapply]
    result['actions'] = actions
    result['changed'] = bool(actions)
    result['previous'] = dict(drop_in=current_text,
                              connections=[dict(uuid=c['uuid'], name=c['name'], flags=c['flags'])
                                           for c in plan['modify']])

    if actions and not module.check_mode:
        if plan['write_drop_in']:
            _write_drop_in(module, drop_in, nm.DROP_IN_TEXT)
        for conn in plan['modify']:
            probe.nmcli_check('connection', 'modify', 'uuid', conn['uuid'], 'connection.mptcp-flags', 'disabled')
        if running:
            probe.nmcli_check('general', 'reload', 'conf')
            for dev in reapply:
                probe.nmcli_check('device', 'reapply', dev)

    if module._diff:
        result['diff'] = dict(before=dict(managing=managing, global_default=global_default,
                                          drop_in=current_text or ''),
                              after=dict(managing=False if actions else managing,
                                         global_default=dict(value=nm.DISABLED, names=['disabled'], file=drop_in),
                                         drop_in=nm.DROP_IN_TEXT))
    module.exit_json(**result)


def _write_drop_in(module, drop_in, text):
    directory = os.path.dirname(drop_in)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    fd, tmp = tempfile.mkstemp(prefix='.mptcp-lab.', dir=directory)
    with os.fdopen(fd, 'w') as handle:
        handle.write(text)
    os.chmod(tmp, 0o644)
    module.atomic_move(tmp, drop_in)


def run_revert(module, probe, drop_in, result):
    """Put back what a disable run changed (module.params['previous']); exits."""
    previous = module.params['previous'] or {}
    wanted_text = previous.get('drop_in')
    current_text = _read(drop_in)
    actions, warnings = [], []
    if wanted_text is None and current_text is not None:
        actions.append('remove %s' % drop_in)
    elif wanted_text is not None and current_text != wanted_text:
        actions.append('write %s (its previous content)' % drop_in)
    drop_in_action = bool(actions)

    restore, reapply = [], []
    wanted = previous.get('connections') or []
    running, version = probe.status() if result['installed'] else (False, None)
    result.update(running=running, version='.'.join(str(v) for v in version) if version else None)
    if wanted and not result['installed']:
        warnings.append('NetworkManager is not installed any more: the flags of %d profile(s) cannot be given back'
                        % len(wanted))
    if wanted and result['installed'] and nm.supports_mptcp(version):
        if not running:
            module.fail_json(msg='cannot revert NetworkManager MPTCP handling: NetworkManager is not running to '
                                 'give back the flags of %s' % ', '.join(repr(c.get('name') or c['uuid'])
                                                                         for c in wanted), **result)
        current = dict((c['uuid'], c) for c in probe.connections_nmcli())
        result['connections'] = list(current.values())
        for item in wanted:
            conn = current.get(item['uuid'])
            label = '%r (%s)' % (item.get('name') or '', item['uuid'])
            if conn is None:
                warnings.append('profile %s is gone; nothing to give back' % label)
            elif conn['flags'] == item['flags']:
                continue
            elif conn['flags'] != nm.DISABLED:
                warnings.append('profile %s has mptcp-flags=%s, changed since it was disabled; left alone'
                                % (label, ','.join(nm.flag_names(conn['flags']))))
            else:
                restore.append((conn, item['flags']))
                actions.append('nmcli connection modify %s connection.mptcp-flags 0x%x' % (conn['uuid'], item['flags']))
        if actions and running:
            texts = probe.conf_texts()
            if wanted_text is None:
                after_texts = [t for t in texts if t[0] != drop_in]
            else:
                after_texts = probe.conf_texts(extra=(drop_in, wanted_text))
            try:
                before_default = (nm.conf_defaults(texts)[0] or {}).get('value', 0)
                after_default = (nm.conf_defaults(after_texts)[0] or {}).get('value', 0)
            except nm.FlagsError as exc:
                module.fail_json(msg=str(exc), **result)
            flags_after = dict((conn['uuid'], flags) for conn, flags in restore)
            for conn in current.values():
                if not (conn.get('active') and conn.get('device')):
                    continue
                was = nm.enables(nm.effective(conn['flags'], before_default))
                will = nm.enables(nm.effective(flags_after.get(conn['uuid'], conn['flags']), after_default))
                if was != will:
                    reapply.append(conn['device'])
            actions.append('nmcli general reload conf')
            if module.params['reapply']:
                reapply = sorted(set(reapply))
                actions += ['nmcli device reapply %s' % dev for dev in reapply]
    elif actions and running:
        actions.append('nmcli general reload conf')

    for warning in warnings:
        module.warn(warning)
    result.update(actions=actions, changed=bool(actions), previous=dict(drop_in=current_text, connections=[]))
    if actions and not module.check_mode:
        if drop_in_action:
            if wanted_text is None:
                os.unlink(drop_in)
            else:
                _write_drop_in(module, drop_in, wanted_text)
        for conn, flags in restore:
            probe.nmcli_check('connection', 'modify', 'uuid', conn['uuid'], 'connection.mptcp-flags', '0x%x' % flags)
        if running:
            probe.nmcli_check('general', 'reload', 'conf')
            for dev in (reapply if module.params['reapply'] else []):
                probe.nmcli_check('device', 'reapply', dev)
    if module._diff:
        result['diff'] = dict(
            before=dict(drop_in=current_text or '',
                        connections=dict((c['uuid'], c['flags']) for c, _flags in restore)),
            after=dict(drop_in=wanted_text or '',
                       connections=dict((c['uuid'], flags) for c, flags in restore)))
    module.exit_json(**result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            policy=dict(type='str', default='detect', choices=['detect', 'refuse', 'disable', 'revert']),
            previous=dict(type='dict', options=dict(
                drop_in=dict(type='str'),
                connections=dict(type='list', elements='dict', default=[], options=dict(
                    uuid=dict(type='str', required=True),
                    name=dict(type='str'),
                    flags=dict(type='int', required=True),
                )),
            )),
            drop_in=dict(type='str', default='99-mptcp-lab-mptcpd.conf'),
            config_root=dict(type='path', default='/'),
            reapply=dict(type='bool', default=True),
        ),
        required_if=[('policy', 'revert', ['previous'])],
        supports_check_mode=True,
    )
    run_module(module)


if __name__ == '__main__':
    main()
