"""Reading run records: identity, validity, normalization."""

import copy
import os
import sys

import pytest

from ansible_collections.mptcp.lab.plugins.module_utils.perf import perf_record
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_record import (
    RecordError, format_time, normalize, parse_time, per_path_medians, test_identity as identity_of,
    test_validity as validity_of, test_values as values_of)

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..', '..'))
import perf_fixtures  # noqa: E402  pylint: disable=wrong-import-position


def summary(**kwargs):
    return perf_fixtures.make_summary('20261125T080000Z', '2026-11-25T08:00:00Z', **kwargs)


def test_identity_ignores_number_spelling_and_unused_paths():
    s = summary()
    tcp = s['tests'][0]
    key, ident = identity_of(s, tcp)
    assert ident == {'name': 'tcp-1path-up', 'protocol': 'tcp', 'paths': 1, 'path_ids': [1],
                     'direction': 'upload', 'streams': 1,
                     'shaping': [{'rate_mbit': 50, 'queue_limit': 100}]}
    # path_ids [1] spelled out is the same test
    assert identity_of(s, dict(tcp, path_ids=[1]))[0] == key
    # the same test on path 2 is another test, even with the same shaping
    assert identity_of(s, dict(tcp, path_ids=[2]))[0] != key
    other = copy.deepcopy(s)
    other['lab_paths'] = [{'rate_mbit': 50.0, 'queue_limit': 100}, {'rate_mbit': 10}]
    # the TCP test uses path 1 only: path 2's shaping is not part of its identity
    assert identity_of(other, other['tests'][0])[0] == key
    # but the MPTCP test uses both
    assert identity_of(other, other['tests'][1])[0] != identity_of(s, s['tests'][1])[0]


@pytest.mark.parametrize('change', [
    {'streams': 4}, {'direction': 'download'}, {'protocol': 'mptcp'}, {'name': 'other'}, {'paths': 2},
    {'congestion': 'bbr'}, {'duration_s': 10}, {'omit_s': 2}])
def test_identity_changes_with_each_attribute(change):
    s = summary()
    test = dict(s['tests'][0])
    base = identity_of(s, test)[0]
    test.update(change)
    assert identity_of(s, test)[0] != base


def test_identity_traffic_settings_when_recorded():
    s = summary()
    test = dict(s['tests'][0])
    plain = identity_of(s, test)
    cubic = identity_of(s, dict(test, congestion='cubic', duration_s=30, omit_s=1))
    assert cubic[0] != plain[0]
    assert {k: cubic[1][k] for k in ('congestion', 'duration_s', 'omit_s')} == {
        'congestion': 'cubic', 'duration_s': 30, 'omit_s': 1}
    # a record without them (or with an empty congestion) keeps the plain identity
    assert identity_of(s, dict(test, congestion=None, duration_s=None))[0] == plain[0]
    assert identity_of(s, dict(test, congestion=''))[0] == plain[0]


def test_identity_shaping_sources():
    s = summary(with_lab_paths=False)
    test = s['tests'][0]
    assert identity_of(s, test)[1]['shaping'] is None
    # identity comes from the record alone: its lab_paths, never a caller's argument
    lab = dict(s, lab_paths=[{'rate_mbit': 20}])
    assert identity_of(lab, test)[1]['shaping'] == [{'rate_mbit': 20}]
    test = dict(test, shaping=[{'rate_mbit': 30, 'delay_ms': None}])
    # the test's own record wins over the lab's; None values are dropped
    assert identity_of(lab, test)[1]['shaping'] == [{'rate_mbit': 30}]


def test_validity_rules():
    s = summary(tests=[
        {'name': 'ok', 'protocol': 'mptcp', 'paths': 2, 'mbps': 90},
        {'name': 'failed-rep', 'protocol': 'tcp', 'paths': 1, 'mbps': 45, 'fail': [2]},
        {'name': 'fallback', 'protocol': 'mptcp', 'paths': 2, 'mbps': 45, 'fallback': [0]},
        {'name': 'runner-says-invalid', 'protocol': 'tcp', 'paths': 1, 'mbps': 45, 'verdict': 'invalid'},
        {'name': 'all-failed', 'protocol': 'tcp', 'paths': 1, 'mbps': 45, 'fail': [0, 1, 2, 3, 4]},
    ])
    results = [validity_of(t, values_of(t)) for t in s['tests']]
    assert results[0] == (True, '')
    assert results[1][0] is False and '1 of 5 repetitions failed' in results[1][1]
    assert 'connect timed out' in results[1][1]
    assert results[2][0] is False and 'fell back' in results[2][1]
    assert results[3] == (False, 'marked invalid by the perf runner')
    assert results[4][0] is False
    assert len(values_of(s['tests'][1])) == 4


def test_validity_is_stable_once_the_verdict_is_written():
    s = summary(tests=[{'name': 'failed-rep', 'protocol': 'tcp', 'paths': 1, 'mbps': 45, 'fail': [2]}])
    test = s['tests'][0]
    test['error'] = 'one repetition failed'
    first = validity_of(test, values_of(test))
    test['verdict'] = 'invalid'
    test['verdict_reason'] = first[1]
    assert validity_of(test, values_of(test)) == first


def test_normalize_is_deterministic_and_hashes_content():
    a = normalize(summary())
    b = normalize(summary())
    assert a['content_hash'] == b['content_hash']
    c = normalize(summary(seed=1))
    assert c['content_hash'] != a['content_hash']
    assert a['run']['kernel'] == '6.18.0-mlab'
    assert [r['identity']['name'] for r in a['results']] == ['tcp-1path-up', 'mptcp-2paths-up',
                                                             'mptcp-2paths-down']
    assert all(r['n'] == 5 and r['valid'] for r in a['results'])


def test_normalize_ignores_verdict_fields():
    s = summary()
    before = normalize(s)['content_hash']
    s['regressions'] = [{'test': 'x'}]
    s['tests'][1]['verdict'] = 'regression'
    s['tests'][1]['p_value'] = 0.001
    s['tests'][1]['baseline'] = {'median': 1}
    assert normalize(s)['content_hash'] == before


@pytest.mark.parametrize('field', ['run_id', 'started', 'tests'])
def test_normalize_names_missing_fields(field):
    s = summary()
    del s[field]
    with pytest.raises(RecordError, match=field):
        normalize(s)


def test_normalize_rejects_duplicate_identities():
    s = summary()
    s['tests'].append(copy.deepcopy(s['tests'][0]))
    with pytest.raises(RecordError, match='same identity'):
        normalize(s)


def test_per_path_medians():
    test = {'runs': [{'ok': True, 'per_path_mbps': [40, 50]}, {'ok': True, 'per_path_mbps': [42, 48]},
                     {'ok': False, 'per_path_mbps': [0, 0]}, {'ok': True, 'per_path_mbps': [44, 46]}]}
    assert per_path_medians(test) == [42.0, 48.0]


@pytest.mark.parametrize('text', ['2026-11-25T08:00:00Z', '2026-11-25T09:00:00+01:00',
                                  '2026-11-25T08:00:00', 1795593600, 1795593600.0])
def test_parse_time(text):
    assert parse_time(text) == 1795593600.0
    assert format_time(parse_time(text)) == '2026-11-25 08:00:00 +0000'


def test_parse_time_rejects_garbage():
    with pytest.raises(RecordError):
        parse_time('yesterday')


def test_identity_of_an_unshaped_path():
    """rate_mbit null (a test's shaping: none) is kept: unshaped is not the same as a rate nobody recorded."""
    s = summary(with_lab_paths=False)
    test = dict(s['tests'][0], shaping=[{'rate_mbit': None}])
    assert identity_of(s, test)[1]['shaping'] == [{'rate_mbit': None}]
    unknown = identity_of(s, dict(s['tests'][0], shaping=[{}]))
    assert unknown[1]['shaping'] == [{}] and unknown[0] != identity_of(s, test)[0]
    shaped = identity_of(dict(s, lab_paths=[{'rate_mbit': 50}]), s['tests'][0])
    assert shaped[0] != identity_of(s, test)[0]


def test_identity_of_a_test_with_its_own_sysctls():
    s = summary()
    plain = identity_of(s, s['tests'][0])
    csum = identity_of(s, dict(s['tests'][0], sysctls={'net.mptcp.checksum_enabled': '1'}))
    assert csum[0] != plain[0] and csum[1]['sysctls'] == {'net.mptcp.checksum_enabled': '1'}
    # white space as the kernel writes it does not make another test; none is the plain test
    rmem = identity_of(s, dict(s['tests'][0], sysctls={'net.ipv4.tcp_rmem': '4096 131072  6291456'}))
    assert rmem[0] == identity_of(s, dict(s['tests'][0], sysctls={'net.ipv4.tcp_rmem': '4096\t131072 6291456'}))[0]
    assert identity_of(s, dict(s['tests'][0], sysctls=None))[0] == plain[0]
    assert identity_of(s, dict(s['tests'][0], sysctls={}))[0] == plain[0]
    with pytest.raises(RecordError, match="sysctls must be an object"):
        identity_of(s, dict(s['tests'][0], sysctls='x'))


def test_identity_of_a_test_with_its_own_offloads_or_backup_paths():
    s = summary()
    plain = identity_of(s, s['tests'][0])
    nogso = identity_of(s, dict(s['tests'][0], offloads={'gso': False}))
    assert nogso[0] != plain[0] and nogso[1]['offloads'] == {'gso': False}
    backup = identity_of(s, dict(s['tests'][0], backup_paths=[2]))
    assert backup[0] not in (plain[0], nogso[0]) and backup[1]['backup_paths'] == [2]
    assert identity_of(s, dict(s['tests'][0], offloads=None, backup_paths=[]))[0] == plain[0]
    with pytest.raises(RecordError, match="offloads must be an object"):
        identity_of(s, dict(s['tests'][0], offloads=['gso']))
    with pytest.raises(RecordError, match="backup_paths must be a list"):
        identity_of(s, dict(s['tests'][0], backup_paths=2))


# ------------------------------------------------------------------ host metadata

def test_host_metadata_takes_the_kernel_from_the_mptcp_facts_and_keeps_the_cpu_figures_only():
    facts = {'kernel': '6.18.1', 'settings': {'enabled': '1'}, 'endpoints': [{'id': 1}],
             'limits': {'subflows': 2}, 'tools': {'iperf3': {'version': '3.12'}}}
    info = {'changed': False, 'kernel': 'ignored: the facts have it', 'offloads': {'p1': {'gso': True}},
            'sysctls': {'net.ipv4.tcp_congestion_control': 'cubic'}, 'cpu': {'model': 'x'}, 'cmdline': 'ro',
            'qdiscs': {}}
    tuning = {'changed': False, 'governor': 'performance', 'process_cpus': '0', 'irq_affinity': {},
              'invocation': {'module_args': {}}}
    meta = perf_record.host_metadata('generator', facts, info, [{'path': 1, 'dev': 'p1'}], None, tuning,
                                     None)
    assert meta == {
        'role': 'generator', 'kernel': '6.18.1', 'mptcp_settings': {'enabled': '1'},
        'endpoints': [{'id': 1}], 'limits': {'subflows': 2}, 'tools': {'iperf3': {'version': '3.12'}},
        'offloads': {'p1': {'gso': True}}, 'sysctls': {'net.ipv4.tcp_congestion_control': 'cubic'},
        'cpu': {'model': 'x'}, 'cmdline': 'ro', 'qdiscs': {}, 'path_links': [{'path': 1, 'dev': 'p1'}],
        'vm': None, 'cpu_tuning': {'governor': 'performance', 'process_cpus': '0', 'irq_affinity': {}},
        'traffic_sink': None}


def test_a_shaper_without_mptcp_facts_gets_its_kernel_from_the_host_info_and_empty_parts():
    meta = perf_record.host_metadata('shaper', None, {'kernel': '6.1.0', 'qdiscs': {'s1': ['tbf']}},
                                     None, None, {'skipped': True, 'changed': False}, None)
    assert meta['kernel'] == '6.1.0' and meta['qdiscs'] == {'s1': ['tbf']}
    assert meta['mptcp_settings'] == {} and meta['endpoints'] == [] and meta['limits'] is None
    assert meta['path_links'] == [] and meta['cpu_tuning'] == {}


def test_hosts_metadata_is_keyed_by_name_and_a_host_that_gathered_nothing_still_has_an_entry():
    out = perf_record.hosts_metadata([
        {'name': 'gen1', 'role': 'generator', 'mptcp': {'kernel': '6.18'}, 'info': None, 'path_links': None,
         'vm': None, 'cpu_tuning': None, 'traffic_sink': None},
        {'name': 'sink1', 'role': 'sink', 'mptcp': None, 'info': None, 'path_links': None,
         'vm': {'accel': 'tcg'}, 'cpu_tuning': None, 'traffic_sink': {'servers': []}},
    ])
    assert sorted(out) == ['gen1', 'sink1']
    assert out['gen1']['kernel'] == '6.18' and out['gen1']['role'] == 'generator'
    assert out['sink1']['kernel'] is None and out['sink1']['vm'] == {'accel': 'tcg'}
    assert out['sink1']['traffic_sink'] == {'servers': []}
