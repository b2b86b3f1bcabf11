"""What the lab_host role configures on a host: one meaning per variable, on the host or from the controller."""

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.mptcp.lab.plugins.filter import lab_host as filters
from ansible_collections.mptcp.lab.plugins.filter import lab_plan

GROUPS = {'generators': ['mlab-gen1', 'mlab-gen2'], 'sinks': ['mlab-sink1', 'mlab-sink2'], 'shapers': ['mlab-shaper']}
PATHS = [{'rate_mbit': 50}, {'rate_mbit': 50}]
PLAN = {'lab_paths': PATHS, 'lab_prefix': 'mlab', 'lab_address_base': '10.200.0.0/14', 'lab_subnet_prefix': 24,
        'lab_table_base': 100}
# the role's defaults, as the role sees them
DEFAULTS = {'lab_path_links': None, 'lab_host_rp_filter': 2, 'lab_host_rule_priority': 10000,
            'lab_host_route_protocol': 211, 'lab_host_mptcp': True, 'lab_host_is_sink': None,
            'lab_host_mptcp_settings': {}, 'lab_host_mptcp_limits': 'auto', 'lab_host_mptcp_endpoints': 'auto'}


def links(pair, side):
    return lab_plan.lab_path_links(PATHS, pair, side, prefix='mlab')


def values(**kwargs):
    out = dict(DEFAULTS)
    out.update(kwargs)
    return out


def test_filters_are_registered():
    assert set(filters.FilterModule().filters()) == {'lab_host_spec', 'lab_host_specs'}


def test_the_lab_policy_by_default():
    sink = filters.lab_host_spec(values(lab_path_links=links(1, 'sink')), 'mlab-sink1', GROUPS)
    assert sink['config'] == {
        'name': 'mlab-sink1', 'links': links(1, 'sink'), 'rp_filter': 2, 'rule_priority': 10000, 'protocol': 211,
        'mptcp_limits': {'subflows': 1, 'add_addr_accepted': 1},
        'mptcp_endpoints': [{'address': '10.200.1.2', 'id': 1, 'dev': 'mlab-p1', 'flags': ['signal']},
                            {'address': '10.200.3.2', 'id': 2, 'dev': 'mlab-p2', 'flags': ['signal']}]}
    assert sink['settings'] == {} and sink['netns'] is None
    gen = filters.lab_host_spec(values(lab_path_links=links(1, 'generator')), 'mlab-gen1', GROUPS)
    assert gen['config']['mptcp_endpoints'] == []
    assert gen['config']['mptcp_limits'] == {'subflows': 1, 'add_addr_accepted': 1}


def test_one_path_means_no_extra_subflow():
    one = lab_plan.lab_path_links(PATHS[:1], 1, 'generator', prefix='mlab')
    assert filters.lab_host_spec(values(lab_path_links=one), 'mlab-gen1', GROUPS)['config']['mptcp_limits'] == {
        'subflows': 0, 'add_addr_accepted': 0}


def test_explicit_values_and_what_leaves_mptcp_alone():
    spec = filters.lab_host_spec(values(lab_path_links=links(1, 'generator'), lab_host_is_sink=True,
                                        lab_host_mptcp_limits={}, lab_host_mptcp_endpoints=None,
                                        lab_host_mptcp_settings={'scheduler': 'default'}, lab_host_rp_filter=0),
                                 'mlab-gen1', GROUPS)
    # {} and null are passed on: lab_host_config leaves limits and endpoints alone
    assert spec['config']['mptcp_limits'] == {} and spec['config']['mptcp_endpoints'] is None
    assert spec['config']['rp_filter'] == 0 and spec['settings'] == {'scheduler': 'default'}
    # a generator declared a sink announces its addresses
    sink = filters.lab_host_spec(values(lab_path_links=links(1, 'generator'), lab_host_is_sink='yes'), 'mlab-gen1',
                                 GROUPS)
    assert [e['address'] for e in sink['config']['mptcp_endpoints']] == ['10.200.0.2', '10.200.2.2']
    off = filters.lab_host_spec(values(lab_path_links=links(1, 'sink'), lab_host_mptcp=False,
                                       lab_host_mptcp_settings={'scheduler': 'x'}), 'mlab-sink1', GROUPS)
    assert 'mptcp_limits' not in off['config'] and 'mptcp_endpoints' not in off['config'] and off['settings'] == {}


@pytest.mark.parametrize('override, message', [
    ({'lab_path_links': None}, 'mlab-gen1: lab_path_links is required'),
    ({'lab_path_links': []}, 'mlab-gen1: lab_path_links is required'),
    ({'lab_host_mptcp_limits': 'some'}, 'mlab-gen1: lab_host_mptcp_limits must be auto or a dict'),
    ({'lab_host_mptcp_endpoints': {'address': '10.0.0.1'}}, 'lab_host_mptcp_endpoints must be auto, null or a list'),
    ({'lab_host_is_sink': 'perhaps'}, 'mlab-gen1: lab_host_is_sink must be a boolean'),
    ({'lab_host_mptcp_settings': ['enabled']}, 'lab_host_mptcp_settings must be a dict'),
])
def test_bad_values_name_the_host_and_the_variable(override, message):
    given = values(lab_path_links=links(1, 'generator'))
    given.update(override)
    with pytest.raises(AnsibleFilterError, match=message):
        filters.lab_host_spec(given, 'mlab-gen1', GROUPS)


def test_the_virtual_lab_from_the_controller():
    hostvars = {
        'localhost': {'lab_host_rule_priority': 20000},
        'mlab-gen1': {'lab_pair': 1, 'lab_host_rule_priority': 20000},
        'mlab-gen2': {'lab_pair': '2', 'ansible_netns_name': 'mlab-g2'},
        'mlab-sink1': {'lab_pair': 1, 'lab_host_rp_filter': 1},   # its own value (host_vars, its group's vars)
        'mlab-sink2': {'lab_pair': 2, 'lab_path_links': [{'stale': True}]},
    }
    specs = filters.lab_host_specs(['mlab-gen1', 'mlab-gen2', 'mlab-sink1', 'mlab-sink2'],
                                   values(lab_host_rule_priority=20000), GROUPS, hostvars, PLAN)
    assert [s['netns'] for s in specs] == ['mlab-gen1', 'mlab-g2', 'mlab-sink1', 'mlab-sink2']
    assert [s['config']['netns'] for s in specs] == ['mlab-gen1', 'mlab-g2', 'mlab-sink1', 'mlab-sink2']
    # each host's links are the lab's plan for its pair and side (not a stale inventory value)
    assert specs[1]['config']['links'] == links(2, 'generator')
    assert specs[3]['config']['links'] == links(2, 'sink')
    # the lab's value, a host's own value where it has one
    assert [s['config']['rp_filter'] for s in specs] == [2, 2, 1, 2]
    assert [s['config']['rule_priority'] for s in specs] == [20000] * 4
    assert [len(s['config']['mptcp_endpoints']) for s in specs] == [0, 0, 2, 2]
    # the same host on the host itself and from the controller: the same configuration
    alone = filters.lab_host_spec(values(lab_path_links=links(1, 'sink'), lab_host_rp_filter=1,
                                         lab_host_rule_priority=20000), 'mlab-sink1', GROUPS)
    assert dict(specs[2]['config'], netns=None) == dict(alone['config'], netns=None)


def test_a_value_the_controller_also_has_is_the_lab_s():
    """-e and group_vars/all reach every host and the controller: the controller's view (with play vars) wins."""
    hostvars = {'localhost': {'lab_host_rp_filter': 1}, 'mlab-gen1': {'lab_pair': 1, 'lab_host_rp_filter': 1}}
    spec = filters.lab_host_specs(['mlab-gen1'], values(lab_host_rp_filter=0), GROUPS, hostvars, PLAN)[0]
    assert spec['config']['rp_filter'] == 0


@pytest.mark.parametrize('name, hostvars, message', [
    ('mlab-shaper', {'mlab-shaper': {}}, 'mlab-shaper is neither a generator nor a sink'),
    ('mlab-gen1', {'mlab-gen1': {}}, 'mlab-gen1: lab_pair is required'),
    ('mlab-gen1', {'mlab-gen1': {'lab_pair': 99}}, 'lab_pair'),
])
def test_bad_virtual_hosts(name, hostvars, message):
    with pytest.raises(AnsibleFilterError, match=message):
        filters.lab_host_specs([name], values(), GROUPS, hostvars, PLAN)
