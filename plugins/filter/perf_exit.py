# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""``perf_exit_status``: the exit code of a perf run (README.md, "Exit codes").

0 when every test passed or had no baseline; 42 when a regression was found
with perf_fail_on_regression, or when a test is invalid (its measurements
failed their validity checks). Any other code is an error, and is Ansible's
(the run stopped before it was judged).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

EXIT_OK = 0
EXIT_VERDICT = 42


def invalid_tests(summary):
    """Names of the tests of a run record whose validity checks failed (``valid`` false or verdict 'invalid')."""
    out = []
    for i, test in enumerate(summary.get('tests') or []):
        if not isinstance(test, dict):
            continue
        if test.get('valid') is False or test.get('verdict') == 'invalid' or test.get('validity') == 'invalid':
            out.append(str(test.get('name', 'tests[%d]' % i)))
    return out


def perf_exit_status(summary, regressions=None, fail_on_regression=False, regression_message=''):
    """``{code, message, invalid, regressions}`` for a run record and its verdict's regressions."""
    if not isinstance(summary, dict):
        raise AnsibleFilterError('perf_exit_status: the run record must be a dict, got %r' % type(summary).__name__)
    regressions = list(regressions or [])
    invalid = invalid_tests(summary)
    reasons = []
    if invalid:
        reasons.append('%d invalid test(s): %s (see the table above)' % (len(invalid), ', '.join(invalid)))
    if regressions and fail_on_regression:
        names = sorted(set(str(r.get('test')) for r in regressions if isinstance(r, dict)))
        reasons.append(regression_message or '%d regression(s): %s' % (len(regressions), ', '.join(names)))
    code = EXIT_VERDICT if reasons else EXIT_OK
    return dict(code=code, invalid=invalid, regressions=len(regressions),
                message='run %s: %s' % (summary.get('run_id', '?'), '; '.join(reasons)) if reasons else '')


class FilterModule(object):
    """mptcp.lab perf run filters."""

    def filters(self):
        return {'perf_exit_status': perf_exit_status}
