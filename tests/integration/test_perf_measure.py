"""mptcp.lab.perf_measure and the traffic sink's processes, for real.

A throwaway two-path lab: generator == shaper == sink, each path its own
pair of veth links and subnets, tbf at 50 Mbit/s on the shaper's egress,
policy routing per path, and the MPTCP policy of the lab (the sink
announces its path addresses, both ends accept/create one more subflow).
"""

import os
import threading
import time

import pytest

from conftest import run_module

RATE = 50
IDEAL = RATE * 1448.0 / 1514.0
STATS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                     'roles', 'traffic_sink', 'files', 'mptcp_lab_stats.py')


class Lab(object):
    pass


@pytest.fixture(scope='module')
def lab(tmp_path_factory):
    from conftest import Netns, unique_name
    import subprocess
    if os.geteuid() != 0:
        pytest.skip('needs root (network namespaces)')
    names = [unique_name("mlt") for dummy in range(3)]
    nss = [Netns(n) for n in names]
    for ns in nss:
        subprocess.run(['ip', 'netns', 'add', ns.name], check=True)
        ns.run('ip', 'link', 'set', 'lo', 'up')
    gen, mid, sink = nss
    run_dir = str(tmp_path_factory.mktemp('run'))
    try:
        mid.run('sysctl', '-qw', 'net.ipv4.ip_forward=1')
        links = []
        for i in (1, 2):
            ga, sa = '10.77.%d.2' % (2 * i), '10.77.%d.2' % (2 * i + 1)
            gen.add_veth('g%d' % i, peer_ns=mid, peer_name='mg%d' % i)
            sink.add_veth('s%d' % i, peer_ns=mid, peer_name='ms%d' % i)
            gen.run('ip', 'addr', 'add', ga + '/24', 'dev', 'g%d' % i)
            sink.run('ip', 'addr', 'add', sa + '/24', 'dev', 's%d' % i)
            mid.run('ip', 'addr', 'add', '10.77.%d.1/24' % (2 * i), 'dev', 'mg%d' % i)
            mid.run('ip', 'addr', 'add', '10.77.%d.1/24' % (2 * i + 1), 'dev', 'ms%d' % i)
            for ns, addr, dev, gw, table in ((gen, ga, 'g%d' % i, '10.77.%d.1' % (2 * i), 100 + i),
                                             (sink, sa, 's%d' % i, '10.77.%d.1' % (2 * i + 1), 100 + i)):
                ns.run('ip', 'rule', 'add', 'from', addr, 'table', str(table))
                ns.run('ip', 'route', 'add', 'default', 'via', gw, 'dev', dev, 'table', str(table))
            gen.run('ip', 'route', 'add', '10.77.%d.0/24' % (2 * i + 1), 'via', '10.77.%d.1' % (2 * i))
            sink.run('ip', 'route', 'add', '10.77.%d.0/24' % (2 * i), 'via', '10.77.%d.1' % (2 * i + 1))
            for dev in ('mg%d' % i, 'ms%d' % i):
                mid.run('tc', 'qdisc', 'add', 'dev', dev, 'root', 'tbf', 'rate', '%dmbit' % RATE,
                        'burst', '15k', 'limit', '100k')
            links.append({'path': i, 'dev': 'g%d' % i, 'address': ga, 'peer_address': sa})
        for i, link in enumerate(links, 1):
            sink.run('ip', 'mptcp', 'endpoint', 'add', link['peer_address'], 'dev', 's%d' % i, 'signal')
        for ns in (gen, sink):
            ns.run('ip', 'mptcp', 'limits', 'set', 'subflows', '1', 'add_addr_accepted', '1')
        procs = [('mptcp', 5201, ['mptcpize', 'run', 'iperf3', '--server', '--port', '5201']),
                 ('tcp', 5301, ['iperf3', '--server', '--port', '5301']),
                 ('stats', 5199, ['python3', STATS, '--port', '5199',
                                  '--lab-state', os.path.join(run_dir, '*.json')])]
        for name, port, argv in procs:
            res = run_module(sink, 'supervised_process',
                             dict(name=name, argv=argv, wait_for_port=port, run_dir=run_dir))
            assert res['rc'] == 0, res
        obj = Lab()
        obj.gen, obj.sink, obj.links, obj.run_dir = gen, sink, links, run_dir
        yield obj
    finally:
        for name in ('mptcp', 'tcp', 'stats'):
            run_module(sink, 'supervised_process', dict(name=name, state='stopped', run_dir=run_dir))
        for ns in nss:
            subprocess.run(['ip', 'netns', 'del', ns.name], check=False)


def measure(lab, **kwargs):
    args = dict(server=lab.links[0]['peer_address'], bind=lab.links[0]['address'], port=5201,
                protocol='mptcp', duration=3, omit=1, links=lab.links, stats_address=lab.links[0]['peer_address'],
                stats_port=5199)
    args.update(kwargs)
    res = run_module(lab.gen, 'perf_measure', args)
    assert res['rc'] == 0, res           # the module itself never fails on a bad run
    assert res['changed'] is False
    return res


def test_mptcp_over_both_paths(lab):
    res = measure(lab)
    assert res['ok'], res['error']
    assert res['error'] is None and res['fallback'] is False and res['fallback_reasons'] == []
    assert res['subflows'] == 2
    assert res['streams'][0]['paths'] == [1, 2]
    assert res['throughput_mbps'] > 0.85 * 2 * IDEAL        # aggregation, not one path
    assert len(res['per_path_mbps']) == 2 and all(v > 0.3 * res['throughput_mbps'] for v in res['per_path_mbps'])
    assert sum(res['per_path_mbps']) == pytest.approx(res['throughput_mbps'], rel=0.01)
    assert all(b > 0 for b in res['per_path_bytes'])
    assert 2.9 < res['duration_s'] < 3.3 and res['elapsed_s'] >= 4.0
    for end in ('generator', 'sink'):
        cpu = res['cpu'][end]
        assert 0 < cpu['busy_pct'] <= 100 and cpu['softirq_pct'] >= 0
    assert res['sink_stats_error'] is None
    assert res['launcher'] == 'mptcpize' and res['argv'][:2] == [res['argv'][0], 'run']
    raw = res['raw']
    assert raw['iperf3']['end']['sum_received']['bits_per_second'] > 0
    assert raw['mptcp_counters'].get('MPJoinSynAckRx', 0) >= 1
    assert 'tcp-ulp-mptcp' in raw['ss_subflows'] and 'subflows:1' in raw['ss_mptcp']
    assert raw['sink']['mptcp_counters'].get('MPJoinAckRx', 0) >= 1
    assert raw['nstat']['generator']['TcpExtTCPOrigDataSent'] > 0 and raw['nstat']['sink']['TcpInSegs'] > 0
    assert res['mptcp_events']['generator']['MPJoinSynAckRx'] >= 1
    assert res['mptcp_events']['sink']['MPJoinAckRx'] >= 1 and res['mptcp_events']['sink']['AddAddrTx'] >= 1
    check_cost_and_series(res, paths=[1, 2], streams=1)


def check_cost_and_series(res, paths, streams):
    """The CPU cost, the metrics and the time series of a valid run are sane."""
    cost, metrics = res['cpu_cost'], res['metrics']
    # the window is iperf3's counted seconds, omit and setup excluded
    assert cost['window_s'] == pytest.approx(3.0, abs=0.1) and cost['window']['omitted_s'] == pytest.approx(1, abs=0.1)
    assert cost['window']['start_s'] >= cost['window']['omitted_s'] and cost['window']['overhead_s'] < 1.0
    assert cost['window']['bounds_sampled'] == {'generator': True, 'sink': True}
    # anchored where the data started (seen within a few ms), ending before iperf3's exit
    assert cost['window']['anchor'] == 'data start' and 0 < cost['window']['data_start_s'] < 1.0
    assert cost['window']['data_start_uncertainty_s'] < 0.1 and 0 <= cost['window']['exit_lag_s'] < 0.5
    assert cost['same_machine'] is True          # the netns lab: one kernel, counted once
    assert cost['gb_delivered'] == pytest.approx(res['bytes_received'] / 1e9, rel=0.05)
    for end in ('generator', 'sink'):
        host = cost['hosts'][end]
        assert host['busy_s'] > 0 and host['lab_s'] > 0 and host['other_s'] >= 0, (end, cost)
        assert host['busy_s'] == pytest.approx(host['user_s'] + host['system_s'] + host['softirq_s'] + host['irq_s'],
                                               abs=0.01)
        assert host['busy_s'] <= os.cpu_count() * cost['window_s'] * 1.05
        assert host['lab_s'] + host['other_s'] <= host['busy_s'] + 0.05
    assert metrics['cpu_s_per_gb'] == pytest.approx(cost['hosts']['generator']['busy_s'] / cost['gb_delivered'],
                                                    rel=0.01)
    assert 0 < cost['lab_s_per_gb'] <= metrics['cpu_s_per_gb']
    # watching is cheap: a fifth of a second of CPU at most for a 4 s run, ss once a second
    assert 0 < cost['sampler']['cpu_s'] < 0.2 and cost['sampler']['ss_runs'] >= 3
    assert cost['sampler']['sink_samples'] >= 3 and cost['sampler']['sink_cpu_s'] > 0
    assert metrics['throughput_mbps'] == res['throughput_mbps']
    assert isinstance(metrics['retransmits'], int) and metrics['retransmits'] >= 0
    assert res['retransmits_by_source']['used'] == 'nstat'
    series = res['raw']['timeseries']
    assert series['interval_s'] == 1.0 and len(series['t']) == 3 and series['t'][-1] == pytest.approx(3, abs=0.1)
    assert [p['path'] for p in series['paths']] == paths and all(len(p['mbps']) == 3 for p in series['paths'])
    # what the paths' interfaces carried over the window is what was delivered plus what the
    # sender retransmitted (tbf drops), plus headers (one per GSO packet on veth: a few %)
    steps = [b - a for a, b in zip([0] + series['t'], series['t'])]
    wire = sum(mbps * dt for p in series['paths'] for mbps, dt in zip(p['mbps'], steps)) * 1e6 / 8
    sent = res['bytes_received'] + metrics['retransmits'] * 1448
    assert 0.95 < wire / sent < 1.1, (wire, res['bytes_received'], metrics['retransmits'])
    cpu = series['cpu']
    for end in ('generator', 'sink'):
        assert len(cpu[end]['busy']) == 3 and all(0 < v <= os.cpu_count() * 1.1 for v in cpu[end]['busy'])
        assert all(v >= 0 for v in cpu[end]['lab'] + cpu[end]['other'])
    subflows = series['subflows']
    assert series['subflows_from'] == ('sink' if res['argv'].count('--reverse') else 'generator')
    assert len(set(sf['stream'] for sf in subflows)) == streams
    assert sorted(set(sf['path'] for sf in subflows)) == paths and len(subflows) == streams * len(paths)
    for sf in subflows:
        assert len(sf['cwnd']) == len(sf['rtt_ms']) == len(sf['retrans']) == 3
        assert sum(1 for v in sf['cwnd'] if v) >= 2 and all(v is None or v > 0 for v in sf['rtt_ms'])


def test_mptcp_download_and_two_streams(lab):
    res = measure(lab, direction='download', streams=2, congestion='cubic')
    assert res['ok'], res['error']
    assert res['congestion'] == 'cubic' and res['argv'][res['argv'].index('--congestion') + 1] == 'cubic'
    assert [s['subflows'] for s in res['streams']] == [2, 2]
    assert res['throughput_mbps'] > 0.85 * 2 * IDEAL
    # the sink sends: its retransmits count, the generator's receiving interfaces carry the series,
    # and the subflows' cwnd, RTT and retransmits are the sink's (the sender's) sockets
    check_cost_and_series(res, paths=[1, 2], streams=2)
    series = res['raw']['timeseries']
    assert series['subflows_from'] == 'sink'
    assert all(max(v or 0 for v in sf['cwnd']) > 10 for sf in series['subflows'])   # grew: a sender's cwnd


def test_tcp_over_path_two_only(lab):
    link = lab.links[1]
    res = measure(lab, protocol='tcp', server=link['peer_address'], bind=link['address'], port=5301,
                  links=[link], stats_address=link['peer_address'])
    assert res['ok'], res['error']
    assert res['subflows'] is None and res['fallback'] is None and res['streams'] == []
    assert res['throughput_mbps'] == pytest.approx(IDEAL, rel=0.1)
    assert res['per_path_mbps'] == [res['throughput_mbps']]
    assert res['launcher'] is None and 'mptcpize' not in res['argv'][0]
    assert res['mptcp_events'] is None
    check_cost_and_series(res, paths=[2], streams=1)


def test_fallback_to_tcp_is_invalid(lab):
    # An MPTCP client against a plain TCP server: the handshake falls back.
    res = measure(lab, port=5301)
    assert not res['ok'] and res['fallback'] is True
    assert res['error'].startswith('invalid: MPTCP fell back to TCP')
    assert 'MPCapableFallbackSYNACK' in res['error']
    assert res['throughput_mbps'] > 0          # the numbers are kept, marked invalid


def test_fewer_subflows_than_paths_is_invalid(lab):
    lab.sink.run('ip', 'mptcp', 'endpoint', 'flush')
    try:
        res = measure(lab)
    finally:
        for i, link in enumerate(lab.links, 1):
            lab.sink.run('ip', 'mptcp', 'endpoint', 'add', link['peer_address'], 'dev', 's%d' % i, 'signal')
    assert not res['ok'] and res['fallback'] is False
    assert res['subflows'] == 1
    assert res['error'] == 'invalid: 1 subflow(s) for 2 path(s)'


def test_tool_failure_is_kept_with_its_error(lab):
    res = measure(lab, port=5999, stats_port=5998)
    assert not res['ok']
    assert res['error'] == 'iperf3: unable to connect to server: Connection refused'
    assert res['throughput_mbps'] is None and res['fallback'] is None
    assert res['cpu']['sink'] is None and 'sink stats responder' in res['sink_stats_error']
    assert res['cpu_cost'] is None and res['raw']['timeseries'] is None
    assert res['metrics'] == {'throughput_mbps': None, 'cpu_s_per_gb': None, 'retransmits': None}


def test_check_mode_measures_nothing(lab):
    res = run_module(lab.gen, 'perf_measure', dict(server='10.77.3.2', links=lab.links), check_mode=True)
    assert res['rc'] == 0 and res['skipped'] and not res['ok'] and res['throughput_mbps'] is None
    assert res['metrics'] == {'throughput_mbps': None, 'cpu_s_per_gb': None, 'retransmits': None}
    assert res['cpu_cost'] is None


def test_bad_input_fails_early(lab):
    res = run_module(lab.gen, 'perf_measure', dict(server='10.77.3.2', protocol='tcp', links=lab.links))
    assert res['rc'] != 0 and res['msg'] == 'links: protocol tcp uses exactly one path, got 2 links'
    res = run_module(lab.gen, 'perf_measure', dict(server='10.77.3.2', links=lab.links, streams=0))
    assert res['rc'] != 0 and res['msg'] == 'streams: must be >= 1, got 0'
    res = run_module(lab.gen, 'perf_measure', dict(server='10.77.3.2', links=lab.links, start_at=time.time() + 3600))
    assert res['rc'] != 0 and res['msg'].startswith('start_at: must be a time (seconds since the epoch) at most 600 s')


def test_two_flows_told_one_start_time_start_together(lab):
    """The barrier of a measurement over several pairs: each waits for start_at, then starts iperf3."""
    start_at = time.time() + 4
    out = {}

    def flow(name, protocol, port, links):
        out[name] = measure(lab, protocol=protocol, port=port, links=links, start_at=start_at)
    threads = [threading.Thread(target=flow, args=('mptcp', 'mptcp', 5201, lab.links)),
               threading.Thread(target=flow, args=('tcp', 'tcp', 5301, lab.links[1:]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    mptcp, tcp = out['mptcp'], out['tcp']
    assert mptcp['ok'] and tcp['ok'], (mptcp['error'], tcp['error'])
    for res in (mptcp, tcp):
        # neither started before the time, and both within 0.5 s of it (each module took < 4 s to get there)
        assert 0 <= res['started_at'] - start_at < 0.5 and res['start_late_s'] == pytest.approx(
            res['started_at'] - start_at, abs=1e-3)
    assert abs(mptcp['started_at'] - tcp['started_at']) < 0.1
    # a time already past: started at once, and how late is said
    late = measure(lab, protocol='tcp', port=5301, links=lab.links[:1], duration=1, start_at=time.time() - 2)
    assert late['ok'] and late['start_late_s'] >= 2
    # without start_at there is no lateness to tell
    assert measure(lab, protocol='tcp', port=5301, links=lab.links[:1], duration=1)['start_late_s'] is None
