"""Aborted runs leave nothing; one run at a time; the exit codes of perf.yml.

Every test gets a lab of its own prefix (scripts/lab-inventory.py), real
ansible-playbook processes and real signals. The lease (mptcp.lab.lab_lease)
is what is under test: its guardian removes what an aborted run created, its
locks refuse a second run, naming the holder.
"""

import glob
import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from conftest import ROOT, VENV_BIN, ansible_playbook

LOCK_DIR = '/run/mptcp-lab/locks'
RUN_DIR = '/run/mptcp-lab'
SINK_USER = 'mptcp-lab'
SINK_USER_RECORD = '/var/lib/mptcp-lab/mptcp-lab-user.json'
ONE_TCP = ('defaults: {duration_s: 2, omit_s: 0, repetitions: 1, congestion: cubic}\n'
           'tests:\n  - {name: one, protocol: tcp, paths: 1}\n')
ONE_MPTCP = ('defaults: {duration_s: 1, omit_s: 0, repetitions: 1, congestion: cubic}\n'
             'tests:\n  - {name: both, protocol: mptcp, paths: 2}\n')


@pytest.fixture
def lab(tmp_path):
    """(prefix, inventory) of a lab that does not exist yet; whatever a test leaves is removed."""
    if os.geteuid() != 0:
        pytest.skip('needs root (network namespaces)')
    prefix = 'mp' + uuid.uuid4().hex[:6]
    inv = str(tmp_path / 'inv')
    subprocess.run([sys.executable, os.path.join(ROOT, 'scripts', 'lab-inventory.py'), '--pairs', '1',
                    '--prefix', prefix, '--rates', '50,50', '--out', inv], check=True, capture_output=True)
    try:
        yield prefix, inv
    finally:
        ansible_playbook('playbooks/teardown.yml', '-i', inv, check=False)
        for name in glob.glob('%s/%s-*' % (RUN_DIR, prefix)) + glob.glob('%s/lab-%s.lock' % (LOCK_DIR, prefix)):
            os.unlink(name)


def namespaces(prefix):
    return sorted(os.path.basename(p) for p in glob.glob('/run/netns/%s-*' % prefix))


def lab_processes(prefix):
    """[(namespace, pid, comm)] of the processes running in the lab's namespaces."""
    inodes = {}
    for name in namespaces(prefix):
        try:
            inodes[os.stat('/run/netns/' + name).st_ino] = name
        except OSError:
            pass
    found = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            name = inodes.get(os.stat('/proc/%s/ns/net' % entry).st_ino)
            if name:
                with open('/proc/%s/comm' % entry) as f:
                    found.append((name, int(entry), f.read().strip()))
        except OSError:
            continue
    return found


def measuring(prefix):
    """The iperf3 clients running in the lab's generator (not iperf3 --version of the metadata step)."""
    clients = []
    for name, pid, comm in lab_processes(prefix):
        if comm == 'iperf3' and name.endswith('-gen1'):
            try:
                with open('/proc/%d/cmdline' % pid, 'rb') as f:
                    argv = f.read().split(b'\0')
            except OSError:
                continue
            if b'-c' in argv or b'--client' in argv:
                clients.append(pid)
    return clients


def daemons_alive(prefix):
    """The supervised processes of the lab still alive, by their state files (pid, start time)."""
    alive = []
    for path in glob.glob('%s/%s-*.json' % (RUN_DIR, prefix)):
        try:
            with open(path) as f:
                rec = json.load(f)
            with open('/proc/%d/stat' % rec['pid']) as f:
                stat = f.read()
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if stat[stat.rfind(')') + 2:].split()[19] == str(rec.get('starttime')):
            alive.append(path)
    return alive


def sink_user():
    """(getent passwd line, record) of the traffic sink's user; None for what does not exist."""
    passwd = subprocess.run(['getent', 'passwd', SINK_USER], capture_output=True, text=True, check=False)
    try:
        with open(SINK_USER_RECORD) as f:
            record = json.load(f)
    except FileNotFoundError:
        record = None
    return passwd.stdout.strip() or None, record


def leftovers(prefix):
    return (namespaces(prefix) + glob.glob('%s/%s-*' % (RUN_DIR, prefix))
            + glob.glob('%s/lab-%s.lock' % (LOCK_DIR, prefix)) + [p[2] for p in lab_processes(prefix)])


class Playbook(subprocess.Popen):
    """ansible-playbook in the background; its output goes to a file (a pipe nobody reads would block it)."""

    def output(self):
        with open(self.log) as f:
            return f.read()


def start_playbook(playbook, inv, *args):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'),
               PATH=VENV_BIN + os.pathsep + os.environ.get('PATH', ''))
    log = os.path.join(inv, 'playbook-%s.log' % uuid.uuid4().hex[:6])
    with open(log, 'w') as out:
        # its own process group, as a shell gives a foreground job: Ctrl-C goes to the whole group
        proc = Playbook([os.path.join(VENV_BIN, 'ansible-playbook'), playbook, '-i', inv] + list(args),
                        cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, text=True,
                        start_new_session=True)
    proc.log = log
    return proc


def wait_for(condition, timeout, proc=None, what=''):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError('ansible-playbook ended (rc=%s) before %s:\n%s'
                                 % (proc.returncode, what, proc.output()[-5000:]))
        time.sleep(0.1)
    raise AssertionError('not within %ss: %s' % (timeout, what() if callable(what) else what))


def holder(prefix):
    with open('%s/lab-%s.lock' % (LOCK_DIR, prefix)) as f:
        return json.load(f)


@pytest.mark.parametrize('how', ['sigint-group', 'sigkill-playbook'])
def test_interrupted_run_leaves_the_machine_as_before(lab, tmp_path, how):
    """Ctrl-C (SIGINT to the process group) or SIGKILL of ansible-playbook mid-measurement: nothing stays."""
    prefix, inv = lab
    run_dir_before = set(os.listdir(RUN_DIR)) if os.path.isdir(RUN_DIR) else set()
    user_before = sink_user()
    results = tmp_path / 'results'
    proc = start_playbook('playbooks/perf.yml', inv, '-e', 'perf_suite=smoke', '-e', 'perf_duration_s=3',
                          '-e', 'perf_results_dir=%s' % results)
    try:
        wait_for(lambda: measuring(prefix), 240, proc, 'a measurement runs (iperf3 -c in %s-gen1)' % prefix)
        assert namespaces(prefix) and daemons_alive(prefix) and holder(prefix)['pid'] == proc.pid
        # the sink's servers run as its user, which this lab holds
        assert prefix in (sink_user()[1] or {}).get('holders', []), sink_user()
        sent = time.monotonic()
        if how == 'sigint-group':
            os.killpg(proc.pid, signal.SIGINT)
        else:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        wait_for(lambda: not leftovers(prefix) and not daemons_alive(prefix) and sink_user() == user_before, 15,
                 None, lambda: 'the lab is gone (left: %s) and the sink\'s user as before the run (%s, now %s)'
                 % (leftovers(prefix), user_before, sink_user()))
        elapsed = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = proc.output()
    assert elapsed < 15
    if how == 'sigint-group':
        # ansible-playbook itself waited for the cleanup
        assert proc.returncode == 99
        assert 'lab %s: this run ends without releasing its lease: removing what it created' % prefix in out
    assert not results.exists() or not [d for d in os.listdir(str(results)) if d.startswith('2')]
    # nothing new in /run/mptcp-lab that this lab made (other labs may run meanwhile)
    new = (set(os.listdir(RUN_DIR)) if os.path.isdir(RUN_DIR) else set()) - run_dir_before
    assert not [n for n in new if n.startswith(prefix)], new
    assert not glob.glob('%s/*%s*' % (LOCK_DIR, prefix))
    # the sink's user and its record as before the run (a user it created is gone, no holder of it stays)
    assert sink_user() == user_before


def test_interrupted_run_keeps_a_lab_that_existed(lab, tmp_path):
    """On a lab made by make provision, Ctrl-C stops the run's servers and keeps the lab."""
    prefix, inv = lab
    ansible_playbook('playbooks/provision.yml', '-i', inv)
    before = namespaces(prefix)
    assert len(before) == 3 and not daemons_alive(prefix)
    proc = start_playbook('playbooks/perf.yml', inv, '-e', 'perf_suite=%s' % _suite(tmp_path, ONE_TCP),
                          '-e', 'perf_results_dir=%s' % (tmp_path / 'r'), '-e', 'perf_provision=false')
    try:
        wait_for(lambda: measuring(prefix), 240, proc, 'a measurement runs')
        assert daemons_alive(prefix)
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=30) == 99
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert namespaces(prefix) == before
    assert not daemons_alive(prefix)
    assert not [p for p in lab_processes(prefix) if p[2] in ('iperf3', 'python3', 'python')]
    assert not glob.glob('%s/lab-%s.lock' % (LOCK_DIR, prefix))


def _suite(tmp_path, text):
    path = tmp_path / ('suite-%s.yml' % uuid.uuid4().hex[:6])
    path.write_text(text)
    return str(path)


def test_second_run_is_refused_and_the_first_completes(lab, tmp_path):
    prefix, inv = lab
    first_results = tmp_path / 'first'
    first = start_playbook('playbooks/perf.yml', inv, '-e', 'perf_suite=%s' % _suite(tmp_path, ONE_TCP),
                           '-e', 'perf_results_dir=%s' % first_results)
    try:
        wait_for(lambda: namespaces(prefix), 240, first, 'the first run builds its lab')
        lease = holder(prefix)
        assert lease['pid'] == first.pid and lease['purpose'] == 'perf'
        # a second perf run on the same lab (other results directory): refused in the plan play
        started = time.monotonic()
        second = ansible_playbook('playbooks/perf.yml', '-i', inv, '-e', 'perf_suite=smoke',
                                  '-e', 'perf_results_dir=%s' % (tmp_path / 'second'), check=False)
        assert second.returncode == 2
        assert time.monotonic() - started < 60
        text = second.stdout + second.stderr
        assert ('lab %s is in use by ansible-playbook pid %d (perf run %s, started %s'
                % (prefix, first.pid, lease['run_id'], lease['started'])) in text
        assert 'TASK [mptcp.lab.lab_netns' not in second.stdout and 'Start the traffic sink' not in second.stdout
        assert not (tmp_path / 'second').exists()
        # a run on another lab that writes to the same results directory: refused too
        other = str(tmp_path / 'other-inv')
        subprocess.run([sys.executable, os.path.join(ROOT, 'scripts', 'lab-inventory.py'), '--prefix',
                        prefix[:-1] + 'z', '--out', other], check=True, capture_output=True)
        third = ansible_playbook('playbooks/perf.yml', '-i', other, '-e', 'perf_suite=smoke',
                                 '-e', 'perf_results_dir=%s' % first_results, check=False)
        assert 'results directory %s is in use by ansible-playbook pid %d' % (first_results, first.pid) in third.stdout
        assert not namespaces(prefix[:-1] + 'z')
        # make teardown refuses to pull the lab from under the run
        teardown = ansible_playbook('playbooks/teardown.yml', '-i', inv, check=False)
        assert teardown.returncode == 2
        assert 'lab %s is in use by ansible-playbook pid %d' % (prefix, first.pid) in teardown.stdout
        assert namespaces(prefix)
        first.wait(timeout=300)
        out = first.output()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0, out[-4000:]
    with open(str(first_results / 'latest' / 'summary.json')) as f:
        summary = json.load(f)
    assert summary['run_id'] == lease['run_id'] and summary['tests'][0]['runs'][0]['ok']
    assert 'msg: lab torn down (created by this run)' in out
    assert not leftovers(prefix)


def _plant_stale_lock(prefix, existing, run_id='20261206T000000Z-dead00'):
    """A lock file of a run that died with its guardian: its pid is a reaped child of ours."""
    dead = subprocess.Popen(['true'])
    dead.wait()
    os.makedirs(LOCK_DIR, mode=0o700, exist_ok=True)
    record = {'pid': dead.pid, 'pid_start': 1, 'run_id': run_id, 'purpose': 'perf', 'started': '2026-12-06T00:00:00Z',
              'host': 'elsewhere', 'state': 'held', 'on_abort': 'remove_created',
              'lab': {'prefix': prefix, 'virtual': True, 'keep': False, 'existing': existing, 'daemons': {}}}
    path = '%s/lab-%s.lock' % (LOCK_DIR, prefix)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, json.dumps(record).encode())
    os.close(fd)
    return record


def test_stale_lock_is_taken_over_and_its_marker_honoured(lab, tmp_path):
    """A dead run's lock is taken over; the namespaces it created are not a lab that existed before."""
    prefix, inv = lab
    # the dead run had created the lab (nothing existed before it), then died with its guardian
    ansible_playbook('playbooks/provision.yml', '-i', inv)
    assert not glob.glob('%s/lab-%s.lock' % (LOCK_DIR, prefix))
    dead = _plant_stale_lock(prefix, existing=[])
    proc = ansible_playbook('playbooks/perf.yml', '-i', inv, '-e', 'perf_suite=%s' % _suite(tmp_path, ONE_TCP),
                            '-e', 'perf_results_dir=%s' % (tmp_path / 'r'))
    text = ' '.join((proc.stdout + proc.stderr).split())
    assert 'took over the lease of ansible-playbook pid %d (perf run %s' % (dead['pid'], dead['run_id']) in text
    assert 'lab %s: namespaces %s-gen1, %s-shaper, %s-sink1 were created by a run that died' % ((prefix,) * 4) in text
    # the lab was the dead run's: this run owns it now and leaves the machine as before the dead run
    assert 'msg: lab torn down (created by this run)' in proc.stdout
    assert not leftovers(prefix)


def test_stale_lock_taken_over_by_teardown(lab):
    prefix, inv = lab
    dead = _plant_stale_lock(prefix, existing=[])
    proc = ansible_playbook('playbooks/teardown.yml', '-i', inv)
    assert 'took over the lease of ansible-playbook pid %d' % dead['pid'] in ' '.join((proc.stdout + proc.stderr).split())
    assert not glob.glob('%s/lab-%s.lock' % (LOCK_DIR, prefix))


@pytest.mark.parametrize('failing', ['every host', 'the shaper'])
def test_failed_provisioning_leaves_no_namespace(lab, failing):
    prefix, inv = lab
    hosts_file = os.path.join(inv, 'hosts.yml')
    with open(hosts_file) as f:
        hosts = json.load(f)
    lab_group = hosts['all']['children']['lab']
    if failing == 'every host':
        lab_group['vars']['ansible_python_interpreter'] = '/nonexistent/python3'
    else:
        lab_group['children']['shapers']['hosts']['%s-shaper' % prefix] = {
            'ansible_python_interpreter': '/nonexistent/python3'}
    with open(hosts_file, 'w') as f:
        json.dump(hosts, f)
    proc = ansible_playbook('playbooks/provision.yml', '-i', inv, check=False)
    assert proc.returncode == 2
    # the namespaces were made (play 1), then removed by the lease when the run failed
    assert 'changed: [localhost]' in proc.stdout
    assert namespaces(prefix) == [], proc.stdout[-3000:]
    assert not glob.glob('%s/%s-*' % (RUN_DIR, prefix))
    assert not glob.glob('%s/lab-%s.lock' % (LOCK_DIR, prefix))
    if failing == 'the shaper':
        assert 'provisioning failed on %s-shaper' % prefix in proc.stdout


def test_exit_code_42_for_an_invalid_test(lab, tmp_path):
    """MPTCP over 2 paths with the generator's subflow limit at 0: one subflow, an invalid test, exit 42."""
    prefix, inv = lab
    results = tmp_path / 'r'
    proc = ansible_playbook('playbooks/perf.yml', '-i', inv, '-e', 'perf_suite=%s' % _suite(tmp_path, ONE_MPTCP),
                            '-e', 'perf_results_dir=%s' % results,
                            '-e', '{"lab_host_mptcp_limits": {"subflows": 0, "add_addr_accepted": 0}}', check=False)
    assert proc.returncode == 42, proc.stdout[-4000:]
    with open(str(results / 'latest' / 'summary.json')) as f:
        summary = json.load(f)
    assert summary['tests'][0]['valid'] is False
    assert '1 invalid test(s): both' in proc.stdout
    assert 'exit code 42: run %s' % summary['run_id'] in proc.stdout
    # the lab was left as found before the run failed, and the lease released
    assert 'msg: lab torn down (created by this run)' in proc.stdout
    assert not leftovers(prefix)


def test_exit_code_42_for_a_regression_with_perf_fail_on_regression(lab, tmp_path):
    """Run A, then path 1 slowed to 20 Mbit/s behind the lab's back, run B against A: a regression, exit 42."""
    prefix, inv = lab
    results = tmp_path / 'r'
    suite = _suite(tmp_path, 'defaults: {duration_s: 1, omit_s: 0, repetitions: 3, congestion: cubic}\n'
                             'tests:\n  - {name: one, protocol: tcp, paths: 1}\n')
    first = ansible_playbook('playbooks/perf.yml', '-i', inv, '-e', 'perf_suite=%s' % suite,
                             '-e', 'perf_results_dir=%s' % results, '-e', 'perf_keep_lab=true')
    with open(str(results / 'latest' / 'summary.json')) as f:
        baseline = json.load(f)
    assert first.returncode == 0 and baseline['tests'][0]['throughput_mbps']['median'] > 40
    for dev in ('%s-1g1' % prefix, '%s-1s1' % prefix):
        subprocess.run(['ip', 'netns', 'exec', '%s-shaper' % prefix, 'tc', 'qdisc', 'replace', 'dev', dev, 'root',
                        'tbf', 'rate', '20mbit', 'burst', '20kb', 'latency', '50ms'], check=True)
    # 3 against 3 values: the exact two-sided Mann-Whitney p is at best 0.1, hence alpha 0.2. Only the
    # throughput is judged: a slower path also costs more CPU per GB, which may or may not be flagged
    # as a second regression from 3 runs of 1 s
    second = ansible_playbook('playbooks/perf.yml', '-i', inv, '-e', 'perf_suite=%s' % suite,
                              '-e', 'perf_results_dir=%s' % results, '-e', 'perf_provision=false',
                              '-e', 'perf_baseline=%s' % baseline['run_id'], '-e', 'perf_alpha=0.2',
                              '-e', '{"perf_judged_metrics": ["throughput_mbps"]}',
                              '-e', 'perf_fail_on_regression=true', check=False)
    assert second.returncode == 42, second.stdout[-4000:]
    with open(str(results / 'latest' / 'summary.json')) as f:
        summary = json.load(f)
    assert summary['run_id'] != baseline['run_id'] and summary['tests'][0]['valid'] is True
    assert 'exit code 42: run %s: 1 regression(s)' % summary['run_id'] in second.stdout
    assert '  - one: throughput_mbps -' in second.stdout
    # the lab existed before run B: it stays up, its sink stopped, the lease released
    assert 'msg: lab left up (it existed before this run)' in second.stdout
    assert len(namespaces(prefix)) == 3 and not daemons_alive(prefix)
    assert not glob.glob('%s/lab-%s.lock' % (LOCK_DIR, prefix))
