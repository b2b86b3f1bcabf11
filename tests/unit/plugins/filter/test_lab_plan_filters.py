"""Filters computing the lab plan from inventory data."""

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.mptcp.lab.plugins.filter import lab_plan as filters

GROUPS = {'generators': ['mlab-gen1', 'mlab-gen2'], 'sinks': ['mlab-sink1', 'mlab-sink2'], 'shapers': ['mlab-shaper']}
HOSTVARS = {
    'mlab-gen1': {'lab_pair': 1, 'lab_peer': 'mlab-sink1'},
    'mlab-gen2': {'lab_pair': '2', 'lab_peer': 'mlab-sink2', 'ansible_netns_name': 'mlab-g2'},
    'mlab-sink1': {'lab_pair': 1},
    'mlab-sink2': {'lab_pair': 2},
    'mlab-shaper': {},
}


def test_filters_are_registered():
    assert set(filters.FilterModule().filters()) == {
        'lab_path_links', 'lab_shaper_links', 'lab_shaper_devices', 'lab_shaper_bottlenecks', 'lab_pairs',
        'lab_wiring', 'lab_endpoints'}


def test_a_shared_bottleneck_takes_every_path_of_every_pair_one_ifb_per_direction():
    paths = [{'rate_mbit': 50}, {'rate_mbit': 50}]
    shared = filters.lab_shaper_bottlenecks(paths, [2, '1'], prefix='mlab', bottleneck={'rate_mbit': 100})
    assert shared == [
        {'name': 'mlab-bs', 'rate_mbit': 100, 'label': 'lab_bottleneck',
         'members': ['mlab-1s1', 'mlab-1s2', 'mlab-2s1', 'mlab-2s2']},
        {'name': 'mlab-bg', 'rate_mbit': 100, 'label': 'lab_bottleneck',
         'members': ['mlab-1g1', 'mlab-1g2', 'mlab-2g1', 'mlab-2g2']},
    ]
    # the members are the interfaces the shaper shapes, so path_shaping accepts them
    devices = set(d['dev'] for d in filters.lab_shaper_devices(paths, [1, 2]))
    assert set(shared[0]['members'] + shared[1]['members']) == devices


def test_without_a_bottleneck_both_ifbs_are_listed_with_no_members():
    for none in (None, {}):
        shared = filters.lab_shaper_bottlenecks([{'rate_mbit': 50}], [1], prefix='lab7', bottleneck=none)
        assert [(b['name'], b['members']) for b in shared] == [('lab7-bs', []), ('lab7-bg', [])]


@pytest.mark.parametrize('bad, message', [
    ({'rate_mbit': 0}, 'lab_bottleneck.rate_mbit must be a finite number in'),
    ({'rate_mbit': '100'}, 'lab_bottleneck.rate_mbit must be a finite number in'),
    ({'rate': 100}, 'lab_bottleneck must be null'),
    ([100], 'lab_bottleneck must be null'),
])
def test_a_bad_bottleneck_is_refused_naming_the_field(bad, message):
    with pytest.raises(AnsibleFilterError, match=message.replace('.', r'\.').replace('(', r'\(')):
        filters.lab_shaper_bottlenecks([{'rate_mbit': 50}], [1], bottleneck=bad)


def test_pairs_use_the_namespace_override_and_accept_string_numbers():
    assert filters.lab_pairs(GROUPS, HOSTVARS) == [
        {'pair': 1, 'generator': 'mlab-gen1', 'sink': 'mlab-sink1'},
        {'pair': 2, 'generator': 'mlab-g2', 'sink': 'mlab-sink2'},
    ]


def test_wiring_from_inventory():
    wiring = filters.lab_wiring(GROUPS, HOSTVARS, 2)
    assert wiring['namespaces'][0] == 'mlab-shaper'
    assert len(wiring['links']) == 2 * 2 * 2


def test_mismatched_pair_numbers_are_refused():
    hostvars = dict(HOSTVARS, **{'mlab-sink2': {'lab_pair': 3}})
    with pytest.raises(AnsibleFilterError, match='mlab-gen2 has lab_pair 2 but its lab_peer mlab-sink2 has lab_pair 3'):
        filters.lab_pairs(GROUPS, hostvars)


def test_peer_must_be_a_sink():
    hostvars = dict(HOSTVARS, **{'mlab-gen1': {'lab_pair': 1, 'lab_peer': 'mlab-shaper'}})
    with pytest.raises(AnsibleFilterError, match='lab_peer must name a host of the sinks group'):
        filters.lab_pairs(GROUPS, hostvars)


def test_exactly_one_shaper():
    with pytest.raises(AnsibleFilterError, match='exactly one host in the shapers group'):
        filters.lab_wiring(dict(GROUPS, shapers=[]), HOSTVARS, 2)


def test_path_links_errors_become_filter_errors():
    with pytest.raises(AnsibleFilterError, match='lab_paths'):
        filters.lab_path_links([], 1, 'generator')
    with pytest.raises(AnsibleFilterError, match='lab_pair must be an integer'):
        filters.lab_path_links([{'rate_mbit': 1}], 'one', 'generator')


def test_endpoints_of_a_sink():
    links = filters.lab_path_links([{'rate_mbit': 50}, {'rate_mbit': 50}], 1, 'sink')
    assert filters.lab_endpoints(links) == [
        {'address': '10.200.1.2', 'id': 1, 'dev': 'mlab-p1', 'flags': ['signal']},
        {'address': '10.200.3.2', 'id': 2, 'dev': 'mlab-p2', 'flags': ['signal']},
    ]
    assert filters.lab_endpoints(links, ['subflow'])[0]['flags'] == ['subflow']
    # a path announced as backup (suite key backup_paths), given as numbers or digits
    assert [e['flags'] for e in filters.lab_endpoints(links, ['signal'], [2])] == [['signal'], ['signal', 'backup']]
    assert [e['flags'] for e in filters.lab_endpoints(links, ['signal'], ['1'])] == [['signal', 'backup'], ['signal']]
    with pytest.raises(AnsibleFilterError, match='backup must be an integer'):
        filters.lab_endpoints(links, ['signal'], ['two'])
    with pytest.raises(AnsibleFilterError, match='needs path, dev and address'):
        filters.lab_endpoints([{'dev': 'x'}])
