"""Checks of what a run writes: summary.json against the shipped schema, junit.xml.

Used by the tests that produce run records (and, through tests/conftest.py,
on every summary.json and junit.xml a test session leaves in its temporary
directories). A record of schema version 0 (the synthetic wave-1 records of
perf_fixtures) is checked as the collection reads it: migrated.
"""

import json
import os
from xml.etree import ElementTree

import jsonschema
import xmlschema

from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_record import METRICS, migrate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCHEMA_PATH = os.path.join(ROOT, 'docs', 'run-record.schema.json')
JUNIT_XSD_PATH = os.path.join(ROOT, 'tests', 'junit.xsd')
_JUNIT_XSD = []


def load_schema():
    with open(SCHEMA_PATH) as handle:
        schema = json.load(handle)
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def record_errors(summary, schema=None):
    """The schema violations of a run record, as readable strings (empty when valid)."""
    schema = schema or load_schema()
    if isinstance(summary, dict) and 'schema_version' not in summary:
        summary = migrate(summary)
    validator = jsonschema.Draft202012Validator(schema)
    return ['%s: %s' % ('/'.join(str(p) for p in error.absolute_path) or '(record)', error.message)
            for error in sorted(validator.iter_errors(summary), key=lambda e: list(e.absolute_path))]


def assert_valid_record(summary, schema=None):
    errors = record_errors(summary, schema)
    assert not errors, 'run record %s breaks docs/run-record.schema.json:\n  %s' % (
        summary.get('run_id') if isinstance(summary, dict) else '?', '\n  '.join(errors[:20]))


# ---- JUnit ------------------------------------------------------------------
# tests/junit.xsd is the JUnit schema CI servers read (Jenkins junit.xsd,
# GitLab, GitHub actions): element names and nesting, required attributes and
# their types, at most one outcome per testcase. The checks below add what an
# XSD cannot say: counts that add up.


def junit_schema():
    if not _JUNIT_XSD:
        _JUNIT_XSD.append(xmlschema.XMLSchema10(JUNIT_XSD_PATH))
    return _JUNIT_XSD[0]


_INT = ('tests', 'failures', 'errors', 'skipped')


def junit_errors(text):
    """Violations of the JUnit subset (empty when valid)."""
    errors = []
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as exc:
        return ['not well-formed XML: %s' % exc]
    errors.extend('tests/junit.xsd: %s (at %s)' % (e.reason, e.path)
                  for e in junit_schema().iter_errors(text))
    if root.tag != 'testsuites':
        return ['root element is <%s>, not <testsuites>' % root.tag]
    totals = dict((k, 0) for k in _INT)
    for suite in root:
        if suite.tag != 'testsuite':
            errors.append('<testsuites> holds <%s>' % suite.tag)
            continue
        for attr in ('name', 'tests', 'failures', 'errors', 'time'):
            if attr not in suite.attrib:
                errors.append('<testsuite> has no %s attribute' % attr)
        counted = dict((k, 0) for k in _INT)
        children = list(suite)
        if children and children[0].tag == 'properties':
            for prop in children[0]:
                if prop.tag != 'property' or not {'name', 'value'} <= set(prop.attrib):
                    errors.append('<properties> holds a bad <%s>' % prop.tag)
            children = children[1:]
        for case in children:
            if case.tag in ('system-out', 'system-err'):
                continue
            if case.tag != 'testcase':
                errors.append('<testsuite> holds <%s>' % case.tag)
                continue
            counted['tests'] += 1
            if not case.get('name') or not case.get('classname'):
                errors.append('<testcase> needs name and classname: %r' % case.attrib)
            try:
                float(case.get('time', '0'))
            except ValueError:
                errors.append('<testcase %s> time is not a number' % case.get('name'))
            outcomes = [c for c in case if c.tag in ('failure', 'error', 'skipped')]
            for child in case:
                if child.tag not in ('failure', 'error', 'skipped', 'system-out', 'system-err'):
                    errors.append('<testcase %s> holds <%s>' % (case.get('name'), child.tag))
            if len(outcomes) > 1:
                errors.append('<testcase %s> has %d outcomes' % (case.get('name'), len(outcomes)))
            for child in outcomes:
                if child.tag in ('failure', 'error') and not child.get('message'):
                    errors.append('<%s> of %s has no message' % (child.tag, case.get('name')))
                key = {'failure': 'failures', 'error': 'errors', 'skipped': 'skipped'}[child.tag]
                counted[key] += 1
        for key in _INT:
            value = suite.get(key, '0')
            if not value.isdigit():
                errors.append('<testsuite> %s=%r is not a count' % (key, value))
            elif int(value) != counted[key]:
                errors.append('<testsuite> says %s=%s, its testcases %d' % (key, value, counted[key]))
            totals[key] += counted[key]
        try:
            float(suite.get('time', '0'))
        except ValueError:
            errors.append('<testsuite> time is not a number')
    for key in _INT:
        if key in root.attrib and root.get(key) != str(totals[key]):
            errors.append('<testsuites> says %s=%s, its suites %d' % (key, root.get(key), totals[key]))
    return errors


def junit_counts(text):
    root = ElementTree.fromstring(text)
    return dict((k, int(root.get(k))) for k in _INT)


def assert_junit_matches(text, summary, verdict):
    """junit.xml is valid, and its counts match summary.json and verdict.json."""
    errors = junit_errors(text)
    assert not errors, 'junit.xml breaks the JUnit schema:\n  ' + '\n  '.join(errors)
    summary = migrate(summary)
    # one testcase per test and judged metric (a test the verdict did not judge: one)
    cases = []
    for test in summary['tests']:
        outcomes = [t['outcome'] for t in verdict['tests'] if t['name'] == test['name']] or [None]
        cases.extend((test, outcome) for outcome in outcomes)
    expected = {
        'tests': len(cases),
        'errors': sum(1 for t, outcome in cases if not t['valid']),
        'failures': sum(1 for t, outcome in cases if t['valid'] and outcome == 'regression'),
        'skipped': sum(1 for t, outcome in cases if t['valid'] and outcome in ('no-baseline', None)),
    }
    assert junit_counts(text) == expected
    assert expected['failures'] == len(verdict['regressions'])
    # an invalid test is one case (its primary metric), an error
    assert all(sum(1 for c, dummy in cases if c is t) == 1 for t in summary['tests'] if not t['valid'])


def check_tree(top):
    """Every run record the collection wrote under top (it carries schema_version) against the
    schema, and each junit.xml beside one (JUnit subset, counts); returns the paths checked.

    Records without schema_version there are synthetic wave-1 records that tests write
    themselves (perf_fixtures; some broken on purpose): the unit tests check their migration.
    """
    schema = load_schema()
    checked = []
    for directory, _dirs, files in os.walk(top):
        if 'summary.json' not in files:
            continue
        path = os.path.join(directory, 'summary.json')
        try:
            with open(path) as handle:
                summary = json.load(handle)
        except ValueError:
            continue
        if isinstance(summary, dict) and 'schema_version' in summary:
            assert_valid_record(summary, schema)
            checked.append(path)
        junit = os.path.join(directory, 'junit.xml')
        verdict = os.path.join(directory, 'verdict.json')
        if os.path.exists(junit) and os.path.exists(verdict):
            with open(junit) as handle, open(verdict) as vhandle:
                assert_junit_matches(handle.read(), summary, json.load(vhandle))
            checked.append(junit)
    return checked


def metric_names():
    """The metrics the collection records (perf_record.METRICS)."""
    return [m[0] for m in METRICS]


def metric_table():
    """{name: (unit, better, default minimum effect, judged by default)} of perf_record.METRICS."""
    return dict((m.name, (m.unit, m.better, m.min_effect_pct, m.judged)) for m in METRICS)
