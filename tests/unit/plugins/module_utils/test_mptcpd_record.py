"""mptcpd_record: which endpoints are mptcpd's, which are stale, the record (pure logic)."""

import json

from ansible_collections.mptcp.lab.plugins.module_utils.mptcp import mptcpd_record as mr


def ep(id_, address, *flags, **extra):
    return dict({'id': id_, 'address': address, 'flags': list(flags), 'dev': None, 'port': None}, **extra)


HOSTS_OWN = ep(1, '192.0.2.1', 'signal')          # the host's, before mptcpd
RECORD = {'before': [mr._plain(HOSTS_OWN)], 'flags': ['subflow'],
          'endpoints': [{'id': 2, 'address': '10.0.0.2', 'flags': ['subflow']}]}


def test_owned_is_the_record_and_what_appeared_with_mptcpds_flags():
    current = [HOSTS_OWN,
               ep(2, '10.0.0.2', 'subflow'),                 # recorded
               ep(3, '10.0.0.3', 'subflow'),                 # mptcpd's, added between two runs
               ep(4, '10.0.0.4', 'signal'),                  # someone else's (other flags)
               ep(5, '10.0.0.5', 'subflow', 'implicit'),     # the kernel's
               ep(6, '10.0.0.6', 'subflow', 'backup')]       # other flags again
    assert [e['id'] for e in mr.owned(current, RECORD)] == [2, 3]
    assert mr.owned(current, None) == []
    # the host's endpoint stays the host's even with mptcpd's flags
    assert mr.owned([ep(1, '192.0.2.1', 'subflow')], RECORD) == []
    # a recorded endpoint is mptcpd's whatever its flags now
    assert [e['id'] for e in mr.owned([ep(2, '10.0.0.2', 'signal')], RECORD)] == [2]
    # the same address under another id is another endpoint
    assert mr.owned([ep(9, '10.0.0.2', 'signal')], RECORD) == []


def test_stale_is_mptcpds_with_other_flags_only():
    current = [HOSTS_OWN, ep(2, '10.0.0.2', 'subflow'), ep(3, '10.0.0.3', 'subflow'), ep(4, '10.0.0.4', 'signal')]
    assert mr.stale_endpoints(current, RECORD, ['subflow']) == []
    assert mr.stale_endpoints(current, RECORD, ['signal', 'backup']) == [
        {'id': 2, 'address': '10.0.0.2'}, {'id': 3, 'address': '10.0.0.3'}]
    assert mr.stale_endpoints(current, None, ['signal']) == []
    with_port = dict(RECORD, endpoints=[{'id': 2, 'address': '10.0.0.2', 'port': 8080, 'flags': ['signal']}])
    assert mr.stale_endpoints([ep(2, '10.0.0.2', 'signal', port=8080)], with_port, ['subflow']) == [
        {'id': 2, 'address': '10.0.0.2', 'port': 8080}]
    assert mr.stale_endpoints([ep(2, '10.0.0.2', 'signal', port=8081)], with_port, ['subflow']) == []


def test_new_record_keeps_before_and_follows_mptcpd():
    before = [HOSTS_OWN, ep(7, '10.0.0.7', 'subflow', 'implicit')]
    after = before + [ep(2, '10.0.0.2', 'subflow'), ep(4, '10.0.0.4', 'signal')]
    first = mr.new_record(after, None, ['subflow'], before)
    assert first == {'saved_by': 'mptcp.lab.mptcpd', 'before': [mr._plain(HOSTS_OWN)], 'flags': ['subflow'],
                     'endpoints': [{'id': 2, 'address': '10.0.0.2', 'flags': ['subflow']}]}
    # a later run: 'before' stays the first one's, even though mptcpd's endpoints were there before it
    later = mr.new_record(after + [ep(3, '10.0.0.3', 'subflow')], first, ['subflow'], after)
    assert later['before'] == first['before']
    assert [e['id'] for e in later['endpoints']] == [2, 3]
    # new flags: the stale endpoints were removed, mptcpd announced again
    renewed = mr.new_record([HOSTS_OWN, ep(8, '10.0.0.2', 'backup', 'signal')], later, ['signal', 'backup'], after)
    assert renewed['flags'] == ['backup', 'signal']
    assert renewed['endpoints'] == [{'id': 8, 'address': '10.0.0.2', 'flags': ['backup', 'signal']}]


def test_parse_record():
    text = json.dumps(dict(RECORD, saved_by='mptcp.lab.mptcpd'))
    assert mr.parse_record(text) == RECORD
    assert mr.parse_record('') is None and mr.parse_record('{') is None
    assert mr.parse_record(json.dumps(dict(RECORD, saved_by='someone'))) is None
    assert mr.parse_record(json.dumps({'saved_by': 'mptcp.lab.mptcpd', 'endpoints': [{'x': 1}], 'flags': 'bad'})) == \
        {'before': [], 'endpoints': [], 'flags': []}
