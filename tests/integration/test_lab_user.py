"""mptcp.lab.lab_user: a system user created, recorded and removed only when the lab created it."""

import json
import os
import pwd
import subprocess
import uuid

import pytest

from conftest import run_module


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
                                    group=user['name'], holders=[])
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
