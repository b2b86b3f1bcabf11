# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Names the ansible-playbook process as the guard of a guarded module's processes.

Shared by mptcp.lab.debug_monitor and mptcp.lab.packet_capture. The action
runs in a worker that the ansible-playbook process forked, so the worker's
parent is the run itself. The module, on the host, watches that process
through a pidfd when it can see it (same boot and PID namespace), so what it
started ends with the run, Ctrl-C included.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible.plugins.action import ActionBase
from ansible_collections.mptcp.lab.plugins.module_utils.process.guarded_process import guard_of


class ActionModule(ActionBase):

    MODULE = 'mptcp.lab.debug_monitor'

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = dict(self._task.args)
        if args.get('state', 'started') == 'started' and not args.get('guard'):
            args['guard'] = guard_of(os.getppid())
        result.update(self._execute_module(module_name=self.MODULE, module_args=args, task_vars=task_vars))
        return result
