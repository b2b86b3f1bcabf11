"""Bad input stops a run in its first play, names the field, and creates nothing.

Table-driven: each case runs ``ansible-playbook playbooks/perf.yml`` (or
provision.yml for lab knobs) for real, on an inventory of its own with a
unique prefix, with bad inventory knobs (``-e``), a bad suite file or bad
``-e`` values, and asserts that

- the run fails (rc != 0) in the first play (no other play starts);
- the failure message names the field (the variable, or ``tests[i].field``);
- no Python traceback reaches the output;
- no namespace ``<prefix>-*``, no ``/run/mptcp-lab/<prefix>-*`` file and no run
  directory were created (the case's results directory stays absent or empty,
  the repository's results/ is unchanged).

The cases run four at a time. perf.yml cases also pass perf_provision=false
(unless they test it) and a results directory of their own: should a
validation slip, the run still touches neither a lab nor the repository.
"""

import glob
import json
import os
import re
import subprocess
import sys
import uuid
from multiprocessing.pool import ThreadPool

import pytest

from conftest import ROOT, ansible_playbook

RUN_DIR = '/run/mptcp-lab'
PERF = 'playbooks/perf.yml'
PROVISION = 'playbooks/provision.yml'
FIRST_PLAY = {PERF: 'Plan the suite (suite definition -> measurement plan)',
              PROVISION: 'Wire the virtual lab (namespaces and veth links, on the controller)'}


def lab_paths(*paths):
    return {'lab_paths': list(paths)}


# (id, playbook, extra vars: a dict passed as JSON, or a list of key=value strings,
#  suite YAML text or None, what the failure message must contain)
CASES = [
    # lab knobs (inventory variables overridden with -e), perf.yml
    ('rate-nan', PERF, lab_paths({'rate_mbit': float('nan')}), None, 'lab_paths[0].rate_mbit'),
    ('rate-inf', PERF, lab_paths({'rate_mbit': 50}, {'rate_mbit': float('inf')}), None, 'lab_paths[1].rate_mbit'),
    ('rate-tiny', PERF, lab_paths({'rate_mbit': 1e-6}), None, 'lab_paths[0].rate_mbit'),
    ('rate-huge', PERF, lab_paths({'rate_mbit': 1e9}), None, 'lab_paths[0].rate_mbit'),
    ('rate-string', PERF, lab_paths({'rate_mbit': '50'}), None, 'lab_paths[0].rate_mbit'),
    ('rate-missing', PERF, lab_paths({'delay_ms': 5}), None, 'lab_paths[0].rate_mbit'),
    ('loss-over-100', PERF, lab_paths({'rate_mbit': 50, 'loss_pct': 101}), None, 'lab_paths[0].loss_pct'),
    ('delay-negative', PERF, lab_paths({'rate_mbit': 50, 'delay_ms': -1}), None, 'lab_paths[0].delay_ms'),
    ('queue-fraction', PERF, lab_paths({'rate_mbit': 50, 'queue_limit': 1.5}), None, 'lab_paths[0].queue_limit'),
    ('queue-zero', PERF, lab_paths({'rate_mbit': 50, 'queue_limit': 0}), None, 'lab_paths[0].queue_limit'),
    ('paths-empty', PERF, lab_paths(), None, 'lab_paths must be a non-empty list'),
    ('paths-nine', PERF, lab_paths(*[{'rate_mbit': 10}] * 9), None, 'lab_paths has 9 paths'),
    ('paths-unknown-key', PERF, lab_paths({'rate_mbit': 10, 'jitter_ms': 1}), None, 'lab_paths[0] has unknown keys'),
    ('paths-not-list', PERF, ['lab_paths=50'], None, 'lab_paths must be a non-empty list'),
    ('prefix-bad', PERF, ['lab_prefix=Lab-1'], None, "lab_prefix 'Lab-1' must match"),
    ('subnet-prefix-40', PERF, {'lab_subnet_prefix': 40}, None, 'lab_subnet_prefix must be an integer in [16, 30]'),
    ('address-base-bad', PERF, ['lab_address_base=10.0.0.300/14'], None, 'lab_address_base'),
    ('table-base-zero', PERF, {'lab_table_base': 0}, None, 'lab_table_base must be an integer'),
    ('lab-kind-bad', PERF, ['lab_kind=cloud'], None, 'lab_kind must be one of'),
    ('lab-pair-zero', PERF, {'lab_pair': 0}, None, 'lab_pair must be an integer in [1, 64]'),
    ('lab-peer-unknown', PERF, ['lab_peer=nope'], None, 'needs lab_peer naming a host of the sinks group'),
    # run knobs, perf.yml
    ('min-effect-nan', PERF, ['perf_min_effect_pct=nan'], None, 'perf_min_effect_pct must be a finite number'),
    ('alpha-inf', PERF, ['perf_alpha=inf'], None, 'perf_alpha must be a finite number in (0, 1)'),
    ('metric-effect-unknown', PERF, {'perf_metric_min_effect': {'cpu': 3}}, None,
     "perf_metric_min_effect: 'cpu' is not a metric"),
    ('metric-effect-negative', PERF, {'perf_metric_min_effect': {'rr_tps': -2}}, None,
     'perf_metric_min_effect.rr_tps must be a finite number in [0, 1000]'),
    ('judged-metrics-unknown', PERF, ['perf_judged_metrics=throughput_mbps,tput'], None,
     "perf_judged_metrics: 'tput' is not a metric"),
    ('alpha-word', PERF, ['perf_alpha=abc'], None, 'perf_alpha must be a finite number in (0, 1)'),
    ('baseline-runs-nan', PERF, ['perf_baseline_runs=nan'], None, 'perf_baseline_runs must be an integer'),
    ('baseline-path', PERF, ['perf_baseline=../etc'], None, 'perf_baseline must be'),
    ('keep-lab-maybe', PERF, ['perf_keep_lab=maybe'], None, 'perf_keep_lab must be true or false'),
    ('provision-word', PERF, ['perf_provision=sometimes'], None, 'perf_provision must be true or false'),
    ('fail-on-regression-2', PERF, {'perf_fail_on_regression': 2}, None, 'perf_fail_on_regression must be true or false'),
    ('duration-zero', PERF, ['perf_duration_s=0'], None, 'perf_duration_s must be an integer in [1, 86400]'),
    ('duration-inf', PERF, ['perf_duration_s=inf'], None, 'perf_duration_s must be an integer'),
    ('duration-json-nan', PERF, {'perf_duration_s': float('nan')}, None, 'perf_duration_s must be an integer'),
    ('repetitions-word', PERF, ['perf_repetitions=many'], None, 'perf_repetitions must be an integer in [1, 1000]'),
    ('results-empty', PERF, ['perf_results_dir='], None, 'perf_results_dir must be a directory path, not empty'),
    ('results-dot', PERF, ['perf_results_dir=.'], None, "perf_results_dir must not be '.'"),
    ('results-hash', PERF, ['perf_results_dir={tmp}/res#1'], None, "perf_results_dir must not contain '#'"),
    ('results-question', PERF, ['perf_results_dir={tmp}/res?x'], None, "perf_results_dir must not contain '?'"),
    ('results-root', PERF, ['perf_results_dir=' + ROOT], None, 'which is the project directory'),
    ('results-above-root', PERF, ['perf_results_dir=/'], None, 'or above it'),
    ('results-collection-dir', PERF, ['perf_results_dir=plugins'], None, "inside the collection's own plugins/"),
    ('results-a-file', PERF, ['perf_results_dir={tmp}/a-file'], None, 'is not a directory'),
    ('results-under-a-file', PERF, ['perf_results_dir={tmp}/a-file/results'], None, 'is not a directory'),
    ('run-id-path', PERF, ['perf_suite_run_id=../../x'], None, 'perf_suite_run_id must be'),
    ('run-id-latest', PERF, ['perf_suite_run_id=latest'], None, 'perf_suite_run_id must be'),
    ('run-id-existing', PERF, ['perf_suite_run_id=kernel-a', 'perf_results_dir={tmp}/existing'], None,
     "perf_suite_run_id 'kernel-a': the run"),
    ('generator-unknown', PERF, ['perf_generator=nope'], None, "perf_generator: 'nope' is not a generator"),
    ('suite-unknown', PERF, ['perf_suite=nosuch'], None, "perf_suite: no shipped suite 'nosuch'"),
    # suite files
    ('suite-duration-nan', PERF, None, 'tests:\n  - {name: a, duration_s: .nan}\n', "tests[0] 'a': duration_s"),
    ('suite-duration-inf', PERF, None, 'tests:\n  - {name: a, duration_s: .inf}\n', "tests[0] 'a': duration_s"),
    ('suite-streams-string', PERF, None, 'tests:\n  - {name: a, streams: "2"}\n', "tests[0] 'a': streams"),
    ('suite-repetitions-huge', PERF, None, 'tests:\n  - {name: a, repetitions: 1.0e+9}\n',
     "tests[0] 'a': repetitions"),
    ('suite-omit-negative', PERF, None, 'tests:\n  - {name: a, omit_s: -1}\n', "tests[0] 'a': omit_s"),
    ('suite-paths-nan', PERF, None, 'tests:\n  - {name: a, paths: .nan}\n', "tests[0] 'a': paths"),
    ('suite-paths-too-many', PERF, None, 'tests:\n  - {name: a, paths: 3}\n', "tests[0] 'a': paths must be 1..2"),
    ('suite-matrix-no-name', PERF, None, 'tests:\n  - matrix: {direction: [upload, download]}\n',
     'tests[0]: name is required for a matrix test'),
    ('suite-matrix-mapping', PERF, None, 'tests:\n  - {name: m, matrix: {streams: [{a: 1}]}}\n',
     "tests[0] 'm': matrix.streams"),
    ('suite-matrix-long-name', PERF, None, 'tests:\n  - {name: %s, matrix: {direction: [upload]}}\n' % ('n' * 60),
     'the name the matrix generates'),
    ('suite-congestion', PERF, None, 'tests:\n  - {name: a, congestion: "cubic; reboot"}\n',
     "tests[0] 'a': congestion"),
    ('suite-protocol', PERF, None, 'tests:\n  - {name: a, protocol: quic}\n', "tests[0] 'a': protocol"),
    ('suite-unknown-field', PERF, None, 'tests:\n  - {name: a, speed: 1}\n', "tests[0] 'a': unknown field(s) speed"),
    ('suite-defaults-nan', PERF, None, 'defaults: {streams: .nan}\ntests:\n  - {name: a}\n', 'defaults: streams'),
    ('suite-not-yaml', PERF, None, 'tests: [ {name: a\n', 'is not valid YAML'),
    ('suite-no-tests', PERF, None, 'name: x\ntests: []\n', 'suite: tests must be a non-empty list'),
    ('suite-dup-name', PERF, None, 'tests:\n  - {name: a}\n  - {name: a}\n', "name 'a' is used twice"),
    ('suite-shaping-rate-nan', PERF, None, 'tests:\n  - {name: a, shaping: [{rate_mbit: .nan}, {rate_mbit: 5}]}\n',
     "tests[0] 'a': shaping[0].rate_mbit must be a finite number"),
    ('suite-shaping-count', PERF, None, 'tests:\n  - {name: a, shaping: [{rate_mbit: null}]}\n',
     "tests[0] 'a': shaping must be \"lab\", \"none\" or a list of one"),
    ('suite-sysctls-name', PERF, None, 'tests:\n  - {name: a, sysctls: {kernel.panic: 1}}\n',
     "tests[0] 'a': sysctls: 'kernel.panic' is not allowed"),
    # lab knobs, provision.yml
    ('provision-rate-nan', PROVISION, lab_paths({'rate_mbit': float('nan')}), None, 'lab_paths[0].rate_mbit'),
    ('provision-rate-string', PROVISION, lab_paths({'rate_mbit': '50'}), None, 'lab_paths[0].rate_mbit'),
    ('provision-queue-fraction', PROVISION, lab_paths({'rate_mbit': 50, 'queue_limit': 2.5}), None,
     'lab_paths[0].queue_limit'),
    ('provision-prefix-bad', PROVISION, ['lab_prefix=a_b'], None, "lab_prefix 'a_b' must match"),
    ('provision-subnet-string', PROVISION, ['lab_subnet_prefix=24'], None, 'lab_subnet_prefix must be an integer'),
    ('provision-lab-pair-99', PROVISION, {'lab_pair': 99}, None, 'lab_pair must be an integer in [1, 64]'),
]


def _json(value):
    """JSON with nan/inf spelled the way YAML (and so -e) reads them."""
    text = json.dumps(value)
    return text.replace('NaN', '.nan').replace('-Infinity', '-.inf').replace('Infinity', '.inf')


def _failure(stdout):
    """The text of the failed task's result, whitespace and YAML quoting flattened."""
    text = stdout[stdout.find('FAILED! =>'):] if 'FAILED! =>' in stdout else stdout
    text = text.split('PLAY RECAP')[0]
    return ' '.join(text.split()).replace("''", "'").replace('\\"', '"')


def _prepare(case, base):
    """Inventory, results directory and arguments of one case."""
    name, playbook, extra, suite, _unused = case
    tmp = os.path.join(base, name)
    os.makedirs(tmp)
    prefix = 'mv' + uuid.uuid4().hex[:8]
    inv = os.path.join(tmp, 'inv')
    subprocess.run([sys.executable, os.path.join(ROOT, 'scripts', 'lab-inventory.py'), '--pairs', '1',
                    '--prefix', prefix, '--rates', '50,50', '--out', inv], check=True, capture_output=True)
    with open(os.path.join(tmp, 'a-file'), 'w') as handle:
        handle.write('not a directory\n')
    os.makedirs(os.path.join(tmp, 'existing', 'kernel-a'))
    args = ['-i', inv]
    given = set()
    if isinstance(extra, dict):
        args += ['-e', _json(extra)]
        given = set(extra)
    elif extra:
        for item in extra:
            args += ['-e', item.replace('{tmp}', tmp)]
            given.add(item.split('=', 1)[0])
    if playbook == PERF:
        if suite is not None:
            with open(os.path.join(tmp, 'suite.yml'), 'w') as handle:
                handle.write(suite)
            args += ['-e', 'perf_suite=%s' % os.path.join(tmp, 'suite.yml')]
        elif 'perf_suite' not in given:
            args += ['-e', 'perf_suite=smoke']
        if 'perf_provision' not in given:
            args += ['-e', 'perf_provision=false']
        if 'perf_results_dir' not in given:
            args += ['-e', 'perf_results_dir=%s' % os.path.join(tmp, 'results')]
    return prefix, tmp, args


def _run(case, base):
    prefix, tmp, args = _prepare(case, base)
    try:
        proc = ansible_playbook(case[1], *args, check=False)
    finally:
        leftovers = sorted(glob.glob('/run/netns/%s-*' % prefix) + glob.glob('%s/%s-*' % (RUN_DIR, prefix)))
        if glob.glob('/run/netns/%s-*' % prefix):   # a slipped validation: do not leave the lab behind
            ansible_playbook('playbooks/teardown.yml', '-i', os.path.join(tmp, 'inv'), check=False)
    return case, prefix, tmp, proc, leftovers


@pytest.fixture(scope='module')
def results(request, tmp_path_factory):
    """The selected cases run once, four at a time: {case id: (case, prefix, tmp, proc, leftovers)}."""
    if os.geteuid() != 0:
        pytest.skip('integration tests need root (network namespaces)')
    selected = set(item.callspec.params['case'][0] for item in request.session.items
                   if hasattr(item, 'callspec') and 'case' in item.callspec.params)
    base = str(tmp_path_factory.mktemp('bad-inputs'))
    repo_results = os.path.join(ROOT, 'results')
    before = sorted(os.listdir(repo_results)) if os.path.isdir(repo_results) else []
    pool = ThreadPool(4)
    try:
        out = pool.map(lambda case: _run(case, base), [c for c in CASES if c[0] in selected])
    finally:
        pool.close()
        pool.join()
    after = sorted(os.listdir(repo_results)) if os.path.isdir(repo_results) else []
    assert after == before, 'the repository results/ changed: %s' % sorted(set(after) ^ set(before))
    for stray in ('plugins', ROOT):
        assert not glob.glob(os.path.join(ROOT, stray, '*', 'summary.json')), 'a run record in %s' % stray
    return dict((r[0][0], r) for r in out)


def test_enough_cases():
    assert len(CASES) >= 30
    assert len(set(case[0] for case in CASES)) == len(CASES)


@pytest.mark.parametrize('case', CASES, ids=[c[0] for c in CASES])
def test_bad_input_fails_first_and_creates_nothing(case, results):
    _unused, prefix, tmp, proc, leftovers = results[case[0]]
    out = proc.stdout + proc.stderr
    tail = '\n%s\n%s' % (proc.stdout[-2500:], proc.stderr[-1500:])
    assert proc.returncode != 0, 'the run did not fail' + tail
    assert 'Traceback' not in out, tail
    plays = re.findall(r'^PLAY \[(.*)\] \*', proc.stdout, re.M)
    assert plays == [FIRST_PLAY[case[1]]], 'plays that started: %s%s' % (plays, tail)
    failure = _failure(proc.stdout)
    assert 'fatal: [localhost]' in proc.stdout and case[4] in failure, \
        'expected %r in the failure:\n%s' % (case[4], failure)
    assert leftovers == [], 'created: %s' % leftovers
    results_dir = os.path.join(tmp, 'results')
    assert not os.path.exists(results_dir) or os.listdir(results_dir) == []
    assert os.listdir(os.path.join(tmp, 'existing')) == ['kernel-a']
    assert not os.path.exists(os.path.join(tmp, 'res#1')) and not os.path.exists(os.path.join(tmp, 'res?x'))
