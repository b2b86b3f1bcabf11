"""Pure logic of mptcp_settings, on stand-ins for /proc/sys/net/mptcp of other kernels."""

import os

import pytest

from ansible_collections.mptcp.lab.plugins.module_utils.mptcp import mptcp_sysctl as sysctl
from ansible_collections.mptcp.lab.plugins.modules import mptcp_settings as settings


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


def test_settings_validate_against_offer(tmp_path):
    proc = fake_proc(tmp_path, **MODERN)
    assert settings.validate({'path_manager': 'userspace', 'scheduler': 'bpf_rr', 'enabled': False},
                             proc) == {'path_manager': 'userspace', 'scheduler': 'bpf_rr', 'enabled': False}
    with pytest.raises(settings.ValidationError, match=r"scheduler: 'rr' is not offered .*default, bpf_rr"):
        settings.validate({'scheduler': 'rr'}, proc)
    with pytest.raises(settings.ValidationError, match=r'stale_loss_cnt: must be between 0 and 2147483647'):
        settings.validate({'stale_loss_cnt': -1}, proc)


def test_settings_pm_type_only_kernel(tmp_path):
    proc = fake_proc(tmp_path, **OLD)
    assert sysctl.available_path_managers(proc) == ['kernel', 'userspace']
    assert settings.validate({'path_manager': 'userspace'}, proc) == {'path_manager': 'userspace'}
    with pytest.raises(settings.ValidationError, match="path_manager: 'sspi' is not offered"):
        settings.validate({'path_manager': 'sspi'}, proc)
    with pytest.raises(settings.ValidationError, match='scheduler: this kernel has no net.mptcp.scheduler'):
        settings.validate({'scheduler': 'default'}, proc)
    with pytest.raises(settings.ValidationError, match='blackhole_timeout: this kernel has no net.mptcp.'):
        settings.validate({'blackhole_timeout': 60}, proc)
    current = sysctl.read_settings(proc)
    assert current['path_manager'] == 'kernel' and 'scheduler' not in current
    sysctl.write_setting('path_manager', 'userspace', proc)
    assert open(os.path.join(proc, 'pm_type')).read().strip() == '1'
    assert sysctl.read_settings(proc)['path_manager'] == 'userspace'
    text = sysctl.render_sysctl_d({'path_manager': 'userspace', 'enabled': True}, proc)
    assert text.splitlines()[1:] == ['net.mptcp.enabled = 1', 'net.mptcp.pm_type = 1']


def test_settings_no_mptcp(tmp_path):
    with pytest.raises(settings.ValidationError, match='this kernel has no MPTCP'):
        settings.validate({'enabled': True}, str(tmp_path / 'absent'))


def test_settings_compute_and_rollback(tmp_path):
    proc = fake_proc(tmp_path, **MODERN)
    before = sysctl.read_settings(proc)
    assert before['enabled'] is True and before['checksum_enabled'] is False and before['close_timeout'] == 60
    after, changes = settings.compute(before, {'enabled': True, 'close_timeout': 5, 'path_manager': 'userspace'})
    assert changes == ['path_manager', 'close_timeout']
    # close_timeout cannot be written (a directory in its place): path_manager must come back
    os.remove(os.path.join(proc, 'close_timeout'))
    os.mkdir(os.path.join(proc, 'close_timeout'))
    with pytest.raises(settings.ValidationError, match=r"close_timeout: the kernel refused 5 .*nothing was changed"):
        settings.apply(before, after, changes, proc)
    assert sysctl.read_raw('path_manager', proc) == 'kernel'
