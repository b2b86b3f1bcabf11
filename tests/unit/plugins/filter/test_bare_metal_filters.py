"""Filters of a bare-metal lab: the shaper's shaping from its stated links."""

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.mptcp.lab.plugins.filter.bare_metal import lab_link_devs, lab_path_shaping

LINKS = [
    {'path': 1, 'dev': 'enp2s0f0', 'address': '198.18.1.1', 'prefix': 24},
    {'path': 2, 'dev': 'enp2s0f1', 'address': '198.18.3.1', 'prefix': 24},
    {'path': 1, 'dev': 'enp2s0f2', 'address': '198.18.2.1', 'prefix': 24},
    {'path': 2, 'dev': 'enp2s0f3', 'address': '198.18.4.1', 'prefix': 24},
]


def test_each_link_gets_its_paths_shaping():
    paths = [{'rate_mbit': 100}, {'rate_mbit': 20, 'delay_ms': 10, 'loss_pct': None}]
    assert lab_path_shaping(LINKS, paths) == [
        {'dev': 'enp2s0f0', 'rate_mbit': 100, 'label': 'lab_paths[0]'},
        {'dev': 'enp2s0f1', 'rate_mbit': 20, 'delay_ms': 10, 'label': 'lab_paths[1]'},
        {'dev': 'enp2s0f2', 'rate_mbit': 100, 'label': 'lab_paths[0]'},
        {'dev': 'enp2s0f3', 'rate_mbit': 20, 'delay_ms': 10, 'label': 'lab_paths[1]'},
    ]
    assert lab_link_devs(LINKS + [LINKS[0]]) == ['enp2s0f0', 'enp2s0f1', 'enp2s0f2', 'enp2s0f3']


@pytest.mark.parametrize('links, paths, message', [
    (LINKS, [{'rate_mbit': 100}], 'lab_shaper_links[1].path must be a path number in [1, 1]'),
    ([{'dev': 'eth1'}], [{'rate_mbit': 100}], 'lab_shaper_links[0].path must be a path number'),
    ([{'path': 1}], [{'rate_mbit': 100}], 'lab_shaper_links[0] must be a dict with path and dev'),
    (LINKS, [{'rate_mbit': 0}, {'rate_mbit': 1}], 'lab_paths[0].rate_mbit must be a finite number in'),
])
def test_bad_input_names_the_field(links, paths, message):
    with pytest.raises(AnsibleFilterError) as err:
        lab_path_shaping(links, paths)
    assert message in str(err.value)
