"""The perf_report role through ansible-playbook, on synthetic run records.

run record -> history -> verdict -> report, with the knobs users pass with -e:
perf_results_dir, perf_baseline, perf_fail_on_regression.
"""

import json
import os
import re
import sys

import pytest

from conftest import ansible_playbook

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import perf_fixtures  # noqa: E402  pylint: disable=wrong-import-position

PLAY = """---
- name: Results history, verdict and report
  hosts: localhost
  gather_facts: false
  roles:
    - role: mptcp.lab.perf_report
"""


@pytest.fixture
def play(tmp_path):
    path = tmp_path / 'report.yml'
    path.write_text(PLAY)
    return str(path)


def recap(stdout):
    match = re.search(r'localhost\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)', stdout)
    assert match, stdout
    return dict(ok=int(match.group(1)), changed=int(match.group(2)), failed=int(match.group(3)))


def test_regression_fails_the_play_after_the_report(tmp_path, play):
    results = str(tmp_path / 'results')
    perf_fixtures.write_history(results, 7, scale_last={'mptcp-2paths-up': 0.97})
    proc = ansible_playbook(play, '-e', 'perf_results_dir=%s' % results,
                            '-e', 'perf_fail_on_regression=true', check=False)
    assert proc.returncode != 0
    assert recap(proc.stdout)['failed'] == 1
    out = proc.stdout + proc.stderr
    assert '1 regression(s) in run %s' % perf_fixtures.run_id_for(6) in out
    assert 'mptcp-2paths-up: throughput_mbps -' in out
    # the report was written before failing, and its path printed
    report = os.path.join(results, perf_fixtures.run_id_for(6), 'report.html')
    assert os.path.isfile(report) and 'Report: %s' % report in proc.stdout
    run_dir = os.path.join(results, perf_fixtures.run_id_for(6))
    with open(os.path.join(run_dir, 'verdict.json')) as handle:
        verdict = json.load(handle)
    assert [r['test'] for r in verdict['regressions']] == ['mptcp-2paths-up']
    assert [t['outcome'] for t in verdict['tests']] == ['pass', 'regression', 'pass']
    # the CI outputs beside the record name the regression too
    with open(os.path.join(run_dir, 'junit.xml')) as handle:
        junit = handle.read()
    assert 'failures="1"' in junit and 'regression: throughput_mbps -' in junit
    with open(os.path.join(run_dir, 'verdict.md')) as handle:
        assert '**REGRESSION**' in handle.read()


def test_without_the_knob_a_regression_is_reported_not_fatal(tmp_path, play):
    results = str(tmp_path / 'results')
    perf_fixtures.write_history(results, 7, scale_last={'mptcp-2paths-up': 0.97})
    proc = ansible_playbook(play, '-e', 'perf_results_dir=%s' % results)
    assert 'mptcp-2paths-up: regression' in proc.stdout


def test_idempotent_and_check_mode(tmp_path, play):
    results = str(tmp_path / 'results')
    perf_fixtures.write_history(results, 6)
    args = ('-e', 'perf_results_dir=%s' % results)
    check = ansible_playbook(play, '--check', *args)
    assert recap(check.stdout)['changed'] == 3           # history, verdict, report predicted
    assert not os.path.exists(os.path.join(results, 'history.sqlite'))
    assert not os.path.exists(os.path.join(results, perf_fixtures.run_id_for(5), 'report.html'))
    first = ansible_playbook(play, *args)
    assert recap(first.stdout)['changed'] == 3
    assert 'tcp-1path-up: pass' in first.stdout
    second = ansible_playbook(play, *args)
    assert recap(second.stdout)['changed'] == 0
    check_again = ansible_playbook(play, '--check', *args)
    assert recap(check_again.stdout)['changed'] == 0
    # a new run appears: everything changes once more
    perf_fixtures.write_run(results, perf_fixtures.make_summary(
        perf_fixtures.run_id_for(6), perf_fixtures.started_for(6)))
    third = ansible_playbook(play, *args)
    assert recap(third.stdout)['changed'] == 3


def test_named_baseline_kernel_a_vs_kernel_b(tmp_path, play):
    results = str(tmp_path / 'results')
    kernel_a = perf_fixtures.make_summary('kernel-a', '2026-11-25T08:00:00Z', kernel='6.17.0')
    perf_fixtures.write_run(results, kernel_a)
    ansible_playbook(play, '-e', 'perf_results_dir=%s' % results)
    kernel_b = perf_fixtures.make_summary('kernel-b', '2026-11-25T09:00:00Z', kernel='6.18.0',
                                          scale={'tcp-1path-up': 1.05})
    perf_fixtures.write_run(results, kernel_b)
    proc = ansible_playbook(play, '-e', 'perf_results_dir=%s' % results, '-e', 'perf_baseline=kernel-a')
    assert 'against the run kernel-a' in proc.stdout
    assert 'tcp-1path-up: improvement' in proc.stdout
    with open(os.path.join(results, 'kernel-b', 'verdict.json')) as handle:
        verdict = json.load(handle)
    assert verdict['baseline_run'] == 'kernel-a'
    assert verdict['improvements'][0]['test'] == 'tcp-1path-up'


def test_unknown_named_baseline_fails_early_with_help(tmp_path, play):
    results = str(tmp_path / 'results')
    perf_fixtures.write_history(results, 2)
    proc = ansible_playbook(play, '-e', 'perf_results_dir=%s' % results, '-e', 'perf_baseline=nope',
                            check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "perf_baseline: run 'nope' is not in the history" in out
    assert perf_fixtures.run_id_for(1) in out          # lists the runs there are
    # nothing judged, no report
    assert not os.path.exists(os.path.join(results, perf_fixtures.run_id_for(1), 'report.html'))


def test_bad_knob_is_rejected_by_the_argument_spec(tmp_path, play):
    results = str(tmp_path / 'results')
    perf_fixtures.write_history(results, 1)
    proc = ansible_playbook(play, '-e', 'perf_results_dir=%s' % results, '-e', 'perf_baseline_runs=many',
                            check=False)
    assert proc.returncode != 0
    assert 'perf_report_baseline_runs' in proc.stdout + proc.stderr
    assert not os.path.exists(os.path.join(results, 'history.sqlite'))
