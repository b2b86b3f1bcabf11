"""lab_netlink: the pure helpers (error texts, option decoding)."""

import pytest

from ansible_collections.mptcp.lab.plugins.module_utils.lab import lab_netlink as nl


def test_netlink_message_is_the_kernels_text():
    exceptions = pytest.importorskip('pyroute2.netlink.exceptions')
    assert nl.netlink_message(exceptions.NetlinkError(17)) == 'File exists'
    assert nl.netlink_message(exceptions.NetlinkError(2, 'No such file or directory')) == 'No such file or directory'
    assert nl.netlink_message(exceptions.NetlinkError(22, 'Specified qdisc kind is unknown')) == (
        'Specified qdisc kind is unknown (Invalid argument)')


def test_fifo_options_left_raw_by_pyroute2_are_decoded():
    assert nl._decode_options('bfifo', '28:23:00:00') == {'limit': 9000}
    assert nl._decode_options('pfifo', {'limit': 77}) == {'limit': 77}
    assert nl._decode_options('cake', '01:02') == {}
    assert nl._decode_options('tbf', None) == {}


def test_netem_delay_is_decoded_under_the_name_pyroute2_gives_it():
    # pyroute2 decodes struct tc_netem_qopt's latency as "delay" (psched ticks): read back, it must
    # equal what path_shaping wants, or a netem qdisc would be rebuilt on every run
    from ansible_collections.mptcp.lab.plugins.modules import path_shaping
    decoded = nl._decode_options('netem', {'delay': 625000, 'limit': 1000, 'loss': 0, 'gap': 0})
    assert decoded == {'latency': 625000, 'limit': 1000, 'loss': 0}
    wanted = path_shaping.wanted({'dev': 'x', 'rate_mbit': None, 'delay_ms': 40}, 'tbf', None, None)['root']
    assert dict(decoded, kind='netem') == wanted
