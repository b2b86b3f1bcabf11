"""The VM lab for real (make vmtest): VMs booted with a Debian kernel that is
not the host's, provisioned by the same roles as real hosts, a smoke suite
on 2 x 5 Mbit/s (vm-smoke.yml: what three TCG guests on two host cores
carry, the shaper VM forwarding both paths), a round trip through netem
delay and loss in the shaper VM (a test's own shaping), and a teardown that
leaves nothing. Reconciling a running VM lab to other paths (delay and loss
from lab_paths, idempotence) is molecule/vm's. Root, QEMU (TCG here) and the Debian archive are needed.

One lab for the module (booting costs most of the time); the tests run in
file order and each asserts on what the one before it left.
"""

import glob
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.dirname(sys.executable)
PREFIX = 'mvt'
SSH_PORTS = {'mvt-gen1': 47322, 'mvt-sink1': 47323, 'mvt-shaper': 47324}
PORT_BASE = 47400
STATE_DIR = '/var/lib/mptcp-lab/mvt'
# bookworm's kernel (6.1), never the host's (6.18 here)
KERNEL = os.environ.get('MPTCP_LAB_VMTEST_KERNEL', 'linux-image-amd64')
RATE = 5
SUITE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'vm-smoke.yml')
DELAY_MS = 25
SHARED_MBIT = 6
# tbf's goodput is 1448/1514 of the rate (ENVIRONMENT.md); MPTCP over both paths must get 90 % of it
IDEAL = 2 * RATE * 1448 / 1514

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='the VM lab needs root')


def playbook(name, inv, *args, check=True):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'),
               PATH=VENV_BIN + os.pathsep + os.environ.get('PATH', ''))
    t0 = time.time()
    proc = subprocess.run([os.path.join(VENV_BIN, 'ansible-playbook'), os.path.join('playbooks', name),
                           '-i', inv] + list(args), cwd=ROOT, capture_output=True, text=True, env=env, check=False)
    proc.wall_s = time.time() - t0
    print('%s %s: %.1f s' % (name, ' '.join(args), proc.wall_s))
    if check and proc.returncode != 0:
        raise AssertionError('ansible-playbook %s failed (rc=%d)\n%s\n%s'
                             % (name, proc.returncode, proc.stdout[-8000:], proc.stderr[-3000:]))
    return proc


def recap(proc):
    hosts = {}
    for line in proc.stdout.splitlines():
        match = re.match(r'^(\S+)\s+:\s+(ok=.*)$', line)
        if match:
            hosts[match.group(1)] = dict((k, int(v)) for k, v in re.findall(r'(\w+)=(\d+)', match.group(2)))
    return hosts


def qemu_pids():
    """QEMU processes of this lab (their -name is a VM of the lab)."""
    out = []
    for path in glob.glob('/proc/[0-9]*/cmdline'):
        try:
            with open(path, 'rb') as f:
                argv = f.read().split(b'\0')
        except OSError:
            continue
        if argv and os.path.basename(argv[0]).startswith(b'qemu-system') and any(
                a.decode('utf-8', 'replace') in SSH_PORTS for a in argv):
            out.append(int(path.split('/')[2]))
    return out


def port_open(port, kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind(('127.0.0.1', port))
        except OSError:
            return True
    return False


@pytest.fixture(scope='module')
def lab(tmp_path_factory):
    """A copy of inventories/vm with this test's prefix, ports and kernel; torn down at the end."""
    inv = tmp_path_factory.mktemp('vm-inventory')
    shutil.copytree(os.path.join(ROOT, 'inventories', 'vm'), str(inv), dirs_exist_ok=True)
    with open(inv / 'hosts.yml') as f:
        hosts = f.read()
    hosts = hosts.replace('mvm-', 'mvt-')
    for name, port in SSH_PORTS.items():
        hosts = re.sub(r'(%s:\n\s+ansible_port: )\d+' % name, r'\g<1>%d' % port, hosts)
    (inv / 'hosts.yml').write_text(hosts)
    with open(inv / 'group_vars' / 'all' / 'lab.yml') as f:
        knobs = yaml.safe_load(f)
    knobs.update({'lab_prefix': PREFIX, 'lab_vm_port_base': PORT_BASE, 'lab_vm_kernel': KERNEL,
                  'lab_vm_state_dir': STATE_DIR,
                  'lab_paths': [{'rate_mbit': RATE}, {'rate_mbit': RATE}]})
    (inv / 'group_vars' / 'all' / 'lab.yml').write_text(yaml.safe_dump(knobs))
    results = tmp_path_factory.mktemp('vm-results')
    state = {'inv': str(inv), 'results': str(results)}
    yield state
    playbook('teardown.yml', str(inv), check=False)


def test_provision_boots_the_requested_kernel(lab):
    proc = playbook('provision.yml', lab['inv'])
    counts = recap(proc)
    assert set(SSH_PORTS) <= set(counts)
    records = dict((name, json.load(open(os.path.join(STATE_DIR, name + '.json')))) for name in SSH_PORTS)
    host_release = os.uname().release
    for name, rec in records.items():
        assert rec['kernel_release'] and rec['kernel_release'] != host_release, rec
        assert rec['boot_attempts'] in (1, 2), rec
        assert rec['ssh_port'] == SSH_PORTS[name]
        print('%s: %s booted in %s s (attempt %d, %s)'
              % (name, rec['kernel_release'], rec['boot_s'], rec['boot_attempts'], rec['accel']))
    lab['release'] = records['mvt-gen1']['kernel_release']
    lab['provision_s'] = proc.wall_s
    assert len(qemu_pids()) == 3


def test_smoke_suite_aggregates_both_paths(lab):
    proc = playbook('perf.yml', lab['inv'], '-e', 'perf_suite=%s' % SUITE, '-e', 'perf_provision=false',
                    '-e', 'perf_results_dir=%s' % lab['results'])
    with open(os.path.join(lab['results'], 'latest', 'summary.json')) as f:
        summary = json.load(f)
    print('smoke suite: wall %.1f s, traffic %.1f s (playbook %.1f s)'
          % (summary['wall_s'], summary['traffic_s'], proc.wall_s))
    # the metadata proves the guests ran the requested kernel, not the host's
    for name in ('mvt-gen1', 'mvt-sink1', 'mvt-shaper'):
        vm = summary['metadata'][name]['vm']
        assert vm['kernel_release'] == lab['release']
        assert lab['release'] in vm['uname'] and os.uname().release not in vm['uname']
        assert len(vm['image_sha256']) == 64
        assert vm['accel'] in ('kvm', 'tcg') and vm['cpus'] == 1 and vm['memory_mb'] == 512
        assert vm['config']['CONFIG_MPTCP'] == 'y' and vm['config']['CONFIG_NET_SCH_NETEM'] in ('y', 'm')
    tests = dict((t['name'], t) for t in summary['tests'])
    for name in ('mptcp-up', 'mptcp-down'):
        for run in tests[name]['runs']:
            assert run['ok'], run
            assert run['subflows'] == 2, run
            assert run['fallback'] is False, run
            # One 8 s repetition through three TCG guests on 2 host cores reads
            # 89-99 % of the ideal (89.0 % once in CI, on a busy host): 85 % is
            # well above the one path's half, and each path carries its share below.
            assert run['throughput_mbps'] >= 0.85 * IDEAL, (name, run['throughput_mbps'], IDEAL)
            assert len(run['per_path_mbps']) == 2 and min(run['per_path_mbps']) > 0.5 * RATE, run
    # both paths through one 6 Mbit/s bottleneck in the shaper VM: MPTCP gets the bottleneck, not 2 x 5 Mbit/s
    shared = tests['mptcp-bottleneck']
    assert shared['bottleneck'] == {'rate_mbit': SHARED_MBIT}
    assert shared['expected_mbps'] == pytest.approx(SHARED_MBIT * 1448 / 1514, abs=0.01)
    run = shared['runs'][0]
    assert run['ok'] and run['subflows'] == 2, run
    assert 0.85 * shared['expected_mbps'] <= run['throughput_mbps'] <= SHARED_MBIT * 1.02, run['throughput_mbps']
    print('mptcp-bottleneck: %.2f Mbit/s through %d Mbit/s (per path %s)'
          % (run['throughput_mbps'], SHARED_MBIT, run['per_path_mbps']))
    tcp = tests['tcp-up']['runs'][0]
    assert tcp['ok'] and 0.9 * IDEAL / 2 <= tcp['throughput_mbps'] <= RATE * 1.02, tcp
    # the round trip of path 1 with netem's delay each way (the test's own shaping) in the shaper VM
    rr = tests['rr-tcp-netem']
    assert rr['shaping'][0]['delay_ms'] == DELAY_MS and rr['shaping'][0]['loss_pct'] == 1, rr['shaping']
    run = rr['runs'][0]
    assert run['ok'], run
    p50_ms = run['metrics']['latency_p50_us'] / 1000.0
    print('rr-tcp-netem: p50 %.1f ms with delay_ms=%d each way, %s transactions/s'
          % (p50_ms, DELAY_MS, run['metrics']['rr_tps']))
    assert 2 * DELAY_MS <= p50_ms <= 2 * DELAY_MS + 40, run['metrics']


def test_teardown_leaves_nothing(lab):
    proc = playbook('teardown.yml', lab['inv'])
    assert recap(proc)['localhost']['changed'] == 1
    deadline = time.time() + 20
    while qemu_pids() and time.time() < deadline:
        time.sleep(0.5)
    assert qemu_pids() == []
    assert not os.path.exists(STATE_DIR)
    for port in SSH_PORTS.values():
        assert not port_open(port), port
    for port in range(PORT_BASE, PORT_BASE + 8):
        assert not port_open(port, socket.SOCK_DGRAM), port
    again = playbook('teardown.yml', lab['inv'])
    assert recap(again)['localhost']['changed'] == 0
