# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""mptcp.lab.lab_knobs, on the controller, without a module process.

The knobs are values of the play (inventory and -e), not state of a host:
checking them needs no host, no Python process and no transfer (a module
run costs about 0.3 s). The checks are the module's own: run() of
plugins/modules/lab_knobs.py, on the same parameters (all ``raw``), with the
same result and messages; the module file stays the documentation and the
code path for a direct module run.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.plugins.action import ActionBase

from ansible_collections.mptcp.lab.plugins.modules.lab_knobs import LAB_KNOBS, RUN_KNOBS
from ansible_collections.mptcp.lab.plugins.modules.lab_knobs import run as check_knobs

KNOBS = LAB_KNOBS + RUN_KNOBS


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = dict(self._task.args)
        unknown = sorted(set(args) - set(KNOBS))
        if unknown:
            result.update(failed=True, msg='Unsupported parameters for (mptcp.lab.lab_knobs) module: %s. Supported '
                                           'parameters include: %s.' % (', '.join(unknown), ', '.join(sorted(KNOBS))))
            return result
        try:
            errors, checked = check_knobs(dict((name, args.get(name)) for name in KNOBS))
        except Exception as exc:  # pylint: disable=broad-except
            # never a traceback for bad input: say which check broke instead
            result.update(failed=True, msg='lab_knobs: a knob could not be checked (%s: %s)'
                                           % (type(exc).__name__, exc))
            return result
        if errors:
            result.update(failed=True, msg='; '.join(errors), errors=errors, checked=checked)
        else:
            result.update(changed=False, checked=checked)
        return result
