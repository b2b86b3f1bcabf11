#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: lab_knobs
short_description: Check the lab and perf run knobs before anything is created
version_added: 0.2.0
description:
  - Checks the inventory knobs of the lab and of a perf run as the play sees them (inventory
    variables and C(-e) values), so that a bad value stops C(playbooks/provision.yml) or
    C(playbooks/perf.yml) in their first play, before a namespace, a qdisc or a process exists.
  - Numbers must be finite (no C(.nan), C(.inf)) and within the ranges the kernel and the tools
    accept (for example a path rate in [0.01, 34000] Mbit/s, what tbf and htb express); numeric
    fields of C(lab_paths) must not be strings; booleans must be booleans; names and run ids must
    have their format.
  - Every bad knob is reported at once, one line each, naming the variable, the rule and the
    value. Knobs that are not given (null or omitted) are not checked.
  - Runs on the controller. Changes nothing.
options:
  lab_prefix:
    description: The lab prefix, 1-10 lowercase letters or digits, starting with a letter.
    type: raw
  lab_kind:
    description: V(virtual), V(vm) or V(bare_metal).
    type: raw
  lab_paths:
    description: The lab's paths, C({rate_mbit, delay_ms, loss_pct, queue_limit}) each, 1 to 8 of them.
    type: raw
  lab_address_base:
    description: The address plan's base network (IPv4 CIDR).
    type: raw
  lab_subnet_prefix:
    description: The address plan's subnet length, an integer in [16, 30].
    type: raw
  lab_table_base:
    description: The routing table number before path 1's.
    type: raw
  lab_bottleneck:
    description: The lab's shared bottleneck, null or C({rate_mbit}) with a rate in Mbit/s.
    type: raw
  perf_suite:
    description: The suite name or file.
    type: raw
  perf_suite_format:
    description: The suite's format, V(auto) (recognised), V(mptcp.lab) or V(upstream).
    type: raw
  perf_duration_s:
    description: Override of every test's duration, an integer in [1, 86400] or empty.
    type: raw
  perf_repetitions:
    description: Override of every test's repetitions, an integer in [1, 1000] or empty.
    type: raw
  perf_results_dir:
    description:
      - The results directory, by its text (not empty, not C(.), no C(#), C(?), C(%) or control
        characters). The M(mptcp.lab.perf_suite) module checks it against the file system.
    type: raw
  perf_suite_run_id:
    description: A run id chosen by the user (letters, digits, C(.), C(_), C(-)).
    type: raw
  perf_generator:
    description: The generator that runs the suite.
    type: raw
  perf_keep_lab:
    description: Boolean.
    type: raw
  perf_provision:
    description: Boolean.
    type: raw
  perf_fail_on_regression:
    description: Boolean.
    type: raw
  perf_baseline:
    description: A run id to compare with, or empty.
    type: raw
  perf_baseline_runs:
    description: An integer in [1, 1000].
    type: raw
  perf_alpha:
    description: A finite number in (0, 1).
    type: raw
  perf_min_effect_pct:
    description: A finite number in [0, 1000] (percent).
    type: raw
  perf_metric_min_effect:
    description:
      - A mapping of metric names (docs/run-record.md) to finite numbers in [0, 1000] (percent),
        or its JSON text.
    type: raw
  perf_judged_metrics:
    description: A list of metric names (or their comma-separated text), or empty.
    type: raw
author:
  - mptcp.lab developers (@multipath-tcp)
extends_documentation_fragment:
  - mptcp.lab.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
'''

EXAMPLES = r'''
- name: Check the lab and run knobs before anything exists
  mptcp.lab.lab_knobs:
    lab_prefix: "{{ lab_prefix | default(omit) }}"
    lab_paths: "{{ lab_paths | default(omit) }}"
    perf_alpha: "{{ perf_alpha | default(omit) }}"
'''

RETURN = r'''
checked:
  description: The names of the knobs that were given and checked.
  returned: always
  type: list
  elements: str
  sample: [lab_paths, lab_prefix, perf_alpha]
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mptcp.lab.plugins.module_utils.lab.lab_plan import check_lab_knobs
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_knobs import check_run_knobs

LAB_KNOBS = ('lab_prefix', 'lab_kind', 'lab_paths', 'lab_address_base', 'lab_subnet_prefix', 'lab_table_base',
             'lab_bottleneck')
RUN_KNOBS = ('perf_suite', 'perf_suite_format', 'perf_duration_s', 'perf_repetitions', 'perf_results_dir', 'perf_suite_run_id',
             'perf_generator', 'perf_keep_lab', 'perf_provision', 'perf_fail_on_regression', 'perf_baseline',
             'perf_baseline_runs', 'perf_alpha', 'perf_min_effect_pct', 'perf_metric_min_effect',
             'perf_judged_metrics')


def run(params):
    """(errors, checked names) of the knobs given (not None) in params."""
    given = dict((k, v) for k, v in params.items() if v is not None)
    errors = check_lab_knobs(dict((k, v) for k, v in given.items() if k in LAB_KNOBS))
    errors += check_run_knobs(dict((k, v) for k, v in given.items() if k in RUN_KNOBS))
    return errors, sorted(given)


def main():
    module = AnsibleModule(
        argument_spec=dict((name, dict(type='raw')) for name in LAB_KNOBS + RUN_KNOBS),
        supports_check_mode=True,
    )
    try:
        errors, checked = run(module.params)
    except Exception as exc:  # pylint: disable=broad-except
        # never a traceback for bad input: say which check broke instead
        module.fail_json(msg='lab_knobs: a knob could not be checked (%s: %s)' % (type(exc).__name__, exc))
    if errors:
        module.fail_json(msg='; '.join(errors), errors=errors, checked=checked)
    module.exit_json(changed=False, checked=checked)


if __name__ == '__main__':
    main()
