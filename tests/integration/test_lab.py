"""The virtual lab end to end: provision, idempotence, reconcile, teardown, and the traffic proof.

Each test builds its own lab with a unique prefix (inventory written by
scripts/lab-inventory.py), so it never meets another lab on this machine.
"""

import glob
import importlib.util
import json
import os
import re
import subprocess
import time
import uuid

import pytest

from conftest import ROOT, ansible_playbook, changed

spec = importlib.util.spec_from_file_location('lab_inventory', os.path.join(ROOT, 'scripts', 'lab-inventory.py'))
lab_inventory = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lab_inventory)

PROVISION = os.path.join(ROOT, 'playbooks', 'provision.yml')
TEARDOWN = os.path.join(ROOT, 'playbooks', 'teardown.yml')
RUN_DIR = '/run/mptcp-lab'
# The lab's daemons, as a run leaves them: the sinks stopped (their logs stay), mptcpd running.
# each lab's sink runs as a user of its own: other tests' labs on this machine create and remove theirs
SINK_USER_RECORD = '/var/lib/mptcp-lab/%s-sink-user.json'
DAEMONS = """
- hosts: sinks
  gather_facts: false
  tasks:
    - {ansible.builtin.include_role: {name: mptcp.lab.traffic_sink}}
    - {ansible.builtin.include_role: {name: mptcp.lab.traffic_sink}, vars: {traffic_sink_state: stopped}}
- hosts: generators
  gather_facts: false
  roles: [mptcp.lab.mptcpd]
"""


def lab_netns(prefix):
    return sorted(n for n in os.listdir('/run/netns') if n.startswith(prefix + '-')) \
        if os.path.isdir('/run/netns') else []


def nsrun(ns, *argv):
    return subprocess.run(['ip', 'netns', 'exec', ns] + list(argv), capture_output=True, text=True, check=True).stdout


class Lab(object):
    def __init__(self, directory, prefix):
        self.dir = str(directory)
        self.prefix = prefix

    def provision(self, *args, **kwargs):
        return ansible_playbook(PROVISION, '-i', self.dir, *args, **kwargs)

    def teardown(self, *args, **kwargs):
        return ansible_playbook(TEARDOWN, '-i', self.dir, *args, **kwargs)

    def ns(self, name):
        return '%s-%s' % (self.prefix, name)


@pytest.fixture
def make_lab(tmp_path):
    if os.geteuid() != 0:
        pytest.skip('needs root')
    labs = []

    def make(pairs=1, rates=None):
        prefix = 'mli%s' % uuid.uuid4().hex[:6]
        lab_inventory.write(str(tmp_path / prefix), prefix, pairs, rates)
        with open(str(tmp_path / prefix / 'group_vars' / 'all' / 'zz-sink-user.yml'), 'w') as f:
            f.write('traffic_sink_user: %s-sink\n' % prefix)
        labs.append(Lab(tmp_path / prefix, prefix))
        return labs[-1]

    yield make
    for lab in labs:
        lab.teardown(check=False)
        assert lab_netns(lab.prefix) == []


def qdisc_rates(lab):
    out = json.loads(nsrun(lab.ns('shaper'), 'tc', '-j', 'qdisc', 'show'))
    return dict((q['dev'], q['options']['rate'] * 8 / 1e6) for q in out if q['kind'] == 'tbf')


def endpoints(ns):
    return sorted(json.dumps(e, sort_keys=True) for e in json.loads(nsrun(ns, 'ip', '-j', 'mptcp', 'endpoint', 'show')))


def implicit_endpoints(ns):
    """Addresses of the endpoints the kernel created itself (iproute2 6.1 shows that flag as rawflags 0x10)."""
    return sorted(e['address'] for e in json.loads(nsrun(ns, 'ip', '-j', 'mptcp', 'endpoint', 'show'))
                  if e.get('implicit') or int(e.get('rawflags', '0'), 16) & 0x10)


def test_provision_rerun_reconcile_and_teardown(make_lab, tmp_path):
    lab = make_lab(pairs=2)
    first = lab.provision()
    # the generators and sinks, namespaces of this machine, are configured from the controller in one call
    assert set(changed(first)) == {'localhost', lab.ns('shaper')}
    assert lab_netns(lab.prefix) == sorted(lab.ns(n) for n in ('gen1', 'gen2', 'shaper', 'sink1', 'sink2'))
    p = lab.prefix
    assert qdisc_rates(lab) == dict(('%s-%d%s%d' % (p, pair, side, path), 50.0)
                                    for pair in (1, 2) for side in 'gs' for path in (1, 2))
    # pair 2 has its own block: no overlap with pair 1
    assert '10.200.16.2/24' in nsrun(lab.ns('gen2'), 'ip', '-4', '-o', 'addr', 'show', 'dev', p + '-p1')
    assert len(endpoints(lab.ns('sink1'))) == 2 and endpoints(lab.ns('gen1')) == []
    assert 'subflows 1' in nsrun(lab.ns('gen1'), 'ip', 'mptcp', 'limits', 'show')

    again = lab.provision()
    assert changed(again) == {}

    # add a path, change a rate: the lab follows
    three = json.dumps({'lab_paths': [{'rate_mbit': 30}, {'rate_mbit': 50}, {'rate_mbit': 20}]})
    reconciled = lab.provision('-e', three)
    assert changed(reconciled)
    rates = qdisc_rates(lab)
    assert rates['%s-1s1' % p] == 30.0 and rates['%s-2g3' % p] == 20.0 and len(rates) == 12
    assert len(endpoints(lab.ns('sink2'))) == 3
    assert 'add_addr_accepted 2 subflows 2' in nsrun(lab.ns('gen2'), 'ip', 'mptcp', 'limits', 'show')
    assert 'from 10.200.4.2 lookup 103' in nsrun(lab.ns('gen1'), 'ip', 'rule', 'show')
    assert changed(lab.provision('-e', three)) == {}

    # back to one path: the other paths' links, rules and endpoints go
    one = json.dumps({'lab_paths': [{'rate_mbit': 50}]})
    lab.provision('-e', one)
    assert sorted(qdisc_rates(lab)) == sorted('%s-%d%s1' % (p, pair, side) for pair in (1, 2) for side in 'gs')
    assert len(endpoints(lab.ns('sink1'))) == 1
    assert nsrun(lab.ns('gen1'), 'ip', 'rule', 'show').count('lookup 10') == 1
    assert changed(lab.provision('-e', one)) == {}

    # daemons leave files in the run dir: pidfiles, state, logs, mptcpd's configuration
    (tmp_path / 'daemons.yml').write_text(DAEMONS)
    ansible_playbook(str(tmp_path / 'daemons.yml'), '-i', lab.dir, '-e', one)
    run_files = sorted(os.path.basename(f) for f in glob.glob('%s/%s-*' % (RUN_DIR, p)))
    assert '%s-sink1-stats.log' % p in run_files and '%s-gen1-mptcpd.conf' % p in run_files, run_files
    assert '%s-gen1-mptcpd.pid' % p in run_files and '%s-sink2-iperf3-mptcp-5201-a1.log' % p in run_files, run_files
    # check mode predicts the files' removal (the diff lists them, none after) and leaves them
    # ... and the sink's user, when the record says the lab created it (not one that existed before)
    created_user = os.path.exists(SINK_USER_RECORD % p)
    check = lab.teardown('--check', '--diff')
    assert changed(check) == {'localhost': 1 + created_user}
    assert all('- %s\n' % f in check.stdout for f in run_files), check.stdout[-4000:]
    assert '+    run_files: []' in check.stdout, check.stdout[-4000:]
    assert sorted(os.path.basename(f) for f in glob.glob('%s/%s-*' % (RUN_DIR, p))) == run_files

    # teardown removes everything and is idempotent
    down = lab.teardown()
    assert changed(down) == {'localhost': 1 + created_user}
    assert lab_netns(lab.prefix) == []
    if created_user:
        assert not os.path.exists(SINK_USER_RECORD % p)
        assert subprocess.run(['getent', 'passwd', '%s-sink' % p], capture_output=True, check=False).returncode == 2
    assert glob.glob('%s/%s-*' % (RUN_DIR, p)) == []
    assert changed(lab.teardown()) == {}


def test_check_mode_predicts_and_changes_nothing(make_lab):
    lab = make_lab()
    lab.provision()
    proc = lab.provision('--check', '-e', json.dumps({'lab_paths': [{'rate_mbit': 10}, {'rate_mbit': 10}]}))
    assert lab.ns('shaper') in changed(proc)
    assert set(qdisc_rates(lab).values()) == {50.0}


def test_delay_without_netem_fails_clearly_and_changes_nothing(make_lab):
    if os.path.isdir('/sys/module/sch_netem'):
        pytest.skip('this kernel has sch_netem')
    lab = make_lab()
    lab.provision()
    proc = lab.provision('-e', json.dumps({'lab_paths': [{'rate_mbit': 50}, {'rate_mbit': 50, 'delay_ms': 10}]}),
                         check=False)
    assert proc.returncode != 0
    assert 'lab_paths[1].delay_ms' in proc.stdout and 'sch_netem' in proc.stdout
    assert set(qdisc_rates(lab).values()) == {50.0}


def test_a_foreign_qdisc_on_the_shaper_stops_provisioning_unless_replacing_is_asked(make_lab):
    lab = make_lab()
    lab.provision()
    dev = '%s-1s1' % lab.prefix
    nsrun(lab.ns('shaper'), 'tc', 'qdisc', 'replace', 'dev', dev, 'root', 'handle', '5:', 'pfifo')
    refused = lab.provision(check=False)
    assert refused.returncode != 0
    assert dev in refused.stdout and 'replace_foreign' in refused.stdout
    assert dev not in qdisc_rates(lab)                  # the foreign qdisc is still there
    taken = lab.provision('-e', 'lab_shaper_replace_foreign=true')
    assert changed(taken) == {lab.ns('shaper'): 1}
    assert qdisc_rates(lab)[dev] == 50.0


# ---------------------------------------------------------------- the traffic proof

def iperf3(lab, mptcp, seconds=10):
    """One iperf3 run from gen1 to sink1's path-1 address; returns (Mbit/s, per-path Mbit/s on the shaper)."""
    wrap = ['mptcpize', 'run'] if mptcp else []
    port = '5301'
    server = subprocess.Popen(['ip', 'netns', 'exec', lab.ns('sink1')] + wrap + ['iperf3', '-s', '-1', '-p', port],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while ':%s ' % port not in nsrun(lab.ns('sink1'), 'ss', '-Hltn'):
            assert server.poll() is None and time.monotonic() < deadline, 'iperf3 server did not start'
            time.sleep(0.02)
        devs = ['%s-1s%d' % (lab.prefix, path) for path in (1, 2)]

        def tx():
            return [int(nsrun(lab.ns('shaper'), 'cat', '/sys/class/net/%s/statistics/tx_bytes' % d)) for d in devs]
        before = tx()
        start = time.monotonic()
        out = nsrun(lab.ns('gen1'), *(wrap + ['iperf3', '-c', '10.200.1.2', '-p', port, '-t', str(seconds), '-J']))
        elapsed = time.monotonic() - start
        after = tx()
        server.wait(timeout=10)
    finally:
        if server.poll() is None:
            server.kill()
    result = json.loads(out)
    mbps = result['end']['sum_received']['bits_per_second'] / 1e6
    per_path = [(a - b) * 8 / elapsed / 1e6 for a, b in zip(after, before)]
    return mbps, per_path


def best_of(attempts, run, good):
    """The machine is shared: a figure that misses is measured again before concluding."""
    results = []
    for dummy in range(attempts):
        results.append(run())
        if good(results[-1]):
            break
    return results[-1], results


def test_tcp_and_mptcp_throughput_through_the_lab(make_lab):
    lab = make_lab()
    lab.provision()
    rate = 50.0
    (tcp, tcp_paths), tcp_runs = best_of(3, lambda: iperf3(lab, mptcp=False), lambda r: r[0] >= 0.93 * rate)
    assert tcp >= 0.93 * rate, 'TCP %.2f Mbit/s < 93%% of %s (runs: %s)' % (tcp, rate, tcp_runs)
    assert tcp_paths[1] < 1.0, 'TCP must use path 1 only, path 2 carried %.2f Mbit/s' % tcp_paths[1]
    nsrun(lab.ns('sink1'), 'nstat', '-n')
    (mptcp, paths), mptcp_runs = best_of(3, lambda: iperf3(lab, mptcp=True), lambda r: r[0] >= 0.90 * 2 * rate)
    assert mptcp >= 0.90 * 2 * rate, 'MPTCP %.2f Mbit/s < 90%% of %s (runs: %s)' % (mptcp, 2 * rate, mptcp_runs)
    # every path carried its share: subflows really use both paths
    assert all(p >= 0.8 * rate for p in paths), 'per-path Mbit/s on the shaper: %s' % paths
    counters = nsrun(lab.ns('sink1'), 'nstat', '-az', 'MPTcpExtMPJoinAckRx', 'MPTcpExtMPCapableSYNRX')
    joins = int(re.search(r'MPTcpExtMPJoinAckRx\s+(\d+)', counters).group(1))
    assert joins >= 1, counters

    # the kernel recorded gen1's path-2 address, used by the joined subflow, as an
    # implicit endpoint: runtime state that a re-run of provisioning leaves alone
    path2 = nsrun(lab.ns('gen1'), 'ip', '-4', '-o', 'addr', 'show', 'dev', '%s-p2' % lab.prefix).split()[3]
    assert implicit_endpoints(lab.ns('gen1')) == [path2.split('/')[0]]
    again = lab.provision()
    assert changed(again) == {}, again.stdout[-4000:]
    assert implicit_endpoints(lab.ns('gen1')) == [path2.split('/')[0]]
