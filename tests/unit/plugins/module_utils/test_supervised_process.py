"""Unit tests for module_utils/supervised_process: /proc parsing, restart reasons, credentials, state files."""

import json
import os
import subprocess

import pytest

from ansible_collections.mptcp.lab.plugins.module_utils.process import proc_identity as procid
from ansible_collections.mptcp.lab.plugins.module_utils.process import supervised_process as sp

Z32 = '0' * 32
TCP6 = """\
  sl  local_address  remote_address  st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: %(z)s:14B3 %(z)s:0000 0A 00000000:00000000 00:00000000 00000000     0        0 10320 2 0 100 0 0 10 0
   1: %(z)s:14B4 %(z)s:0000 0A 00000000:00000000 00:00000000 00000000     0        0 10321 2 0 100 0 0 10 0
   2: %(z)s:14B3 %(z)s:9C40 01 00000000:00000000 00:00000000 00000000     0        0 10400 1 0 20 4 30 10 -1
""" % dict(z=Z32)
TCP4 = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1451 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1 0 100 0 0 10 0
   1: 0100007F:1451 0100007F:C000 06 00000000:00000000 00:00000000 00000000     0        0 0 1 0 20 4 30 10 -1
"""


def test_listen_inodes_only_listeners_on_the_port():
    assert sp.parse_listen_inodes(TCP6, 5299) == {'10320'}
    assert sp.parse_listen_inodes(TCP6, 5300) == {'10321'}
    assert sp.parse_listen_inodes(TCP4, 5201) == {'777'}
    assert sp.parse_listen_inodes(TCP4, 5299) == set()


def test_listen_inodes_ignores_garbage():
    assert sp.parse_listen_inodes('header\nshort line\n  0: nonsense\n', 1) == set()


def test_proc_identity_is_the_state_and_the_start_time_as_text():
    assert sp.proc_identity(os.getpid()) == ('R', str(procid.start_time(os.getpid())))
    dead = subprocess.Popen(['true'])
    dead.wait()
    assert sp.proc_identity(dead.pid) is None


@pytest.mark.parametrize('recorded, wanted, reason', [
    (dict(argv=['a']), dict(argv=['a']), None),
    (dict(argv=['a']), dict(argv=['a', 'b']), 'argv changed'),
    (dict(argv=['a'], env={'X': '1'}), dict(argv=['a'], env={}), 'env changed'),
    (dict(argv=['a'], env=None), dict(argv=['a'], env={}), None),
    (dict(argv=['a'], config_checksum='1'), dict(argv=['a'], config_checksum='2'), 'config_checksum changed'),
    (dict(argv=['a'], config_checksum='1'), dict(argv=['a'], config_checksum=None), None),
    (dict(argv=['a']), dict(argv=['a'], config_checksum='2'), 'config_checksum changed'),
    # records from before the user option: run as the module's user, unchanged when unset
    (dict(argv=['a']), dict(argv=['a'], uid=None, gid=None), None),
    (dict(argv=['a']), dict(argv=['a'], uid=65534, gid=65534), 'user changed'),
    (dict(argv=['a'], uid=65534, gid=65534), dict(argv=['a'], uid=65534, gid=65534), None),
    (dict(argv=['a'], uid=65534, gid=65534), dict(argv=['a'], uid=65534, gid=0), 'user changed'),
    (dict(argv=['a'], uid=65534, gid=65534), dict(argv=['a'], uid=None, gid=None), 'user changed'),
    (dict(argv=['a'], uid=1, gid=1, capabilities=[]), dict(argv=['a'], uid=1, gid=1, capabilities=['net_admin']),
     'capabilities changed'),
    (dict(argv=['a'], uid=1, gid=1), dict(argv=['a'], uid=1, gid=1, capabilities=[]), None),
])
def test_restart_reason(recorded, wanted, reason):
    assert sp.restart_reason(recorded, wanted) == reason


def test_is_alive_checks_starttime(monkeypatch):
    monkeypatch.setattr(sp, 'proc_identity', lambda pid: ('S', '100') if pid == 1 else None)
    assert sp.is_alive(1)
    assert sp.is_alive(1, '100')
    assert not sp.is_alive(1, '99')       # recycled pid: never trusted
    assert not sp.is_alive(2)
    monkeypatch.setattr(sp, 'proc_identity', lambda pid: ('Z', '100'))
    assert not sp.is_alive(1, '100')      # zombie counts as gone


def test_recorded_state_tolerates_garbage(tmp_path):
    d = sp.Daemon('x', str(tmp_path))
    assert d.recorded() == {}
    (tmp_path / 'x.json').write_text('not json')
    assert d.recorded() == {}
    (tmp_path / 'x.json').write_text('[1]')
    assert d.recorded() == {}
    (tmp_path / 'x.json').write_text(json.dumps(dict(pid=2 ** 22 + 7, starttime='1')))
    assert d.current() is None


def test_resolve_credentials_by_name_or_id():
    import grp
    import pwd
    nobody = pwd.getpwnam('nobody')
    primary = grp.getgrgid(nobody.pw_gid).gr_name
    assert sp.resolve_credentials(None, None) is None
    by_name = sp.resolve_credentials('nobody', None)
    assert by_name == dict(user='nobody', uid=nobody.pw_uid, group=primary, gid=nobody.pw_gid,
                           home=nobody.pw_dir)
    assert sp.resolve_credentials(str(nobody.pw_uid), None) == by_name
    as_root_group = sp.resolve_credentials('nobody', '0')
    assert (as_root_group['uid'], as_root_group['gid'], as_root_group['group']) == (nobody.pw_uid, 0, 'root')
    with pytest.raises(ValueError, match='^user: '):
        sp.resolve_credentials('mptcp-lab-no-such-user', None)
    with pytest.raises(ValueError, match='^group: '):
        sp.resolve_credentials('nobody', 'mptcp-lab-no-such-group')
