"""lab_user_record: when a namespace lab that holds the sink's user is gone (scratch /run/netns and lock dirs)."""

import json
import os
import subprocess
import threading
import time

from ansible_collections.mptcp.lab.plugins.module_utils.lab import lab_user_record as ur


def _start(pid):
    with open('/proc/%d/stat' % pid) as f:
        return int(f.read().rsplit(')', 1)[1].split()[19])


def _dead_pid():
    proc = subprocess.Popen(['true'])
    proc.wait()
    return proc.pid


def _dirs(tmp_path, namespaces=(), leases=None):
    netns_dir, lock_dir = tmp_path / 'netns', tmp_path / 'locks'
    netns_dir.mkdir()
    lock_dir.mkdir()
    for name in namespaces:
        (netns_dir / name).write_text('')
    for prefix, text in (leases or {}).items():
        (lock_dir / ('lab-%s.lock' % prefix)).write_text(text)
    return str(lock_dir), str(netns_dir)


def test_holders_of_keeps_netns_holders_among_the_holders():
    assert ur.holders_of(None) == ([], [])
    assert ur.holders_of({'holders': ['b', 'a', 'a']}) == (['a', 'b'], [])
    assert ur.holders_of({'holders': ['a', 'b'], 'netns_holders': ['b', 'x']}) == (['a', 'b'], ['b'])


def test_a_lab_with_a_namespace_left_is_not_gone(tmp_path):
    lock_dir, netns_dir = _dirs(tmp_path, namespaces=['mlab-sink1', 'mlab2-gen1', 'other-sink1'])
    assert ur.netns_of('mlab', netns_dir) == ['mlab-sink1']          # not mlab2-*
    assert not ur.lab_gone('mlab', lock_dir, netns_dir)
    assert ur.lab_gone('mlab3', lock_dir, netns_dir)
    assert ur.netns_of('mlab', str(tmp_path / 'missing')) == []


def test_a_lab_whose_lease_a_live_run_holds_is_not_gone(tmp_path):
    me = dict(pid=os.getpid(), pid_start=_start(os.getpid()))
    dead = dict(pid=_dead_pid(), pid_start=1)
    guarded = dict(dead, guardian=os.getpid(), guardian_start=_start(os.getpid()))
    reused = dict(pid=os.getpid(), pid_start=_start(os.getpid()) + 1)        # same pid, another process
    lock_dir, netns_dir = _dirs(tmp_path, leases=dict(
        live=json.dumps(me), dead=json.dumps(dead), guarded=json.dumps(guarded), reused=json.dumps(reused),
        torn='{"pid": 4', odd='[1, 2]'))
    assert ur.lease_held('live', lock_dir) and not ur.lab_gone('live', lock_dir, netns_dir)
    assert not ur.lease_held('dead', lock_dir) and ur.lab_gone('dead', lock_dir, netns_dir)
    assert ur.lease_held('guarded', lock_dir)            # the run is dead, its guardian still cleaning up
    assert not ur.lease_held('reused', lock_dir)
    assert ur.lease_held('torn', lock_dir) and ur.lease_held('odd', lock_dir)     # unreadable: held
    assert not ur.lease_held('none', lock_dir)


def test_only_netns_holders_whose_lab_is_gone_are_dropped(tmp_path):
    lock_dir, netns_dir = _dirs(tmp_path, namespaces=['up-sink1'],
                                leases=dict(held=json.dumps(dict(pid=os.getpid(), pid_start=_start(os.getpid())))))
    rec = dict(holders=['bare', 'gone', 'held', 'mine', 'up'], netns_holders=['gone', 'held', 'mine', 'up'])
    assert ur.gone_holders(rec, lock_dir, netns_dir) == ['gone', 'mine']
    assert ur.gone_holders(rec, lock_dir, netns_dir, keep=['mine']) == ['gone']
    # an old record (no netns_holders): nothing is known to be a namespace lab, nothing is dropped
    assert ur.gone_holders(dict(holders=['gone']), lock_dir, netns_dir) == []


def test_busy_processes_waits_for_zombies_to_be_reaped(monkeypatch):
    child = subprocess.Popen(['true'])
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with open('/proc/%d/stat' % child.pid) as f:
            if f.read().rsplit(')', 1)[1].split()[0] == 'Z':
                break
        time.sleep(0.01)
    uid = os.getuid()
    assert child.pid in ur.processes_of(uid) and child.pid not in ur.processes_of(uid, zombies=False)
    # a user whose only process is that zombie: its parent reaps it while busy_processes waits
    real = ur.processes_of
    monkeypatch.setattr(ur, 'processes_of', lambda u, zombies=True: [p for p in real(u, zombies) if p == child.pid])
    assert ur.busy_processes(uid, wait_s=0) == [child.pid]
    reaper = threading.Timer(0.3, child.wait)
    reaper.start()
    try:
        started = time.monotonic()
        assert ur.busy_processes(uid, wait_s=5) == []
        assert time.monotonic() - started < 4
    finally:
        reaper.join()


def test_delete_user_removes_the_group_userdel_left():
    calls = []

    def run(rc):
        def command(argv):
            calls.append(argv)
            return rc, '', 'busy' if rc else ''
        return command

    assert ur.delete_user('mlab', run(0), lambda name: '/sbin/' + name) == (0, '', '')
    assert calls == [['/sbin/userdel', 'mlab'], ['/sbin/groupdel', 'mlab']]
    del calls[:]
    assert ur.delete_user('mlab', run(8), lambda name: '/sbin/' + name) == (8, '', 'busy')
    assert calls == [['/sbin/userdel', 'mlab']]                 # the group stays with a user that stays
    assert ur.delete_user('mlab', run(0), lambda name: None)[0] == 127
