# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The perf history: one SQLite database under perf_results_dir.

Each run of each test is a row of ``results`` (its throughput, validity and
verdict) and one row of ``result_metrics`` per other metric it measured (its
figures and that metric's verdict): the history holds every metric. The
throughput_mbps metric is the ``results`` row itself.

Atomicity: every change is one transaction (BEGIN IMMEDIATE ... COMMIT) in WAL
mode, so a run killed half-way leaves the database as it was before the run,
and concurrent writers queue on the write lock (busy timeout) instead of
failing or interleaving. Ingesting the same run twice changes nothing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import csv
import fcntl
import io
import json
import os
import pathlib
import sqlite3

from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_record import (
    PerfError, canonical_json, format_time, is_dynamic_metric, metric_info, metric_table)

SCHEMA_VERSION = 1
THROUGHPUT = 'throughput_mbps'
BUSY_TIMEOUT_S = 60.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    suite TEXT NOT NULL,
    started TEXT NOT NULL,
    started_ts REAL NOT NULL,
    finished TEXT NOT NULL,
    wall_s REAL,
    traffic_s REAL,
    kernel TEXT NOT NULL,
    metadata TEXT NOT NULL,
    content_hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tests (
    test_key TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    protocol TEXT NOT NULL,
    paths INTEGER NOT NULL,
    direction TEXT NOT NULL,
    streams INTEGER NOT NULL,
    shaping TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
    run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    test_key TEXT NOT NULL REFERENCES tests (test_key),
    valid INTEGER NOT NULL,
    invalid_reason TEXT NOT NULL,
    n INTEGER NOT NULL,
    median REAL,
    mean REAL,
    min REAL,
    max REAL,
    cv REAL,
    vals TEXT NOT NULL,
    per_path TEXT NOT NULL,
    subflows REAL,
    fallback INTEGER NOT NULL,
    expected_mbps REAL,
    verdict TEXT,
    verdict_reason TEXT,
    baseline TEXT,
    baseline_median REAL,
    change_pct REAL,
    p_value REAL,
    PRIMARY KEY (run_id, test_key)
);
CREATE TABLE IF NOT EXISTS run_tags (
    run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
);
CREATE TABLE IF NOT EXISTS result_metrics (
    run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    test_key TEXT NOT NULL REFERENCES tests (test_key),
    metric TEXT NOT NULL,
    n INTEGER NOT NULL,
    median REAL,
    mean REAL,
    min REAL,
    max REAL,
    cv REAL,
    vals TEXT NOT NULL,
    verdict TEXT,
    verdict_reason TEXT,
    baseline TEXT,
    baseline_median REAL,
    change_pct REAL,
    p_value REAL,
    PRIMARY KEY (run_id, test_key, metric)
);
CREATE INDEX IF NOT EXISTS results_by_test ON results (test_key, valid);
CREATE INDEX IF NOT EXISTS metrics_by_test ON result_metrics (test_key, metric);
CREATE INDEX IF NOT EXISTS runs_by_time ON runs (started_ts);
"""


class StoreError(PerfError):
    """The history database cannot be used."""


def sqlite_uri(path, mode):
    """A SQLite URI for a file path, every special character (#, ?, %) quoted."""
    return '%s?mode=%s' % (pathlib.Path(os.path.abspath(path)).as_uri(), mode)


def run_module(module, func):
    """Run a read-side module's work (history, verdict, report): one error mapping.

    ``func(params, check_mode, warn)`` returns the result. Bad records, a
    history that cannot be used and a baseline that cannot be used fail the
    task with their message, never a traceback; the diff is dropped unless
    asked for.
    """
    try:
        result = func(module.params, module.check_mode, module.warn)
    except PerfError as exc:
        module.fail_json(msg=str(exc))
    except sqlite3.Error as exc:
        module.fail_json(msg='history database error: %s' % exc)
    if not module._diff:
        result.pop('diff', None)
    module.exit_json(**result)


class Store:
    """The history database at ``path``."""

    def __init__(self, path, readonly=False):
        self.path = path
        self.readonly = readonly
        if readonly:
            if not os.path.exists(path):
                raise StoreError('no history database at %s' % path)
            self.conn = sqlite3.connect(sqlite_uri(path, 'ro'), uri=True, timeout=BUSY_TIMEOUT_S,
                                        isolation_level=None)
        else:
            directory = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(directory):
                os.makedirs(directory)
            # Writers set the database up one at a time (journal mode, tables),
            # under an flock of its directory: a fresh file being switched to
            # WAL by one writer is no state for another to read. Not a lock of
            # the database file: closing another descriptor of that file would
            # drop the POSIX locks SQLite holds on it.
            setup_lock = os.open(directory, os.O_RDONLY)
            try:
                fcntl.flock(setup_lock, fcntl.LOCK_EX)
                self.conn = sqlite3.connect(sqlite_uri(path, 'rwc'), uri=True, timeout=BUSY_TIMEOUT_S,
                                            isolation_level=None)
                try:
                    self._setup()
                except BaseException:
                    self.conn.close()
                    raise
            finally:
                os.close(setup_lock)
            return
        try:
            self._setup()
        except BaseException:
            self.conn.close()
            raise

    def _setup(self):
        self.conn.row_factory = sqlite3.Row
        self.conn.execute('PRAGMA busy_timeout = %d' % int(BUSY_TIMEOUT_S * 1000))
        self.conn.execute('PRAGMA foreign_keys = ON')
        # the version first: a history of another version is never written to
        self.check_version()
        if not self.readonly:
            self.conn.execute('PRAGMA journal_mode = WAL')
            self.conn.execute('PRAGMA synchronous = FULL')
            with self.transaction():
                for statement in SCHEMA.split(';'):
                    if statement.strip():
                        self.conn.execute(statement)
                self.conn.execute('INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)',
                                  ('schema_version', str(SCHEMA_VERSION)))

    def has_table(self, name):
        """Whether the history has table ``name``: tables added within version 1 (run_tags,
        result_metrics) are missing from an older history until a writer opens it."""
        return self.conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                                 (name,)).fetchone() is not None

    def has_tags_table(self):
        """run_tags came after version 1's first tables (an addition): an older history lacks it."""
        return self.conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'run_tags'"
                                 ).fetchone() is not None

    def check_version(self):
        try:
            version = self.schema_version()
        except (ValueError, sqlite3.DatabaseError) as exc:
            raise StoreError('%s is not a history database of this collection: %s' % (self.path, exc))
        if version is not None and version != SCHEMA_VERSION:
            raise StoreError('%s has history schema version %s; this collection reads and writes version %d'
                             % (self.path, version, SCHEMA_VERSION))

    def close(self):
        self.conn.close()

    def schema_version(self):
        try:
            row = self.conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except sqlite3.OperationalError:
            return None
        return int(row[0]) if row else None

    @contextlib.contextmanager
    def transaction(self):
        """One atomic write: BEGIN IMMEDIATE takes the write lock up front."""
        self.conn.execute('BEGIN IMMEDIATE')
        try:
            yield self.conn
        except BaseException:
            self.conn.execute('ROLLBACK')
            raise
        self.conn.execute('COMMIT')

    # ---- runs --------------------------------------------------------------

    def run_hash(self, run_id):
        row = self.conn.execute('SELECT content_hash FROM runs WHERE run_id = ?', (run_id,)).fetchone()
        return row[0] if row else None

    def ingest(self, record, before_commit=None):
        """Store a normalized run record (perf_record.normalize) in one transaction.

        Returns 'added', 'replaced' (the run was stored with other content) or
        'unchanged'. ``before_commit`` is a test hook called inside the
        transaction.
        """
        run = record['run']
        with self.transaction() as conn:
            row = conn.execute('SELECT content_hash FROM runs WHERE run_id = ?',
                               (run['run_id'],)).fetchone()
            if row and row[0] == record['content_hash']:
                return 'unchanged'
            status = 'replaced' if row else 'added'
            if row:
                conn.execute('DELETE FROM run_tags WHERE run_id = ?', (run['run_id'],))
                conn.execute('DELETE FROM result_metrics WHERE run_id = ?', (run['run_id'],))
                conn.execute('DELETE FROM results WHERE run_id = ?', (run['run_id'],))
                conn.execute('DELETE FROM runs WHERE run_id = ?', (run['run_id'],))
            conn.execute(
                'INSERT INTO runs (run_id, suite, started, started_ts, finished, wall_s, traffic_s,'
                ' kernel, metadata, content_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
                (run['run_id'], run['suite'], run['started'], run['started_ts'], run['finished'],
                 run['wall_s'], run['traffic_s'], run['kernel'], run['metadata'],
                 record['content_hash']))
            for res in record['results']:
                ident = res['identity']
                # a test of kind upstream has no protocol, direction or streams: '' and 0 here
                conn.execute(
                    'INSERT OR IGNORE INTO tests (test_key, name, protocol, paths, direction, streams,'
                    ' shaping) VALUES (?, ?, ?, ?, ?, ?, ?)',
                    (res['test_key'], ident['name'], ident.get('protocol') or '', ident['paths'],
                     ident.get('direction') or '', ident.get('streams') or 0, canonical_json(ident['shaping'])))
                conn.execute(
                    'INSERT INTO results (run_id, test_key, valid, invalid_reason, n, median, mean,'
                    ' min, max, cv, vals, per_path, subflows, fallback, expected_mbps)'
                    ' VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
                    (run['run_id'], res['test_key'], 1 if res['valid'] else 0, res['invalid_reason'],
                     res['n'], res['median'], res['mean'], res['min'], res['max'], res['cv'],
                     json.dumps(res['values']), json.dumps(res['per_path']), res['subflows'],
                     res['fallback'], res['expected_mbps']))
                for metric, stats in sorted((res.get('metrics') or {}).items()):
                    conn.execute(
                        'INSERT INTO result_metrics (run_id, test_key, metric, n, median, mean, min, max, cv,'
                        ' vals) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
                        (run['run_id'], res['test_key'], metric, stats['n'], stats['median'], stats['mean'],
                         stats['min'], stats['max'], stats['cv'], json.dumps(stats['values'])))
            for key, value in sorted((run.get('tags') or {}).items()):
                conn.execute('INSERT INTO run_tags (run_id, key, value) VALUES (?, ?, ?)',
                             (run['run_id'], key, value))
            if before_commit:
                before_commit(conn)
        return status

    def has_run(self, run_id):
        return self.conn.execute('SELECT 1 FROM runs WHERE run_id = ?', (run_id,)).fetchone() is not None

    def get_run(self, run_id):
        row = self.conn.execute('SELECT * FROM runs WHERE run_id = ?', (run_id,)).fetchone()
        return dict(row) if row else None

    def recent_runs(self, limit=10):
        rows = self.conn.execute(
            'SELECT run_id, suite, started, kernel FROM runs ORDER BY started_ts DESC, run_id DESC'
            ' LIMIT ?', (limit,)).fetchall()
        return [dict(r) for r in rows]

    def run_ids(self):
        return [r[0] for r in self.conn.execute('SELECT run_id FROM runs')]

    def count_runs(self):
        return self.conn.execute('SELECT COUNT(*) FROM runs').fetchone()[0]

    # ---- results -----------------------------------------------------------

    @staticmethod
    def _result(row):
        data = dict(row)
        data['values'] = json.loads(data.pop('vals'))
        data['per_path'] = json.loads(data['per_path'])
        data['valid'] = bool(data['valid'])
        if 'shaping' in data:
            data['shaping'] = json.loads(data['shaping'])
        if data.get('baseline'):
            data['baseline'] = json.loads(data['baseline'])
        return data

    @property
    def _SELECT(self):  # pylint: disable=invalid-name
        tags = ("(SELECT group_concat(key || '=' || value, ';') FROM"
                " (SELECT key, value FROM run_tags g WHERE g.run_id = r.run_id ORDER BY key))"
                if self.has_tags_table() else "''")
        return ('SELECT r.*, u.started, u.started_ts, u.kernel, u.suite, t.name, t.protocol, t.paths,'
                ' t.direction, t.streams, t.shaping, %s AS tags FROM results r'
                ' JOIN runs u ON u.run_id = r.run_id JOIN tests t ON t.test_key = r.test_key' % tags)

    def _metric_select(self):
        """Rows of one metric shaped as the results rows (values, median, ..., verdict)."""
        tags = ("(SELECT group_concat(key || '=' || value, ';') FROM"
                " (SELECT key, value FROM run_tags g WHERE g.run_id = r.run_id ORDER BY key))"
                if self.has_tags_table() else "''")
        return ('SELECT m.run_id, m.test_key, m.metric, r.valid, r.invalid_reason, m.n, m.median, m.mean,'
                ' m.min, m.max, m.cv, m.vals, r.per_path, r.subflows, r.fallback, r.expected_mbps,'
                ' m.verdict, m.verdict_reason, m.baseline, m.baseline_median, m.change_pct, m.p_value,'
                ' u.started, u.started_ts, u.kernel, u.suite, t.name, t.protocol, t.paths, t.direction,'
                ' t.streams, t.shaping, %s AS tags FROM result_metrics m'
                ' JOIN results r ON r.run_id = m.run_id AND r.test_key = m.test_key'
                ' JOIN runs u ON u.run_id = m.run_id JOIN tests t ON t.test_key = m.test_key' % tags)

    def _select_for(self, metric):
        """(SELECT, alias of the metric's row, extra condition) for ``metric``, or None when
        the history cannot hold it (an older history, read-only)."""
        if metric in (None, THROUGHPUT):
            return self._SELECT, 'r', ''
        if not self.has_table('result_metrics'):
            return None
        return self._metric_select(), 'm', ' AND m.metric = ?'

    def run_results(self, run_id):
        rows = self.conn.execute(self._SELECT + ' WHERE r.run_id = ? ORDER BY r.rowid', (run_id,))
        return [self._result(r) for r in rows]

    def result(self, run_id, test_key, metric=THROUGHPUT):
        """One run's row of a test (of one metric: then None when the run did not measure it)."""
        select = self._select_for(metric)
        if select is None:
            return None
        sql, alias, cond = select
        args = [run_id, test_key] + ([metric] if cond else [])
        row = self.conn.execute(sql + ' WHERE {0}.run_id = ? AND {0}.test_key = ?'.format(alias) + cond,
                                args).fetchone()
        return self._result(row) if row else None

    def last_valid(self, test_key, before_ts, exclude_run, limit, tag=None, metric=THROUGHPUT, since_ts=None):
        """The last ``limit`` valid results of a test that started before ``before_ts``,
        of runs tagged ``tag`` ((key, value)) when given; of ``metric``: the runs that
        measured it (throughput: every valid run). ``limit`` 0 or None: all of them;
        ``since_ts``: only the runs that started at or after it (seconds since the epoch)."""
        select = self._select_for(metric)
        if select is None:
            return []
        sql, alias, cond = select
        sql += (' WHERE {0}.test_key = ? AND r.valid = 1 AND {0}.run_id != ? AND u.started_ts < ?'.format(alias)
                + cond + ' AND {0}.n > 0'.format(alias))
        args = [test_key, exclude_run, before_ts] + ([metric] if cond else [])
        if since_ts:
            sql += ' AND u.started_ts >= ?'
            args.append(since_ts)
        if tag is not None:
            if not self.has_tags_table():
                return []
            sql += ' AND EXISTS (SELECT 1 FROM run_tags g WHERE g.run_id = r.run_id AND g.key = ? AND g.value = ?)'
            args.extend(tag)
        sql += ' ORDER BY u.started_ts DESC, r.run_id DESC'
        if limit:
            sql += ' LIMIT ?'
            args.append(limit)
        rows = self.conn.execute(sql, args)
        return [self._result(r) for r in rows]

    def history(self, test_key, until_ts=None, limit=None, metric=THROUGHPUT):
        """All results of a test (valid or not), oldest first; of ``metric``: the runs that
        measured it."""
        select = self._select_for(metric)
        if select is None:
            return []
        sql, alias, cond = select
        sql += ' WHERE {0}.test_key = ?'.format(alias) + cond
        args = [test_key] + ([metric] if cond else [])
        if until_ts is not None:
            sql += ' AND u.started_ts <= ?'
            args.append(until_ts)
        sql += ' ORDER BY u.started_ts DESC, r.run_id DESC'
        if limit:
            sql += ' LIMIT ?'
            args.append(limit)
        rows = [self._result(r) for r in self.conn.execute(sql, args)]
        rows.reverse()
        return rows

    def set_verdicts(self, run_id, verdicts):
        """Record the verdict of each test and metric of a run; returns True if anything changed.

        ``verdicts`` maps (test_key, metric) to a verdict (perf_baseline.evaluate);
        a bare test_key is its throughput's.
        """
        changed = False
        with self.transaction() as conn:
            for key, v in verdicts.items():
                test_key, metric = key if isinstance(key, tuple) else (key, THROUGHPUT)
                if metric == THROUGHPUT:
                    table, where, args = 'results', 'run_id = ? AND test_key = ?', (run_id, test_key)
                else:
                    table, where, args = ('result_metrics', 'run_id = ? AND test_key = ? AND metric = ?',
                                          (run_id, test_key, metric))
                baseline = canonical_json(v.get('baseline')) if v.get('baseline') is not None else None
                row = conn.execute(
                    'SELECT verdict, verdict_reason, baseline, baseline_median, change_pct, p_value'
                    ' FROM %s WHERE %s' % (table, where), args).fetchone()
                if row is None:
                    continue
                new = (v.get('verdict'), v.get('reason'), baseline, v.get('baseline_median'),
                       v.get('change_pct'), v.get('p_value'))
                if tuple(row) != new:
                    changed = True
                    conn.execute(
                        'UPDATE %s SET verdict = ?, verdict_reason = ?, baseline = ?,'
                        ' baseline_median = ?, change_pct = ?, p_value = ? WHERE %s' % (table, where),
                        new + args)
        return changed

    def integrity_check(self):
        return self.conn.execute('PRAGMA integrity_check').fetchone()[0]

    # ---- export ------------------------------------------------------------

    def all_results(self):
        """Every result, oldest first, each with ``metrics``: {metric: its row} of the other
        metrics it measured."""
        rows = [self._result(r) for r in self.conn.execute(self._SELECT + ' ORDER BY u.started_ts, r.run_id, t.name')]
        metrics = {}
        if self.has_table('result_metrics'):
            for row in self.conn.execute('SELECT * FROM result_metrics ORDER BY rowid'):
                data = dict(row)
                data['values'] = json.loads(data.pop('vals'))
                metrics.setdefault((data['run_id'], data['test_key']), {})[data['metric']] = data
        for row in rows:
            row['metrics'] = metrics.get((row['run_id'], row['test_key']), {})
        return rows

    def tests(self):
        rows = self.conn.execute('SELECT * FROM tests ORDER BY name, test_key')
        result = []
        for r in rows:
            d = dict(r)
            d['shaping'] = json.loads(d['shaping'])
            result.append(d)
        return result


# ---- CSV export ------------------------------------------------------------

def _fmt(value, digits=4):
    if value is None:
        return ''
    if isinstance(value, float):
        return ('%.' + str(digits) + 'f') % value
    return str(value)


def shaping_text(shaping):
    """Readable shaping, e.g. '50mbit/10ms;50mbit' (path order)."""
    if not shaping:
        return ''
    parts = []
    for path in shaping:
        bits = []
        if 'rate_mbit' in path:
            # an explicit null rate is an unshaped path (a test's shaping: none)
            bits.append('unshaped' if path['rate_mbit'] is None else '%smbit' % path['rate_mbit'])
        if 'delay_ms' in path:
            bits.append('%sms' % path['delay_ms'])
        if 'loss_pct' in path:
            bits.append('%sloss' % path['loss_pct'])
        if 'queue_limit' in path:
            bits.append('q%s' % path['queue_limit'])
        parts.append('/'.join(bits))
    return ';'.join(parts)


ATTRIBUTE_COLUMNS = ('run_id', 'suite', 'test', 'test_key', 'protocol', 'paths', 'direction',
                     'streams', 'shaping', 'kernel', 'valid', 'verdict', 'tags')
METRIC_COLUMNS = ('throughput_median_mbps', 'throughput_mean_mbps', 'throughput_min_mbps',
                  'throughput_max_mbps', 'throughput_cv', 'repetitions')


def metric_columns(name):
    """The CSV columns of a metric other than throughput: its median and CV."""
    return ('%s_median' % name, '%s_cv' % name)


def csv_metrics(results):
    """The metrics other than throughput that some result measured (table order, then those a
    suite names, upstream.<slug>, in name order)."""
    seen = set()
    for r in results:
        seen.update(name for name, m in (r.get('metrics') or {}).items() if m.get('n'))
    return [name for name in metric_table() if name in seen] + sorted(n for n in seen if is_dynamic_metric(n))


def _row(r, max_paths, metrics=()):
    # a test of kind upstream has no protocol, direction or streams (stored as '' and 0): empty cells
    row = [format_time(r['started_ts']), r['run_id'], r['suite'], r['name'], r['test_key'],
           r['protocol'] or '', r['paths'], r['direction'] or '', r['streams'] or '', shaping_text(r['shaping']),
           r['kernel'], 1 if r['valid'] else 0, r.get('verdict') or '', r.get('tags') or '',
           _fmt(r['median']), _fmt(r['mean']), _fmt(r['min']), _fmt(r['max']),
           _fmt(r['cv'], 6), r['n']]
    per_path = r['per_path'] or []
    for i in range(max_paths):
        row.append(_fmt(per_path[i]) if i < len(per_path) else '')
    for name in metrics:
        m = (r.get('metrics') or {}).get(name) or {}
        row.extend((_fmt(m.get('median')), _fmt(m.get('cv'), 6)))
    return row


def csv_text(results, max_paths=None, metrics=None):
    """CSV of results (one row per run of a test), as text: throughput, its per-path split,
    then the median and CV of every other metric measured (``metrics``: those columns)."""
    if max_paths is None:
        max_paths = max([len(r['per_path'] or []) for r in results] or [0])
    if metrics is None:
        metrics = csv_metrics(results)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator='\n')
    writer.writerow(('time',) + ATTRIBUTE_COLUMNS + METRIC_COLUMNS
                    + tuple('path%d_median_mbps' % (i + 1) for i in range(max_paths))
                    + tuple(c for name in metrics for c in metric_columns(name)))
    for r in results:
        writer.writerow(_row(r, max_paths, metrics))
    return out.getvalue()


def otava_config(tests):
    """An Apache Otava / Hunter config (YAML text) for the per-test CSV files.

    ``tests`` is a list of (name, file name, number of paths) or (name, file name, number
    of paths, other metrics, whether it has throughput[, metrics with a median only]): each
    other metric's median and CV columns, its direction from METRICS' better (1: higher is
    better; metric_info for the metrics a suite names); a test without throughput
    (request/response, upstream) has no throughput columns; a metric of one figure per run
    (no CV, as a test of kind upstream with one repetition) its median column only.
    """
    lines = ['# Apache Otava (or Hunter) configuration for the mptcp.lab history.',
             '# Usage: otava analyze --config-file otava.yaml <test> (run from this directory)',
             'tests:']
    metrics = ['throughput_median_mbps', 'throughput_cv']
    for entry in tests:
        name, filename, paths = entry[:3]
        others = entry[3] if len(entry) > 3 else ()
        throughput = entry[4] if len(entry) > 4 else True
        medians_only = entry[5] if len(entry) > 5 else ()
        lines.append('  %s:' % json.dumps(name))
        lines.append('    type: csv')
        lines.append('    file: %s' % json.dumps(filename))
        lines.append('    time_column: time')
        lines.append('    attributes: [%s]' % ', '.join(a for a in ATTRIBUTE_COLUMNS))
        lines.append('    metrics:')
        columns = [(m, -1 if m == 'throughput_cv' else 1) for m in metrics if throughput]
        columns += [('path%d_median_mbps' % (i + 1), 1) for i in range(paths)]
        for other in others:
            median_column, cv_column = metric_columns(other)
            columns += [(median_column, 1 if metric_info(other).better == 'higher' else -1), (cv_column, -1)]
        for other in medians_only:
            columns.append((metric_columns(other)[0], 1 if metric_info(other).better == 'higher' else -1))
        for metric, direction in columns:
            lines.append('      %s:' % metric)
            lines.append('        column: %s' % metric)
            lines.append('        direction: %d' % direction)
        lines.append('    csv_options:')
        lines.append("      delimiter: ','")
        lines.append("      quote_char: '\"'")
    return '\n'.join(lines) + '\n'


class EmptyStore:
    """Stands in for a history that does not exist yet (check mode only)."""

    path = 'no history yet'

    def close(self):
        pass

    def run_hash(self, run_id):
        return None

    def has_run(self, run_id):
        return False

    def recent_runs(self, limit=10):
        return []

    def result(self, run_id, test_key, metric=THROUGHPUT):
        return None

    def last_valid(self, test_key, before_ts, exclude_run, limit, tag=None, metric=THROUGHPUT, since_ts=None):
        return []

    def history(self, test_key, until_ts=None, limit=None, metric=THROUGHPUT):
        return []

    def all_results(self):
        return []

    def tests(self):
        return []


def open_readonly(path, check_mode, what):
    """The store at ``path`` read-only; an empty one in check mode if it is missing."""
    if os.path.exists(path):
        return Store(path, readonly=True)
    if check_mode:
        return EmptyStore()
    raise StoreError('no history database at %s: record the run with mptcp.lab.perf_history '
                     'before %s' % (path, what))
