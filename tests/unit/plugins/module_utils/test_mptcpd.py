"""Unit tests for plugins/module_utils/mptcp/mptcpd.py (versions, validation, rendering)."""

import hashlib

import pytest

from ansible_collections.mptcp.lab.plugins.module_utils.mptcp import mptcpd as mpd


def cfg(**kwargs):
    base = dict(log=None, plugin_dir=None, path_manager=None, addr_flags=[], notify_flags=[], load_plugins=[])
    base.update(kwargs)
    return mpd.normalize(base)


@pytest.mark.parametrize('text, version', [
    ('mptcpd 0.12\n', (0, 12, 0)),
    ('mptcpd 0.13.1', (0, 13, 1)),
    ('foo\nmptcpd v0.9\n', (0, 9, 0)),
    ('mptcpize 0.12', None),
    ('', None),
    (None, None),
])
def test_parse_version(text, version):
    assert mpd.parse_version(text) == version


@pytest.mark.parametrize('text, version', [
    ('0.13', (0, 13, 0)), ('v0.12.1', (0, 12, 1)), (' 0.9 ', (0, 9, 0)),
    ('0.13rc1', None), ('latest', None), ('', None),
])
def test_parse_version_string(text, version):
    assert mpd.parse_version_string(text) == version


def test_version_string():
    assert mpd.version_string((0, 12, 0)) == '0.12'
    assert mpd.version_string((0, 12, 1)) == '0.12.1'
    assert mpd.version_string(None) is None


def test_normalize_orders_flags_and_keeps_plugin_order():
    c = cfg(addr_flags=['backup', 'subflow', 'backup'], notify_flags=['skip_loopback', 'existing'],
            load_plugins=['sspi', 'addr_adv', 'sspi'], path_manager='')
    assert c['addr_flags'] == ['subflow', 'backup']
    assert c['notify_flags'] == ['existing', 'skip_loopback']
    assert c['load_plugins'] == ['sspi', 'addr_adv']
    assert c['path_manager'] is None


def test_valid_config_has_no_errors():
    c = cfg(log='stderr', plugin_dir='/usr/lib/mptcpd', path_manager='addr_adv',
            addr_flags=['subflow'], notify_flags=['existing', 'check_route'], load_plugins=['addr_adv'])
    assert mpd.validate(c, (0, 12, 0), ['addr_adv', 'sspi']) == []


def test_signal_and_fullmesh_are_exclusive_in_every_version():
    errors = mpd.validate(cfg(addr_flags=['signal', 'fullmesh']), (0, 13, 0))
    assert errors == ['addr_flags: signal and fullmesh are mutually exclusive '
                      '(the kernel rejects endpoints that carry both)']
    assert mpd.validate(cfg(addr_flags=['signal', 'fullmesh'])) == errors


@pytest.mark.parametrize('kwargs, version, needle', [
    (dict(notify_flags=['check_route']), (0, 8, 0), "notify_flags 'check_route': needs mptcpd >= 0.9, the installed version is 0.8"),
    (dict(addr_flags=['fullmesh']), (0, 10, 0), "addr_flags 'fullmesh': needs mptcpd >= 0.11"),
    (dict(load_plugins=['sspi']), (0, 8, 0), 'load_plugins: needs mptcpd >= 0.9'),
    (dict(addr_flags=['subflow']), (0, 7, 0), 'addr_flags: needs mptcpd >= 0.8'),
])
def test_version_rules(kwargs, version, needle):
    errors = mpd.validate(cfg(**kwargs), version)
    assert any(needle in e for e in errors), errors


@pytest.mark.parametrize('kwargs, version', [
    (dict(notify_flags=['check_route']), (0, 9, 0)),
    (dict(addr_flags=['fullmesh']), (0, 11, 0)),
    (dict(addr_flags=['fullmesh'], notify_flags=['check_route']), None),  # version unknown: skipped
])
def test_version_rules_accept_new_enough(kwargs, version):
    assert mpd.validate(cfg(**kwargs), version) == []


def test_plugins_must_exist_and_be_names():
    errors = mpd.validate(cfg(plugin_dir='/p', path_manager='nope', load_plugins=['../evil', 'nope']),
                          (0, 12, 0), ['addr_adv', 'sspi'])
    assert "path_manager: plugin 'nope' is not in /p (available: addr_adv, sspi)" in errors
    assert any(e.startswith("load_plugins: '../evil' is not a plugin name") for e in errors)
    # unknown plugin list: presence is not checked, names still are
    assert mpd.validate(cfg(path_manager='anything'), (0, 12, 0), None) == []


def test_path_manager_must_be_loaded():
    errors = mpd.validate(cfg(path_manager='addr_adv', load_plugins=['sspi']), (0, 12, 0))
    assert errors == ["path_manager: 'addr_adv' must also be listed in load_plugins ['sspi'], "
                      "or mptcpd will not load it"]


def test_other_rules():
    errors = mpd.validate(cfg(log='file', plugin_dir='lib/mptcpd', addr_flags=['bogus'],
                              notify_flags=['later']))
    assert "log: must be one of stderr, syslog, journal, null, got 'file'" in errors
    assert "plugin_dir: must be an absolute path, got 'lib/mptcpd'" in errors
    assert any(e.startswith("addr_flags: unknown flag 'bogus'") for e in errors)
    assert any(e.startswith("notify_flags: unknown flag 'later'") for e in errors)


def test_render_is_deterministic_and_skips_unset_keys():
    c = cfg(log='stderr', path_manager='addr_adv', addr_flags=['backup', 'subflow'], notify_flags=['existing'])
    text = mpd.render(c, header='hello\n\nworld')
    assert text == ('# hello\n#\n# world\n\n[core]\nlog=stderr\npath-manager=addr_adv\n'
                    'addr-flags=subflow,backup\nnotify-flags=existing\n')
    assert mpd.render(cfg()) == '[core]\n'


def test_config_round_trip_through_the_file():
    c = cfg(log='null', plugin_dir='/usr/lib/x/mptcpd', path_manager='sspi', addr_flags=['signal', 'backup'],
            notify_flags=['skip_loopback', 'existing'], load_plugins=['sspi', 'addr_adv'])
    assert mpd.config_from_file(mpd.render(c, header='x')) == c
    assert mpd.config_from_file(None) is None


def test_parse_config_reads_only_core_and_last_wins():
    text = '# c\n[other]\nlog=syslog\n[core]\nlog = stderr\n# log=journal\naddr-flags=subflow\nlog=null\n'
    assert mpd.parse_config(text) == {'log': 'null', 'addr-flags': 'subflow'}


def test_checksum_matches_sha1():
    assert mpd.checksum('[core]\n') == hashlib.sha1(b'[core]\n').hexdigest()
    assert mpd.checksum('a') != mpd.checksum('b')


def test_available_plugins(tmp_path):
    (tmp_path / 'addr_adv.so').write_text('')
    (tmp_path / 'sspi.so').write_text('')
    (tmp_path / 'addr_adv.la').write_text('')
    assert mpd.available_plugins(str(tmp_path)) == ['addr_adv', 'sspi']
    assert mpd.available_plugins(str(tmp_path / 'missing')) is None


def test_find_binary(tmp_path):
    exe = tmp_path / 'mptcpd'
    exe.write_text('#!/bin/sh\n')
    exe.chmod(0o755)
    plain = tmp_path / 'plain'
    plain.write_text('')
    assert mpd.find_binary(candidates=[str(tmp_path / 'missing'), str(plain), str(exe)]) == str(exe)
    assert mpd.find_binary(candidates=[str(plain)]) is None


def test_default_plugin_dirs_follow_the_binary(tmp_path):
    prefix = tmp_path / 'usr'
    (prefix / 'libexec').mkdir(parents=True)
    binary = prefix / 'libexec' / 'mptcpd'
    binary.write_text('')
    debian = prefix / 'lib' / 'x86_64-linux-gnu' / 'mptcpd'
    debian.mkdir(parents=True)
    assert mpd.default_plugin_dirs(str(binary)) == [
        str(debian), str(prefix / 'lib64' / 'mptcpd'), str(prefix / 'lib' / 'mptcpd')]
    assert mpd.detect_plugin_dir(str(binary)) is None          # empty: no plugins there
    (prefix / 'lib' / 'mptcpd').mkdir()
    (prefix / 'lib' / 'mptcpd' / 'addr_adv.so').write_text('')
    assert mpd.detect_plugin_dir(str(binary)) == str(prefix / 'lib' / 'mptcpd')
    (debian / 'sspi.so').write_text('')
    assert mpd.detect_plugin_dir(str(binary)) == str(debian)
    assert mpd.default_plugin_dirs(None) == []
