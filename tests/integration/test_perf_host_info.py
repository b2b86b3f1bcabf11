"""perf_host_info on the real kernel: what a run records about a shaper and an end host."""

import os

from conftest import run_module


def test_shaper_records_its_shaped_interfaces_offloads_and_kernel(netns):
    shaped = netns.add_veth('mlts0')
    plain = netns.add_veth('mlts1')
    netns.run('tc', 'qdisc', 'add', 'dev', shaped, 'root', 'handle', '1:', 'tbf',
              'rate', '50mbit', 'burst', '15k', 'latency', '1ms')
    result = run_module(netns, 'perf_host_info', {'qdiscs': True})
    assert result['rc'] == 0, result
    assert result['kernel'] == os.uname().release
    assert result['qdiscs'][shaped][0]['kind'] == 'tbf'
    assert plain not in result['qdiscs']
    # the offloads of what shapes, nothing else
    assert sorted(result['offloads']) == [shaped]
    assert result['offloads'][shaped]['tcp-segmentation-offload'].startswith(('on', 'off'))


def test_end_host_records_the_offloads_of_its_path_interfaces(netns):
    dev = netns.add_veth('mltp1')
    result = run_module(netns, 'perf_host_info', {'devs': [dev, 'nope0']})
    assert result['rc'] == 0, result
    assert sorted(result['offloads']) == [dev, 'nope0']
    assert 'generic-receive-offload' in result['offloads'][dev]
    assert 'error' in result['offloads']['nope0']
    assert 'qdiscs' not in result
    assert result['kernel'] == os.uname().release
