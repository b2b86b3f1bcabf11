"""perf_measure's client runner and sampler (perf_sampler), on real short processes (no network needed)."""

import os
import sys
import time

from ansible_collections.mptcp.lab.plugins.module_utils.perf import perf_sampler as ps

ENV = dict(os.environ, LC_ALL='C')


def sampler(**kwargs):
    args = dict(devs=['lo'], sink=None, ss_argv=['true'], ss_mptcp_argv=['true'], mid_s=0.3, env=ENV)
    args.update(kwargs)
    return ps.Sampler(**args)


def test_client_exit_time_cpu_and_samples():
    burn = [sys.executable, '-c', 'import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass\n'
            'print("{}")']
    s = sampler()
    client = ps.Client(burn, ENV, limit=30)
    rc, out, err = client.run(s)
    assert rc == 0 and out.strip() == '{}' and not client.killed
    assert 0.3 <= client.cpu_s < 2.0                       # the child's own CPU, from its exit
    assert client.t_exit - client.t_spawn >= 0.3
    # a tick at the spawn (lab 0), ticks while it ran, and the closing one with the exit's CPU
    # (the thread may add one more after it, without the child's CPU)
    timed = sorted((x for x in s.local if x['lab_s'] is not None), key=lambda x: x['t'])
    assert timed[0]['lab_s'] == 0.0 and timed[-1]['lab_s'] == client.cpu_s and len(s.local) >= 2
    assert 0 <= timed[-1]['t'] - client.t_exit < 1.0          # taken at the exit (a busy machine may delay it)
    assert list(s.local[1]['net_dev']) == ['lo'] and s.local[1]['retrans'] is not None   # the paths' devices only
    assert not s.is_alive()


def test_client_killed_at_its_limit():
    s = sampler(mid_s=100)
    client = ps.Client(['sleep', '30'], ENV, limit=1)
    t0 = time.monotonic()
    rc, _out, _err = client.run(s)
    assert client.killed and rc == -15 and time.monotonic() - t0 < 5
    assert s.mid == {}                                     # never half-way: no mid-run listing


def test_client_that_cannot_start():
    s = sampler()
    client = ps.Client(['/nonexistent/iperf3'], ENV, limit=1)
    rc, _out, err = client.run(s)
    assert rc == 127 and 'cannot run /nonexistent/iperf3' in err


def test_sampler_runs_ss_once_a_second_and_counts_its_cost():
    s = sampler(ss_argv=['echo', 'x'], mid_s=0.5)
    client = ps.Client(['sleep', '2.2'], ENV, limit=30)
    client.run(s)
    assert s.ss_runs >= 2 and len(s.ss) == s.ss_runs
    assert s.mid == {'subflows': 'x\n', 'mptcp': ''}       # taken at the first tick after 0.5 s
    assert 0 < s.cost_s() < 1.0 and s.child_cpu_s > 0


def test_sink_client_reports_unreachable_responder():
    sample, error = ps.SinkClient('127.0.0.1', 9, timeout=0.5).ask('cpu')
    assert sample is None and error.startswith('sink stats responder 127.0.0.1:9: ')
    assert ps.SinkClient(None, 5199).ask('stats') == (None, None)


def test_run_counted():
    rc, out, cpu = ps.run_counted(['sh', '-c', 'echo out; echo err >&2; exit 3'], ENV)
    assert rc == 3 and 'out' in out and 'err' in out and cpu >= 0


def test_sink_sample_turns_its_sockets_to_the_generator_side():
    reply = {'stat': 'cpu  1 2 3 4 5 6 7 8 0 0\n', 'snmp': 'Tcp: RetransSegs\nTcp: 9\n', 'lab_cpu_s': 1.5,
             'self_cpu_s': 0.1, 'tcp': [['10.0.1.2', 5201, '10.0.0.1', 40001, 30, 1500, 4]]}
    s = ps.SinkClient.sample(reply, 7.0)
    assert s['t'] == 7.0 and s['retrans'] == 9 and s['lab_s'] == 1.5 and s['sampler_s'] == 0.1
    assert s['cpu']['softirq'] == 7 and 'net_dev' not in s
    assert s['socks'] == [{'local': '10.0.0.1', 'local_port': 40001, 'peer': '10.0.1.2', 'peer_port': 5201,
                           'token': None, 'cwnd': 30, 'rtt_ms': 1.5, 'retrans': 4}]


def test_sink_client_says_when_the_responder_does_not_answer():
    import socket
    import threading
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(1)

    def serve():                       # a wave-1 responder: closes without a reply to 'cpu'
        conn, _peer = listener.accept()
        conn.recv(64)
        conn.close()
    thread = threading.Thread(target=serve)
    thread.start()
    try:
        sample, error = ps.SinkClient('127.0.0.1', listener.getsockname()[1]).ask('cpu 5201')
    finally:
        thread.join(5)
        listener.close()
    assert sample is None and "no reply to 'cpu 5201'" in error


def test_a_failing_sampler_stops_and_says_why_the_run_goes_on():
    s = sampler(ss_argv=['/nonexistent/ss'], mid_s=100)
    client = ps.Client(['sleep', '1.3'], ENV, limit=30)
    rc, _out, _err = client.run(s)
    assert rc == 0 and not s.is_alive()
    assert len(s.errors) == 1 and s.errors[0].startswith('sampler stopped: FileNotFoundError')
    assert client.cpu_s in [x['lab_s'] for x in s.local]   # the closing tick is taken anyway


def test_watch_finds_when_the_data_starts(monkeypatch):
    """The kernel's counters replaced by a clock-driven /proc/net/dev: data from 0.3 s after the spawn."""
    real = ps.read_file
    t0 = time.monotonic()

    def fake(path):
        if path != '/proc/net/dev':
            return real(path)
        sent = 1000 + (500 if time.monotonic() - t0 > 0.02 else 0)          # setup: a few hundred bytes
        sent += int(max(0.0, time.monotonic() - t0 - 0.3) * 1e8)           # then 100 MB/s
        return 'Inter-|\n face |\n   p1: 0 0 0 0 0 0 0 0 %d 0 0 0 0 0 0 0\n' % sent
    monkeypatch.setattr(ps, 'read_file', fake)
    s = sampler(devs=['p1'])
    client = ps.Client(['sleep', '0.8'], ENV, limit=30)
    client.run(s)
    # the start (0.3 s, plus 82 us to cross the floor) lies within the estimate's uncertainty
    assert s.data_start is not None and 0 < s.data_start_uncertainty < 0.5
    assert abs(s.data_start - (client.t_spawn + 0.3)) <= s.data_start_uncertainty + 0.01
    # the regular ticks went on meanwhile
    assert len(s.local) >= 4


def test_no_data_no_start():
    s = sampler(devs=['mlt-nodev'])                       # a path whose counters never move
    s.watch_s = 0.3
    ps.Client(['sleep', '0.6'], ENV, limit=30).run(s)
    assert s.data_start is None


def test_client_child_dies_with_the_module():
    """The measuring process killed mid-run: its iperf3 (here a sleep) goes with it."""
    import subprocess
    code = ('import os\n'
            'from ansible_collections.mptcp.lab.plugins.module_utils.perf import perf_sampler as ps\n'
            'c = ps.Client(["sleep", "60"], dict(os.environ), limit=120)\n'
            's = ps.Sampler(["lo"], None, ["true"], ["true"], 100, dict(os.environ))\n'
            'c.run(s)\n')
    parent = subprocess.Popen([sys.executable, '-c', code], env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    try:
        deadline = time.monotonic() + 10
        child = None
        while child is None and time.monotonic() < deadline:
            with open('/proc/%d/task/%d/children' % (parent.pid, parent.pid)) as f:
                kids = f.read().split()
            child = int(kids[0]) if kids else None
            time.sleep(0.05)
        assert child is not None
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 5
    while os.path.exists('/proc/%d' % child) and time.monotonic() < deadline:
        time.sleep(0.05)
    if os.path.exists('/proc/%d' % child):               # gone, or a zombie its new parent has not reaped yet
        with open('/proc/%d/stat' % child) as f:
            assert f.read().rsplit(') ', 1)[1].startswith('Z')
