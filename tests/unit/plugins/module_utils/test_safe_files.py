"""Safe state files (mptcp.lab safe_files): checked directories, no symlink followed."""

import os
import stat

import pytest

from ansible_collections.mptcp.lab.plugins.module_utils.process import safe_files as sf


@pytest.fixture
def state_dir(tmp_path):
    path = tmp_path / 'state'
    path.mkdir(mode=0o755)
    os.chmod(str(path), 0o755)
    return str(path)


def test_write_read_replace_and_unlink(state_dir):
    with sf.SafeDir(state_dir) as d:
        assert d.read('a.json') is None
        d.write('a.json', '{"x": 1}')
        d.write('a.json', '{"x": 2}', mode=0o600)
        assert d.read('a.json') == b'{"x": 2}'
        assert d.unlink('a.json') and not d.unlink('a.json')
    assert os.listdir(state_dir) == []            # no temporary file left behind
    info = os.stat(state_dir)
    assert stat.S_IMODE(info.st_mode) == 0o755


def test_written_file_mode_is_exact(state_dir):
    old = os.umask(0o077)
    try:
        with sf.SafeDir(state_dir) as d:
            d.write('p.pid', '1\n', mode=0o644)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(os.path.join(state_dir, 'p.pid')).st_mode) == 0o644


def test_a_planted_symlink_is_never_followed(state_dir, tmp_path):
    victim = tmp_path / 'victim'
    victim.write_text('precious\n')
    for name in ('s.json', 's.log', 's.pid'):
        os.symlink(str(victim), os.path.join(state_dir, name))
    with sf.SafeDir(state_dir) as d:
        with pytest.raises(sf.UnsafePath, match='s.json: is a symlink'):
            d.read('s.json')
        with pytest.raises(sf.UnsafePath, match='s.log: is a symlink'):
            d.open_append('s.log')
        d.write('s.pid', '42\n')                  # replaces the link itself
        assert d.unlink('s.json')                 # removes the link, not its target
    assert victim.read_text() == 'precious\n'
    assert not os.path.islink(os.path.join(state_dir, 's.pid'))
    assert os.path.islink(os.path.join(state_dir, 's.log'))


@pytest.mark.parametrize('mode, rule', [(0o777, 'writable by its group or by everyone'),
                                        (0o775, 'writable by its group or by everyone'),
                                        (0o1777, 'writable by its group or by everyone')])
def test_group_or_world_writable_directory_is_refused(state_dir, mode, rule):
    os.chmod(state_dir, mode)
    with pytest.raises(sf.UnsafePath, match=rule):
        sf.SafeDir(state_dir)


def test_symlinked_directory_is_refused(state_dir, tmp_path):
    link = str(tmp_path / 'link')
    os.symlink(state_dir, link)
    with pytest.raises(sf.UnsafePath, match='is a symlink'):
        sf.SafeDir(link)


@pytest.mark.skipif(os.geteuid() != 0, reason='needs root to give the directory away')
def test_directory_of_another_user_is_refused(state_dir, tmp_path):
    os.chown(state_dir, 65534, 65534)
    with pytest.raises(sf.UnsafePath, match='owned by uid 65534, not root'):
        sf.SafeDir(state_dir)
    # ... and so is one below a parent another user could replace
    os.chown(state_dir, 0, 0)
    os.chmod(str(tmp_path), 0o777)
    try:
        with pytest.raises(sf.UnsafePath, match='a parent of'):
            sf.SafeDir(state_dir)
    finally:
        os.chmod(str(tmp_path), 0o700)


def test_create_makes_missing_directories_0755(tmp_path):
    old = os.umask(0o077)
    try:
        path = str(tmp_path / 'a' / 'b')
        sf.SafeDir(path, create=True).close()
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o755
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o755


@pytest.mark.parametrize('name', ['', '.', '..', 'a/b'])
def test_names_are_plain_file_names(state_dir, name):
    with sf.SafeDir(state_dir) as d:
        with pytest.raises(sf.UnsafePath, match='not a plain file name'):
            d.write(name, 'x')
