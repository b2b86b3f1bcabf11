# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The knobs of a perf run, checked before anything exists.

Pure functions: ``check_run_knobs`` looks at the values only (types, finite
numbers, ranges, formats); ``check_results_location`` looks at the file
system too (the results directory and the run id), without changing it.
Each returns a list of messages, one per bad knob, and every message names
the variable, the rule and the value. The lab knobs are checked by
lab_plan.check_lab_knobs; the suite by perf_suite.validate_suite.

Values given with ``-e key=value`` arrive as strings, so the numeric and
boolean run knobs accept the strings that Ansible itself converts ("5",
"0.05", "true"), but never "nan", "inf" or words.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import math
import os
import re

from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_record import (
    is_dynamic_metric, metric_info, metric_names)

# A run id names a directory under the results directory (and a row of the
# history): letters, digits, '.', '_' and '-', not starting with '.' or '-'.
RUN_ID_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$')
RESERVED_RUN_IDS = ('latest', 'debug', 'history')
# Characters that a results path may not hold: '#', '?' and '%' change the
# meaning of a file: URI (the history store opens one), and control characters
# make paths that no report or shell shows faithfully.
BAD_PATH_CHARS = re.compile(r'[#?%\x00-\x1f\x7f]')
# Directories of the collection that results must never be written into.
COLLECTION_DIRS = ('.git', '.venv', '.collections', 'changelogs', 'docs', 'extensions', 'inventories', 'meta',
                   'playbooks', 'plugins', 'roles', 'scripts', 'tests')
BOOL_TRUE = ('y', 'yes', 'on', '1', 'true', 't')
BOOL_FALSE = ('n', 'no', 'off', '0', 'false', 'f')
# auto: recognised; mptcp.lab: this collection's; upstream: mptcp-upstream-virtme-docker's perf.yml
SUITE_FORMATS = ('auto', 'mptcp.lab', 'upstream')
BOOLEAN_KNOBS = ('perf_keep_lab', 'perf_provision', 'perf_fail_on_regression')
MAX_BASELINE_RUNS = 100   # as perf_verdict
MAX_MIN_EFFECT_PCT = 1000


def _number(value):
    """value as a finite float, or None (bools, words, nan and inf are not numbers)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if not isinstance(value, (int, float)) or math.isnan(value) or math.isinf(value):
        return None
    return float(value)


def check_bool(name, value):
    """A boolean, or a string Ansible reads as one; returns the error or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().lower() in BOOL_TRUE + BOOL_FALSE:
        return None
    if isinstance(value, int) and value in (0, 1):
        return None
    return '%s must be true or false, got %r' % (name, value)


def check_run_id(name, value):
    """A run id: a directory name of its own; returns the error or None."""
    if not isinstance(value, str) or not RUN_ID_RE.match(value) or value in RESERVED_RUN_IDS:
        return ("%s must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit, "
                "and not one of %s, got %r" % (name, ', '.join(RESERVED_RUN_IDS), value))
    return None


def check_run_knobs(knobs):
    """Errors of the perf run knobs given (variable name -> value), by value alone."""
    errors = []
    for name in BOOLEAN_KNOBS:
        if name in knobs:
            error = check_bool(name, knobs[name])
            if error:
                errors.append(error)
    if 'perf_min_effect_pct' in knobs:
        value = _number(knobs['perf_min_effect_pct'])
        if value is None or not 0 <= value <= MAX_MIN_EFFECT_PCT:
            errors.append('perf_min_effect_pct must be a finite number in [0, %d] (percent), got %r'
                          % (MAX_MIN_EFFECT_PCT, knobs['perf_min_effect_pct']))
    errors.extend(check_metric_knobs(knobs))
    if 'perf_alpha' in knobs:
        value = _number(knobs['perf_alpha'])
        if value is None or not 0 < value < 1:
            errors.append('perf_alpha must be a finite number in (0, 1), the significance level, got %r'
                          % (knobs['perf_alpha'],))
    if 'perf_baseline_runs' in knobs:
        value = _number(knobs['perf_baseline_runs'])
        if value is None or value != int(value) or not 1 <= value <= MAX_BASELINE_RUNS:
            errors.append('perf_baseline_runs must be an integer in [1, %d], got %r'
                          % (MAX_BASELINE_RUNS, knobs['perf_baseline_runs']))
    for name, high in (('perf_duration_s', 86400), ('perf_repetitions', 1000)):
        if name not in knobs or knobs[name] is None or knobs[name] == '':
            continue
        value = _number(knobs[name])
        if value is None or value != int(value) or not 1 <= value <= high:
            errors.append('%s must be an integer in [1, %d] (or empty for the suite\'s own), got %r'
                          % (name, high, knobs[name]))
    if knobs.get('perf_baseline') not in (None, ''):
        error = check_run_id('perf_baseline', knobs['perf_baseline'])
        if error:
            errors.append(error + " (or empty for the last perf_baseline_runs runs)")
    if 'perf_suite_run_id' in knobs:
        error = check_run_id('perf_suite_run_id', knobs['perf_suite_run_id'])
        if error:
            errors.append(error)
    if 'perf_suite' in knobs:
        suite = knobs['perf_suite']
        if not isinstance(suite, str) or not suite.strip() or BAD_PATH_CHARS.search(suite):
            errors.append('perf_suite must be a shipped suite name or a suite file path (no control '
                          'characters), got %r' % (suite,))
    if 'perf_suite_format' in knobs and knobs['perf_suite_format'] not in SUITE_FORMATS:
        errors.append('perf_suite_format must be one of %s, got %r'
                      % (', '.join(SUITE_FORMATS), knobs['perf_suite_format']))
    if 'perf_generator' in knobs:
        gen = knobs['perf_generator']
        if not isinstance(gen, str) or not gen or BAD_PATH_CHARS.search(gen):
            errors.append('perf_generator must be the inventory name of a generator, got %r' % (gen,))
    if 'perf_results_dir' in knobs:
        error = check_results_dir_text(knobs['perf_results_dir'])
        if error:
            errors.append(error)
    return errors


def check_metric_knobs(knobs):
    """Errors of perf_metric_min_effect ({metric: percent}) and perf_judged_metrics (names).

    perf_metric_min_effect may name a metric of a test of kind upstream
    (upstream.<slug>); perf_judged_metrics may not: those are judged for every
    test that measured them."""
    errors = []
    names = metric_names()
    if knobs.get('perf_metric_min_effect') not in (None, ''):
        value = knobs['perf_metric_min_effect']
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                pass
        if not isinstance(value, dict):
            errors.append('perf_metric_min_effect must map metric names to percentages, e.g. '
                          '{"cpu_s_per_gb": 3}, got %r' % (knobs['perf_metric_min_effect'],))
        else:
            for name in sorted(value, key=str):
                if metric_info(name) is None:
                    errors.append('perf_metric_min_effect: %r is not a metric; the metrics are %s'
                                  % (name, ', '.join(names)))
                    continue
                number = _number(value[name])
                if number is None or not 0 <= number <= MAX_MIN_EFFECT_PCT:
                    errors.append('perf_metric_min_effect.%s must be a finite number in [0, %d] (percent), got %r'
                                  % (name, MAX_MIN_EFFECT_PCT, value[name]))
    if knobs.get('perf_judged_metrics') not in (None, ''):
        value = knobs['perf_judged_metrics']
        if isinstance(value, str):
            value = [v.strip() for v in value.split(',') if v.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            errors.append('perf_judged_metrics must be a list of metric names (or empty for the default '
                          'set), got %r' % (knobs['perf_judged_metrics'],))
        else:
            named = [v for v in value if is_dynamic_metric(v)]
            unknown = [v for v in value if v not in names and v not in named]
            if named:
                errors.append('perf_judged_metrics: %s %s named by a suite (upstream.*): such metrics are '
                              'judged for every test that measured them; perf_judged_metrics chooses among %s'
                              % (', '.join(repr(v) for v in named), 'is' if len(named) == 1 else 'are',
                                 ', '.join(names)))
            if unknown:
                errors.append('perf_judged_metrics: %s %s not a metric; the metrics are %s'
                              % (', '.join(repr(v) for v in unknown), 'is' if len(unknown) == 1 else 'are',
                                 ', '.join(names)))
    return errors


def check_results_dir_text(value):
    """perf_results_dir by its text alone; returns the error or None."""
    if not isinstance(value, str) or not value.strip():
        return 'perf_results_dir must be a directory path, not empty, got %r' % (value,)
    if value.strip() in ('.', './'):
        return ("perf_results_dir must not be '.' (the run records would land in the project's root): "
                "name a directory, e.g. results, got %r" % (value,))
    match = BAD_PATH_CHARS.search(value)
    if match:
        return ("perf_results_dir must not contain %r ('#', '?', '%%' and control characters break the "
                "history store's path), got %r" % (match.group(0), value))
    return None


def _inside(inner, outer):
    """inner is outer or below it (both absolute and normalized)."""
    return inner == outer or inner.startswith(outer.rstrip('/') + '/')


def check_results_location(results_dir, results_path, run_id, project_dir, collection_dir):
    """Errors of the results directory and the run id against the file system.

    ``results_dir`` is the knob as given, ``results_path`` where it resolves
    (absolute); ``project_dir`` is where relative paths start and
    ``collection_dir`` the collection's root. Refused: the text rules of
    check_results_dir_text; the project or collection root or any directory
    above them; a directory of the collection's own (plugins, roles, ...); a
    path that is, or runs through, something other than a directory; a
    directory that cannot be written; a run id whose directory exists.
    """
    error = check_results_dir_text(results_dir)
    if error:
        return [error]
    errors = []
    # Compare real paths: the collection is often reached through a link
    # (.collections/ansible_collections/mptcp/lab -> the repository).
    path = os.path.realpath(results_path)
    for root, what in ((project_dir, 'the project directory'), (collection_dir, 'the collection root')):
        if not root:
            continue
        root = os.path.realpath(root)
        if _inside(root, path):
            errors.append('perf_results_dir %r resolves to %s, which is %s%s: name a directory of its own, '
                          'e.g. results' % (results_dir, path, what, '' if root == path else ' or above it'))
            return errors
        for sub in COLLECTION_DIRS:
            if what == 'the collection root' and _inside(path, os.path.join(root, sub)):
                errors.append('perf_results_dir %r resolves to %s, inside the collection\'s own %s/: '
                              'name a directory of its own, e.g. results' % (results_dir, path, sub))
                return errors
    # The path, or the first part of it that exists, must be a writable directory.
    probe = path
    while not os.path.lexists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    if not os.path.isdir(probe):
        errors.append('perf_results_dir %r: %s is not a directory (a file or a broken link)'
                      % (results_dir, probe))
        return errors
    if not os.access(probe, os.W_OK | os.X_OK):
        errors.append('perf_results_dir %r: %s is not writable' % (results_dir, probe))
        return errors
    error = check_run_id('perf_suite_run_id', run_id)
    if error:
        errors.append(error)
    elif os.path.lexists(os.path.join(path, run_id)):
        errors.append('perf_suite_run_id %r: the run %s exists already; a run record is written once and '
                      'never replaced: choose another id' % (run_id, os.path.join(path, run_id)))
    return errors
