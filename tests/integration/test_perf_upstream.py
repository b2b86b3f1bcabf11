"""Suites in the MPTCP community harness's perf.yml format, end to end through playbooks/perf.yml.

A suite of two tests runs as upstream's harness runs it, on the netns lab:
each test on client and server namespaces of its own, with eth0..N and
10.0.N.2/.3 on one bridge per path, shaped by its own bridges (rate only:
no netem here); steps on client, server or all with RESULTS_DIR and
HOSTNAME, a background capture reaped at the end, timeouts and ignore_err;
stats pre/post/all; stats/dstat.json; validations with jq; the regression
steps recorded as upstream.* metrics. Then a history of runs and a slower
one: the verdict finds the regression (exit 42 with
perf_fail_on_regression), and a failed step or validation makes the test
invalid (exit 42).
"""

import json
import os
import subprocess
import uuid

import pytest

from conftest import ansible_playbook, run_module, virtual_lab
from run_record_check import assert_valid_record

GOODPUT = 1448.0 / 1514.0
RATE = 20

SUITE = """
name: "upstream-e2e"
global:
  timeout_s: 120
  bridges:
    - {name: "br0", rate_mbit: %(rate)d}
    - {name: "br1", rate_mbit: %(rate)d}
  stats:
    pre:
      - {name: "nstat_reset", run: "nstat -n"}
    post:
      - {name: "nstat", run: "nstat"}
      - {name: "endpoints", run: "ip mptcp endpoint show", target: "server"}
    all:
      - {name: "hostname", run: "echo $HOSTNAME"}
tests:
  - name: "Download two paths"
    steps:
      - name: "capture"
        all: |-
          tcpdump -i eth0 -s 100 -w "${RESULTS_DIR}/${HOSTNAME}.pcap" 2>/dev/null &
      - name: "endpoints"
        server: |-
          ip mptcp endpoint add 10.0.1.3 dev eth1 signal
          ip mptcp limits set subflows 2 add_addr_accepted 2
        client: |-
          ip mptcp limits set subflows 2 add_addr_accepted 2
      - name: "iperf3 server"
        server: |-
          iperf3 -s -D
          until ss -Hltn 'sport = :5201' | grep -q .; do sleep 0.05; done
        timeout_s: 10
      - name: "iperf3 client"
        client: |-
          iperf3 -c 10.0.0.3 --mptcp -J -R -t 6 -b "$(cat %(ratefile)s)" > "${RESULTS_DIR}/artifacts/iperf_cli.json"
        dstat_only: "step"
        timeout_s: 30
    validation:
      - name: "both paths carried it"
        run: |-
          [ -s artifacts/iperf_cli.json ]
          cd stats
          [ "$(jq -r '.host.time.diff' dstat.json)" -ge 2 ]
          [ "$(jq -r '.client["net/eth0:recv"].mean | round' dstat.json)" -gt 1000000 ]
          [ "$(jq -r '.client["net/eth1:recv"].mean | round' dstat.json)" -gt 1000000 ]
    regression:
      global: {alpha: 0.05, history_max_n: 10, history_since: 0}
      steps:
        - name: "Goodput"
          file: "artifacts/iperf_cli.json"
          json_field: ["end", "sum_received", "bits_per_second"]
        - name: "Client recv primary link"
          file: "stats/dstat.json"
          json_field: ["client", "net/eth0:recv", "mean"]
"""

ASYMMETRIC = """
  - name: "Asymmetric"
    bridges:
      - {name: "fast", rate_mbit: 20}
      - {name: "slow", rate_mbit: 5}
    stats: {}
    steps:
      - {name: "a failure that is ignored", client: "false", ignore_err: true}
      - {name: "a timeout that is ignored", server: "sleep 30", timeout_s: 1, ignore_err: true}
      - name: "iperf3 servers"
        server: |-
          iperf3 -s -1 -p 5201 -D
          iperf3 -s -1 -p 5202 -D
          until [ "$(ss -Hltn | grep -c -e ':5201 ' -e ':5202 ')" -ge 2 ]; do sleep 0.05; done
        timeout_s: 10
      - name: "one TCP flow per path"
        client: |-
          iperf3 -c 10.0.0.3 -p 5201 -t 5 > "${RESULTS_DIR}/artifacts/fast.txt" &
          iperf3 -c 10.0.1.3 -p 5202 -t 5 > "${RESULTS_DIR}/artifacts/slow.txt" &
          wait
        dstat_only: "step"
        timeout_s: 30
    validation:
      - name: "the slow path is the slow one"
        run: "[ $(jq -r '.server[\\"net/eth1:recv\\"].mean | round' stats/dstat.json) -lt 6000000 ]"
    regression:
      steps:
        - {name: "Server recv fast", file: "stats/dstat.json", json_field: [server, "net/eth0:recv", mean]}
"""

FAILING = """
tests:
  - name: "A step fails"
    bridges: [{name: "br0", rate_mbit: 10}]
    steps:
      - {name: "ok", client: "true"}
      - {name: "fails", server: "exit 3"}
      - {name: "never runs", client: "touch \\"${RESULTS_DIR}/ran\\""}
    validation:
      - {name: "never runs either", run: "true"}
  - name: "A validation fails"
    bridges: [{name: "br0", rate_mbit: 10}]
    steps:
      - {name: "ok", all: "echo hello > \\"${RESULTS_DIR}/artifacts/${HOSTNAME}.txt\\""}
    validation:
      - {name: "passes", run: "[ -s artifacts/client.txt ] && [ -s artifacts/server.txt ]"}
      - {name: "fails", run: "grep -q goodbye artifacts/client.txt"}
"""


@pytest.fixture(scope='module')
def lab(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip('needs root (network namespaces)')
    prefix = 'mp' + uuid.uuid4().hex[:6]
    inv = str(tmp_path_factory.mktemp('inv'))
    with virtual_lab(inv, prefix):
        yield prefix, inv


def namespaces(prefix):
    out = subprocess.run(['ip', 'netns', 'list'], capture_output=True, text=True, check=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(prefix + '-')]


def perf(inv, suite, results, *extra, check=True):
    return ansible_playbook('playbooks/perf.yml', '-i', inv, '-e', 'perf_suite=%s' % suite,
                            '-e', 'perf_results_dir=%s' % results, *extra, check=check)


def latest(results):
    with open(os.path.join(str(results), 'latest', 'summary.json')) as f:
        return json.load(f)


@pytest.fixture(scope='module')
def first(lab, tmp_path_factory):
    prefix, inv = lab
    tmp = tmp_path_factory.mktemp('upstream')
    ratefile = tmp / 'rate'
    ratefile.write_text('0\n')           # iperf3 -b 0: no limit of its own
    suite = tmp / 'perf.yml'
    suite.write_text(SUITE % {'rate': RATE, 'ratefile': ratefile} + ASYMMETRIC)
    results = tmp / 'results'
    proc = perf(inv, suite, results)
    return prefix, inv, suite, ratefile, results, proc


def test_each_test_ran_on_hosts_of_its_own_and_left_nothing(first):
    prefix, dummy, dummy, dummy, results, proc = first
    summary = latest(results)
    assert_valid_record(summary)
    assert [t['name'] for t in summary['tests']] == ['Download two paths', 'Asymmetric']
    assert all(t['kind'] == 'upstream' and t['valid'] for t in summary['tests']), \
        [(t['name'], t['invalid_reason']) for t in summary['tests']]
    assert namespaces(prefix) == []
    # the background capture was stopped with the test (its pcap is complete) and nothing runs on
    left = subprocess.run(['pgrep', '-f', str(results)], capture_output=True, text=True, check=False).stdout
    assert left == ''
    run_dir = os.path.join(str(results), summary['run_id'])
    for host in ('client', 'server'):
        pcap = os.path.join(run_dir, 'upstream', '001-download-two-paths', '%s.pcap' % host)
        assert os.path.getsize(pcap) > 10000, pcap     # HOSTNAME named it; RESULTS_DIR placed it
    assert 'exit code 42' not in proc.stdout


def test_the_results_directory_holds_what_upstream_s_would(first):
    dummy, dummy, dummy, dummy, results, dummy = first
    summary = latest(results)
    test_dir = os.path.join(str(results), summary['run_id'], summary['tests'][0]['upstream']['results_dir'])
    for rel in ('artifacts/iperf_cli.json', 'stats/dstat.json', 'client.log', 'server.log',
                'stats/client/pre/nstat_reset', 'stats/server/pre/nstat_reset', 'stats/client/post/nstat',
                'stats/server/post/endpoints', 'stats/client/pre/hostname', 'stats/server/post/hostname'):
        assert os.path.isfile(os.path.join(test_dir, rel)), rel
    # target: server only; all: in both phases, on both hosts, with the host's own HOSTNAME
    assert not os.path.exists(os.path.join(test_dir, 'stats/client/post/endpoints'))
    with open(os.path.join(test_dir, 'stats/server/post/endpoints')) as f:
        endpoints = f.read()
    assert '10.0.1.3' in endpoints and 'signal' in endpoints
    with open(os.path.join(test_dir, 'stats/client/pre/hostname')) as f:
        assert f.read().strip() == 'client'
    with open(os.path.join(test_dir, 'stats/dstat.json')) as f:
        dstat = json.load(f)
    assert set(dstat) == {'client', 'server', 'host'}
    assert 3 <= dstat['host']['time']['diff'] <= 7          # the 6 s step, trimmed as upstream trims it
    recv = dstat['client']['net/eth0:recv']
    for key in ('mean', 'median', 'stdev', 'min', 'max', 'percentiles', 'filtered', 'raw'):
        assert key in recv, key
    assert recv['filtered'] == [int(b * 8) for b in recv['bytes']]    # bits, as upstream converts them


def test_per_path_rates_follow_each_test_s_own_bridges(first):
    dummy, dummy, dummy, dummy, results, dummy = first
    download, asym = latest(results)['tests']
    # interface counters carry the frames: each path at its rate, within 5 %
    assert all(0.95 * RATE <= r <= 1.02 * RATE for r in download['per_path_mbps_median']), download['per_path_mbps_median']
    fast, slow = asym['per_path_mbps_median']
    assert 0.95 * 20 <= fast <= 1.02 * 20 and 0.95 * 5 <= slow <= 1.02 * 5, (fast, slow)
    goodput = download['metrics']['upstream.goodput']['median'] / 1e6
    assert goodput >= 0.95 * 2 * RATE * GOODPUT, goodput
    assert [s['name'] for s in download['upstream']['regression']['steps']] == ['Goodput', 'Client recv primary link']
    assert download['shaping'] == [{'rate_mbit': RATE, 'delay_ms': None, 'loss_pct': None, 'queue_limit': None}] * 2


def test_steps_ran_in_order_with_ignore_err_and_timeouts(first):
    dummy, dummy, dummy, dummy, results, dummy = first
    asym = latest(results)['tests'][1]
    steps = dict(((s['name'], s['host']), s) for s in asym['upstream']['steps'])
    assert steps[('a failure that is ignored', 'client')]['rc'] == 1
    assert steps[('a failure that is ignored', 'client')]['ignored'] and not steps[('a failure that is ignored', 'client')]['ok']
    timed = steps[('a timeout that is ignored', 'server')]
    assert timed['timed_out'] and timed['duration_s'] < 5
    assert steps[('one TCP flow per path', 'client')]['rc'] == 0 and steps[('iperf3 servers', 'server')]['rc'] == 0
    assert asym['upstream']['validation'] == [{'name': 'the slow path is the slow one', 'rc': 0, 'ok': True}]


def test_a_failed_step_or_validation_makes_the_test_invalid_exit_42(lab, tmp_path):
    dummy, inv = lab
    suite = tmp_path / 'failing.yml'
    suite.write_text(FAILING)
    proc = perf(inv, suite, tmp_path / 'r', check=False)
    assert proc.returncode == 42, proc.stdout[-6000:]
    step, validation = latest(tmp_path / 'r')['tests']
    assert not step['valid'] and "step 'fails' on server: exit code 3" in step['invalid_reason']
    assert [s['name'] for s in step['upstream']['steps']] == ['ok', 'fails']
    assert step['upstream']['validation'] == []
    run_dir = os.path.join(str(tmp_path / 'r'), latest(tmp_path / 'r')['run_id'])
    assert not os.path.exists(os.path.join(run_dir, step['upstream']['results_dir'], 'ran'))
    assert not validation['valid'] and "validation 'fails' failed" in validation['invalid_reason']
    assert [v['ok'] for v in validation['upstream']['validation']] == [True, False]


def test_the_verdict_judges_the_regression_steps_over_the_history(first):
    dummy, inv, suite, ratefile, results, dummy = first
    for dummy in range(2):          # with the first run: three earlier valid runs
        perf(inv, suite, results)
    ratefile.write_text('12M\n')    # the download is now capped at 12 Mbit/s: a real drop
    proc = perf(inv, suite, results, '-e', 'perf_fail_on_regression=true', check=False)
    assert proc.returncode == 42, proc.stdout[-6000:]
    summary = latest(results)
    assert_valid_record(summary)
    found = [(r['test'], r['metric']) for r in summary['regressions']]
    assert ('Download two paths', 'upstream.goodput') in found, summary['regressions']
    # the asymmetric test did not change: no regression of it
    assert not any(test == 'Asymmetric' for test, dummy in found)


def one_test(tmp_path):
    """One translated test (a single 10 Mbit/s bridge, one step), as perf_suite returns it."""
    from ansible_collections.mptcp.lab.plugins.module_utils.perf import upstream_suite as us
    return us.translate({'tests': [{'name': 'm', 'bridges': [{'name': 'br0', 'rate_mbit': 10}],
                                    'steps': [{'name': 's', 'client': 'touch "${RESULTS_DIR}/ran"'}]}]})[0]


def test_the_module_in_check_mode_builds_and_runs_nothing(tmp_path):
    prefix = 'mp' + uuid.uuid4().hex[:6]
    out = run_module(None, 'perf_upstream_test', {'test': one_test(tmp_path), 'prefix': prefix,
                                                  'run_dir': str(tmp_path)}, check_mode=True)
    assert out['rc'] == 0 and out['skipped'] and not out['valid'] and not out['changed'], out
    assert namespaces(prefix) == [] and os.listdir(str(tmp_path)) == []


def test_the_module_refuses_bad_input_and_changes_nothing(tmp_path):
    prefix = 'mp' + uuid.uuid4().hex[:6]
    test = one_test(tmp_path)
    out = run_module(None, 'perf_upstream_test', {'test': test, 'prefix': 'Bad-Prefix', 'run_dir': str(tmp_path)})
    assert out['rc'] == 1 and out['msg'].startswith("prefix: lab_prefix 'Bad-Prefix' must match"), out
    partial = dict((k, v) for k, v in test.items() if k not in ('steps', 'regression'))
    out = run_module(None, 'perf_upstream_test', {'test': partial, 'prefix': prefix, 'run_dir': str(tmp_path)})
    assert out['rc'] == 1 and out['msg'].startswith('test: steps, regression missing'), out
    # a namespace of the test's name exists (another run's): refused, left alone
    subprocess.run(['ip', 'netns', 'add', '%s-uc' % prefix], check=True)
    try:
        out = run_module(None, 'perf_upstream_test', {'test': test, 'prefix': prefix, 'run_dir': str(tmp_path)})
        assert out['rc'] == 1 and 'namespace %s-uc exists already' % prefix in out['msg'], out
        assert namespaces(prefix) == ['%s-uc' % prefix]
    finally:
        subprocess.run(['ip', 'netns', 'del', '%s-uc' % prefix], check=False)
    assert os.listdir(str(tmp_path)) == []


def test_the_module_runs_a_test_and_leaves_only_its_results(tmp_path):
    prefix = 'mp' + uuid.uuid4().hex[:6]
    out = run_module(None, 'perf_upstream_test', {'test': one_test(tmp_path), 'prefix': prefix,
                                                  'run_dir': str(tmp_path)})
    assert out['rc'] == 0 and out['valid'] and not out['changed'], out
    assert os.path.isfile(os.path.join(str(tmp_path), 'upstream', '001-m', 'ran'))
    assert namespaces(prefix) == []
