# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The run record (summary.json): its one owner.

Everything about the record lives here: the schema version and the metrics
(docs/run-record.md, docs/run-record.schema.json), building the record from
the plan and the measurements, a test's validity (decided once, when the
record is built), reading a record back (migrating older ones on read), a
test's identity and the history's view of a record, and the opener the
read-side modules share. summary.json is written once and never rewritten.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import datetime
import hashlib
import json
import math
import os
import re
import tempfile

from ansible_collections.mptcp.lab.plugins.module_utils.perf import perf_stats
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_stats import median
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_suite import expected_mbps

# The version of the run record's schema (docs/run-record.schema.json).
# Records without the field are version 0 (wave 1) and are migrated on read.
SCHEMA_VERSION = 1
METRIC = 'throughput_mbps'
SHAPING_KEYS = ('rate_mbit', 'delay_ms', 'loss_pct', 'queue_limit')
RUN_ID_RE = re.compile(r'^[A-Za-z0-9._-]+$')

# The metrics of a test, one table (docs/run-record.md, docs/statistics.md):
# name, unit, which way is better, the default minimum effect of the verdict
# (percent of the baseline median), whether the verdict judges it by default,
# and the run field an older measurement result carries it in (None: only in
# the result's ``metrics``). Adding a metric is one line here (and one in the
# schema's enum): every run that reports it gets runs[].metrics.<name> and its
# test tests[].metrics.<name>, the history keeps it and the verdict can judge it.
Metric = collections.namedtuple('Metric', 'name unit better min_effect_pct judged field')
METRICS = (
    Metric('throughput_mbps', 'Mbit/s', 'higher', 1.5, True, 'throughput_mbps'),
    Metric('cpu_s_per_gb', 's/GB', 'lower', 2.0, True, None),
    Metric('retransmits', 'count', 'lower', 50.0, False, 'retransmits'),
    Metric('rr_tps', 'transactions/s', 'higher', 3.0, True, None),
    Metric('latency_p50_us', 'us', 'lower', 5.0, False, None),
    Metric('latency_p90_us', 'us', 'lower', 10.0, False, None),
    Metric('latency_p99_us', 'us', 'lower', 10.0, True, None),
    Metric('jain_index', 'fraction', 'higher', 2.0, True, None),
    Metric('mptcp_share', 'fraction', 'higher', 5.0, False, None),
)
BETTER = ('higher', 'lower')
RUN_KEYS = ('throughput_mbps', 'per_path_mbps', 'subflows', 'fallback', 'ok', 'error')
EXTRA_RUN_KEYS = ('duration_s', 'elapsed_s', 'per_path_bytes', 'per_path_wire_mbps', 'streams',
                  'fallback_reasons', 'retransmits', 'sent_mbps', 'congestion', 'cpu', 'started', 'argv',
                  'launcher', 'sink_stats_error', 'cpu_cost', 'flows', 'rr', 'load', 'mptcp_events',
                  'retransmits_by_source', 'bytes_received', 'attempts', 'retried_error', 'started_at',
                  'start_late_s')
# What the record keeps of each command around a measurement (runs[].commands).
COMMAND_RUN_KEYS = ('host', 'phase', 'name', 'argv', 'rc', 'timed_out', 'duration_s', 'ok', 'ignored')
# The CPU seconds of a host in runs[].cpu_cost.hosts.<end> (COMMON contract).
CPU_COST_KEYS = ('user_s', 'system_s', 'softirq_s', 'irq_s', 'busy_s', 'lab_s', 'other_s')


def metric_table():
    """{name: Metric} of METRICS, in table order (a later line of the same name wins).

    A line of the older shape (name, unit, better, field) still reads: it gets
    the default minimum effect of 1.5 percent and is not judged by default.
    """
    table = collections.OrderedDict()
    for entry in METRICS:
        if not isinstance(entry, Metric):
            entry = tuple(entry)
            if len(entry) == 4:
                entry = Metric(entry[0], entry[1], entry[2], 1.5, False, entry[3])
            else:
                entry = Metric(*entry)
        table[entry.name] = entry
    return table


def metric_names():
    return list(metric_table())


# The metrics a suite names itself: a test of kind ``upstream`` (a suite in the
# format of multipath-tcp/mptcp-upstream-virtme-docker) measures one metric per
# step of its ``regression`` section, named "upstream." + the slug of the
# step's name (upstream_metric_name). They are not in METRICS: metric_info
# gives their line (unit from the record, else "value"; higher is better;
# minimum effect UPSTREAM_MIN_EFFECT_PCT; judged whenever a test measured them).
UPSTREAM_KIND = 'upstream'
UPSTREAM_FORMAT = 'mptcp-upstream-virtme-docker'
UPSTREAM_METRIC_RE = re.compile(r'^upstream\.[a-z0-9][a-z0-9-]*$')
UPSTREAM_UNIT = 'value'
UPSTREAM_MIN_EFFECT_PCT = 1.5
# A test's own judging parameters (tests[].upstream.regression), in the history's view.
UPSTREAM_JUDGING_KEYS = ('alpha', 'history_max_n', 'history_since')


def is_dynamic_metric(name):
    """Whether ``name`` is a metric named by a suite (upstream.<slug>), not one of METRICS."""
    return isinstance(name, str) and bool(UPSTREAM_METRIC_RE.match(name)) and name not in metric_table()


def metric_info(name, unit=None):
    """The Metric line of ``name``: METRICS' own, or that of a metric named by a suite
    (upstream.<slug>: ``unit`` as the record gives it, else "value"; higher is better;
    a minimum effect of UPSTREAM_MIN_EFFECT_PCT; judged). None for any other name."""
    table = metric_table()
    if name in table:
        return table[name]
    if is_dynamic_metric(name):
        return Metric(name, str(unit) if unit else UPSTREAM_UNIT, 'higher', UPSTREAM_MIN_EFFECT_PCT, True, None)
    return None


def upstream_metric_name(step_name):
    """The metric of a regression step of an upstream suite: "upstream." + the step's name
    in lower case, each run of characters other than [a-z0-9] one '-', no '-' at either end."""
    text = re.sub(r'[^a-z0-9]+', '-', str(step_name).lower()).strip('-')
    if not text:
        raise RecordError('regression step %r: its name has no letter or digit to name a metric' % (step_name,))
    return 'upstream.' + text


def default_judged():
    """The metrics the verdict judges unless told otherwise (METRICS' judged column)."""
    return [m.name for m in metric_table().values() if m.judged]


def _finite(value):
    """A number that JSON and the statistics can hold (no bool, NaN or infinity)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


TAG_KEY_RE = re.compile(r'^[A-Za-z0-9_.-]{1,64}$')
TAG_VALUE_RE = re.compile(r'^[A-Za-z0-9_.:@/+~-]{1,200}$')


class PerfError(ValueError):
    """Base of the errors the perf modules report as a failure (no traceback)."""


class RecordError(PerfError):
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
    """Keep the shaping keys of each path, numbers normalized, None dropped.

    An explicit ``rate_mbit: null`` (an unshaped path: a test's ``shaping:
    none``) is kept, so that it never reads as a path whose rate is unknown.
    """
    if paths is None:
        return None
    result = []
    for item in paths:
        item = item or {}
        shape = dict((k, _number(item[k])) for k in SHAPING_KEYS if item.get(k) is not None)
        if 'rate_mbit' in item and item['rate_mbit'] is None:
            shape['rate_mbit'] = None
        result.append(shape)
    return result


def _lab_paths(summary):
    """The lab-wide paths recorded in the run record."""
    lab = summary.get('lab')
    for candidate in (summary.get('lab_paths'), lab.get('paths') if isinstance(lab, dict) else None):
        if candidate:
            return candidate
    return None


def _int_field(test, field, default):
    value = test.get(field)
    if value in (None, ''):
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise RecordError('test %r: %s must be an integer, got %r' % (test.get('name'), field, value))
    try:
        number = float(value)
    except ValueError:
        raise RecordError('test %r: %s must be an integer, got %r' % (test.get('name'), field, value))
    if not math.isfinite(number) or number != int(number):
        raise RecordError('test %r: %s must be an integer, got %r' % (test.get('name'), field, value))
    return int(number)


def test_identity(summary, test):
    """(test_key, identity dict) of one test of a run record.

    Identity comes from the record alone. The shaping is that of the paths
    the test uses (``path_ids``, by default the first ``paths`` paths), read
    from the test's own ``shaping``, else picked from the record's
    ``lab_paths``. The congestion control, duration, omitted seconds, the
    pairs it runs on at once and the test's own sysctls, offloads, backup
    paths and commands are part of it
    when the record has them. The kernel never is: a baseline is the same
    test on another kernel.
    """
    paths = _int_field(test, 'paths', 1) or 1
    path_ids = test.get('path_ids') or list(range(1, paths + 1))
    if not isinstance(path_ids, list) or not all(_is_number(i) and math.isfinite(i) and i == int(i) for i in path_ids):
        raise RecordError('test %r: path_ids must be a list of integers, got %r'
                          % (test.get('name'), test.get('path_ids')))
    path_ids = [int(i) for i in path_ids]
    shaping = test.get('shaping') or test.get('lab_paths')
    if not shaping:
        # lab-wide paths: pick the ones this test uses
        lab = _lab_paths(summary)
        if lab and isinstance(lab, list) and all(0 < i <= len(lab) for i in path_ids):
            shaping = [lab[i - 1] for i in path_ids]
        else:
            shaping = None
    if shaping is not None:
        if not isinstance(shaping, list) or not all(isinstance(p, dict) or p is None for p in shaping):
            raise RecordError('test %r: shaping (lab_paths) must be a list of objects' % (test.get('name'),))
        shaping = normalize_shaping(shaping[:len(path_ids)])
    if test.get('kind') == UPSTREAM_KIND:
        return _upstream_identity(test, paths, path_ids, shaping)
    identity = {
        'name': str(test.get('name')),
        'protocol': str(test.get('protocol')),
        'paths': paths,
        'path_ids': path_ids,
        'direction': str(test.get('direction') or 'upload'),
        'streams': _int_field(test, 'streams', 1) or 1,
        'shaping': shaping,
    }
    # What the traffic was like also changes the figures: a congestion control
    # or a measurement window of its own makes another test, never a baseline.
    # (Only when recorded, so records without them keep their identity.)
    # (kind, load and msg_size are recorded for request/response tests only)
    for field in ('congestion', 'duration_s', 'omit_s', 'kind', 'load', 'msg_size'):
        if test.get(field) not in (None, ''):
            identity[field] = _number(test[field])
    # several pairs at once (suite key pairs) is another test (one pair: absent, as before)
    if _is_number(test.get('pairs')) and test['pairs'] > 1:
        identity['pairs'] = _number(test['pairs'])
    # so are its flows of each protocol (suite key mix) and a shared bottleneck (suite key bottleneck)
    for field in ('mix', 'bottleneck'):
        value = test.get(field)
        if value:
            if not isinstance(value, dict):
                raise RecordError('test %r: %s must be an object, got %r' % (test.get('name'), field, value))
            identity[field] = dict((str(k), _number(v)) for k, v in value.items())
    # so do the test's own sysctls (suite key sysctls), as the kernel writes them
    sysctls = test.get('sysctls')
    if sysctls:
        if not isinstance(sysctls, dict):
            raise RecordError('test %r: sysctls must be an object, got %r' % (test.get('name'), sysctls))
        identity['sysctls'] = dict((str(k), ' '.join(str(v).split())) for k, v in sysctls.items())
    # and its own offloads and backup paths (suite keys offloads, backup_paths)
    offloads = test.get('offloads')
    if offloads:
        if not isinstance(offloads, dict):
            raise RecordError('test %r: offloads must be an object, got %r' % (test.get('name'), offloads))
        identity['offloads'] = dict((str(k), bool(v)) for k, v in offloads.items())
    backup = test.get('backup_paths')
    if backup:
        if not isinstance(backup, list):
            raise RecordError('test %r: backup_paths must be a list, got %r' % (test.get('name'), backup))
        identity['backup_paths'] = sorted(_number(v) for v in backup)
    # and the commands run around its measurements (a script by its content)
    commands = test.get('commands')
    if commands:
        if not isinstance(commands, dict):
            raise RecordError('test %r: commands must be an object, got %r' % (test.get('name'), commands))
        identity['commands'] = dict(
            (phase, [dict((k, c[k]) for k in ('host', 'argv', 'sha256', 'args') if k in c)
                     for c in commands[phase] if isinstance(c, dict)])
            for phase in sorted(commands) if isinstance(commands[phase], list))
    key = hashlib.sha256(canonical_json(identity).encode('utf-8')).hexdigest()[:16]
    return key, identity


def _upstream_identity(test, paths, path_ids, shaping):
    """(test_key, identity) of a test of kind upstream: its name, kind, paths and their
    shaping, and the digest of its steps, stats and validation as the suite wrote them
    (tests[].upstream.steps_sha256, when recorded). No protocol, direction or streams: the
    suite's own shell steps decide those, and the digest changes when they do. Its
    measured duration is no setting and not part of it."""
    identity = {
        'name': str(test.get('name')),
        'kind': UPSTREAM_KIND,
        'paths': paths,
        'path_ids': path_ids,
        'shaping': shaping,
    }
    upstream = test.get('upstream')
    if upstream is not None and not isinstance(upstream, dict):
        raise RecordError('test %r: upstream must be an object, got %r' % (test.get('name'), upstream))
    digest = (upstream or {}).get('steps_sha256')
    if digest not in (None, ''):
        if not isinstance(digest, str):
            raise RecordError('test %r: upstream.steps_sha256 must be a hex string, got %r'
                              % (test.get('name'), digest))
        identity['steps_sha256'] = digest.lower()
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


def test_validity(test, values=None):
    """(valid, reason) of a test: the one place validity is decided.

    The run record calls it once, when it is built, and records the answer
    (``valid``, ``invalid_reason``); reading a record of schema version 1 or
    later takes that answer, and only older records are judged again here
    (migration). Invalid when a repetition failed (its own gate, perf_parse),
    when an MPTCP test fell back to TCP, when there was no repetition or none
    produced a figure of the test's primary metric (throughput; the
    transaction rate of a request/response test, whose throughput is null),
    or when an older record says so.
    """
    if values is None:
        values = test_values(test)
    runs = [r for r in (test.get('runs') or []) if isinstance(r, dict)]
    failed = [r for r in runs if not r.get('ok')]
    if failed:
        errors = sorted(set(str(r.get('error') or 'failed') for r in failed))
        return False, '%d of %d repetitions failed: %s' % (len(failed), len(runs), '; '.join(errors))
    if str(test.get('protocol')) == 'mptcp' and any(r.get('fallback') for r in runs):
        return False, 'MPTCP fell back to TCP in %d repetition(s)' % sum(1 for r in runs if r.get('fallback'))
    upstream = test.get('kind') == UPSTREAM_KIND
    if upstream:
        # the suite's own validation commands (tests[].upstream.validation)
        failed = [c for c in upstream_part(test, 'validation') or [] if isinstance(c, dict) and not c.get('ok')]
        if failed:
            return False, 'validation failed: %s' % ', '.join(
                '%s (rc %s)' % (c.get('name'), c.get('rc')) for c in failed)
    if not values:
        primary = primary_metric(test)
        if upstream and primary == METRIC:
            pass    # a test of kind upstream without a regression section: its steps and validation decide
        elif primary == METRIC or not metric_values(runs, primary):
            return False, 'no repetition produced a %s' % metric_label(primary)
    # wave-1 records: the runner's own mark (an older verdict step wrote
    # 'invalid' into the same field, with the same reason)
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


TIME_FORMATS = {
    'iso': '%Y-%m-%dT%H:%M:%SZ',          # the run record: 2026-11-25T08:15:37Z
    'csv': '%Y-%m-%d %H:%M:%S +0000',     # what change-point tools parse (history.csv)
}


def format_time(epoch, style='csv'):
    """A UTC time stamp of epoch seconds, in one of TIME_FORMATS."""
    stamp = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)
    return stamp.strftime(TIME_FORMATS[style])


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


# ------------------------------------------------------------------ tags

def parse_tag(text, field):
    """(key, value) of one tag 'key:value' or 'key=value' (the first separator splits)."""
    if not isinstance(text, str):
        raise RecordError('%s: a tag is a string key:value, got %r' % (field, text))
    seps = [i for i in (text.find(':'), text.find('=')) if i > 0]
    if not seps:
        raise RecordError('%s: a tag is key:value (or key=value), got %r' % (field, text))
    key, value = text[:min(seps)], text[min(seps) + 1:]
    if not TAG_KEY_RE.match(key):
        raise RecordError('%s: the key of a tag is 1-64 letters, digits, ".", "_" or "-", got %r' % (field, key))
    if not TAG_VALUE_RE.match(value):
        raise RecordError('%s: the value of a tag is 1-200 letters, digits or . _ - : @ / + ~, got %r'
                          % (field, value))
    return key, value


def parse_tags(tags, field='perf_tags'):
    """{key: value} of a list of 'key:value' strings (a later key wins), validated."""
    if tags is None:
        return {}
    if isinstance(tags, str):
        tags = [tags]
    if not isinstance(tags, list):
        raise RecordError('%s: a list of key:value strings, got %r' % (field, tags))
    out = {}
    for index, tag in enumerate(tags):
        key, value = parse_tag(tag, '%s[%d]' % (field, index))
        out[key] = value
    return out


def tags_text(tags):
    """'k1=v1;k2=v2' (keys sorted): the CSV form of a run's tags."""
    return ';'.join('%s=%s' % (k, tags[k]) for k in sorted(tags or {}))


# ------------------------------------------------------------------ building

def summarize(values):
    """{values, median, mean, min, max, cv, n} of the numbers among values, rounded for the record.

    cv = sample stdev / mean (fraction), None for fewer than 2 values (perf_stats.summarize).
    """
    stats = perf_stats.summarize(v for v in values if _is_number(v))
    for key, digits in (('median', 3), ('mean', 3), ('cv', 5)):
        if stats[key] is not None:
            stats[key] = round(stats[key], digits)
    return stats


def raw_base(item):
    """File name stem of one measurement's raw outputs."""
    return '%03d-%s-rep%d' % (item['k'], slug(item['test']), item['rep'])


def run_metrics(run, reported=None):
    """runs[].metrics: each metric's figure of one run (None when it has none).

    ``reported`` is the measurement's own ``metrics`` (the contract); a metric
    it does not name is taken from the run's field of the same meaning, for
    results and records older than it. Metrics that have such a field are
    always there (None when absent), the others only when the measurement
    reported them: a bulk test has no transaction rate.
    """
    reported = reported if isinstance(reported, dict) else {}
    out = {}
    for metric in metric_table().values():
        if metric.name in reported:
            value = reported[metric.name]
        elif metric.field:
            value = run.get(metric.field)
        else:
            continue
        if isinstance(value, dict):          # tolerate a per-run summary object
            value = value.get('mean', value.get('median'))
        out[metric.name] = value if _finite(value) else None
    # the metrics a suite names itself (upstream.<slug>), as reported
    for name in sorted(n for n in reported if is_dynamic_metric(n)):
        out[name] = reported[name] if _finite(reported[name]) else None
    return out


def present_metrics(runs):
    """The metrics that some run carries: table order, throughput always first, then the
    metrics a suite names (upstream.<slug>) in name order."""
    seen = set(['throughput_mbps'])
    for run in runs:
        if isinstance(run, dict) and isinstance(run.get('metrics'), dict):
            seen.update(run['metrics'])
    return [name for name in metric_table() if name in seen] + sorted(n for n in seen if is_dynamic_metric(n))


def metric_values(runs, name):
    """The figures of metric ``name`` of the successful runs, in order."""
    return [float((r.get('metrics') or {}).get(name)) for r in runs
            if isinstance(r, dict) and r.get('ok') and _finite((r.get('metrics') or {}).get(name))]


def test_metrics(runs, units=None):
    """tests[].metrics: each metric some run has, its statistics over the successful runs,
    with unit and better (``units``: {name: unit} of the metrics a suite names)."""
    out = {}
    for name in present_metrics(runs):
        spec = metric_info(name, (units or {}).get(name))
        stats = summarize(metric_values(runs, name))
        stats.update(unit=spec.unit, better=spec.better)
        out[name] = stats
    return out


def upstream_part(test, key):
    """tests[].upstream.<key> of a test of kind upstream (None when absent or not an object/list)."""
    upstream = test.get('upstream')
    value = upstream.get(key) if isinstance(upstream, dict) else None
    return value if isinstance(value, (dict, list)) else None


def regression_steps(test):
    """tests[].upstream.regression.steps: the suite's regression steps, each naming its metric."""
    regression = upstream_part(test, 'regression') or {}
    steps = regression.get('steps') if isinstance(regression, dict) else None
    return [s for s in steps or [] if isinstance(s, dict)]


def upstream_metrics(test):
    """The metrics a test of kind upstream measured or declared (upstream.<slug>), in name order."""
    names = set(n for n in (test.get('metrics') or {}) if is_dynamic_metric(n))
    for run in test.get('runs') or []:
        if isinstance(run, dict) and isinstance(run.get('metrics'), dict):
            names.update(n for n in run['metrics'] if is_dynamic_metric(n))
    names.update(s['metric'] for s in regression_steps(test) if is_dynamic_metric(s.get('metric')))
    return sorted(names)


def primary_metric(test):
    """The metric a test exists to measure: throughput, or the transaction rate of a
    request/response test (whose throughput is null by design), or for a test of kind
    upstream its first metric: that of the first step of its regression section, else the
    first of its upstream.* metrics in name order."""
    runs = [r for r in (test.get('runs') or []) if isinstance(r, dict)]
    if any(_finite((r.get('metrics') or {}).get('throughput_mbps', r.get('throughput_mbps'))) for r in runs):
        return 'throughput_mbps'
    names = upstream_metrics(test)
    if names:
        for step in regression_steps(test):
            if step.get('metric') in names:
                return step['metric']
        return names[0]
    if test.get('kind') == 'latency' or any('rr_tps' in (r.get('metrics') or {}) for r in runs):
        return 'rr_tps'
    return 'throughput_mbps'


def metric_label(name):
    """How a validity message names a metric."""
    return {'throughput_mbps': 'throughput', 'rr_tps': 'transaction rate'}.get(name, 'figure of %s' % name)


def cpu_cost_medians(runs):
    """tests[].cpu_cost: per host (generator, sink) the median CPU seconds per GB delivered
    of each kind (user, system, softirq, irq, busy, lab, other) over the successful runs,
    and whether both ends shared one machine (then cpu_s_per_gb counts it once)."""
    columns = {}
    same = set()
    for run in runs:
        cost = run.get('cpu_cost') if isinstance(run, dict) and run.get('ok') else None
        if not isinstance(cost, dict) or not _finite(cost.get('gb_delivered')) or not cost['gb_delivered'] > 0:
            continue
        if isinstance(cost.get('same_machine'), bool):
            same.add(cost['same_machine'])
        for end, figures in (cost.get('hosts') or {}).items():
            if not isinstance(figures, dict):
                continue
            for key in CPU_COST_KEYS:
                if _finite(figures.get(key)):
                    columns.setdefault(str(end), {}).setdefault(key[:-2] + '_s_per_gb', []).append(
                        figures[key] / cost['gb_delivered'])
    if not columns:
        return None
    hosts = dict((end, dict((k, round(median(v), 4)) for k, v in sorted(figs.items())))
                 for end, figs in sorted(columns.items()))
    return {'same_machine': same.pop() if len(same) == 1 else None, 'hosts': hosts}


def build_run(item, result):
    """One run of the record from a plan item and the measurement's task result.

    ``result`` is what perf_measure returned, or a failed/unreachable task
    result: then the run is kept with the task's error. A run's ``ok`` is
    the measurement's own gate (perf_parse.gate).
    """
    rec = {'rep': item['rep'], 'k': item['k']}
    result = result or {}
    if result.get('unreachable') or result.get('failed') or 'ok' not in result:
        msg = result.get('msg') or ('host unreachable' if result.get('unreachable') else
                                    'measurement task did not run')
        rec.update(throughput_mbps=None, per_path_mbps=[None] * item['paths'], subflows=None,
                   fallback=None, ok=False, error='task failed: %s' % msg, duration_s=0)
    else:
        fields = tuple(m.field for m in metric_table().values() if m.field)
        for key in RUN_KEYS + EXTRA_RUN_KEYS + fields:
            if key in result:
                rec[key] = result[key]
        rec['ok'] = bool(result.get('ok'))
        rec['error'] = result.get('error')
    # the test's own commands around the measurement (suite key commands):
    # what ran, and a failure of one makes the run fail (its output is in raw/)
    if result.get('commands'):
        rec['commands'] = [dict((k, c.get(k)) for k in COMMAND_RUN_KEYS) for c in result['commands']
                           if isinstance(c, dict)]
    if result.get('commands_error') and rec.get('ok'):
        rec['ok'] = False
        rec['error'] = str(result['commands_error'])
    rec['metrics'] = run_metrics(rec, result.get('metrics'))
    rec['raw'] = raw_base(item)
    return rec


# A measurement over several pairs at once is valid when its flows started
# within this fraction of their measured seconds of each other.
MAX_SKEW_FRACTION = 0.1
# What the record keeps of each flow of a measurement over several pairs (runs[].flows).
FLOW_KEYS = ('throughput_mbps', 'per_path_mbps', 'subflows', 'fallback', 'ok', 'error', 'retransmits',
             'duration_s', 'started_at', 'start_late_s', 'attempts', 'retried_error')


def jain_index(values):
    """Jain's fairness index of the flows' figures: (sum x)^2 / (n sum x^2), 1 when all are equal,
    1/n when one flow has everything; None without figures (or all zero)."""
    values = [float(v) for v in values if _finite(v)]
    squares = sum(v * v for v in values)
    if not values or squares <= 0:
        return None
    return round(sum(values) ** 2 / (len(values) * squares), 5)


def _sum_or_none(values, digits=3):
    """The sum of the figures, None when one is missing."""
    values = list(values)
    if not values or not all(_finite(v) for v in values):
        return None
    return round(sum(values), digits)


def build_flow(item, flow, index, result):
    """One flow of a measurement over several pairs: its pair, protocol and figures (build_run's)."""
    one = build_run(item, result)
    rec = {'generator': flow['generator'], 'sink': flow['sink'], 'protocol': flow['protocol']}
    rec.update((k, one.get(k)) for k in FLOW_KEYS)
    # the first flow's raw outputs are the measurement's own; the others carry their number
    rec['raw'] = raw_base(item) if index == 1 else '%s.flow%d' % (raw_base(item), index)
    return rec


def build_concurrent_run(item, results):
    """One run of a measurement over several pairs at once (``item['flows']``, ``results`` in that order).

    The run's throughput is the flows' aggregate, per path too (path i of
    every pair), its subflows the fewest of any flow, and it is ok when
    every flow is. Its metrics: the aggregate throughput, Jain's fairness
    index over the flows and the retransmits of all. The CPU cost per GB is
    not given: the ends of several pairs share CPUs (the netns lab) or not
    (other labs), so no one figure means the same in both. ``start_skew_ms``
    is the spread of the flows' start times; more than MAX_SKEW_FRACTION of
    their measured seconds makes the run invalid (they did not run at once).
    """
    flows = [build_flow(item, flow, i, res) for i, (flow, res) in enumerate(zip(item['flows'], results), 1)]
    paths = [f['per_path_mbps'] or [] for f in flows]
    per_path = [_sum_or_none(p[i] if len(p) > i else None for p in paths) for i in range(item['paths'])]
    errors = ['flow %d (%s -> %s): %s' % (i, f['generator'], f['sink'], f['error'] or 'not valid')
              for i, f in enumerate(flows, 1) if not f['ok']]
    # MPTCP's gates (subflows, fallback) are its flows' (with mix, TCP flows ride along)
    gated = [f for f in flows if f['protocol'] == item['protocol']] or flows
    subflows = [f['subflows'] for f in gated]
    fallbacks = [f['fallback'] for f in gated]
    starts = [f['started_at'] for f in flows if _finite(f.get('started_at'))]
    skew = round((max(starts) - min(starts)) * 1000.0, 1) if len(starts) == len(flows) else None
    measured = [f['duration_s'] for f in flows if _finite(f['duration_s'])]
    if not errors and skew is not None and measured and skew > MAX_SKEW_FRACTION * 1000.0 * min(measured):
        errors.append('the flows started %.0f ms apart, more than %d %% of the %.1f s they measured: not at once'
                      % (skew, MAX_SKEW_FRACTION * 100, min(measured)))
    rec = {
        'rep': item['rep'], 'k': item['k'],
        'throughput_mbps': _sum_or_none(f['throughput_mbps'] for f in flows),
        'per_path_mbps': per_path,
        'subflows': None if None in subflows else min(subflows),
        'fallback': True if True in fallbacks else None if None in fallbacks else False,
        'ok': not errors,
        'error': '; '.join(errors) or None,
        'retransmits': _sum_or_none((f['retransmits'] for f in flows), 0),
        'duration_s': max([f['duration_s'] for f in flows if _finite(f['duration_s'])] or [0]),
        'start_skew_ms': skew,
        'flows': flows,
    }
    if rec['retransmits'] is not None:
        rec['retransmits'] = int(rec['retransmits'])
    rec['metrics'] = {'throughput_mbps': rec['throughput_mbps'], 'retransmits': rec['retransmits'],
                      'jain_index': jain_index(f['throughput_mbps'] for f in flows) if not errors else None}
    protocols = sorted(set(f['protocol'] for f in flows))
    if len(protocols) > 1:
        # flows of both protocols (suite key mix): what each protocol's flows got together, and their share
        per_protocol = dict((p, _sum_or_none(f['throughput_mbps'] for f in flows if f['protocol'] == p))
                            for p in protocols)
        rec['per_protocol_mbps'] = per_protocol
        total = rec['throughput_mbps']
        rec['protocol_share'] = dict((p, round(v / total, 4) if total and v is not None else None)
                                     for p, v in per_protocol.items())
        rec['metrics']['mptcp_share'] = rec['protocol_share'].get('mptcp') if not errors else None
    rec['raw'] = raw_base(item)
    return rec


def _median_or_none(values, digits):
    values = [v for v in values if _is_number(v)]
    return round(median(values), digits) if values else None


def build_test(test, runs, expected, shaping):
    """One test of the record; its validity is decided here, once."""
    ok_runs = [r for r in runs if r.get('ok')]
    stats = summarize(r.get('throughput_mbps') for r in ok_runs)
    per_path = []
    for i in range(test['paths']):
        per_path.append(_median_or_none([r['per_path_mbps'][i] for r in ok_runs
                                         if len(r.get('per_path_mbps') or []) > i], 3))
    util = round(stats['median'] / expected, 4) if expected and stats['median'] is not None else None
    rec = {
        'name': test['name'],
        'protocol': test['protocol'],
        'paths': test['paths'],
        'path_ids': test['path_ids'],
        'direction': test['direction'],
        'streams': test['streams'],
        'congestion': test.get('congestion'),
        'duration_s': test['duration_s'],
        'omit_s': test['omit_s'],
        'repetitions': test['repetitions'],
        'shaping': shaping,
        'sysctls': test.get('sysctls') or None,
        'offloads': test.get('offloads') or None,
        'backup_paths': test.get('backup_paths') or None,
        'commands': test.get('commands') or None,
        # several pairs at once (suite key pairs): how many (one pair: absent)
        **({'pairs': test['pairs']} if test.get('pairs', 1) > 1 else {}),
        # its flows of each protocol (suite key mix) and its shared bottleneck (bottleneck): absent without
        **dict((k, test[k]) for k in ('mix', 'bottleneck') if isinstance(test.get(k), dict)),
        'expected_mbps': expected,
        'utilisation': util,
        # a request/response test (perf_latency): its kind, load and message size
        **dict((k, test[k]) for k in ('kind', 'load', 'msg_size') if k in test),
        'runs': sorted(runs, key=lambda r: r['rep']),
        'throughput_mbps': stats,
        'metrics': test_metrics(runs),
        'per_path_mbps_median': per_path,
        'cpu_busy_pct_median': {
            end: _median_or_none((((r.get('cpu') or {}).get(end) or {}).get('busy_pct') for r in ok_runs), 2)
            for end in ('generator', 'sink')},
    }
    cost = cpu_cost_medians(ok_runs)
    if cost:
        rec['cpu_cost'] = cost
    rec['valid'], reason = test_validity(rec)
    rec['invalid_reason'] = reason or None
    # deprecated aliases of valid/invalid_reason, for readers of wave-1 records
    rec['verdict'] = 'ok' if rec['valid'] else 'invalid'
    rec['verdict_reason'] = rec['invalid_reason']
    return rec


UPSTREAM_RUN_DEFAULTS = (('throughput_mbps', None), ('per_path_mbps', []), ('subflows', None), ('fallback', None),
                         ('ok', False), ('error', None))


def build_upstream_test(name, runs, upstream, path_ids, shaping, duration_s=None, omit_s=0, repetitions=None,
                        units=None, valid=None, invalid_reason=None):
    """One test of kind upstream of the record (docs/run-record.md, "Tests of kind upstream").

    ``runs``: one per repetition, each with ``rep``, ``k``, ``ok``, ``error``,
    ``per_path_mbps``, ``duration_s``, ``raw`` and ``metrics`` ({upstream.<slug>:
    number or null}, one per regression step); ``upstream``: the test's
    ``upstream`` object as the runner fills it (format, steps_sha256, bridges,
    results_dir, steps, validation, regression, not_honoured); ``path_ids`` and
    ``shaping`` (one entry per path, lab_paths' keys) the paths it ran over;
    ``units``: {metric: unit} (default "value"). Its validity is ``valid`` when
    the runner decides it, else test_validity's: every run passed, every
    validation command passed, and its primary metric has a figure.
    """
    shaped = []
    for run in runs:
        run = dict(run)
        for key, default in UPSTREAM_RUN_DEFAULTS:
            run.setdefault(key, list(default) if isinstance(default, list) else default)
        run['ok'] = bool(run['ok'])
        run['metrics'] = dict((k, v if _finite(v) else None) for k, v in sorted((run.get('metrics') or {}).items())
                              if is_dynamic_metric(k))
        shaped.append(run)
    shaped.sort(key=lambda r: r.get('rep') or 0)
    ok_runs = [r for r in shaped if r['ok']]
    per_path = [_median_or_none([r['per_path_mbps'][i] for r in ok_runs if len(r['per_path_mbps'] or []) > i], 3)
                for i in range(len(path_ids))]
    rec = {
        'name': name, 'kind': UPSTREAM_KIND,
        'protocol': None, 'direction': None, 'streams': None, 'congestion': None,
        'paths': len(path_ids), 'path_ids': list(path_ids),
        'duration_s': duration_s, 'omit_s': omit_s, 'repetitions': repetitions or max(1, len(shaped)),
        'shaping': shaping,
        'sysctls': None, 'offloads': None, 'backup_paths': None, 'commands': None,
        'expected_mbps': None, 'utilisation': None,
        'runs': shaped,
        'throughput_mbps': summarize([]),
        'metrics': dict((k, v) for k, v in test_metrics(shaped, units).items() if k != METRIC),
        'per_path_mbps_median': per_path,
        'cpu_busy_pct_median': {
            end: _median_or_none((((r.get('cpu') or {}).get(end) or {}).get('busy_pct') for r in ok_runs), 2)
            for end in ('generator', 'sink')},
        'upstream': upstream,
    }
    if valid is None:
        valid, reason = test_validity(rec)
        invalid_reason = reason or None
    rec['valid'] = bool(valid)
    rec['invalid_reason'] = None if valid else str(invalid_reason or 'marked invalid by the perf runner')
    # deprecated aliases of valid/invalid_reason, for readers of wave-1 records
    rec['verdict'] = 'ok' if rec['valid'] else 'invalid'
    rec['verdict_reason'] = rec['invalid_reason']
    return rec


def upstream_test_record(test, outcome, k):
    """One test of an upstream-format suite in the record, from its plan (``test``,
    upstream_suite.translate) and mptcp.lab.perf_upstream_test's task result (``outcome``).

    One run (upstream runs a test once per invocation; the history gives the
    repetitions), whose metrics are the regression steps' values; its
    validity is the runner's, decided once: every step, validation and
    regression value succeeded. A task that failed gives an invalid test
    that says why.
    """
    outcome = outcome or {}
    if outcome.get('failed') or outcome.get('unreachable') or 'valid' not in outcome:
        outcome = dict(valid=False, invalid_reason='task failed: %s' % (outcome.get('msg') or 'did not run'),
                       regression=dict(test['regression']), steps=[], validation=[], per_path_mbps=[],
                       window_s=None, not_honoured=test['not_honoured'], results_dir='upstream/' + test['slug'])
    regression = outcome.get('regression') or test['regression']
    values = dict((s['metric'], s.get('value')) for s in regression.get('steps') or [])
    paths = len(test['bridges'])
    run = {'rep': 1, 'k': k, 'ok': bool(outcome['valid']), 'error': outcome.get('invalid_reason') or None,
           'per_path_mbps': outcome.get('per_path_mbps') or [None] * paths,
           'duration_s': outcome.get('window_s') or 0, 'metrics': values, 'raw': outcome.get('results_dir')}
    shaping = [{'rate_mbit': b.get('rate_mbit'), 'delay_ms': b.get('delay_ms'), 'loss_pct': b.get('loss_pc'),
                'queue_limit': None} for b in test['bridges']]
    upstream = {
        'format': UPSTREAM_FORMAT,
        'steps_sha256': test['steps_sha256'],
        'bridges': [dict((key, b.get(key)) for key in ('name', 'rate_mbit', 'delay_ms', 'loss_pc'))
                    for b in test['bridges']],
        'results_dir': outcome.get('results_dir') or 'upstream/' + test['slug'],
        'steps': outcome.get('steps') or [],
        'validation': outcome.get('validation') or [],
        'regression': {'alpha': regression.get('alpha'), 'history_max_n': regression.get('history_max_n'),
                       'history_since': regression.get('history_since'),
                       'steps': regression.get('steps') or []},
        'not_honoured': outcome.get('not_honoured') or [],
    }
    return build_upstream_test(test['name'], [run], upstream, list(range(1, paths + 1)), shaping,
                               duration_s=outcome.get('wall_s'), repetitions=1,
                               valid=run['ok'], invalid_reason=run['error'])


# The cpu_tuning facts a host's metadata keeps (mptcp.lab.cpu_tuning's result).
CPU_TUNING_KEYS = ('cpus_online', 'governor', 'governors_available', 'irq_affinity', 'irqbalance',
                   'process_cpus')


def host_metadata(role, mptcp=None, info=None, path_links=None, vm=None, cpu_tuning=None,
                  traffic_sink=None):
    """One host's entry of the record's ``metadata``, from what the run gathered on it.

    ``role``: generator, sink or shaper. ``mptcp``: the host's mptcp facts
    (mptcp.lab.mptcp_info: kernel, settings, endpoints, limits, tools; none on
    a shaper); ``info``: mptcp.lab.perf_host_info's result (kernel, offloads,
    sysctls, cpu, cmdline, qdiscs); ``vm``: the VM's boot record (VM lab);
    ``cpu_tuning``: mptcp.lab.cpu_tuning's result; ``traffic_sink``: the
    sink's service as it was while the run measured. Missing parts are
    empty, never an error: a host that failed a task still gets its entry.
    """
    mptcp = mptcp or {}
    info = info or {}
    return {
        'role': role,
        'kernel': mptcp.get('kernel', info.get('kernel')),
        'mptcp_settings': mptcp.get('settings') or {},
        'endpoints': mptcp.get('endpoints') or [],
        'limits': mptcp.get('limits'),
        'tools': mptcp.get('tools') or {},
        'offloads': info.get('offloads') or {},
        'sysctls': info.get('sysctls') or {},
        'cpu': info.get('cpu'),
        'cmdline': info.get('cmdline'),
        'qdiscs': info.get('qdiscs') or {},
        'path_links': path_links or [],
        'vm': vm,
        'cpu_tuning': dict((k, v) for k, v in (cpu_tuning or {}).items() if k in CPU_TUNING_KEYS),
        'traffic_sink': traffic_sink,
    }


def hosts_metadata(hosts):
    """{name: host_metadata(...)} of a list of {name, role, mptcp, info, path_links, vm, cpu_tuning, traffic_sink}."""
    out = {}
    for host in hosts:
        fields = dict((k, v) for k, v in host.items() if k != 'name')
        out[host['name']] = host_metadata(**fields)
    return out


def results_by_k(results):
    """{plan item k: task result} of a looped measurement task's results (skipped items included)."""
    by_k = {}
    for res in results or []:
        item = (res or {}).get('item') or (res or {}).get('perf_item')
        if isinstance(item, dict) and 'k' in item:
            by_k[item['k']] = res
    return by_k


def build_summary(suite, items, results, lab_paths, run_id, started, finished, metadata,
                  measure_started=None, measure_finished=None, extra=None, expected=None,
                  tags=None, notes=None, flow_results=None, upstream=None):
    """summary.json as a dict, complete: it is written once.

    ``items`` is the plan, ``results`` the task result of each item (matched
    by the plan item ``k`` they carry). traffic_s sums the measured traffic
    windows (iperf3's seconds, omit excluded) of every run. ``expected`` is
    the planner's ideal goodput of each test (by name); without it, it is
    computed from ``lab_paths`` the planner's way. ``tags`` ({key: value})
    and ``notes`` (any JSON object) are the user's, to tell runs apart.
    ``flow_results`` ({generator: its task results}) holds the other
    generators' results of the measurements over several pairs at once
    (items with ``flows``; the first flow's result is in ``results``).
    ``upstream`` is an upstream-format suite's [(test, result)], in order
    (upstream_test_record); their tests follow the suite's.
    """
    by_k = results_by_k(results)
    flows_by_k = dict((gen, results_by_k(res)) for gen, res in (flow_results or {}).items())
    runs_by_test = dict((t['name'], []) for t in suite['tests'])
    traffic = 0.0
    for item in items:
        if item.get('flows'):
            rec = build_concurrent_run(item, [by_k.get(item['k']) if i == 0 else
                                              flows_by_k.get(flow['generator'], {}).get(item['k'])
                                              for i, flow in enumerate(item['flows'])])
        else:
            rec = build_run(item, by_k.get(item['k']))
        runs_by_test[item['test']].append(rec)
        traffic += float(rec.get('duration_s') or 0)
    tests = []
    for t in suite['tests']:
        # the test's own shaping (suite key shaping) or the lab's, for the paths it uses
        paths = t['shaping'] if t.get('shaping') is not None else lab_paths
        shaping = [paths[i - 1] for i in t['path_ids']] if paths and \
            all(i <= len(paths) for i in t['path_ids']) else None
        if expected is not None and t['name'] in expected:
            ideal = expected[t['name']]
        else:
            ideal = expected_mbps(t, lab_paths)
        tests.append(build_test(t, runs_by_test[t['name']], ideal, shaping))
    for k, (test, outcome) in enumerate(upstream or [], len(items) + 1):
        tests.append(upstream_test_record(test, outcome, k))
        traffic += float(tests[-1]['runs'][0]['duration_s'] or 0)
    wall = round(finished - started, 3)
    summary = {
        'schema_version': SCHEMA_VERSION,
        'run_id': run_id,
        'suite': suite['name'],
        'suite_description': suite.get('description', ''),
        'started': format_time(started, 'iso'),
        'finished': format_time(finished, 'iso'),
        'wall_s': wall,
        'traffic_s': round(traffic, 3),
        'wall_per_traffic': round(wall / traffic, 4) if traffic else None,
        'measurements': len(items) + len(upstream or []),
        'lab_paths': lab_paths,
        'metadata': metadata,
        'tests': tests,
        'regressions': [],
        'tags': dict(tags or {}),
        'notes': dict(notes or {}),
    }
    if measure_started is not None and measure_finished is not None:
        summary['measure_s'] = round(measure_finished - measure_started, 3)
    summary.update(dict((k, v) for k, v in (extra or {}).items() if k not in summary))
    return summary


# ------------------------------------------------------------------ reading

def migrate(summary):
    """A record of any schema version as the current version (a copy; the file is untouched).

    Version 0 (no schema_version, wave 1): each test's validity is decided
    from its runs (test_validity) into valid/invalid_reason, and the metrics
    (runs[].metrics, tests[].metrics) are derived from the runs. A wave-1 verdict
    step also rewrote the file, leaving pass/regression/... in a test's
    ``verdict`` and a run-level ``verdict`` block: those are judgements, not
    validity, and are dropped here (the history keeps the verdicts it gave).
    """
    if not isinstance(summary, dict):
        raise RecordError('summary.json must hold a JSON object')
    version = summary.get('schema_version', 0)
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise RecordError('schema_version must be a whole number, got %r' % (version,))
    if version > SCHEMA_VERSION:
        raise RecordError('schema_version %d is newer than this collection reads (%d): '
                          'update mptcp.lab' % (version, SCHEMA_VERSION))
    if version == SCHEMA_VERSION:
        return summary
    out = dict(summary)
    out['schema_version'] = SCHEMA_VERSION
    out.pop('verdict', None)
    out.pop('improvements', None)
    tests = summary.get('tests')
    if isinstance(tests, list):
        migrated = []
        for test in tests:
            if isinstance(test, dict):
                test = dict(test)
                valid, reason = test_validity(test)
                for key in ('verdict', 'verdict_reason', 'baseline', 'change_pct', 'p_value', 'test_key'):
                    test.pop(key, None)
                test['valid'], test['invalid_reason'] = valid, reason or None
                # the metrics, from the runs' own figures
                runs = test.get('runs')
                if isinstance(runs, list):
                    runs = [dict(r, metrics=run_metrics(r)) if isinstance(r, dict) and 'metrics' not in r else r
                            for r in runs]
                    test['runs'] = runs
                    if 'metrics' not in test:
                        test['metrics'] = test_metrics(runs)
                    cost = cpu_cost_medians([r for r in runs if isinstance(r, dict) and r.get('ok')])
                    if cost and 'cpu_cost' not in test:
                        test['cpu_cost'] = cost
            migrated.append(test)
        out['tests'] = migrated
    return out


def normalize(summary):
    """The history's view of a run record: {'run': {...}, 'results': [...]}.

    Older records are migrated first. Raises RecordError naming the field
    when the record breaks the contract.
    """
    summary = migrate(summary)
    for field in ('run_id', 'started', 'tests'):
        if field not in summary:
            raise RecordError('summary.json has no %r field (DESIGN contract)' % field)
    if not isinstance(summary['tests'], list):
        raise RecordError("summary.json field 'tests' must be a list")
    if not isinstance(summary.get('metadata') or {}, dict):
        raise RecordError("summary.json field 'metadata' must be an object")
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
    tags = summary.get('tags') or {}
    if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
        raise RecordError("summary.json field 'tags' must map names to strings")
    if tags:
        run['tags'] = dict(tags)    # only when there are some: older records keep their hash
    results = []
    seen = {}
    for index, test in enumerate(summary['tests']):
        if not isinstance(test, dict) or not test.get('name'):
            raise RecordError('tests[%d] must be an object with a name' % index)
        if not isinstance(test.get('runs') or [], list):
            raise RecordError('tests[%d] (%s): runs must be a list' % (index, test['name']))
        key, identity = test_identity(summary, test)
        if key in seen:
            raise RecordError('tests[%d] (%s) has the same identity as tests[%d]'
                              % (index, test['name'], seen[key]))
        seen[key] = index
        values = test_values(test)
        stats = perf_stats.summarize(values)
        subflows = [r.get('subflows') for r in _ok_runs(test) if _is_number(r.get('subflows'))]
        results.append({
            'test_key': key,
            'identity': identity,
            # decided once, when the record was built (or by migrate)
            'valid': bool(test.get('valid')),
            'invalid_reason': str(test.get('invalid_reason') or ''),
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
        # every other metric measured: the history keeps them all (only when
        # there are some, so records without them keep their content hash)
        metrics = {}
        for name in present_metrics(test.get('runs') or []):
            if name == METRIC:
                continue
            figures = metric_values(test.get('runs') or [], name)
            if figures:
                metrics[name] = perf_stats.summarize(figures)
                if is_dynamic_metric(name):
                    # a metric the suite names: its unit as the record gives it
                    entry = (test.get('metrics') or {}).get(name)
                    metrics[name]['unit'] = metric_info(name, entry.get('unit') if isinstance(entry, dict)
                                                        else None).unit
        if metrics:
            results[-1]['metrics'] = metrics
        primary = primary_metric(test)
        if primary != METRIC:       # (only then: records without it keep their content hash)
            results[-1]['primary'] = primary
        judging = upstream_judging(test, index)
        if judging:                 # (a test of kind upstream only: other records keep their content hash)
            results[-1]['judging'] = judging
    record = {'run': run, 'results': results}
    record['content_hash'] = hashlib.sha256(canonical_json(record).encode('utf-8')).hexdigest()
    return record


def upstream_judging(test, index=0):
    """The judging parameters a test of kind upstream states for its upstream.* metrics
    (tests[].upstream.regression: ``alpha``, ``history_max_n``, ``history_since``), those
    it has: {} for any other test. Raises RecordError naming the field and the rule."""
    if test.get('kind') != UPSTREAM_KIND:
        return {}
    regression = upstream_part(test, 'regression')
    if not isinstance(regression, dict):
        return {}
    where = 'tests[%d] (%s): upstream.regression.' % (index, test.get('name'))
    out = {}
    alpha = regression.get('alpha')
    if alpha is not None:
        if not _finite(alpha) or not 0 < alpha < 1:
            raise RecordError(where + 'alpha must be a number between 0 and 1 (exclusive), got %r' % (alpha,))
        out['alpha'] = float(alpha)
    count = regression.get('history_max_n')
    if count is not None:
        if not _finite(count) or count != int(count) or count < 0:
            raise RecordError(where + 'history_max_n must be a whole number >= 0 (0: no limit), got %r' % (count,))
        out['history_max_n'] = int(count)
    since = regression.get('history_since')
    if since is not None:
        if not _finite(since) or since < 0:
            raise RecordError(where + 'history_since must be Unix seconds >= 0 (0: no limit), got %r' % (since,))
        out['history_since'] = _number(since)
    return out


def slug(text):
    """A file-name-safe form of a name (test names, raw output stems)."""
    return re.sub(r'[^A-Za-z0-9_.-]+', '-', str(text)).strip('-') or 'test'


def read_bytes(path):
    """A file's bytes, or None when it cannot be read (missing)."""
    try:
        with open(path, 'rb') as handle:
            return handle.read()
    except (IOError, OSError):
        return None


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


def json_bytes(data):
    """How the collection writes its JSON files: indented, keys sorted, newline-terminated."""
    return (json.dumps(data, indent=2, sort_keys=True) + '\n').encode('utf-8')


def write_record(path, summary):
    """Write summary.json, once: an existing record is never replaced."""
    if os.path.lexists(path):
        raise RecordError('%s exists: a run record is written once (pick another run id)' % path)
    write_atomic(path, json_bytes(summary))


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


class OpenedRun:
    """What a read-side module (history, verdict, report) starts from.

    ``summary`` (migrated) and ``record`` (normalized) are None when the run
    record is missing in check mode (a check-mode perf run writes none).
    """

    def __init__(self, results_dir, db_path, run_id, summary_path, summary=None, record=None):
        self.results_dir = results_dir
        self.db_path = db_path
        self.run_id = run_id
        self.summary_path = summary_path
        self.run_dir = os.path.dirname(summary_path)
        self.summary = summary
        self.record = record


def open_run(params, check_mode):
    """The shared opener: paths from the module's options, the record read and normalized once."""
    results_dir = os.path.abspath(params['results_dir'])
    db_path = os.path.abspath(params.get('history_db') or os.path.join(results_dir, 'history.sqlite'))
    run_id, summary_path = resolve_run(results_dir, params.get('run'))
    if not os.path.isfile(summary_path):
        if check_mode:
            return OpenedRun(results_dir, db_path, run_id or params.get('run'), summary_path)
        raise RecordError('run: no run record at %s (run=%r). Run ids are the directory names '
                          'under %s.' % (summary_path, params.get('run'), results_dir))
    summary = migrate(load_summary(summary_path))
    record = normalize(summary)
    return OpenedRun(results_dir, db_path, record['run']['run_id'], summary_path, summary, record)
