# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""A perf test's own commands (suite key commands) around its measurements.

``perf_items_one_by_one``: whether a segment's measurements go one by one
(a capture or commands around each). ``perf_item_commands``: the commands
of one phase an end runs for a plan item, as mptcp.lab.perf_commands takes
them. ``perf_command_errors``: what failed among the ends' results of one
phase. ``perf_with_commands``: a measurement's result with what both ends'
commands did (``commands``) and, when one failed, the error that makes the
run fail (``commands_error``); the run record takes both from there.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

PHASES = ('pre', 'post')
ENDS = ('generator', 'sink')


def perf_items_one_by_one(items):
    """True when a plan item of ``items`` has a capture or commands of its own."""
    return any(isinstance(i, dict) and (i.get('capture') or i.get('commands')) for i in items or [])


def perf_item_commands(item, phase, end):
    """The commands of ``phase`` (pre, post) that ``end`` (generator, sink; anything else: none) runs for ``item``."""
    if phase not in PHASES:
        raise AnsibleFilterError('perf_item_commands: phase must be pre or post, got %r' % (phase,))
    if end not in ENDS:
        return []
    out = []
    for i, cmd in enumerate(((item or {}).get('commands') or {}).get(phase) or []):
        if cmd.get('host', 'all') not in (end, 'all'):
            continue
        entry = {'name': '%s[%d]' % (phase, i), 'timeout_s': cmd.get('timeout_s', 60),
                 'ignore_errors': bool(cmd.get('ignore_errors'))}
        if 'script' in cmd:
            entry.update(script=cmd['script'], args=list(cmd.get('args') or []))
        else:
            entry['argv'] = list(cmd['argv'])
        out.append(entry)
    return out


def _outcome(result):
    """(ran, error) of one host's perf_commands task result (a skipped task: nothing ran)."""
    if not isinstance(result, dict) or result.get('skipped'):
        return False, None
    if result.get('unreachable'):
        return True, 'unreachable: %s' % (result.get('msg') or '')
    if result.get('failed'):
        return True, str(result.get('msg') or 'failed')
    return True, None


def perf_command_errors(results, hosts):
    """['<host>: <message>'] for the hosts whose commands failed, from their results in ``hosts`` order."""
    out = []
    for host, result in zip(list(hosts or []), list(results or [])):
        _ran, error = _outcome(result)
        if error:
            out.append('%s: %s' % (host, error))
    return out


def perf_with_commands(run, hosts, pre, post):
    """``run`` (a measurement's task result) with ``commands`` and, after a failure, ``commands_error``."""
    if not isinstance(run, dict):
        raise AnsibleFilterError('perf_with_commands: the measurement result must be a dict, got %r' % (run,))
    commands, errors = [], []
    for phase, results in (('pre', pre), ('post', post)):
        for host, result in zip(list(hosts or []), list(results or [])):
            ran, error = _outcome(result)
            if not ran:
                continue
            for entry in result.get('results') or []:
                commands.append(dict(entry, host=host, phase=phase))
            if error:
                errors.append('%s %s: %s' % (host, phase, error))
    out = dict(run, commands=commands)
    if errors:
        out['commands_error'] = 'commands failed: ' + '; '.join(errors)
    return out


class FilterModule(object):
    """mptcp.lab perf command filters."""

    def filters(self):
        return {
            'perf_items_one_by_one': perf_items_one_by_one,
            'perf_item_commands': perf_item_commands,
            'perf_command_errors': perf_command_errors,
            'perf_with_commands': perf_with_commands,
        }
