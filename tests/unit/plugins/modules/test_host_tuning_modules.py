"""cpu_tuning on a scratch /sys and /proc tree; nic_offloads planning and saved state."""

import os

import pytest

from ansible_collections.mptcp.lab.plugins.module_utils.lab import host_tuning as ht
from ansible_collections.mptcp.lab.plugins.modules import cpu_tuning, nic_offloads


class Failed(Exception):
    pass


class FakeModule(object):
    def __init__(self, check_mode=False, diff=True, **params):
        base = dict(governor=None, irqs=[], process_cpus=None, save_file=None, state='present')
        base.update(params)
        self.params = base
        self.check_mode = check_mode
        self._diff = diff
        self.warnings = []

    def fail_json(self, msg, **kwargs):
        raise Failed(msg)

    def warn(self, text):
        self.warnings.append(text)


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as handle:
        handle.write(text)


@pytest.fixture
def paths(tmp_path):
    for cpu in range(4):
        write(str(tmp_path / 'cpu' / ('cpu%d' % cpu) / 'cpufreq' / 'scaling_governor'), 'powersave\n')
        write(str(tmp_path / 'cpu' / ('cpu%d' % cpu) / 'cpufreq' / 'scaling_available_governors'), 'performance powersave\n')
    write(str(tmp_path / 'cpu' / 'online'), '0-3\n')
    for irq in (120, 121):
        write(str(tmp_path / 'net' / 'enp1s0' / 'device' / 'msi_irqs' / str(irq)), '')
        write(str(tmp_path / 'irq' / str(irq) / 'smp_affinity_list'), '0-3\n')
    os.makedirs(str(tmp_path / 'net' / 'veth0'))
    os.makedirs(str(tmp_path / 'proc'))
    return cpu_tuning.Paths(sys_cpu=str(tmp_path / 'cpu'), sys_net=str(tmp_path / 'net'),
                            proc_irq=str(tmp_path / 'irq'), proc=str(tmp_path / 'proc'))


def affinity(paths, irq):
    return ht.read_irq_affinity(irq, paths.proc_irq)


def test_cpu_tuning_check_apply_idempotent_and_restore(paths, tmp_path):
    save = str(tmp_path / 'saved' / 'cpu.json')
    wanted = dict(governor='performance', irqs=[{'dev': 'enp1s0', 'cpus': '2'}, {'dev': 'veth0', 'cpus': None}],
                  process_cpus='3', save_file=save)
    # check mode predicts and changes nothing
    result = cpu_tuning.run_present(FakeModule(check_mode=True, **wanted), paths)
    assert result['changed'] and result['governor'] == {'0': 'performance', '1': 'performance',
                                                        '2': 'performance', '3': 'performance'}
    assert result['irq_affinity'] == {'enp1s0': {'120': '2', '121': '2'}, 'veth0': {}}
    assert result['diff']['before']['irq_affinity']['enp1s0'] == {'120': '0-3', '121': '0-3'}
    assert affinity(paths, 120) == '0-3' and not os.path.exists(save)
    # apply
    result = cpu_tuning.run_present(FakeModule(**wanted), paths)
    assert result['changed'] and result['process_cpus'] == '3'
    assert affinity(paths, 121) == '2' and ht.read_governors(paths.sys_cpu)[0][0] == 'performance'
    assert ht.load_saved(save) == {'governor': dict((str(c), 'powersave') for c in range(4)),
                                   'irq': {'120': '0-3', '121': '0-3'}}
    # idempotent; a later change keeps the original in the saved state
    assert not cpu_tuning.run_present(FakeModule(**wanted), paths)['changed']
    later = dict(wanted)
    later['irqs'] = [{'dev': 'enp1s0', 'cpus': '1'}]
    cpu_tuning.run_present(FakeModule(**later), paths)
    assert ht.load_saved(save)['irq']['120'] == '0-3'
    # restored: back as found, file removed; a second restore changes nothing
    restored = cpu_tuning.run_restored(FakeModule(state='restored', save_file=save), paths)
    assert restored['changed'] and affinity(paths, 120) == '0-3'
    assert ht.read_governors(paths.sys_cpu)[0] == dict((c, 'powersave') for c in range(4))
    assert not os.path.exists(save)
    assert not cpu_tuning.run_restored(FakeModule(state='restored', save_file=save), paths)['changed']


@pytest.mark.parametrize('params, message', [
    ({'governor': 'ondemand'}, "governor: 'ondemand' is not offered by every CPU; available: performance, powersave"),
    ({'irqs': [{'dev': 'veth0', 'cpus': '1'}]}, 'irqs[0]: veth0 has no IRQs of its own'),
    ({'irqs': [{'dev': 'eth9', 'cpus': None}]}, 'irqs: eth9: no such interface on this host'),
    ({'irqs': [{'dev': 'enp1s0', 'cpus': '7'}]}, 'irqs[0].cpus: CPU(s) 7 are not online'),
    ({'irqs': [{'dev': 'enp1s0', 'cpus': None}, {'dev': 'enp1s0', 'cpus': None}]}, 'irqs[1].dev enp1s0 is listed twice'),
    ({'process_cpus': 'x'}, "process_cpus: 'x' is not a CPU list"),
])
def test_cpu_tuning_bad_input_fails_naming_the_field_and_changes_nothing(paths, params, message):
    with pytest.raises(Failed) as err:
        cpu_tuning.run_present(FakeModule(**params), paths)
    assert str(err.value).startswith(message)
    assert affinity(paths, 120) == '0-3'


def test_cpu_tuning_without_cpufreq_records_nothing_and_refuses_a_governor(paths, tmp_path):
    import shutil
    for cpu in range(4):
        shutil.rmtree(os.path.join(paths.sys_cpu, 'cpu%d' % cpu, 'cpufreq'))
    result = cpu_tuning.run_present(FakeModule(), paths)
    assert result['governor'] == {} and result['cpus_online'] == '0-3' and not result['changed']
    with pytest.raises(Failed) as err:
        cpu_tuning.run_present(FakeModule(governor='performance'), paths)
    assert 'this host has no cpufreq scaling' in str(err.value)


def feat(active, available=True):
    return {'active': active, 'available': available, 'requested': active}


def test_nic_offloads_validation_and_plan():
    assert nic_offloads.validate([{'dev': 'eth1', 'features': {'rx-gro-list': True}}]) is None
    assert 'devices[1].dev eth1 is listed twice' in nic_offloads.validate([{'dev': 'eth1'}, {'dev': 'eth1'}])
    assert 'devices[0].features.rx-gro-list must be true or false' in nic_offloads.validate(
        [{'dev': 'eth1', 'features': {'rx-gro-list': 'yes'}}])
    assert 'is not a kernel feature name' in nic_offloads.validate([{'dev': 'eth1', 'features': {'Bad Name': True}}])
    features = {'eth1': {'rx-gro': feat(False), 'tx-tcp-segmentation': feat(True)}}
    planned = nic_offloads.plan([{'dev': 'eth1', 'gro': True, 'tso': None, 'features': {}}],
                                read=lambda dev: features[dev])
    assert planned[0][2] == {'rx-gro': True}

    def gone(dev):
        raise ht.TuningError('%s: gone' % dev)

    with pytest.raises(ht.TuningError) as err:
        nic_offloads.plan([{'dev': 'eth2'}], read=gone)
    assert str(err.value) == 'devices[0]: eth2: gone'
    # the saved state keeps the first original value only
    saved = {}
    assert nic_offloads.merge_saved(saved, 'eth1', features['eth1'], {'rx-gro': True})
    features['eth1']['rx-gro'] = feat(True)
    assert not nic_offloads.merge_saved(saved, 'eth1', features['eth1'], {'rx-gro': False})
    assert saved == {'eth1': {'rx-gro': False}}
