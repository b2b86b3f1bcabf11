"""The history store under real concurrency and real crashes (separate processes)."""

import json
import os
import signal
import subprocess
import sys

from conftest import run_module

from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_record import load_summary, normalize
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_store import Store

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import perf_fixtures  # noqa: E402  pylint: disable=wrong-import-position

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = dict(os.environ, PYTHONPATH=os.path.join(ROOT, '.collections'))

WRITER = r'''
import json, sys
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_record import load_summary, normalize
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_store import Store
db, mode, paths = sys.argv[1], sys.argv[2], sys.argv[3:]
store = Store(db)
def hang(conn):
    # inside the open transaction: tell the parent, then block until killed
    sys.stdout.write('in-transaction\n')
    sys.stdout.flush()
    sys.stdin.read()
statuses = []
for path in paths:
    statuses.append(store.ingest(normalize(load_summary(path)),
                                 before_commit=hang if mode == 'hang' else None))
print(json.dumps(statuses))
'''


def writer(db, mode, paths):
    return subprocess.Popen([sys.executable, '-c', WRITER, db, mode] + list(paths), env=ENV,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def make_runs(tmp_path, count):
    results = str(tmp_path / 'results')
    return perf_fixtures.write_history(results, count)


def test_concurrent_writers_all_land_once(tmp_path):
    paths = make_runs(tmp_path, 60)
    db = str(tmp_path / 'history.sqlite')
    # six writers at once: each records ten runs of its own, then all race on the same run
    procs = [writer(db, 'normal', paths[10 * i:10 * i + 10] + [paths[0]]) for i in range(6)]
    outputs = [p.communicate(timeout=120) for p in procs]
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, err
    statuses = [json.loads(out.strip().splitlines()[-1]) for out, dummy in outputs]
    # the shared run was added exactly once, whoever got there first
    shared = [statuses[0][0]] + [s[10] for s in statuses]
    assert shared.count('added') == 1 and shared.count('unchanged') == len(shared) - 1
    store = Store(db, readonly=True)
    try:
        assert store.count_runs() == 60
        assert store.integrity_check() == 'ok'
        assert store.conn.execute('SELECT COUNT(*) FROM results').fetchone()[0] == 180
    finally:
        store.close()


def test_writer_killed_mid_transaction_leaves_history_intact(tmp_path):
    paths = make_runs(tmp_path, 3)
    db = str(tmp_path / 'history.sqlite')
    first = writer(db, 'normal', paths[:1])
    assert first.wait(timeout=60) == 0
    victim = writer(db, 'hang', paths[1:2])
    assert victim.stdout.readline().strip() == 'in-transaction'
    # the victim holds the write lock with half of its run written: kill it hard
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    victim.stdin.close()
    victim.stdout.close()
    victim.stderr.close()
    assert victim.returncode == -signal.SIGKILL
    store = Store(db)
    try:
        assert store.integrity_check() == 'ok'
        assert store.run_ids() == [perf_fixtures.run_id_for(0)]
        # the lock died with the process: the next writer proceeds, and the run can be recorded
        assert store.ingest(normalize(load_summary(paths[1]))) == 'added'
        assert store.ingest(normalize(load_summary(paths[2]))) == 'added'
        assert store.count_runs() == 3
    finally:
        store.close()


def test_reader_sees_a_consistent_history_while_a_writer_is_stuck(tmp_path):
    paths = make_runs(tmp_path, 2)
    db = str(tmp_path / 'history.sqlite')
    assert writer(db, 'normal', paths[:1]).wait(timeout=60) == 0
    stuck = writer(db, 'hang', paths[1:2])
    try:
        assert stuck.stdout.readline().strip() == 'in-transaction'
        store = Store(db, readonly=True)
        try:
            # WAL: readers never wait for the writer and never see its partial run
            assert store.run_ids() == [perf_fixtures.run_id_for(0)]
            assert len(store.run_results(perf_fixtures.run_id_for(1))) == 0
        finally:
            store.close()
    finally:
        stuck.kill()
        stuck.communicate(timeout=30)


def test_module_check_mode_then_real_run(tmp_path):
    """perf_history through the module protocol (as Ansible runs it)."""
    results = str(tmp_path / 'results')
    perf_fixtures.write_history(results, 2)
    check = run_module(None, 'perf_history', {'results_dir': results, 'backfill': True}, check_mode=True)
    assert check['rc'] == 0 and check['changed'] and check['runs_in_history'] == 2
    assert not os.path.exists(os.path.join(results, 'history.sqlite'))
    real = run_module(None, 'perf_history', {'results_dir': results, 'backfill': True})
    assert real['changed'] and real['runs_in_history'] == 2
    again = run_module(None, 'perf_history', {'results_dir': results, 'backfill': True})
    assert again['changed'] is False
