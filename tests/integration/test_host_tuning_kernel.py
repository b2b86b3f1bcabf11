"""nic_offloads and cpu_tuning for real, on veths in throwaway namespaces."""

import os
import re

from conftest import run_module


def ethtool(ns, dev):
    out = ns.run('ethtool', '-k', dev).stdout
    return dict(re.findall(r'^\s*([a-z0-9-]+): (\S+)', out, re.M))


def test_offloads_check_set_idempotent_record_and_restore(netns, tmp_path):
    dev = netns.add_veth('mlo1')
    save = str(tmp_path / 'offloads.json')
    assert ethtool(netns, dev)['generic-receive-offload'] == 'off'
    args = {'devices': [{'dev': dev, 'gro': True, 'tso': False}], 'save_file': save}

    check = run_module(netns, 'nic_offloads', args, check_mode=True, diff=True)
    assert check['changed'] and check['offloads'][dev]['gro'] == 'on' and check['offloads'][dev]['tso'] == 'off'
    assert check['diff']['before'][dev]['gro'] == 'off'
    assert ethtool(netns, dev)['generic-receive-offload'] == 'off' and not os.path.exists(save)

    done = run_module(netns, 'nic_offloads', args)
    assert done['changed'] and done['changes'][dev]['rx-gro'] is True
    state = ethtool(netns, dev)
    assert state['generic-receive-offload'] == 'on' and state['tx-tcp-segmentation'] == 'off'
    assert state['generic-segmentation-offload'] == 'on', 'gso was not asked for: kept'
    assert not run_module(netns, 'nic_offloads', args)['changed']

    # record only: nothing asked, every offload reported
    record = run_module(netns, 'nic_offloads', {'devices': [{'dev': dev}]})
    assert not record['changed']
    assert record['offloads'][dev] == {'gro': 'on', 'gso': 'on', 'tso': 'off', 'lro': 'off [fixed]',
                                       'gro_hw': 'off [fixed]'}

    restored = run_module(netns, 'nic_offloads', {'state': 'restored', 'save_file': save})
    assert restored['changed'] and not os.path.exists(save)
    state = ethtool(netns, dev)
    assert state['generic-receive-offload'] == 'off' and state['tx-tcp-segmentation'] == 'on'
    assert not run_module(netns, 'nic_offloads', {'state': 'restored', 'save_file': save})['changed']


def test_offloads_bad_input_fails_naming_the_field_and_changes_nothing(netns):
    dev = netns.add_veth('mlo1')
    fixed = run_module(netns, 'nic_offloads', {'devices': [{'dev': dev, 'gro': True, 'lro': True}]})
    assert fixed['rc'] == 1 and fixed['msg'] == 'devices[0].lro: rx-lro is fixed off on this interface (the driver cannot change it)'
    assert ethtool(netns, dev)['generic-receive-offload'] == 'off'
    missing = run_module(netns, 'nic_offloads', {'devices': [{'dev': 'mlo9'}]})
    assert missing['rc'] == 1 and missing['msg'].startswith('devices[0]: mlo9: cannot read the features')


def test_cpu_tuning_records_a_veth_and_checks_process_cpus(netns):
    dev = netns.add_veth('mlo1')
    result = run_module(netns, 'cpu_tuning', {'irqs': [{'dev': dev}], 'process_cpus': '0'}, diff=True)
    assert result['rc'] == 0 and not result['changed']
    assert result['irq_affinity'] == {dev: {}} and result['process_cpus'] == '0'
    with open('/sys/devices/system/cpu/online') as handle:
        assert result['cpus_online'] == handle.read().strip()
    bad = run_module(netns, 'cpu_tuning', {'irqs': [{'dev': dev, 'cpus': '0'}]})
    assert bad['rc'] == 1 and 'has no IRQs of its own' in bad['msg']
