"""mptcp_info fact gathering, including kernels this machine does not run."""

import os

import pytest

from ansible_collections.mptcp.lab.plugins.module_utils.mptcp import mptcp_netlink as nl
from ansible_collections.mptcp.lab.plugins.modules import mptcp_info as info


def fake_proc(tmp_path, **files):
    """A stand-in for /proc/sys/net/mptcp (for kernels this machine does not run)."""
    proc = tmp_path / 'mptcp'
    proc.mkdir()
    for name, text in files.items():
        (proc / name).write_text('%s\n' % text)
    return str(proc)


MODERN = dict(enabled=1, path_manager='kernel', pm_type=0, available_path_managers='kernel userspace',
              scheduler='default', available_schedulers='default bpf_rr', checksum_enabled=0,
              allow_join_initial_addr_port=1, add_addr_timeout=120, close_timeout=60, stale_loss_cnt=4,
              blackhole_timeout=3600)
# A 5.15-like kernel: pm_type only, no scheduler, no blackhole_timeout.
OLD = dict(enabled=1, pm_type=0, checksum_enabled=0, allow_join_initial_addr_port=1, add_addr_timeout=120,
           stale_loss_cnt=4)


class FakePM:
    def __init__(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def endpoints(self):
        return [{'id': 1, 'address': '10.0.0.1', 'port': None, 'dev': 'eth0', 'ifindex': 2,
                 'flags': ['subflow']}]

    def limits(self):
        return {'subflows': 2, 'add_addr_accepted': 0}


class NoPM(FakePM):
    def __init__(self):
        raise nl.MptcpUnsupported('no mptcp_pm')


def test_info_kernel_without_mptcp(tmp_path):
    facts = info.gather_kernel(str(tmp_path / 'absent'), netlink=NoPM)
    assert facts['supported'] is False and facts['enabled'] is False
    assert facts['settings'] == {} and facts['endpoints'] == [] and facts['limits'] is None
    assert facts['kernel'] == os.uname()[2]
    # sysctls present but no path-manager netlink family: still not supported, no crash
    facts = info.gather_kernel(fake_proc(tmp_path, **OLD), netlink=NoPM)
    assert facts['supported'] is False


def test_info_kernel_pm_type_only(tmp_path):
    facts = info.gather_kernel(fake_proc(tmp_path, **OLD), netlink=FakePM)
    assert facts['supported'] is True and facts['enabled'] is True
    assert facts['settings']['path_manager'] == 'kernel' and facts['settings']['pm_type'] == 0
    assert facts['available_path_managers'] == ['kernel', 'userspace']
    assert facts['available_schedulers'] == []
    assert facts['endpoints'] == [{'id': 1, 'address': '10.0.0.1', 'port': None, 'dev': 'eth0',
                                   'flags': ['subflow']}]
    assert facts['limits'] == {'subflows': 2, 'add_addr_accepted': 0}


def test_info_settings_typed(tmp_path):
    facts = info.gather_kernel(fake_proc(tmp_path, syn_retrans_before_tcp_fallback=2, **MODERN), netlink=FakePM)
    s = facts['settings']
    assert s['enabled'] is True and s['checksum_enabled'] is False and s['allow_join_initial_addr_port'] is True
    assert s['syn_retrans_before_tcp_fallback'] == 2 and s['scheduler'] == 'default'
    assert 'available_schedulers' not in s
    assert facts['available_schedulers'] == ['default', 'bpf_rr']


@pytest.mark.parametrize('text, word, version', [
    ('iperf 3.12 (cJSON 1.7.15)\nLinux vm 6.18', 'iperf', '3.12'),
    ('iperf 3.19.1 (cJSON 1.7.15)', 'iperf', '3.19.1'),
    ('mptcpd 0.12\n', 'mptcpd', '0.12'),
    ('garbage', 'mptcpd', None),
])
def test_parse_version(text, word, version):
    assert info.parse_version(text, word) == version


def test_netns_processes(tmp_path):
    proc = tmp_path / 'proc'
    (proc / 'self' / 'ns').mkdir(parents=True)
    (proc / 'self' / 'ns' / 'net').write_text('')
    other = tmp_path / 'othernet'
    other.write_text('')
    for pid, comm, net in ((10, 'mptcpd', proc / 'self' / 'ns' / 'net'), (11, 'mptcpd', other),
                           (12, 'sshd', proc / 'self' / 'ns' / 'net')):
        (proc / str(pid) / 'ns').mkdir(parents=True)
        (proc / str(pid) / 'comm').write_text(comm + '\n')
        os.link(str(net), str(proc / str(pid) / 'ns' / 'net'))
    assert info.netns_processes('mptcpd', str(proc)) == [10]


class FakeModule:
    """get_bin_path answers from a dict; commands really run, and are recorded."""

    def __init__(self, bins):
        self.bins = bins
        self.commands = []

    def get_bin_path(self, name, opt_dirs=None):
        return self.bins.get(name)


def runner(module):
    import subprocess

    def run(argv):
        module.commands.append(argv)
        done = subprocess.run(argv, capture_output=True, text=True, check=False,
                              env=dict(os.environ, LC_ALL='C'))
        return done.returncode, done.stdout + done.stderr
    return run


def fake_binary(path, version):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('#!/bin/sh\n[ "$1" = --version ] && echo "mptcpd %s"\n' % version)
    path.chmod(0o755)
    return path


def stand_in_proc(tmp_path, processes):
    """A /proc with our net namespace and processes {pid: (comm, exe target or None, same netns)}."""
    proc = tmp_path / 'proc'
    (proc / 'self' / 'ns').mkdir(parents=True)
    (proc / 'self' / 'ns' / 'net').write_text('')
    other = tmp_path / 'othernet'
    other.write_text('')
    for pid, (comm, exe, here) in processes.items():
        (proc / str(pid) / 'ns').mkdir(parents=True)
        (proc / str(pid) / 'comm').write_text(comm + '\n')
        os.link(str(proc / 'self' / 'ns' / 'net' if here else other), str(proc / str(pid) / 'ns' / 'net'))
        if exe is not None:
            os.symlink(str(exe), str(proc / str(pid) / 'exe'))
    return str(proc)


def test_mptcpd_running_binary_differs_from_installed(tmp_path):
    installed = fake_binary(tmp_path / 'usr' / 'libexec' / 'mptcpd', '0.12')
    custom = fake_binary(tmp_path / 'opt' / 'mptcpd-0.13' / 'libexec' / 'mptcpd', '0.13')
    proc = stand_in_proc(tmp_path, {
        20: ('mptcpd', custom, True),
        21: ('mptcpd', custom, True),      # same binary: asked once
        30: ('mptcpd', installed, False),  # other namespace: ignored
        40: ('sshd', installed, True),
    })
    module = FakeModule({'mptcpd': str(installed)})
    facts = info.gather_mptcpd(module, runner(module), proc)
    assert facts['path'] == str(installed) and facts['version'] == '0.12'
    assert facts['running'] is True and facts['pids'] == [20, 21]
    assert facts['running_path'] == str(custom) and facts['running_version'] == '0.13'
    assert facts['processes'] == [
        {'pid': 20, 'path': str(custom), 'version': '0.13', 'deleted': False},
        {'pid': 21, 'path': str(custom), 'version': '0.13', 'deleted': False}]
    assert module.commands == [[str(installed), '--version'], [os.path.join(proc, '20', 'exe'), '--version']]


def test_mptcpd_running_installed_binary_asked_once(tmp_path):
    installed = fake_binary(tmp_path / 'usr' / 'libexec' / 'mptcpd', '0.12')
    proc = stand_in_proc(tmp_path, {7: ('mptcpd', installed, True)})
    module = FakeModule({'mptcpd': str(installed)})
    facts = info.gather_mptcpd(module, runner(module), proc)
    assert facts['running_path'] == str(installed) and facts['running_version'] == '0.12'
    assert facts['version'] == '0.12'
    assert module.commands == [[str(installed), '--version']]


def test_mptcpd_not_running_nor_installed(tmp_path):
    module = FakeModule({})
    facts = info.gather_mptcpd(module, runner(module), stand_in_proc(tmp_path, {}))
    assert facts == {'path': None, 'version': None, 'running': False, 'pids': [],
                     'running_path': None, 'running_version': None, 'processes': []}
    assert module.commands == []


def test_mptcpd_unreadable_deleted_and_untrusted_binaries(tmp_path):
    writable = fake_binary(tmp_path / 'home' / 'mptcpd', '6.66')
    writable.chmod(0o777)
    proc = stand_in_proc(tmp_path, {
        5: ('mptcpd', None, True),                                   # exe not readable
        6: ('mptcpd', '/opt/gone/mptcpd (deleted)', True),           # replaced on disk
        8: ('mptcpd', writable, True),                               # world-writable: never run
    })
    module = FakeModule({})
    facts = info.gather_mptcpd(module, runner(module), proc)
    assert facts['pids'] == [5, 6, 8] and facts['running'] is True
    assert facts['running_path'] is None and facts['running_version'] is None
    assert facts['processes'][1:] == [
        {'pid': 6, 'path': '/opt/gone/mptcpd', 'version': None, 'deleted': True},
        {'pid': 8, 'path': str(writable), 'version': None, 'deleted': False}]
    assert module.commands == []
