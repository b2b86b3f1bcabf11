"""path_shaping for real: tbf and htb qdiscs, rate changes, removal, the missing-netem failure."""

import json
import os

import pytest

from conftest import run_module


def qdiscs(ns, dev):
    return json.loads(ns.run('tc', '-j', 'qdisc', 'show', 'dev', dev).stdout)


def htb_class(ns, dev):
    # tc has no JSON output for htb classes
    return ns.run('tc', 'class', 'show', 'dev', dev).stdout


@pytest.fixture
def shaper(netns):
    netns.add_veth('mlts1')
    netns.add_veth('mlts2')
    return netns


def test_tbf_both_devices_idempotent_and_rate_change(shaper):
    devices = [{'dev': 'mlts1', 'rate_mbit': 50, 'label': 'lab_paths[0]'},
               {'dev': 'mlts2', 'rate_mbit': 20, 'label': 'lab_paths[1]'}]
    check = run_module(shaper, 'path_shaping', {'devices': devices}, check_mode=True, diff=True)
    assert check['changed'] and qdiscs(shaper, 'mlts1')[0]['kind'] == 'noqueue'
    result = run_module(shaper, 'path_shaping', {'devices': devices}, diff=True)
    assert result['changed'] and result['diff'] == check['diff']
    root = qdiscs(shaper, 'mlts1')[0]
    assert root['kind'] == 'tbf' and root['handle'] == '1:'
    assert root['options']['rate'] == 6250000           # bytes/s = 50 Mbit/s
    assert root['options']['burst'] == pytest.approx(6250, abs=16)
    assert qdiscs(shaper, 'mlts2')[0]['options']['rate'] == 2500000
    assert not run_module(shaper, 'path_shaping', {'devices': devices})['changed']
    devices[1]['rate_mbit'] = 30
    changed = run_module(shaper, 'path_shaping', {'devices': devices}, diff=True)
    assert changed['changed'] and list(changed['diff']['after']) == ['mlts1', 'mlts2']
    assert qdiscs(shaper, 'mlts2')[0]['options']['rate'] == 3750000
    assert not run_module(shaper, 'path_shaping', {'devices': devices})['changed']


def test_htb_and_switching_back_to_tbf(shaper):
    devices = [{'dev': 'mlts1', 'rate_mbit': 40}]
    assert run_module(shaper, 'path_shaping', {'devices': devices, 'qdisc': 'htb', 'queue_ms': 10})['changed']
    kinds = sorted(q['kind'] for q in qdiscs(shaper, 'mlts1'))
    assert kinds == ['htb', 'pfifo']
    assert 'class htb 1:1 root leaf 10: prio 0 rate 40Mbit ceil 40Mbit' in htb_class(shaper, 'mlts1')
    assert not run_module(shaper, 'path_shaping', {'devices': devices, 'qdisc': 'htb', 'queue_ms': 10})['changed']
    assert run_module(shaper, 'path_shaping', {'devices': devices})['changed']
    assert [q['kind'] for q in qdiscs(shaper, 'mlts1')] == ['tbf']


def test_absent_restores_the_default(shaper):
    run_module(shaper, 'path_shaping', {'devices': [{'dev': 'mlts1', 'rate_mbit': 10}]})
    result = run_module(shaper, 'path_shaping', {'devices': [{'dev': 'mlts1', 'rate_mbit': 10}], 'state': 'absent'})
    assert result['changed'] and qdiscs(shaper, 'mlts1')[0]['kind'] == 'noqueue'
    assert not run_module(shaper, 'path_shaping', {'devices': [{'dev': 'mlts1', 'rate_mbit': 10}],
                                                   'state': 'absent'})['changed']


@pytest.mark.skipif(os.path.isdir('/sys/module/sch_netem'), reason='this kernel has sch_netem')
def test_delay_without_netem_fails_naming_the_field_and_changes_nothing(shaper):
    run_module(shaper, 'path_shaping', {'devices': [{'dev': 'mlts1', 'rate_mbit': 50}]})
    before = qdiscs(shaper, 'mlts1')
    devices = [{'dev': 'mlts1', 'rate_mbit': 10, 'label': 'lab_paths[0]'},
               {'dev': 'mlts2', 'rate_mbit': 10, 'delay_ms': 20, 'label': 'lab_paths[1]'}]
    result = run_module(shaper, 'path_shaping', {'devices': devices})
    assert result['failed']
    assert 'lab_paths[1].delay_ms' in result['msg'] and 'sch_netem' in result['msg']
    assert qdiscs(shaper, 'mlts1') == before
    assert qdiscs(shaper, 'mlts2')[0]['kind'] == 'noqueue'
    links = shaper.run('ip', '-o', 'link').stdout
    assert 'mlabnetem' not in links            # the scratch veth of the probe is gone


def test_missing_device_and_bad_values(shaper):
    result = run_module(shaper, 'path_shaping', {'devices': [{'dev': 'nope', 'rate_mbit': 1}]})
    assert result['failed'] and 'interface(s) nope do not exist' in result['msg']
    result = run_module(shaper, 'path_shaping', {'devices': [{'dev': 'mlts1', 'rate_mbit': 1}], 'burst_bytes': 100})
    assert result['failed'] and 'burst_bytes must be at least 1514' in result['msg']
    assert qdiscs(shaper, 'mlts1')[0]['kind'] == 'noqueue'
