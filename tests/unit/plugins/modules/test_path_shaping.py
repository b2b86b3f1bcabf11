"""path_shaping: the wanted qdiscs and validation (pure logic)."""

import pytest

from ansible_collections.mptcp.lab.plugins.module_utils import lab_netlink as nl
from ansible_collections.mptcp.lab.plugins.modules import path_shaping as ps


def test_default_burst_is_two_frames_or_one_millisecond():
    assert ps.default_burst(1) == 2 * 1514
    assert ps.default_burst(50) == 6250
    assert ps.default_burst(1000) == 125000


def test_tbf_wanted_matches_the_kernel_units():
    want = ps.wanted({'dev': 'x', 'rate_mbit': 50}, 'tbf', None, None)
    assert want['root'] == {'kind': 'tbf', 'rate': 6250000, 'buffer': nl.psched_ticks(6250, 6250000),
                            'limit': 6250000 * 100 // 1000 + 6250}
    assert want['class'] is None and want['leaf'] is None
    custom = ps.wanted({'dev': 'x', 'rate_mbit': 10}, 'tbf', 3028, 5)
    assert custom['root']['limit'] == 1250000 * 5 // 1000 + 3028


def test_htb_wanted_has_a_class_and_a_pfifo_leaf_sized_from_queue_ms():
    want = ps.wanted({'dev': 'x', 'rate_mbit': 50}, 'htb', None, 20)
    assert want['root'] == {'kind': 'htb'}
    assert want['class']['rate'] == want['class']['ceil'] == 6250000
    assert want['leaf'] == {'kind': 'pfifo', 'limit': 83}   # 125000 bytes / 1514


def test_netem_leaf_when_delay_loss_or_queue_limit():
    want = ps.wanted({'dev': 'x', 'rate_mbit': 10, 'delay_ms': 10, 'loss_pct': 1}, 'tbf', None, None)
    assert want['leaf']['kind'] == 'netem'
    assert want['leaf']['limit'] == 1000
    assert want['leaf']['loss'] == nl.tc_common.percent2u32(1)
    assert ps.needs_netem({'queue_limit': 10}) and not ps.needs_netem({'rate_mbit': 1, 'delay_ms': None})


@pytest.mark.parametrize('devices, burst, queue, match', [
    ([{'dev': 'a', 'rate_mbit': 0}], None, None, r'devices\[0\].rate_mbit must be in'),
    ([{'dev': 'a', 'rate_mbit': 40000}], None, None, 'rate_mbit'),
    ([{'dev': 'a', 'rate_mbit': 1, 'loss_pct': 120, 'label': 'lab_paths[3]'}], None, None, r'lab_paths\[3\].loss_pct'),
    ([{'dev': 'a', 'rate_mbit': 1}, {'dev': 'a', 'rate_mbit': 2}], None, None, 'listed twice'),
    ([], 1000, None, 'burst_bytes must be at least 1514'),
    ([], None, 0, 'queue_ms'),
])
def test_validate(devices, burst, queue, match):
    for item in devices:
        for key in ('delay_ms', 'loss_pct', 'queue_limit', 'label'):
            item.setdefault(key, None)
    assert ps.validate(devices, burst, queue) is not None
    assert pytest.importorskip('re').search(match, ps.validate(devices, burst, queue))


def test_same_compares_every_level():
    want = ps.wanted({'dev': 'x', 'rate_mbit': 50}, 'tbf', None, None)
    current = {'root': dict(want['root']), 'class': None, 'leaf': None}
    assert ps.same(current, want)
    current['root']['rate'] += 1
    assert not ps.same(current, want)
    assert not ps.same({'root': None, 'class': None, 'leaf': None}, want)


def test_describe():
    want = ps.wanted({'dev': 'x', 'rate_mbit': 50}, 'tbf', None, None)
    assert ps.describe({'rate_mbit': 50}, want, 'tbf') == 'tbf rate 50.0Mbit burst 6250b latency 100.0ms'
    assert ps.describe_current({'root': None}) == 'default'
