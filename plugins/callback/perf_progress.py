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
    prints the first line when a M(mptcp.lab.perf_measure) task starts, and the next
    line as soon as a measurement item finishes (the next item starts right then).
  - The ETA comes from the measured pace - the wall time per planned traffic second
    so far - times the planned traffic seconds left; before the first measurement
    ends it assumes 1 s of overhead per measurement.
  - Costs no task. Enable it with C(callbacks_enabled = mptcp.lab.perf_progress)
    (the project's ansible.cfg does).
requirements:
  - enabled in callbacks_enabled
author:
  - mptcp.lab developers (@multipath-tcp)
'''

import time

from ansible.plugins.callback import CallbackBase

MEASURE_ACTIONS = ('mptcp.lab.perf_measure', 'perf_measure')
FIRST_GUESS_OVERHEAD_S = 1.0


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


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'notification'
    CALLBACK_NAME = 'mptcp.lab.perf_progress'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self.progress = None

    def _is_measure(self, task):
        return getattr(task, 'action', None) in MEASURE_ACTIONS

    def v2_runner_on_ok(self, result):
        plan = result._result.get('perf_plan')
        if isinstance(plan, list) and plan and all(isinstance(i, dict) and 'k' in i for i in plan):
            self.progress = Progress(plan)

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
