"""mptcp_info against the real kernel, in throwaway namespaces."""

import os
import platform
import shutil
import subprocess
import time

from conftest import run_module


def assert_ok(result):
    assert result['rc'] == 0 and not result.get('failed'), result.get('msg', result)


def facts(ns):
    result = run_module(ns, 'mptcp_info', {})
    assert_ok(result)
    assert result['changed'] is False
    return result['ansible_facts']['mptcp']


def test_info_reports_kernel_state(netns):
    netns.add_veth('e0')
    netns.run('ip', 'addr', 'add', '10.1.0.1/24', 'dev', 'e0')
    assert_ok(run_module(netns, 'mptcp_endpoints', {'config': [
        {'address': '10.1.0.1', 'id': 3, 'dev': 'e0', 'flags': ['signal', 'backup']},
        {'address': 'fd00::9', 'id': 4, 'flags': ['subflow', 'fullmesh', 'laminar']},
        {'address': '10.1.0.1', 'id': 5, 'port': 10500, 'flags': ['signal']}]}))
    assert_ok(run_module(netns, 'mptcp_limits', {'subflows': 3, 'add_addr_accepted': 1}))
    assert_ok(run_module(netns, 'mptcp_settings', {'checksum_enabled': True, 'add_addr_timeout': 33}))

    mptcp = facts(netns)
    assert mptcp['supported'] is True and mptcp['enabled'] is True
    assert mptcp['kernel'] == platform.release()
    assert mptcp['endpoints'] == [
        {'id': 3, 'address': '10.1.0.1', 'port': None, 'dev': 'e0', 'flags': ['signal', 'backup']},
        {'id': 4, 'address': 'fd00::9', 'port': None, 'dev': None, 'flags': ['subflow', 'fullmesh', 'laminar']},
        {'id': 5, 'address': '10.1.0.1', 'port': 10500, 'dev': None, 'flags': ['signal']},
    ]
    assert mptcp['limits'] == {'subflows': 3, 'add_addr_accepted': 1}
    settings = mptcp['settings']
    assert settings['checksum_enabled'] is True and settings['add_addr_timeout'] == 33
    # every readable sysctl is there, typed, except the available_* lists
    names = set(os.listdir('/proc/sys/net/mptcp')) - {'available_path_managers', 'available_schedulers'}
    assert set(settings) == names
    assert settings['enabled'] is True and settings['path_manager'] == 'kernel'
    assert isinstance(settings['close_timeout'], int)
    with open('/proc/sys/net/mptcp/available_path_managers') as handle:
        assert mptcp['available_path_managers'] == handle.read().split()
    assert 'default' in mptcp['available_schedulers']


def test_info_disabled_namespace(netns):
    netns.run('sh', '-c', 'echo 0 > /proc/sys/net/mptcp/enabled')
    mptcp = facts(netns)
    assert mptcp['supported'] is True and mptcp['enabled'] is False
    assert mptcp['endpoints'] == [] and mptcp['limits'] == {'subflows': 2, 'add_addr_accepted': 0}


def test_info_tools(netns):
    tools = facts(netns)['tools']
    assert tools['iproute2_mptcp'] is True  # iproute2 6.1 knows "ip mptcp"
    iperf3 = shutil.which('iperf3')
    assert tools['iperf3']['path'] == iperf3
    version = subprocess.run([iperf3, '--version'], capture_output=True, text=True, check=True).stdout.split()[1]
    assert tools['iperf3']['version'] == version
    helptext = subprocess.run([iperf3, '--help'], capture_output=True, text=True, check=True).stdout
    assert tools['iperf3']['mptcp_option'] is ('--mptcp' in helptext)
    assert tools['mptcpize']['path'] == shutil.which('mptcpize')
    sockperf = shutil.which('sockperf')
    assert tools['sockperf']['path'] == sockperf
    if sockperf:     # "sockperf, version 3.7-no.git"
        text = subprocess.run([sockperf, '--version'], capture_output=True, text=True, check=False)
        assert tools['sockperf']['version'] == (text.stdout + text.stderr).split('version ')[1].split('-')[0].split()[0]
    assert tools['mptcpd']['path'] == '/usr/libexec/mptcpd'
    assert tools['mptcpd']['version'] == '0.12'
    assert tools['mptcpd']['running'] is False and tools['mptcpd']['pids'] == []
    assert tools['mptcpd']['running_path'] is None and tools['mptcpd']['running_version'] is None
    assert tools['mptcpd']['processes'] == []


def _wait_comm(pid, name, timeout=5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open('/proc/%d/comm' % pid) as handle:
                if handle.read().strip() == name:
                    return True
        except OSError:
            return False
        time.sleep(0.01)
    return False


def test_info_mptcpd_running_only_in_its_namespace(netns_factory):
    inside, outside = netns_factory(), netns_factory()
    # ip netns exec execs mptcpd, so the Popen pid is mptcpd's
    daemon = subprocess.Popen(['ip', 'netns', 'exec', inside.name, '/usr/libexec/mptcpd', '--log=stderr'],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert _wait_comm(daemon.pid, 'mptcpd')
        assert daemon.poll() is None
        mptcpd = facts(inside)['tools']['mptcpd']
        assert mptcpd['running'] is True and mptcpd['pids'] == [daemon.pid]
        other = facts(outside)['tools']['mptcpd']
        assert other['running'] is False and daemon.pid not in other['pids']
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)


def test_info_mptcpd_reports_the_running_binary(netns, tmp_path):
    # mptcpd installed into a custom prefix: a copy of the real daemon there
    custom = tmp_path / 'prefix' / 'libexec' / 'mptcpd'
    custom.parent.mkdir(parents=True)
    shutil.copy2('/usr/libexec/mptcpd', str(custom))
    daemon = subprocess.Popen(['ip', 'netns', 'exec', netns.name, str(custom), '--log=stderr'],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert _wait_comm(daemon.pid, 'mptcpd')
        mptcpd = facts(netns)['tools']['mptcpd']
        assert mptcpd['path'] == '/usr/libexec/mptcpd' and mptcpd['version'] == '0.12'
        assert mptcpd['pids'] == [daemon.pid]
        assert mptcpd['running_path'] == str(custom) and mptcpd['running_version'] == '0.12'
        assert mptcpd['processes'] == [{'pid': daemon.pid, 'path': str(custom), 'version': '0.12',
                                        'deleted': False}]

        # upgraded on disk without a restart: the daemon still runs the old binary
        newer = tmp_path / 'mptcpd.new'
        newer.write_text('#!/bin/sh\necho "mptcpd 0.13"\n')
        newer.chmod(0o755)
        os.rename(str(newer), str(custom))
        mptcpd = facts(netns)['tools']['mptcpd']
        assert mptcpd['running_path'] == str(custom) and mptcpd['running_version'] == '0.12'
        assert mptcpd['processes'][0]['deleted'] is True
        assert daemon.poll() is None
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)
