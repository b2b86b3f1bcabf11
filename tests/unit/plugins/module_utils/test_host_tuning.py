"""Pure logic of host_tuning: CPU lists, offload planning and summaries, cpufreq and IRQ files."""

import json
import os

import pytest

from ansible_collections.mptcp.lab.plugins.module_utils.lab import host_tuning as ht


@pytest.mark.parametrize('text, cpus, canonical', [
    ('0', [0], '0'),
    ('2-3', [2, 3], '2-3'),
    ('0,2-4,4,7', [0, 2, 3, 4, 7], '0,2-4,7'),
    (' 1 , 3 ', [1, 3], '1,3'),
])
def test_cpulist_round_trip(text, cpus, canonical):
    assert ht.parse_cpulist(text) == cpus
    assert ht.format_cpulist(cpus) == canonical


@pytest.mark.parametrize('text, message', [
    ('', 'is not a CPU list'),
    ('a', 'is not a CPU list'),
    ('1-', 'is not a CPU list'),
    ('3-1', 'descending range 3-1'),
])
def test_cpulist_bad(text, message):
    with pytest.raises(ht.TuningError) as err:
        ht.parse_cpulist(text, 'host_prep_irq_cpus')
    assert str(err.value).startswith('host_prep_irq_cpus: ') and message in str(err.value)


def feat(active, available=True, requested=None):
    return {'active': active, 'available': available, 'requested': active if requested is None else requested}


FEATURES = {
    'rx-gro': feat(False),
    'tx-generic-segmentation': feat(True),
    'tx-tcp-segmentation': feat(True),
    'tx-tcp-ecn-segmentation': feat(True),
    'tx-tcp6-segmentation': feat(True, available=False),
    'rx-lro': feat(False, available=False),
    'rx-gro-list': feat(False),
}


def test_summary_is_ethtool_style_and_skips_unknown_offloads():
    assert ht.summarize(FEATURES) == {'gro': 'off', 'gso': 'on', 'tso': 'on', 'lro': 'off [fixed]'}
    mixed = dict(FEATURES, **{'tx-tcp-segmentation': feat(False)})
    assert ht.offload_state(mixed, 'tso') == 'mixed'
    assert ht.summarize(FEATURES, ['rx-gro-list', 'nope']) == dict(
        ht.summarize(FEATURES), **{'rx-gro-list': 'off', 'nope': None})
    assert ht.feature_text(feat(False, requested=True)) == 'off [requested on]'


def test_plan_sets_only_what_differs_and_keeps_fixed_group_members():
    assert ht.plan_features(FEATURES, {'gro': None, 'gso': True}, 'devices[0]') == {}
    assert ht.plan_features(FEATURES, {'gro': True, 'tso': False}, 'devices[0]') == {
        'rx-gro': True, 'tx-tcp-segmentation': False, 'tx-tcp-ecn-segmentation': False}
    assert ht.plan_features(FEATURES, {'rx-gro-list': True}, 'devices[0]') == {'rx-gro-list': True}
    # asking a fixed feature for the state it has is fine
    assert ht.plan_features(FEATURES, {'lro': False}, 'devices[0]') == {}


@pytest.mark.parametrize('wanted, message', [
    ({'lro': True}, 'devices[1].lro: rx-lro is fixed off on this interface'),
    ({'gro_hw': True}, 'devices[1].gro_hw: this interface has no such feature (rx-gro-hw)'),
    ({'tx-made-up': True}, 'devices[1].tx-made-up: this interface has no such feature'),
])
def test_plan_refuses_what_cannot_be(wanted, message):
    with pytest.raises(ht.TuningError) as err:
        ht.plan_features(FEATURES, wanted, 'devices[1]')
    assert str(err.value).startswith(message)


def test_check_applied_names_refused_features():
    ht.check_applied(FEATURES, {'rx-gro': False}, 'devices[0]')
    with pytest.raises(ht.TuningError) as err:
        ht.check_applied(FEATURES, {'rx-gro': True, 'tx-tcp-segmentation': True}, 'devices[0]')
    assert 'kept rx-gro in the old state' in str(err.value)


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as handle:
        handle.write(text)


@pytest.fixture
def tree(tmp_path):
    """A scratch /sys and /proc: 4 online CPUs with cpufreq, a NIC with 3 MSI-X IRQs, a veth."""
    sys_cpu, sys_net, proc_irq = tmp_path / 'cpu', tmp_path / 'net', tmp_path / 'irq'
    write(str(sys_cpu / 'online'), '0-3\n')
    for cpu in range(4):
        write(str(sys_cpu / ('cpu%d' % cpu) / 'cpufreq' / 'scaling_governor'), 'powersave\n')
        write(str(sys_cpu / ('cpu%d' % cpu) / 'cpufreq' / 'scaling_available_governors'),
              'performance powersave%s\n' % (' schedutil' if cpu else ''))
    for irq in (120, 121, 122):
        write(str(sys_net / 'enp1s0' / 'device' / 'msi_irqs' / str(irq)), 'msix\n')
        write(str(proc_irq / str(irq) / 'smp_affinity_list'), '0-3\n')
    os.makedirs(str(sys_net / 'veth0'))
    return {'sys_cpu': str(sys_cpu), 'sys_net': str(sys_net), 'proc_irq': str(proc_irq)}


def test_governors_irqs_and_cpus_from_the_files(tree):
    assert ht.online_cpus(tree['sys_cpu']) == [0, 1, 2, 3]
    assert ht.read_governors(tree['sys_cpu']) == ({0: 'powersave', 1: 'powersave', 2: 'powersave', 3: 'powersave'},
                                                  ['performance', 'powersave'])
    ht.write_governor(2, 'performance', tree['sys_cpu'])
    assert ht.read_governors(tree['sys_cpu'])[0][2] == 'performance'
    assert ht.dev_irqs('enp1s0', tree['sys_net']) == [120, 121, 122]
    assert ht.dev_irqs('veth0', tree['sys_net']) == []
    with pytest.raises(ht.TuningError):
        ht.dev_irqs('eth9', tree['sys_net'])
    ht.write_irq_affinity(121, '2', tree['proc_irq'])
    assert ht.read_irq_affinity(121, tree['proc_irq']) == '2'
    assert ht.check_cpus('3,1-2', 'process_cpus', tree['sys_cpu']) == '1-3'
    with pytest.raises(ht.TuningError) as err:
        ht.check_cpus('2-5', 'process_cpus', tree['sys_cpu'])
    assert str(err.value) == 'process_cpus: CPU(s) 4-5 are not online on this host (online: 0-3)'


def test_saved_state_round_trip(tmp_path):
    path = str(tmp_path / 'state' / 'host-offloads.json')
    assert ht.load_saved(path) is None
    ht.save_state(path, {'eth1': {'rx-gro': False}})
    assert oct(os.stat(path).st_mode & 0o777) == '0o600'
    assert ht.load_saved(path) == {'eth1': {'rx-gro': False}}
    ht.remove_saved(path)
    ht.remove_saved(path)
    assert not os.path.exists(path)
    write(path, 'not json')
    with pytest.raises(ht.TuningError):
        ht.load_saved(path)


def test_saved_state_refuses_a_symlink_and_an_open_directory(tmp_path):
    state = tmp_path / 'state'
    path = str(state / 'host-offloads.json')
    ht.save_state(path, {'eth1': {'rx-gro': False}})
    victim = tmp_path / 'victim'
    victim.write_text('{"eth0": {"rx-gro": true}}')
    os.unlink(path)
    os.symlink(str(victim), path)
    with pytest.raises(ht.TuningError, match='save_file: .*host-offloads.json: is a symlink'):
        ht.load_saved(path)
    ht.save_state(path, {'eth1': {'tso': True}})        # replaces the link, never writes through it
    assert not os.path.islink(path) and victim.read_text() == '{"eth0": {"rx-gro": true}}'
    os.chmod(str(state), 0o777)
    for call in (lambda: ht.load_saved(path), lambda: ht.save_state(path, {}), lambda: ht.remove_saved(path)):
        with pytest.raises(ht.TuningError, match='save_file: .*writable by its group or by everyone'):
            call()


def test_irqbalance_detection(tmp_path):
    write(str(tmp_path / '12' / 'comm'), 'sshd\n')
    assert not ht.irqbalance_running(str(tmp_path))
    write(str(tmp_path / '13' / 'comm'), 'irqbalance\n')
    assert ht.irqbalance_running(str(tmp_path))
    assert json.dumps(ht.OFFLOAD_NAMES) == '["gro", "gso", "tso", "lro", "gro_hw"]'
