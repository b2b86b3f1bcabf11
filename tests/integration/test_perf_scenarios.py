"""Per-test shaping (suite key shaping) end to end: perf.yml on a virtual lab of its own.

One run measures a test under the lab's shaping, one under a shaping of its
own (path 2 slower) and one unshaped; the shaper reshapes the paths between
them and gives the lab's shaping back at the end. A run whose measurements
fail (exit 42) restores it too, and a test asking for delay on this kernel
(no sch_netem) stops the run before anything is measured or changed. A
further run has a test with path 2 announced as backup, one with GSO and
TSO off, one with its own scheduler and commands around its measurement,
and one whose pre command fails.
"""

import glob
import json
import os
import subprocess
import uuid

import pytest

from conftest import ansible_playbook, virtual_lab
from run_record_check import assert_valid_record

GOODPUT = 1448.0 / 1514.0
RATE = 20        # the lab's rate of each path, Mbit/s


@pytest.fixture(scope='module')
def lab(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip('needs root (network namespaces)')
    prefix = 'mp' + uuid.uuid4().hex[:6]
    inv = str(tmp_path_factory.mktemp('inv'))
    with virtual_lab(inv, prefix, rates='%d,%d' % (RATE, RATE)):
        yield prefix, inv


def shaper_qdiscs(prefix):
    """{dev: [(kind, handle, parent, options)]} of the shaper's path interfaces, as the kernel has them."""
    out = json.loads(subprocess.run(['ip', 'netns', 'exec', '%s-shaper' % prefix, 'tc', '-j', 'qdisc', 'show'],
                                    capture_output=True, text=True, check=True).stdout)
    found = {}
    for q in out:
        if q['dev'] == 'lo':
            continue
        found.setdefault(q['dev'], []).append((q['kind'], q['handle'], q.get('parent', 'root'),
                                               json.dumps(q.get('options', {}), sort_keys=True)))
    return found


def write_suite(path, tests):
    path.write_text('defaults: {duration_s: 2, omit_s: 1, repetitions: 1, congestion: cubic}\ntests:\n'
                    + ''.join('  - %s\n' % json.dumps(t) for t in tests))
    return str(path)


@pytest.fixture(scope='module')
def run(lab, tmp_path_factory):
    """The lab's shaping, a shaping of its own and none, in one run that keeps the lab it creates."""
    prefix, inv = lab
    tmp = tmp_path_factory.mktemp('run')
    suite = write_suite(tmp / 'scenarios.yml', [
        {'name': 'tcp-lab', 'protocol': 'tcp', 'paths': 1},
        # the sender's default congestion control, set by the test's sysctls, shows in iperf3's report
        {'name': 'tcp-reno', 'protocol': 'tcp', 'paths': 1, 'shaping': 'none', 'congestion': None,
         'sysctls': {'net.ipv4.tcp_congestion_control': 'reno'}},
        # unshaped too, but the sender's own default congestion control: the shaper stays, the ends change
        {'name': 'tcp-raw', 'protocol': 'tcp', 'paths': 1, 'shaping': 'none', 'congestion': None},
        {'name': 'tcp-slow2', 'protocol': 'tcp', 'paths': [2],
         'shaping': [{'rate_mbit': RATE}, {'rate_mbit': 5}]},
        {'name': 'mptcp-raw', 'protocol': 'mptcp', 'paths': 'all', 'shaping': 'none'},
        {'name': 'mptcp-csum', 'protocol': 'mptcp', 'paths': 'all', 'sysctls': {'net.mptcp.checksum_enabled': True}},
    ])
    results = tmp / 'r'
    # created by this run (no lab yet), kept for the runs after it
    proc = ansible_playbook('playbooks/perf.yml', '-i', inv, '-e', 'perf_suite=%s' % suite,
                            '-e', 'perf_results_dir=%s' % results, '-e', 'perf_keep_lab=true')
    with open(str(results / 'latest' / 'summary.json')) as f:
        summary = json.load(f)
    return prefix, inv, summary, proc.stdout, shaper_qdiscs(prefix)


def end_sysctl(ns, name):
    return ' '.join(subprocess.run(['ip', 'netns', 'exec', ns, 'cat', '/proc/sys/' + name.replace('.', '/')],
                                   capture_output=True, text=True, check=True).stdout.split())


SYSCTLS = ['net.ipv4.tcp_congestion_control', 'net.mptcp.checksum_enabled']


def test_the_plan_groups_tests_by_scenario_and_changes_the_lab_once_per_group(run):
    _prefix, _inv, s, out, _after = run
    names = ['tcp-lab', 'tcp-reno', 'tcp-raw', 'tcp-slow2', 'mptcp-raw', 'mptcp-csum']
    assert [t['name'] for t in s['tests']] == names
    # run order grouped by scenario (shaping and sysctls), groups in suite order
    order = [out.index('] %s rep 1/1 \u2014 ETA' % name)
             for name in ('tcp-lab', 'tcp-reno', 'tcp-raw', 'mptcp-raw', 'tcp-slow2', 'mptcp-csum')]
    assert order == sorted(order)
    # the shaper: a check of every group whose shaping is not the lab's, a reshape where the shaping
    # differs from the group before (tcp-raw's group has tcp-reno's shaping: none)
    assert out.count("TASK [mptcp.lab.lab_shaper : Shape the paths as tests[1] 'tcp-reno': shaping]") == 2   # check + apply
    assert out.count("TASK [mptcp.lab.lab_shaper : Shape the paths as tests[2] 'tcp-raw': shaping]") == 1    # check
    assert out.count("TASK [mptcp.lab.lab_shaper : Shape the paths as tests[3] 'tcp-slow2': shaping]") == 2
    # mptcp-csum's group has the lab's shaping, then the end of the run puts it back (a no-op there)
    assert out.count('TASK [mptcp.lab.lab_shaper : Shape the paths as lab_paths]') == 2
    # the role's entry point checks its inputs
    assert "TASK [mptcp.lab.lab_shaper : Validating arguments against arg spec 'paths'" in out
    # the ends: a check of every group with sysctls, a call where they change, and back at the end
    assert out.count("TASK [mptcp.lab.perf_suite : Check each test's own sysctls on this end (check mode)]") == 1
    assert out.count("TASK [mptcp.lab.perf_suite : Set the sysctls of tests[1] 'tcp-reno': sysctls]") == 1
    assert out.count("TASK [mptcp.lab.perf_suite : Set the sysctls of tests[2] 'tcp-raw': sysctls]") == 1
    assert out.count("TASK [mptcp.lab.perf_suite : Set the sysctls of tests[5] 'mptcp-csum': sysctls]") == 1
    assert "TASK [mptcp.lab.perf_suite : Put the ends' sysctls back]" in out


def test_each_test_ran_under_its_own_shaping(run):
    _prefix, _inv, s, _out, _after = run
    assert_valid_record(s)
    tests = dict((t['name'], t) for t in s['tests'])
    for t in tests.values():
        assert t['valid'], (t['name'], t['invalid_reason'])
    lab, raw, slow, mraw = tests['tcp-lab'], tests['tcp-raw'], tests['tcp-slow2'], tests['mptcp-raw']
    assert lab['shaping'] == [{'rate_mbit': RATE}] and lab['expected_mbps'] == pytest.approx(RATE * GOODPUT, abs=0.01)
    assert lab['throughput_mbps']['median'] >= 0.95 * lab['expected_mbps']
    assert lab['throughput_mbps']['median'] <= 1.05 * lab['expected_mbps']
    # path 2 at 5 Mbit/s for this test only
    assert slow['shaping'] == [{'rate_mbit': 5}]
    assert slow['expected_mbps'] == pytest.approx(5 * GOODPUT, abs=0.01)
    # (2 s measurements: the bucket and queue at the start weigh a little)
    assert 0.9 * slow['expected_mbps'] <= slow['throughput_mbps']['median'] <= 1.05 * slow['expected_mbps']
    # unshaped: no ideal, no "of ideal"; far beyond the shaped rate (CPU-bound)
    for t in (raw, mraw):
        assert t['expected_mbps'] is None and t['utilisation'] is None
        assert all(p == {'rate_mbit': None} for p in t['shaping'])
        assert t['throughput_mbps']['median'] > 10 * RATE, t['throughput_mbps']
    run = mraw['runs'][0]
    assert run['subflows'] == 2 and run['fallback'] is False
    # both paths carry traffic, each well beyond the lab's rate
    assert min(run['per_path_mbps']) > 2 * RATE, run['per_path_mbps']
    # the tests without sysctls of their own record none
    assert all(t['sysctls'] is None for t in (lab, raw, slow, mraw))
    assert tests['tcp-reno']['shaping'] == [{'rate_mbit': None}]


def test_a_tests_own_sysctls_apply_to_it_alone_and_are_put_back(run):
    prefix, _inv, s, _out, _after = run
    tests = dict((t['name'], t) for t in s['tests'])
    reno, raw, csum = tests['tcp-reno'], tests['tcp-raw'], tests['mptcp-csum']
    assert reno['sysctls'] == {'net.ipv4.tcp_congestion_control': 'reno'}
    assert reno['runs'][0]['congestion'] == 'reno'
    # the group after it runs with the generator's own default again
    default_cc = end_sysctl('%s-gen1' % prefix, SYSCTLS[0])
    assert default_cc != 'reno' and raw['sysctls'] is None and raw['runs'][0]['congestion'] == default_cc
    # checksums on, on the lab's shaping
    assert csum['sysctls'] == {'net.mptcp.checksum_enabled': '1'} and csum['shaping'] == [{'rate_mbit': RATE}] * 2
    assert csum['runs'][0]['subflows'] == 2 and csum['runs'][0]['fallback'] is False
    assert csum['throughput_mbps']['median'] >= 0.9 * csum['expected_mbps']
    # after the run, both ends are as the lab left them (a new namespace's values)
    for end in ('gen1', 'sink1'):
        assert end_sysctl('%s-%s' % (prefix, end), SYSCTLS[1]) == '0'
        assert end_sysctl('%s-%s' % (prefix, end), SYSCTLS[0]) == default_cc


def test_the_labs_shaping_is_back_after_the_run(run):
    prefix, _inv, _s, out, after = run
    assert 'msg: lab left up (created by this run; perf_keep_lab=true)' in out
    assert sorted(after) == sorted('%s-1%s%d' % (prefix, side, path) for side in 'gs' for path in (1, 2))
    for dev, qdiscs in after.items():
        assert len(qdiscs) == 1 and qdiscs[0][:3] == ('tbf', '1ab:', 'root'), (dev, qdiscs)
        assert json.loads(qdiscs[0][3])['rate'] == RATE * 10 ** 6 // 8


def test_a_failing_run_restores_the_labs_shaping(run, tmp_path):
    """Its unshaped test's measurements fail (a congestion control the kernel lacks): exit 42, lab reshaped back."""
    prefix, inv, _s, _out, before = run
    suite = write_suite(tmp_path / 'failing.yml', [
        {'name': 'raw', 'protocol': 'tcp', 'paths': 1, 'shaping': 'none', 'congestion': 'nosuchcc'}])
    proc = ansible_playbook('playbooks/perf.yml', '-i', inv, '-e', 'perf_suite=%s' % suite,
                            '-e', 'perf_results_dir=%s' % (tmp_path / 'r'), '-e', 'perf_provision=false',
                            check=False)
    assert proc.returncode == 42, proc.stdout[-12000:]
    assert "TASK [mptcp.lab.lab_shaper : Shape the paths as tests[0] 'raw': shaping]" in proc.stdout
    assert 'TASK [mptcp.lab.lab_shaper : Shape the paths as lab_paths]' in proc.stdout
    with open(str(tmp_path / 'r' / 'latest' / 'summary.json')) as f:
        test = json.load(f)['tests'][0]
    assert not test['valid'] and test['shaping'] == [{'rate_mbit': None}]
    assert shaper_qdiscs(prefix) == before


def sink_endpoints(prefix):
    out = subprocess.run(['ip', 'netns', 'exec', '%s-sink1' % prefix, 'ip', 'mptcp', 'endpoint', 'show'],
                         capture_output=True, text=True, check=True).stdout
    return sorted(line.split() for line in out.splitlines() if line.strip())


def end_offloads(prefix):
    """{(end, dev): {feature: on/off}} of the ends' path interfaces, as ethtool -k shows them."""
    found = {}
    for end in ('gen1', 'sink1'):
        for path in (1, 2):
            dev = '%s-p%d' % (prefix, path)
            out = subprocess.run(['ip', 'netns', 'exec', '%s-%s' % (prefix, end), 'ethtool', '-k', dev],
                                 capture_output=True, text=True, check=True).stdout
            features = found[(end, dev)] = {}
            for line in out.splitlines()[1:]:
                name, _colon, value = line.strip().partition(':')
                if value.strip():
                    features[name] = value.split()[0]
    return found


def test_backup_paths_offloads_scheduler_and_commands_per_test(run, tmp_path):
    """A backup path carries nothing while path 1 works; offloads, the scheduler and commands apply to their test."""
    prefix, inv, _s, _out, before = run
    (tmp_path / 'probe.sh').write_text('#!/bin/sh\necho "$MPTCP_LAB_TEST $MPTCP_LAB_ROLE $MPTCP_LAB_PHASE $1"\n')
    endpoints_before, offloads_before = sink_endpoints(prefix), end_offloads(prefix)
    assert all(f['generic-segmentation-offload'] == 'on' for f in offloads_before.values())
    suite = write_suite(tmp_path / 'flags.yml', [
        {'name': 'both', 'protocol': 'mptcp', 'paths': 'all'},
        {'name': 'backup2', 'protocol': 'mptcp', 'paths': 'all', 'backup_paths': [2]},
        # commands of its own around its measurement: an argument list, a script, one failing but ignored
        {'name': 'sched', 'protocol': 'mptcp', 'paths': 'all', 'scheduler': 'default', 'commands': {
            'pre': [{'host': 'sink', 'argv': ['ip', 'mptcp', 'endpoint', 'show']}],
            'post': [{'host': 'all', 'script': 'probe.sh', 'args': ['x y']},
                     {'host': 'generator', 'argv': ['false'], 'ignore_errors': True}]}},
        # a pre command that fails: no measurement, the test is invalid (exit 42)
        {'name': 'precheck', 'protocol': 'tcp', 'paths': 1, 'commands': {
            'pre': [{'host': 'generator', 'argv': ['sh', '-c', 'echo not ready >&2; exit 7']}]}},
        # the last group: the end of the run puts the offloads back
        {'name': 'nogso', 'protocol': 'mptcp', 'paths': 'all', 'offloads': {'gso': False, 'tso': False}}])
    proc = ansible_playbook('playbooks/perf.yml', '-i', inv, '-e', 'perf_suite=%s' % suite,
                            '-e', 'perf_results_dir=%s' % (tmp_path / 'r'), '-e', 'perf_provision=false',
                            check=False)
    out = proc.stdout
    assert proc.returncode == 42, out[-8000:]
    with open(str(tmp_path / 'r' / 'latest' / 'summary.json')) as f:
        s = json.load(f)
    assert_valid_record(s)
    tests = dict((t['name'], t) for t in s['tests'])
    precheck = tests.pop('precheck')
    assert not precheck['valid'] and precheck['runs'][0]['throughput_mbps'] is None
    assert "%s-gen1: precheck rep 1 pre: pre[0] ['sh', '-c', 'echo not ready >&2; exit 7'] exited with 7: " \
        "not ready" % prefix in precheck['runs'][0]['error']
    for t in tests.values():
        assert t['valid'], (t['name'], t['invalid_reason'])
        assert t['runs'][0]['subflows'] == 2 and t['runs'][0]['fallback'] is False
    both, backup = tests['both'], tests['backup2']
    # both paths work in the plain test; with path 2 announced as backup, path 1 carries the data alone
    assert min(both['runs'][0]['per_path_mbps']) > 0.8 * RATE * GOODPUT, both['runs'][0]['per_path_mbps']
    assert backup['backup_paths'] == [2] and both['backup_paths'] is None
    assert backup['expected_mbps'] == pytest.approx(RATE * GOODPUT, abs=0.01)
    p1, p2 = backup['runs'][0]['per_path_mbps']
    assert p1 >= 0.9 * RATE * GOODPUT and p2 < 0.05 * p1, backup['runs'][0]['per_path_mbps']
    assert "Announce the sink's paths 1,2 (backup: 2)" in out
    # offloads: recorded, set for their test, and put back at the end
    assert tests['nogso']['offloads'] == {'gso': False, 'tso': False}
    header = "TASK [mptcp.lab.perf_suite : Set the offloads of tests[4] 'nogso': offloads]"
    assert header in out
    setting = out.split(header)[-1].split('TASK [')[0]
    assert 'changed: [%s-gen1]' % prefix in setting and 'changed: [%s-sink1]' % prefix in setting, setting
    header = "TASK [mptcp.lab.perf_suite : Put the ends' offloads back]"
    assert header in out
    restoring = out.split(header)[1].split('TASK [')[0]
    assert 'changed: [%s-gen1]' % prefix in restoring and 'changed: [%s-sink1]' % prefix in restoring, restoring
    assert end_offloads(prefix) == offloads_before
    assert not glob.glob('/run/mptcp-lab/%s-*.perf-offloads.json' % prefix)
    # the scheduler is a sysctl of the test
    assert tests['sched']['sysctls'] == {'net.mptcp.scheduler': 'default'}
    # its commands ran where they were asked, in order, and their output is in raw/
    ran = tests['sched']['runs'][0]['commands']
    assert [(c['host'], c['phase'], c['name'], c['rc'], c['ignored']) for c in ran] == [
        ('%s-sink1' % prefix, 'pre', 'pre[0]', 0, False), ('%s-gen1' % prefix, 'post', 'post[0]', 0, False),
        ('%s-gen1' % prefix, 'post', 'post[1]', 1, True), ('%s-sink1' % prefix, 'post', 'post[0]', 0, False)]
    text = (tmp_path / 'r' / 'latest' / 'raw' / (tests['sched']['runs'][0]['raw'] + '.commands.txt')).read_text()
    assert 'sched generator post x y\n' in text and 'sched sink post x y\n' in text
    assert '10.' in text.split('# post')[0] and 'signal' in text.split('# post')[0]      # the sink's endpoints
    # the sink announces every path again, none as backup, and the shaper kept the lab's shaping
    assert sink_endpoints(prefix) == endpoints_before
    assert not any('backup' in e for e in sink_endpoints(prefix))
    assert shaper_qdiscs(prefix) == before


@pytest.mark.skipif(os.path.isdir('/sys/module/sch_netem'), reason='this kernel has sch_netem')
def test_what_the_lab_cannot_apply_stops_the_run_before_measuring(run, tmp_path):
    """Delay without sch_netem on the shaper, a sysctl the ends' namespaces lack: both named, nothing changed."""
    prefix, inv, _s, _out, before = run
    ends = ['%s-gen1' % prefix, '%s-sink1' % prefix]
    sysctls_before = dict(((ns, name), end_sysctl(ns, name)) for ns in ends for name in SYSCTLS)
    suite = write_suite(tmp_path / 'far.yml', [
        {'name': 'raw', 'protocol': 'tcp', 'paths': 1, 'shaping': 'none',
         'sysctls': {'net.mptcp.checksum_enabled': 1}},
        {'name': 'far', 'protocol': 'mptcp', 'paths': 'all',
         'shaping': [{'rate_mbit': 10, 'delay_ms': 20}, {'rate_mbit': None, 'loss_pct': 1}]},
        # net.ipv4.tcp_mem is the machine's: a namespace other than the first has none
        {'name': 'tcp-mem', 'protocol': 'tcp', 'paths': 1, 'sysctls': {'net.ipv4.tcp_mem': [1, 2, 3]}}])
    proc = ansible_playbook('playbooks/perf.yml', '-i', inv, '-e', 'perf_suite=%s' % suite,
                            '-e', 'perf_results_dir=%s' % (tmp_path / 'r'), '-e', 'perf_provision=false',
                            check=False)
    assert proc.returncode not in (0, 42)
    assert "tests[1] 'far': shaping[0].delay_ms: this kernel has no netem qdisc (sch_netem)" in proc.stdout
    # the message points at the VM lab
    assert 'the VM lab can (its kernels have sch_netem)' in proc.stdout
    assert ("%s-gen1: tests[2] 'tcp-mem': sysctls.net.ipv4.tcp_mem: this network namespace has no such sysctl"
            % prefix) in proc.stdout
    # and ends the run: nothing measured, recorded or changed
    assert 'failed before the measurements' in proc.stdout
    assert 'Run the measurements' not in proc.stdout
    assert not (tmp_path / 'r' / 'latest').exists()
    assert shaper_qdiscs(prefix) == before
    assert dict(((ns, name), end_sysctl(ns, name)) for ns in ends for name in SYSCTLS) == sysctls_before
