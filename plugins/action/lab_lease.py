# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""mptcp.lab.lab_lease, on the controller, in the ansible-playbook worker.

The lease is the controller's (locks under /run/mptcp-lab/locks, a guardian
watching the ansible-playbook process): taking it needs no module process,
and a module run costs Ansible about a second of CPU (packing the module,
starting Python, importing its module_utils from the zip). A provisioning, a
teardown and a perf run each take and give back a lease, so this saves two
module runs per playbook. The code is the module's own run() (its argument
spec, checks, messages and warnings); the guardian is double-forked from the
worker exactly as from the module process, and finds the same
ansible-playbook process up the parent chain (the worker's parent). On any
connection other than the controller's own (``local``), the module runs
instead.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.mptcp.lab.plugins.module_utils.lab import lab_lease
from ansible_collections.mptcp.lab.plugins.modules.lab_lease import ARGUMENT_SPEC
from ansible_collections.mptcp.lab.plugins.modules.lab_lease import run as run_lease


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        if getattr(self._connection, 'transport', None) != 'local':
            result.update(self._execute_module(module_name='mptcp.lab.lab_lease', module_args=self._task.args,
                                               task_vars=task_vars))
            return result
        checked = ArgumentSpecValidator(ARGUMENT_SPEC).validate(dict(self._task.args))
        if checked.error_messages:
            result.update(failed=True, msg='; '.join(checked.error_messages))
            return result
        try:
            out, warnings = run_lease(checked.validated_parameters, self._task.check_mode)
        except lab_lease.LeaseError as exc:
            result.update(failed=True, msg=str(exc))
            return result
        result.update(out)
        if warnings:
            result['warnings'] = warnings
        result['changed'] = False
        return result
