"""mptcp.lab.state_dir: a directory for the lab's records that only root can change."""

import os
import stat

import pytest

from conftest import run_module


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_creates_checks_and_tightens(tmp_path):
    os.chmod(str(tmp_path), 0o755)
    path = str(tmp_path / 'lib' / 'mptcp-lab')
    predicted = run_module(None, 'state_dir', dict(path=path), check_mode=True, diff=True)
    assert predicted['rc'] == 0 and predicted['changed'] and not os.path.exists(os.path.dirname(path))
    old = os.umask(0o077)
    try:
        made = run_module(None, 'state_dir', dict(path=path))
    finally:
        os.umask(old)
    assert made['changed'] and _mode(path) == 0o755 and _mode(os.path.dirname(path)) == 0o755
    assert not run_module(None, 'state_dir', dict(path=path))['changed']
    # a root-owned 0700 directory gets the mode the lab's unprivileged readers need
    os.chmod(path, 0o700)
    fixed = run_module(None, 'state_dir', dict(path=path), diff=True)
    assert fixed['changed'] and fixed['diff']['before']['mode'] == '0700' and _mode(path) == 0o755


@pytest.mark.parametrize('mode, owner, rule', [
    (0o777, 0, 'writable by its group or by everyone'),
    (0o775, 0, 'writable by its group or by everyone'),
    (0o755, 65534, 'owned by uid 65534, not root'),
])
def test_refuses_a_directory_others_control_and_never_takes_it_over(tmp_path, mode, owner, rule):
    path = str(tmp_path / 'state')
    os.mkdir(path)
    os.chmod(path, mode)
    os.chown(path, owner, owner)
    for check in (True, False):
        res = run_module(None, 'state_dir', dict(path=path), check_mode=check)
        assert res['rc'] != 0 and res['msg'].startswith('path: %s: ' % path) and rule in res['msg'], res
    info = os.stat(path)
    assert stat.S_IMODE(info.st_mode) == mode and info.st_uid == owner


def test_refuses_a_symlink_and_a_replaceable_parent(tmp_path):
    real = tmp_path / 'real'
    real.mkdir()
    link = str(tmp_path / 'link')
    os.symlink(str(real), link)
    res = run_module(None, 'state_dir', dict(path=link))
    assert res['rc'] != 0 and 'is a symlink' in res['msg']
    open_parent = tmp_path / 'open'
    open_parent.mkdir()
    os.chmod(str(open_parent), 0o777)
    res = run_module(None, 'state_dir', dict(path=str(open_parent / 'new')), check_mode=True)
    assert res['rc'] != 0 and 'a parent of' in res['msg'] and not (open_parent / 'new').exists()


@pytest.mark.parametrize('mode', ['0777', '0775', 'rwx', '0655'])
def test_bad_modes_are_refused(tmp_path, mode):
    res = run_module(None, 'state_dir', dict(path=str(tmp_path / 'x'), mode=mode))
    assert res['rc'] != 0 and res['msg'].startswith('mode: ') and not (tmp_path / 'x').exists()
