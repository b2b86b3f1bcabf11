#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: perf_history
short_description: Record a perf run in the results history (SQLite)
version_added: "0.1.0"
description:
  - Reads a run record (C(<results_dir>/<run_id>/summary.json)) and stores every test of it in
    the history database, keyed by the test's identity (suite test name, protocol, the paths it
    uses and their shaping, streams, direction), with the kernel release and host metadata.
  - Every test is stored, valid or not. A test is invalid when the perf runner marked it so, a
    repetition failed, an MPTCP test fell back to TCP, or no repetition gave a throughput.
    Invalid tests are kept, marked, and never used as a baseline.
  - The write is one SQLite transaction (WAL journal, busy timeout), so an aborted or concurrent
    run never leaves a partial or corrupt history. Recording the same run again changes nothing.
  - Runs on the controller (or wherever the results directory is).
author:
  - mptcp.lab developers (@multipath-tcp)
options:
  results_dir:
    description: The perf results directory (C(perf_results_dir)) holding one directory per run.
    type: path
    required: true
  run:
    description:
      - Which run to record, a run id (a directory name under O(results_dir)), V(latest) (the run
        the C(latest) symlink points at) or the path of a C(summary.json).
    type: str
    default: latest
  history_db:
    description: The history database. Defaults to C(history.sqlite) in O(results_dir).
    type: path
  lab_paths:
    description:
      - Deprecated and ignored. A test's identity comes from its run record alone (its own
        C(shaping), else the record's C(lab_paths)), never from a caller's argument.
    type: list
    elements: dict
  backfill:
    description:
      - Also record every other run under O(results_dir) (a directory with a C(summary.json))
        that the history does not hold yet, for instance runs made before the history existed
        or whose play stopped before this step. A record that cannot be read or breaks the
        contract (for example a C(streams) of V(two)) is skipped, with a warning, and listed in
        RV(skipped); it never stops the run. Each run is its own transaction.
    type: bool
    default: false
extends_documentation_fragment:
  - mptcp.lab.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
notes:
  - Needs only the Python standard library (sqlite3).
seealso:
  - module: mptcp.lab.perf_verdict
  - module: mptcp.lab.perf_report
"""

EXAMPLES = r"""
- name: Record the latest run in the history
  mptcp.lab.perf_history:
    results_dir: /srv/mptcp-lab/results

- name: Record an older run by its id
  mptcp.lab.perf_history:
    results_dir: results
    run: 20261125T081537Z
"""

RETURN = r"""
run_id:
  description: The id of the recorded run.
  returned: always
  type: str
  sample: 20261125T081537Z
status:
  description:
    - V(added), V(replaced) (the run was stored with other content) or V(unchanged).
    - V(missing) in check mode when the run record does not exist (a check-mode perf run writes
      none); nothing is predicted then.
  returned: always
  type: str
  sample: added
history_db:
  description: Absolute path of the history database.
  returned: always
  type: str
  sample: /srv/mptcp-lab/results/history.sqlite
runs_in_history:
  description: How many runs the history holds after this one (before, in check mode).
  returned: always
  type: int
  sample: 12
backfilled:
  description: The other runs recorded because of O(backfill).
  returned: always
  type: list
  elements: str
  sample: [20261124T200102Z]
skipped:
  description: The run records that O(backfill) could not record, and why.
  returned: always
  type: list
  elements: dict
  sample:
    - path: /srv/mptcp-lab/results/20261101T000000Z/summary.json
      reason: "test 'tcp': streams must be an integer, got 'two'"
tests:
  description: Each test of the run as stored.
  returned: always
  type: list
  elements: dict
  sample:
    - name: mptcp-2paths-up
      test_key: 3f1c2a9b0d4e5f60
      valid: true
      invalid_reason: ""
      n: 5
      median: 91.7
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_record import (
    RecordError, load_summary, normalize, open_run)
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_store import Store, run_module


def stored_runs(db_path):
    """The run ids the history holds (none when it does not exist yet)."""
    if not os.path.exists(db_path):
        return set()
    store = Store(db_path, readonly=True)
    try:
        return set(store.run_ids()) if store.schema_version() else set()
    finally:
        store.close()


def backfill(results_dir, db_path, skip, check_mode, warn):
    """Record the runs under results_dir that the history lacks.

    Returns (ids added, [{path, reason}] skipped): a malformed record is
    reported and passed over, never fatal.
    """
    candidates = []
    for name in sorted(os.listdir(results_dir)):
        path = os.path.join(results_dir, name, 'summary.json')
        if name == 'latest' or name == skip or os.path.islink(os.path.join(results_dir, name)):
            continue
        if os.path.isfile(path):
            candidates.append((name, path))
    if not candidates:
        return [], []
    stored = stored_runs(db_path)
    added, skipped = [], []
    store = None
    try:
        for name, path in candidates:
            if name in stored:
                continue
            try:
                record = normalize(load_summary(path))
            except RecordError as exc:
                warn('backfill: skipped %s: %s' % (path, exc))
                skipped.append({'path': path, 'reason': str(exc)})
                continue
            if record['run']['run_id'] in stored or record['run']['run_id'] == skip:
                continue
            if not check_mode:
                store = store or Store(db_path)
                store.ingest(record)
            added.append(record['run']['run_id'])
    finally:
        if store is not None:
            store.close()
    return added, skipped


def record_run(params, check_mode, warn=None):
    """Read the run record and store it; returns the module result (dict)."""
    warn = warn or (lambda msg: None)
    if params.get('lab_paths') is not None:
        warn('lab_paths is deprecated and ignored: identity comes from the run record')
    opened = open_run(params, check_mode)
    if opened.record is None:
        # a check-mode perf run writes no record: there is nothing to predict
        return {'changed': False, 'run_id': opened.run_id, 'status': 'missing',
                'history_db': opened.db_path, 'runs_in_history': 0, 'tests': [], 'backfilled': [],
                'skipped': [], 'msg': 'no run record at %s (check mode): nothing to record' % opened.summary_path,
                'diff': {'before': {}, 'after': {}}}
    record, db_path, run_id = opened.record, opened.db_path, opened.run_id
    tests = [{'name': r['identity']['name'], 'test_key': r['test_key'], 'valid': r['valid'],
              'invalid_reason': r['invalid_reason'], 'n': r['n'], 'median': r['median']}
             for r in record['results']]

    before_hash = None
    runs = 0
    if os.path.exists(db_path):
        store = Store(db_path, readonly=True)
        try:
            before_hash = store.run_hash(run_id) if store.schema_version() else None
            runs = store.count_runs() if store.schema_version() else 0
        finally:
            store.close()
    if before_hash == record['content_hash']:
        status = 'unchanged'
    elif check_mode:
        status = 'replaced' if before_hash else 'added'
    else:
        store = Store(db_path)
        try:
            status = store.ingest(record)
            runs = store.count_runs()
        finally:
            store.close()
    if check_mode and status == 'added':
        runs += 1
    filled, skipped = [], []
    if params['backfill']:
        filled, skipped = backfill(opened.results_dir, db_path, run_id, check_mode, warn)
        runs += len(filled)
    result = {'changed': status != 'unchanged' or bool(filled), 'run_id': run_id, 'status': status,
              'backfilled': filled, 'skipped': skipped,
              'history_db': db_path, 'runs_in_history': runs, 'tests': tests,
              'diff': {'before': {'run_id': run_id, 'content_hash': before_hash},
                       'after': {'run_id': run_id, 'content_hash': record['content_hash']}}}
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            results_dir=dict(type='path', required=True),
            run=dict(type='str', default='latest'),
            history_db=dict(type='path'),
            lab_paths=dict(type='list', elements='dict'),
            backfill=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )
    run_module(module, record_run)


if __name__ == '__main__':
    main()
