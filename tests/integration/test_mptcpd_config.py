"""mptcp.lab.mptcpd_config for real: the installed mptcpd, real files, bad input.

The version rules are checked against the mptcpd installed here (Debian 12:
0.12, /usr/libexec/mptcpd) and, with ``version``, against others.
"""

import os
import subprocess

import pytest

from conftest import run_module

MPTCPD = '/usr/libexec/mptcpd'
PLUGIN_DIR = '/usr/lib/x86_64-linux-gnu/mptcpd'

pytestmark = pytest.mark.skipif(not os.access(MPTCPD, os.X_OK), reason='mptcpd (Debian package) not installed')

GOOD = dict(log='stderr', plugin_dir=PLUGIN_DIR, path_manager='addr_adv',
            addr_flags=['subflow'], notify_flags=['skip_loopback', 'existing', 'skip_link_local'])


def conf(tmp_path, **overrides):
    args = dict(GOOD, path=str(tmp_path / 'etc' / 'mptcpd.conf'))
    args.update(overrides)
    return args


def test_write_then_idempotent_with_check_mode_and_diff(tmp_path):
    args = conf(tmp_path)
    path = args['path']
    res = run_module(None, 'mptcpd_config', args, check_mode=True, diff=True)
    assert res['rc'] == 0 and res['changed'], res
    assert not os.path.exists(path)                       # check mode wrote nothing
    assert res['version'] == '0.12' and res['binary'] == MPTCPD
    assert res['plugins'] == ['addr_adv', 'sspi']
    assert res['previous_config'] is None

    res = run_module(None, 'mptcpd_config', args, diff=True)
    assert res['rc'] == 0 and res['changed']
    text = open(path).read()
    assert text == res['content'] == res['diff']['after']
    assert '[core]\nlog=stderr\nplugin-dir=%s\npath-manager=addr_adv\naddr-flags=subflow\n' \
           'notify-flags=existing,skip_link_local,skip_loopback\n' % PLUGIN_DIR in text
    assert oct(os.stat(path).st_mode & 0o777) == '0o644'

    for check_mode in (True, False):
        res = run_module(None, 'mptcpd_config', args, check_mode=check_mode)
        assert res['rc'] == 0 and not res['changed']
        assert res['previous_config'] == res['config']


def test_change_shows_a_diff_and_the_previous_configuration(tmp_path):
    args = conf(tmp_path)
    run_module(None, 'mptcpd_config', args)
    res = run_module(None, 'mptcpd_config', dict(args, addr_flags=['signal', 'backup']), diff=True)
    assert res['changed']
    assert 'addr-flags=subflow\n' in res['diff']['before'] and 'addr-flags=signal,backup\n' in res['diff']['after']
    assert res['previous_config']['addr_flags'] == ['subflow']
    assert res['config']['addr_flags'] == ['signal', 'backup']


def test_world_writable_file_is_fixed(tmp_path):
    args = conf(tmp_path)
    run_module(None, 'mptcpd_config', args)
    os.chmod(args['path'], 0o666)                  # mptcpd refuses such a file
    res = run_module(None, 'mptcpd_config', args, check_mode=True)
    assert res['changed'] and oct(os.stat(args['path']).st_mode & 0o777) == '0o666'
    res = run_module(None, 'mptcpd_config', args)
    assert res['changed'] and oct(os.stat(args['path']).st_mode & 0o777) == '0o644'


def test_unset_keys_are_left_out(tmp_path):
    res = run_module(None, 'mptcpd_config', dict(path=str(tmp_path / 'm.conf')))
    assert res['rc'] == 0 and open(str(tmp_path / 'm.conf')).read().endswith('\n[core]\n')


BAD = [
    (dict(addr_flags=['signal', 'fullmesh']), 'addr_flags: signal and fullmesh are mutually exclusive'),
    (dict(notify_flags=['check_route'], version='0.8'),
     "notify_flags 'check_route': needs mptcpd >= 0.9, the installed version is 0.8"),
    (dict(addr_flags=['fullmesh'], version='0.10'), "addr_flags 'fullmesh': needs mptcpd >= 0.11"),
    (dict(load_plugins=['sspi']), "path_manager: 'addr_adv' must also be listed in load_plugins"),
    (dict(path_manager='nosuch'), "path_manager: plugin 'nosuch' is not in %s (available: addr_adv, sspi)"
     % PLUGIN_DIR),
    (dict(load_plugins=['addr_adv', '../../tmp/evil']), "load_plugins: '../../tmp/evil' is not a plugin name"),
    (dict(plugin_dir='/nonexistent/mptcpd'), 'plugin_dir: /nonexistent/mptcpd is not a readable directory'),
    (dict(addr_flags=['subflow', 'turbo']), 'addr_flags'),
    (dict(notify_flags=['later']), 'notify_flags'),
    (dict(log='file'), 'log'),
    (dict(version='0.13-rc1'), "version: must look like '0.12' or '0.13.1', got '0.13-rc1'"),
    (dict(binary='/etc/passwd'), 'binary: /etc/passwd is not an executable file'),
    (dict(binary='/nonexistent/mptcpd'), 'binary: mptcpd not found (/nonexistent/mptcpd)'),
]


@pytest.mark.parametrize('overrides, message', BAD, ids=[m[:40] for _o, m in BAD])
def test_bad_input_fails_naming_the_field_and_changes_nothing(tmp_path, overrides, message):
    args = conf(tmp_path)
    run_module(None, 'mptcpd_config', args)
    before = open(args['path']).read()
    for check_mode in (True, False):
        if check_mode and overrides.get('binary') == '/nonexistent/mptcpd':
            continue   # check mode tolerates a binary that is about to be installed (next test)
        if check_mode and 'plugin_dir' in overrides:
            continue   # same for a plugin directory
        res = run_module(None, 'mptcpd_config', dict(args, **overrides), check_mode=check_mode)
        assert res['rc'] != 0 and res.get('failed'), res
        assert message in res['msg'], res['msg']
    assert open(args['path']).read() == before


def test_check_mode_before_install_skips_version_rules_with_a_warning(tmp_path):
    args = conf(tmp_path, binary='/nonexistent/mptcpd', plugin_dir='/nonexistent/mptcpd',
                path_manager='addr_adv', addr_flags=['fullmesh'])
    res = run_module(None, 'mptcpd_config', args, check_mode=True)
    assert res['rc'] == 0 and res['changed'] and res['version'] is None
    assert 'version rules were not checked' in str(res.get('warnings'))
    # version-independent rules still apply
    res = run_module(None, 'mptcpd_config', dict(args, addr_flags=['signal', 'fullmesh']), check_mode=True)
    assert res['rc'] != 0 and 'mutually exclusive' in res['msg']


def test_mptcpd_accepts_the_rendered_file(tmp_path, netns):
    """The daemon parses what we write: start it on the file (bind-mounted), read its debug log."""
    args = conf(tmp_path, addr_flags=['signal', 'backup'], notify_flags=['existing', 'check_route'])
    res = run_module(None, 'mptcpd_config', args)
    assert res['rc'] == 0
    proc = subprocess.Popen(
        ['ip', 'netns', 'exec', netns.name, 'unshare', '--mount', '--propagation', 'private', '--',
         'sh', '-c', 'mount --bind -- "$1" /etc/mptcpd/mptcpd.conf && exec "$2" --debug',
         'test', args['path'], MPTCPD],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        # mptcpd logs its configuration first thing; stop reading once it is there.
        for line in proc.stdout:
            lines.append(line)
            if 'notify flags' in line or len(lines) > 50:
                break
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    log = ''.join(lines)
    assert 'address flags: signal,backup' in log, log
    assert 'notify flags: existing,check_route' in log, log
    assert 'default path manager plugin: addr_adv' in log, log


def test_plugin_names_are_checked_in_the_default_directory(tmp_path):
    """Without plugin_dir, mptcpd's compile-time directory (beside the binary) is used to check names."""
    args = conf(tmp_path, plugin_dir=None, path_manager='nosuch')
    del args['plugin_dir']
    res = run_module(None, 'mptcpd_config', args)
    assert res['rc'] != 0
    assert "path_manager: plugin 'nosuch' is not in %s" % PLUGIN_DIR in res['msg']
    res = run_module(None, 'mptcpd_config', dict(args, path_manager='sspi'))
    assert res['rc'] == 0 and res['plugin_dir'] == PLUGIN_DIR and 'plugin-dir' not in res['content']
