"""mptcp.lab.vm_lab without booting a VM: the guardian (no process outlives
its owner or its guardian), check mode, absent, and input validation.
The VMs themselves: tests/vm (make vmtest)."""

import json
import os
import signal
import subprocess
import time

import pytest

from ansible_collections.mptcp.lab.plugins.modules import vm_lab


class FakeModule(object):
    def __init__(self, params, check_mode=False):
        self.params = dict({'state': 'present', 'prefix': 'mlt', 'kernel': None, 'vms': [], 'links': [],
                            'port_base': 47100, 'accel': 'tcg', 'boot_timeout': 5, 'boot_retries': 1,
                            'owner_pid': 0}, **params)
        self.check_mode = check_mode

    def fail_json(self, **kwargs):
        raise AssertionError(kwargs['msg'])


def _alive(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().split(') ')[1][0] not in 'ZX'
    except OSError:
        return False


def _wait_gone(pid, timeout=10):
    deadline = time.time() + timeout
    while _alive(pid) and time.time() < deadline:
        time.sleep(0.1)
    return not _alive(pid)


def _child_of(pid):
    for _attempt in range(50):
        kids = vm_lab.children(pid)
        if kids:
            return kids[0]
        time.sleep(0.1)
    raise AssertionError('no child under %d' % pid)


def test_guardian_stops_its_child_when_the_owner_ends(tmp_path):
    owner = subprocess.Popen(['sleep', '30'])
    gpid = vm_lab.spawn_guardian(['/bin/sleep', '1000'], dict(os.environ), str(tmp_path / 'log'), owner.pid)
    child = _child_of(gpid)
    assert _alive(child)
    owner.kill()
    owner.wait()
    assert _wait_gone(child), 'the VM (here: sleep) outlived the run that owned it'
    assert _wait_gone(gpid)


def test_a_killed_guardian_takes_its_child_along(tmp_path):
    gpid = vm_lab.spawn_guardian(['/bin/sleep', '1000'], dict(os.environ), str(tmp_path / 'log'), 0)
    child = _child_of(gpid)
    os.kill(gpid, signal.SIGKILL)
    assert _wait_gone(child), 'the child outlived a SIGKILLed guardian (no parent-death signal)'


def test_guardian_stops_its_child_on_sigterm(tmp_path):
    gpid = vm_lab.spawn_guardian(['/bin/sleep', '1000'], dict(os.environ), str(tmp_path / 'log'), 0)
    child = _child_of(gpid)
    os.kill(gpid, signal.SIGTERM)
    assert _wait_gone(child) and _wait_gone(gpid)


def _image(tmp_path):
    data = bytearray(0x4000)
    data[0x202:0x206] = b'HdrS'
    data[0x20E:0x210] = (0x3000 - 0x200).to_bytes(2, 'little')
    data[0x3000:0x3010] = b'6.1.0-99-test #1'
    root = tmp_path / 'k'
    (root / 'boot').mkdir(parents=True)
    (root / 'boot' / 'vmlinuz-6.1.0-99-test').write_bytes(bytes(data))
    (root / 'boot' / 'config-6.1.0-99-test').write_text('CONFIG_MPTCP=y\nCONFIG_NET_SCH_NETEM=m\n')
    return str(root / 'boot' / 'vmlinuz-6.1.0-99-test')


@pytest.fixture
def visible_tmp():
    # the guest cannot see /tmp, so the module refuses it: use a directory it accepts
    import tempfile
    import shutil
    path = tempfile.mkdtemp(prefix='mlt-vm-', dir='/var/lib') if os.geteuid() == 0 else None
    if path is None:
        pytest.skip('needs root (a directory under /var/lib)')
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_check_mode_predicts_the_boot_and_creates_nothing(visible_tmp):
    import pathlib
    image = _image(pathlib.Path(visible_tmp))
    state = os.path.join(visible_tmp, 'state')
    module = FakeModule({'state_dir': state, 'kernel': {'image': image, 'modules_root': None},
                         'vms': [{'name': 'mlt-a', 'ssh_port': 47901, 'cpus': 1, 'memory_mb': 256},
                                 {'name': 'mlt-b', 'ssh_port': 47902, 'cpus': 1, 'memory_mb': 256}],
                         'links': [{'netns': 'mlt-a', 'name': 'mlt-p1', 'peer_netns': 'mlt-b', 'peer_name': 'mlt-p1'}]},
                        check_mode=True)
    lab = vm_lab.VmLab(module)
    out = lab.present()
    assert lab.changed and lab.started == ['mlt-a', 'mlt-b']
    assert not os.path.exists(state)
    assert out['kernel']['release'] == '6.1.0-99-test'
    assert len(out['kernel']['image_sha256']) == 64


def test_kernel_under_tmp_is_refused_naming_the_field(tmp_path, visible_tmp):
    image = _image(tmp_path)
    module = FakeModule({'state_dir': os.path.join(visible_tmp, 'state'), 'kernel': {'image': image}}, check_mode=True)
    with pytest.raises(AssertionError, match='kernel.image: .* is not visible inside the VMs'):
        vm_lab.VmLab(module).present()


def test_absent_is_a_noop_without_a_lab_and_refuses_a_foreign_directory(visible_tmp):
    lab = vm_lab.VmLab(FakeModule({'state': 'absent', 'state_dir': os.path.join(visible_tmp, 'none')}))
    lab.absent()
    assert not lab.changed
    foreign = os.path.join(visible_tmp, 'foreign')
    os.mkdir(foreign)
    with pytest.raises(AssertionError, match='was not made by mptcp.lab.vm_lab'):
        vm_lab.VmLab(FakeModule({'state': 'absent', 'state_dir': foreign})).absent()
    assert os.path.isdir(foreign)


def test_absent_stops_what_the_records_name_and_removes_the_directory(visible_tmp, tmp_path):
    state = os.path.join(visible_tmp, 'lab')
    os.mkdir(state)
    open(os.path.join(state, vm_lab.MARKER), 'w').close()
    gpid = vm_lab.spawn_guardian(['/bin/sleep', '1000'], dict(os.environ), str(tmp_path / 'log'), 0)
    child = _child_of(gpid)
    with open(os.path.join(state, 'mlt-a.json'), 'w') as f:
        json.dump({'guardian_pid': gpid, 'guardian_start': vm_lab.starttime(gpid)}, f)
    lab = vm_lab.VmLab(FakeModule({'state': 'absent', 'state_dir': state}))
    lab.absent()
    assert lab.changed and lab.stopped == ['mlt-a']
    assert not os.path.exists(state)
    assert _wait_gone(child)
