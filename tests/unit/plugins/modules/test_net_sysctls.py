"""net_sysctls: names, values, comparison and the put-back on refusal (a /proc/sys of files)."""

import os

import pytest

from ansible_collections.mptcp.lab.plugins.modules import net_sysctls as ns


@pytest.fixture
def proc(tmp_path):
    files = {
        'net/mptcp/checksum_enabled': '0\n',
        'net/mptcp/scheduler': 'default\n',
        'net/mptcp/available_schedulers': 'default bpf_rr\n',
        'net/mptcp/path_manager': 'kernel\n',
        'net/mptcp/available_path_managers': 'kernel userspace\n',
        'net/ipv4/tcp_rmem': '4096\t131072\t6291456\n',
        'net/ipv4/tcp_ecn': '2\n',
        'net/ipv4/ip_forward': '0\n',
    }
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return str(tmp_path)


def params(settings, label='settings'):
    return {'settings': settings, 'label': label}


def test_values_compare_as_the_kernel_shows_them(proc):
    same = ns.run(params({'net.ipv4.tcp_rmem': [4096, 131072, 6291456], 'net.mptcp.checksum_enabled': False}),
                  False, proc)
    assert not same['changed'] and same['before'] == {'net.ipv4.tcp_rmem': '4096 131072 6291456',
                                                      'net.mptcp.checksum_enabled': '0'}
    check = ns.run(params({'net.mptcp.checksum_enabled': True, 'net.ipv4.tcp_ecn': 1}), True, proc)
    assert check['changed'] and check['changed_settings'] == ['net.ipv4.tcp_ecn', 'net.mptcp.checksum_enabled']
    assert check['after'] == {'net.mptcp.checksum_enabled': '1', 'net.ipv4.tcp_ecn': '1'}
    assert open(os.path.join(proc, 'net/mptcp/checksum_enabled')).read() == '0\n'      # check mode
    done = ns.run(params({'net.mptcp.checksum_enabled': True, 'net.ipv4.tcp_ecn': 1}), False, proc)
    assert done['after'] == check['after'] and done['before'] == {'net.mptcp.checksum_enabled': '0',
                                                                  'net.ipv4.tcp_ecn': '2'}
    assert open(os.path.join(proc, 'net/mptcp/checksum_enabled')).read() == '1\n'
    # the old values, given back, restore
    back = ns.run(params(done['before']), False, proc)
    assert back['changed'] and back['after'] == done['before']
    assert not ns.run(params(done['before']), False, proc)['changed']


@pytest.mark.parametrize('settings, message', [
    ({'net.ipv4.ip_forward': 1}, "tests[0] 'a': sysctls: 'net.ipv4.ip_forward' is not allowed: only net.mptcp.<name>"),
    ({'kernel.panic': 1}, "'kernel.panic' is not allowed"),
    ({'net.mptcp.nope': 1}, "tests[0] 'a': sysctls.net.mptcp.nope: this network namespace has no such sysctl"),
    ({'net.mptcp.scheduler': 'fastest'}, "tests[0] 'a': sysctls.net.mptcp.scheduler: 'fastest' is not offered "
                                         "by this kernel (available: default, bpf_rr)"),
    ({'net.mptcp.path_manager': 'magic'}, "'magic' is not offered by this kernel (available: kernel, userspace)"),
    ({'net.ipv4.tcp_ecn': 1.5}, "tests[0] 'a': sysctls.net.ipv4.tcp_ecn must be an integer, a word"),
    ({'net.ipv4.tcp_ecn': '1; reboot'}, "tests[0] 'a': sysctls.net.ipv4.tcp_ecn must be an integer, a word"),
    ({'net.ipv4.tcp_ecn': None}, "tests[0] 'a': sysctls.net.ipv4.tcp_ecn must be an integer, a word"),
])
def test_bad_input_names_the_field_and_writes_nothing(proc, settings, message):
    settings = dict(settings, **{'net.mptcp.checksum_enabled': 1})
    with pytest.raises(ns.SysctlError) as exc:
        ns.run(params(settings, "tests[0] 'a': sysctls"), False, proc)
    assert message in str(exc.value), str(exc.value)
    assert open(os.path.join(proc, 'net/mptcp/checksum_enabled')).read() == '0\n'


def test_a_refusal_puts_back_what_the_call_wrote(proc, monkeypatch):
    real_open = open

    def refusing_open(path, mode='r', *args, **kwargs):
        if 'w' in mode and path.endswith('tcp_rmem'):
            raise OSError(22, 'Invalid argument')
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr('builtins.open', refusing_open)
    with pytest.raises(ns.SysctlError) as exc:
        ns.run(params({'net.ipv4.tcp_ecn': 0, 'net.ipv4.tcp_rmem': '1 2 3'}), False, proc)
    assert str(exc.value) == ("settings.net.ipv4.tcp_rmem: the kernel refused '1 2 3': Invalid argument "
                              "(a value the kernel does not take); put back net.ipv4.tcp_ecn")
    assert real_open(os.path.join(proc, 'net/ipv4/tcp_ecn')).read() == '2\n'
