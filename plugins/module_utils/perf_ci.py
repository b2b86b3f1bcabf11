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

from ansible_collections.mptcp.lab.plugins.module_utils.perf_record import METRICS

UNITS = dict((name, unit) for name, unit, _better, _field in METRICS)


def _num(value, fmt='%.2f'):
    return '-' if value is None else fmt % value


def figures(entry):
    """'throughput_mbps -3.05% (91.80 -> 89.00 Mbit/s, p = 0.0003)'."""
    unit = UNITS.get(entry.get('metric'), '')
    return '%s %s (%s -> %s %s, p = %s)' % (
        entry.get('metric'), _num(entry.get('change_pct'), '%+.2f%%'), _num(entry.get('baseline_median')),
        _num(entry.get('current_median')), unit, _num(entry.get('p_value'), '%.3g'))


def _test_seconds(test):
    return sum(float(r.get('duration_s') or 0) for r in test.get('runs') or [] if isinstance(r, dict))


def junit_counts(summary, verdict):
    """{tests, failures, errors, skipped} the JUnit file must show for this run."""
    counts = {'tests': 0, 'failures': 0, 'errors': 0, 'skipped': 0}
    outcomes = dict((t['name'], t['outcome']) for t in verdict.get('tests') or [])
    for test in summary.get('tests') or []:
        counts['tests'] += 1
        outcome = outcomes.get(test.get('name'))
        if not test.get('valid') or outcome == 'invalid':
            counts['errors'] += 1
        elif outcome == 'regression':
            counts['failures'] += 1
        elif outcome in ('no-baseline', None):
            counts['skipped'] += 1
    return counts


def junit_xml(summary, verdict):
    """The JUnit XML text of a judged run."""
    by_name = dict((t['name'], t) for t in verdict.get('tests') or [])
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
    for test in summary.get('tests') or []:
        v = by_name.get(test.get('name')) or {}
        metric = v.get('metric') or 'throughput_mbps'
        seconds = _test_seconds(test)
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


def verdict_markdown(summary, verdict):
    """verdict.md: the table a CI step posts as a comment."""
    counts = verdict.get('counts') or {}
    order = ('regression', 'invalid', 'improvement', 'pass', 'no-baseline')
    headline = ', '.join('%d %s' % (counts[k], k) for k in order if counts.get(k))
    lines = ['### mptcp.lab perf verdict: run `%s` (suite %s)' % (summary.get('run_id'), summary.get('suite')),
             '',
             '%s against the %s (alpha %s, minimum effect %s%%).' % (
                 headline or 'no test', verdict.get('baseline'), verdict.get('alpha'), verdict.get('min_effect_pct')),
             '',
             '| test | protocol | paths | metric | outcome | baseline median | current median | change | p | why |',
             '|---|---|---:|---|---|---:|---:|---:|---:|---|']
    by_name = dict((t['name'], t) for t in verdict.get('tests') or [])
    for test in summary.get('tests') or []:
        v = by_name.get(test.get('name')) or {}
        outcome = v.get('outcome') or ('invalid' if not test.get('valid') else 'no-baseline')
        reason = v.get('reason') or test.get('invalid_reason') or ''
        lines.append('| %s |' % ' | '.join(_cell(c) for c in (
            test.get('name'), test.get('protocol'), test.get('paths'), v.get('metric') or 'throughput_mbps',
            OUTCOME_MARKS.get(outcome, outcome), _num(v.get('baseline_median')), _num(v.get('current_median')),
            _num(v.get('change_pct'), '%+.2f%%'), _num(v.get('p_value'), '%.3g'), reason)))
    regressions = verdict.get('regressions') or []
    if regressions:
        lines.extend(['', 'Regressions:'])
        lines.extend('- **%s**: %s' % (_cell(entry['test']), figures(entry)) for entry in regressions)
    return '\n'.join(lines) + '\n'
