# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: perf_progress
type: notification
short_description: Progress lines with an ETA while a perf suite runs
version_added: 0.1.0
description:
  - Before each measurement of a perf suite runs, prints
    C([k/N] <test> rep r/R — ETA mm:ss), so whoever watches sees what is running
    and how long the rest will take.
  - It learns the plan from the result of M(mptcp.lab.perf_suite) (its C(perf_plan)),
    prints the first line when a M(mptcp.lab.perf_measure) (or M(mptcp.lab.perf_latency)) task starts, and the next
    line as soon as a measurement item finishes (the next item starts right then).
  - The ETA comes from the measured pace - the wall time per planned traffic second
    so far - times the planned traffic seconds left; before the first measurement
    ends it assumes 1 s of overhead per measurement.
  - Costs no task. Enable it with C(callbacks_enabled = mptcp.lab.perf_progress)
    (the project's ansible.cfg does).
  - Exit codes (README.md, "Exit codes") - when C(playbooks/perf.yml) judged the run and its only failure
    is its last task (C(Fail the run with exit code 42), after the fact C(perf_exit) with code 42),
    ansible-playbook exits with 42 instead of Ansible's 2. It raises SystemExit(42) at the end of
    C(v2_playbook_on_stats), after the recap; callbacks enabled after this one then miss their stats.
  - Leases (M(mptcp.lab.lab_lease)) - when the playbook ends (its stats, or the interpreter's exit after
    Ctrl-C) with a lease of this ansible-playbook still held, it asks the lease's guardian to remove what
    the run created at once and waits for it (at most 60 s), so that ansible-playbook ends after the cleanup.
requirements:
  - enabled in callbacks_enabled
author:
  - mptcp.lab developers (@multipath-tcp)
'''

import atexit
import os
import sys
import time

from ansible.plugins.callback import CallbackBase

MEASURE_ACTIONS = ('mptcp.lab.perf_measure', 'perf_measure', 'mptcp.lab.perf_latency', 'perf_latency')
LEASE_ACTIONS = ('mptcp.lab.lab_lease', 'lab_lease')
FAIL_ACTIONS = ('ansible.builtin.fail', 'fail', 'ansible.legacy.fail')
FIRST_GUESS_OVERHEAD_S = 1.0
EXIT_VERDICT = 42
LEASE_CLEANUP_TIMEOUT_S = 60


def format_eta(seconds):
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return '%d:%02d:%02d' % (hours, minutes, secs)
    return '%02d:%02d' % (minutes, secs)


class Progress(object):
    """Progress bookkeeping, separate from Ansible for unit tests."""

    def __init__(self, plan, clock=time.monotonic):
        self.plan = sorted(plan, key=lambda i: i['k'])
        self.clock = clock
        self.done = 0
        self.start = None

    def planned_left(self, k):
        return sum(i['planned_s'] for i in self.plan[k - 1:])

    def eta(self, k):
        """Seconds left when item k (1-based) is about to start."""
        left = self.planned_left(k)
        if self.start is None or self.done == 0:
            return left + FIRST_GUESS_OVERHEAD_S * (len(self.plan) - k + 1)
        done_planned = sum(i['planned_s'] for i in self.plan[:self.done])
        pace = (self.clock() - self.start) / done_planned if done_planned else 1.0
        return left * pace

    def line(self, k):
        item = self.plan[k - 1]
        if self.start is None:
            self.start = self.clock()
        return '[%d/%d] %s rep %d/%d \u2014 ETA %s' % (k, len(self.plan), item['test'], item['rep'],
                                                       item['reps'], format_eta(self.eta(k)))

    def finished(self, item):
        """Record that ``item`` ended; returns the k of the next item or None."""
        self.done = max(self.done, int(item.get('k', self.done + 1)))
        if self.done >= len(self.plan):
            return None
        return self.done + 1


class ExitStatus(object):
    """Whether a playbook's failures amount to exit code 42 (pure, for unit tests).

    The playbook states its outcome (the fact ``perf_exit``: ``{code, message}``); 42 stands when
    that outcome is 42, no failure came before it, and the one failure after it is a fail task.
    """

    def __init__(self):
        self.outcome = None
        self.before = 0
        self.after = []

    def saw_outcome(self, outcome):
        if isinstance(outcome, dict) and 'code' in outcome:
            self.outcome = outcome

    def failed(self, action):
        if self.outcome is None:
            self.before += 1
        else:
            self.after.append(action)

    def code(self):
        if not self.outcome or self.outcome.get('code') != EXIT_VERDICT or self.before:
            return None
        if len(self.after) == 1 and self.after[0] in FAIL_ACTIONS:
            return EXIT_VERDICT
        return None


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'notification'
    CALLBACK_NAME = 'mptcp.lab.perf_progress'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self.progress = None
        self.exit_status = ExitStatus()
        self.leases = {}          # lock_dir -> True: where this ansible-playbook took a lease
        self.pid = os.getpid()
        self.cleanup_registered = False

    def _is_measure(self, task):
        return getattr(task, 'action', None) in MEASURE_ACTIONS

    def v2_runner_on_ok(self, result):
        plan = result._result.get('perf_plan')
        if isinstance(plan, list) and plan and all(isinstance(i, dict) and 'k' in i for i in plan):
            self.progress = Progress(plan)
        facts = result._result.get('ansible_facts')
        if isinstance(facts, dict) and 'perf_exit' in facts:
            self.exit_status.saw_outcome(facts['perf_exit'])
        if getattr(result._task, 'action', None) in LEASE_ACTIONS and result._result.get('acquired'):
            files = result._result.get('lock_files') or []
            if files:
                self.leases[os.path.dirname(files[0])] = True
                if not self.cleanup_registered:
                    atexit.register(self.release_leases)
                    self.cleanup_registered = True

    def v2_runner_on_failed(self, result, ignore_errors=False):
        if not ignore_errors:
            self.exit_status.failed(getattr(result._task, 'action', None))

    def v2_runner_on_unreachable(self, result):
        self.exit_status.failed(getattr(result._task, 'action', None))

    def release_leases(self):
        """Have the guardian of every lease this ansible-playbook still holds clean up now; wait for it."""
        if os.getpid() != self.pid or not self.leases:
            return []
        try:
            from ansible_collections.mptcp.lab.plugins.module_utils.lab import lab_lease
        except ImportError:
            return []
        owner = (self.pid, lab_lease.proc_start(self.pid))
        done = []
        for lock_dir in sorted(self.leases):
            for holder in lab_lease.held_by(lock_dir, owner):
                if holder.get('state') == 'cleanup failed' or holder.get('guardian') in [h.get('guardian') for h in done]:
                    continue
                sys.stderr.write('lab %s: this run ends without releasing its lease: removing what it created\n'
                                 % (holder.get('lab') or {}).get('prefix'))
                sys.stderr.flush()
                try:
                    lab_lease.signal_guardian(holder, lab_lease.CLEANUP_SIGNAL, LEASE_CLEANUP_TIMEOUT_S)
                except (lab_lease.LeaseError, OSError) as exc:
                    sys.stderr.write('lab lease: %s\n' % exc)
                done.append(holder)
            for holder in lab_lease.held_by(lock_dir, owner):
                sys.stderr.write('lab %s: the cleanup after this run failed (%s): see %s, then make teardown\n'
                                 % ((holder.get('lab') or {}).get('prefix'),
                                    '; '.join(holder.get('cleanup_errors') or ['guardian gone']), lock_dir))
        self.leases = {}
        return done

    def v2_playbook_on_stats(self, stats):
        self.release_leases()
        code = self.exit_status.code()
        if code is not None:
            self._display.display('exit code %d: %s' % (code, self.exit_status.outcome.get('message', '')))
            sys.stdout.flush()
            raise SystemExit(code)

    def v2_playbook_on_task_start(self, task, is_conditional):
        if self.progress and self._is_measure(task) and self.progress.done < len(self.progress.plan):
            self._display.display(self.progress.line(self.progress.done + 1))

    def _item_done(self, result):
        if not self.progress or not self._is_measure(result._task):
            return
        item = result._result.get(result._result.get('ansible_loop_var', 'item'))
        if not isinstance(item, dict) or 'k' not in item:
            return
        nxt = self.progress.finished(item)
        if nxt is not None and not item.get('seg_last', False):
            self._display.display(self.progress.line(nxt))

    # Skipped items are not measurements: the measurement loop also runs, and
    # skips, on the sink (which meanwhile changes endpoints between segments).
    v2_runner_item_on_ok = _item_done
    v2_runner_item_on_failed = _item_done
