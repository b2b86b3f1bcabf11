"""mptcp_limits and mptcp_settings against the real kernel, in throwaway namespaces."""

import os

import pytest

from conftest import run_module


def kernel_limits(ns):
    """Limits as iproute2 prints them ('add_addr_accepted 0 subflows 2')."""
    words = ns.run('ip', 'mptcp', 'limits', 'show').stdout.split()
    return dict((words[i], int(words[i + 1])) for i in range(0, len(words) - 1, 2))


def sysctls(ns):
    out = ns.run('sh', '-c', 'cd /proc/sys/net/mptcp && grep -r . .').stdout
    return dict(line[2:].split(':', 1) for line in out.splitlines())


def assert_ok(result):
    assert result['rc'] == 0 and not result.get('failed'), result.get('msg', result)


# ---------------------------------------------------------------- limits

def test_limits_check_apply_idempotent_diff(netns):
    start = kernel_limits(netns)
    args = {'subflows': 4, 'add_addr_accepted': 3}
    check = run_module(netns, 'mptcp_limits', args, check_mode=True, diff=True)
    assert_ok(check)
    assert check['changed'] is True
    assert check['before'] == start and check['after'] == args
    assert kernel_limits(netns) == start
    applied = run_module(netns, 'mptcp_limits', args, diff=True)
    assert_ok(applied)
    assert applied['changed'] is True and applied['after'] == args
    assert applied['diff'] == {'before': start, 'after': args}
    assert kernel_limits(netns) == args
    again = run_module(netns, 'mptcp_limits', args)
    assert again['changed'] is False and again['before'] == again['after'] == args


def test_limits_one_value_keeps_the_other(netns):
    assert_ok(run_module(netns, 'mptcp_limits', {'subflows': 1, 'add_addr_accepted': 5}))
    result = run_module(netns, 'mptcp_limits', {'subflows': 8})
    assert_ok(result)
    assert kernel_limits(netns) == {'subflows': 8, 'add_addr_accepted': 5}


@pytest.mark.parametrize('value', [0, 8])
def test_limits_bounds_accepted(netns, value):
    assert_ok(run_module(netns, 'mptcp_limits', {'subflows': value, 'add_addr_accepted': value}))
    assert kernel_limits(netns) == {'subflows': value, 'add_addr_accepted': value}


@pytest.mark.parametrize('args, message', [
    ({'subflows': 9}, 'subflows: must be between 0 and 8 (got 9)'),
    ({'subflows': 2, 'add_addr_accepted': -1}, 'add_addr_accepted: must be between 0 and 8 (got -1)'),
    ({}, 'one of subflows or add_addr_accepted is required'),
    ({'subflows': 'many'}, 'subflows'),
])
def test_limits_bad_input(netns, args, message):
    before = kernel_limits(netns)
    result = run_module(netns, 'mptcp_limits', args)
    assert result['rc'] == 1 and result['failed'] and message in result['msg']
    assert 'Traceback' not in result['msg'] and 'exception' not in result
    assert kernel_limits(netns) == before


# -------------------------------------------------------------- settings

ALL = {
    'enabled': False, 'path_manager': 'userspace', 'scheduler': 'default', 'checksum_enabled': True,
    'allow_join_initial_addr_port': False, 'add_addr_timeout': 30, 'close_timeout': 20,
    'stale_loss_cnt': 7, 'blackhole_timeout': 600,
}
ALL_TEXT = {
    'enabled': '0', 'path_manager': 'userspace', 'pm_type': '1', 'scheduler': 'default',
    'checksum_enabled': '1', 'allow_join_initial_addr_port': '0', 'add_addr_timeout': '30',
    'close_timeout': '20', 'stale_loss_cnt': '7', 'blackhole_timeout': '600',
}


def test_settings_every_option_check_apply_idempotent(netns):
    start = sysctls(netns)
    check = run_module(netns, 'mptcp_settings', ALL, check_mode=True, diff=True)
    assert_ok(check)
    assert check['changed'] is True
    assert sysctls(netns) == start
    assert dict((k, check['after'][k]) for k in ALL) == ALL
    # every value differs from a fresh namespace's, except the only scheduler there is
    assert sorted(check['changed_settings']) == sorted(set(ALL) - {'scheduler'})
    applied = run_module(netns, 'mptcp_settings', ALL, diff=True)
    assert_ok(applied)
    assert applied['changed'] is True and applied['after'] == check['after']
    now = sysctls(netns)
    for name, text in ALL_TEXT.items():
        assert now[name] == text, name
    assert applied['diff'][0]['before']['path_manager'] == 'kernel'
    assert applied['diff'][0]['after']['path_manager'] == 'userspace'
    again = run_module(netns, 'mptcp_settings', ALL)
    assert again['changed'] is False and again['changed_settings'] == []
    # pm_type written alone is seen as path_manager (the two are one setting since 6.15)
    netns.run('sh', '-c', 'echo 0 > /proc/sys/net/mptcp/pm_type')
    back = run_module(netns, 'mptcp_settings', {'path_manager': 'kernel'})
    assert back['changed'] is False


def test_settings_only_given_are_touched(netns):
    start = sysctls(netns)
    result = run_module(netns, 'mptcp_settings', {'add_addr_timeout': 45})
    assert_ok(result)
    assert result['changed_settings'] == ['add_addr_timeout']
    now = sysctls(netns)
    assert now.pop('add_addr_timeout') == '45'
    start.pop('add_addr_timeout')
    assert now == start


@pytest.mark.parametrize('args, message', [
    ({'path_manager': 'fancy'}, "path_manager: 'fancy' is not offered by this kernel (available: kernel, userspace)"),
    ({'scheduler': 'redundant'}, "scheduler: 'redundant' is not offered by this kernel (available: default)"),
    ({'path_manager': 'userspace', 'close_timeout': -5}, 'close_timeout: must be between 0 and 2147483647 (got -5)'),
    ({'enabled': 'perhaps'}, 'enabled'),
    # the kernel refuses this one (seconds overflow jiffies); path_manager, written first, is put back
    ({'path_manager': 'userspace', 'add_addr_timeout': 2147483647},
     "add_addr_timeout: the kernel refused 2147483647 (Invalid argument); nothing was changed"),
])
def test_settings_bad_input_changes_nothing(netns, args, message):
    before = sysctls(netns)
    result = run_module(netns, 'mptcp_settings', args)
    assert result['rc'] == 1 and result['failed'] and message in result['msg']
    assert 'Traceback' not in result['msg'] and 'exception' not in result
    assert sysctls(netns) == before


def test_settings_persist(netns, tmp_path):
    path = str(tmp_path / '90-mptcp.conf')
    args = {'enabled': True, 'path_manager': 'kernel', 'add_addr_timeout': 60, 'persist': True, 'persist_path': path}
    check = run_module(netns, 'mptcp_settings', args, check_mode=True, diff=True)
    assert check['changed'] is True and not os.path.exists(path)
    assert check['diff'][1]['after_header'] == path
    applied = run_module(netns, 'mptcp_settings', args)
    assert_ok(applied)
    assert applied['changed'] is True and applied['persist_path'] == path
    with open(path) as handle:
        lines = [line for line in handle.read().splitlines() if not line.startswith('#')]
    assert lines == ['net.mptcp.enabled = 1', 'net.mptcp.path_manager = kernel', 'net.mptcp.add_addr_timeout = 60']
    assert oct(os.stat(path).st_mode & 0o777) == '0o644'
    again = run_module(netns, 'mptcp_settings', args)
    assert again['changed'] is False
    bad = run_module(netns, 'mptcp_settings', dict(args, persist_path=str(tmp_path / 'nodir' / 'x.conf')))
    assert bad['failed'] and 'persist_path: directory' in bad['msg']
