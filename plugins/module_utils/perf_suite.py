# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Perf suite definitions: validation, expansion and the measurement plan.

Pure functions, no I/O. The suite format is documented in
roles/perf_suite/README.md; in short::

    name: default                  # optional, defaults to the file name
    description: free text
    defaults:                      # any test field except name
      duration_s: 20
      repetitions: 3
    tests:
      - name: tcp-up
        protocol: tcp              # tcp | mptcp
        paths: 1                   # how many (first N), "all", or which: [2] / [1, 3]
        direction: upload          # upload | download | bidir
        streams: 1
        congestion: cubic          # TCP congestion control (iperf3 -C); host default if unset
        capture: true              # header-only packet capture of each measurement (raw/*.pcap)
      - name: mptcp
        protocol: mptcp
        paths: all
        matrix:                    # expands into mptcp-upload and mptcp-download
          direction: [upload, download]
      - name: rr-mptcp
        kind: latency              # throughput (default, iperf3) | latency (sockperf ping-pong)
        load: bulk                 # latency only: none (default) | bulk (an iperf3 flow meanwhile)
        msg_size: 64               # latency only: request and reply bytes

Every error names the test and the field:
``tests[2] 'mptcp-up': paths must be 1..2 (the lab has 2 paths), got 3``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import itertools
import math
import re

PROTOCOLS = ('tcp', 'mptcp')
DIRECTIONS = ('upload', 'download', 'bidir')
KINDS = ('throughput', 'latency')
LOADS = ('none', 'bulk')
# Fields of latency tests only; and what they default to.
LATENCY_KEYS = ('load', 'msg_size')
LATENCY_DEFAULTS = {'load': 'none', 'msg_size': 64}
MIN_MSG_SIZE, MAX_MSG_SIZE = 14, 65000
# A latency measurement's seconds beyond duration_s: sockperf's fixed 2 s
# pause and its cleanup, and with load the bulk flow's extra second.
LATENCY_EXTRA_S = 3
NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$')
CONGESTION_RE = re.compile(r'^[a-z][a-z0-9_]{0,15}$')
MATRIX_KEYS = ('protocol', 'paths', 'direction', 'streams', 'congestion', 'load')
TEST_KEYS = ('name', 'protocol', 'paths', 'direction', 'streams', 'congestion', 'duration_s', 'omit_s',
             'repetitions', 'matrix', 'capture', 'kind', 'load', 'msg_size')
SUITE_KEYS = ('name', 'description', 'defaults', 'tests')
BUILTIN_DEFAULTS = {
    'protocol': 'mptcp',
    'paths': 'all',
    'direction': 'upload',
    'streams': 1,
    'congestion': None,
    'duration_s': 20,
    'omit_s': 1,
    'repetitions': 3,
    'capture': False,
}
MAX_STREAMS = 128
MAX_DURATION_S = 86400
MAX_REPETITIONS = 1000
# Ideal goodput over a rate-shaped Ethernet path: MSS 1448 (1500 - IP 20 -
# TCP 20 - timestamps 12) out of a 1514-byte frame (tbf counts the Ethernet
# header of the veth skb).
GOODPUT_FACTOR = 1448.0 / 1514.0


class SuiteError(ValueError):
    """Invalid suite definition; the message names the test and the field."""


def _where(index, name):
    if index is None:
        return 'defaults'
    return 'tests[%d]%s' % (index, " '%s'" % name if isinstance(name, str) and name else '')


def _int(value, where, field, low, high, allow_str=False):
    """An integer in [low, high]. Strings only where -e key=value gives them (allow_str)."""
    rule = '%s: %s must be an integer %d..%d, got %r' % (where, field, low, high, value)
    if isinstance(value, bool):
        raise SuiteError(rule)
    if isinstance(value, str):
        if allow_str and value.strip().isdigit():
            value = int(value.strip())
        else:
            raise SuiteError(rule + ('' if allow_str else ' (a string: write numbers without quotes)'))
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value) or value != int(value):
            raise SuiteError(rule)
        value = int(value)
    if not isinstance(value, int) or not low <= value <= high:
        raise SuiteError(rule)
    return value


def _choice(value, where, field, choices):
    if value not in choices:
        raise SuiteError('%s: %s must be one of %s, got %r' % (where, field, ', '.join(choices), value))
    return value


def parse_paths(value, where, path_count):
    """Path ids (1-based, ascending) for a paths field: N, "all" or a list."""
    if value == 'all':
        return list(range(1, path_count + 1))
    if isinstance(value, (list, tuple)):
        if not value:
            raise SuiteError('%s: paths must not be an empty list' % where)
        ids = []
        for v in value:
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= path_count:
                raise SuiteError('%s: paths lists path numbers 1..%d (the lab has %d paths), got %r'
                                 % (where, path_count, path_count, v))
            if v in ids:
                raise SuiteError('%s: paths lists path %d twice' % (where, v))
            ids.append(v)
        return sorted(ids)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= path_count:
        raise SuiteError('%s: paths must be 1..%d (the lab has %d paths), "all", or a list of '
                         'path numbers, got %r' % (where, path_count, path_count, value))
    return list(range(1, value + 1))


def _check_keys(data, allowed, where):
    unknown = sorted(str(k) for k in data if k not in allowed)
    if unknown:
        raise SuiteError('%s: unknown field(s) %s; allowed: %s'
                         % (where, ', '.join(unknown), ', '.join(allowed)))


def _suffix(key, value):
    """The name suffix of a matrix value: P4 (streams), 2paths, allpaths, paths1_3, or the value."""
    if key == 'streams' and isinstance(value, int) and not isinstance(value, bool):
        return 'P%d' % value
    if key == 'paths':
        if isinstance(value, (list, tuple)):
            # paths [1, 3] -> "paths1_3" ("+" or "," would not be a valid test name)
            return 'paths' + '_'.join(str(v) for v in value)
        if isinstance(value, int) and not isinstance(value, bool):
            return '%dpath%s' % (value, '' if value == 1 else 's')
        return '%spaths' % (value,)
    if key == 'load' and value == 'none':
        return 'idle'
    return str(value)


def expand(tests):
    """Expand ``matrix`` entries: one test per combination, named name-v1-v2."""
    out = []
    for index, test in enumerate(tests):
        where = _where(index, test.get('name') if isinstance(test, dict) else None)
        if not isinstance(test, dict):
            raise SuiteError('%s: each test must be a mapping, got %r' % (where, test))
        matrix = test.get('matrix')
        if matrix is None:
            out.append((index, dict(test)))
            continue
        if not isinstance(matrix, dict) or not matrix:
            raise SuiteError('%s: matrix must be a non-empty mapping of %s to lists'
                             % (where, '/'.join(MATRIX_KEYS)))
        if not isinstance(test.get('name'), str) or not test.get('name'):
            raise SuiteError('%s: name is required for a matrix test: the matrix adds -<value> suffixes to '
                             'it (e.g. name: mptcp gives mptcp-upload, mptcp-download), got %r'
                             % (where, test.get('name')))
        keys = []
        for key, values in matrix.items():
            if key not in MATRIX_KEYS:
                raise SuiteError('%s: matrix.%s is not allowed; matrix keys: %s'
                                 % (where, key, ', '.join(MATRIX_KEYS)))
            if key in test:
                raise SuiteError('%s: %s is given both as a field and in matrix' % (where, key))
            if not isinstance(values, list) or not values:
                raise SuiteError('%s: matrix.%s must be a non-empty list' % (where, key))
            for value in values:
                if isinstance(value, (dict, set)) or (isinstance(value, (list, tuple)) and key != 'paths'):
                    raise SuiteError('%s: matrix.%s must list single values, got %r' % (where, key, value))
            keys.append(key)
        for combo in itertools.product(*(matrix[k] for k in keys)):
            t = dict((k, v) for k, v in test.items() if k != 'matrix')
            t.update(zip(keys, combo))
            t['name'] = '-'.join([test['name']] + [_suffix(k, v) for k, v in zip(keys, combo)])
            t['_generated'] = True
            out.append((index, t))
    return out


def _normalize_test(index, test, defaults, path_count):
    name = test.get('name')
    where = _where(index, name)
    generated = test.get('_generated', False)
    if not generated and (not isinstance(name, str) or not NAME_RE.match(name)):
        raise SuiteError('%s: name is required: 1-64 letters, digits, ".", "_" or "-", starting '
                         'with a letter or digit, got %r' % (where, name))
    merged = dict(BUILTIN_DEFAULTS)
    merged.update(defaults)
    merged.update(dict((k, v) for k, v in test.items() if k not in ('name', 'matrix', '_generated')))
    out = {'name': name}
    out['protocol'] = _choice(merged['protocol'], where, 'protocol', PROTOCOLS)
    out['direction'] = _choice(merged['direction'], where, 'direction', DIRECTIONS)
    out['streams'] = _int(merged['streams'], where, 'streams', 1, MAX_STREAMS)
    cc = merged['congestion']
    if cc is not None and (not isinstance(cc, str) or not CONGESTION_RE.match(cc)):
        raise SuiteError('%s: congestion must be a TCP congestion control name (e.g. cubic, bbr), got %r'
                         % (where, cc))
    out['congestion'] = cc
    out['duration_s'] = _int(merged['duration_s'], where, 'duration_s', 1, MAX_DURATION_S)
    out['omit_s'] = _int(merged['omit_s'], where, 'omit_s', 0, MAX_DURATION_S)
    out['repetitions'] = _int(merged['repetitions'], where, 'repetitions', 1, MAX_REPETITIONS)
    if not isinstance(merged['capture'], bool):
        raise SuiteError('%s: capture must be true or false, got %r' % (where, merged['capture']))
    if merged['capture']:
        out['capture'] = True
    kind = _choice(merged.get('kind', 'throughput'), where, 'kind', KINDS)
    if kind == 'latency':
        # the defaults may hold what only some latency tests use (load: bulk)
        _latency_fields(out, test if index is not None else {}, merged, where)
    else:
        for key in LATENCY_KEYS:
            if key in test:
                raise SuiteError('%s: %s applies to kind: latency only (this test is kind: %s)' % (where, key, kind))
    ids = parse_paths(merged['paths'], where, path_count)
    if out['protocol'] == 'tcp' and len(ids) != 1:
        raise SuiteError('%s: paths must select exactly one path for protocol tcp (TCP uses one path), '
                         'got %r' % (where, merged['paths']))
    out['path_ids'] = ids
    out['paths'] = len(ids)
    if generated and not NAME_RE.match(name):
        raise SuiteError('%s: the name the matrix generates must be 1-64 letters, digits, ".", "_" or "-", '
                         'got %r: shorten the test name' % (where, name))
    return out


def _latency_fields(out, test, merged, where):
    """The fields of a request/response test (kind: latency), checked; ``out`` gains them.

    What a latency test does not use is refused when the test itself sets it,
    and otherwise (a suite default meant for the bulk tests) set aside:
    omit_s (sockperf drops its own first 2.4 s); with load: none also
    streams and congestion, which describe the bulk flow.
    """
    out['kind'] = 'latency'
    out['load'] = _choice(merged.get('load', LATENCY_DEFAULTS['load']), where, 'load', LOADS)
    out['msg_size'] = _int(merged.get('msg_size', LATENCY_DEFAULTS['msg_size']), where, 'msg_size',
                           MIN_MSG_SIZE, MAX_MSG_SIZE)
    unused = {'omit_s': 'sockperf drops its own first 2.4 s'}
    if out['load'] == 'none':
        unused.update(streams='it is the bulk flow\'s (load: bulk)', congestion='it is the bulk flow\'s (load: bulk)')
    for key, why in sorted(unused.items()):
        if key in test and test[key] not in (None, False, 1 if key == 'streams' else None):
            raise SuiteError('%s: %s does not apply to kind: latency%s (%s), got %r'
                             % (where, key, ' with load: none' if key in ('streams', 'congestion') else '', why,
                                test[key]))
    out['omit_s'] = 0
    if out['load'] == 'none':
        out['streams'], out['congestion'] = 1, None


def validate_suite(data, path_count, duration_s=None, repetitions=None, default_name=None):
    """Validate a suite definition (parsed YAML) and return it normalized.

    ``path_count`` is how many paths the lab has; ``duration_s`` and
    ``repetitions`` override every test (perf_duration_s, perf_repetitions).
    Returns {name, description, tests: [...]} with every test field filled in:
    name, protocol, paths (count), path_ids, direction, streams, duration_s,
    omit_s, repetitions.
    """
    if isinstance(path_count, bool) or not isinstance(path_count, int) or path_count < 1:
        raise SuiteError('the lab must have at least one path, got %r' % (path_count,))
    if not isinstance(data, dict):
        raise SuiteError('suite: must be a mapping with a "tests" list, got %s' % type(data).__name__)
    _check_keys(data, SUITE_KEYS, 'suite')
    name = data.get('name', default_name)
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise SuiteError('suite: name must be 1-64 letters, digits, ".", "_" or "-", got %r' % (name,))
    description = data.get('description') or ''
    if not isinstance(description, str):
        raise SuiteError('suite: description must be a string')
    defaults = data.get('defaults') or {}
    if not isinstance(defaults, dict):
        raise SuiteError('defaults: must be a mapping of test fields')
    _check_keys(defaults, [k for k in TEST_KEYS if k not in ('name', 'matrix')], 'defaults')
    # Validate the defaults on their own too, so their errors say "defaults".
    probe = dict(BUILTIN_DEFAULTS)
    probe.update(defaults)
    if probe.get('kind', 'throughput') != 'latency':
        # latency fields in the defaults are for the latency tests: checked on their own
        for key in LATENCY_KEYS:
            probe.pop(key, None)
        if 'load' in defaults:
            _choice(defaults['load'], 'defaults', 'load', LOADS)
        if 'msg_size' in defaults:
            _int(defaults['msg_size'], 'defaults', 'msg_size', MIN_MSG_SIZE, MAX_MSG_SIZE)
    _normalize_test(None, dict(probe, name='defaults', protocol='mptcp'), {}, path_count)

    tests = data.get('tests')
    if not isinstance(tests, list) or not tests:
        raise SuiteError('suite: tests must be a non-empty list')
    for index, test in enumerate(tests):
        if isinstance(test, dict):
            _check_keys(test, TEST_KEYS, _where(index, test.get('name')))
    normalized, seen = [], {}
    for index, test in expand(tests):
        t = _normalize_test(index, test, defaults, path_count)
        if t['name'] in seen:
            raise SuiteError("%s: name %r is used twice (also by tests[%d])"
                             % (_where(index, t['name']), t['name'], seen[t['name']]))
        seen[t['name']] = index
        if duration_s is not None:
            t['duration_s'] = _int(duration_s, 'perf_duration_s', 'value', 1, MAX_DURATION_S, allow_str=True)
        if repetitions is not None:
            t['repetitions'] = _int(repetitions, 'perf_repetitions', 'value', 1, MAX_REPETITIONS, allow_str=True)
        normalized.append(t)
    return {'name': name, 'description': description, 'tests': normalized}


def expected_mbps(test, lab_paths):
    """Ideal goodput of a test over rate-shaped paths, or None when unknown.

    0.956 x the sum of the rates of the paths used (both directions count for
    bidir). None when a used path has no rate (unshaped, e.g. bare metal), and
    for a request/response test (kind: latency), which has no bulk throughput.
    """
    if test.get('kind') == 'latency':
        return None
    rates = []
    for pid in test['path_ids']:
        path = lab_paths[pid - 1] if lab_paths and pid <= len(lab_paths) else None
        rate = (path or {}).get('rate_mbit')
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate <= 0:
            return None
        rates.append(float(rate))
    total = GOODPUT_FACTOR * sum(rates)
    if test['direction'] == 'bidir':
        total *= 2
    return round(total, 3)


def plan(suite):
    """The measurement order: repetitions interleaved across tests.

    Round r runs repetition r of every test that has one, in suite order
    (A B C A B C ...), so slow drift of the machine spreads evenly over the
    tests. Each item carries k/N and its test's r/R for progress lines, and
    the planned traffic seconds (omit + duration) for the ETA.
    """
    tests = suite['tests']
    rounds = max(t['repetitions'] for t in tests)
    items = []
    for rep in range(1, rounds + 1):
        for index, t in enumerate(tests):
            if rep > t['repetitions']:
                continue
            items.append({
                'test': t['name'], 'test_index': index, 'rep': rep, 'reps': t['repetitions'],
                'protocol': t['protocol'], 'path_ids': list(t['path_ids']), 'paths': t['paths'],
                'direction': t['direction'], 'streams': t['streams'], 'congestion': t['congestion'],
                'duration_s': t['duration_s'], 'omit_s': t['omit_s'],
                'planned_s': t['duration_s'] + t['omit_s'],
                'capture': t.get('capture', False),
            })
            if t.get('kind') == 'latency':
                items[-1].update(kind='latency', load=t['load'], msg_size=t['msg_size'],
                                 planned_s=t['duration_s'] + LATENCY_EXTRA_S + (1 if t['load'] == 'bulk' else 0))
    total = len(items)
    for k, item in enumerate(items, 1):
        item['k'] = k
        item['n'] = total
        item['label'] = '[%d/%d] %s rep %d/%d' % (k, total, item['test'], item['rep'], item['reps'])
    return items


def batches(items):
    """Consecutive items of one kind: [{kind, items}], in plan order.

    A kind has its own measurement module (throughput: perf_measure,
    latency: perf_latency), so each batch is one looped task; the plan's
    order is kept.
    """
    out = []
    for item in items:
        kind = item.get('kind', 'throughput')
        if not out or out[-1]['kind'] != kind:
            out.append({'kind': kind, 'items': []})
        out[-1]['items'].append(item)
    return out


def attach_links(items, links):
    """Give each plan item the generator links of its paths, its bind and server addresses."""
    by_path = dict((int(link['path']), link) for link in links)
    for item in items:
        missing = [i for i in item['path_ids'] if i not in by_path]
        if missing:
            raise SuiteError('%s: the generator has no link for path(s) %s'
                             % (item['test'], ', '.join(str(i) for i in missing)))
        used = [by_path[i] for i in item['path_ids']]
        item['links'] = used
        item['bind'] = used[0].get('address')
        item['server'] = used[0].get('peer_address')
    return items


def segments(items, path_count):
    """Split the plan where the MPTCP path set changes.

    MPTCP over a subset of the paths needs the sink to announce only those
    paths, which is an endpoint change; TCP does not care. Consecutive items
    share a segment while the MPTCP path set stays the same, so endpoints
    change only when needed. Each segment is {mptcp_path_ids, items}; the
    first segment with MPTCP work decides the set for TCP-only stretches
    around it. With only full-path MPTCP tests (the usual case) there is
    exactly one segment.
    """
    full = list(range(1, path_count + 1))
    out = []
    current = None
    for item in items:
        wanted = item['path_ids'] if item['protocol'] == 'mptcp' else None
        if out and (wanted is None or wanted == current):
            out[-1]['items'].append(item)
            continue
        if out and current is None and wanted is not None:
            # A TCP-only segment so far: adopt this set, no change needed.
            current = wanted
            out[-1]['mptcp_path_ids'] = wanted
            out[-1]['items'].append(item)
            continue
        current = wanted
        out.append({'mptcp_path_ids': wanted, 'items': [item]})
    for seg in out:
        if seg['mptcp_path_ids'] is None:
            seg['mptcp_path_ids'] = current or full
    for i, seg in enumerate(out, 1):
        seg['index'] = i
    return out
