"""The run knobs checked before anything exists (perf_knobs) and the lab_knobs module's run()."""

import os

import pytest

from ansible_collections.mptcp.lab.plugins.module_utils.perf import perf_knobs as pk
from ansible_collections.mptcp.lab.plugins.modules import lab_knobs

NAN = float('nan')
INF = float('inf')


@pytest.mark.parametrize('knobs', [
    {},
    {'perf_keep_lab': True, 'perf_provision': 'yes', 'perf_fail_on_regression': 'False'},
    {'perf_min_effect_pct': '1.5', 'perf_alpha': 0.05, 'perf_baseline_runs': '10'},
    {'perf_min_effect_pct': 0, 'perf_baseline_runs': 100, 'perf_alpha': '0.01'},
    {'perf_duration_s': '', 'perf_repetitions': None},
    {'perf_duration_s': '10', 'perf_repetitions': 5},
    {'perf_baseline': '', 'perf_suite_run_id': '20261206T213535Z-cd625c', 'perf_suite': 'smoke'},
    {'perf_results_dir': 'results', 'perf_generator': 'mlab-gen1'},
    {'perf_results_dir': '/srv/perf results/x'},
])
def test_good_run_knobs(knobs):
    assert pk.check_run_knobs(knobs) == []


@pytest.mark.parametrize('knobs, message', [
    ({'perf_keep_lab': 'maybe'}, "perf_keep_lab must be true or false, got 'maybe'"),
    ({'perf_provision': 2}, 'perf_provision must be true or false, got 2'),
    ({'perf_fail_on_regression': None}, 'perf_fail_on_regression must be true or false, got None'),
    ({'perf_min_effect_pct': 'nan'}, "perf_min_effect_pct must be a finite number in [0, 1000] (percent), got 'nan'"),
    ({'perf_min_effect_pct': NAN}, 'perf_min_effect_pct must be a finite number in [0, 1000] (percent), got nan'),
    ({'perf_min_effect_pct': -1}, 'perf_min_effect_pct must be a finite number in [0, 1000]'),
    ({'perf_min_effect_pct': True}, 'perf_min_effect_pct must be a finite number'),
    ({'perf_alpha': 'inf'}, "perf_alpha must be a finite number in (0, 1), the significance level, got 'inf'"),
    ({'perf_alpha': 0}, 'perf_alpha must be a finite number in (0, 1)'),
    ({'perf_alpha': 1.0}, 'perf_alpha must be a finite number in (0, 1)'),
    ({'perf_baseline_runs': 2.5}, 'perf_baseline_runs must be an integer in [1, 100], got 2.5'),
    ({'perf_baseline_runs': '0'}, "perf_baseline_runs must be an integer in [1, 100], got '0'"),
    ({'perf_duration_s': INF}, 'perf_duration_s must be an integer in [1, 86400]'),
    ({'perf_duration_s': 'ten'}, "perf_duration_s must be an integer in [1, 86400] (or empty for the suite's own), got 'ten'"),
    ({'perf_repetitions': 1001}, 'perf_repetitions must be an integer in [1, 1000]'),
    ({'perf_baseline': '../etc'}, "perf_baseline must be 1-128 letters"),
    ({'perf_suite_run_id': 'latest'}, 'perf_suite_run_id must be 1-128 letters'),
    ({'perf_suite_run_id': '.hidden'}, 'perf_suite_run_id must be 1-128 letters'),
    ({'perf_suite_run_id': 'a' * 129}, 'perf_suite_run_id must be 1-128 letters'),
    ({'perf_suite': ''}, "perf_suite must be a shipped suite name or a suite file path"),
    ({'perf_generator': 5}, 'perf_generator must be the inventory name of a generator, got 5'),
    ({'perf_results_dir': ''}, "perf_results_dir must be a directory path, not empty, got ''"),
    ({'perf_results_dir': '.'}, "perf_results_dir must not be '.'"),
    ({'perf_results_dir': 'r#1'}, "perf_results_dir must not contain '#'"),
    ({'perf_results_dir': 'r?x'}, "perf_results_dir must not contain '?'"),
    ({'perf_results_dir': 'r%20'}, "perf_results_dir must not contain '%'"),
    ({'perf_results_dir': 'a\nb'}, "perf_results_dir must not contain '\\n'"),
])
def test_bad_run_knobs_are_named(knobs, message):
    errors = pk.check_run_knobs(knobs)
    assert len(errors) == 1 and errors[0].startswith(message), errors


def test_every_bad_knob_is_reported_at_once():
    errors = pk.check_run_knobs({'perf_alpha': 2, 'perf_keep_lab': 'x', 'perf_min_effect_pct': NAN})
    assert [e.split()[0] for e in errors] == ['perf_keep_lab', 'perf_min_effect_pct', 'perf_alpha']


@pytest.fixture
def project(tmp_path):
    """A project directory that is also the collection root, with a file and an earlier run."""
    root = tmp_path / 'project'
    (root / 'plugins').mkdir(parents=True)
    (root / 'results' / 'kernel-a').mkdir(parents=True)
    (root / 'a-file').write_text('x')
    (tmp_path / 'link').symlink_to(root)
    return str(root)


def location(project, results_dir, run_id='r1', collection=None):
    path = results_dir if os.path.isabs(results_dir) else os.path.normpath(os.path.join(project, results_dir))
    return pk.check_results_location(results_dir, path, run_id, project, collection or project)


def test_results_location_accepts_new_runs(project):
    assert location(project, 'results') == []
    assert location(project, 'results/deeper/still-new') == []
    assert location(project, os.path.join(os.path.dirname(project), 'elsewhere')) == []


@pytest.mark.parametrize('results_dir, run_id, message', [
    ('', 'r1', 'perf_results_dir must be a directory path, not empty'),
    ('.', 'r1', "perf_results_dir must not be '.'"),
    ('./', 'r1', "perf_results_dir must not be '.'"),
    ('..', 'r1', 'which is the project directory or above it'),
    ('/', 'r1', 'or above it'),
    ('plugins', 'r1', "inside the collection's own plugins/"),
    ('plugins/sub', 'r1', "inside the collection's own plugins/"),
    ('a-file', 'r1', 'is not a directory'),
    ('a-file/under', 'r1', 'a-file is not a directory'),
    ('results', 'kernel-a', "perf_suite_run_id 'kernel-a': the run"),
    ('results', 'a/b', 'perf_suite_run_id must be'),
])
def test_results_location_refusals(project, results_dir, run_id, message):
    errors = location(project, results_dir, run_id)
    assert len(errors) == 1 and message in errors[0], errors


def test_results_location_sees_through_links(project):
    # the collection reached through a link (.collections/ansible_collections/mptcp/lab -> repo)
    linked = os.path.join(os.path.dirname(project), 'link')
    errors = pk.check_results_location('plugins', os.path.join(project, 'plugins'), 'r1', project, linked)
    assert errors and "inside the collection's own plugins/" in errors[0]
    errors = pk.check_results_location('.', linked, 'r1', project, linked)
    assert errors and "must not be '.'" in errors[0]


def test_results_location_refuses_a_read_only_directory(tmp_path):
    if os.geteuid() == 0:
        pytest.skip('root writes everywhere')
    ro = tmp_path / 'ro'
    ro.mkdir(mode=0o555)
    assert 'is not writable' in pk.check_results_location('ro', str(ro / 'x'), 'r1', str(tmp_path / 'p'), None)[0]


def test_lab_knobs_module_checks_what_is_given():
    params = dict((name, None) for name in lab_knobs.LAB_KNOBS + lab_knobs.RUN_KNOBS)
    assert lab_knobs.run(params) == ([], [])
    params.update(lab_paths=[{'rate_mbit': NAN}], lab_prefix='mlab', perf_alpha='2')
    errors, checked = lab_knobs.run(params)
    assert checked == ['lab_paths', 'lab_prefix', 'perf_alpha']
    assert errors == ['lab_paths[0].rate_mbit must be a finite number in [0.01, 34000] Mbit/s, got nan',
                      "perf_alpha must be a finite number in (0, 1), the significance level, got '2'"]
