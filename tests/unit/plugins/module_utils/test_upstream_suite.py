"""Suites in upstream's perf.yml format: recognition, rules, translation, dstat.json and the record."""

import json
import os

import pytest
import yaml

from ansible_collections.mptcp.lab.plugins.module_utils.perf import perf_record
from ansible_collections.mptcp.lab.plugins.module_utils.perf import upstream_run as ur
from ansible_collections.mptcp.lab.plugins.module_utils.perf import upstream_suite as us

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
EXAMPLE = os.path.join(ROOT, 'roles', 'perf_suite', 'files', 'suites', 'upstream-example.yml')

# The shape of upstream's own sample (two bridges, stats, a background capture,
# endpoints, an iperf3 server and client, a jq validation, two regression steps),
# written here in our words.
SAMPLE = """
name: "sample"
global:
  timeout_s: 600
  bridges:
    - {name: "br0", rate_mbit: 10, delay_ms: 5, loss_pc: 0}
    - {name: "br1", rate_mbit: 10, delay_ms: 5, loss_pc: 0}
  bridges_hw_accel: true
  stats:
    pre: [{name: "nstat_reset", run: "nstat -n"}]
    post: [{name: "nstat", run: "nstat"}]
    all: [{name: "net dev", run: "cat /proc/net/dev", target: "client"}]
tests:
  - name: "One"
    steps:
      - {name: "capture", all: "tcpdump -i any -w \\"${RESULTS_DIR}/${HOSTNAME}.pcap\\" 2>/dev/null &"}
      - {name: "endpoints", server: "ip mptcp endpoint add 10.0.1.3 dev eth1 signal",
         client: "ip mptcp limits set add_addr_accepted 2"}
      - {name: "server", server: "iperf3 -s -D", timeout_s: 10}
      - {name: "client", client: "iperf3 -c 10.0.0.3 --mptcp -J > \\"${RESULTS_DIR}/artifacts/c.json\\"",
         dstat_only: "step"}
    validation:
      - {name: "v", run: "[ -s artifacts/c.json ]"}
    regression:
      global: {alpha: 0.01, history_max_n: 5, history_since: 0}
      steps:
        - {name: "Client recv primary link", file: "stats/dstat.json", json_field: [client, "net/eth0:recv", mean]}
        - {name: "Client recv second link", file: "stats/dstat.json", json_field: [client, "net/eth1:recv", mean]}
"""


def sample():
    return yaml.safe_load(SAMPLE)


def test_the_format_is_recognised_and_ours_is_not():
    assert us.is_upstream(sample())
    assert us.is_upstream({'tests': [{'name': 'a', 'steps': []}]})
    assert us.is_upstream(yaml.safe_load(open(EXAMPLE)))
    assert not us.is_upstream({'name': 'x', 'tests': [{'name': 'a', 'protocol': 'mptcp', 'paths': 2}]})
    assert not us.is_upstream({'name': 'x', 'defaults': {'repetitions': 3}, 'tests': []})
    assert not us.is_upstream(['tests'])


def test_the_sample_is_valid_and_translates():
    tests = us.translate(sample())
    assert len(tests) == 1
    t = tests[0]
    assert t['name'] == 'One' and t['slug'] == '001-one' and t['timeout_s'] == 600
    assert [b['ifname'] for b in t['bridges']] == ['br0', 'br1']
    assert t['bridges'][0] == {'name': 'br0', 'ifname': 'br0', 'rate_mbit': 10, 'delay_ms': 5, 'loss_pc': None}
    assert [s['name'] for s in t['steps']] == ['capture', 'endpoints', 'server', 'client']
    assert t['regression']['alpha'] == 0.01 and t['regression']['history_max_n'] == 5
    assert [s['metric'] for s in t['regression']['steps']] == [
        'upstream.client-recv-primary-link', 'upstream.client-recv-second-link']
    assert t['regression']['steps'][0]['json_field'] == ['client', 'net/eth0:recv', 'mean']
    # stats: by phase, each with its hosts and file name
    assert t['stats']['pre'] == [{'name': 'nstat_reset', 'run': 'nstat -n', 'hosts': ['client', 'server'],
                                  'file': 'nstat_reset'}]
    assert t['stats']['all'][0]['hosts'] == ['client'] and t['stats']['all'][0]['file'] == 'net-dev'
    assert t['dstat'] == {'offset_start': 1, 'offset_end': 1}
    assert t['not_honoured'] == [] and len(t['steps_sha256']) == 64


def test_a_test_s_keys_replace_global_s():
    data = sample()
    data['tests'].append({'name': 'Two', 'bridges': [{'name': 'x', 'rate_mbit': 50}], 'timeout_s': 30,
                          'cpus': 4, 'ram': '2G', 'dstat': {'offset_start': 0}})
    one, two = us.translate(data)
    assert len(one['bridges']) == 2 and [b['rate_mbit'] for b in two['bridges']] == [50]
    assert two['timeout_s'] == 30 and two['stats'] == one['stats']       # stats from global
    assert two['steps'] == [] and two['regression']['steps'] == []
    assert two['dstat'] == {'offset_start': 0, 'offset_end': 1}
    assert [n['field'] for n in two['not_honoured']] == ['cpus', 'ram']
    assert one['steps_sha256'] != two['steps_sha256']


def test_regression_defaults_come_from_the_run_when_the_suite_has_none():
    data = {'tests': [{'name': 'a', 'steps': [], 'regression': {'steps': [{'name': 'x', 'file': 'f.json'}]}}]}
    t = us.translate(data, defaults={'alpha': 0.1, 'history_max_n': 4})[0]
    assert (t['regression']['alpha'], t['regression']['history_max_n'], t['regression']['history_since']) == (0.1, 4, 0)


def test_a_step_s_own_regression_setting_is_reported_not_honoured():
    data = {'tests': [{'name': 'a', 'regression': {'global': {'alpha': 0.05},
                                                   'steps': [{'name': 'x', 'file': 'f', 'alpha': 0.2}]}}]}
    t = us.translate(data)[0]
    assert t['not_honoured'][0]['field'] == 'regression.steps[0].alpha'


@pytest.mark.parametrize('mutate, message', [
    (lambda d: d.update(extra=1), "suite: unknown key(s) extra"),
    (lambda d: d.update(tests=[]), 'tests must be a non-empty list'),
    (lambda d: d['tests'][0].pop('name'), 'tests[0].name is required'),
    (lambda d: d['global']['bridges'][1].update(rate_mbit=0), 'global.bridges[1].rate_mbit must be a number > 0'),
    (lambda d: d['global']['bridges'][0].update(loss_pc=101), 'global.bridges[0].loss_pc must be a number in [0, 100]'),
    (lambda d: d['tests'][0]['steps'][2].update(timeout_s=0), 'tests[0].steps[2].timeout_s must be an integer >= 1'),
    (lambda d: d['tests'][0]['steps'][0].update(dstat_only='middle'), 'tests[0].steps[0].dstat_only must be one of'),
    (lambda d: d['tests'][0]['steps'][0].update(ignore_err='yes'), 'tests[0].steps[0].ignore_err must be true or false'),
    (lambda d: d['tests'][0]['steps'][0].update(host='client'), 'tests[0].steps[0]: unknown key(s) host'),
    (lambda d: d['global']['stats']['all'][0].update(target='shaper'), "global.stats.all[0].target must be one of client, server"),
    (lambda d: d['tests'][0]['validation'][0].pop('run'), 'tests[0].validation[0].run is required'),
    (lambda d: d['tests'][0]['regression']['global'].update(alpha=1), 'tests[0].regression.global.alpha must be a number in (0, 1)'),
    (lambda d: d['tests'][0]['regression']['steps'][0].pop('file'), 'tests[0].regression.steps[0].file is required'),
    (lambda d: d['tests'][0]['regression']['steps'][0].update(file='../x.json'),
     'tests[0].regression.steps[0].file must be a path inside the test'),
    (lambda d: d['tests'][0]['regression']['steps'][0].update(json_field='client'),
     'tests[0].regression.steps[0].json_field must be a list of non-empty strings'),
    (lambda d: d['tests'][0]['regression'].pop('steps'), 'tests[0].regression.steps is required'),
    (lambda d: d['global'].update(ram=0), 'global.ram must be an integer >= 1 or a non-empty string'),
    (lambda d: d['global'].update(dstat={'offset_start': -1}), 'global.dstat.offset_start must be an integer >= 0'),
])
def test_each_broken_rule_is_named(mutate, message):
    data = sample()
    mutate(data)
    with pytest.raises(us.UpstreamSuiteError) as err:
        us.translate(data)
    assert message in str(err.value)


def test_names_and_metrics_must_be_unique():
    data = sample()
    data['tests'].append(dict(data['tests'][0]))
    with pytest.raises(us.UpstreamSuiteError, match="tests\\[1\\] 'One': the name is also tests\\[0\\]'s"):
        us.translate(data)
    data = sample()
    data['tests'][0]['regression']['steps'][1]['name'] = 'client recv: primary link'
    with pytest.raises(us.UpstreamSuiteError, match='upstream.client-recv-primary-link is another step'):
        us.translate(data)


def test_too_many_bridges_and_odd_bridge_names():
    data = {'tests': [{'name': 'a', 'bridges': [{'name': 'br%d' % i} for i in range(9)]}]}
    with pytest.raises(us.UpstreamSuiteError, match='bridges: at most 8'):
        us.translate(data)
    t = us.translate({'tests': [{'name': 'a', 'bridges': [{'name': 'a very long bridge name'}]}]})[0]
    assert t['bridges'][0]['ifname'] == 'br0' and t['bridges'][0]['name'] == 'a very long bridge name'


def test_json_field_walks_objects_and_lists():
    doc = {'a': {'b': [10, {'c': 3}]}}
    assert us.json_field(doc, ['a', 'b', '1', 'c']) == 3
    assert us.json_field(doc, ['a', 'b', '-2']) == 10
    with pytest.raises(KeyError, match="a.b has no '5'"):
        us.json_field(doc, ['a', 'b', '5'])
    with pytest.raises(KeyError, match="the document has no 'x'"):
        us.json_field(doc, ['x'])


def rows(n, start=1000.0, recv=1000.0):
    return [{'time': start + i, 'net/eth0:recv': recv * (i + 1), 'net/eth0:send': 10.0, 'usr': 5.0}
            for i in range(n)]


def test_dstat_window_keeps_the_step_minus_the_offsets():
    times = [1000.0 + i for i in range(10)]
    # from 1003 (the first at or after the start) up to 1006 (upstream stops one before the last), minus one each side
    assert ur.window(times, 1002.5, 1007.5) == (4, 6)
    assert ur.window(times) == (1, 9)
    assert ur.window(times, 1002.5, 1007.5, 0, 0) == (3, 7)


def test_dstat_document_has_upstream_s_fields_in_bits():
    doc = ur.dstat_document(rows(10), 1002.5, 1007.5, 1, 1)
    recv = doc['net/eth0:recv']
    assert recv['bytes'] == [5000.0, 6000.0]
    assert recv['filtered'] == [40000, 48000] and recv['mean'] == 44000
    assert recv['min'] == 40000 and recv['max'] == 48000 and recv['diff'] == 8000 and recv['sum'] == 88000
    assert len(recv['percentiles']) == 99 and len(recv['quartiles']) == 3 and recv['stdev'] > 0
    assert recv['raw_bits'][0] == 8000
    assert doc['time']['sec'] == [1004, 1005] and doc['time']['diff'] == 1
    assert doc['usr']['filtered'] == [5.0, 5.0] and 'bytes' not in doc['usr']


def test_dstat_document_of_a_single_sample_and_of_none():
    doc = ur.dstat_document(rows(3), None, None, 1, 1)
    assert doc['net/eth0:recv']['filtered'] == [16000] and doc['net/eth0:recv']['stdev'] is None
    assert ur.dstat_document([], None, None) == {}
    empty = ur.dstat_document(rows(2), None, None, 1, 1)
    assert empty['net/eth0:recv']['filtered'] == [] and 'mean' not in empty['net/eth0:recv']
    assert 'diff' not in empty['time']


def test_per_path_rates_take_the_receiving_end():
    dstat = {'client': {'net/eth0:recv': {'mean': 19e6}, 'net/eth1:recv': {'mean': 1e3}},
             'server': {'net/eth0:recv': {'mean': 1e6}, 'net/eth1:recv': {'mean': 18e6}}}
    assert ur.per_path_mbps(dstat, 3) == [19.0, 18.0, None]


def test_regression_values_are_read_from_their_files(tmp_path):
    (tmp_path / 'stats').mkdir()
    (tmp_path / 'stats' / 'dstat.json').write_text(json.dumps({'client': {'net/eth0:recv': {'mean': 9.5e6}},
                                                               'x': {'s': 'text'}}))
    test = {'regression': {'steps': [
        {'name': 'a', 'metric': 'upstream.a', 'file': 'stats/dstat.json', 'json_field': ['client', 'net/eth0:recv', 'mean']},
        {'name': 'b', 'metric': 'upstream.b', 'file': 'stats/dstat.json', 'json_field': ['x', 's']},
        {'name': 'c', 'metric': 'upstream.c', 'file': 'missing.json', 'json_field': ['x']}]}}
    values, errors = ur.regression_values(test, str(tmp_path))
    assert [v['value'] for v in values] == [9.5e6, None, None]
    assert "regression step 'b'" in errors[0] and 'not a number' in errors[0]
    assert "regression step 'c': missing.json" in errors[1]


def test_the_record_of_an_upstream_test():
    test = us.translate(sample())[0]
    outcome = {'name': 'One', 'valid': True, 'invalid_reason': None, 'wall_s': 14.2, 'window_s': 8,
               'results_dir': 'upstream/001-one', 'per_path_mbps': [9.6, 9.5], 'not_honoured': [],
               'steps': [{'name': 'client', 'host': 'client', 'rc': 0, 'timed_out': False, 'ignored': False,
                          'duration_s': 10.1, 'ok': True}],
               'validation': [{'name': 'v', 'rc': 0, 'ok': True}],
               'regression': dict(test['regression'], steps=[dict(s, value=v) for s, v in
                                                             zip(test['regression']['steps'], [9.9e6, 9.8e6])])}
    rec = perf_record.upstream_test_record(test, outcome, 1)
    assert rec['kind'] == 'upstream' and rec['valid'] and rec['paths'] == 2 and rec['path_ids'] == [1, 2]
    assert rec['runs'][0]['metrics'] == {'upstream.client-recv-primary-link': 9.9e6,
                                         'upstream.client-recv-second-link': 9.8e6}
    assert rec['metrics']['upstream.client-recv-primary-link']['median'] == 9.9e6
    assert rec['metrics']['upstream.client-recv-primary-link']['better'] == 'higher'
    assert rec['shaping'][0] == {'rate_mbit': 10, 'delay_ms': 5, 'loss_pct': None, 'queue_limit': None}
    assert rec['upstream']['regression']['alpha'] == 0.01 and rec['upstream']['results_dir'] == 'upstream/001-one'
    assert rec['runs'][0]['duration_s'] == 8
    # a task that failed: an invalid test that says why, no figures
    failed = perf_record.upstream_test_record(test, {'failed': True, 'msg': 'boom'}, 1)
    assert not failed['valid'] and failed['invalid_reason'] == 'task failed: boom'
    assert failed['metrics']['upstream.client-recv-primary-link']['n'] == 0


def test_a_regression_step_needs_a_name_that_can_name_a_metric():
    data = {'tests': [{'name': 'a', 'regression': {'steps': [{'name': '!!', 'file': 'f.json'}]}}]}
    with pytest.raises(us.UpstreamSuiteError, match=r"tests\[0\] 'a': regression.steps\[0\].name '!!' needs a letter"):
        us.translate(data)
