"""Pure logic of mptcp_endpoints: validation and the desired-vs-current plan."""

import pytest

from ansible_collections.mptcp.lab.plugins.module_utils.mptcp import mptcp_config
from ansible_collections.mptcp.lab.plugins.modules import mptcp_endpoints as m

ValidationError = m.ValidationError


def ep(address, id, flags=(), dev=None, port=None):
    return {'address': address, 'id': id, 'port': port, 'dev': dev, 'flags': list(flags)}


def plan(current, config, state, implicit='keep', **kwargs):
    entries = m.normalize_config(config, state, **kwargs)
    return m.compute(current, entries, state, implicit=implicit)


def kinds(actions):
    return [(a['action'], a['endpoint']['address']) for a in actions]


CURRENT = [
    ep('10.0.1.1', 1, ['subflow'], dev='eth0'),
    ep('10.0.2.1', 2, ['signal'], dev='eth1'),
    ep('fd00::1', 3, ['subflow', 'backup']),
]


# ------------------------------------------------------------ validation

@pytest.mark.parametrize('config, message', [
    ([{'address': '10.0.0.1', 'flags': ['signal', 'fullmesh']}],
     'config[0].flags: signal and fullmesh are mutually exclusive'),
    ([{'address': '10.0.0.1', 'port': 1000, 'flags': ['subflow']}],
     'config[0].port: a port needs the signal flag'),
    ([{'address': '10.0.0.1', 'port': 1000}],
     'config[0].port: a port needs the signal flag'),
    ([{'address': '10.0.0.1', 'port': 1000, 'flags': ['signal', 'subflow']}],
     'config[0].port: a port excludes the subflow flag'),
    ([{'address': '10.0.0.1', 'flags': ['implicit']}],
     'config[0].flags: implicit is set by the kernel only'),
    ([{'address': '10.0.0.1', 'flags': ['subflow']}, {'address': '10.0.0.2', 'flags': ['nobackup']}],
     "config[1].flags: unknown flag 'nobackup'"),
    ([{'address': '10.0.0.1', 'id': 0}], 'config[0].id: must be between 1 and 255 (got 0)'),
    ([{'address': '10.0.0.1', 'id': 256}], 'config[0].id: must be between 1 and 255 (got 256)'),
    ([{'address': '10.0.0.1', 'id': 7}, {'address': '10.0.0.2', 'id': 7}],
     'config[1].id: id 7 is also given to config[0]'),
    ([{'address': '10.0.0.1'}, {'address': '10.0.0.1', 'flags': ['signal']}],
     'config[1].address: 10.0.0.1 is listed twice (also config[0])'),
    ([{'address': 'fd00::0:1'}, {'address': 'fd00::1'}],
     'config[1].address: fd00::1 is listed twice'),
    ([{'address': '10.0.0.300'}], "config[0].address: '10.0.0.300' is not an IPv4 or IPv6 address"),
    ([{'address': '10.0.0.0/24'}], "config[0].address: '10.0.0.0/24' is not an IPv4 or IPv6 address"),
    ([{'address': 'fe80::1%eth0'}], "config[0].address: 'fe80::1%eth0' has a zone index"),
    ([{'flags': ['subflow']}], 'config[0].address: required'),
    ([{'address': '10.0.0.1', 'port': 0, 'flags': ['signal']}], 'config[0].port: must be between 1 and 65535'),
    ([{'address': '10.0.0.1', 'dev': 'nosuch0'}], "config[0].dev: no interface named 'nosuch0'"),
])
def test_bad_input_names_field_and_rule(config, message):
    with pytest.raises(ValidationError) as err:
        plan([], config, 'merged', dev_exists=lambda dev: dev != 'nosuch0')
    assert message in str(err.value)


def test_laminar_needs_new_kernel():
    config = [{'address': '10.0.0.1', 'flags': ['subflow', 'laminar']}]
    with pytest.raises(ValidationError, match=r'config\[0\]\.flags: laminar needs Linux 6\.18'):
        m.normalize_config(config, 'merged', laminar_ok=False)
    assert m.normalize_config(config, 'merged', laminar_ok=True)[0]['flags'] == ['subflow', 'laminar']


def test_same_address_on_two_ports_is_two_endpoints():
    config = [{'address': '10.0.0.1', 'port': 1000, 'flags': ['signal']},
              {'address': '10.0.0.1', 'port': 1001, 'flags': ['signal']},
              {'address': '10.0.0.1', 'flags': ['subflow']}]
    actions, after = plan([], config, 'merged')
    assert kinds(actions) == [('add', '10.0.0.1')] * 3
    assert sorted(e['port'] or 0 for e in after) == [0, 1000, 1001]


def test_more_than_eight_after_merge():
    current = [ep('10.0.0.%d' % i, i, ['subflow']) for i in range(1, 8)]
    config = [{'address': '10.0.1.1'}, {'address': '10.0.1.2'}]
    with pytest.raises(ValidationError, match='config: 9 endpoints after the change, the kernel allows at most 8'):
        plan(current, config, 'merged')
    # overridden frees room: 2 endpoints is fine
    actions, after = plan(current, config, 'overridden')
    assert len(after) == 2 and len([a for a in actions if a['action'] == 'delete']) == 7


def test_id_taken_by_endpoint_that_stays():
    with pytest.raises(ValidationError, match=r'config\[0\]\.id: id 2 is already used by endpoint 10\.0\.2\.1'):
        plan(CURRENT, [{'address': '10.0.9.9', 'id': 2}], 'merged')
    # the same with overridden is fine: 10.0.2.1 goes away first
    actions, after = plan(CURRENT, [{'address': '10.0.9.9', 'id': 2}], 'overridden')
    assert [e['id'] for e in after] == [2]


def test_id_given_to_existing_one_conflicts_with_kept_one():
    config = [{'address': '10.0.1.1', 'id': 3}]
    with pytest.raises(ValidationError, match=r'config\[0\]\.id: id 3 is already used by endpoint fd00::1'):
        plan(CURRENT, config, 'merged')


def test_signal_fullmesh_checked_on_merged_result():
    # merged keeps the current signal flag when flags are omitted: nothing to check
    actions, _after = plan(CURRENT, [{'address': '10.0.2.1', 'dev': 'eth1'}], 'merged')
    assert actions == []
    with pytest.raises(ValidationError, match='signal and fullmesh'):
        plan(CURRENT, [{'address': '10.0.2.1', 'flags': ['signal', 'fullmesh']}], 'merged')


def test_gathered_rejects_config():
    class Module:
        params = {'state': 'gathered', 'config': [{'address': '10.0.0.1'}]}
    with pytest.raises(ValidationError, match='config: must be empty with state=gathered'):
        m.run(Module())


# ------------------------------------------------------------- merged

def test_merged_noop_is_idempotent():
    config = [{'address': '10.0.1.1', 'flags': ['subflow'], 'dev': 'eth0'},
              {'address': 'FD00:0::1', 'flags': ['backup', 'subflow']}]
    actions, after = plan(CURRENT, config, 'merged')
    assert actions == []
    assert after == m.sort_endpoints(CURRENT)


def test_merged_backup_toggle_is_set_flags_keeping_id():
    actions, after = plan(CURRENT, [{'address': '10.0.1.1', 'flags': ['subflow', 'backup']}], 'merged')
    assert len(actions) == 1
    action = actions[0]
    assert action['action'] == 'set_flags'
    assert action['previous']['id'] == 1 and action['endpoint']['id'] == 1
    assert action['endpoint']['flags'] == ['subflow', 'backup']
    assert action['endpoint']['dev'] == 'eth0'  # merged keeps dev
    assert [e for e in after if e['address'] == '10.0.1.1'][0]['flags'] == ['subflow', 'backup']


def test_merged_fullmesh_off_is_set_flags():
    current = [ep('10.0.1.1', 4, ['subflow', 'fullmesh', 'backup'])]
    actions = plan(current, [{'address': '10.0.1.1', 'flags': ['subflow']}], 'merged')[0]
    assert kinds(actions) == [('set_flags', '10.0.1.1')]


@pytest.mark.parametrize('change', [
    {'flags': ['signal']},                 # subflow -> signal
    {'flags': ['subflow', 'laminar']},     # laminar is not changeable in place
    {'dev': 'eth9'},
    {'id': 9},
])
def test_merged_other_changes_are_replace(change):
    config = [dict({'address': '10.0.1.1'}, **change)]
    actions, after = plan(CURRENT, config, 'merged')
    assert kinds(actions) == [('replace', '10.0.1.1')]
    new = actions[0]['endpoint']
    assert new['id'] == change.get('id', 1)  # the id is kept unless a new one is given
    assert actions[0]['previous'] == CURRENT[0]


def test_merged_adds_new_with_kernel_id():
    actions, after = plan(CURRENT, [{'address': '10.0.3.1', 'flags': ['subflow']}], 'merged')
    assert kinds(actions) == [('add', '10.0.3.1')]
    assert actions[0]['endpoint']['id'] is None
    assert len(after) == 4 and after[-1]['address'] == '10.0.3.1' and after[-1]['id'] is None


def test_merged_omitted_flags_on_new_endpoint_means_none():
    actions = plan([], [{'address': '10.0.3.1'}], 'merged')[0]
    assert actions[0]['endpoint']['flags'] == []


# ------------------------------------------------------------ replaced

def test_replaced_resets_omitted_attributes():
    # dev omitted -> no dev: the endpoint is re-created, keeping id 1
    actions, after = plan(CURRENT, [{'address': '10.0.1.1', 'flags': ['subflow']}], 'replaced')
    assert kinds(actions) == [('replace', '10.0.1.1')]
    assert actions[0]['endpoint'] == ep('10.0.1.1', 1, ['subflow'])
    assert len(after) == 3  # others untouched


def test_replaced_backup_only_is_set_flags():
    config = [{'address': '10.0.1.1', 'dev': 'eth0', 'flags': ['subflow', 'backup']}]
    actions = plan(CURRENT, config, 'replaced')[0]
    assert kinds(actions) == [('set_flags', '10.0.1.1')]


def test_replaced_idempotent():
    config = [{'address': '10.0.2.1', 'dev': 'eth1', 'flags': ['signal']}]
    actions, after = plan(CURRENT, config, 'replaced')
    assert actions == [] and after == m.sort_endpoints(CURRENT)


# ---------------------------------------------------------- overridden

def test_overridden_removes_unlisted_first():
    config = [{'address': '10.0.1.1', 'dev': 'eth0', 'flags': ['subflow']},
              {'address': '10.0.4.1', 'flags': ['signal']}]
    actions, after = plan(CURRENT, config, 'overridden')
    assert kinds(actions) == [('delete', '10.0.2.1'), ('delete', 'fd00::1'), ('add', '10.0.4.1')]
    assert [e['address'] for e in after] == ['10.0.1.1', '10.0.4.1']


def test_overridden_id_swap_is_two_replaces():
    current = [ep('10.0.1.1', 1, ['subflow']), ep('10.0.2.1', 2, ['subflow'])]
    config = [{'address': '10.0.1.1', 'id': 2, 'flags': ['subflow']},
              {'address': '10.0.2.1', 'id': 1, 'flags': ['subflow']}]
    actions, after = plan(current, config, 'overridden')
    assert kinds(actions) == [('replace', '10.0.1.1'), ('replace', '10.0.2.1')]
    assert [(e['address'], e['id']) for e in after] == [('10.0.2.1', 1), ('10.0.1.1', 2)]


def test_overridden_empty_config_removes_all():
    actions, after = plan(CURRENT, [], 'overridden')
    assert [a['action'] for a in actions] == ['delete'] * 3 and after == []


IMPLICIT = ep('10.0.5.1', 4, ['implicit'])


def test_overridden_keeps_unlisted_implicit_by_default():
    current = CURRENT + [IMPLICIT]
    config = [dict(e, flags=e['flags']) for e in CURRENT]
    for kwargs in ({}, {'implicit': 'keep'}):
        actions, after = plan(current, config, 'overridden', **kwargs)
        assert actions == [] and after == m.sort_endpoints(current)  # still reported


def test_overridden_implicit_remove_deletes_unlisted_implicit():
    current = CURRENT + [IMPLICIT]
    config = [dict(e, flags=e['flags']) for e in CURRENT]
    actions, after = plan(current, config, 'overridden', implicit='remove')
    assert kinds(actions) == [('delete', '10.0.5.1')]
    assert after == m.sort_endpoints(CURRENT)


@pytest.mark.parametrize('implicit, left', [('keep', [IMPLICIT]), ('remove', [])])
def test_overridden_empty_config_and_implicit(implicit, left):
    actions, after = plan(CURRENT + [IMPLICIT], [], 'overridden', implicit=implicit)
    assert sorted(a['endpoint']['id'] for a in actions if a['action'] == 'delete') == (
        [1, 2, 3] if implicit == 'keep' else [1, 2, 3, 4])
    assert after == left


def test_overridden_cap_counts_kept_implicit():
    current = [ep('10.0.0.%d' % i, i, ['implicit']) for i in (1, 2)]
    config = [{'address': '10.0.1.%d' % i, 'flags': ['subflow']} for i in range(1, 8)]
    with pytest.raises(ValidationError, match=r'config: 9 endpoints after the change, the kernel allows at most 8 '
                                              r'\(2 of them implicit, kept with implicit=keep\)'):
        plan(current, config, 'overridden')
    actions, after = plan(current, config, 'overridden', implicit='remove')
    assert len(after) == 7 and [a['action'] for a in actions].count('delete') == 2
    # 6 listed + 2 kept is exactly the cap
    actions, after = plan(current, config[:6], 'overridden')
    assert len(after) == 8 and [a['action'] for a in actions] == ['add'] * 6


def test_overridden_id_of_kept_implicit_is_taken():
    with pytest.raises(ValidationError, match=r'config\[0\]\.id: id 4 is already used by endpoint 10\.0\.5\.1, '
                                              r'which stays \(an implicit endpoint, kept with implicit=keep\)'):
        plan(CURRENT + [IMPLICIT], [{'address': '10.0.9.9', 'id': 4}], 'overridden')
    after = plan(CURRENT + [IMPLICIT], [{'address': '10.0.9.9', 'id': 4}], 'overridden', implicit='remove')[1]
    assert [(e['address'], e['id']) for e in after] == [('10.0.9.9', 4)]


@pytest.mark.parametrize('state', ['merged', 'replaced'])
@pytest.mark.parametrize('implicit', ['keep', 'remove'])
def test_merged_and_replaced_never_remove_unlisted_implicit(state, implicit):
    actions, after = plan(CURRENT + [IMPLICIT], [{'address': '10.0.3.1', 'flags': ['subflow']}], state,
                          implicit=implicit)
    assert kinds(actions) == [('add', '10.0.3.1')]
    assert IMPLICIT in after


# ------------------------------------------------------------- deleted

def test_deleted_by_address_and_port():
    current = CURRENT + [ep('10.0.2.1', 5, ['signal'], port=8080)]
    actions, after = plan(current, [{'address': '10.0.2.1', 'port': 8080}], 'deleted')
    assert [(a['endpoint']['address'], a['endpoint']['id']) for a in actions] == [('10.0.2.1', 5)]
    # without a port every endpoint on the address goes
    actions, after = plan(current, [{'address': '10.0.2.1'}], 'deleted')
    assert sorted(a['endpoint']['id'] for a in actions) == [2, 5]
    assert [e['id'] for e in after] == [1, 3]


def test_deleted_by_id_alone():
    actions = plan(CURRENT, [{'id': 3}], 'deleted')[0]
    assert kinds(actions) == [('delete', 'fd00::1')]


def test_deleted_needs_address_or_id():
    with pytest.raises(ValidationError, match=r'config\[0\]: give an address or an id'):
        plan(CURRENT, [{'flags': ['signal']}], 'deleted')


def test_deleted_absent_is_noop_and_empty_removes_all():
    actions, after = plan(CURRENT, [{'address': '10.9.9.9'}], 'deleted')
    assert actions == [] and len(after) == 3
    actions, after = plan(CURRENT, [], 'deleted')
    assert len(actions) == 3 and after == []


@pytest.mark.parametrize('implicit, left', [('keep', [IMPLICIT]), ('remove', [])])
def test_deleted_without_config_and_implicit(implicit, left):
    actions, after = plan(CURRENT + [IMPLICIT], [], 'deleted', implicit=implicit)
    assert sorted(a['endpoint']['id'] for a in actions) == ([1, 2, 3] if implicit == 'keep' else [1, 2, 3, 4])
    assert after == left
    # only implicit ones left: keep has nothing to do
    assert plan([IMPLICIT], [], 'deleted')[0] == []


@pytest.mark.parametrize('implicit', ['keep', 'remove'])
def test_deleted_listed_implicit_goes_with_either_choice(implicit):
    actions, after = plan(CURRENT + [IMPLICIT], [{'address': '10.0.5.1'}], 'deleted', implicit=implicit)
    assert kinds(actions) == [('delete', '10.0.5.1')] and after == m.sort_endpoints(CURRENT)


def test_deleted_ignores_missing_dev():
    actions = plan(CURRENT, [{'address': '10.0.1.1', 'dev': 'gone0'}], 'deleted', dev_exists=lambda d: False)[0]
    assert kinds(actions) == [('delete', '10.0.1.1')]


# ------------------------------------------------------------ gathered

def test_gathered_returns_current_unchanged():
    actions, after = plan(list(reversed(CURRENT)), [], 'gathered')
    assert actions == [] and after == m.sort_endpoints(CURRENT)


def test_gathered_reports_implicit():
    actions, after = plan([IMPLICIT] + CURRENT, [], 'gathered')
    assert actions == [] and after == m.sort_endpoints(CURRENT + [IMPLICIT])


# ---------------------------------------------------------- apply order

class FakePM:
    def __init__(self):
        self.calls = []

    def delete_endpoint(self, id):
        self.calls.append(('delete', id))

    def set_flags(self, id, flags):
        self.calls.append(('set_flags', id, tuple(flags)))

    def add_endpoint(self, address, id=None, port=None, flags=(), dev=None):
        self.calls.append(('add', address, id))


def test_apply_deletes_then_changes_then_adds():
    current = [ep('10.0.1.1', 1, ['subflow']), ep('10.0.2.1', 2, ['subflow']), ep('10.0.3.1', 3, ['subflow'])]
    config = [{'address': '10.0.1.1', 'id': 2, 'flags': ['subflow']},
              {'address': '10.0.2.1', 'id': 1, 'flags': ['subflow']},
              {'address': '10.0.4.1', 'flags': ['signal']}]
    actions = plan(current, config, 'overridden')[0]
    pm = FakePM()
    mptcp_config.apply_actions(pm, actions)
    assert pm.calls == [('delete', 3), ('delete', 1), ('delete', 2),
                        ('add', '10.0.1.1', 2), ('add', '10.0.2.1', 1), ('add', '10.0.4.1', None)]


@pytest.mark.parametrize('state', ['merged', 'replaced', 'overridden'])
def test_gathered_output_round_trips_as_config(state):
    gathered = plan(CURRENT, [], 'gathered')[1]
    actions, after = plan(CURRENT, gathered, state)
    assert actions == [] and after == gathered


def test_deleted_accepts_gathered_entries_even_implicit():
    current = CURRENT + [ep('10.0.5.1', 4, ['implicit'])]
    gathered = plan(current, [], 'gathered')[1]
    actions, after = plan(current, [gathered[0], gathered[3]], 'deleted')
    assert kinds(actions) == [('delete', '10.0.1.1'), ('delete', '10.0.5.1')]
    assert [e['id'] for e in after] == [2, 3]


@pytest.mark.parametrize('implicit', ['keep', 'remove'])
@pytest.mark.parametrize('state', ['merged', 'replaced', 'overridden'])
def test_listing_an_implicit_endpoint_makes_it_ordinary(state, implicit):
    current = [ep('10.0.5.1', 4, ['implicit'], dev='eth1')]
    actions, after = plan(current, [{'address': '10.0.5.1', 'dev': 'eth1'}], state, implicit=implicit)
    assert kinds(actions) == [('replace', '10.0.5.1')]
    assert actions[0]['endpoint'] == ep('10.0.5.1', 4, [], dev='eth1')
    assert after == [ep('10.0.5.1', 4, [], dev='eth1')]


# --------------------------------------------------- run: flush or not

class FakeNetlink(FakePM):
    """Stands in for the kernel in run(): a list of endpoints and a call log."""

    def __init__(self, current):
        FakePM.__init__(self)
        self.current = [dict(e) for e in current]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def endpoints(self):
        return [dict(e) for e in self.current]

    def delete_endpoint(self, id):
        FakePM.delete_endpoint(self, id)
        self.current = [e for e in self.current if e['id'] != id]

    def flush_endpoints(self):
        self.calls.append(('flush',))
        self.current = []


class FakeModule:
    check_mode = False
    _diff = False

    def __init__(self, **params):
        self.params = dict({'config': None, 'implicit': 'keep'}, **params)


@pytest.mark.parametrize('current, implicit, calls, left', [
    (CURRENT + [IMPLICIT], 'keep', [('delete', 1), ('delete', 2), ('delete', 3)], [IMPLICIT]),
    (CURRENT + [IMPLICIT], 'remove', [('flush',)], []),
    (CURRENT, 'keep', [('flush',)], []),  # nothing to keep: a flush, which resets the kernel's numbering
])
def test_run_deleted_without_config_flushes_only_when_nothing_is_kept(monkeypatch, current, implicit, calls, left):
    kernel = FakeNetlink(current)
    monkeypatch.setattr(m.nl, 'MptcpNetlink', lambda: kernel)
    result = m.run(FakeModule(state='deleted', implicit=implicit))
    assert kernel.calls == calls
    assert result['changed'] is True and result['after'] == left
    assert result['before'] == m.sort_endpoints(current)


def test_run_overridden_keeps_implicit_and_is_unchanged(monkeypatch):
    kernel = FakeNetlink([IMPLICIT])
    monkeypatch.setattr(m.nl, 'MptcpNetlink', lambda: kernel)
    result = m.run(FakeModule(state='overridden', config=[]))
    assert result['changed'] is False and kernel.calls == []
    assert result['before'] == result['after'] == [IMPLICIT]


def test_restore_keeps_implicit_endpoints_made_meanwhile():
    kernel = FakeNetlink([ep('10.0.1.1', 1, ['subflow']), IMPLICIT])
    assert mptcp_config.restore(kernel, [ep('10.0.1.1', 1, ['subflow'])]) is True
    assert kernel.calls == []
