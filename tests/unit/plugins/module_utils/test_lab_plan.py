"""The virtual lab's address and link plan (pure logic)."""

import ipaddress

import pytest

from ansible_collections.mptcp.lab.plugins.module_utils.lab import lab_plan as plan

PATHS2 = [{'rate_mbit': 50}, {'rate_mbit': 50}]
PATHS8 = [{'rate_mbit': 10}] * 8


def test_pair1_generator_and_sink_links_mirror_each_other():
    gen = plan.path_links(PATHS2, 1, 'generator')
    sink = plan.path_links(PATHS2, 1, 'sink')
    assert gen == [
        {'path': 1, 'dev': 'mlab-p1', 'address': '10.200.0.2', 'prefix': 24,
         'peer_address': '10.200.1.2', 'gateway': '10.200.0.1', 'table': 101},
        {'path': 2, 'dev': 'mlab-p2', 'address': '10.200.2.2', 'prefix': 24,
         'peer_address': '10.200.3.2', 'gateway': '10.200.2.1', 'table': 102},
    ]
    for g, s in zip(gen, sink):
        assert g['peer_address'] == s['address'] and s['peer_address'] == g['address']
        assert g['path'] == s['path'] and g['table'] == s['table']


def test_no_overlap_for_64_pairs_of_8_paths():
    subnets = []
    for pair in range(1, plan.max_pairs() + 1):
        for side in plan.SIDES:
            for link in plan.path_links(PATHS8, pair, side):
                net = ipaddress.IPv4Network('%s/%d' % (link['address'], link['prefix']), strict=False)
                assert ipaddress.IPv4Address(link['gateway']) in net
                subnets.append(net)
    assert plan.max_pairs() == 64
    assert len(subnets) == 64 * 2 * 8
    base = ipaddress.IPv4Network(plan.DEFAULT_ADDRESS_BASE)
    assert all(net.subnet_of(base) for net in subnets)
    ordered = sorted(subnets)
    assert all(not a.overlaps(b) for a, b in zip(ordered, ordered[1:]))


def test_adding_a_path_never_renumbers_existing_ones():
    two = plan.path_links(PATHS2, 3, 'generator')
    three = plan.path_links(PATHS2 + [{'rate_mbit': 5}], 3, 'generator')
    assert three[:2] == two


def test_pair_outside_the_base_is_refused_with_the_field_named():
    with pytest.raises(plan.PlanError, match=r'lab_pair must be an integer in \[1, 64\]'):
        plan.path_links(PATHS2, 65, 'generator')
    with pytest.raises(plan.PlanError, match=r'lab_pair must be an integer in \[1, 2\]'):
        plan.path_links(PATHS2, 3, 'sink', address_base='10.9.0.0/19')


@pytest.mark.parametrize('prefix', ['', 'Mlab', 'm-lab', '1lab', 'abcdefghijk', None])
def test_bad_prefix(prefix):
    with pytest.raises(plan.PlanError, match='lab_prefix'):
        plan.check_prefix(prefix)


@pytest.mark.parametrize('paths, match', [
    ([], 'non-empty'),
    ([{'rate_mbit': 10}] * 9, 'at most 8'),
    ([{'rate_mbit': 0}], r'lab_paths\[0\].rate_mbit must be a finite number in'),
    ([{'rate_mbit': 10}, {'rate_mbit': '10'}], r'lab_paths\[1\].rate_mbit'),
    ([{'rate_mbit': 10, 'loss_pct': 101}], r'lab_paths\[0\].loss_pct'),
    ([{'rate_mbit': 10, 'jitter_ms': 1}], r'lab_paths\[0\] has unknown keys jitter_ms'),
])
def test_bad_paths(paths, match):
    with pytest.raises(plan.PlanError, match=match):
        plan.check_paths(paths)


NAN, INF = float('nan'), float('inf')


@pytest.mark.parametrize('path, message', [
    ({'rate_mbit': NAN}, 'lab_paths[0].rate_mbit must be a finite number in [0.01, 34000] Mbit/s, got nan'),
    ({'rate_mbit': INF}, 'lab_paths[0].rate_mbit must be a finite number in [0.01, 34000] Mbit/s, got inf'),
    ({'rate_mbit': 1e-6}, 'lab_paths[0].rate_mbit must be a finite number in [0.01, 34000] Mbit/s, got 1e-06'),
    ({'rate_mbit': 1e9}, 'lab_paths[0].rate_mbit must be a finite number in [0.01, 34000] Mbit/s, got 1000000000.0'),
    ({'rate_mbit': '50'}, "lab_paths[0].rate_mbit must be a finite number in [0.01, 34000] Mbit/s, got the string '50'"),
    ({'rate_mbit': True}, 'lab_paths[0].rate_mbit must be a finite number'),
    ({'delay_ms': 5}, 'lab_paths[0].rate_mbit is required'),
    ({'rate_mbit': 10, 'delay_ms': NAN}, 'lab_paths[0].delay_ms must be a finite number in [0, 60000], got nan'),
    ({'rate_mbit': 10, 'delay_ms': -1}, 'lab_paths[0].delay_ms must be a finite number in [0, 60000], got -1'),
    ({'rate_mbit': 10, 'loss_pct': INF}, 'lab_paths[0].loss_pct must be a finite number in [0, 100], got inf'),
    ({'rate_mbit': 10, 'loss_pct': '1'}, "lab_paths[0].loss_pct must be a finite number in [0, 100], got the string '1'"),
    ({'rate_mbit': 10, 'queue_limit': 1.5}, 'lab_paths[0].queue_limit must be an integer in [1, 1048576], got 1.5'),
    ({'rate_mbit': 10, 'queue_limit': 0}, 'lab_paths[0].queue_limit must be an integer in [1, 1048576], got 0'),
    ({'rate_mbit': 10, 'queue_limit': NAN}, 'lab_paths[0].queue_limit must be an integer in [1, 1048576], got nan'),
    (50, 'lab_paths[0] must be a dict with rate_mbit'),
])
def test_path_numbers_are_finite_and_in_the_shapers_range(path, message):
    with pytest.raises(plan.PlanError) as err:
        plan.check_paths([path])
    assert str(err.value).startswith(message), str(err.value)


@pytest.mark.parametrize('path', [
    {'rate_mbit': 0.01}, {'rate_mbit': 34000}, {'rate_mbit': 50, 'delay_ms': 0, 'loss_pct': 100, 'queue_limit': 1},
    {'rate_mbit': 50, 'delay_ms': 60000, 'loss_pct': 0.5, 'queue_limit': 1048576}, {'rate_mbit': 50, 'queue_limit': 10.0},
])
def test_path_bounds_are_inclusive(path):
    assert plan.check_paths([path]) == [path]


def test_lab_knobs_report_every_bad_knob():
    assert plan.check_lab_knobs({'lab_prefix': 'mlab', 'lab_kind': 'vm', 'lab_paths': [{'rate_mbit': 50}],
                                 'lab_address_base': '10.200.0.0/14', 'lab_subnet_prefix': 24,
                                 'lab_table_base': 100}) == []
    errors = plan.check_lab_knobs({'lab_prefix': 'M', 'lab_kind': 'cloud', 'lab_paths': [{'rate_mbit': NAN}],
                                   'lab_subnet_prefix': '24', 'lab_table_base': 0})
    assert [e.split()[0] for e in errors] == ['lab_prefix', 'lab_kind', 'lab_paths[0].rate_mbit',
                                              'lab_subnet_prefix', 'lab_table_base']
    assert 'got the string \'24\'' in errors[3] and '{"lab_subnet_prefix": 24}' in errors[3]
    assert plan.check_lab_knobs({'lab_address_base': '10.0.0.300/14'})[0].startswith('lab_address_base')
    assert plan.check_lab_knobs({'lab_subnet_prefix': 31})[0].startswith('lab_subnet_prefix must be an integer')
    assert 'holds no pair' in plan.check_lab_knobs({'lab_address_base': '10.0.0.0/22'})[0]
    assert plan.check_lab_knobs({'lab_table_base': 1.5})[0].startswith('lab_table_base must be an integer')


def test_bare_metal_paths_may_state_line_rates():
    line_rates = [{'rate_mbit': 100000}, {'rate_mbit': 400000}]
    assert plan.check_lab_knobs({'lab_kind': 'bare_metal', 'lab_paths': line_rates}) == []
    assert 'in [0.01, 34000] Mbit/s' in plan.check_lab_knobs({'lab_kind': 'virtual', 'lab_paths': line_rates})[0]
    assert 'in [0.01, 1000000] Mbit/s, got 2000000' in plan.check_lab_knobs(
        {'lab_kind': 'bare_metal', 'lab_paths': [{'rate_mbit': 2e6}]})[0]


def test_interface_names_fit_ifnamsiz_for_the_longest_prefix():
    long = 'abcdefghij'
    assert len(plan.shaper_dev(long, 64, 8, 1)) <= plan.IFNAMSIZ
    with pytest.raises(plan.PlanError, match='longer than 15'):
        plan.shaper_dev(long, 100, 8, 1)


def test_shaper_links_and_devices_cover_both_sides_of_every_path():
    links = plan.shaper_links(PATHS2, [2, 1])
    assert [link['dev'] for link in links] == ['mlab-1g1', 'mlab-1s1', 'mlab-1g2', 'mlab-1s2',
                                               'mlab-2g1', 'mlab-2s1', 'mlab-2g2', 'mlab-2s2']
    assert links[0] == {'path': 1, 'dev': 'mlab-1g1', 'address': '10.200.0.1', 'prefix': 24}
    assert links[5]['address'] == '10.200.17.1'
    devices = plan.shaper_devices([{'rate_mbit': 50}, {'rate_mbit': 10, 'delay_ms': 5}], [1])
    assert devices[0] == {'dev': 'mlab-1g1', 'rate_mbit': 50, 'label': 'lab_paths[0]'}
    assert devices[3] == {'dev': 'mlab-1s2', 'rate_mbit': 10, 'delay_ms': 5, 'label': 'lab_paths[1]'}


def test_shaper_refuses_duplicate_pairs():
    with pytest.raises(plan.PlanError, match='lab_pair 1 is used by more than one'):
        plan.shaper_links(PATHS2, [1, 1])


def test_wiring():
    pairs = [{'pair': 2, 'generator': 'mlab-gen2', 'sink': 'mlab-sink2'},
             {'pair': 1, 'generator': 'mlab-gen1', 'sink': 'mlab-sink1'}]
    wiring = plan.wiring(pairs, 'mlab-shaper', 1)
    assert wiring['namespaces'] == ['mlab-shaper', 'mlab-gen1', 'mlab-sink1', 'mlab-gen2', 'mlab-sink2']
    assert wiring['links'] == [
        {'netns': 'mlab-shaper', 'name': 'mlab-1g1', 'peer_netns': 'mlab-gen1', 'peer_name': 'mlab-p1'},
        {'netns': 'mlab-shaper', 'name': 'mlab-1s1', 'peer_netns': 'mlab-sink1', 'peer_name': 'mlab-p1'},
        {'netns': 'mlab-shaper', 'name': 'mlab-2g1', 'peer_netns': 'mlab-gen2', 'peer_name': 'mlab-p1'},
        {'netns': 'mlab-shaper', 'name': 'mlab-2s1', 'peer_netns': 'mlab-sink2', 'peer_name': 'mlab-p1'},
    ]


@pytest.mark.parametrize('pairs, shaper, match', [
    ([{'pair': 1, 'generator': 'gen1', 'sink': 'mlab-sink1'}], 'mlab-shaper', 'must start with "mlab-"'),
    ([{'pair': 1, 'generator': 'mlab-x', 'sink': 'mlab-x'}], 'mlab-shaper', 'unique'),
    ([{'pair': 1, 'generator': 'mlab-g', 'sink': 'mlab-s'}, {'pair': 1, 'generator': 'mlab-g2', 'sink': 'mlab-s2'}],
     'mlab-shaper', 'lab_pair 1 is used by more than one'),
    ([{'pair': 0, 'generator': 'mlab-g', 'sink': 'mlab-s'}], 'mlab-shaper', 'lab_pair must be'),
])
def test_wiring_refuses(pairs, shaper, match):
    with pytest.raises(plan.PlanError, match=match):
        plan.wiring(pairs, shaper, 2)
