"""Suite validation, expansion and planning (mptcp.lab perf_suite)."""

import pytest

from ansible_collections.mptcp.lab.plugins.module_utils.perf import perf_suite as ps
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_stats import mann_whitney
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_suite import SuiteError


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
    assert [t['name'] for t in default['tests']] == ['tcp-upload', 'tcp-download', 'mptcp-upload', 'mptcp-download',
                                                     'rr-tcp', 'rr-mptcp', 'tcp-unshaped', 'mptcp-unshaped']
    assert all(t['repetitions'] == 3 for t in default['tests'])
    # bulk tests pin cubic; an idle request/response test has no congestion of its own
    assert all(t['congestion'] == 'cubic' for t in default['tests'] if t.get('kind') != 'latency')
    assert [t['paths'] for t in default['tests']] == [1, 1, 2, 2, 1, 2, 1, 2]
    assert [t.get('kind') for t in default['tests'][4:6]] == ['latency'] * 2
    assert [t.get('shaping') for t in default['tests'][6:]] == [[{'rate_mbit': None}] * 2] * 2
    # make perf stays under 8 minutes: at most 5:30 of traffic (omit included) in the default suite
    assert sum(i['planned_s'] for i in ps.plan(default, [{'rate_mbit': 50}] * 2)) <= 330
    with open(os.path.join(root, 'kernel.yml')) as f:
        kernel = ps.validate_suite(yaml.safe_load(f), 2)
    assert all(t['shaping'] == [{'rate_mbit': None}] * 2 for t in kernel['tests'])
    assert sum(1 for t in kernel['tests'] if t.get('kind') == 'latency') == 4
    assert {t['protocol'] for t in kernel['tests']} == {'tcp', 'mptcp'} and {t['streams'] for t in kernel['tests']} == {1, 4}
    with open(os.path.join(root, 'pairs.yml')) as f:
        data = yaml.safe_load(f)
    # every pair of the lab, whatever its size (one pair: the tests as plain ones)
    assert all(t.get('pairs') == 4 for t in ps.validate_suite(data, 2, pair_count=4)['tests'])
    assert all('pairs' not in t for t in ps.validate_suite(data, 2)['tests'])
    with open(os.path.join(root, 'shared.yml')) as f:
        data = yaml.safe_load(f)
    # four pairs through one 100 Mbit/s bottleneck, 2 MPTCP + 2 TCP flows and each protocol alone
    shared = ps.validate_suite(data, 2, pair_count=4)['tests']
    assert [(t['protocol'], t['pairs'], t.get('mix'), t['bottleneck']) for t in shared] == [
        ('mptcp', 4, {'mptcp': 2, 'tcp': 2}, {'rate_mbit': 100}), ('tcp', 4, None, {'rate_mbit': 100}),
        ('mptcp', 4, None, {'rate_mbit': 100})]
    with pytest.raises(SuiteError, match=r"mix must be .*the lab's 1 pairs, got 4 flow"):
        ps.validate_suite(data, 2)
    with open(os.path.join(root, 'smoke.yml')) as f:
        smoke = ps.validate_suite(yaml.safe_load(f), 2)
    assert {t['protocol'] for t in smoke['tests']} == {'tcp', 'mptcp'}
    # the VM lab's (make compare): as the smoke suite, with the repetitions a verdict needs:
    # 4 against 4 can reach p < 0.05 with the exact test, 3 against 3 cannot
    with open(os.path.join(root, 'vm.yml')) as f:
        vm = ps.validate_suite(yaml.safe_load(f), 2)
    assert [(t['name'], t['repetitions']) for t in vm['tests']] == [
        ('tcp-up', 4), ('mptcp-up', 4), ('mptcp-down', 4)]
    assert mann_whitney([1, 2, 3, 4], [5, 6, 7, 8])['min_p'] < 0.05 <= mann_whitney([1, 2, 3], [5, 6, 7])['min_p']
    assert sum(i['planned_s'] for i in ps.plan(vm, [{'rate_mbit': 5}] * 2)) <= 120


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


# ---------------------------------------------------------------- per-test shaping (scenarios)

LAB = [{'rate_mbit': 50}, {'rate_mbit': 50}]


def test_shaping_forms():
    s = ps.validate_suite(suite({'name': 'none', 'shaping': 'none'}, {'name': 'lab', 'shaping': 'lab'},
                                {'name': 'plain'},
                                {'name': 'own', 'shaping': [{'rate_mbit': 30.0, 'delay_ms': 5},
                                                            {'rate_mbit': None, 'loss_pct': 0.5}]}), 2)
    none, lab, plain, own = s['tests']
    assert none['shaping'] == [{'rate_mbit': None}, {'rate_mbit': None}]
    # the lab's shaping is no shaping of the test's own: the record and the plan read lab_paths
    assert 'shaping' not in lab and 'shaping' not in plain
    assert own['shaping'] == [{'rate_mbit': 30.0, 'delay_ms': 5}, {'rate_mbit': None, 'loss_pct': 0.5}]
    # from the defaults too, and a test may go back to the lab's
    s = ps.validate_suite(suite({'name': 'a'}, {'name': 'b', 'shaping': 'lab'}, defaults={'shaping': 'none'}), 1)
    assert s['tests'][0]['shaping'] == [{'rate_mbit': None}] and 'shaping' not in s['tests'][1]


@pytest.mark.parametrize('shaping, message', [
    ('off', "tests[0] 'a': shaping must be \"lab\", \"none\" or a list of one {rate_mbit, delay_ms, loss_pct, "
            "queue_limit} per path of the lab (2 paths; rate_mbit null = no rate limit), got 'off'"),
    ([{'rate_mbit': 10}], "tests[0] 'a': shaping must be \"lab\", \"none\" or a list of one"),
    ([{'rate_mbit': 10}], "got 1 entry"),
    ([{'rate_mbit': 10}, 5], "tests[0] 'a': shaping[1] must be a mapping {rate_mbit, delay_ms, loss_pct, "
                             "queue_limit}, got 5"),
    ([{'rate_mbit': 10}, {'delay_ms': 5}], "tests[0] 'a': shaping[1].rate_mbit is required: the rate of the path "
                                           "in Mbit/s, in [0.01, 34000], or null for no rate limit"),
    ([{'rate_mbit': 10}, {'rate_mbit': 10, 'jitter_ms': 1}],
     "tests[0] 'a': shaping[1] has unknown key(s) jitter_ms; allowed: rate_mbit, delay_ms, loss_pct, queue_limit"),
    ([{'rate_mbit': 0}, {'rate_mbit': 10}], "tests[0] 'a': shaping[0].rate_mbit must be a finite number in "
                                            "[0.01, 34000] Mbit/s (or null for no rate limit), got 0"),
    ([{'rate_mbit': '10'}, {'rate_mbit': 10}], "tests[0] 'a': shaping[0].rate_mbit must be a finite number"),
    ([{'rate_mbit': 10, 'loss_pct': 101}, {'rate_mbit': 10}],
     "tests[0] 'a': shaping[0].loss_pct must be a finite number in [0, 100], got 101"),
    ([{'rate_mbit': 10}, {'rate_mbit': None, 'queue_limit': 1.5}],
     "tests[0] 'a': shaping[1].queue_limit must be an integer in [1, 1048576], got 1.5"),
    ([{'rate_mbit': 10}, {'rate_mbit': 10, 'delay_ms': float('nan')}],
     "tests[0] 'a': shaping[1].delay_ms must be a finite number in [0, 60000], got nan"),
])
def test_shaping_errors_name_the_test_and_the_field(shaping, message):
    with pytest.raises(SuiteError) as e:
        ps.validate_suite(suite({'name': 'a', 'shaping': shaping}), 2)
    assert message in str(e.value), str(e.value)
    assert str(e.value).startswith("tests[0] 'a': shaping")


def test_shaping_errors_in_defaults_and_matrix():
    with pytest.raises(SuiteError, match=r'^defaults: shaping must be "lab", "none" or a list'):
        ps.validate_suite(suite({'name': 'a'}, defaults={'shaping': 'unshaped'}), 2)
    with pytest.raises(SuiteError, match=r"^tests\[0\] 'a': matrix.shaping is not allowed"):
        ps.validate_suite(suite({'name': 'a', 'matrix': {'shaping': ['none', 'lab']}}), 2)


def test_expected_mbps_of_a_test_follows_its_own_shaping():
    lab = [{'rate_mbit': 50}, {'rate_mbit': 50}]
    s = ps.validate_suite(suite({'name': 'none', 'shaping': 'none'},
                                {'name': 'slow', 'shaping': [{'rate_mbit': 10}, {'rate_mbit': 20}]},
                                {'name': 'half', 'shaping': [{'rate_mbit': 10}, {'rate_mbit': None}]},
                                {'name': 'half-tcp', 'protocol': 'tcp', 'paths': 1,
                                 'shaping': [{'rate_mbit': 10}, {'rate_mbit': None}]},
                                {'name': 'lab'}), 2)
    none, slow, half, half_tcp, plain = s['tests']
    assert ps.expected_mbps(none, lab) is None                 # unshaped: no ideal
    assert ps.expected_mbps(slow, lab) == pytest.approx(30 * ps.GOODPUT_FACTOR, abs=0.001)
    assert ps.expected_mbps(half, lab) is None                 # one of its paths is unshaped
    assert ps.expected_mbps(half_tcp, lab) == pytest.approx(10 * ps.GOODPUT_FACTOR, abs=0.001)
    assert ps.expected_mbps(plain, lab) == pytest.approx(100 * ps.GOODPUT_FACTOR, abs=0.001)


def shaped_suite(**defaults):
    return ps.validate_suite(suite(
        {'name': 'tcp', 'protocol': 'tcp', 'paths': 1},
        {'name': 'tcp-raw', 'protocol': 'tcp', 'paths': 1, 'shaping': 'none'},
        {'name': 'mptcp'},
        {'name': 'mptcp-raw', 'shaping': 'none'},
        # the lab's own shaping spelled out: the lab's scenario
        {'name': 'mptcp-same', 'shaping': [{'rate_mbit': 50.0}, {'rate_mbit': 50}]},
        {'name': 'mptcp-slow', 'shaping': [{'rate_mbit': 10}, {'rate_mbit': 10, 'delay_ms': 20}]},
        defaults=dict({'repetitions': 2}, **defaults)), 2)


def test_scenarios_group_tests_by_effective_shaping():
    groups = ps.scenarios(shaped_suite(), LAB)
    assert [(g['index'], g['lab'], g['tests'], g['netem'], g['label']) for g in groups] == [
        (1, True, ['tcp', 'mptcp', 'mptcp-same'], False, 'lab_paths'),
        (2, False, ['tcp-raw', 'mptcp-raw'], False, "tests[1] 'tcp-raw': shaping"),
        (3, False, ['mptcp-slow'], True, "tests[5] 'mptcp-slow': shaping"),
    ]
    assert groups[0]['shaping'] is None
    assert groups[1]['shaping'] == [{'rate_mbit': None}, {'rate_mbit': None}]
    assert groups[2]['shaping'] == [{'rate_mbit': 10}, {'rate_mbit': 10, 'delay_ms': 20}]
    # a lab whose own paths need netem: its scenario is applied by provisioning, not here
    assert not ps.scenarios(ps.validate_suite(suite({'name': 'a'}), 1), [{'rate_mbit': 5, 'delay_ms': 5}])[0]['netem']


def test_plan_groups_by_scenario_and_interleaves_within_a_group():
    items = ps.plan(shaped_suite(), LAB)
    assert [(i['test'], i['rep'], i['scenario']) for i in items] == [
        ('tcp', 1, 1), ('mptcp', 1, 1), ('mptcp-same', 1, 1),
        ('tcp', 2, 1), ('mptcp', 2, 1), ('mptcp-same', 2, 1),
        ('tcp-raw', 1, 2), ('mptcp-raw', 1, 2), ('tcp-raw', 2, 2), ('mptcp-raw', 2, 2),
        ('mptcp-slow', 1, 3), ('mptcp-slow', 2, 3)]
    assert [i['k'] for i in items] == list(range(1, 13)) and items[6]['label'] == '[7/12] tcp-raw rep 1/2'
    # without a shaping of its own anywhere, the order is the rounds of old (one group)
    s = ps.validate_suite(suite({'name': 'A', 'repetitions': 2}, {'name': 'B', 'repetitions': 1}), 2)
    assert [(i['test'], i['rep'], i['scenario']) for i in ps.plan(s, LAB)] == [('A', 1, 1), ('B', 1, 1), ('A', 2, 1)]
    # the first test's group comes first, whatever its shaping
    s = ps.validate_suite(suite({'name': 'raw', 'shaping': 'none'}, {'name': 'lab'}, defaults={'repetitions': 1}), 2)
    assert [(i['test'], i['scenario']) for i in ps.plan(s, LAB)] == [('raw', 1), ('lab', 2)]


def test_segments_reshape_once_per_scenario():
    s = shaped_suite()
    groups = ps.scenarios(s, LAB)
    segs = ps.segments(ps.plan(s, LAB), 2, groups)
    assert [(g['scenario'], g['reshape'], g['shaping'], len(g['items'])) for g in segs] == [
        (1, False, None, 6),
        (2, True, [{'rate_mbit': None}, {'rate_mbit': None}], 4),
        (3, True, [{'rate_mbit': 10}, {'rate_mbit': 10, 'delay_ms': 20}], 2)]
    assert [g['label'] for g in segs] == ['lab_paths', "tests[1] 'tcp-raw': shaping", "tests[5] 'mptcp-slow': shaping"]
    # an unshaped group first: the shaper changes at the start, then back to the lab's
    s = ps.validate_suite(suite({'name': 'raw', 'shaping': 'none'}, {'name': 'lab'}, defaults={'repetitions': 1}), 2)
    segs = ps.segments(ps.plan(s, LAB), 2, ps.scenarios(s, LAB))
    assert [(g['scenario'], g['reshape'], g['shaping'] is None) for g in segs] == [(1, True, False), (2, True, True)]


def test_segments_split_on_path_sets_within_a_scenario():
    s = ps.validate_suite(suite({'name': 'p2', 'paths': [2], 'shaping': 'none'},
                                {'name': 'all', 'shaping': 'none'},
                                {'name': 'tcp', 'protocol': 'tcp', 'paths': 1},
                                defaults={'repetitions': 1}), 2)
    segs = ps.segments(ps.plan(s, LAB), 2, ps.scenarios(s, LAB))
    assert [(g['scenario'], g['reshape'], g['mptcp_path_ids'], [i['test'] for i in g['items']]) for g in segs] == [
        (1, True, [2], ['p2']), (1, False, [1, 2], ['all']),
        # TCP alone keeps the announced set of the segment before it: no endpoint change
        (2, True, [1, 2], ['tcp'])]
    s = ps.validate_suite(suite({'name': 'p2', 'paths': [2]},
                                {'name': 'tcp', 'protocol': 'tcp', 'paths': 1, 'shaping': 'none'},
                                defaults={'repetitions': 1}), 2)
    segs = ps.segments(ps.plan(s, LAB), 2, ps.scenarios(s, LAB))
    assert [(g['mptcp_path_ids'], g['reshape']) for g in segs] == [([2], False), ([2], True)]


# ---------------------------------------------------------------- per-test sysctls

def test_sysctls_are_normalized_to_the_kernels_text():
    s = ps.validate_suite(suite({'name': 'a', 'sysctls': {'net.mptcp.checksum_enabled': True,
                                                          'net.ipv4.tcp_rmem': [4096, 131072, 6291456],
                                                          'net.ipv4.tcp_congestion_control': 'bbr',
                                                          'net.ipv4.tcp_wmem': ' 4096   16384 4194304 ',
                                                          'net.mptcp.add_addr_timeout': 60.0}},
                                {'name': 'b'}, {'name': 'c', 'sysctls': {}}), 2)
    a, b, c = s['tests']
    assert a['sysctls'] == {'net.mptcp.checksum_enabled': '1', 'net.ipv4.tcp_rmem': '4096 131072 6291456',
                            'net.ipv4.tcp_congestion_control': 'bbr', 'net.ipv4.tcp_wmem': '4096 16384 4194304',
                            'net.mptcp.add_addr_timeout': '60'}
    assert 'sysctls' not in b and 'sysctls' not in c
    # from the defaults; a test's own replace them
    s = ps.validate_suite(suite({'name': 'a'}, {'name': 'b', 'sysctls': {'net.ipv4.tcp_ecn': 1}},
                                defaults={'sysctls': {'net.mptcp.checksum_enabled': 1}}), 2)
    assert [t['sysctls'] for t in s['tests']] == [{'net.mptcp.checksum_enabled': '1'}, {'net.ipv4.tcp_ecn': '1'}]


@pytest.mark.parametrize('sysctls, message', [
    ('checksum', "tests[0] 'a': sysctls must be a mapping of net.mptcp.* and net.ipv4.tcp_* names to values, "
                 "got 'checksum'"),
    ({'net.ipv4.ip_forward': 1}, "tests[0] 'a': sysctls: 'net.ipv4.ip_forward' is not allowed: only "
                                 "net.mptcp.<name> and net.ipv4.tcp_<name>"),
    ({'net.core.rmem_max': 1}, "tests[0] 'a': sysctls: 'net.core.rmem_max' is not allowed"),
    ({'net.mptcp.../../x': 1}, "tests[0] 'a': sysctls: 'net.mptcp.../../x' is not allowed"),
    ({'net.mptcp.Enabled': 1}, "tests[0] 'a': sysctls: 'net.mptcp.Enabled' is not allowed"),
    ({'net.ipv4.tcp_ecn': 1.5}, "tests[0] 'a': sysctls.net.ipv4.tcp_ecn must be an integer, a word"),
    ({'net.ipv4.tcp_ecn': None}, "tests[0] 'a': sysctls.net.ipv4.tcp_ecn must be an integer, a word"),
    ({'net.ipv4.tcp_ecn': '1\n2'}, None),
    ({'net.ipv4.tcp_ecn': '1; reboot'}, "tests[0] 'a': sysctls.net.ipv4.tcp_ecn must be an integer"),
    ({'net.ipv4.tcp_ecn': {'a': 1}}, "tests[0] 'a': sysctls.net.ipv4.tcp_ecn must be an integer"),
    ({'net.ipv4.tcp_rmem': [1, 2, True]}, "tests[0] 'a': sysctls.net.ipv4.tcp_rmem must be an integer"),
    ({'net.ipv4.tcp_rmem': list(range(9))}, "tests[0] 'a': sysctls.net.ipv4.tcp_rmem must be an integer"),
    ({'net.ipv4.tcp_rmem': []}, "tests[0] 'a': sysctls.net.ipv4.tcp_rmem must be an integer"),
])
def test_sysctls_errors_name_the_test_and_the_field(sysctls, message):
    if message is None:
        # white space inside a value is the kernel's separator: "1\n2" is the two words "1 2"
        assert ps.validate_suite(suite({'name': 'a', 'sysctls': sysctls}), 2)['tests'][0]['sysctls'] == {
            'net.ipv4.tcp_ecn': '1 2'}
        return
    with pytest.raises(SuiteError) as e:
        ps.validate_suite(suite({'name': 'a', 'sysctls': sysctls}), 2)
    assert str(e.value).startswith(message), str(e.value)


def test_scenarios_and_segments_with_sysctls():
    s = ps.validate_suite(suite(
        {'name': 'plain'},
        {'name': 'csum', 'sysctls': {'net.mptcp.checksum_enabled': 1}},
        {'name': 'csum-raw', 'sysctls': {'net.mptcp.checksum_enabled': 1}, 'shaping': 'none'},
        {'name': 'raw', 'shaping': 'none'},
        {'name': 'csum2', 'sysctls': {'net.mptcp.checksum_enabled': True}},
        defaults={'repetitions': 1}), 2)
    groups = ps.scenarios(s, LAB)
    assert [(g['tests'], g['lab'], g['sysctls'], g['sysctls_label']) for g in groups] == [
        (['plain'], True, {}, "tests[0] 'plain': sysctls"),
        (['csum', 'csum2'], True, {'net.mptcp.checksum_enabled': '1'}, "tests[1] 'csum': sysctls"),
        (['csum-raw'], False, {'net.mptcp.checksum_enabled': '1'}, "tests[2] 'csum-raw': sysctls"),
        (['raw'], False, {}, "tests[3] 'raw': sysctls")]
    segs = ps.segments(ps.plan(s, LAB), 2, groups)
    # the shaper changes only where the shaping does, the ends only where the sysctls do
    assert [([i['test'] for i in g['items']], g['reshape'], g['retune']) for g in segs] == [
        (['plain'], False, False), (['csum', 'csum2'], False, True), (['csum-raw'], True, False),
        (['raw'], False, True)]
    assert segs[3]['sysctls'] == {} and segs[2]['sysctls'] == {'net.mptcp.checksum_enabled': '1'}


# ------------------------------------------- scheduler, path manager, offloads and backup paths per test

def test_scheduler_and_path_manager_are_sysctls_of_both_ends():
    s = ps.validate_suite(suite({'name': 'a', 'scheduler': 'burst', 'path_manager': 'userspace'},
                                {'name': 'b', 'scheduler': 'default',
                                 'sysctls': {'net.mptcp.scheduler': 'default', 'net.mptcp.checksum_enabled': 1}},
                                {'name': 'c'}, defaults={'repetitions': 1}), 2)
    a, b, c = s['tests']
    assert a['sysctls'] == {'net.mptcp.scheduler': 'burst', 'net.mptcp.path_manager': 'userspace'}
    assert b['sysctls'] == {'net.mptcp.scheduler': 'default', 'net.mptcp.checksum_enabled': '1'}
    assert 'sysctls' not in c and 'scheduler' not in a
    # so they make scenarios (and history identities) like any sysctl
    assert [g['tests'] for g in ps.scenarios(s, LAB)] == [['a'], ['b'], ['c']]
    # a matrix over schedulers names its tests by them
    s = ps.validate_suite(suite({'name': 'm', 'matrix': {'scheduler': ['default', 'burst']}}), 2)
    assert [(t['name'], t['sysctls']) for t in s['tests']] == [
        ('m-default', {'net.mptcp.scheduler': 'default'}), ('m-burst', {'net.mptcp.scheduler': 'burst'})]


@pytest.mark.parametrize('test, message', [
    ({'scheduler': 'Bad name'}, "tests[0] 'a': scheduler must be the name of one the kernel offers"),
    ({'scheduler': 3}, "tests[0] 'a': scheduler must be the name"),
    ({'path_manager': '../x'}, "tests[0] 'a': path_manager must be the name of one the kernel offers"),
    ({'scheduler': 'burst', 'sysctls': {'net.mptcp.scheduler': 'default'}},
     "tests[0] 'a': scheduler: 'burst' and sysctls.net.mptcp.scheduler: 'default' disagree"),
    ({'offloads': {'gso': 'off'}}, "tests[0] 'a': offloads must be a mapping of gro, gso, tso to true/false"),
    ({'offloads': {'lro': False}}, "tests[0] 'a': offloads must be a mapping of gro, gso, tso"),
    ({'offloads': {}}, "tests[0] 'a': offloads must be a mapping"),
    ({'offloads': 'off'}, "tests[0] 'a': offloads must be a mapping"),
    ({'backup_paths': [2], 'protocol': 'tcp', 'paths': 1}, "tests[0] 'a': backup_paths applies to protocol mptcp only"),
    ({'backup_paths': [1, 2]}, "tests[0] 'a': backup_paths must list some, not all, of the test's paths [1, 2]"),
    ({'backup_paths': [3]}, "tests[0] 'a': backup_paths must list some, not all"),
    ({'backup_paths': [2], 'paths': [1]}, "tests[0] 'a': backup_paths must list some, not all, of the test's paths [1]"),
    ({'backup_paths': 2}, "tests[0] 'a': backup_paths must list some"),
    ({'backup_paths': [True]}, "tests[0] 'a': backup_paths must list some"),
])
def test_scenario_key_errors_name_the_test_and_the_field(test, message):
    with pytest.raises(SuiteError) as e:
        ps.validate_suite(suite(dict({'name': 'a'}, **test)), 2)
    assert str(e.value).startswith(message), str(e.value)


def test_offloads_make_a_scenario_and_segments_set_them_where_they_change():
    s = ps.validate_suite(suite({'name': 'plain'},
                                {'name': 'nogso', 'offloads': {'tso': False, 'gso': False}},
                                {'name': 'nogso2', 'offloads': {'gso': False, 'tso': False}},
                                {'name': 'nogro', 'offloads': {'gro': False}},
                                defaults={'repetitions': 1}), 2)
    assert s['tests'][1]['offloads'] == {'gso': False, 'tso': False}
    groups = ps.scenarios(s, LAB)
    assert [(g['tests'], g['offloads'], g['offloads_label']) for g in groups] == [
        (['plain'], {}, "tests[0] 'plain': offloads"),
        (['nogso', 'nogso2'], {'gso': False, 'tso': False}, "tests[1] 'nogso': offloads"),
        (['nogro'], {'gro': False}, "tests[3] 'nogro': offloads")]
    segs = ps.segments(ps.plan(s, LAB), 2, groups)
    assert [(g['offloads'], g['reoffload'], g['reshape'], g['retune']) for g in segs] == [
        ({}, False, False, False), ({'gso': False, 'tso': False}, True, False, False),
        ({'gro': False}, True, False, False)]


def test_backup_paths_are_an_endpoint_change_and_leave_the_ideal_to_the_others():
    s = ps.validate_suite(suite({'name': 'both'}, {'name': 'backup2', 'backup_paths': [2]},
                                {'name': 'tcp', 'protocol': 'tcp', 'paths': 1},
                                {'name': 'bidir', 'backup_paths': [1], 'direction': 'bidir'},
                                defaults={'repetitions': 2}), 2)
    both, backup2, _tcp, bidir = s['tests']
    assert backup2['backup_paths'] == [2] and 'backup_paths' not in both
    assert ps.expected_mbps(backup2, LAB) == round(ps.GOODPUT_FACTOR * LAB[0]['rate_mbit'], 3)
    assert ps.expected_mbps(bidir, LAB) == round(2 * ps.GOODPUT_FACTOR * LAB[1]['rate_mbit'], 3)
    # one scenario (the shaping and sysctls are the lab's), split where the announced flags change
    groups = ps.scenarios(s, LAB)
    assert len(groups) == 1
    segs = ps.segments(ps.plan(s, LAB), 2, groups)
    assert [(g['mptcp_path_ids'], g['backup_path_ids'], [i['test'] for i in g['items']]) for g in segs] == [
        ([1, 2], [], ['both']), ([1, 2], [2], ['backup2', 'tcp']), ([1, 2], [1], ['bidir']),
        ([1, 2], [], ['both']), ([1, 2], [2], ['backup2', 'tcp']), ([1, 2], [1], ['bidir'])]


def test_commands_are_checked_filled_in_and_go_with_every_measurement_of_their_test():
    s = ps.validate_suite(suite({'name': 'a', 'repetitions': 2, 'commands': {
        'pre': [{'host': 'sink', 'argv': ['ip', 'mptcp', 'endpoint', 'show', 1]}],
        'post': [{'script': 'probe.sh', 'args': ['-q'], 'timeout_s': 5, 'ignore_errors': True}]}},
        {'name': 'b', 'repetitions': 1}), 2)
    a = s['tests'][0]
    assert a['commands'] == {
        'pre': [{'host': 'sink', 'argv': ['ip', 'mptcp', 'endpoint', 'show', '1'], 'timeout_s': 60,
                 'ignore_errors': False}],
        'post': [{'host': 'all', 'script': 'probe.sh', 'args': ['-q'], 'timeout_s': 5, 'ignore_errors': True}]}
    items = ps.plan(s, LAB)
    assert [(i['test'], 'commands' in i) for i in items] == [('a', True), ('b', False), ('a', True)]
    # commands are no scenario: one group, one segment
    assert len(ps.segments(items, 2, ps.scenarios(s, LAB))) == 1


@pytest.mark.parametrize('commands, message', [
    ([], "tests[0] 'a': commands must be a mapping of pre and/or post"),
    ({'during': []}, "tests[0] 'a': commands must be a mapping of pre and/or post"),
    ({'pre': []}, "tests[0] 'a': commands.pre must be a list of 1 to 16 commands"),
    ({'pre': ['ls -l']}, "tests[0] 'a': commands.pre[0] must be a mapping {host, argv}"),
    ({'pre': [{'argv': 'ls -l'}]}, "tests[0] 'a': commands.pre[0].argv must be a list of 1 to 64 arguments"),
    ({'pre': [{'argv': []}]}, "tests[0] 'a': commands.pre[0].argv must be a list of 1 to 64 arguments"),
    ({'pre': [{'argv': ['a\0b']}]}, "tests[0] 'a': commands.pre[0].argv must be a list"),
    ({'pre': [{'argv': [True]}]}, "tests[0] 'a': commands.pre[0].argv must be a list"),
    ({'pre': [{'host': 'shaper', 'argv': ['ls']}]}, "tests[0] 'a': commands.pre[0].host must be one of generator, sink, all"),
    ({'pre': [{'argv': ['ls'], 'script': 'x'}]}, "tests[0] 'a': commands.pre[0] must have exactly one of argv"),
    ({'pre': [{'host': 'all'}]}, "tests[0] 'a': commands.pre[0] must have exactly one of argv"),
    ({'pre': [{'argv': ['ls'], 'args': ['-l']}]}, "tests[0] 'a': commands.pre[0].args goes with script"),
    ({'pre': [{'script': ''}]}, "tests[0] 'a': commands.pre[0].script must be the path of a file"),
    ({'pre': [{'argv': ['ls'], 'timeout_s': 0}]}, "tests[0] 'a': commands.pre[0]: timeout_s must be an integer 1..3600"),
    ({'pre': [{'argv': ['ls'], 'ignore_errors': 'yes'}]}, "tests[0] 'a': commands.pre[0].ignore_errors must be true or false"),
    ({'pre': [{'argv': ['ls'], 'shell': True}]}, "tests[0] 'a': commands.pre[0]: unknown field(s) shell"),
])
def test_command_errors_name_the_test_and_the_field(commands, message):
    with pytest.raises(SuiteError) as e:
        ps.validate_suite(suite({'name': 'a', 'commands': commands}), 2)
    assert str(e.value).startswith(message), str(e.value)


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


# ---- several pairs at once (suite key pairs)

def _pair(n, paths=2):
    links = [{'path': p, 'dev': 'p%d' % p, 'address': '10.%d.%d.2' % (n, 2 * p),
              'peer_address': '10.%d.%d.2' % (n, 2 * p + 1)} for p in range(1, paths + 1)]
    return {'generator': 'gen%d' % n, 'sink': 'sink%d' % n, 'links': links}


@pytest.mark.parametrize('value, pairs', [(1, None), (2, 2), (3, 3), ('all', 3), (2.0, None)])
def test_pairs_a_count_or_all(value, pairs):
    if pairs is None and value != 1:
        with pytest.raises(SuiteError, match=r"tests\[0\] 'a': pairs must be all or a count .* from 1 to the lab's 3"):
            ps.validate_suite(suite({'name': 'a', 'pairs': value}), 2, pair_count=3)
        return
    t = ps.validate_suite(suite({'name': 'a', 'pairs': value}), 2, pair_count=3)['tests'][0]
    # one pair (the usual case) leaves the test as it was
    assert t.get('pairs') == pairs


@pytest.mark.parametrize('value', [0, 4, -1, True, 'some', [2], None])
def test_pairs_out_of_the_lab_fails_naming_the_field(value):
    with pytest.raises(SuiteError, match=r"tests\[0\] 'a': pairs must be all or a count"):
        ps.validate_suite(suite({'name': 'a', 'pairs': value}), 2, pair_count=3)


def test_a_lab_of_one_pair_runs_pairs_all_on_it():
    t = ps.validate_suite(suite({'name': 'a', 'pairs': 'all'}), 2)['tests'][0]
    assert 'pairs' not in t
    with pytest.raises(SuiteError, match="lab's 1"):
        ps.validate_suite(suite({'name': 'a', 'pairs': 2}), 2)


@pytest.mark.parametrize('extra, field', [
    ({'kind': 'latency'}, 'kind'), ({'capture': True}, 'capture'),
    ({'commands': {'pre': [{'argv': ['true']}]}}, 'commands'), ({'backup_paths': [2]}, 'backup_paths'),
    ({'paths': [1]}, 'paths'),
])
def test_what_several_pairs_cannot_have(extra, field):
    with pytest.raises(SuiteError, match=r"tests\[0\] 'a': %s .*pairs 2" % field):
        ps.validate_suite(suite(dict({'name': 'a', 'pairs': 2}, **extra)), 2, pair_count=2)
    # TCP over one path is fine on several pairs (path 2 of each pair)
    t = ps.validate_suite(suite({'name': 't', 'protocol': 'tcp', 'paths': [2], 'pairs': 2}), 2, pair_count=2)
    assert t['tests'][0]['pairs'] == 2


def test_pairs_in_a_matrix_name_their_tests():
    s = ps.validate_suite(suite({'name': 'up', 'matrix': {'pairs': [1, 2, 'all']}}), 2, pair_count=4)
    assert [(t['name'], t.get('pairs')) for t in s['tests']] == [('up-x1', None), ('up-x2', 2), ('up-xall', 4)]


def test_the_ideal_counts_every_pair():
    lab = [{'rate_mbit': 50}, {'rate_mbit': 50}]
    s = ps.validate_suite(suite({'name': 'one'}, {'name': 'four', 'pairs': 4},
                                {'name': 'tcp4', 'protocol': 'tcp', 'paths': 1, 'pairs': 4}), 2, pair_count=4)
    one, four, tcp4 = (ps.expected_mbps(t, lab) for t in s['tests'])
    assert four == pytest.approx(4 * one, abs=0.01) and tcp4 == pytest.approx(2 * one, abs=0.01)


def test_flows_of_an_item_over_several_pairs_and_its_own_batch():
    pairs = [_pair(1), _pair(2), _pair(3)]
    tcp = {'name': 't', 'protocol': 'tcp', 'paths': [2], 'pairs': 2}
    s = ps.validate_suite(suite({'name': 'a'}, {'name': 'b', 'pairs': 3}, tcp, defaults={'repetitions': 1}), 2,
                          pair_count=3)
    items = ps.attach_links(ps.plan(s), pairs[0]['links'], pairs)
    a, b, t = items
    assert 'flows' not in a and a['bind'] == '10.1.2.2'
    assert [(f['generator'], f['sink'], f['protocol'], f['bind'], f['server']) for f in b['flows']] == [
        ('gen1', 'sink1', 'mptcp', '10.1.2.2', '10.1.3.2'), ('gen2', 'sink2', 'mptcp', '10.2.2.2', '10.2.3.2'),
        ('gen3', 'sink3', 'mptcp', '10.3.2.2', '10.3.3.2')]
    assert b['flows'][2]['links'] == pairs[2]['links']
    # TCP on path 2: each pair's own path 2
    assert [(f['bind'], [link['path'] for link in f['links']]) for f in t['flows']] == [
        ('10.1.4.2', [2]), ('10.2.4.2', [2])]
    # each measurement over several pairs is a batch of its own (one task on all its generators)
    got = ps.batches(items)
    assert [(g['concurrent'], [i['k'] for i in g['items']]) for g in got] == [(False, [1]), (True, [2]), (True, [3])]
    with pytest.raises(SuiteError, match="b: pairs 3, but the lab has 2 generator/sink pair"):
        ps.attach_links(ps.plan(s), pairs[0]['links'], pairs[:2])
    with pytest.raises(SuiteError, match='the generator gen2 has no link for path'):
        ps.attach_links(ps.plan(s), pairs[0]['links'], [pairs[0], _pair(2, paths=1), pairs[2]])


# ---- flows of both protocols (suite key mix) and a shared bottleneck (suite key bottleneck)

def test_a_mix_runs_one_flow_per_pair_mptcp_first_tcp_on_the_first_path():
    s = ps.validate_suite(suite({'name': 'm', 'mix': {'mptcp': 2, 'tcp': 2}, 'repetitions': 1}), 2, pair_count=4)
    t = s['tests'][0]
    assert (t['protocol'], t['pairs'], t['mix'], t['path_ids']) == ('mptcp', 4, {'tcp': 2, 'mptcp': 2}, [1, 2])
    pairs = [_pair(n) for n in (1, 2, 3, 4)]
    item, = ps.attach_links(ps.plan(s), pairs[0]['links'], pairs)
    assert item['mix'] == {'tcp': 2, 'mptcp': 2}
    assert [(f['generator'], f['protocol'], [link['path'] for link in f['links']], f['bind']) for f in item['flows']] == [
        ('gen1', 'mptcp', [1, 2], '10.1.2.2'), ('gen2', 'mptcp', [1, 2], '10.2.2.2'),
        ('gen3', 'tcp', [1], '10.3.2.2'), ('gen4', 'tcp', [1], '10.4.2.2')]
    # TCP only: the test is TCP's, on one path
    only = ps.validate_suite(suite({'name': 't', 'mix': {'tcp': 3}, 'paths': 1}), 2, pair_count=3)['tests'][0]
    assert (only['protocol'], only['pairs'], only['mix']) == ('tcp', 3, {'tcp': 3, 'mptcp': 0})


@pytest.mark.parametrize('mix, extra, message', [
    ({'mptcp': 1}, {}, r"mix must be \{mptcp: M, tcp: N\}.* got 1 flow"),
    ({'mptcp': 3, 'tcp': 2}, {}, r"mix must be .*lab's 4 pairs, got 5 flow"),
    ({'mptcp': 1, 'udp': 1}, {}, r"mix must be \{mptcp: M, tcp: N\}"),
    ({'mptcp': -1, 'tcp': 3}, {}, r"mix\.mptcp must be a count of flows"),
    ({'mptcp': True, 'tcp': 3}, {}, r"mix\.mptcp must be a count of flows"),
    ([2, 2], {}, r"mix must be"),
    ({'mptcp': 2, 'tcp': 2}, {'pairs': 3}, r"pairs 3 and mix .* disagree"),
])
def test_a_bad_mix_fails_naming_the_field(mix, extra, message):
    with pytest.raises(SuiteError, match=r"tests\[0\] 'm': " + message):
        ps.validate_suite(suite(dict({'name': 'm', 'mix': mix}, **extra)), 2, pair_count=4)


@pytest.mark.parametrize('value, message', [
    ({'rate_mbit': 0}, r"bottleneck\.rate_mbit must be a finite number"),
    ({'rate_mbit': '100'}, r"bottleneck\.rate_mbit must be a finite number"),
    ({'rate_mbit': 100, 'delay_ms': 5}, r"bottleneck must be \"lab\", \"none\" or \{rate_mbit: N\}"),
    (100, r"bottleneck must be"),
])
def test_a_bad_bottleneck_fails_naming_the_field(value, message):
    with pytest.raises(SuiteError, match=r"tests\[0\] 'b': " + message):
        ps.validate_suite(suite({'name': 'b', 'bottleneck': value}), 2)


def test_a_shared_bottleneck_caps_the_ideal_and_is_a_scenario_of_its_own():
    lab = [{'rate_mbit': 50}, {'rate_mbit': 50}]
    s = ps.validate_suite(suite({'name': 'plain', 'pairs': 4}, {'name': 'mixed', 'mix': {'mptcp': 2, 'tcp': 2}},
                                {'name': 'shared', 'mix': {'mptcp': 2, 'tcp': 2}, 'bottleneck': {'rate_mbit': 100}},
                                {'name': 'loose', 'bottleneck': {'rate_mbit': 1000}},
                                defaults={'repetitions': 1}), 2, pair_count=4)
    plain, mixed, shared, loose = s['tests']
    factor = ps.GOODPUT_FACTOR
    assert ps.expected_mbps(plain, lab) == pytest.approx(400 * factor, abs=0.01)
    # 2 MPTCP flows over both paths, 2 TCP flows over path 1
    assert ps.expected_mbps(mixed, lab) == pytest.approx(300 * factor, abs=0.01)
    assert ps.expected_mbps(shared, lab) == pytest.approx(100 * factor, abs=0.01)
    assert ps.expected_mbps(loose, lab) == pytest.approx(100 * factor, abs=0.01)      # the paths are narrower
    # the lab's own bottleneck applies to the tests without one; bottleneck none lifts it
    assert ps.expected_mbps(plain, lab, {'rate_mbit': 60}) == pytest.approx(60 * factor, abs=0.01)
    lifted = ps.validate_suite(suite({'name': 'l', 'bottleneck': 'none'}), 2)['tests'][0]
    assert ps.expected_mbps(lifted, lab, {'rate_mbit': 60}) == pytest.approx(100 * factor, abs=0.01)
    groups = ps.scenarios(s, lab)
    assert [(g['lab'], g['bottleneck'], g['tests']) for g in groups] == [
        (True, None, ['plain', 'mixed']), (False, {'rate_mbit': 100}, ['shared']),
        (False, {'rate_mbit': 1000}, ['loose'])]
    assert groups[1]['label'] == "tests[2] 'shared': bottleneck" and groups[1]['shaping'] == ps.normalize_shaping(lab)
    segs = ps.segments(ps.plan(s, lab), 2, groups)
    assert [(seg['reshape'], seg['bottleneck']) for seg in segs] == [
        (False, None), (True, {'rate_mbit': 100}), (True, {'rate_mbit': 1000})]
    # with the lab's bottleneck, the tests without one of their own run through it: the lab's scenario
    groups = ps.scenarios(s, lab, {'rate_mbit': 100})
    assert [(g['lab'], g['tests']) for g in groups] == [(True, ['plain', 'mixed', 'shared']), (False, ['loose'])]
    segs = ps.segments(ps.plan(s, lab, {'rate_mbit': 100}), 2, groups)
    assert [(seg['reshape'], seg['shaping'], seg['bottleneck']) for seg in segs] == [
        (False, None, {'rate_mbit': 100}), (True, ps.normalize_shaping(lab), {'rate_mbit': 1000})]
