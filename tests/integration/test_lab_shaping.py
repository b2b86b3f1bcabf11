"""path_shaping for real: tbf and htb qdiscs, rate changes, removal, the missing-netem failure."""

import json
import os
import subprocess
import sys

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
    assert root['kind'] == 'tbf' and root['handle'] == '1ab:'
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
    assert 'class htb 1ab:1 root leaf 10: prio 0 rate 40Mbit ceil 40Mbit' in htb_class(shaper, 'mlts1')
    assert not run_module(shaper, 'path_shaping', {'devices': devices, 'qdisc': 'htb', 'queue_ms': 10})['changed']
    assert run_module(shaper, 'path_shaping', {'devices': devices})['changed']
    assert [q['kind'] for q in qdiscs(shaper, 'mlts1')] == ['tbf']


def test_absent_restores_the_default(shaper):
    run_module(shaper, 'path_shaping', {'devices': [{'dev': 'mlts1', 'rate_mbit': 10}]})
    result = run_module(shaper, 'path_shaping', {'devices': [{'dev': 'mlts1', 'rate_mbit': 10}], 'state': 'absent'})
    assert result['changed'] and qdiscs(shaper, 'mlts1')[0]['kind'] == 'noqueue'
    assert not run_module(shaper, 'path_shaping', {'devices': [{'dev': 'mlts1', 'rate_mbit': 10}],
                                                   'state': 'absent'})['changed']


def test_an_unshaped_device_gets_the_kernels_default_root_back(shaper):
    shaped = [{'dev': 'mlts1', 'rate_mbit': 50}, {'dev': 'mlts2', 'rate_mbit': 50}]
    assert run_module(shaper, 'path_shaping', {'devices': shaped})['changed']
    # path 2 unshaped: its lab root goes (one call, both devices listed), path 1 stays as it is
    unshaped = [{'dev': 'mlts1', 'rate_mbit': 50}, {'dev': 'mlts2', 'rate_mbit': None}]
    check = run_module(shaper, 'path_shaping', {'devices': unshaped}, check_mode=True, diff=True)
    assert check['changed'] and qdiscs(shaper, 'mlts2')[0]['kind'] == 'tbf'
    result = run_module(shaper, 'path_shaping', {'devices': unshaped}, diff=True)
    assert result['changed'] and result['diff'] == check['diff']
    assert result['diff']['after'] == {'mlts1': 'tbf rate 50.0Mbit burst 6250b latency 100.0ms', 'mlts2': 'default'}
    assert [q['kind'] for q in qdiscs(shaper, 'mlts2')] == ['noqueue']
    assert qdiscs(shaper, 'mlts1')[0]['kind'] == 'tbf'
    assert not run_module(shaper, 'path_shaping', {'devices': unshaped})['changed']
    # and back
    assert run_module(shaper, 'path_shaping', {'devices': shaped})['changed']
    assert qdiscs(shaper, 'mlts2')[0]['options']['rate'] == 6250000


@pytest.mark.skipif(os.path.isdir('/sys/module/sch_netem'), reason='this kernel has sch_netem')
def test_unshaped_with_delay_needs_netem_too(shaper):
    result = run_module(shaper, 'path_shaping', {'devices': [
        {'dev': 'mlts1', 'rate_mbit': None, 'delay_ms': 5, 'label': "tests[1] 'x': shaping[0]"}]})
    assert result['failed'] and "tests[1] 'x': shaping[0].delay_ms: this kernel has no netem qdisc (sch_netem)" \
        in result['msg']
    assert qdiscs(shaper, 'mlts1')[0]['kind'] == 'noqueue'


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


def ifb(ns, name, queues):
    """An IFB device: with several tx queues its default root is mq (handle 0:), as on a physical NIC."""
    ns.run('ip', 'link', 'add', 'name', name, 'numtxqueues', str(queues), 'type', 'ifb')
    ns.run('ip', 'link', 'set', name, 'up')
    return name


def roots(ns, dev):
    return [(q['kind'], q['handle']) for q in qdiscs(ns, dev) if q.get('root')]


@pytest.mark.parametrize('queues', [1, 4])
def test_default_root_of_a_nic_is_shaped_then_given_back_and_absent_is_a_no_op(shaper, queues):
    dev = ifb(shaper, 'mltq%d' % queues, queues)
    default = roots(shaper, dev)
    assert default == [('mq' if queues > 1 else 'pfifo_fast', '0:')]
    args = {'devices': [{'dev': dev, 'rate_mbit': 10}], 'state': 'absent'}
    for check_mode in (True, False, False):
        result = run_module(shaper, 'path_shaping', args, check_mode=check_mode, diff=True)
        assert result['rc'] == 0 and not result['changed'], result
        assert result['diff'] == {'before': {dev: 'default'}, 'after': {dev: 'default'}}
    present = dict(args, state='present')
    assert run_module(shaper, 'path_shaping', present)['changed']
    assert roots(shaper, dev) == [('tbf', '1ab:')]
    assert not run_module(shaper, 'path_shaping', present)['changed']
    assert run_module(shaper, 'path_shaping', args, check_mode=True)['changed']
    assert roots(shaper, dev) == [('tbf', '1ab:')]
    assert run_module(shaper, 'path_shaping', args)['changed']
    assert roots(shaper, dev) == default
    for check_mode in (True, False):
        assert not run_module(shaper, 'path_shaping', args, check_mode=check_mode)['changed']


def test_absent_on_a_veths_default_root_is_a_no_op(shaper):
    args = {'devices': [{'dev': 'mlts1', 'rate_mbit': 10}], 'state': 'absent'}
    for check_mode in (True, False, True, False):
        result = run_module(shaper, 'path_shaping', args, check_mode=check_mode)
        assert result['rc'] == 0 and not result['changed'] and result['devices'] == {'mlts1': 'default'}
    assert roots(shaper, 'mlts1') == [('noqueue', '0:')]


def test_a_foreign_root_is_left_by_absent_and_refused_by_present(shaper):
    shaper.run('tc', 'qdisc', 'add', 'dev', 'mlts1', 'root', 'pfifo', 'limit', '77')          # handle 8001:
    shaper.run('tc', 'qdisc', 'add', 'dev', 'mlts2', 'root', 'handle', '5:', 'tbf', 'rate', '7mbit',
               'burst', '4kb', 'latency', '20ms')
    foreign = {'mlts1': roots(shaper, 'mlts1'), 'mlts2': roots(shaper, 'mlts2')}
    assert foreign['mlts1'][0][0] == 'pfifo' and foreign['mlts2'] == [('tbf', '5:')]
    devices = [{'dev': 'mlts1', 'rate_mbit': 10, 'label': 'lab_paths[0]'},
               {'dev': 'mlts2', 'rate_mbit': 10, 'label': 'lab_paths[1]'}]
    absent = run_module(shaper, 'path_shaping', {'devices': devices, 'state': 'absent'}, diff=True)
    assert absent['rc'] == 0 and not absent['changed']
    assert absent['diff']['after'] == absent['diff']['before']
    assert absent['diff']['before']['mlts2'] == "tbf 5: (not the lab's)"
    warnings = json.dumps(absent['warnings'])    # 2.19: warning summaries, not plain texts
    assert "mlts1: the root qdisc pfifo %s is not the lab's; left alone" % foreign['mlts1'][0][1] in warnings
    assert "mlts2: the root qdisc tbf 5: is not the lab's" in warnings
    for check_mode in (True, False):
        result = run_module(shaper, 'path_shaping', {'devices': devices}, check_mode=check_mode)
        assert result['failed'] and result['rc'] == 1
        assert 'the root qdisc pfifo %s of mlts1 (lab_paths[0])' % foreign['mlts1'][0][1] in result['msg']
        assert 'the root qdisc tbf 5: of mlts2 (lab_paths[1])' in result['msg']
        assert 'replace_foreign' in result['msg'] and 'Nothing was changed' in result['msg']
        assert {'mlts1': roots(shaper, 'mlts1'), 'mlts2': roots(shaper, 'mlts2')} == foreign
    assert qdiscs(shaper, 'mlts1')[0]['options']['limit'] == 77
    take = {'devices': devices, 'replace_foreign': True}
    check = run_module(shaper, 'path_shaping', take, check_mode=True, diff=True)
    assert check['changed'] and roots(shaper, 'mlts2') == [('tbf', '5:')]
    result = run_module(shaper, 'path_shaping', take, diff=True)
    assert result['changed'] and result['diff'] == check['diff']
    assert roots(shaper, 'mlts1') == roots(shaper, 'mlts2') == [('tbf', '1ab:')]
    assert not run_module(shaper, 'path_shaping', take)['changed']
    assert not run_module(shaper, 'path_shaping', {'devices': devices})['changed']    # now the lab's own
    assert run_module(shaper, 'path_shaping', {'devices': devices, 'state': 'absent'})['changed']
    assert roots(shaper, 'mlts1') == [('noqueue', '0:')]


def test_an_administrators_htb_1_is_never_taken_changed_or_removed(shaper):
    """The lab's own root has handle 1ab:; an htb 1: tree (class, leaf and all) is someone else's."""
    shaper.run('tc', 'qdisc', 'add', 'dev', 'mlts1', 'root', 'handle', '1:', 'htb', 'default', '1')
    shaper.run('tc', 'class', 'add', 'dev', 'mlts1', 'parent', '1:', 'classid', '1:1', 'htb', 'rate', '40mbit')
    shaper.run('tc', 'qdisc', 'add', 'dev', 'mlts1', 'parent', '1:1', 'handle', '10:', 'pfifo', 'limit', '100')
    before = shaper.run('tc', 'qdisc', 'show', 'dev', 'mlts1').stdout, htb_class(shaper, 'mlts1')
    devices = [{'dev': 'mlts1', 'rate_mbit': 40, 'label': 'lab_paths[0]'}]
    for qdisc in ('htb', 'tbf'):
        for check_mode in (True, False):
            result = run_module(shaper, 'path_shaping', {'devices': devices, 'qdisc': qdisc}, check_mode=check_mode)
            assert result['failed'] and 'the root qdisc htb 1: of mlts1 (lab_paths[0]) is not the lab' in result['msg']
            absent = run_module(shaper, 'path_shaping', {'devices': devices, 'state': 'absent'}, check_mode=check_mode)
            assert absent['rc'] == 0 and not absent['changed'] and absent['devices'] == {'mlts1': "htb 1: (not the lab's)"}
            assert (shaper.run('tc', 'qdisc', 'show', 'dev', 'mlts1').stdout, htb_class(shaper, 'mlts1')) == before
    assert 'qdisc htb 1: root' in before[0] and 'class htb 1:1' in before[1]


def test_a_foreign_qdisc_at_the_labs_handle_is_foreign_too(shaper):
    shaper.run('tc', 'qdisc', 'add', 'dev', 'mlts2', 'root', 'handle', '1ab:', 'bfifo', 'limit', '9000')
    result = run_module(shaper, 'path_shaping', {'devices': [{'dev': 'mlts2', 'rate_mbit': 10}]})
    assert result['failed'] and 'the root qdisc bfifo 1ab: of mlts2 (devices[0])' in result['msg']
    assert not run_module(shaper, 'path_shaping', {'devices': [{'dev': 'mlts2', 'rate_mbit': 10}],
                                                   'state': 'absent'})['changed']
    assert roots(shaper, 'mlts2') == [('bfifo', '1ab:')]


def test_a_foreign_qdisc_at_the_old_labs_handle_is_foreign(shaper):
    shaper.run('tc', 'qdisc', 'add', 'dev', 'mlts1', 'root', 'handle', '1:', 'bfifo', 'limit', '9000')
    result = run_module(shaper, 'path_shaping', {'devices': [{'dev': 'mlts1', 'rate_mbit': 10}]})
    assert result['failed'] and 'the root qdisc bfifo 1: of mlts1 (devices[0])' in result['msg']
    assert not run_module(shaper, 'path_shaping', {'devices': [{'dev': 'mlts1', 'rate_mbit': 10}],
                                                   'state': 'absent'})['changed']
    assert roots(shaper, 'mlts1') == [('bfifo', '1:')]


@pytest.mark.skipif(os.path.isdir('/sys/module/sch_netem'), reason='this kernel has sch_netem')
def test_check_mode_predicts_the_missing_netem_without_creating_anything(shaper):
    links = shaper.run('ip', '-o', 'link').stdout
    devices = [{'dev': 'mlts1', 'rate_mbit': 10, 'loss_pct': 1, 'label': 'lab_paths[0]'}]
    result = run_module(shaper, 'path_shaping', {'devices': devices}, check_mode=True)
    assert result['failed'] and 'lab_paths[0].loss_pct' in result['msg'] and 'sch_netem' in result['msg']
    assert result['netem']['available'] is False
    assert shaper.run('ip', '-o', 'link').stdout == links
    assert roots(shaper, 'mlts1') == [('noqueue', '0:')]


def test_the_qdisc_probe_runs_in_a_scratch_namespace_and_leaves_nothing():
    from ansible_collections.mptcp.lab.plugins.modules import path_shaping as ps
    if os.geteuid() != 0:
        pytest.skip('needs root')

    def host_lo():
        return subprocess.run(['tc', 'qdisc', 'show', 'dev', 'lo'], capture_output=True, text=True, check=True).stdout

    before = host_lo()
    assert ps.qdisc_probe('tbf', rate=125000, burst=3028, limit=10000) is True
    assert ps.qdisc_probe('netem', delay=0) is os.path.isdir('/sys/module/sch_netem')
    assert host_lo() == before and 'tbf' not in before     # tried on the scratch namespace's lo, not ours


def tbf_packets(ns, dev):
    stats = json.loads(ns.run('tc', '-s', '-j', 'qdisc', 'show', 'dev', dev).stdout)
    return sum(q.get('packets', 0) for q in stats if q['kind'] == 'tbf')


def test_a_shared_bottleneck_carries_its_members_traffic_and_goes_away(netns_factory):
    shaper, far = netns_factory(), netns_factory()
    shaper.add_veth('mltb1', peer_ns=far, peer_name='mltb1p')
    shaper.add_veth('mltb2', peer_ns=far, peer_name='mltb2p')
    shaper.run('ip', 'addr', 'add', '10.251.1.1/24', 'dev', 'mltb1')
    far.run('ip', 'addr', 'add', '10.251.1.2/24', 'dev', 'mltb1p')
    devices = [{'dev': 'mltb1', 'rate_mbit': 50}, {'dev': 'mltb2', 'rate_mbit': 50}]
    shared = [{'name': 'mltbn', 'rate_mbit': 80, 'members': ['mltb1', 'mltb2']}]
    args = {'devices': devices, 'bottlenecks': shared}
    check = run_module(shaper, 'path_shaping', args, check_mode=True, diff=True)
    assert check['changed'] and 'mltbn' not in shaper.run('ip', '-o', 'link').stdout
    assert check['diff']['before']['bottlenecks'] == {'mltbn': 'absent'}
    result = run_module(shaper, 'path_shaping', args, diff=True)
    assert result['changed'] and result['diff'] == check['diff']
    assert result['bottlenecks']['mltbn'].startswith('tbf rate 80.0Mbit') and \
        result['bottlenecks']['mltbn'].endswith('<- mltb1, mltb2')
    assert result['redirects'] == {'mltb1': 'mltbn', 'mltb2': 'mltbn'}
    link = json.loads(shaper.run('ip', '-d', '-j', 'link', 'show', 'mltbn').stdout)[0]
    assert link['linkinfo']['info_kind'] == 'ifb' and 'UP' in link['flags']
    root = qdiscs(shaper, 'mltbn')[0]
    assert root['kind'] == 'tbf' and root['handle'] == '1ab:' and root['options']['rate'] == 10000000
    assert qdiscs(shaper, 'mltb1')[0]['kind'] == 'tbf'      # the member keeps its own shaping
    assert 'Egress Redirect to device mltbn' in shaper.run('tc', 'filter', 'show', 'dev', 'mltb1', 'egress').stdout
    # what leaves a member goes through the bottleneck's queue, and still arrives
    shaper.run(sys.executable, '-c', 'import socket, time\n'
               's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n'
               'for _ in range(5):\n    s.sendto(b"lab", ("10.251.1.2", 9)); time.sleep(0.05)')
    assert tbf_packets(shaper, 'mltbn') >= 5
    assert not run_module(shaper, 'path_shaping', args)['changed']
    # one member less, then a new rate: changed, and idempotent again
    shared[0]['members'] = ['mltb1']
    result = run_module(shaper, 'path_shaping', args, diff=True)
    assert result['changed'] and result['redirects'] == {'mltb1': 'mltbn', 'mltb2': None}
    assert shaper.run('tc', 'filter', 'show', 'dev', 'mltb2', 'egress').stdout.strip() == ''
    assert 'clsact' not in [q['kind'] for q in qdiscs(shaper, 'mltb2')]
    shared[0]['rate_mbit'] = 60
    assert run_module(shaper, 'path_shaping', args)['changed']
    assert qdiscs(shaper, 'mltbn')[0]['options']['rate'] == 7500000
    assert not run_module(shaper, 'path_shaping', args)['changed']
    # no members: the ifb and every redirect go; the paths keep their shaping
    shared[0]['members'] = []
    check = run_module(shaper, 'path_shaping', args, check_mode=True)
    assert check['changed'] and 'mltbn' in shaper.run('ip', '-o', 'link').stdout
    result = run_module(shaper, 'path_shaping', args)
    assert result['changed'] and result['bottlenecks'] == {'mltbn': 'absent'}
    assert 'mltbn' not in shaper.run('ip', '-o', 'link').stdout
    assert shaper.run('tc', 'filter', 'show', 'dev', 'mltb1', 'egress').stdout.strip() == ''
    assert [q['kind'] for q in qdiscs(shaper, 'mltb1')] == ['tbf']
    assert not run_module(shaper, 'path_shaping', args)['changed']


def test_absent_removes_the_bottleneck_and_a_foreign_device_of_its_name_is_refused(netns_factory):
    shaper = netns_factory()
    shaper.add_veth('mltb1')
    devices = [{'dev': 'mltb1', 'rate_mbit': 50}]
    shared = [{'name': 'mltbn', 'rate_mbit': 80, 'members': ['mltb1']}]
    assert run_module(shaper, 'path_shaping', {'devices': devices, 'bottlenecks': shared})['changed']
    result = run_module(shaper, 'path_shaping', {'devices': devices, 'bottlenecks': shared, 'state': 'absent'})
    assert result['changed'] and 'mltbn' not in shaper.run('ip', '-o', 'link').stdout
    assert [q['kind'] for q in qdiscs(shaper, 'mltb1')] == ['noqueue']
    # a veth of the bottleneck's name is not the lab's: refused, nothing changed
    shaper.add_veth('mltbn')
    result = run_module(shaper, 'path_shaping', {'devices': devices, 'bottlenecks': shared})
    assert result['failed'] and "bottlenecks[0].name: mltbn exists and is a veth" in result['msg']
    assert [q['kind'] for q in qdiscs(shaper, 'mltb1')] == ['noqueue']


@pytest.mark.parametrize('shared, message', [
    ([{'name': 'mltbn', 'members': ['mltb1']}], 'bottlenecks[0].rate_mbit must be a number in (0, 34000]'),
    ([{'name': 'mltbn', 'rate_mbit': 10, 'members': ['eth9']}], 'bottlenecks[0].members: eth9 is not one of'),
    ([{'name': 'a' * 16, 'rate_mbit': 10}], 'bottlenecks[0].name must be an interface name'),
    ([{'name': 'b1', 'rate_mbit': 10, 'members': ['mltb1']}, {'name': 'b2', 'rate_mbit': 10, 'members': ['mltb1']}],
     'bottlenecks[1].members: mltb1 is already a member of b1'),
])
def test_bad_bottlenecks_fail_naming_the_field_and_change_nothing(netns_factory, shared, message):
    shaper = netns_factory()
    shaper.add_veth('mltb1')
    result = run_module(shaper, 'path_shaping', {'devices': [{'dev': 'mltb1', 'rate_mbit': 50}],
                                                 'bottlenecks': shared})
    assert result['failed'] and message in result['msg'], result['msg']
    assert [q['kind'] for q in qdiscs(shaper, 'mltb1')] == ['noqueue']


def test_a_clsact_another_filter_uses_stays_when_the_redirect_goes(netns_factory):
    shaper = netns_factory()
    shaper.add_veth('mltb1')
    devices = [{'dev': 'mltb1', 'rate_mbit': 50}]
    shared = [{'name': 'mltbn', 'rate_mbit': 80, 'members': ['mltb1']}]
    assert run_module(shaper, 'path_shaping', {'devices': devices, 'bottlenecks': shared})['changed']
    # somebody else's filter on the same clsact (its ingress)
    shaper.run('tc', 'filter', 'add', 'dev', 'mltb1', 'ingress', 'prio', '1', 'protocol', 'all', 'u32', 'match',
               'u32', '0', '0', 'classid', '1:1')
    shared[0]['members'] = []
    assert run_module(shaper, 'path_shaping', {'devices': devices, 'bottlenecks': shared})['changed']
    assert 'mirred' not in shaper.run('tc', 'filter', 'show', 'dev', 'mltb1', 'egress').stdout
    assert 'clsact' in [q['kind'] for q in qdiscs(shaper, 'mltb1')]
    assert 'pref 1 u32' in shaper.run('tc', 'filter', 'show', 'dev', 'mltb1', 'ingress').stdout
    assert not run_module(shaper, 'path_shaping', {'devices': devices, 'bottlenecks': shared})['changed']
