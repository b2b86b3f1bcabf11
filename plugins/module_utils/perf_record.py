# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading a run record (summary.json): test identity, validity, normalization.

A run record follows the DESIGN contract. This module turns it into what the
history stores: one row for the run, one per test, each test keyed by its
identity (suite test name, protocol, the paths it uses and their shaping,
streams, direction). Nothing here touches the disk except load/save helpers.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import hashlib
import json
import os
import re
import tempfile

from ansible_collections.mptcp.lab.plugins.module_utils.perf_stats import median, summarize

METRIC = 'throughput_mbps'
SHAPING_KEYS = ('rate_mbit', 'delay_ms', 'loss_pct', 'queue_limit')
# keys the verdict step writes into summary.json; they are not measurements
VERDICT_TEST_KEYS = ('verdict', 'verdict_reason', 'baseline', 'change_pct', 'p_value', 'test_key')
VERDICT_RUN_KEYS = ('regressions', 'improvements', 'verdict')


class RecordError(ValueError):
    """A run record that does not follow the contract."""


def canonical_json(data):
    return json.dumps(data, sort_keys=True, separators=(',', ':'), default=str)


def _number(value):
    """Numbers compare equal whatever their JSON spelling (50, 50.0, '50')."""
    if isinstance(value, bool) or value is None:
        return value
    try:
        f = float(value)
    except (TypeError, ValueError):
        return value
    if f == int(f):
        return int(f)
    return f


def normalize_shaping(paths):
    """Keep the shaping keys of each path, numbers normalized, None dropped."""
    if paths is None:
        return None
    result = []
    for item in paths:
        item = item or {}
        result.append(dict((k, _number(item[k])) for k in SHAPING_KEYS
                           if item.get(k) is not None))
    return result


def _lab_paths(summary, lab_paths):
    """The lab-wide paths: from the run record, else the argument."""
    lab = summary.get('lab')
    for candidate in (summary.get('lab_paths'), lab.get('paths') if isinstance(lab, dict) else None,
                      lab_paths):
        if candidate:
            return candidate
    return None


def test_identity(summary, test, lab_paths=None):
    """(test_key, identity dict) of one test of a run record.

    The shaping is that of the paths the test uses (``path_ids``, by default
    the first ``paths`` paths), read from the test's own ``shaping``, else
    picked from the run record's ``lab_paths`` or the ``lab_paths`` argument.
    The congestion control, duration and omitted seconds are part of it when
    the record has them.
    """
    try:
        paths = int(test.get('paths') or 1)
    except (TypeError, ValueError):
        raise RecordError('test %r: paths must be an integer, got %r'
                          % (test.get('name'), test.get('paths')))
    path_ids = test.get('path_ids') or list(range(1, paths + 1))
    try:
        path_ids = [int(i) for i in path_ids]
    except (TypeError, ValueError):
        raise RecordError('test %r: path_ids must be a list of integers, got %r'
                          % (test.get('name'), test.get('path_ids')))
    shaping = test.get('shaping') or test.get('lab_paths')
    if not shaping:
        # lab-wide paths: pick the ones this test uses
        lab = _lab_paths(summary, lab_paths)
        if lab and isinstance(lab, list) and all(0 < i <= len(lab) for i in path_ids):
            shaping = [lab[i - 1] for i in path_ids]
        else:
            shaping = None
    if shaping is not None:
        if not isinstance(shaping, list):
            raise RecordError('test %r: shaping (lab_paths) must be a list' % (test.get('name'),))
        shaping = normalize_shaping(shaping[:len(path_ids)])
    identity = {
        'name': str(test.get('name')),
        'protocol': str(test.get('protocol')),
        'paths': paths,
        'path_ids': path_ids,
        'direction': str(test.get('direction') or 'upload'),
        'streams': int(test.get('streams') or 1),
        'shaping': shaping,
    }
    # What the traffic was like also changes the figures: a congestion control
    # or a measurement window of its own makes another test, never a baseline.
    # (Only when recorded, so records without them keep their identity.)
    for field in ('congestion', 'duration_s', 'omit_s'):
        if test.get(field) not in (None, ''):
            identity[field] = _number(test[field])
    key = hashlib.sha256(canonical_json(identity).encode('utf-8')).hexdigest()[:16]
    return key, identity


def _ok_runs(test):
    return [r for r in (test.get('runs') or []) if isinstance(r, dict) and r.get('ok')]


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def test_values(test):
    """Throughput of each successful repetition, in order."""
    values = []
    for run in _ok_runs(test):
        v = run.get(METRIC)
        if isinstance(v, dict):        # tolerate a per-run summary object
            v = v.get('mean', v.get('median'))
        if _is_number(v):
            values.append(float(v))
    if not values and not test.get('runs'):
        summary = test.get(METRIC) or {}
        values = [float(v) for v in summary.get('values') or [] if _is_number(v)]
    return values


def test_validity(test, values):
    """(valid, reason): invalid tests are stored but never used as baseline.

    Invalid when the runner said so, when a repetition failed, when an MPTCP
    test fell back to TCP, or when no repetition produced a throughput.
    """
    # Our own checks come first: the verdict step later writes 'invalid' into
    # the test's verdict field, and reading the record again must give the
    # same answer (idempotent re-ingest).
    runs = [r for r in (test.get('runs') or []) if isinstance(r, dict)]
    failed = [r for r in runs if not r.get('ok')]
    if failed:
        errors = sorted(set(str(r.get('error') or 'failed') for r in failed))
        return False, '%d of %d repetitions failed: %s' % (len(failed), len(runs), '; '.join(errors))
    if str(test.get('protocol')) == 'mptcp' and any(r.get('fallback') for r in runs):
        return False, 'MPTCP fell back to TCP in %d repetition(s)' % sum(1 for r in runs if r.get('fallback'))
    if not values:
        return False, 'no repetition produced a throughput'
    if test.get('valid') is False or test.get('verdict') == 'invalid':
        return False, str(test.get('invalid_reason') or test.get('error')
                          or test.get('verdict_reason') or 'marked invalid by the perf runner')
    return True, ''


def per_path_medians(test):
    """Median of each path's throughput over the successful repetitions."""
    columns = []
    for run in _ok_runs(test):
        per_path = run.get('per_path_mbps') or []
        for i, v in enumerate(per_path):
            if not _is_number(v):
                continue
            while len(columns) <= i:
                columns.append([])
            columns[i].append(float(v))
    return [median(c) if c else None for c in columns]


def parse_time(value):
    """Seconds since the epoch from an ISO 8601 string or a number (UTC if naive)."""
    if _is_number(value):
        return float(value)
    if not isinstance(value, str) or not value:
        raise RecordError('time %r is neither ISO 8601 nor a number' % (value,))
    text = value.strip()
    if text.endswith('Z'):
        text = text[:-1] + '+00:00'
    try:
        stamp = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise RecordError('time %r is not ISO 8601' % (value,))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=datetime.timezone.utc)
    return stamp.timestamp()


def format_time(epoch):
    """The CSV time format change-point tools parse: 2026-11-25 08:15:37 +0000."""
    stamp = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)
    return stamp.strftime('%Y-%m-%d %H:%M:%S +0000')


def kernels(summary):
    """Distinct kernel releases of the hosts in the run's metadata."""
    found = set()
    for host in (summary.get('metadata') or {}).values():
        if not isinstance(host, dict):
            continue
        kernel = host.get('kernel')
        if isinstance(kernel, dict):
            kernel = kernel.get('release') or kernel.get('version')
        if kernel:
            found.add(str(kernel))
    return sorted(found)


def normalize(summary, lab_paths=None):
    """The history's view of a run record: {'run': {...}, 'results': [...]}.

    Raises RecordError naming the field when the record breaks the contract.
    """
    if not isinstance(summary, dict):
        raise RecordError('summary.json must hold a JSON object')
    for field in ('run_id', 'started', 'tests'):
        if field not in summary:
            raise RecordError('summary.json has no %r field (DESIGN contract)' % field)
    if not isinstance(summary['tests'], list):
        raise RecordError("summary.json field 'tests' must be a list")
    run = {
        'run_id': str(summary['run_id']),
        'suite': str(summary.get('suite') or ''),
        'started': str(summary['started']),
        'started_ts': parse_time(summary['started']),
        'finished': str(summary.get('finished') or ''),
        'wall_s': summary.get('wall_s'),
        'traffic_s': summary.get('traffic_s'),
        'kernel': ' '.join(kernels(summary)),
        'metadata': canonical_json(summary.get('metadata') or {}),
    }
    results = []
    seen = {}
    for index, test in enumerate(summary['tests']):
        if not isinstance(test, dict) or not test.get('name'):
            raise RecordError('tests[%d] must be an object with a name' % index)
        key, identity = test_identity(summary, test, lab_paths)
        if key in seen:
            raise RecordError('tests[%d] (%s) has the same identity as tests[%d]'
                              % (index, test['name'], seen[key]))
        seen[key] = index
        values = test_values(test)
        valid, reason = test_validity(test, values)
        stats = summarize(values)
        subflows = [r.get('subflows') for r in _ok_runs(test) if _is_number(r.get('subflows'))]
        results.append({
            'test_key': key,
            'identity': identity,
            'valid': valid,
            'invalid_reason': reason,
            'values': stats['values'],
            'n': stats['n'],
            'median': stats['median'],
            'mean': stats['mean'],
            'min': stats['min'],
            'max': stats['max'],
            'cv': stats['cv'],
            'per_path': per_path_medians(test),
            'subflows': median(subflows) if subflows else None,
            'fallback': sum(1 for r in (test.get('runs') or []) if isinstance(r, dict) and r.get('fallback')),
            'expected_mbps': test.get('expected_mbps'),
        })
    record = {'run': run, 'results': results}
    record['content_hash'] = hashlib.sha256(canonical_json(record).encode('utf-8')).hexdigest()
    return record


def slug(text):
    """A file-name-safe form of a test name."""
    return re.sub(r'[^A-Za-z0-9_.-]+', '-', str(text)).strip('-') or 'test'


def load_summary(path):
    try:
        with open(path) as handle:
            return json.load(handle)
    except (IOError, OSError) as exc:
        raise RecordError('cannot read %s: %s' % (path, exc))
    except ValueError as exc:
        raise RecordError('%s is not valid JSON: %s' % (path, exc))


def write_atomic(path, data, mode=0o644):
    """Replace ``path`` with ``data`` (bytes) atomically (temp file + rename)."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, 'wb') as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def resolve_run(results_dir, run):
    """(run_id, summary path) for a run id, 'latest', or a summary.json path."""
    if run and (run.endswith('.json') or os.path.sep in run) and os.path.isfile(run):
        return None, os.path.abspath(run)
    run = run or 'latest'
    directory = os.path.join(results_dir, run)
    if run == 'latest' and os.path.islink(directory):
        run = os.path.basename(os.path.realpath(directory).rstrip(os.sep))
        directory = os.path.join(results_dir, run)
    return run, os.path.join(directory, 'summary.json')
