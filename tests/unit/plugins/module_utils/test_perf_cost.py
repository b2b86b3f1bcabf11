"""Window, CPU cost, retransmits and time series from timed samples (mptcp.lab perf_cost)."""

import pytest

from ansible_collections.mptcp.lab.plugins.module_utils.perf import perf_cost as pc

HZ = 100


def test_value_at_interpolates_and_clamps():
    pts = [(0.0, 0.0), (1.0, 10.0), (3.0, 30.0)]
    assert pc.value_at(pts, 0.5) == 5.0
    assert pc.value_at(pts, 2.0) == 20.0
    assert pc.value_at(pts, 1.0) == 10.0
    assert pc.value_at(pts, -1.0) == 0.0 and pc.value_at(pts, 9.0) == 30.0
    assert pc.value_at([], 1.0) is None
    assert pc.value_at([(1.0, 4.0), (1.0, 6.0)], 1.0) == 4.0


def test_points_and_delta_skip_missing_values():
    samples = [{'t': 2.0, 'v': 20}, {'t': 0.0, 'v': 0}, {'t': 1.0, 'v': None}, {'t': 1.5}, {'t': 3.0, 'v': True}]
    assert pc.points(samples, lambda s: s['v']) == [(0.0, 0), (2.0, 20)]
    assert pc.delta(samples, lambda s: s['v'], 0.5, 1.5) == pytest.approx(10.0)
    assert pc.delta([], lambda s: s['v'], 0, 1) is None
    assert pc.covers(samples, 0.0, 3.0) and not pc.covers(samples, -0.1, 1.0) and not pc.covers([], 0, 1)


def test_window_ends_at_exit_and_never_before_the_spawn():
    assert pc.window(10.0, 3.0, 6.5) == (7.0, 10.0)
    assert pc.window(10.0, 5.0, 6.5) == (6.5, 10.0)


def machine(t_end=6.0, user=100, system=40, softirq=20, irq=0, idle=40, lab=0.5, sampler=0.01, period=0.2):
    """Samples of a machine whose counters grow steadily (per second: jiffies, lab/sampler seconds)."""
    out = []
    n = int(round(t_end / period))
    for k in range(n + 1):
        t = k * period
        out.append({'t': t, 'cpu': {'user': int(round(user * t)), 'nice': 0, 'system': int(round(system * t)),
                                    'idle': int(round(idle * t)), 'iowait': 0, 'irq': int(round(irq * t)),
                                    'softirq': int(round(softirq * t)), 'steal': 0},
                    'lab_s': lab * t, 'sampler_s': sampler * t, 'retrans': 7 * t})
    return out


def test_host_cpu_over_the_window_only():
    h = pc.host_cpu(machine(), 1.5, 3.5, HZ)
    # 2 s of: user 1 s/s, system 0.4, softirq 0.2; the lab 0.5 s/s, the sampler 0.01 s/s
    assert h['user_s'] == pytest.approx(2.0) and h['system_s'] == pytest.approx(0.8)
    assert h['softirq_s'] == pytest.approx(0.4) and h['irq_s'] == 0
    assert h['busy_s'] == pytest.approx(3.2)
    assert h['lab_s'] == pytest.approx(1.0) and h['sampler_s'] == pytest.approx(0.02)
    assert pc.host_cpu([], 0, 1, HZ) is None
    # a host whose lab processes were never sampled (an old responder)
    old = [dict(s, lab_s=None, sampler_s=None) for s in machine()]
    assert pc.host_cpu(old, 1.5, 3.5, HZ)['lab_s'] is None


def test_cpu_cost_one_machine_is_counted_once():
    gen = pc.host_cpu(machine(), 1.0, 3.0, HZ)
    sink = pc.host_cpu(machine(lab=0.3, sampler=0.005), 1.0, 3.0, HZ)
    cost, per_gb = pc.cpu_cost(gen, sink, True, 2.0, 800.0)
    # 800 Mbit/s for 2 s = 0.2 GB; the machine was busy 3.2 s (1.6 s/s) in the window
    assert cost['gb_delivered'] == pytest.approx(0.2)
    assert per_gb == pytest.approx(3.2 / 0.2)
    assert cost['same_machine'] is True and cost['window_s'] == 2.0
    # other: busy 3.2 - softirq 0.4 - lab (1.0 + 0.6) - samplers (0.02 + 0.01)
    for end in ('generator', 'sink'):
        assert cost['hosts'][end]['other_s'] == pytest.approx(3.2 - 0.4 - 1.6 - 0.03)
        assert set(pc.HOST_KEYS) <= set(cost['hosts'][end])
    assert cost['hosts']['sink']['lab_s'] == pytest.approx(0.6)
    assert cost['lab_s_per_gb'] == pytest.approx((3.2 - cost['hosts']['sink']['other_s']) / 0.2, rel=1e-3)


def test_cpu_cost_two_machines_add_up():
    gen = pc.host_cpu(machine(), 1.0, 3.0, HZ)
    sink = pc.host_cpu(machine(user=50, lab=0.2), 1.0, 3.0, HZ)
    cost, per_gb = pc.cpu_cost(gen, sink, False, 2.0, 800.0)
    assert per_gb == pytest.approx((3.2 + 2.2) / 0.2)
    assert cost['hosts']['generator']['other_s'] == pytest.approx(3.2 - 0.4 - 1.0 - 0.02)
    assert cost['hosts']['sink']['other_s'] == pytest.approx(2.2 - 0.4 - 0.4 - 0.02)
    assert cost['hosts']['sink']['busy_s_per_gb'] == pytest.approx(2.2 / 0.2)


def test_cpu_cost_unknown_parts_give_no_figure():
    gen = pc.host_cpu(machine(), 1.0, 3.0, HZ)
    # no sink figures and no proof that it is this machine: both ends are not known
    cost, per_gb = pc.cpu_cost(gen, None, None, 2.0, 800.0)
    assert per_gb is None and cost['hosts']['sink'] is None
    assert cost['hosts']['generator']['busy_s'] == pytest.approx(3.2)
    # a wave-1 responder gives no boot_id: the ends might be one machine, so no figure
    cost, per_gb = pc.cpu_cost(gen, gen, None, 2.0, 800.0)
    assert per_gb is None and cost['hosts']['sink']['busy_s'] == pytest.approx(3.2)
    # one machine by boot_id, the sink's closing sample lost: the machine is still known
    assert pc.cpu_cost(gen, None, True, 2.0, 800.0)[1] == pytest.approx(16.0)
    # no throughput (a failed run): no GB delivered
    cost, per_gb = pc.cpu_cost(gen, gen, True, 2.0, None)
    assert per_gb is None and cost['gb_delivered'] is None
    # a machine so loaded that the lab explains more than busy: never negative
    busy_lab = pc.host_cpu(machine(lab=5.0), 1.0, 3.0, HZ)
    cost = pc.cpu_cost(busy_lab, None, False, 2.0, 800.0)[0]
    assert cost['hosts']['generator']['other_s'] == 0.0


def test_sender_retransmits_come_from_the_sending_end():
    gen, sink = machine(), [dict(s, retrans=3 * s['t']) for s in machine()]
    assert pc.sender_retransmits('upload', gen, sink, 1.0, 3.0) == 14
    assert pc.sender_retransmits('download', gen, sink, 1.0, 3.0) == 6
    assert pc.sender_retransmits('bidir', gen, sink, 1.0, 3.0) == 20
    assert pc.sender_retransmits('download', gen, None, 1.0, 3.0) is None
    assert pc.sender_retransmits('upload', [dict(s, retrans=None) for s in gen], None, 1, 3) is None


def test_mptcp_events_of_interest():
    ev = pc.mptcp_events({'generator': {'MPTcpExtMPJoinSynAckRx': 2, 'TcpRetransSegs': 5,
                                        'MPTcpExtMPCapableSYNTX': 1},
                          'sink': None})
    assert ev['sink'] is None
    assert ev['generator']['MPJoinSynAckRx'] == 2 and ev['generator']['DuplicateData'] == 0
    assert set(ev['generator']) == set(pc.MPTCP_EVENTS)
    assert 'MPCapableSYNTX' not in ev['generator']


def test_edges_cover_the_window():
    assert pc.edges(10.0, 12.995) == [10.0, 11.0, 12.0, 12.995]
    assert pc.edges(10.0, 13.04) == [10.0, 11.0, 12.0, 13.04]
    assert pc.edges(0.0, 0.4) == [0.0, 0.4]


def dev_samples():
    # path 1 sends 125000 B/s (1 Mbit/s), path 2 twice that, and receives a little
    return [{'t': k * 0.2, 'net_dev': {'p1': {'tx_bytes': int(25000 * k), 'rx_bytes': 100 * k},
                                       'p2': {'tx_bytes': int(50000 * k), 'rx_bytes': 0}}}
            for k in range(30)]


def test_path_series_per_direction():
    bounds = pc.edges(1.0, 4.0)
    up = pc.path_series(dev_samples(), [(1, 'p1'), (2, 'p2')], 'upload', bounds)
    assert up == [{'path': 1, 'dev': 'p1', 'mbps': [1.0, 1.0, 1.0]},
                  {'path': 2, 'dev': 'p2', 'mbps': [2.0, 2.0, 2.0]}]
    down = pc.path_series(dev_samples(), [(1, 'p1')], 'download', bounds)
    assert down[0]['mbps'] == [0.004, 0.004, 0.004]
    both = pc.path_series(dev_samples(), [(3, 'p1')], 'bidir', bounds)
    assert both == [{'path': 3, 'dev': 'p1', 'mbps': [1.004, 1.004, 1.004]}]   # the lab's path number
    assert pc.path_series([], [(1, 'p1')], 'upload', bounds)[0]['mbps'] == [None, None, None]


def sock(local, lport, token, cwnd, rtt, retrans, peer='10.0.1.2'):
    return {'local': local, 'local_port': lport, 'peer': peer, 'peer_port': 5201, 'token': token,
            'cwnd': cwnd, 'rtt_ms': rtt, 'retrans': retrans}


def ss_samples():
    out = []
    for k, t in enumerate((0.1, 1.05, 2.02, 2.98, 4.0)):
        socks = [sock('10.0.0.1', 40000, 'aa', 10, 0.1, 0),                 # iperf3's control connection
                 sock('10.0.0.1', 40001, 'bb', 10 + k, 0.5 + k, 2 * k)]     # the data stream, path 1
        if k >= 1:                                                          # joined at ~1 s, on path 2
            socks.append(sock('10.0.2.1', 50000, 'bb', 20 + k, 1.0, k, peer='10.0.3.2'))
        socks.append(sock('10.9.9.9', 7, 'cc', 1, 1.0, 0))                   # another connection
        out.append({'t': t, 'socks': socks})
    return out


def test_subflow_series_groups_by_stream_and_maps_paths():
    bounds = pc.edges(1.0, 4.0)
    paths = {'10.0.0.1': 1, '10.0.2.1': 2}
    series = pc.subflow_series(ss_samples(), [40001], '10.0.0.1', paths, bounds)
    assert [(s['stream'], s['path'], s['local'], s['remote']) for s in series] == [
        (40001, 1, '10.0.0.1:40001', '10.0.1.2:5201'), (40001, 2, '10.0.2.1:50000', '10.0.3.2:5201')]
    first, joined = series
    # the samples nearest 2, 3 and 4 s are k = 2, 3, 4; the start (1 s) is k = 1
    assert first['cwnd'] == [12, 13, 14] and first['rtt_ms'] == [2.5, 3.5, 4.5]
    assert first['retrans'] == [2, 2, 2]
    assert joined['cwnd'] == [22, 23, 24] and joined['retrans'] == [1, 1, 1]


def test_subflow_series_gaps_and_plain_tcp():
    bounds = pc.edges(1.0, 4.0)
    samples = [s for s in ss_samples() if s['t'] != 2.98]
    series = pc.subflow_series(samples, [40001], '10.0.0.1', {'10.0.0.1': 1}, bounds)
    assert series[0]['cwnd'] == [12, None, 14] and series[0]['retrans'] == [2, None, None]
    assert series[1]['path'] is None          # a subflow outside the test's paths is kept, pathless
    tcp = [{'t': t, 'socks': [dict(sock('10.0.0.1', 40001, None, 30, 0.2, 0)),
                              dict(sock('10.0.0.1', 40000, None, 10, 0.2, 0))]} for t in (1.0, 2.0, 3.0, 4.0)]
    series = pc.subflow_series(tcp, [40001], '10.0.0.1', {'10.0.0.1': 1}, bounds)
    assert len(series) == 1 and series[0]['stream'] == 40001 and series[0]['cwnd'] == [30, 30, 30]


def test_timeseries_shape():
    ts = pc.timeseries(dev_samples(), ss_samples(), [(1, 'p1'), (2, 'p2')], 'upload', [40001], '10.0.0.1',
                       {'10.0.0.1': 1, '10.0.2.1': 2}, 1.0, 3.995)
    assert ts['interval_s'] == 1.0 and ts['t'] == [1.0, 2.0, 2.995]
    assert [len(p['mbps']) for p in ts['paths']] == [3, 3]
    assert all(len(sf[k]) == 3 for sf in ts['subflows'] for k in ('cwnd', 'rtt_ms', 'retrans'))
    assert ts['cpu'] == {'generator': None, 'sink': None}          # no CPU samples given


def sink_view():
    """The sink's sockets of the same subflows, turned to the generator's side (as perf_sampler does)."""
    out = []
    for k, t in enumerate((0.15, 1.0, 2.0, 3.05, 3.9)):
        socks = [sock('10.0.0.1', 40001, None, 100 + k, 9.0, 10 * k)]
        if k >= 1:
            socks.append(sock('10.0.2.1', 50000, None, 200 + k, 8.0, 0, peer='10.0.3.2'))
        out.append({'t': t, 'socks': socks})
    return out


def test_download_subflows_are_seen_from_the_sink():
    paths = {'10.0.0.1': 1, '10.0.2.1': 2}
    ts = pc.timeseries(dev_samples(), ss_samples(), [(1, 'p1'), (2, 'p2')], 'download', [40001], '10.0.0.1',
                       paths, 1.0, 4.0, sink_ss=sink_view())
    assert ts['subflows_from'] == 'sink'
    first, joined = ts['subflows']
    # grouped by the generator's tokens, figures from the sender's sockets
    assert (first['path'], joined['path']) == (1, 2)
    assert first['cwnd'] == [102, 103, 104] and first['rtt_ms'] == [9.0] * 3 and first['retrans'] == [10, 10, 10]
    assert joined['cwnd'] == [202, 203, 204]
    # upload, or a sink that listed nothing: the generator's own sockets
    up = pc.timeseries(dev_samples(), ss_samples(), [(1, 'p1')], 'upload', [40001], '10.0.0.1', paths, 1.0, 4.0,
                       sink_ss=sink_view())
    assert up['subflows_from'] == 'generator' and up['subflows'][0]['cwnd'] == [12, 13, 14]
    down = pc.timeseries(dev_samples(), ss_samples(), [(1, 'p1')], 'download', [40001], '10.0.0.1', paths, 1.0,
                         4.0, sink_ss=[])
    assert down['subflows_from'] == 'generator'


def test_cpu_series_per_bucket_in_cores():
    bounds = pc.edges(1.0, 4.0)
    series = pc.cpu_series(machine(), machine(lab=0.3, sampler=0.0), True, bounds, HZ)
    # busy 1.6 cores; lab 0.5 (+0.3 on the sink); other: 1.6 - softirq 0.2 - lab 0.8 - sampler 0.01
    assert series['generator']['busy'] == [1.6, 1.6, 1.6]
    assert series['generator']['lab'] == [0.5, 0.5, 0.5] and series['sink']['lab'] == [0.3, 0.3, 0.3]
    assert series['generator']['other'] == series['sink']['other'] == [0.59, 0.59, 0.59]
    alone = pc.cpu_series(machine(), None, None, bounds, HZ)
    assert alone['sink'] is None and alone['generator']['other'] == [0.89, 0.89, 0.89]


def test_window_anchored_at_the_data_start():
    # data seen 0.04 s after the spawn; 1.0 s omitted, 3.0 s counted; iperf3 exited 0.03 s after
    assert pc.anchored_window(10.0, 14.07, 1.0, 3.0, 10.04) == (11.04, 14.04, 'data start')
    # a window that would end after the exit (a start seen too late) is clamped within 50 ms...
    assert pc.anchored_window(10.0, 14.02, 1.0, 3.0, 10.05) == (11.05, 14.02, 'data start')
    # ...beyond that, or without a start, or a start before the spawn: anchored at the exit
    assert pc.anchored_window(10.0, 14.0, 1.0, 3.0, 10.2) == (11.0, 14.0, 'exit')
    assert pc.anchored_window(10.0, 14.0, 1.0, 3.0, None) == (11.0, 14.0, 'exit')
    assert pc.anchored_window(10.0, 14.0, 1.0, 3.0, 9.0) == (11.0, 14.0, 'exit')


def test_data_bytes_in_the_data_direction():
    net_dev = {'p1': {'tx_bytes': 10, 'rx_bytes': 1}, 'p2': {'tx_bytes': 20, 'rx_bytes': 2},
               'lo': {'tx_bytes': 99, 'rx_bytes': 99}}
    assert pc.data_bytes(net_dev, ['p1', 'p2'], 'upload') == 30
    assert pc.data_bytes(net_dev, ['p1', 'p2'], 'download') == 3
    assert pc.data_bytes(net_dev, ['p1', 'gone'], 'bidir') == 11
