#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: perf_upstream_test
short_description: Run one test of a suite in the MPTCP community harness's format on the netns lab
version_added: 0.3.0
description:
  - Runs one test of a suite written for multipath-tcp/mptcp-upstream-virtme-docker (its C(perf.yml)
    format), as M(mptcp.lab.perf_suite) translated it (RV(mptcp.lab.perf_suite#module:upstream)), the
    way that harness runs it, with the netns lab standing in for its two VMs.
  - Builds fresh hosts for the test, as the harness boots fresh VMs - namespaces C(<prefix>-uc) (the
    client) and C(<prefix>-us) (the server), each with C(eth0..ethN-1), one per bridge, path i on
    10.0.i.0/24 with the client at .2 and the server at .3 - joined by one bridge per path in
    C(<prefix>-ub), whose ports carry the bridge's rate (tbf) and, when the kernel has netem, its
    delay and loss. Everything goes at the end of the test, also when it fails.
  - Then the C(pre) and C(all) stats, a per-second sampler (the harness's dstat), the steps (each
    host's command of a step at once, with the step's C(timeout_s) and C(ignore_err); the first
    failed step ends the steps), the C(post) and C(all) stats; C(stats/dstat.json) trimmed to the
    C(dstat_only) window and C(dstat) offsets; the validations in the test's directory when no step
    failed; and the regression steps' C(json_field) values.
  - Steps, stats and validations are the suite's own shell text, each given to C(bash) as one
    argument; nothing is assembled from pieces. They see C(RESULTS_DIR), C(HOSTNAME) and a PATH
    starting with O(tools_dir), whose C(iperf3) takes C(--mptcp) also where iperf3 is older than 3.19.
  - A failed step, validation or regression value makes the test invalid (C(valid), C(invalid_reason));
    the module itself fails only on bad input or when the test's namespaces exist already.
options:
  test:
    description: One test as M(mptcp.lab.perf_suite) returns it in RV(mptcp.lab.perf_suite#module:upstream).
    type: dict
    required: true
  prefix:
    description:
      - The lab's prefix (C(lab_prefix), its rule); the test's namespaces are C(<prefix>-uc), C(<prefix>-us)
        and C(<prefix>-ub).
    type: str
    required: true
  run_dir:
    description: The run's directory; the test's results go to C(<run_dir>/upstream/<slug>/).
    type: path
    required: true
  tools_dir:
    description: Directory put first in the steps' PATH (mptcp.lab's C(iperf3) wrapper).
    type: path
notes:
  - In check mode nothing is built or run; RV(valid) is false with C(skipped=true).
author:
  - mptcp.lab developers (@multipath-tcp)
extends_documentation_fragment:
  - mptcp.lab.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
'''

EXAMPLES = r'''
- name: Run each test of an upstream-format suite
  mptcp.lab.perf_upstream_test:
    test: "{{ item }}"
    prefix: mlab
    run_dir: /srv/mptcp-lab/results/20261207T120000Z-1a2b3c
    tools_dir: "{{ role_path }}/files/upstream/bin"
  loop: "{{ planned.upstream }}"
  register: upstream_results
'''

RETURN = r'''
name:
  description: The test's name.
  returned: always
  type: str
results_dir:
  description: The test's results directory, relative to O(run_dir) (C(upstream/<slug>)).
  returned: always
  type: str
valid:
  description: Whether every step, validation and regression value succeeded.
  returned: always
  type: bool
invalid_reason:
  description: Why not, each failure named.
  returned: always
  type: str
steps:
  description: Each step on each host, in order, C({name, host, rc, timed_out, ignored, duration_s, ok}).
  returned: always
  type: list
  elements: dict
validation:
  description: Each validation, C({name, rc, ok}); empty when a step failed.
  returned: always
  type: list
  elements: dict
regression:
  description: The test's C(alpha), C(history_max_n), C(history_since) and each regression step with its C(value).
  returned: always
  type: dict
per_path_mbps:
  description: Each path's rate over the C(dstat_only) window, Mbit/s (the larger receive mean of its two ends).
  returned: always
  type: list
  elements: float
window_s:
  description: Seconds between the first and the last sample kept in C(stats/dstat.json).
  returned: always
  type: int
not_honoured:
  description: What of the test this lab could not do as written (C({field, value, reason})), never silently.
  returned: always
  type: list
  elements: dict
wall_s:
  description: Seconds the test took, building and removing its hosts included.
  returned: always
  type: float
applied:
  description: Each bridge's shaping as applied (C(delay_ms) and C(loss_pc) null where the kernel has no netem).
  returned: when the hosts were built
  type: list
  elements: dict
kernel:
  description: The kernel the test ran on (the machine's, whose namespaces the hosts are).
  returned: always
  type: str
'''

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mptcp.lab.plugins.module_utils.lab import lab_netlink as nl
from ansible_collections.mptcp.lab.plugins.module_utils.lab.lab_plan import PlanError, check_prefix
from ansible_collections.mptcp.lab.plugins.module_utils.perf import upstream_run

TEST_KEYS = ('name', 'slug', 'timeout_s', 'bridges', 'bridges_hw_accel', 'stats', 'steps', 'validation',
             'regression', 'dstat', 'steps_sha256', 'not_honoured')


def main():
    module = AnsibleModule(
        argument_spec=dict(
            test=dict(type='dict', required=True),
            prefix=dict(type='str', required=True),
            run_dir=dict(type='path', required=True),
            tools_dir=dict(type='path'),
        ),
        supports_check_mode=True,
    )
    p = module.params
    missing = [k for k in TEST_KEYS if k not in p['test']]
    if missing:
        module.fail_json(msg='test: %s missing: pass a test of mptcp.lab.perf_suite\'s upstream list'
                         % ', '.join(missing))
    try:
        check_prefix(p['prefix'])
    except PlanError as e:
        module.fail_json(msg='prefix: %s' % e)
    test = p['test']
    rel = os.path.join('upstream', test['slug'])
    base = dict(changed=False, name=test['name'], results_dir=rel, kernel=os.uname()[2])
    if module.check_mode:
        module.exit_json(valid=False, skipped=True, invalid_reason='check mode: not run', steps=[], validation=[],
                         regression=test['regression'], per_path_mbps=[], window_s=None,
                         not_honoured=test['not_honoured'], **base)
    for ns in upstream_run.l2_paths.namespaces(p['prefix']).values():
        if nl.netns_exists(ns):
            module.fail_json(msg='prefix: namespace %s exists already: another run of lab %s is using it, or a '
                                 'killed one left it (ip netns del %s)' % (ns, p['prefix'], ns), **base)
    test_dir = os.path.join(p['run_dir'], rel)
    try:
        os.makedirs(test_dir)
    except OSError as exc:
        module.fail_json(msg='run_dir: cannot make %s: %s' % (test_dir, exc.strerror), **base)
    outcome = upstream_run.run_test(test, p['prefix'], test_dir, tools_dir=p['tools_dir'])
    outcome.update(base)
    module.exit_json(**outcome)


if __name__ == '__main__':
    main()
