#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: supervised_process
short_description: Supervise a long-running process without systemd
version_added: 0.2.0
description:
  - Starts, stops, restarts or reports a long-running process, tracked by a
    pidfile and a small state file in O(run_dir).
  - Works where no service manager runs, for example in a network namespace
    host of the virtual lab, and on real hosts alike.
  - The process is detached (new session, stdin from C(/dev/null), output to
    O(log_file)) and inherits the network namespace the module runs in.
  - A running process is restarted when O(argv), O(env), O(config_checksum)
    or the user and group it runs as (O(user), O(group)) differ from the ones
    it was started with.
  - With O(user), the process runs with dropped privileges (see O(user)),
    while the pidfile, state file and log file stay owned by the user that
    runs the module.
  - Readiness is a condition, not a delay; with O(wait_for_port) the module
    returns once the process (or one of its children) owns a listening TCP
    socket on that port, and fails with the log tail if the process exits first.
  - A pid is only trusted when the kernel start time of the process matches
    the one recorded at start, so a recycled pid is never signalled.
  - Before 0.2.0 this module was named C(mptcp.lab.daemon); that name still
    works (it is redirected here), is deprecated, and will be removed in 2.0.0.
    The pidfile and state file are the same, so processes started under the
    old name are managed under the new one.
options:
  name:
    description:
      - Identifier of the process; names the pidfile C(<run_dir>/<name>.pid),
        the state file and the default log file.
      - Must be unique per host. Network namespaces on one machine share the
        file system, so include the host name when several namespace hosts run
        the same program; the module refuses to manage a process that runs in
        another network namespace.
    type: str
    required: true
  argv:
    description:
      - Command and arguments, as a list (never a shell string).
      - The command is looked up in PATH when it has no slash.
      - Required when O(state) is V(started) or V(restarted).
    type: list
    elements: str
  env:
    description:
      - Extra environment variables for the process. C(LC_ALL=C) is always set.
      - Without O(user) the process inherits the module's environment; with
        O(user) it gets only a fixed minimal one (see O(user)) and these.
    type: dict
    default: {}
  user:
    description:
      - Run the process as this user (a name or a numeric uid), which must
        exist on the host.
      - The process gets the user's uid as real, effective and saved uid, the
        gid of O(group) as real, effective and saved gid, no supplementary
        groups, an empty capability bounding set, no capabilities, and the
        C(no_new_privs) flag, so neither setuid programs nor file capabilities
        give privileges back (as C(setpriv --reuid --regid --clear-groups
        --bounding-set=-all --no-new-privs) would). This is done in the forked
        child right before C(exec).
      - The process starts from a minimal environment, not the module's, made of
        C(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin),
        C(LC_ALL=C), C(HOME), C(USER) and C(LOGNAME) (the user's), and O(env).
      - The command and the files it reads must be accessible to that user; the
        log file is opened by the module and only inherited as a descriptor.
      - Part of the process's identity, so a change restarts it.
      - Unset, the process runs as the user that runs the module.
      - Only used when O(state) is V(started) or V(restarted).
    type: str
  group:
    description:
      - Group (a name or a numeric gid, which must exist) the process runs as
        with O(user); defaults to the user's primary group.
      - Needs O(user). Part of the process's identity, so a change restarts it.
    type: str
  capabilities:
    description:
      - Capabilities the process keeps with O(user) (in its permitted,
        effective, inheritable, ambient and bounding sets); every other one is
        dropped. For example V(net_admin) lets an iperf3 server set a
        congestion control that C(net.ipv4.tcp_allowed_congestion_control)
        does not list.
      - Needs O(user). Part of the process's identity, so a change restarts it.
    type: list
    elements: str
    choices: [net_admin, net_bind_service, net_raw]
    default: []
  state:
    description:
      - V(started) starts the process if it is not running, or restarts it when
        its command, environment or O(config_checksum) changed.
      - V(stopped) stops it (SIGTERM, then SIGKILL after O(timeout)).
      - V(restarted) always (re)starts it.
      - V(status) only reports; it never changes anything.
    type: str
    choices: [started, stopped, restarted, status]
    default: started
  run_dir:
    description:
      - Directory for the pidfile, state file and default log file; created
        (mode 0755) when missing.
      - It and its parents must be owned by root (or the module's user) and
        not writable by group or others (a sticky parent such as C(/tmp) is
        accepted); the module refuses another one, naming the rule. Files
        in it are written to a fresh temporary file and renamed, and never
        opened through a symlink (a planted one is refused, not followed).
        The same holds for the directory of O(log_file).
    type: path
    default: /run/mptcp-lab
  log_file:
    description: File that receives the process's stdout and stderr (appended).
    type: path
  wait_for_port:
    description:
      - TCP port on which the process must listen (in the network namespace of
        the host) before the module returns.
    type: int
  config_checksum:
    description:
      - Opaque string, typically the checksum of the process's configuration
        file; when it differs from the one recorded at start, V(started)
        restarts the process.
    type: str
  timeout:
    description: Seconds to wait for readiness on start, or for exit on stop.
    type: float
    default: 10
author:
  - mptcp.lab developers (@multipath-tcp)
extends_documentation_fragment:
  - mptcp.lab.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
'''

EXAMPLES = r'''
- name: Run an iperf3 server that accepts MPTCP, ready once it listens
  mptcp.lab.supervised_process:
    name: "{{ inventory_hostname }}-iperf3-5201"
    argv: [mptcpize, run, iperf3, --server, --port, "5201"]
    wait_for_port: 5201

- name: Run an iperf3 server as nobody/nogroup, without privileges
  mptcp.lab.supervised_process:
    name: "{{ inventory_hostname }}-iperf3-5202"
    argv: [iperf3, --server, --port, "5202"]
    user: nobody
    group: nogroup
    wait_for_port: 5202

- name: Run mptcpd and restart it when its configuration changes
  mptcp.lab.supervised_process:
    name: "{{ inventory_hostname }}-mptcpd"
    argv: [/usr/libexec/mptcpd, --config-file, /etc/mptcp-lab/mptcpd.conf]
    config_checksum: "{{ mptcpd_conf.checksum }}"

- name: Is it running?
  mptcp.lab.supervised_process:
    name: "{{ inventory_hostname }}-mptcpd"
    state: status
  register: mptcpd_status

- name: Stop the server
  mptcp.lab.supervised_process:
    name: "{{ inventory_hostname }}-iperf3-5201"
    state: stopped
'''

RETURN = r'''
pid:
  description: Pid of the running process, or null when it is not running.
  returned: always
  type: int
  sample: 4242
running:
  description: Whether the process runs after the module finished.
  returned: always
  type: bool
  sample: true
pidfile:
  description: Path of the pidfile.
  returned: always
  type: str
  sample: /run/mptcp-lab/sink1-iperf3-5201.pid
log_file:
  description: Path of the log file.
  returned: always
  type: str
  sample: /run/mptcp-lab/sink1-iperf3-5201.log
argv:
  description: Command line of the running process (as recorded at start).
  returned: always
  type: list
  elements: str
  sample: [mptcpize, run, iperf3, --server, --port, "5201"]
user:
  description: User the running process was started as with O(user), or null (the module's user).
  returned: always
  type: str
  sample: nobody
group:
  description: Group the running process was started as with O(user), or null.
  returned: always
  type: str
  sample: nogroup
listening:
  description: With O(state=status) and O(wait_for_port), whether the process listens on that port.
  returned: when state is status and wait_for_port is set
  type: bool
  sample: true
reason:
  description: Why the module (re)started or stopped the process, or null.
  returned: always
  type: str
  sample: argv changed
'''

import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mptcp.lab.plugins.module_utils.process import safe_files
from ansible_collections.mptcp.lab.plugins.module_utils.process.supervised_process import (
    POLL_S, Daemon, is_alive, listening, netns_id, resolve_credentials, restart_reason)


def _view(rec):
    if not rec:
        return dict(running=False, pid=None, argv=None, user=None, group=None)
    return dict(running=True, pid=rec['pid'], argv=rec.get('argv'),
                config_checksum=rec.get('config_checksum'),
                user=rec.get('user'), group=rec.get('group'))


def run_module(module):
    try:
        _run(module)
    except safe_files.UnsafePath as e:
        module.fail_json(msg='%s: %s' % ('log_file' if module.params['log_file'] else 'run_dir', e))


def _run(module):
    p = module.params
    state = p['state']
    name = p['name']
    if not name or '/' in name or name.startswith('.'):
        module.fail_json(msg="name: must be a non-empty file name without '/' "
                             "and not starting with '.', got %r" % name)
    if state in ('started', 'restarted') and not p['argv']:
        module.fail_json(msg='argv: required (a non-empty list) when state is %s' % state)
    if p['wait_for_port'] is not None and not 0 < p['wait_for_port'] < 65536:
        module.fail_json(msg='wait_for_port: must be 1..65535, got %d' % p['wait_for_port'])
    if p['timeout'] <= 0:
        module.fail_json(msg='timeout: must be > 0, got %s' % p['timeout'])
    creds = None
    if state in ('started', 'restarted'):
        try:
            creds = resolve_credentials(p['user'], p['group'])
        except ValueError as e:
            module.fail_json(msg=str(e))
        if p['capabilities'] and not creds:
            module.fail_json(msg='capabilities: needs user (the capabilities a dropped-privilege process keeps)')
        if creds:
            creds['capabilities'] = sorted(set(p['capabilities']))
        if creds and os.geteuid() != 0 and creds['uid'] != os.geteuid():
            module.fail_json(msg='user: running as %s (uid %d) needs root; the module runs as uid %d'
                                 % (creds['user'], creds['uid'], os.geteuid()))

    d = Daemon(name, p['run_dir'], p['log_file'])
    d.check_dirs()          # also in check mode: a refused directory fails both ways
    cur = d.current()
    if cur and cur.get('netns') not in (None, netns_id()):
        module.fail_json(msg='name: %r is used by pid %d in another network namespace; '
                             'give each host its own name or run_dir' % (name, cur['pid']))
    result = dict(changed=False, pidfile=d.pidfile, log_file=d.log_file, reason=None)
    before = _view(cur)

    argv, env = None, {}
    if state in ('started', 'restarted'):
        argv = list(p['argv'])
        if '/' not in argv[0]:
            argv[0] = module.get_bin_path(argv[0], required=True)
        else:
            argv[0] = os.path.abspath(argv[0])
        env = dict((str(k), str(v)) for k, v in (p['env'] or {}).items())

    reason = None
    if state == 'started':
        if cur is None:
            reason = 'not running'
        else:
            reason = restart_reason(cur, dict(argv=argv, env=env,
                                              config_checksum=p['config_checksum'],
                                              uid=creds and creds['uid'], gid=creds and creds['gid'],
                                              capabilities=creds and creds['capabilities']))
    elif state == 'restarted':
        reason = 'restart requested' if cur else 'not running'
    elif state == 'stopped' and cur is not None:
        reason = 'stop requested'

    after = before
    if reason:
        result['changed'] = True
        result['reason'] = reason
        if state == 'stopped':
            after = _view(None)
        else:
            after = dict(running=True, pid=None, argv=argv, config_checksum=p['config_checksum'],
                         user=creds and creds['user'], group=creds and creds['group'])
        if not module.check_mode:
            if cur is not None:
                err = d.stop(cur, p['timeout'])
                if err:
                    module.fail_json(msg=err, **result)
            if state != 'stopped':
                rec, err = d.start(argv, env, p['config_checksum'], p['wait_for_port'], p['timeout'],
                                   creds)
                if err:
                    if d.current():
                        d.stop(rec, p['timeout'])
                    module.fail_json(msg='%s: %s' % (name, err), log_tail=d.log_tail(), **result)
                after = _view(rec)
    elif state == 'started' and cur is not None and p['wait_for_port'] is not None:
        # Already running: still verify readiness (cheap), so callers can rely on it.
        deadline = time.monotonic() + p['timeout']
        while not listening(cur['pid'], p['wait_for_port']):
            if time.monotonic() > deadline or not is_alive(cur['pid'], cur.get('starttime')):
                module.fail_json(msg='%s: pid %d is running but does not listen on TCP port %d'
                                     % (name, cur['pid'], p['wait_for_port']),
                                 log_tail=d.log_tail(), **result)
            time.sleep(POLL_S)

    if state == 'status' and p['wait_for_port'] is not None:
        result['listening'] = bool(cur) and listening(cur['pid'], p['wait_for_port'])
    result.update(running=after['running'], pid=after['pid'], argv=after['argv'],
                  user=after['user'], group=after['group'])
    if module._diff:
        result['diff'] = dict(before=before, after=after)
    module.exit_json(**result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='str', required=True),
            argv=dict(type='list', elements='str'),
            env=dict(type='dict', default={}),
            user=dict(type='str'),
            group=dict(type='str'),
            capabilities=dict(type='list', elements='str', default=[],
                              choices=['net_admin', 'net_bind_service', 'net_raw']),
            state=dict(type='str', default='started',
                       choices=['started', 'stopped', 'restarted', 'status']),
            run_dir=dict(type='path', default='/run/mptcp-lab'),
            log_file=dict(type='path'),
            wait_for_port=dict(type='int'),
            config_checksum=dict(type='str', no_log=False),
            timeout=dict(type='float', default=10),
        ),
        supports_check_mode=True,
    )
    run_module(module)


if __name__ == '__main__':
    main()
