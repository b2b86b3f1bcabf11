"""mptcp.lab.networkmanager_mptcp against NetworkManager fixtures.

NetworkManager is not installed here and cannot run (no systemd, no D-Bus),
so these tests give the module what it reads on a real host: configuration
files under a temporary root (``config_root``) and an ``nmcli`` on PATH that
answers from a JSON state file the way nmcli 1.42 does (terse output,
``connection.mptcp-flags`` as ``0x22 (enabled,subflow)``), and records the
commands that change something. The module itself runs for real.
"""

import json
import os
import stat
import sys
import textwrap

import pytest

from conftest import run_module

FAKE_NMCLI = textwrap.dedent('''\
    #!{python}
    """Minimal nmcli stand-in: state in $FAKE_NMCLI_STATE (JSON)."""
    import json, os, sys

    NAMES = [('disabled', 1), ('enabled', 2), ('also-without-sysctl', 4),
             ('also-without-default-route', 8), ('signal', 16), ('subflow', 32),
             ('backup', 64), ('fullmesh', 128)]
    path = os.environ['FAKE_NMCLI_STATE']
    with open(path) as f:
        state = json.load(f)
    args = sys.argv[1:]
    state.setdefault('calls', []).append(args)

    def save():
        with open(path, 'w') as f:
            json.dump(state, f)

    def fmt(v):
        names = [n for n, b in NAMES if v & b] or ['default']
        return '0x%x (%s)' % (v, ','.join(names))

    def esc(s):
        return (s or '').replace('\\\\', '\\\\\\\\').replace(':', '\\\\:')

    save()
    if args == ['--version']:
        print('nmcli tool, version %s' % state['version'])
        sys.exit(0)
    if not state.get('running'):
        sys.stderr.write('Error: NetworkManager is not running.\\n')
        sys.exit(8)
    if args == ['-t', '-f', 'RUNNING,VERSION', 'general']:
        print('running:%s' % state['version'])
    elif args == ['-t', '-f', 'UUID,NAME,DEVICE,ACTIVE', 'connection', 'show']:
        for c in state['connections']:
            print(':'.join([esc(c['uuid']), esc(c['name']), esc(c.get('device') or ''),
                            'yes' if c.get('active') else 'no']))
    elif args[:5] == ['-t', '-g', 'connection.mptcp-flags', 'connection', 'show'] and args[5] == 'uuid':
        conn = [c for c in state['connections'] if c['uuid'] == args[6]]
        if not conn:
            sys.exit(10)
        print(fmt(conn[0]['flags']))
    elif args[:3] == ['connection', 'modify', 'uuid'] and len(args) == 6 and args[4] == 'connection.mptcp-flags':
        for c in state['connections']:
            if c['uuid'] == args[3]:
                c['flags'] = 1 if args[5] == 'disabled' else int(args[5], 0)
        save()
    elif args in (['general', 'reload', 'conf'],) or args[:2] == ['device', 'reapply']:
        pass
    else:
        sys.stderr.write('fake nmcli: unexpected arguments %r\\n' % (args,))
        sys.exit(2)
''')

CHANGING = (['connection', 'modify'], ['general', 'reload'], ['device', 'reapply'])


class FakeNM:
    def __init__(self, tmp_path, monkeypatch, running=True, version='1.42.4', connections=()):
        self.root = tmp_path / 'root'
        self.root.mkdir()
        bindir = tmp_path / 'bin'
        bindir.mkdir()
        nmcli = bindir / 'nmcli'
        nmcli.write_text(FAKE_NMCLI.format(python=sys.executable))
        nmcli.chmod(nmcli.stat().st_mode | stat.S_IXUSR)
        self.state = tmp_path / 'nmcli.json'
        self.state.write_text(json.dumps(dict(running=running, version=version,
                                              connections=list(connections))))
        monkeypatch.setenv('FAKE_NMCLI_STATE', str(self.state))
        monkeypatch.setenv('PATH', '%s%s%s' % (bindir, os.pathsep, os.environ['PATH']))

    def write(self, rel, text):
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def data(self):
        return json.loads(self.state.read_text())

    def changing_calls(self):
        return [c for c in self.data()['calls'] if any(c[:len(p)] == p for p in CHANGING)]


def run(fake, policy, check_mode=False, diff=False):
    return run_module(None, 'networkmanager_mptcp', dict(policy=policy, config_root=str(fake.root)),
                      check_mode=check_mode, diff=diff)


WIRED = dict(uuid='5f0c-wired', name='Wired: office', device='eth0', active=True, flags=0)
SPARE = dict(uuid='77aa-spare', name='Spare', device=None, active=False, flags=0x22)
OFF = dict(uuid='9d9d-off', name='Off', device='eth1', active=True, flags=1)

DROP_IN = 'etc/NetworkManager/conf.d/99-mptcp-lab-mptcpd.conf'


def test_no_networkmanager_at_all(tmp_path, monkeypatch):
    monkeypatch.setenv('PATH', '/nonexistent')
    root = tmp_path / 'root'
    root.mkdir()
    for policy in ('detect', 'refuse', 'disable'):
        res = run_module(None, 'networkmanager_mptcp', dict(policy=policy, config_root=str(root)))
        assert res['rc'] == 0, res
        assert not res['installed'] and not res['managing'] and not res['changed']


def test_detect_builtin_default(tmp_path, monkeypatch):
    fake = FakeNM(tmp_path, monkeypatch, connections=[WIRED, OFF])
    fake.write('etc/NetworkManager/NetworkManager.conf', '[main]\nplugins=keyfile\n')
    res = run(fake, 'detect')
    assert res['rc'] == 0 and res['installed'] and res['running'] and res['version'] == '1.42.4'
    assert res['managing'] and not res['changed']
    by_uuid = dict((c['uuid'], c) for c in res['connections'])
    assert by_uuid['5f0c-wired']['effective'] == 0x22 and by_uuid['5f0c-wired']['enables']
    assert by_uuid['5f0c-wired']['name'] == 'Wired: office'     # ':' unescaped
    assert not by_uuid['9d9d-off']['enables']
    assert res['reasons'] == ["connection 'Wired: office' (5f0c-wired) enables MPTCP endpoints (enabled,subflow) "
                              "through NetworkManager's built-in default (enabled,subflow)"]
    assert fake.changing_calls() == []


def test_refuse_fails_naming_the_cause_and_changes_nothing(tmp_path, monkeypatch):
    fake = FakeNM(tmp_path, monkeypatch, connections=[WIRED])
    fake.write('etc/NetworkManager/conf.d/50-mptcp.conf', '[connection]\nconnection.mptcp-flags=0x22\n')
    res = run(fake, 'refuse')
    assert res['rc'] != 0 and res['failed']
    assert 'NetworkManager 1.42.4 manages MPTCP endpoints' in res['msg']
    assert 'the global default in %s' % (fake.root / 'etc/NetworkManager/conf.d/50-mptcp.conf') in res['msg']
    assert 'mptcpd_networkmanager_policy=disable' in res['msg']
    assert not (fake.root / DROP_IN).exists() and fake.changing_calls() == []


def test_refuse_passes_when_disabled_globally(tmp_path, monkeypatch):
    fake = FakeNM(tmp_path, monkeypatch, connections=[WIRED, OFF])
    fake.write('usr/lib/NetworkManager/conf.d/00-vendor.conf', '[connection]\nconnection.mptcp-flags=0x22\n')
    fake.write('etc/NetworkManager/conf.d/10-no-mptcp.conf', '[connection]\nconnection.mptcp-flags=disabled\n')
    res = run(fake, 'refuse')
    assert res['rc'] == 0 and not res['managing'] and res['reasons'] == []
    assert res['global_default']['names'] == ['disabled']


def test_old_networkmanager_does_not_manage(tmp_path, monkeypatch):
    fake = FakeNM(tmp_path, monkeypatch, version='1.38.6', connections=[WIRED])
    res = run(fake, 'refuse')
    assert res['rc'] == 0 and not res['managing']
    # nmcli < 1.40 does not know connection.mptcp-flags: never asked
    assert not any('connection.mptcp-flags' in c for c in fake.data()['calls'])


def test_stopped_networkmanager_reads_keyfiles_and_warns(tmp_path, monkeypatch):
    fake = FakeNM(tmp_path, monkeypatch, running=False)
    fake.write('etc/NetworkManager/system-connections/lab.nmconnection',
               '[connection]\nid=lab\nuuid=u-lab\ntype=ethernet\nmptcp-flags=34\n')
    res = run(fake, 'refuse')
    assert res['rc'] == 0 and not res['running'] and not res['managing']
    assert res['connections'][0]['uuid'] == 'u-lab' and res['connections'][0]['flags'] == 34
    assert 'is installed but not running' in json.dumps(res.get('warnings'))
    # disable cannot change a profile while NetworkManager is stopped: it says so
    res = run(fake, 'disable')
    assert res['rc'] != 0 and "profile 'lab'" in res['msg'] and 'not running' in res['msg']
    assert not (fake.root / DROP_IN).exists()


def test_disable_check_mode_then_real_then_idempotent(tmp_path, monkeypatch):
    fake = FakeNM(tmp_path, monkeypatch, connections=[WIRED, SPARE, OFF])
    res = run(fake, 'disable', check_mode=True, diff=True)
    assert res['rc'] == 0 and res['changed'], res
    drop_in = str(fake.root / DROP_IN)
    assert res['actions'] == ['write %s' % drop_in,
                              'nmcli connection modify 77aa-spare connection.mptcp-flags disabled',
                              'nmcli general reload conf',
                              'nmcli device reapply eth0']
    assert not os.path.exists(drop_in) and fake.changing_calls() == []      # check mode changed nothing
    assert res['diff']['after']['drop_in'].endswith('connection.mptcp-flags=0x1\n')

    res = run(fake, 'disable')
    assert res['rc'] == 0 and res['changed'] and res['managing']            # managing before the change
    assert open(drop_in).read().endswith('[connection]\nconnection.mptcp-flags=0x1\n')
    assert oct(os.stat(drop_in).st_mode & 0o777) == '0o644'
    assert fake.changing_calls() == [
        ['connection', 'modify', 'uuid', '77aa-spare', 'connection.mptcp-flags', 'disabled'],
        ['general', 'reload', 'conf'],
        ['device', 'reapply', 'eth0'],
    ]

    res = run(fake, 'disable')
    assert res['rc'] == 0 and not res['changed'] and not res['managing'] and res['actions'] == []
    res = run(fake, 'refuse')
    assert res['rc'] == 0 and not res['managing']


def test_disable_refuses_when_a_later_file_wins(tmp_path, monkeypatch):
    fake = FakeNM(tmp_path, monkeypatch, connections=[WIRED])
    later = fake.write('etc/NetworkManager/conf.d/zz-local.conf', '[connection]\nconnection.mptcp-flags=0x22\n')
    res = run(fake, 'disable')
    assert res['rc'] != 0
    assert '%s sets connection.mptcp-flags after' % later in res['msg']
    assert not (fake.root / DROP_IN).exists() and fake.changing_calls() == []


def test_disable_refuses_device_matched_sections(tmp_path, monkeypatch):
    fake = FakeNM(tmp_path, monkeypatch, connections=[OFF])
    dev = fake.write('etc/NetworkManager/conf.d/40-wifi.conf',
                     '[connection-wifi]\nmatch-device=type:wifi\nconnection.mptcp-flags=subflow\n')
    res = run(fake, 'disable')
    assert res['rc'] != 0 and '[connection-wifi] in %s' % dev in res['msg']


@pytest.mark.parametrize('drop_in', ['../evil.conf', 'x.txt', '.hidden.conf', 'sub/dir.conf'])
def test_bad_drop_in_name(tmp_path, monkeypatch, drop_in):
    fake = FakeNM(tmp_path, monkeypatch)
    res = run_module(None, 'networkmanager_mptcp', dict(policy='disable', config_root=str(fake.root),
                                                        drop_in=drop_in))
    assert res['rc'] != 0 and res['msg'].startswith('drop_in: must be a file name ending in .conf')


def test_bad_flags_in_configuration_are_named(tmp_path, monkeypatch):
    fake = FakeNM(tmp_path, monkeypatch, connections=[WIRED])
    bad = fake.write('etc/NetworkManager/conf.d/30-typo.conf', '[connection]\nconnection.mptcp-flags=enabeld\n')
    res = run(fake, 'detect')
    assert res['rc'] != 0 and str(bad) in res['msg'] and "unknown mptcp flag 'enabeld'" in res['msg']


def revert(fake, previous, check_mode=False, diff=False):
    args = dict(policy='revert', previous=previous, config_root=str(fake.root))
    return run_module(None, 'networkmanager_mptcp', args, check_mode=check_mode, diff=diff)


def test_revert_gives_back_what_disable_changed(tmp_path, monkeypatch):
    fake = FakeNM(tmp_path, monkeypatch, connections=[WIRED, SPARE, OFF])
    res = run(fake, 'disable')
    assert res['rc'] == 0 and res['changed'], res
    previous = res['previous']
    assert previous == {'drop_in': None, 'connections': [{'uuid': '77aa-spare', 'name': 'Spare', 'flags': 0x22}]}
    drop_in = fake.root / DROP_IN
    calls = len(fake.changing_calls())

    # check mode predicts the revert and changes nothing
    res = revert(fake, previous, check_mode=True, diff=True)
    assert res['rc'] == 0 and res['changed'], res
    assert res['actions'] == ['remove %s' % drop_in,
                              'nmcli connection modify 77aa-spare connection.mptcp-flags 0x22',
                              'nmcli general reload conf',
                              # Wired (flags 0) follows the global default again: enabled,subflow
                              'nmcli device reapply eth0']
    assert drop_in.exists() and len(fake.changing_calls()) == calls
    assert res['diff']['after'] == {'drop_in': '', 'connections': {'77aa-spare': 0x22}}

    res = revert(fake, previous)
    assert res['rc'] == 0 and res['changed'], res
    assert not drop_in.exists()
    assert dict((c['uuid'], c['flags']) for c in fake.data()['connections']) == \
        {'5f0c-wired': 0, '77aa-spare': 0x22, '9d9d-off': 1}
    assert fake.changing_calls()[calls:] == [
        ['connection', 'modify', 'uuid', '77aa-spare', 'connection.mptcp-flags', '0x22'],
        ['general', 'reload', 'conf'],
        ['device', 'reapply', 'eth0'],
    ]
    res = run(fake, 'refuse')
    assert res['rc'] != 0 and res['managing'], 'NetworkManager manages MPTCP again, as before'

    # idempotent
    calls = len(fake.changing_calls())
    res = revert(fake, previous)
    assert res['rc'] == 0 and not res['changed'] and fake.changing_calls()[calls:] == []


def test_revert_restores_a_previous_drop_in_and_leaves_profiles_changed_since(tmp_path, monkeypatch):
    mine = '[connection]\nconnection.mptcp-flags=0x22\n'
    fake = FakeNM(tmp_path, monkeypatch, connections=[WIRED, SPARE])
    fake.write(DROP_IN, mine)
    res = run(fake, 'disable')
    assert res['rc'] == 0 and res['previous']['drop_in'] == mine
    previous = res['previous']
    # an administrator sets the spare profile to something else in between
    data = fake.data()
    data['connections'][1]['flags'] = 0x12
    fake.state.write_text(json.dumps(data))
    res = revert(fake, previous)
    assert res['rc'] == 0 and res['changed'], res
    assert (fake.root / DROP_IN).read_text() == mine
    assert [c['flags'] for c in fake.data()['connections']] == [0, 0x12]
    assert "changed since it was disabled; left alone" in json.dumps(res), res


def test_revert_needs_previous(tmp_path, monkeypatch):
    fake = FakeNM(tmp_path, monkeypatch)
    res = run(fake, 'revert')
    assert res['rc'] != 0 and 'previous' in res['msg']
