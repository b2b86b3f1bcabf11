"""net_sysctls for real, in a throwaway namespace: set, re-run unchanged, check mode, put back."""

from conftest import run_module


def value(ns, name):
    return ' '.join(ns.run('cat', '/proc/sys/' + name.replace('.', '/')).stdout.split())


def test_set_rerun_check_mode_and_put_back(netns):
    settings = {'net.mptcp.checksum_enabled': True, 'net.ipv4.tcp_rmem': [4096, 65536, 1048576],
                'net.ipv4.tcp_ecn': 1}
    old = dict((name, value(netns, name)) for name in settings)
    check = run_module(netns, 'net_sysctls', {'settings': settings}, check_mode=True, diff=True)
    assert check['changed'] and check['before'] == old
    assert dict((name, value(netns, name)) for name in settings) == old        # nothing written
    done = run_module(netns, 'net_sysctls', {'settings': settings}, diff=True)
    assert done['changed'] and done['after'] == check['after'] and done['diff'] == check['diff']
    assert value(netns, 'net.mptcp.checksum_enabled') == '1'
    assert value(netns, 'net.ipv4.tcp_rmem') == '4096 65536 1048576'
    assert not run_module(netns, 'net_sysctls', {'settings': settings})['changed']
    back = run_module(netns, 'net_sysctls', {'settings': done['before']})
    assert back['changed'] and dict((name, value(netns, name)) for name in settings) == old


def test_a_global_sysctl_is_not_in_a_namespace_and_bad_values_are_refused(netns):
    # net.ipv4.tcp_mem is the machine's: a network namespace other than the first has no such file
    result = run_module(netns, 'net_sysctls', {'settings': {'net.ipv4.tcp_mem': '1 2 3'},
                                               'label': "tests[0] 'a': sysctls"})
    assert result['failed']
    assert result['msg'].startswith("tests[0] 'a': sysctls.net.ipv4.tcp_mem: this network namespace has no such sysctl")
    before = value(netns, 'net.ipv4.tcp_ecn')
    # net.mptcp.checksum_enabled takes 0 or 1: the kernel refuses 2 after tcp_ecn (sorted first) was written
    result = run_module(netns, 'net_sysctls', {'settings': {'net.ipv4.tcp_ecn': 0 if before != '0' else 1,
                                                            'net.mptcp.checksum_enabled': 2}})
    assert result['failed'] and result['msg'].startswith(
        "settings.net.mptcp.checksum_enabled: the kernel refused '2': ")
    assert result['msg'].endswith('; put back net.ipv4.tcp_ecn')
    assert value(netns, 'net.ipv4.tcp_ecn') == before and value(netns, 'net.mptcp.checksum_enabled') == '0'
    result = run_module(netns, 'net_sysctls', {'settings': {'net.mptcp.scheduler': 'nosuch'}})
    assert result['failed'] and "'nosuch' is not offered by this kernel" in result['msg']
    result = run_module(netns, 'net_sysctls', {'settings': {'net.core.somaxconn': 1}})
    assert result['failed'] and "'net.core.somaxconn' is not allowed" in result['msg']
