"""Unit tests for the perf modules' own logic (perf_suite, perf_host_info, perf_results)."""

import hashlib
import json
import os

import pytest

from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes

from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_suite import SuiteError
from ansible_collections.mptcp.lab.plugins.modules import perf_host_info, perf_results, perf_suite

SUITES = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'roles', 'perf_suite', 'files', 'suites')


def run(monkeypatch, capsys, module, args):
    monkeypatch.setattr(basic, '_ANSIBLE_ARGS', to_bytes(json.dumps({'ANSIBLE_MODULE_ARGS': args})))
    monkeypatch.setattr(basic, '_ANSIBLE_PROFILE', 'legacy', raising=False)
    with pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out)


def test_find_suite_by_name_and_path(tmp_path, monkeypatch):
    path, name = perf_suite.find_suite('smoke', SUITES, None)
    assert name == 'smoke' and path.endswith('smoke.yml')
    with pytest.raises(SuiteError, match="no shipped suite 'nope'; shipped: default, kernel, latency, pairs, shared, smoke"):
        perf_suite.find_suite('nope', SUITES, None)
    own = tmp_path / 'mine.yml'
    own.write_text('tests: [{name: a}]\n')
    monkeypatch.chdir(tmp_path)
    assert perf_suite.find_suite('mine.yml', SUITES, '/nonexistent') == (str(own), 'mine')
    monkeypatch.chdir('/')
    assert perf_suite.find_suite('mine.yml', SUITES, str(tmp_path)) == (str(own), 'mine')
    with pytest.raises(SuiteError, match='not found'):
        perf_suite.find_suite('./other.yml', SUITES, str(tmp_path))


def test_scripts_of_commands_are_read_beside_the_suite_and_identified_by_content(tmp_path):
    from ansible_collections.mptcp.lab.plugins.module_utils.perf import perf_suite as ps
    (tmp_path / 'probe.sh').write_text('#!/bin/sh\necho hi\n')
    (tmp_path / 'plain.txt').write_text('echo hi\n')
    suite_file = tmp_path / 'mine.yml'
    suite = ps.validate_suite({'name': 'x', 'tests': [
        {'name': 'a', 'commands': {'post': [{'script': 'probe.sh'}, {'argv': ['true']}]}}]}, 2)
    scripts = perf_suite.load_scripts(suite, str(suite_file))
    cmd = suite['tests'][0]['commands']['post'][0]
    assert cmd['script'] == str(tmp_path / 'probe.sh') and scripts == {cmd['script']: '#!/bin/sh\necho hi\n'}
    assert cmd['sha256'] == hashlib.sha256(b'#!/bin/sh\necho hi\n').hexdigest()
    for script, message in (('nope.sh', 'is not a file'), ('plain.txt', 'must start with a #! line')):
        bad = ps.validate_suite({'name': 'x', 'tests': [{'name': 'a', 'commands': {'pre': [{'script': script}]}}]}, 2)
        with pytest.raises(SuiteError, match="tests\\[0\\] 'a': commands.pre\\[0\\].script: .*%s" % message):
            perf_suite.load_scripts(bad, str(suite_file))


def test_perf_suite_module_plans_and_reports_errors(monkeypatch, capsys, tmp_path):
    out = run(monkeypatch, capsys, perf_suite, {'suite': 'default', 'suites_dir': SUITES, 'path_count': 2,
                                                'lab_paths': [{'rate_mbit': 50}, {'rate_mbit': 50}],
                                                'duration_s': '5', 'repetitions': ''})
    assert not out.get('failed') and not out['changed']
    # 4 bulk tests and 2 latency tests (5 s + sockperf's 3 s each) shaped, 2 unshaped bulk tests; 3 reps
    assert len(out['perf_plan']) == 24 and out['planned_s'] == 18 * 6 + 6 * 8
    assert out['perf_plan'][0]['congestion'] == 'cubic'
    first = [i['test'] for i in out['perf_plan'][:6]]
    assert first == ['tcp-upload', 'tcp-download', 'mptcp-upload', 'mptcp-download', 'rr-tcp', 'rr-mptcp']
    assert [i.get('kind') for i in out['perf_plan'][4:6]] == ['latency', 'latency']
    # the shaped tests, then the unshaped pair: one reshape, and the lab's shaping back at the end
    assert [i['test'] for i in out['perf_plan'][18:20]] == ['tcp-unshaped', 'mptcp-unshaped']
    assert [(s['reshape'], s['shaping'], len(s['items'])) for s in out['segments']] == [
        (False, None, 18), (True, [{'rate_mbit': None}, {'rate_mbit': None}], 6)]
    assert all(s['items'][-1]['seg_last'] for s in out['segments'])
    assert out['reshapes'] and [(g['lab'], g['netem']) for g in out['scenarios']] == [(True, False), (False, False)]
    assert out['expected_mbps']['mptcp-upload'] == pytest.approx(95.64, abs=0.01)
    assert out['expected_mbps']['mptcp-unshaped'] is None
    # without a shaper, a test's own shaping has nobody to apply it
    out = run(monkeypatch, capsys, perf_suite, {'suite': 'default', 'suites_dir': SUITES, 'path_count': 2,
                                                'lab_paths': [{'rate_mbit': 50}, {'rate_mbit': 50}], 'shapers': 0})
    assert out['failed'] and out['msg'] == (
        "tests[6] 'tcp-unshaped': shaping differs from the lab's, but the lab has no shaper (the shapers group "
        "is empty) to apply it; remove the shaping or add a shaper")

    bad = tmp_path / 'bad.yml'
    bad.write_text('tests:\n  - {name: ok}\n  - {name: wide, paths: 3}\n')
    out = run(monkeypatch, capsys, perf_suite, {'suite': str(bad), 'suites_dir': SUITES, 'path_count': 2})
    assert out['failed']
    assert out['msg'].startswith("tests[1] 'wide': paths must be 1..2 (the lab has 2 paths)")
    broken = tmp_path / 'broken.yml'
    broken.write_text('tests: [\n')
    out = run(monkeypatch, capsys, perf_suite, {'suite': str(broken), 'suites_dir': SUITES, 'path_count': 2})
    assert out['failed'] and 'is not valid YAML' in out['msg']


def test_perf_results_rejects_a_bad_run_id(monkeypatch, capsys, tmp_path):
    out = run(monkeypatch, capsys, perf_results, {'results_dir': str(tmp_path), 'run_id': '../x', 'suite': {},
                                                  'plan': [], 'results': [], 'started': 0})
    assert out['failed'] and out['msg'].startswith('run_id:')
    assert list(tmp_path.iterdir()) == []


def test_ethtool_and_cpuinfo_parsing():
    text = ('Features for mlab-p1:\nrx-checksumming: on\ntcp-segmentation-offload: on\n'
            '\ttx-tcp-segmentation: on\nlarge-receive-offload: off [fixed]\n')
    assert perf_host_info.parse_ethtool_features(text) == {
        'rx-checksumming': 'on', 'tcp-segmentation-offload': 'on', 'tx-tcp-segmentation': 'on',
        'large-receive-offload': 'off [fixed]'}
    cpu = perf_host_info.parse_cpuinfo('processor\t: 0\nmodel name\t: Foo CPU\nprocessor\t: 1\nmodel name\t: Foo CPU\n')
    assert cpu == {'model': 'Foo CPU', 'count': 2}


def test_tc_handle_notation():
    assert perf_host_info.tc_handle(0xFFFFFFFF) == 'root'
    assert perf_host_info.tc_handle(0x10000) == '1:'
    assert perf_host_info.tc_handle(0x10001) == '1:1'
    assert perf_host_info.tc_handle(0x100000) == '10:'


def test_perf_suite_module_refuses_bad_files_and_locations_without_a_traceback(monkeypatch, capsys, tmp_path):
    base = {'suites_dir': SUITES, 'path_count': 2}
    latin = tmp_path / 'latin.yml'
    latin.write_bytes(b'tests: [{name: caf\xe9}]\n')
    out = run(monkeypatch, capsys, perf_suite, dict(base, suite=str(latin)))
    assert out['failed'] and 'is not UTF-8 text' in out['msg']
    out = run(monkeypatch, capsys, perf_suite, dict(base, suite='bad\x00name.yml'))
    assert out['failed'] and out['msg'].startswith('perf_suite: suite file ') and 'not found' in out['msg']
    matrix = tmp_path / 'matrix.yml'
    matrix.write_text('tests:\n  - {name: m, protocol: tcp, matrix: {paths: [[1], [2]]}}\n')
    (tmp_path / 'results' / 'r1').mkdir(parents=True)
    located = dict(base, suite=str(matrix), base_dir=str(tmp_path), collection_dir=str(tmp_path),
                   results_dir='results', results_path=str(tmp_path / 'results'))
    out = run(monkeypatch, capsys, perf_suite, dict(located, run_id='r2'))
    assert not out.get('failed') and [t['name'] for t in out['suite']['tests']] == ['m-paths1', 'm-paths2']
    out = run(monkeypatch, capsys, perf_suite, dict(located, run_id='r1'))
    assert out['failed'] and out['msg'].startswith("perf_suite_run_id 'r1': the run %s exists already"
                                                   % (tmp_path / 'results' / 'r1'))
    out = run(monkeypatch, capsys, perf_suite, dict(located, run_id='r2', results_dir='.',
                                                    results_path=str(tmp_path)))
    assert out['failed'] and out['msg'].startswith("perf_results_dir must not be '.'")


def test_the_console_table_of_a_run():
    stats = {'median': 94.021, 'cv': 0.00012, 'n': 3}
    summary = {'run_id': '20261207T120000Z-abc123', 'wall_s': 377.44, 'traffic_s': 291.9, 'wall_per_traffic': 1.2931,
               'tests': [
                   {'name': 'mptcp-upload', 'protocol': 'mptcp', 'paths': 2, 'throughput_mbps': stats,
                    'utilisation': 0.9832, 'verdict': 'ok'},
                   # one repetition: no CV; failed: no median
                   {'name': 'tcp-once', 'protocol': 'tcp', 'paths': 1, 'utilisation': None, 'verdict': 'invalid',
                    'throughput_mbps': {'median': None, 'cv': None, 'n': 0}},
                   {'name': 'rr-mptcp', 'protocol': 'mptcp', 'paths': 2, 'kind': 'latency', 'load': 'bulk',
                    'throughput_mbps': {'median': None, 'cv': None, 'n': 0}, 'utilisation': None, 'verdict': 'ok',
                    'metrics': {'rr_tps': {'median': 28091.04}, 'latency_p50_us': {'median': 30.81},
                                'latency_p90_us': {'median': None}, 'latency_p99_us': {'median': 71.6}}},
                   {'name': 'mptcp-x4', 'protocol': 'mptcp', 'paths': 2, 'pairs': 4, 'utilisation': 0.978,
                    'throughput_mbps': {'median': 374.27, 'cv': None, 'n': 1}, 'verdict': 'ok',
                    'metrics': {'jain_index': {'median': 0.99997}},
                    'runs': [{'start_skew_ms': 2.4}, {'start_skew_ms': 11.07}, {'start_skew_ms': None}]},
                   {'name': 'mix', 'protocol': 'mptcp', 'paths': 2, 'pairs': 4, 'utilisation': 0.986,
                    'mix': {'mptcp': 2, 'tcp': 2}, 'bottleneck': {'rate_mbit': 100},
                    'throughput_mbps': {'median': 94.31, 'cv': 0.0066, 'n': 3}, 'verdict': 'ok',
                    'metrics': {'jain_index': {'median': 0.766}, 'mptcp_share': {'median': 0.7617}},
                    'runs': [{'start_skew_ms': 7.8}]},
               ]}
    lines = perf_results.table_lines(summary, '/r/20261207T120000Z-abc123/summary.json')
    assert lines == [
        'test                   proto  paths median Mb/s      CV   util  verdict',
        'mptcp-upload           mptcp      2      94.02   0.01%  98.3%  ok',
        'tcp-once               tcp        1          -       -      -  invalid',
        'rr-mptcp               mptcp      2          -       -      -  ok',
        'mptcp-x4               mptcp      2     374.27       -  97.8%  ok',
        'mix                    mptcp      2      94.31   0.66%  98.6%  ok',
        'rr-mptcp               28091.0 transactions/s, round trip p50 30.8 / p90 - / p99 71.6 us (under a bulk load)',
        "mptcp-x4               4 pairs at once: Jain's index 1.0000, start skew up to 11.1 ms",
        "mix                    4 pairs at once: Jain's index 0.7660, start skew up to 7.8 ms, 2 MPTCP + 2 TCP "
        "flows: MPTCP share 0.762 (shared bottleneck 100 Mbit/s)",
        'run 20261207T120000Z-abc123: wall 377.4 s, traffic 291.9 s (ratio 1.293), '
        '/r/20261207T120000Z-abc123/summary.json',
    ]
