"""mptcp.lab.lab_user: a system user created, recorded and removed only when the lab created it."""

import json
import os
import pwd
import subprocess
import time
import uuid

import pytest

from ansible_collections.mptcp.lab.plugins.module_utils.lab import lab_user_record
from conftest import run_module, unique_name


@pytest.fixture
def user(tmp_path):
    name = 'mlt-u%s' % uuid.uuid4().hex[:8]
    record_dir = str(tmp_path / 'state')
    yield dict(name=name, record_dir=record_dir)
    subprocess.run(['userdel', name], capture_output=True, check=False)
    subprocess.run(['groupdel', name], capture_output=True, check=False)


def _exists(name):
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def test_create_record_idempotent_and_remove(user):
    args = dict(name=user['name'], record_dir=user['record_dir'])
    predicted = run_module(None, 'lab_user', args, check_mode=True, diff=True)
    assert predicted['rc'] == 0 and predicted['changed'] and predicted['exists'], predicted
    assert _exists(user['name']) is None and not os.path.exists(user['record_dir'])

    made = run_module(None, 'lab_user', args)
    assert made['changed'] and made['created_by_lab'], made
    pw = _exists(user['name'])
    assert pw and pw.pw_uid == made['uid'] and pw.pw_uid < 1000           # a system user
    assert pw.pw_dir == '/nonexistent' and pw.pw_shell.endswith('nologin')
    with open(os.path.join(user['record_dir'], '%s-user.json' % user['name'])) as f:
        assert json.load(f) == dict(saved_by='mptcp.lab.lab_user', user=user['name'], uid=pw.pw_uid,
                                    group=user['name'], holders=[], netns_holders=[])
    again = run_module(None, 'lab_user', args)
    assert not again['changed'] and again['created_by_lab'] and again['uid'] == pw.pw_uid

    # a process of the user keeps it
    sleeper = subprocess.Popen(['setpriv', '--reuid', str(pw.pw_uid), '--regid', str(pw.pw_gid),
                                '--clear-groups', 'sleep', '30'])
    try:
        kept = run_module(None, 'lab_user', dict(args, state='absent'))
        assert not kept['changed'] and _exists(user['name']) and 'still runs pid' in json.dumps(kept['warnings']), kept
    finally:
        sleeper.kill()
        sleeper.wait()

    gone_check = run_module(None, 'lab_user', dict(args, state='absent'), check_mode=True)
    assert gone_check['changed'] and _exists(user['name'])
    gone = run_module(None, 'lab_user', dict(args, state='absent'))
    assert gone['changed'] and not gone['exists'] and _exists(user['name']) is None
    assert subprocess.run(['getent', 'group', user['name']], capture_output=True, check=False).returncode == 2
    assert os.listdir(user['record_dir']) == []
    assert not run_module(None, 'lab_user', dict(args, state='absent'))['changed']


def test_a_user_that_existed_is_never_removed(user):
    subprocess.run(['useradd', '--system', '--user-group', '--no-create-home', user['name']], check=True)
    args = dict(name=user['name'], record_dir=user['record_dir'])
    used = run_module(None, 'lab_user', args)
    assert not used['changed'] and not used['created_by_lab'] and used['exists']
    kept = run_module(None, 'lab_user', dict(args, state='absent'))
    assert not kept['changed'] and _exists(user['name'])


@pytest.mark.parametrize('name, rule', [('nobody', 'shared with other daemons'), ('root', 'shared with other daemons'),
                                        ('Bad Name', 'must be a system user name'), ('-x', 'must be a system user name')])
def test_bad_names_are_refused(user, name, rule):
    res = run_module(None, 'lab_user', dict(name=name, record_dir=user['record_dir']))
    assert res['rc'] != 0 and res['msg'].startswith('name: ') and rule in res['msg']


def test_an_open_record_directory_is_refused(user):
    os.makedirs(user['record_dir'])
    os.chmod(user['record_dir'], 0o777)
    res = run_module(None, 'lab_user', dict(name=user['name'], record_dir=user['record_dir']))
    assert res['rc'] != 0 and res['msg'].startswith('record_dir: ') and 'writable' in res['msg']
    assert _exists(user['name']) is None


def test_the_user_goes_with_the_last_lab_that_holds_it(user):
    """Two labs on one machine share the user: the first one's teardown leaves it to the second."""
    args = dict(name=user['name'], record_dir=user['record_dir'])
    first = run_module(None, 'lab_user', dict(args, holder='laba'))
    assert first['changed'] and first['created_by_lab'] and first['holders'] == ['laba']
    predicted = run_module(None, 'lab_user', dict(args, holder='labb'), check_mode=True, diff=True)
    assert predicted['changed'] and predicted['diff']['after']['holders'] == ['laba', 'labb']
    second = run_module(None, 'lab_user', dict(args, holder='labb'))
    assert second['changed'] and second['holders'] == ['laba', 'labb'] and second['uid'] == first['uid']
    assert not run_module(None, 'lab_user', dict(args, holder='labb'))['changed']
    with open(os.path.join(user['record_dir'], '%s-user.json' % user['name'])) as f:
        assert json.load(f)['holders'] == ['laba', 'labb']
    # laba's teardown: labb still holds the user
    left = run_module(None, 'lab_user', dict(args, holder='laba', state='absent'))
    assert left['changed'] and left['exists'] and left['holders'] == ['labb'] and _exists(user['name'])
    # without a holder, absent never removes a user a lab holds
    assert not run_module(None, 'lab_user', dict(args, state='absent'))['changed'] and _exists(user['name'])
    # labb's: the last one, the user goes
    gone = run_module(None, 'lab_user', dict(args, holder='labb', state='absent'))
    assert gone['changed'] and not gone['exists'] and _exists(user['name']) is None
    assert os.listdir(user['record_dir']) == []
    bad = run_module(None, 'lab_user', dict(args, holder='a b'))
    assert bad['rc'] != 0 and bad['msg'].startswith('holder: ') and _exists(user['name']) is None


@pytest.fixture
def labs(user, tmp_path):
    """Made-up labs of this machine: ``up(prefix)`` gives the lab a namespace ``<prefix>-sink1``, ``down(prefix)``
    removes it; ``lease(prefix, pid)`` writes the lab's lease lock file (lab_lease's holder record) in
    ``user['lock_dir']``. Every namespace left goes at the end."""
    user['lock_dir'] = str(tmp_path / 'locks')
    os.makedirs(user['lock_dir'], mode=0o700)
    made = []

    def up(prefix):
        subprocess.run(['ip', 'netns', 'add', '%s-sink1' % prefix], check=True)
        made.append(prefix)

    def down(prefix):
        subprocess.run(['ip', 'netns', 'del', '%s-sink1' % prefix], check=True)

    def lease(prefix, pid):
        with open('/proc/%d/stat' % pid) as f:
            start = int(f.read().rsplit(')', 1)[1].split()[19])
        with open(os.path.join(user['lock_dir'], 'lab-%s.lock' % prefix), 'w') as f:
            json.dump(dict(pid=pid, pid_start=start, purpose='perf'), f)

    try:
        yield dict(up=up, down=down, lease=lease)
    finally:
        for prefix in made:
            subprocess.run(['ip', 'netns', 'del', '%s-sink1' % prefix], capture_output=True, check=False)


def _record(user):
    with open(os.path.join(user['record_dir'], '%s-user.json' % user['name'])) as f:
        return json.load(f)


def test_holders_whose_namespace_lab_is_gone_are_dropped(user, labs):
    """A namespace lab that died without its teardown (its guardian killed, a reboot) no longer holds the user;
    a bare-metal lab (no namespace here), a lab that is up and a lab a live run holds still do."""
    gone, bare, held, live, other = sorted(unique_name('lu')[:8] + x for x in 'abcde')
    args = dict(name=user['name'], record_dir=user['record_dir'], lock_dir=user['lock_dir'])
    for prefix in (gone, held, live):
        labs['up'](prefix)
    for prefix in (gone, bare, held, live):
        assert run_module(None, 'lab_user', dict(args, holder=prefix))['changed']
    rec = _record(user)
    assert rec['holders'] == [gone, bare, held, live] and rec['netns_holders'] == [gone, held, live], rec
    # gone's namespaces go without its teardown; held's too, but a live run (this one) holds its lease
    labs['down'](gone)
    labs['down'](held)
    labs['lease'](held, os.getpid())
    predicted = run_module(None, 'lab_user', dict(args, holder=other), check_mode=True, diff=True)
    assert predicted['changed'] and predicted['pruned'] == [gone], predicted
    assert predicted['diff']['after']['holders'] == [bare, held, live, other]
    assert _record(user) == rec
    added = run_module(None, 'lab_user', dict(args, holder=other))
    assert added['changed'] and added['pruned'] == [gone] and added['holders'] == [bare, held, live, other]
    assert _record(user)['netns_holders'] == [held, live]
    again = run_module(None, 'lab_user', dict(args, holder=other))
    assert not again['changed'] and again['pruned'] == []
    # the run that held held's lease is dead now: held is gone too, and goes with live's teardown
    dead = subprocess.Popen(['true'])
    labs['lease'](held, dead.pid)
    dead.wait()
    left = run_module(None, 'lab_user', dict(args, holder=live, state='absent'))
    assert left['changed'] and left['pruned'] == [held] and left['holders'] == [bare, other], left
    assert _exists(user['name'])
    # the bare-metal lab is never dropped: the user goes with its teardown and other's
    assert run_module(None, 'lab_user', dict(args, holder=other, state='absent'))['holders'] == [bare]
    gone_user = run_module(None, 'lab_user', dict(args, holder=bare, state='absent'))
    assert gone_user['changed'] and not gone_user['exists'] and _exists(user['name']) is None
    assert os.listdir(user['record_dir']) == []


def test_absent_without_holder_removes_a_user_whose_labs_are_all_gone(user, labs):
    prefix = unique_name('lu')[:8]
    args = dict(name=user['name'], record_dir=user['record_dir'], lock_dir=user['lock_dir'])
    labs['up'](prefix)
    assert run_module(None, 'lab_user', dict(args, holder=prefix))['changed']
    kept = run_module(None, 'lab_user', dict(args, state='absent'))
    assert not kept['changed'] and kept['holders'] == [prefix] and _exists(user['name'])
    labs['down'](prefix)
    gone = run_module(None, 'lab_user', dict(args, state='absent'))
    assert gone['changed'] and gone['pruned'] == [prefix] and _exists(user['name']) is None


def test_the_guardian_drops_the_holder_of_the_lab_it_removed(user, labs):
    """lab_lease's guardian, after an aborted run's lab is removed (lab_user_record.drop_lab): the lab no longer
    holds the user, which goes with its last holder, or stays while one of its processes runs."""
    aborted, other = sorted(unique_name('lu')[:8] + x for x in 'ab')
    args = dict(name=user['name'], record_dir=user['record_dir'], lock_dir=user['lock_dir'])
    for prefix in (aborted, other):
        labs['up'](prefix)
        assert run_module(None, 'lab_user', dict(args, holder=prefix))['changed']
    labs['down'](aborted)
    actions, errors = lab_user_record.drop_lab(user['record_dir'], aborted, user['lock_dir'])
    assert not errors and _record(user)['holders'] == [other] and _record(user)['netns_holders'] == [other]
    assert actions == ['drop the holder(s) %s of user %s' % (aborted, user['name'])]
    assert lab_user_record.drop_lab(user['record_dir'], aborted, user['lock_dir']) == ([], [])
    # the last holder's lab is removed while a process of the user still runs: kept, without holders
    labs['down'](other)
    pw = _exists(user['name'])
    sleeper = subprocess.Popen(['setpriv', '--reuid', str(pw.pw_uid), '--regid', str(pw.pw_gid),
                                '--clear-groups', 'sleep', '30'])
    try:
        deadline = time.monotonic() + 5
        while os.stat('/proc/%d' % sleeper.pid).st_uid != pw.pw_uid and time.monotonic() < deadline:
            time.sleep(0.01)       # setpriv has not switched yet
        actions, errors = lab_user_record.drop_lab(user['record_dir'], other, user['lock_dir'])
        assert not errors and 'still run' in actions[0] and _exists(user['name']), actions
        assert _record(user)['holders'] == []
    finally:
        sleeper.kill()
        sleeper.wait()
    assert run_module(None, 'lab_user', dict(args, state='absent'))['changed'] and _exists(user['name']) is None
    # the last holder goes with its lab: so does the user the lab created, and its record
    labs['up'](other)
    assert run_module(None, 'lab_user', dict(args, holder=other))['created_by_lab']
    labs['down'](other)
    actions, errors = lab_user_record.drop_lab(user['record_dir'], other, user['lock_dir'])
    assert not errors and actions == ['remove user %s (created by the lab, its last holder %s gone)'
                                      % (user['name'], other)]
    assert _exists(user['name']) is None and os.listdir(user['record_dir']) == []
    assert subprocess.run(['getent', 'group', user['name']], capture_output=True, check=False).returncode == 2


def test_the_guardian_never_removes_a_user_the_lab_did_not_create(user, labs):
    subprocess.run(['useradd', '--system', '--user-group', '--no-create-home', user['name']], check=True)
    prefix = unique_name('lu')[:8]
    labs['up'](prefix)
    assert not run_module(None, 'lab_user', dict(name=user['name'], record_dir=user['record_dir'],
                                                 holder=prefix))['created_by_lab']
    labs['down'](prefix)
    assert lab_user_record.drop_lab(user['record_dir'], prefix, user['lock_dir']) == ([], [])
    assert _exists(user['name'])
