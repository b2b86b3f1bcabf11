#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: perf_commands
short_description: Run a perf test's own pre or post commands on a lab host, never through a shell
version_added: 0.2.0
description:
  - Runs, in order, the commands a perf suite test gives for one end (suite key C(commands)) around one of its
    measurements, and returns what each did (exit code, time, output) for the run record.
  - A command is an argument list (O(commands[].argv)) executed directly, or a script (O(commands[].script), its
    text in O(scripts)) written to a private temporary file and executed as its own program with
    O(commands[].args); its C(#!) line picks the interpreter. No shell string is ever built.
  - A command that exits non-zero, cannot start or outlives O(commands[].timeout_s) (its whole process group is
    killed) fails the module unless it has O(commands[].ignore_errors); the commands after a failed one do not
    run. The perf suite runner then records the measurement as failed with the message.
  - The commands run with the privileges of the connection (root on the virtual lab, where the connection is the
    controller entering the host's network namespace), in the host's network namespace, with C(MPTCP_LAB_*)
    variables (O(env)) added to the environment.
options:
  commands:
    description: The commands to run, in order.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: How the command is named in messages and the record (for example C(pre[0])).
        type: str
        required: true
      argv:
        description: The program and its arguments, one item per argument.
        type: list
        elements: str
      script:
        description: A script's path on the controller; its text is O(scripts)[path].
        type: str
      args:
        description: Arguments of the script.
        type: list
        elements: str
        default: []
      timeout_s:
        description: Seconds the command may run.
        type: int
        default: 60
      ignore_errors:
        description: A failure of this command is recorded but does not fail the module.
        type: bool
        default: false
  scripts:
    description: The text of each script by its path (what the perf_suite module returns as C(scripts)).
    type: dict
    default: {}
  env:
    description: Variables added to the commands' environment; names must start with C(MPTCP_LAB_).
    type: dict
    default: {}
  label:
    description: What the commands belong to, prefixed to the failure message (for example C(tests[2] 'x' pre)).
    type: str
    default: commands
  output_limit:
    description: Bytes kept of each command's standard output and of its standard error (the start and the end).
    type: int
    default: 65536
author:
  - mptcp.lab developers (@multipath-tcp)
extends_documentation_fragment:
  - mptcp.lab.attributes
attributes:
  check_mode:
    support: full
    details: Nothing runs; the module predicts a change (the commands would run).
  diff_mode:
    support: full
    details: The diff lists the commands that run (or would run).
  platform:
    platforms: posix
'''

EXAMPLES = r'''
- name: Show the sink's endpoints before a measurement
  mptcp.lab.perf_commands:
    commands:
      - {name: "pre[0]", argv: [ip, mptcp, endpoint, show]}
    env: {MPTCP_LAB_TEST: mptcp-up, MPTCP_LAB_REP: "1"}
    label: "tests[1] 'mptcp-up' pre"
'''

RETURN = r'''
results:
  description:
    - One entry per command that ran, in order, with name, argv (what was executed; a script as C(script:<path>)
      followed by its arguments), rc (null when it did not start or timed out), timed_out, duration_s, ok
      (exit code 0), ignored (failed but O(commands[].ignore_errors)), stdout and stderr (cut to O(output_limit)).
  returned: always
  type: list
  elements: dict
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_commands import run_commands, shown


def check(params):
    """An error message for bad input, or None."""
    for i, cmd in enumerate(params['commands']):
        field = 'commands[%d]' % i
        if bool(cmd.get('argv')) == bool(cmd.get('script')):
            return '%s must have exactly one of argv (non-empty) and script' % field
        if cmd.get('script') and cmd['script'] not in params['scripts']:
            return '%s.script: %s has no text in scripts' % (field, cmd['script'])
        if cmd.get('argv') and any('\0' in a for a in cmd['argv']):
            return '%s.argv: an argument contains a NUL byte' % field
        if not 1 <= cmd['timeout_s'] <= 86400:
            return '%s.timeout_s must be 1..86400, got %d' % (field, cmd['timeout_s'])
    for name in params['env']:
        if not str(name).startswith('MPTCP_LAB_') or not str(name).replace('_', '').isalnum():
            return 'env: %r is not allowed: names start with MPTCP_LAB_ (letters, digits, "_")' % (name,)
    if params['output_limit'] < 256:
        return 'output_limit must be at least 256, got %d' % params['output_limit']
    return None


def run(p, check_mode):
    """Run the commands of ``p`` (the module's parameters); the module's result."""
    diff = {'before': {'ran': []}, 'after': {'ran': [shown(c) for c in p['commands']]}}
    if check_mode:
        return dict(changed=bool(p['commands']), results=[], diff=diff)
    results, error = run_commands(p['commands'], p['scripts'], p['env'], p['output_limit'], p['label'])
    result = dict(changed=bool(results), results=results, diff=diff)
    if error:
        result.update(failed=True, msg=error)
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            commands=dict(type='list', elements='dict', required=True, options=dict(
                name=dict(type='str', required=True),
                argv=dict(type='list', elements='str'),
                script=dict(type='str'),
                args=dict(type='list', elements='str', default=[]),
                timeout_s=dict(type='int', default=60),
                ignore_errors=dict(type='bool', default=False),
            )),
            scripts=dict(type='dict', default={}),
            env=dict(type='dict', default={}),
            label=dict(type='str', default='commands'),
            output_limit=dict(type='int', default=65536),
        ),
        supports_check_mode=True,
    )
    error = check(module.params)
    if error:
        module.fail_json(msg=error, results=[])
    result = run(module.params, module.check_mode)
    if result.get('failed'):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
