"""Suite validation, expansion and planning (mptcp.lab perf_suite)."""

import pytest

from ansible_collections.mptcp.lab.plugins.module_utils import perf_suite as ps
from ansible_collections.mptcp.lab.plugins.module_utils.perf_suite import SuiteError


def suite(*tests, **top):
    data = {'name': 'x', 'tests': list(tests)}
    data.update(top)
    return data


def test_defaults_fill_every_field():
    s = ps.validate_suite(suite({'name': 'a'}), 2)
    assert s['tests'] == [{'name': 'a', 'protocol': 'mptcp', 'direction': 'upload', 'streams': 1,
                           'congestion': None, 'duration_s': 20, 'omit_s': 1, 'repetitions': 3, 'path_ids': [1, 2],
                           'paths': 2}]


def test_suite_defaults_and_overrides():
    s = ps.validate_suite(suite({'name': 'a', 'repetitions': 5}, {'name': 'b'},
                                defaults={'duration_s': 7, 'repetitions': 2, 'streams': 4}), 2,
                          duration_s='9', repetitions=None)
    a, b = s['tests']
    assert (a['duration_s'], a['repetitions'], a['streams']) == (9, 5, 4)
    assert (b['duration_s'], b['repetitions']) == (9, 2)
    s = ps.validate_suite(suite({'name': 'a', 'repetitions': 5}), 2, repetitions=1)
    assert s['tests'][0]['repetitions'] == 1


@pytest.mark.parametrize('value, ids', [
    (1, [1]), (2, [1, 2]), ('all', [1, 2, 3]), ([3, 1], [1, 3]), ([2], [2]), (2.0, [1, 2]),
])
def test_paths_forms(value, ids):
    t = ps.validate_suite(suite({'name': 'a', 'paths': value}), 3)['tests'][0]
    assert t['path_ids'] == ids and t['paths'] == len(ids)


@pytest.mark.parametrize('test, path_count, message', [
    ({'name': 'mptcp-up', 'paths': 3}, 2,
     "tests[0] 'mptcp-up': paths must be 1..2 (the lab has 2 paths), \"all\", or a list of path numbers, got 3"),
    ({'name': 'a', 'paths': [1, 5]}, 2, "tests[0] 'a': paths lists path numbers 1..2 (the lab has 2 paths), got 5"),
    ({'name': 'a', 'paths': [1, 1]}, 2, "tests[0] 'a': paths lists path 1 twice"),
    ({'name': 'a', 'paths': []}, 2, "tests[0] 'a': paths must not be an empty list"),
    ({'name': 't', 'protocol': 'tcp', 'paths': 'all'}, 2,
     "tests[0] 't': paths must select exactly one path for protocol tcp"),
    ({'name': 'a', 'protocol': 'quic'}, 2, "tests[0] 'a': protocol must be one of tcp, mptcp, got 'quic'"),
    ({'name': 'a', 'direction': 'up'}, 2, "tests[0] 'a': direction must be one of upload, download, bidir"),
    ({'name': 'a', 'streams': 0}, 2, "tests[0] 'a': streams must be an integer 1..128, got 0"),
    ({'name': 'a', 'duration_s': 2.5}, 2, "tests[0] 'a': duration_s must be an integer"),
    ({'name': 'a', 'repetitions': True}, 2, "tests[0] 'a': repetitions must be an integer"),
    ({'name': 'a', 'omit_s': -1}, 2, "tests[0] 'a': omit_s must be an integer 0..86400, got -1"),
    ({'name': 'a', 'congestion': 'Cubic; rm'}, 2, "tests[0] 'a': congestion must be a TCP congestion control name"),
    ({'name': 'a', 'speed': 1}, 2, "tests[0] 'a': unknown field(s) speed; allowed:"),
    ({'name': 'a b'}, 2, "tests[0] 'a b': name is required: 1-64 letters"),
    ({'protocol': 'tcp'}, 2, 'tests[0]: name is required'),
])
def test_errors_name_test_and_field(test, path_count, message):
    with pytest.raises(SuiteError) as e:
        ps.validate_suite(suite(test), path_count)
    assert str(e.value).startswith(message), str(e.value)


def test_errors_elsewhere():
    with pytest.raises(SuiteError, match=r"^tests\[1\] 'a': name 'a' is used twice \(also by tests\[0\]\)"):
        ps.validate_suite(suite({'name': 'a'}, {'name': 'a'}), 2)
    with pytest.raises(SuiteError, match='^suite: tests must be a non-empty list'):
        ps.validate_suite({'name': 'x', 'tests': []}, 2)
    with pytest.raises(SuiteError, match='^suite: unknown field'):
        ps.validate_suite(suite({'name': 'a'}, test=1), 2)
    with pytest.raises(SuiteError, match='^defaults: streams must be an integer'):
        ps.validate_suite(suite({'name': 'a'}, defaults={'streams': 'many'}), 2)
    with pytest.raises(SuiteError, match='^defaults: unknown field'):
        ps.validate_suite(suite({'name': 'a'}, defaults={'name': 'z'}), 2)
    with pytest.raises(SuiteError, match='^perf_duration_s: value must be an integer 1..'):
        ps.validate_suite(suite({'name': 'a'}), 2, duration_s='ten')
    with pytest.raises(SuiteError, match='^perf_repetitions: value must be an integer 1..'):
        ps.validate_suite(suite({'name': 'a'}), 2, repetitions=0)
    with pytest.raises(SuiteError, match='^suite: must be a mapping'):
        ps.validate_suite(['x'], 2)


def test_matrix_expands_with_names():
    s = ps.validate_suite(suite({'name': 'm', 'matrix': {'direction': ['upload', 'download'],
                                                         'streams': [1, 4]}}), 2)
    names = [t['name'] for t in s['tests']]
    assert names == ['m-upload-P1', 'm-upload-P4', 'm-download-P1', 'm-download-P4']
    cc = ps.validate_suite(suite({'name': 'cc', 'matrix': {'congestion': ['cubic', 'bbr']}}), 2)
    assert [(t['name'], t['congestion']) for t in cc['tests']] == [('cc-cubic', 'cubic'), ('cc-bbr', 'bbr')]
    assert s['tests'][3]['direction'] == 'download' and s['tests'][3]['streams'] == 4
    with pytest.raises(SuiteError, match=r"^tests\[0\] 'm': direction is given both"):
        ps.validate_suite(suite({'name': 'm', 'direction': 'upload', 'matrix': {'direction': ['bidir']}}), 2)
    with pytest.raises(SuiteError, match=r"^tests\[0\] 'm': matrix.duration_s is not allowed"):
        ps.validate_suite(suite({'name': 'm', 'matrix': {'duration_s': [1]}}), 2)


def test_matrix_over_path_lists_gets_valid_names():
    s = ps.validate_suite(suite({'name': 'm', 'matrix': {'paths': [[1], [2], [1, 3], 'all', 2]}}), 3)
    assert [(t['name'], t['path_ids']) for t in s['tests']] == [
        ('m-paths1', [1]), ('m-paths2', [2]), ('m-paths1_3', [1, 3]), ('m-allpaths', [1, 2, 3]),
        ('m-2paths', [1, 2])]
    tcp = ps.validate_suite(suite({'name': 't', 'protocol': 'tcp', 'matrix': {'paths': [[1], [2]]}}), 2)
    assert [t['name'] for t in tcp['tests']] == ['t-paths1', 't-paths2']


@pytest.mark.parametrize('test, message', [
    ({'matrix': {'direction': ['upload', 'download']}}, 'tests[0]: name is required for a matrix test'),
    ({'name': 5, 'matrix': {'direction': ['upload']}}, 'tests[0]: name is required for a matrix test'),
    ({'name': 'm', 'matrix': {'streams': [{'a': 1}]}}, "tests[0] 'm': matrix.streams must list single values"),
    ({'name': 'm', 'matrix': {'direction': [['upload']]}}, "tests[0] 'm': matrix.direction must list single values"),
    ({'name': 'm', 'matrix': {'streams': ['2']}}, "tests[0] 'm-2': streams must be an integer 1..128, got '2'"),
    ({'name': 'm', 'matrix': {'paths': [[1, 9]]}}, "tests[0] 'm-paths1_9': paths lists path numbers 1..2"),
    ({'name': 'm', 'matrix': {'paths': ['2']}}, "tests[0] 'm-2paths': paths must be 1..2"),
    ({'name': 'n' * 60, 'matrix': {'direction': ['download']}}, 'tests[0] ' + repr('n' * 60 + '-download')
     + ': the name the matrix generates must be 1-64'),
])
def test_matrix_errors(test, message):
    with pytest.raises(SuiteError) as e:
        ps.validate_suite(suite(test), 2)
    assert str(e.value).startswith(message), str(e.value)


NAN, INF = float('nan'), float('inf')


@pytest.mark.parametrize('field, value', [
    ('duration_s', NAN), ('duration_s', INF), ('duration_s', '20'), ('duration_s', 1e9), ('omit_s', -INF),
    ('repetitions', NAN), ('repetitions', '3'), ('streams', INF), ('streams', '2'), ('paths', NAN),
    ('paths', INF), ('paths', '2'), ('paths', [1.5]),
])
def test_numeric_fields_refuse_nan_inf_and_strings(field, value):
    with pytest.raises(SuiteError) as e:
        ps.validate_suite(suite({'name': 'a', field: value}), 2)
    assert str(e.value).startswith("tests[0] 'a': %s" % field), str(e.value)
    with pytest.raises(SuiteError) as e:
        ps.validate_suite(suite({'name': 'a'}, defaults={field: value}), 2)
    assert str(e.value).startswith('defaults: %s' % field), str(e.value)


@pytest.mark.parametrize('override', [NAN, INF, 'inf', '1e3', '-1', 2.5, True])
def test_overrides_refuse_nan_inf_and_words(override):
    with pytest.raises(SuiteError, match='^perf_duration_s: value must be an integer 1..86400'):
        ps.validate_suite(suite({'name': 'a'}), 2, duration_s=override)
    with pytest.raises(SuiteError, match='^perf_repetitions: value must be an integer 1..1000'):
        ps.validate_suite(suite({'name': 'a'}), 2, repetitions=override)


def test_expected_mbps():
    lab = [{'rate_mbit': 50}, {'rate_mbit': 50}, {'rate_mbit': 10}]
    t = {'path_ids': [1, 2], 'direction': 'upload'}
    assert ps.expected_mbps(t, lab) == pytest.approx(95.64, abs=0.01)
    assert ps.expected_mbps({'path_ids': [3], 'direction': 'download'}, lab) == pytest.approx(9.564, abs=0.001)
    assert ps.expected_mbps({'path_ids': [1], 'direction': 'bidir'}, lab) == pytest.approx(95.64, abs=0.01)
    assert ps.expected_mbps(t, [{'rate_mbit': 50}]) is None          # unknown rate
    assert ps.expected_mbps(t, []) is None


def test_plan_interleaves_rounds():
    s = ps.validate_suite(suite({'name': 'A', 'repetitions': 3}, {'name': 'B', 'repetitions': 2},
                                {'name': 'C', 'repetitions': 3}), 2)
    items = ps.plan(s)
    assert [(i['test'], i['rep']) for i in items] == [
        ('A', 1), ('B', 1), ('C', 1), ('A', 2), ('B', 2), ('C', 2), ('A', 3), ('C', 3)]
    assert [i['k'] for i in items] == list(range(1, 9)) and all(i['n'] == 8 for i in items)
    assert items[3]['label'] == '[4/8] A rep 2/3'
    assert items[0]['planned_s'] == 21


def test_segments_only_where_the_mptcp_path_set_changes():
    s = ps.validate_suite(suite({'name': 'tcp', 'protocol': 'tcp', 'paths': 1},
                                {'name': 'all', 'paths': 'all'}), 3)
    segs = ps.segments(ps.plan(s), 3)
    assert len(segs) == 1 and segs[0]['mptcp_path_ids'] == [1, 2, 3] and len(segs[0]['items']) == 6

    s = ps.validate_suite(suite({'name': 'tcp', 'protocol': 'tcp', 'paths': 1},
                                {'name': 'two', 'paths': 2}, {'name': 'all'},
                                defaults={'repetitions': 2}), 3)
    segs = ps.segments(ps.plan(s), 3)
    assert [(seg['mptcp_path_ids'], [i['test'] for i in seg['items']]) for seg in segs] == [
        # TCP does not care which paths MPTCP announces: it rides along
        ([1, 2], ['tcp', 'two']), ([1, 2, 3], ['all', 'tcp']), ([1, 2], ['two']), ([1, 2, 3], ['all'])]
    assert [seg['index'] for seg in segs] == [1, 2, 3, 4]

    only_tcp = ps.validate_suite(suite({'name': 't', 'protocol': 'tcp', 'paths': 1}), 2)
    segs = ps.segments(ps.plan(only_tcp), 2)
    assert len(segs) == 1 and segs[0]['mptcp_path_ids'] == [1, 2]


def test_shipped_suites_are_valid():
    import os
    import yaml
    root = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'roles', 'perf_suite', 'files', 'suites')
    with open(os.path.join(root, 'default.yml')) as f:
        default = ps.validate_suite(yaml.safe_load(f), 2)
    assert [t['name'] for t in default['tests']] == ['tcp-upload', 'tcp-download', 'mptcp-upload', 'mptcp-download']
    assert all(t['repetitions'] == 3 and t['congestion'] == 'cubic' for t in default['tests'])
    assert [t['paths'] for t in default['tests']] == [1, 1, 2, 2]
    with open(os.path.join(root, 'smoke.yml')) as f:
        smoke = ps.validate_suite(yaml.safe_load(f), 2)
    assert {t['protocol'] for t in smoke['tests']} == {'tcp', 'mptcp'}


def test_attach_links_gives_each_item_its_addresses():
    links = [{'path': 1, 'dev': 'p1', 'address': '10.0.0.2', 'peer_address': '10.0.1.2'},
             {'path': 2, 'dev': 'p2', 'address': '10.0.2.2', 'peer_address': '10.0.3.2'}]
    s = ps.validate_suite(suite({'name': 't', 'protocol': 'tcp', 'paths': [2]}, {'name': 'm'}), 2)
    items = ps.attach_links(ps.plan(s), links)
    tcp, mptcp = items[0], items[1]
    assert (tcp['bind'], tcp['server'], tcp['links']) == ('10.0.2.2', '10.0.3.2', [links[1]])
    assert (mptcp['bind'], mptcp['server'], mptcp['links']) == ('10.0.0.2', '10.0.1.2', links)
    with pytest.raises(SuiteError, match='the generator has no link for path'):
        ps.attach_links(ps.plan(s), links[:1])


def test_capture_is_a_test_field_that_reaches_the_plan():
    s = ps.validate_suite(suite({'name': 'a', 'capture': True}, {'name': 'b'}, defaults={'repetitions': 1}), 2)
    assert s['tests'][0]['capture'] is True and 'capture' not in s['tests'][1]
    assert [i['capture'] for i in ps.plan(s)] == [True, False]
    s = ps.validate_suite(suite({'name': 'a'}, defaults={'capture': True, 'repetitions': 1}), 2)
    assert [i['capture'] for i in ps.plan(s)] == [True]
    with pytest.raises(SuiteError, match=r"tests\[0\] 'a': capture must be true or false, got 'yes'"):
        ps.validate_suite(suite({'name': 'a', 'capture': 'yes'}), 2)


# ------------------------------------------------------------------ latency tests (kind: latency)

def test_a_latency_test_gets_its_own_fields():
    t = ps.validate_suite(suite({'name': 'rr', 'kind': 'latency'}), 2)['tests'][0]
    assert t == {'name': 'rr', 'kind': 'latency', 'load': 'none', 'msg_size': 64, 'protocol': 'mptcp',
                 'direction': 'upload', 'streams': 1, 'congestion': None, 'duration_s': 20, 'omit_s': 0,
                 'repetitions': 3, 'path_ids': [1, 2], 'paths': 2}
    t = ps.validate_suite(suite({'name': 'rr', 'kind': 'latency', 'load': 'bulk', 'msg_size': 1024,
                                 'protocol': 'tcp', 'paths': [2], 'streams': 2, 'congestion': 'cubic',
                                 'duration_s': 5}), 2)['tests'][0]
    assert (t['load'], t['msg_size'], t['path_ids'], t['streams'], t['congestion'], t['duration_s']) == \
        ('bulk', 1024, [2], 2, 'cubic', 5)


def test_bulk_defaults_do_not_leak_into_latency_tests():
    s = ps.validate_suite(suite({'name': 'up'}, {'name': 'rr', 'kind': 'latency'},
                                {'name': 'rr-load', 'kind': 'latency', 'load': 'bulk'},
                                defaults={'omit_s': 2, 'streams': 4, 'congestion': 'cubic', 'capture': True,
                                          'msg_size': 100}), 2)
    up, rr, loaded = s['tests']
    assert (up['omit_s'], up['streams'], up['congestion'], up['capture']) == (2, 4, 'cubic', True)
    assert 'kind' not in up and 'msg_size' not in up and 'load' not in up
    # idle: one connection, the host's congestion control, nothing omitted; captured like the others
    assert (rr['omit_s'], rr['streams'], rr['congestion'], rr['msg_size']) == (0, 1, None, 100)
    assert rr['capture'] is True and [i['capture'] for i in ps.plan(s)[:3]] == [True, True, True]
    # under load: streams and congestion are the bulk flow's
    assert (loaded['omit_s'], loaded['streams'], loaded['congestion']) == (0, 4, 'cubic')


@pytest.mark.parametrize('test, message', [
    ({'name': 'a', 'kind': 'rr'}, "tests[0] 'a': kind must be one of throughput, latency, got 'rr'"),
    ({'name': 'a', 'load': 'bulk'}, "tests[0] 'a': load applies to kind: latency only (this test is kind: throughput)"),
    ({'name': 'a', 'msg_size': 64}, "tests[0] 'a': msg_size applies to kind: latency only"),
    ({'name': 'a', 'kind': 'latency', 'load': 'heavy'}, "tests[0] 'a': load must be one of none, bulk, got 'heavy'"),
    ({'name': 'a', 'kind': 'latency', 'msg_size': 10}, "tests[0] 'a': msg_size must be an integer 14..65000, got 10"),
    ({'name': 'a', 'kind': 'latency', 'msg_size': '64'}, "tests[0] 'a': msg_size must be an integer 14..65000"),
    ({'name': 'a', 'kind': 'latency', 'omit_s': 2},
     "tests[0] 'a': omit_s does not apply to kind: latency (sockperf drops its own first 2.4 s), got 2"),
    ({'name': 'a', 'kind': 'latency', 'streams': 4},
     "tests[0] 'a': streams does not apply to kind: latency with load: none (it is the bulk flow's (load: bulk)), got 4"),
    ({'name': 'a', 'kind': 'latency', 'congestion': 'cubic'},
     "tests[0] 'a': congestion does not apply to kind: latency with load: none"),
    ({'name': 'a', 'kind': 'latency', 'protocol': 'tcp'},
     "tests[0] 'a': paths must select exactly one path for protocol tcp"),
])
def test_latency_errors_name_test_and_field(test, message):
    with pytest.raises(SuiteError) as err:
        ps.validate_suite(suite(test), 2)
    assert str(err.value).startswith(message), str(err.value)


@pytest.mark.parametrize('defaults, message', [
    ({'load': 'heavy'}, "defaults: load must be one of none, bulk, got 'heavy'"),
    ({'msg_size': 70000}, 'defaults: msg_size must be an integer 14..65000, got 70000'),
    ({'kind': 'bulk'}, "defaults: kind must be one of throughput, latency, got 'bulk'"),
])
def test_latency_defaults_are_checked(defaults, message):
    with pytest.raises(SuiteError) as err:
        ps.validate_suite(suite({'name': 'a'}, defaults=defaults), 2)
    assert str(err.value).startswith(message), str(err.value)


def test_latency_matrix_over_protocol_and_load():
    s = ps.validate_suite(suite({'name': 'rr', 'kind': 'latency', 'paths': 1,
                                 'matrix': {'protocol': ['tcp', 'mptcp'], 'load': ['none', 'bulk']}}), 2)
    assert [(t['name'], t['protocol'], t['load']) for t in s['tests']] == [
        ('rr-tcp-idle', 'tcp', 'none'), ('rr-tcp-bulk', 'tcp', 'bulk'),
        ('rr-mptcp-idle', 'mptcp', 'none'), ('rr-mptcp-bulk', 'mptcp', 'bulk')]


def test_latency_items_in_the_plan_and_batches_by_kind():
    s = ps.validate_suite(suite({'name': 'up', 'duration_s': 10},
                                {'name': 'rr', 'kind': 'latency', 'duration_s': 5},
                                {'name': 'rr-load', 'kind': 'latency', 'load': 'bulk', 'duration_s': 5},
                                {'name': 'down', 'direction': 'download', 'duration_s': 10},
                                defaults={'repetitions': 2}), 2)
    items = ps.plan(s)
    assert [i['test'] for i in items] == ['up', 'rr', 'rr-load', 'down'] * 2
    up, rr, loaded = items[:3]
    assert 'kind' not in up and up['planned_s'] == 11
    assert (rr['kind'], rr['load'], rr['msg_size'], rr['omit_s'], rr['planned_s']) == ('latency', 'none', 64, 0, 8)
    assert (loaded['load'], loaded['planned_s']) == ('bulk', 9)
    got = ps.batches(items)
    assert [(b['kind'], [i['k'] for i in b['items']]) for b in got] == [
        ('throughput', [1]), ('latency', [2, 3]), ('throughput', [4, 5]), ('latency', [6, 7]), ('throughput', [8])]
    assert ps.batches([]) == []
    # a latency test has no ideal throughput; the segments are unchanged by it
    assert ps.expected_mbps(s['tests'][1], [{'rate_mbit': 50}, {'rate_mbit': 50}]) is None
    assert len(ps.segments(items, 2)) == 1


def test_shipped_latency_suite():
    import os
    import yaml
    root = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'roles', 'perf_suite', 'files', 'suites')
    with open(os.path.join(root, 'latency.yml')) as f:
        s = ps.validate_suite(yaml.safe_load(f), 2)
    assert [(t['name'], t['protocol'], t['paths'], t['load'], t['congestion']) for t in s['tests']] == [
        ('rr-tcp-idle', 'tcp', 1, 'none', None), ('rr-tcp-bulk', 'tcp', 1, 'bulk', 'cubic'),
        ('rr-mptcp-idle', 'mptcp', 2, 'none', None), ('rr-mptcp-bulk', 'mptcp', 2, 'bulk', 'cubic')]
    assert all(t['kind'] == 'latency' and t['repetitions'] == 3 and t['duration_s'] == 10 for t in s['tests'])
    # 12 measurements of 10 s, each with sockperf's pause (and the load's extra second)
    assert sum(i['planned_s'] for i in ps.plan(s)) == 12 * 13 + 6
