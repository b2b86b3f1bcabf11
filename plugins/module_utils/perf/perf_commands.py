# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Run a perf test's own commands (suite key commands) on a host, never through a shell.

An argument list is executed as it is; a script's text is written to a
private temporary file (0700) and executed as its own program (its ``#!``
line picks the interpreter). Each command has a timeout after which its
whole process group is killed; its output is kept, cut in the middle when
long. Used by the mptcp.lab.perf_commands module.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import signal
import subprocess
import tempfile
import time


def clip(data, limit):
    """Text of ``data`` (bytes), its start and end kept when longer than ``limit`` bytes."""
    if len(data) > limit:
        half = limit // 2
        data = data[:half] + b'\n[... %d bytes cut ...]\n' % (len(data) - 2 * half) + data[-half:]
    return data.decode('utf-8', 'replace')


def shown(cmd):
    """What a command runs, for messages and the record: a script as ``script:<path>`` and its arguments."""
    return (['script:' + cmd['script']] + list(cmd.get('args') or [])) if cmd.get('script') else list(cmd['argv'])


def run_one(cmd, argv, env, limit):
    """Run ``argv`` for ``cmd`` ({name, timeout_s, ...}); its result entry."""
    started = time.monotonic()
    entry = {'name': cmd['name'], 'argv': shown(cmd), 'rc': None, 'timed_out': False, 'stdout': '', 'stderr': ''}
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=env, start_new_session=True)
    except OSError as e:
        entry.update(stderr='cannot start: %s' % e, duration_s=round(time.monotonic() - started, 3), ok=False)
        return entry
    try:
        out, err = proc.communicate(timeout=cmd['timeout_s'])
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        out, err = proc.communicate()
        entry['timed_out'] = True
    else:
        entry['rc'] = proc.returncode
    entry.update(stdout=clip(out, limit), stderr=clip(err, limit), duration_s=round(time.monotonic() - started, 3),
                 ok=entry['rc'] == 0)
    return entry


def failure(label, entry):
    """The message of a failed command."""
    why = ('ran longer than its timeout_s (killed)' if entry['timed_out'] else
           'could not start' if entry['rc'] is None else 'exited with %d' % entry['rc'])
    tail = (entry['stderr'] or entry['stdout']).strip().splitlines()[-3:]
    return '%s: %s %s %s%s' % (label, entry['name'], entry['argv'], why, (': ' + ' | '.join(tail)) if tail else '')


def run_commands(commands, scripts, extra_env, limit, label):
    """Run ``commands`` in order; (results, error message or None). A failure stops the ones after it."""
    env = dict(os.environ, **dict((str(k), str(v)) for k, v in (extra_env or {}).items()))
    results, error = [], None
    workdir = tempfile.mkdtemp(prefix='mptcp-lab-commands.')
    try:
        for i, cmd in enumerate(commands):
            argv = cmd.get('argv')
            if cmd.get('script'):
                path = os.path.join(workdir, 'script-%d' % i)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o700)
                with os.fdopen(fd, 'w') as handle:
                    handle.write(scripts[cmd['script']])
                argv = [path] + list(cmd.get('args') or [])
            entry = run_one(cmd, argv, env, limit)
            entry['ignored'] = not entry['ok'] and bool(cmd.get('ignore_errors'))
            results.append(entry)
            if not entry['ok'] and not cmd.get('ignore_errors'):
                error = failure(label, entry)
                break
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return results, error
