"""playbooks/perf.yml without a lab: syntax check, host lists, the pair's validation (no host contacted).

The measured pair is an in-memory group (perf_pair) built by the plan play, so
no host pattern needs a variable: --syntax-check and --list-hosts work on
every inventory. Bad knobs fail in the plan play, on the controller, before
anything is provisioned.
"""

import os
import re
import subprocess
import sys
import uuid

import pytest

from conftest import ROOT, ansible_playbook

INVENTORIES = ['inventories/virtual', 'inventories/bare-metal']


def plays(list_hosts_output):
    """{play name: (pattern, [hosts])} from ansible-playbook --list-hosts."""
    out = {}
    for block in re.split(r'\n\s*play #\d+ ', list_hosts_output)[1:]:
        head = re.match(r'\((?P<pattern>[^)]*)\): (?P<name>.*?)\tTAGS', block)
        hosts = re.search(r'hosts \(\d+\):\n((?:\s{6}\S+\n?)*)', block)
        out[head.group('name')] = (head.group('pattern'), hosts.group(1).split() if hosts else [])
    return out


@pytest.mark.parametrize('inventory', INVENTORIES)
def test_syntax_check(inventory):
    proc = ansible_playbook('playbooks/perf.yml', '-i', inventory, '--syntax-check')
    assert 'playbook: playbooks/perf.yml' in proc.stdout


@pytest.mark.parametrize('inventory', INVENTORIES)
def test_list_hosts(inventory):
    proc = ansible_playbook('playbooks/perf.yml', '-i', inventory, '--list-hosts')
    found = plays(proc.stdout)
    assert found['Plan the suite (suite definition -> measurement plan)'] == ('localhost', ['localhost'])
    # the pair is chosen at run time: before it, only localhost and the shaper match
    pattern, hosts = found['Record the metadata of the pair and the shaper']
    assert pattern == 'perf_pair:shapers:localhost' and 'localhost' in hosts and len(hosts) == 2
    # the shaper takes part in the measurements too (it reshapes the paths for tests with their own shaping)
    pattern, hosts = found['Measure (measurement plan -> measurements)']
    assert pattern == 'perf_pair:shapers:localhost' and 'localhost' in hosts and len(hosts) == 2
    # the VM lab's boot play (provision.yml) runs for lab_kind vm only
    assert 'Boot the VM lab (VMs with the kernel under test, on the controller)' in found
    # an upstream-format suite's tests run on the controller, in a play of their own
    assert found['Run an upstream-format suite (perf.yml -> its tests\' steps, stats, validations)'] == \
        ('localhost', ['localhost'])
    assert len(found) == 9, sorted(found)


@pytest.fixture(scope='module')
def no_lab(tmp_path_factory):
    """A virtual inventory whose lab does not exist; runs also get perf_provision=false.

    Should a run get past the plan play after all, it finds no namespace
    to enter and touches nothing.
    """
    prefix = 'mp' + uuid.uuid4().hex[:6]
    inv = str(tmp_path_factory.mktemp('inv'))
    subprocess.run([sys.executable, os.path.join(ROOT, 'scripts', 'lab-inventory.py'), '--pairs', '1',
                    '--prefix', prefix, '--out', inv], check=True, capture_output=True)
    return prefix, inv


def perf(inventory, tmp_path, *args):
    return ansible_playbook('playbooks/perf.yml', '-i', inventory, '-e', 'perf_suite=smoke', '-e', 'perf_provision=false',
                            '-e', 'perf_results_dir=%s' % tmp_path, *args, check=False)


@pytest.mark.parametrize('inventory', ['no_lab', 'inventories/bare-metal'])
def test_unknown_generator_is_named_with_the_generators(inventory, no_lab, tmp_path):
    if inventory == 'no_lab':
        inventory, generators = no_lab[1], '%s-gen1' % no_lab[0]
    else:
        generators = 'gen1.lab.example'
    proc = perf(inventory, tmp_path, '-e', 'perf_generator=nope')
    assert proc.returncode != 0
    out = ' '.join(proc.stdout.split())
    assert "perf_generator: ''nope'' is not a generator of this inventory; the generators: %s." % generators in out
    assert 'PLAY [Wire the virtual lab' not in proc.stdout and 'Put the measured pair' not in proc.stdout
    assert os.listdir(str(tmp_path)) == []


def test_a_sink_is_not_a_generator(no_lab, tmp_path):
    prefix, inv = no_lab
    proc = perf(inv, tmp_path, '-e', 'perf_generator=%s-sink1' % prefix)
    assert proc.returncode != 0
    assert "''{0}-sink1'' is not a generator of this inventory; the generators: {0}-gen1.".format(prefix) \
        in ' '.join(proc.stdout.split())


def test_bad_perf_keep_lab(no_lab, tmp_path):
    proc = perf(no_lab[1], tmp_path, '-e', 'perf_keep_lab=maybe')
    assert proc.returncode != 0
    assert "perf_keep_lab must be true or false, got" in ' '.join(proc.stdout.split()) and 'maybe' in proc.stdout
    assert 'PLAY [Wire the virtual lab' not in proc.stdout


def test_unknown_baseline_stops_before_measuring(no_lab, tmp_path):
    proc = perf(no_lab[1], tmp_path, '-e', 'perf_baseline=20990101T000000Z-nope')
    assert proc.returncode != 0
    out = ' '.join(proc.stdout.split())
    assert "perf_baseline: run ''20990101T000000Z-nope'' is not in the history" in out
    assert 'PLAY [Record the metadata' not in proc.stdout and 'PLAY [Wire the virtual lab' not in proc.stdout
    assert os.listdir(str(tmp_path)) == []


def test_baseline_known_as_a_run_record_passes_the_plan(no_lab, tmp_path):
    # a run record the history does not hold yet is backfilled by perf_history: accepted
    os.makedirs(str(tmp_path / 'kernel-a'))
    (tmp_path / 'kernel-a' / 'summary.json').write_text('{}')
    proc = perf(no_lab[1], tmp_path, '-e', 'perf_baseline=kernel-a')
    assert 'TASK [mptcp.lab.perf_report : Check the verdict options and the baseline run]' in proc.stdout
    assert 'is not in the history' not in proc.stdout
    assert 'PLAY [Record the metadata' in proc.stdout   # past the plan (the lab does not exist: no measurement)


@pytest.mark.parametrize('knob, message', [
    ('perf_alpha=1.5', 'perf_alpha must be a finite number in (0, 1)'),
    ('perf_baseline_runs=0', 'perf_baseline_runs must be an integer in [1, 100]'),
    ('perf_min_effect_pct=-1', 'perf_min_effect_pct must be a finite number in [0, 1000]'),
    ('perf_fail_on_regression=maybe', 'perf_fail_on_regression must be true or false'),
    ('perf_baseline=../etc', 'perf_baseline must be 1-128 letters'),
])
def test_bad_verdict_knob_stops_before_measuring(no_lab, tmp_path, knob, message):
    proc = perf(no_lab[1], tmp_path, '-e', knob)
    assert proc.returncode != 0
    assert message in ' '.join(proc.stdout.split()), proc.stdout[-3000:]
    assert 'PLAY [Record the metadata' not in proc.stdout and 'PLAY [Wire the virtual lab' not in proc.stdout
