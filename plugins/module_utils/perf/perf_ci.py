# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""CI-native outputs of a judged run: junit.xml and verdict.md.

Pure functions of the run record (summary.json, migrated) and its verdict
(verdict.json, perf_baseline.verdict_document). One JUnit testcase per test
and judged metric: a regression is a failure with the figures in its
message, an invalid test an error, a test without a baseline skipped;
pass and improvement pass.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from xml.etree import ElementTree

from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_baseline import figure
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_record import (
    METRIC, UPSTREAM_KIND, format_time, metric_info)


def _num(value, fmt='%.2f'):
    return '-' if value is None else fmt % value


def _unit(metric, unit=None):
    """The unit of a metric: ``unit`` (a verdict entry's, the record's for a metric a suite names)
    or its line's (metric_info)."""
    if unit:
        return unit
    spec = metric_info(metric)
    return spec.unit if spec else ''


def figures(entry):
    """'throughput_mbps -3.05% (91.80 -> 89.00 Mbit/s, p = 0.0003)'."""
    return '%s %s (%s -> %s %s, p = %s)' % (
        entry.get('metric'), _num(entry.get('change_pct'), '%+.2f%%'), figure(entry.get('baseline_median')),
        figure(entry.get('current_median')), _unit(entry.get('metric'), entry.get('unit')),
        _num(entry.get('p_value'), '%.3g'))


def protocol_text(test):
    """A test's protocol as the tables show it: tcp, mptcp, or for a test of kind upstream (whose
    shell steps choose theirs) 'upstream'."""
    if test.get('kind') == UPSTREAM_KIND and not test.get('protocol'):
        return UPSTREAM_KIND
    return test.get('protocol')


def cases(summary, verdict):
    """(test of the record, its verdict entry or None) per test and judged metric, test order.

    A test the verdict has no entry for is one case without a verdict.
    """
    by_name = {}
    for entry in verdict.get('tests') or []:
        by_name.setdefault(entry['name'], []).append(entry)
    out = []
    for test in summary.get('tests') or []:
        entries = by_name.get(test.get('name')) or [None]
        out.extend((test, entry) for entry in entries)
    return out


def _test_seconds(test):
    return sum(float(r.get('duration_s') or 0) for r in test.get('runs') or [] if isinstance(r, dict))


def junit_counts(summary, verdict):
    """{tests, failures, errors, skipped} the JUnit file must show for this run."""
    counts = {'tests': 0, 'failures': 0, 'errors': 0, 'skipped': 0}
    for test, entry in cases(summary, verdict):
        counts['tests'] += 1
        outcome = (entry or {}).get('outcome')
        if not test.get('valid') or outcome == 'invalid':
            counts['errors'] += 1
        elif outcome == 'regression':
            counts['failures'] += 1
        elif outcome in ('no-baseline', None):
            counts['skipped'] += 1
    return counts


def junit_xml(summary, verdict):
    """The JUnit XML text of a judged run."""
    suite_name = 'mptcp.lab %s' % summary.get('suite')
    root = ElementTree.Element('testsuites', name='mptcp.lab')
    # JUnit's timestamp is a local ISO 8601 time without a zone: the record's is UTC
    suite = ElementTree.SubElement(root, 'testsuite', name=suite_name, id='0', package='mptcp.lab',
                                   timestamp=str(summary.get('started') or '').rstrip('Z'),
                                   hostname=str(summary.get('generator') or 'localhost'))
    props = ElementTree.SubElement(suite, 'properties')
    for key, value in (('run_id', summary.get('run_id')), ('baseline', verdict.get('baseline')),
                       ('alpha', verdict.get('alpha')), ('min_effect_pct', verdict.get('min_effect_pct')),
                       ('schema_version', summary.get('schema_version'))):
        ElementTree.SubElement(props, 'property', name=key, value=str(value))
    total = 0.0
    counted = set()
    for test, v in cases(summary, verdict):
        v = v or {}
        metric = v.get('metric') or METRIC
        # a test's traffic seconds are counted once, on its first case
        seconds = _test_seconds(test) if test.get('name') not in counted else 0.0
        counted.add(test.get('name'))
        total += seconds
        case = ElementTree.SubElement(suite, 'testcase', name='%s %s' % (test.get('name'), metric),
                                      classname='mptcp.lab.%s.%s' % (summary.get('suite'), test.get('name')),
                                      time='%.3f' % seconds)
        outcome = v.get('outcome')
        if not test.get('valid') or outcome == 'invalid':
            reason = test.get('invalid_reason') or v.get('reason') or 'invalid'
            ElementTree.SubElement(case, 'error', message='invalid: %s' % reason, type='invalid').text = reason
        elif outcome == 'regression':
            message = 'regression: %s' % figures(v)
            ElementTree.SubElement(case, 'failure', message=message, type='regression').text = \
                '%s\n%s' % (message, v.get('reason') or '')
        elif outcome in ('no-baseline', None):
            ElementTree.SubElement(case, 'skipped', message='no-baseline: %s' % (
                v.get('reason') or 'no verdict'))
        else:
            ElementTree.SubElement(case, 'system-out').text = '%s: %s; %s' % (outcome, figures(v), v.get('reason'))
    counts = junit_counts(summary, verdict)
    for element in (root, suite):
        for key, value in counts.items():
            element.set(key, str(value))
        element.set('time', '%.3f' % total)
    ElementTree.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, encoding='unicode') + '\n'


def _cell(value):
    return str(value).replace('|', '\\|').replace('\n', ' ')


OUTCOME_MARKS = {'pass': 'pass', 'regression': '**REGRESSION**', 'improvement': 'improvement',
                 'no-baseline': 'no baseline', 'invalid': '**INVALID**'}


def _median_cell(value, metric, unit=None):
    if value is None:
        return '-'
    return '%.2f' % value if metric == METRIC else '%s %s' % (figure(value), _unit(metric, unit))


def min_effect_text(verdict):
    """'1.5%' (throughput only), or each judged metric's: 'throughput_mbps 1.5%, cpu_s_per_gb 2%'."""
    effects = verdict.get('metric_min_effect') or {}
    used = set(t.get('metric') or METRIC for t in verdict.get('tests') or [] if t.get('outcome') != 'invalid')
    names = [name for name in effects if name in used]
    if not names or names == [METRIC]:
        return '%s%%' % verdict.get('min_effect_pct')
    return ', '.join('%s %g%%' % (name, effects[name]) for name in names)


def own_judging(verdict):
    """'<test>: alpha 0.01, last 5 runs, since 2026-11-25T08:00:00Z' of each test judged with its own
    parameters (a test of kind upstream: tests[].upstream.regression), in test order."""
    out = []
    seen = set()
    for entry in verdict.get('tests') or []:
        if entry.get('alpha') is None or entry.get('name') in seen:
            continue
        seen.add(entry.get('name'))
        baseline = entry.get('baseline') or {}
        parts = ['alpha %g' % entry['alpha']]
        if 'history_max_n' in baseline:
            parts.append('last %d runs' % baseline['history_max_n'] if baseline['history_max_n']
                         else 'every earlier run')
        if baseline.get('history_since'):
            parts.append('since %s' % format_time(baseline['history_since'], 'iso'))
        out.append('%s: %s' % (entry.get('name'), ', '.join(parts)))
    return out


def verdict_markdown(summary, verdict):
    """verdict.md: the table a CI step posts as a comment."""
    counts = verdict.get('counts') or {}
    order = ('regression', 'invalid', 'improvement', 'pass', 'no-baseline')
    headline = ', '.join('%d %s' % (counts[k], k) for k in order if counts.get(k))
    lines = ['### mptcp.lab perf verdict: run `%s` (suite %s)' % (summary.get('run_id'), summary.get('suite')),
             '',
             '%s against the %s (alpha %s, minimum effect %s).' % (
                 headline or 'no test', verdict.get('baseline'), verdict.get('alpha'), min_effect_text(verdict)),
             '']
    own = own_judging(verdict)
    if own:
        lines += ['Judged with their own parameters (suite key `regression`): %s.' % '; '.join(own), '']
    if verdict.get('baseline_kernel'):
        lines += ['Kernel A (baseline): `%s`; kernel B (this run): `%s`.' % (
            verdict.get('baseline_kernel'), verdict.get('kernel') or 'unknown'), '']
    lines += ['| test | protocol | paths | metric | outcome | baseline median | current median | change | p | why |',
              '|---|---|---:|---|---|---:|---:|---:|---:|---|']
    for test, v in cases(summary, verdict):
        v = v or {}
        outcome = v.get('outcome') or ('invalid' if not test.get('valid') else 'no-baseline')
        reason = v.get('reason') or test.get('invalid_reason') or ''
        metric = v.get('metric') or METRIC
        lines.append('| %s |' % ' | '.join(_cell(c) for c in (
            test.get('name'), protocol_text(test), test.get('paths'), metric,
            OUTCOME_MARKS.get(outcome, outcome), _median_cell(v.get('baseline_median'), metric, v.get('unit')),
            _median_cell(v.get('current_median'), metric, v.get('unit')),
            _num(v.get('change_pct'), '%+.2f%%'), _num(v.get('p_value'), '%.3g'), reason)))
    regressions = verdict.get('regressions') or []
    if regressions:
        lines.extend(['', 'Regressions:'])
        lines.extend('- **%s**: %s' % (_cell(entry['test']), figures(entry)) for entry in regressions)
    return '\n'.join(lines) + '\n'
