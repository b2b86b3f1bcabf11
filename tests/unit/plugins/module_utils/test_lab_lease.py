"""lab_lease: the pure parts (holder records, ownership decisions) and the locks on a scratch directory."""

import json
import os
import subprocess

import pytest

from ansible_collections.mptcp.lab.plugins.module_utils.lab import lab_lease as ll


def test_lock_names():
    assert ll.lock_name('lab', 'mlab') == 'lab-mlab.lock'
    name = ll.lock_name('results', '/srv/results')
    assert name.startswith('results-') and name.endswith('.lock') and len(name) == len('results-') + 16 + 5
    assert name != ll.lock_name('results', '/srv/results2')


def test_playbook_cmdline():
    assert ll.is_playbook_cmdline(['/venv/bin/python3', '/venv/bin/ansible-playbook', 'perf.yml'])
    assert ll.is_playbook_cmdline(['ansible-playbook', 'perf.yml'])
    assert not ll.is_playbook_cmdline(['python3', '-m', 'pytest', 'ansible-playbook'])
    assert not ll.is_playbook_cmdline(['/usr/bin/ansible-playbook-wrapper'])


def test_find_playbook_outside_ansible_is_none():
    assert ll.find_playbook() is None


def test_describe_names_pid_run_and_start():
    text = ll.describe({'pid': 42, 'purpose': 'perf', 'run_id': 'R1', 'started': 'T', 'host': 'h'})
    assert text == 'ansible-playbook pid 42 (perf run R1, started T on h)'
    assert 'unknown holder' in ll.describe({})


def test_created_by_run():
    lab = {'existing': ['mlab-gen1', 'mlab-shaper', 'mlab-sink1']}
    assert ll.created_by_run(lab, ['mlab-gen1', 'mlab-gen2', 'mlab-shaper', 'mlab-sink1', 'mlab-sink2']) == \
        ['mlab-gen2', 'mlab-sink2']
    assert ll.created_by_run({'existing': []}, ['mlab-gen1']) == ['mlab-gen1']
    assert ll.created_by_run({'existing': [], 'keep': True}, ['mlab-gen1']) == []


def test_files_of_removed_namespaces_longest_name_wins():
    files = ['mlab-gen1-x.log', 'mlab-gen10-x.log', 'mlab-sink1-stats.json', 'mlabx-gen1.log']
    assert ll.files_of(files, 'mlab', ['mlab-gen1'], False) == ['mlab-gen1-x.log']
    assert ll.files_of(files, 'mlab', ['mlab-gen10'], False) == ['mlab-gen10-x.log']
    assert ll.files_of(files, 'mlab', [], True) == files[:3]


def test_proc_start_and_alive():
    start = ll.proc_start(os.getpid())
    assert isinstance(start, int) and ll.proc_alive(os.getpid(), start)
    assert not ll.proc_alive(os.getpid(), start + 1)
    dead = subprocess.Popen(['true'])
    dead.wait()
    assert ll.proc_start(dead.pid) is None or ll.proc_start(dead.pid) != start


def test_check_dir_refuses_links_and_writable(tmp_path):
    good = tmp_path / 'locks'
    ll.check_dir(str(good), 0o700)
    assert oct(os.stat(str(good)).st_mode & 0o777) == '0o700'
    loose = tmp_path / 'loose'
    loose.mkdir()
    os.chmod(str(loose), 0o777)
    with pytest.raises(ll.LeaseError, match='must not be writable by group or others'):
        ll.check_dir(str(loose), 0o700)
    link = tmp_path / 'link'
    link.symlink_to(good)
    with pytest.raises(ll.LeaseError, match='must be a directory'):
        ll.check_dir(str(link), 0o700)


def test_open_lock_is_exclusive_and_refuses_symlinks(tmp_path):
    path = str(tmp_path / 'lab-x.lock')
    fd, locked = ll.open_lock(path)
    assert locked
    ll.write_holder(fd, {'pid': 1, 'run_id': 'r'})
    fd2, locked2 = ll.open_lock(path)
    assert not locked2 and ll.read_holder(fd2) == {'pid': 1, 'run_id': 'r'}
    os.close(fd2)
    ll.unlink_if_same(path, fd)
    os.close(fd)
    assert not os.path.exists(path)
    os.symlink(str(tmp_path / 'elsewhere'), path)
    with pytest.raises(ll.LeaseError, match='cannot open it'):
        ll.open_lock(path)
    assert not os.path.exists(str(tmp_path / 'elsewhere'))


def _params(tmp_path, **kw):
    p = dict(prefix='mlt' + os.urandom(3).hex()[:5], lock_dir=str(tmp_path / 'run' / 'locks'),
             run_dir=str(tmp_path / 'run'), results_dir=None, run_id='r1', purpose='perf',
             virtual=False, keep_lab=False, on_abort='remove_created')
    p.update(kw)
    return p


def test_check_mode_creates_nothing(tmp_path):
    p = _params(tmp_path)
    result = ll.acquire(p, (os.getpid(), ll.proc_start(os.getpid())), check_mode=True)
    assert not result['changed'] and not result['acquired'] and result['lab_existed'] is False
    assert not os.path.exists(p['lock_dir'])


def test_acquire_refuses_a_live_holder_and_takes_over_a_dead_one(tmp_path):
    p = _params(tmp_path)
    os.makedirs(p['lock_dir'], 0o700)
    path = os.path.join(p['lock_dir'], ll.lock_name('lab', p['prefix']))
    me = (os.getpid(), ll.proc_start(os.getpid()))
    # the file is not locked, but its holder (this very process, as another run) lives: refused
    with open(path, 'w') as f:
        json.dump({'pid': me[0], 'pid_start': me[1], 'run_id': 'live'}, f)
    other = subprocess.Popen(['sleep', '30'])
    try:
        owner = (other.pid, ll.proc_start(other.pid))
        with pytest.raises(ll.LeaseBusy, match='held by ansible-playbook pid %d .* whose guardian is gone' % me[0]):
            ll.acquire(p, owner)
        # a dead holder: taken over (the guardian is a real process: released at the end)
        dead = subprocess.Popen(['true'])
        dead.wait()
        with open(path, 'w') as f:
            json.dump({'pid': dead.pid, 'pid_start': 1, 'run_id': 'dead',
                       'lab': {'prefix': p['prefix'], 'virtual': False, 'existing': []}}, f)
        result = ll.acquire(p, owner)
        assert result['acquired'] and [t['holder']['run_id'] for t in result['took_over']] == ['dead']
        lease = json.load(open(path))
        assert lease['pid'] == other.pid and ll.proc_alive(lease['guardian'], lease['guardian_start'])
        # the same owner again: re-entrant, no second guardian
        again = ll.acquire(p, owner)
        assert again['reentrant'] and not again['acquired']
        # another owner: refused, naming the holder
        with pytest.raises(ll.LeaseBusy, match='lab %s is in use by ansible-playbook pid %d \\(perf run r1'
                           % (p['prefix'], other.pid)):
            ll.acquire(p, me)
        released = ll.release(p, owner)
        assert not released['changed'] and released['released'] == [path] and not os.path.exists(path)
        assert not ll.proc_alive(lease['guardian'], lease['guardian_start'])
        assert ll.release(p, owner) == {'changed': False, 'released': []}
    finally:
        other.kill()
        other.wait()


def test_guardian_cleans_up_when_its_owner_dies(tmp_path):
    p = _params(tmp_path, results_dir=str(tmp_path / 'results'), run_id='r9')
    owner_proc = subprocess.Popen(['sleep', '30'])
    owner = (owner_proc.pid, ll.proc_start(owner_proc.pid))
    result = ll.acquire(p, owner)
    assert len(result['lock_files']) == 2 and all(os.path.exists(f) for f in result['lock_files'])
    os.makedirs(str(tmp_path / 'results' / 'r9' / 'raw'))           # a run record half written
    owner_proc.kill()
    owner_proc.wait()
    guardian = result['holder']['guardian']
    fd = os.pidfd_open(guardian)
    try:
        import select
        assert select.select([fd], [], [], 10)[0]
    finally:
        os.close(fd)
    assert not any(os.path.exists(f) for f in result['lock_files'])
    assert not os.path.exists(str(tmp_path / 'results' / 'r9'))
    assert not os.path.exists(p['lock_dir'])


def test_abort_drops_the_lab_from_the_user_records_once_its_namespaces_are_gone(tmp_path, monkeypatch):
    p = _params(tmp_path, virtual=True, user_record_dir=str(tmp_path / 'lib'))
    holder = ll.acquire(p, (os.getpid(), ll.proc_start(os.getpid())), check_mode=True)['holder']
    assert holder['lab']['user_record_dir'] == str(tmp_path / 'lib')
    calls = []
    monkeypatch.setattr(ll.lab_user_record, 'drop_lab',
                        lambda *args: calls.append(args) or (['drop the holder(s) x of user u'], []))
    os.makedirs(p['run_dir'])
    actions, errors = ll.abort_cleanup(holder, p['run_dir'], p['lock_dir'])
    assert (actions, errors) == (['drop the holder(s) x of user u'], [])
    assert calls == [(str(tmp_path / 'lib'), p['prefix'], p['lock_dir'], '/run/netns')]
    # a namespace of the lab is left (a lab that existed, perf_keep_lab): it still holds the user
    monkeypatch.setattr(ll.lab_user_record, 'netns_of', lambda prefix, netns_dir: [prefix + '-sink1'])
    assert ll.abort_cleanup(holder, p['run_dir'], p['lock_dir']) == ([], []) and len(calls) == 1
    # teardown's lease (release_only) and a bare-metal lab's leave the records alone
    monkeypatch.undo()
    monkeypatch.setattr(ll.lab_user_record, 'drop_lab', lambda *args: calls.append(args) or ([], []))
    ll.abort_cleanup(dict(holder, on_abort='release_only'), p['run_dir'], p['lock_dir'])
    ll.abort_cleanup(dict(holder, lab=dict(holder['lab'], virtual=False)), p['run_dir'], p['lock_dir'])
    assert len(calls) == 1
