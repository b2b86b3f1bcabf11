"""Unit tests for plugins/module_utils/mptcp/networkmanager.py (mptcp-flags, NM.conf order, assessment)."""

import os

import pytest

from ansible_collections.mptcp.lab.plugins.module_utils.mptcp import networkmanager as nm


@pytest.mark.parametrize('text, value', [
    ('0x22 (enabled,subflow)', 0x22),
    ('0x0 (default)', 0),
    ('0x1', 1),
    ('34', 34),
    ('disabled', 1),
    ('enabled,subflow', 0x22),
    ('signal, backup', 0x50),
    ('also-without-default-route|subflow', 0x28),
    ('', 0),
    ('default', 0),
    (None, 0),
])
def test_parse_flags(text, value):
    assert nm.parse_flags(text) == value


def test_parse_flags_rejects_unknown_names():
    with pytest.raises(nm.FlagsError, match="unknown mptcp flag 'turbo'"):
        nm.parse_flags('enabled,turbo')


def test_flag_names_and_enables():
    assert nm.flag_names(0) == ['default']
    assert nm.flag_names(0x22) == ['enabled', 'subflow']
    assert nm.enables(0x22) and nm.enables(0x20)       # any flag implies enabled
    assert not nm.enables(0) and not nm.enables(1) and not nm.enables(0x21)


def test_effective_precedence():
    assert nm.effective(0x1, 0x22) == 0x1            # the connection's own value wins
    assert nm.effective(0, 0x1) == 0x1               # else the global default
    assert nm.effective(0, None) == nm.FALLBACK == 0x22  # else enabled,subflow


def test_version_and_support():
    assert nm.parse_version('nmcli tool, version 1.42.4') == (1, 42, 4)
    assert nm.parse_version('1.40') == (1, 40, 0)
    assert nm.supports_mptcp((1, 40, 0)) and not nm.supports_mptcp((1, 38, 6))
    assert nm.supports_mptcp(None)  # unknown: assume it may


def write(root, rel, text):
    path = os.path.join(str(root), rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as handle:
        handle.write(text)
    return path


def test_conf_files_order_and_shadowing(tmp_path):
    write(tmp_path, 'usr/lib/NetworkManager/conf.d/10-lib.conf', '')
    write(tmp_path, 'usr/lib/NetworkManager/conf.d/20-shadowed.conf', '')
    write(tmp_path, 'usr/lib/NetworkManager/conf.d/readme.txt', '')
    write(tmp_path, 'run/NetworkManager/conf.d/05-run.conf', '')
    write(tmp_path, 'run/NetworkManager/conf.d/30-runshadow.conf', '')
    write(tmp_path, 'etc/NetworkManager/NetworkManager.conf', '')
    write(tmp_path, 'etc/NetworkManager/conf.d/20-shadowed.conf', '')
    write(tmp_path, 'etc/NetworkManager/conf.d/30-runshadow.conf', '')
    write(tmp_path, 'var/lib/NetworkManager/NetworkManager-intern.conf', '')
    rel = [os.path.relpath(p, str(tmp_path)) for p in nm.conf_files(str(tmp_path))]
    assert rel == [
        'usr/lib/NetworkManager/conf.d/10-lib.conf',
        'run/NetworkManager/conf.d/05-run.conf',
        'etc/NetworkManager/NetworkManager.conf',
        'etc/NetworkManager/conf.d/20-shadowed.conf',
        'etc/NetworkManager/conf.d/30-runshadow.conf',
        'var/lib/NetworkManager/NetworkManager-intern.conf',
    ]
    # a file about to be written is placed where NetworkManager would read it
    rel = [os.path.relpath(p, str(tmp_path)) for p in nm.conf_files(str(tmp_path), extra_etc=['25-new.conf'])]
    assert rel.index('etc/NetworkManager/conf.d/25-new.conf') == 4


def test_conf_defaults_last_global_wins_and_device_sections_are_listed():
    texts = [
        ('/a.conf', '[connection]\nconnection.mptcp-flags=0x22\n[main]\nplugins=keyfile\n'),
        ('/b.conf', '# comment\n[connection]\nipv6.ip6-privacy=2\nconnection.mptcp-flags=disabled\n'),
        ('/c.conf', '[connection-wifi]\nmatch-device=type:wifi\nconnection.mptcp-flags=0x20\n'),
        ('/d.conf', '[device]\nconnection.mptcp-flags=0x20\n'),   # not a connection section
    ]
    global_default, devices = nm.conf_defaults(texts)
    assert global_default == {'value': 1, 'file': '/b.conf'}
    assert devices == [{'value': 0x20, 'file': '/c.conf', 'section': 'connection-wifi'}]


def test_conf_defaults_names_the_file_of_a_bad_value():
    with pytest.raises(nm.FlagsError, match=r'/x.conf \[connection\] connection.mptcp-flags'):
        nm.conf_defaults([('/x.conf', '[connection]\nconnection.mptcp-flags=maybe\n')])


def test_keyfile_connection():
    conn = nm.keyfile_connection('/k', '[connection]\nid=Wired 1\nuuid=u-1\ninterface-name=eth0\n'
                                       'mptcp-flags=34\n[ipv4]\nmethod=auto\n')
    assert conn == dict(uuid='u-1', name='Wired 1', device='eth0', active=None, flags=34, file='/k')
    assert nm.keyfile_connection('/k', '[connection]\nid=x\nuuid=u\n')['flags'] == 0


def test_split_terse_handles_escapes():
    assert nm.split_terse(r'u-1:my\:conn:eth0:yes') == ['u-1', 'my:conn', 'eth0', 'yes']
    assert nm.split_terse(r'a\\b::') == ['a\\b', '', '']


def test_parse_connection_list():
    text = 'u-1:Wired:eth0:yes\nu-2:Spare::no\n\n'
    assert nm.parse_connection_list(text) == [
        dict(uuid='u-1', name='Wired', device='eth0', active=True),
        dict(uuid='u-2', name='Spare', device=None, active=False),
    ]


def conns(*flags):
    return [dict(uuid='u-%d' % i, name='c%d' % i, device='eth%d' % i, active=True, flags=f)
            for i, f in enumerate(flags)]


def test_assess_builtin_default_manages():
    managing, reasons = nm.assess(True, (1, 42, 0), None, [], conns(0))
    assert managing
    assert "through NetworkManager's built-in default (enabled,subflow)" in reasons[0]


def test_assess_global_disabled_but_connection_enables():
    managing, reasons = nm.assess(True, (1, 42, 0), {'value': 1, 'file': '/g'}, [], conns(0, 0x22))
    assert managing and len(reasons) == 1 and "connection 'c1'" in reasons[0]


def test_assess_everything_disabled():
    assert nm.assess(True, (1, 42, 0), {'value': 1, 'file': '/g'}, [], conns(0, 1)) == (False, [])


def test_assess_old_or_stopped_networkmanager():
    assert nm.assess(True, (1, 38, 0), None, [], conns(0)) == (False, [])
    managing, reasons = nm.assess(False, (1, 42, 0), None, [], [])
    assert not managing and reasons == ["new connections get MPTCP endpoints from the built-in default (enabled,subflow)"]


def test_assess_device_section():
    managing, reasons = nm.assess(True, (1, 42, 0), {'value': 1, 'file': '/g'},
                                  [{'value': 0x20, 'file': '/d', 'section': 'connection-eth'}], conns(1))
    assert managing
    assert reasons == ['[connection-eth] in /d sets connection.mptcp-flags=subflow for matching devices']


def test_disable_plan():
    drop_in = '/etc/NetworkManager/conf.d/99-mptcp-lab-mptcpd.conf'
    c = conns(0, 0x22, 1)
    plan = nm.disable_plan({'value': 1, 'file': drop_in}, [], c, drop_in, None)
    assert plan['write_drop_in'] and plan['blockers'] == []
    assert [x['uuid'] for x in plan['modify']] == ['u-1']
    # already done: nothing to do
    plan = nm.disable_plan({'value': 1, 'file': drop_in}, [], conns(0, 1), drop_in, nm.DROP_IN_TEXT)
    assert plan == dict(write_drop_in=False, modify=[], blockers=[])
    # a later file wins over the drop-in: blocked, named
    plan = nm.disable_plan({'value': 0x22, 'file': '/etc/NetworkManager/conf.d/zz.conf'}, [], [], drop_in, None)
    assert plan['blockers'] == ['/etc/NetworkManager/conf.d/zz.conf sets connection.mptcp-flags after %s; '
                                'remove it or give it 0x1 (disabled)' % drop_in]
    plan = nm.disable_plan({'value': 1, 'file': drop_in}, [{'value': 0x20, 'file': '/d', 'section': 'connection-x'}],
                           [], drop_in, nm.DROP_IN_TEXT)
    assert plan['blockers'] == ['[connection-x] in /d enables MPTCP for matching devices; '
                                'set it to 0x1 (disabled) or remove it']
