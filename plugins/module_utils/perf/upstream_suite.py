# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Suites in the format of the MPTCP community's harness (mptcp-upstream-virtme-docker's perf.yml).

Pure functions, no I/O: recognise the format, check a suite against its
rules (the fields and types of upstream's perf.schema, each error naming the
field), and turn it into the list of tests mptcp.lab runs
(mptcp.lab.perf_upstream_test). A test's settings are ``global``'s with the
test's own on top (a key the test states replaces global's), as upstream
merges them. docs/upstream-suites.md says what each field becomes here.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import math
import re

from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_record import RecordError, upstream_metric_name

FORMAT = 'mptcp-upstream-virtme-docker'
TOP_KEYS = ('name', 'global', 'tests')
CONFIG_KEYS = ('name', 'timeout_s', 'cpus', 'ram', 'bridges', 'bridges_hw_accel', 'stats', 'steps',
               'validation', 'regression', 'dstat')
BRIDGE_KEYS = ('name', 'rate_mbit', 'delay_ms', 'loss_pc')
STAT_KEYS = ('name', 'run', 'target')
STEP_KEYS = ('name', 'all', 'client', 'server', 'timeout_s', 'ignore_err', 'dstat_only')
VALIDATION_KEYS = ('name', 'run')
REGRESSION_KEYS = ('global', 'steps')
REGRESSION_CONFIG_KEYS = ('name', 'file', 'json_field', 'alpha', 'history_max_n', 'history_since')
DSTAT_KEYS = ('offset_start', 'offset_end')
HOSTS = ('client', 'server')
DSTAT_ONLY = ('step', 'start', 'end')
# Keys only upstream's format has (in a test or at the top): how the format is recognised.
UPSTREAM_ONLY = ('global', 'steps', 'bridges', 'bridges_hw_accel', 'stats', 'validation', 'regression',
                 'dstat', 'cpus', 'ram', 'timeout_s')
# upstream's default test timeout (its VMs' timeout_s)
DEFAULT_TIMEOUT_S = 3600
# the most paths (bridges) a test may have: one interface each, eth0..eth7
MAX_BRIDGES = 8
IFNAME_RE = re.compile(r'^[A-Za-z0-9_.-]{1,15}$')


class UpstreamSuiteError(ValueError):
    """A suite breaks upstream's format; the message names the field and the rule."""


def is_upstream(data):
    """True when ``data`` (a loaded YAML document) is in upstream's format rather than mptcp.lab's.

    Upstream's suites have a top-level ``global`` or tests with keys only
    upstream has (``steps``, ``bridges``, ``validation``...); mptcp.lab's
    suites never use those keys.
    """
    if not isinstance(data, dict):
        return False
    if 'global' in data:
        return True
    tests = data.get('tests')
    if not isinstance(tests, list):
        return False
    return any(isinstance(t, dict) and any(k in t for k in UPSTREAM_ONLY) for t in tests)


def _type_name(value):
    return type(value).__name__ if value is not None else 'null'


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _keys(obj, allowed, where, errors):
    if not isinstance(obj, dict):
        errors.append('%s must be an object, got %s' % (where, _type_name(obj)))
        return False
    extra = sorted(str(k) for k in obj if k not in allowed)
    if extra:
        errors.append('%s: unknown key(s) %s (allowed: %s)' % (where, ', '.join(extra), ', '.join(allowed)))
    return True


def _string(obj, key, where, errors, required=False):
    if key not in obj:
        if required:
            errors.append('%s.%s is required' % (where, key))
        return
    value = obj[key]
    if not isinstance(value, str) or not value:
        errors.append('%s.%s must be a non-empty string, got %r' % (where, key, value))


def _integer(obj, key, where, errors, minimum):
    if key in obj and not (_is_int(obj[key]) and obj[key] >= minimum):
        errors.append('%s.%s must be an integer >= %d, got %r' % (where, key, minimum, obj[key]))


def _check_bridge(bridge, where, errors):
    if not _keys(bridge, BRIDGE_KEYS, where, errors):
        return
    _string(bridge, 'name', where, errors, required=True)
    if 'rate_mbit' in bridge and not (_is_number(bridge['rate_mbit']) and bridge['rate_mbit'] > 0):
        errors.append('%s.rate_mbit must be a number > 0, got %r' % (where, bridge['rate_mbit']))
    if 'delay_ms' in bridge and not (_is_number(bridge['delay_ms']) and bridge['delay_ms'] >= 0):
        errors.append('%s.delay_ms must be a number >= 0, got %r' % (where, bridge['delay_ms']))
    if 'loss_pc' in bridge and not (_is_number(bridge['loss_pc']) and 0 <= bridge['loss_pc'] <= 100):
        errors.append('%s.loss_pc must be a number in [0, 100], got %r' % (where, bridge['loss_pc']))


def _check_list(obj, key, where, errors, check):
    if key not in obj:
        return
    items = obj[key]
    if not isinstance(items, list):
        errors.append('%s.%s must be a list, got %s' % (where, key, _type_name(items)))
        return
    for i, item in enumerate(items):
        check(item, '%s.%s[%d]' % (where, key, i), errors)


def _check_stat(stat, where, errors):
    if not _keys(stat, STAT_KEYS, where, errors):
        return
    _string(stat, 'name', where, errors, required=True)
    _string(stat, 'run', where, errors, required=True)
    if 'target' in stat and stat['target'] not in HOSTS:
        errors.append('%s.target must be one of client, server, got %r' % (where, stat['target']))


def _check_step(step, where, errors):
    if not _keys(step, STEP_KEYS, where, errors):
        return
    _string(step, 'name', where, errors, required=True)
    for key in ('all', 'client', 'server'):
        _string(step, key, where, errors)
    _integer(step, 'timeout_s', where, errors, 1)
    if 'ignore_err' in step and not isinstance(step['ignore_err'], bool):
        errors.append('%s.ignore_err must be true or false, got %r' % (where, step['ignore_err']))
    if 'dstat_only' in step and step['dstat_only'] not in DSTAT_ONLY:
        errors.append('%s.dstat_only must be one of %s, got %r' % (where, ', '.join(DSTAT_ONLY), step['dstat_only']))


def _check_validation(item, where, errors):
    if not _keys(item, VALIDATION_KEYS, where, errors):
        return
    _string(item, 'name', where, errors, required=True)
    _string(item, 'run', where, errors, required=True)


def _check_regression_config(conf, where, errors, step=False):
    if not _keys(conf, REGRESSION_CONFIG_KEYS, where, errors):
        return
    for key in ('name', 'file'):
        _string(conf, key, where, errors, required=step)
    if 'json_field' in conf:
        field = conf['json_field']
        if not isinstance(field, list) or not all(isinstance(f, str) and f for f in field):
            errors.append('%s.json_field must be a list of non-empty strings, got %r' % (where, field))
    if 'alpha' in conf and not (_is_number(conf['alpha']) and 0 < conf['alpha'] < 1):
        errors.append('%s.alpha must be a number in (0, 1), got %r' % (where, conf['alpha']))
    _integer(conf, 'history_max_n', where, errors, 0)
    _integer(conf, 'history_since', where, errors, 0)
    if step and isinstance(conf.get('file'), str) and not _relative(conf['file']):
        errors.append('%s.file must be a path inside the test\'s results directory (relative, no ..), got %r'
                      % (where, conf['file']))


def _relative(path):
    parts = path.split('/')
    return not path.startswith('/') and '..' not in parts


def _check_regression(reg, where, errors):
    if not _keys(reg, REGRESSION_KEYS, where, errors):
        return
    if 'global' in reg:
        _check_regression_config(reg['global'], where + '.global', errors)
    if 'steps' not in reg:
        errors.append('%s.steps is required' % where)
    else:
        _check_list(reg, 'steps', where, errors,
                    lambda item, w, e: _check_regression_config(item, w, e, step=True))


def _check_config(conf, where, errors, test=False):
    if not _keys(conf, CONFIG_KEYS, where, errors):
        return
    _string(conf, 'name', where, errors, required=test)
    _integer(conf, 'timeout_s', where, errors, 1)
    _integer(conf, 'cpus', where, errors, 1)
    if 'ram' in conf:
        ram = conf['ram']
        if not ((_is_int(ram) and ram >= 1) or (isinstance(ram, str) and ram)):
            errors.append('%s.ram must be an integer >= 1 or a non-empty string, got %r' % (where, ram))
    _check_list(conf, 'bridges', where, errors, _check_bridge)
    if 'bridges_hw_accel' in conf and not isinstance(conf['bridges_hw_accel'], bool):
        errors.append('%s.bridges_hw_accel must be true or false, got %r' % (where, conf['bridges_hw_accel']))
    if 'stats' in conf and _keys(conf['stats'], ('pre', 'post', 'all'), where + '.stats', errors):
        for phase in ('pre', 'post', 'all'):
            _check_list(conf['stats'], phase, where + '.stats', errors, _check_stat)
    _check_list(conf, 'steps', where, errors, _check_step)
    _check_list(conf, 'validation', where, errors, _check_validation)
    if 'regression' in conf:
        _check_regression(conf['regression'], where + '.regression', errors)
    if 'dstat' in conf and _keys(conf['dstat'], DSTAT_KEYS, where + '.dstat', errors):
        for key in DSTAT_KEYS:
            _integer(conf['dstat'], key, where + '.dstat', errors, 0)


def check(data):
    """The rule violations of a suite in upstream's format, each naming its field (empty: valid)."""
    errors = []
    if not _keys(data, TOP_KEYS, 'suite', errors):
        return errors
    if data.get('global') is not None:
        _check_config(data['global'], 'global', errors)
    tests = data.get('tests')
    if not isinstance(tests, list) or not tests:
        errors.append('tests must be a non-empty list, got %r' % (tests,))
        return errors
    for i, test in enumerate(tests):
        _check_config(test, 'tests[%d]' % i, errors, test=True)
    return errors


def merged(global_conf, test):
    """A test's settings: global's, with each key the test states replacing global's."""
    out = dict(global_conf or {})
    out.update(test)
    return out


def slug(text):
    """Lowercase, runs of other characters than [a-z0-9] as one '-' (metric names, directories)."""
    return re.sub(r'[^a-z0-9]+', '-', str(text).lower()).strip('-') or 'x'


def _bridge(bridge, index):
    """A bridge as the runner takes it: its name in the middle namespace and its shaping."""
    name = bridge['name'] if IFNAME_RE.match(bridge['name']) else 'br%d' % index
    return {'name': bridge['name'], 'ifname': name,
            'rate_mbit': bridge.get('rate_mbit') or None,
            'delay_ms': bridge.get('delay_ms') or None,
            'loss_pc': bridge.get('loss_pc') or None}


def _digest(conf):
    """sha256 of what a test runs (steps, stats, validation, dstat trimming), as written."""
    body = dict((k, conf.get(k)) for k in ('steps', 'stats', 'validation', 'dstat'))
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(',', ':')).encode('utf-8')).hexdigest()


def file_name(name):
    """A stat's file name: its name when that is a plain file name, else its slug.

    Outputs of the same name in one phase go to one file, one after the
    other, as upstream appends them.
    """
    return name if re.match(r'^[A-Za-z0-9_.-]+$', name) and name not in ('.', '..') else slug(name)


def translate(data, defaults=None):
    """The tests of a valid suite, each ready for mptcp.lab.perf_upstream_test.

    ``defaults``: the run's verdict knobs standing in for a regression
    setting the suite leaves out (alpha, history_max_n). Raises
    UpstreamSuiteError with every broken rule.
    """
    errors = check(data)
    if errors:
        raise UpstreamSuiteError('suite in %s format: %s' % (FORMAT, '; '.join(errors)))
    defaults = defaults or {}
    tests = []
    seen = {}
    for index, test in enumerate(data['tests']):
        conf = merged(data.get('global'), test)
        where = "tests[%d] '%s'" % (index, conf['name'])
        if conf['name'] in seen:
            raise UpstreamSuiteError('%s: the name is also tests[%d]\'s; names must be unique'
                                     % (where, seen[conf['name']]))
        seen[conf['name']] = index
        bridges = [_bridge(b, i) for i, b in enumerate(conf.get('bridges') or [])]
        if len(bridges) > MAX_BRIDGES:
            raise UpstreamSuiteError('%s: bridges: at most %d (eth0..eth%d), got %d'
                                     % (where, MAX_BRIDGES, MAX_BRIDGES - 1, len(bridges)))
        ifnames = [b['ifname'] for b in bridges]
        if len(set(ifnames)) != len(ifnames):
            raise UpstreamSuiteError('%s: bridges: names must be unique, got %s' % (where, ', '.join(ifnames)))
        reg = conf.get('regression') or {}
        reg_global = reg.get('global') or {}
        not_honoured = []
        steps = []
        metrics = set()
        for i, step in enumerate(reg.get('steps') or []):
            # a step's own settings, else the regression's global ones
            one = merged(reg_global, step)
            try:
                metric = upstream_metric_name(one['name'])
            except RecordError:
                raise UpstreamSuiteError('%s: regression.steps[%d].name %r needs a letter or digit: it names the '
                                         'metric upstream.<name>' % (where, i, one['name']))
            if metric in metrics:
                raise UpstreamSuiteError('%s: regression.steps[%d] \'%s\': its metric %s is another step\'s; '
                                         'names must differ in more than case and punctuation'
                                         % (where, i, one['name'], metric))
            metrics.add(metric)
            steps.append({'name': one['name'], 'metric': metric, 'file': one['file'],
                          'json_field': list(one.get('json_field') or [])})
            for key in ('alpha', 'history_max_n', 'history_since'):
                if key in step and step[key] != reg_global.get(key):
                    not_honoured.append({'field': 'regression.steps[%d].%s' % (i, key), 'value': step[key],
                                         'reason': 'a test is judged with one %s (regression.global\'s) for '
                                                   'all its steps' % key})
        stats = {}
        for phase in ('pre', 'post', 'all'):
            stats[phase] = [{'name': stat['name'], 'run': stat['run'],
                             'hosts': [stat['target']] if stat.get('target') else list(HOSTS),
                             'file': file_name(stat['name'])}
                            for stat in (conf.get('stats') or {}).get(phase) or []]
        for key in ('cpus', 'ram'):
            if key in conf:
                not_honoured.append({'field': key, 'value': conf[key],
                                     'reason': 'the netns lab\'s client and server are namespaces of this '
                                               'machine: they share its CPUs and memory'})
        tests.append({
            'index': index + 1,
            'name': conf['name'],
            'slug': '%03d-%s' % (index + 1, slug(conf['name'])),
            'timeout_s': conf.get('timeout_s') or DEFAULT_TIMEOUT_S,
            'bridges': bridges,
            'bridges_hw_accel': conf.get('bridges_hw_accel', True),
            'stats': stats,
            'steps': [dict(s) for s in conf.get('steps') or []],
            'validation': [dict(v) for v in conf.get('validation') or []],
            'regression': {
                'alpha': reg_global.get('alpha', defaults.get('alpha', 0.05)),
                'history_max_n': reg_global.get('history_max_n', defaults.get('history_max_n', 10)),
                'history_since': reg_global.get('history_since', 0),
                'steps': steps,
            },
            'dstat': {'offset_start': (conf.get('dstat') or {}).get('offset_start', 1),
                      'offset_end': (conf.get('dstat') or {}).get('offset_end', 1)},
            'steps_sha256': _digest(conf),
            'not_honoured': not_honoured,
        })
    return tests


def json_field(document, path):
    """The value at ``path`` (a list of keys; a key that is a number indexes a list) in ``document``.

    Raises KeyError naming the first key that is not there.
    """
    value = document
    for i, key in enumerate(path):
        if isinstance(value, dict) and key in value:
            value = value[key]
        elif isinstance(value, list) and re.match(r'^-?[0-9]+$', key) and -len(value) <= int(key) < len(value):
            value = value[int(key)]
        else:
            raise KeyError('%s has no %r' % ('.'.join(path[:i]) or 'the document', key))
    return value
