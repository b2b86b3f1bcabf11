"""Parsing of tool output and the validity gate (mptcp.lab perf_parse)."""

import json
import os

import pytest

from ansible_collections.mptcp.lab.plugins.module_utils.perf import perf_parse as pp

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures', 'perf')


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return json.load(f) if name.endswith('.json') else f.read()


PROC_STAT = """cpu  100 5 50 1000 10 1 20 0 0 0
cpu0 50 2 25 500 5 1 10 0 0 0
intr 12345
"""
PROC_STAT2 = """cpu  160 5 70 1100 10 1 40 0 0 0
"""
NET_DEV = """Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0
mlab-p1: 1000 10 0 0 0 0 0 0 5000 50 0 0 0 0 0 0
mlab-p2:  2000 20 0 0 0 0 0 0 7000 70 0 0 0 0 0 0
"""
NETSTAT = """TcpExt: SyncookiesSent SyncookiesRecv
TcpExt: 0 0
MPTcpExt: MPCapableSYNRX MPCapableSYNTX MPCapableSYNACKRX MPCapableFallbackSYNACK MPJoinSynAckRx
MPTcpExt: 0 7 7 0 3
"""


def test_proc_stat_and_cpu_usage():
    a, b = pp.parse_proc_stat(PROC_STAT), pp.parse_proc_stat(PROC_STAT2)
    assert a == {'user': 100, 'nice': 5, 'system': 50, 'idle': 1000, 'iowait': 10,
                 'irq': 1, 'softirq': 20, 'steal': 0}
    use = pp.cpu_usage(a, b)
    # 60 user + 20 system + 20 softirq busy, 100 idle: 200 jiffies in all
    assert use['busy_pct'] == 50.0
    assert use['softirq_pct'] == 10.0
    assert use['user_pct'] == 30.0 and use['system_pct'] == 10.0
    assert pp.cpu_usage(a, a) is None and pp.cpu_usage(None, b) is None
    with pytest.raises(ValueError):
        pp.parse_proc_stat('intr 1\n')


def test_net_dev_and_path_bytes():
    before = pp.parse_net_dev(NET_DEV)
    assert before['mlab-p1'] == {'rx_bytes': 1000, 'rx_packets': 10, 'tx_bytes': 5000, 'tx_packets': 50}
    after = {'mlab-p1': dict(before['mlab-p1'], tx_bytes=15000, rx_bytes=1500),
             'mlab-p2': dict(before['mlab-p2'], tx_bytes=9000, rx_bytes=2600)}
    devs = ['mlab-p1', 'mlab-p2', 'gone']
    assert pp.path_bytes(before, after, devs, 'upload') == [10000, 2000, None]
    assert pp.path_bytes(before, after, devs, 'download') == [500, 600, None]
    assert pp.path_bytes(before, after, devs, 'bidir') == [10500, 2600, None]


def test_netstat_and_delta():
    c = pp.parse_netstat(NETSTAT)
    assert c == {'MPCapableSYNRX': 0, 'MPCapableSYNTX': 7, 'MPCapableSYNACKRX': 7,
                 'MPCapableFallbackSYNACK': 0, 'MPJoinSynAckRx': 3}
    assert 'SyncookiesSent' not in c
    after = dict(c, MPCapableSYNTX=9, MPJoinSynAckRx=5)
    assert pp.counter_delta(c, after) == {'MPCapableSYNTX': 2, 'MPJoinSynAckRx': 2}


def test_ss_subflows_group_by_local_token():
    sfs = pp.parse_ss_subflows(fixture('ss_tni_mptcp.txt'))
    assert len(sfs) == 4
    by_port = dict((s['local_port'], s) for s in sfs)
    data = by_port[53175]            # the data stream's initial subflow (path 1)
    assert data['local'] == '10.200.0.2' and data['peer_port'] == 5201
    joined = [s for s in sfs if s['token'] == data['token'] and s is not data]
    assert len(joined) == 1 and joined[0]['local'] == '10.200.2.2' and joined[0]['local_id'] == 1


def test_ss_mptcp_sockets():
    socks = pp.parse_ss_mptcp(fixture('ss_mni_mptcp.txt'))
    assert [(s['local_port'], s['subflows'], s['fallback']) for s in socks] == [(36873, 1, False), (53175, 1, False)]
    fb = pp.parse_ss_mptcp(fixture('ss_mni_fallback.txt'))
    assert all(s['fallback'] for s in fb) and all(s['subflows'] == 0 for s in fb)
    assert fb[0]['token'] == '74ed91ed'


def test_stream_subflows_leave_out_control_connection():
    report = fixture('iperf3_mptcp_upload.json')
    summary = pp.summarize_iperf3(report, 'upload')
    assert summary['stream_ports'] == [53175]
    sfs = pp.parse_ss_subflows(fixture('ss_tni_mptcp.txt'))
    paths = {'10.200.0.2': 1, '10.200.2.2': 2}
    assert pp.stream_subflows(summary['stream_ports'], '10.200.0.2', sfs, paths) == [
        {'port': 53175, 'subflows': 2, 'paths': [1, 2], 'foreign': []}]
    # a stream whose connection was not seen
    assert pp.stream_subflows([1], '10.200.0.2', sfs, paths) == [
        {'port': 1, 'subflows': None, 'paths': [], 'foreign': []}]
    # a test of path 1 only: the subflow on path 2 is foreign
    assert pp.stream_subflows(summary['stream_ports'], '10.200.0.2', sfs, {'10.200.0.2': 1}) == [
        {'port': 53175, 'subflows': 2, 'paths': [1], 'foreign': ['10.200.2.2']}]


def test_fallback_stream_has_one_subflow():
    report = fixture('iperf3_fallback.json')
    ports = pp.summarize_iperf3(report, 'upload')['stream_ports']
    sfs = pp.parse_ss_subflows(fixture('ss_tni_fallback.txt'))
    streams = pp.stream_subflows(ports, '10.200.0.2', sfs, {'10.200.0.2': 1})
    assert [s['subflows'] for s in streams] == [1]
    socks = pp.parse_ss_mptcp(fixture('ss_mni_fallback.txt'))
    reasons = pp.fallback_reasons({'MPCapableSYNTX': 2, 'MPCapableFallbackSYNACK': 2}, socks, ports)
    assert reasons == ['MPCapableFallbackSYNACK +2', 'ss -M: stream on port 48442 is in fallback']


def test_fallback_reasons_quiet_on_a_clean_run():
    delta = {'MPCapableSYNTX': 2, 'MPCapableSYNACKRX': 2, 'MPJoinSynAckRx': 2}
    socks = pp.parse_ss_mptcp(fixture('ss_mni_mptcp.txt'))
    assert pp.fallback_reasons(delta, socks, [53175]) == []
    # a refused connection is no fallback
    assert pp.fallback_reasons({'MPCapableSYNTX': 1}) == []
    assert pp.fallback_reasons({'InfiniteMapTx': 1, 'DssFallback': 2}) == ['InfiniteMapTx +1', 'DssFallback +2']


def test_iperf3_upload_summary():
    report = fixture('iperf3_mptcp_upload.json')
    s = pp.summarize_iperf3(report, 'upload')
    assert s['ok'] and s['error'] is None
    # the receiver's count over the measured window, not the sender's
    recv = report['end']['sum_received']
    assert s['throughput_mbps'] == pytest.approx(recv['bits_per_second'] / 1e6, abs=0.001)
    assert s['throughput_mbps'] != pytest.approx(report['end']['sum_sent']['bits_per_second'] / 1e6, abs=0.001)
    assert s['seconds'] == pytest.approx(recv['seconds'], abs=0.001) and 2.9 < s['seconds'] < 3.2
    assert isinstance(s['retransmits'], int)
    assert s['congestion'] == report['end']['sender_tcp_congestion']


def test_iperf3_bidir_adds_both_directions():
    report = fixture('iperf3_tcp_bidir.json')
    s = pp.summarize_iperf3(report, 'bidir')
    end = report['end']
    want = (end['sum_received']['bits_per_second'] + end['sum_received_bidir_reverse']['bits_per_second']) / 1e6
    assert s['throughput_mbps'] == pytest.approx(want, abs=0.001)
    assert len(s['stream_ports']) == 4
    one_way = pp.summarize_iperf3(report, 'upload')
    assert one_way['throughput_mbps'] < s['throughput_mbps']


def test_iperf3_errors():
    s = pp.summarize_iperf3(fixture('iperf3_refused.json'), 'upload')
    assert not s['ok'] and s['error'] == 'iperf3: unable to connect to server: Connection refused'
    assert pp.summarize_iperf3(None, 'upload')['error'] == 'iperf3 printed no JSON report'
    assert 'end.sum_received' in pp.summarize_iperf3({'start': {}, 'end': {}}, 'upload')['error']


@pytest.mark.parametrize('args, expected', [
    (('tcp', 1, True, None, None, None), (True, None)),
    (('tcp', 1, False, 'iperf3: boom', None, None), (False, 'iperf3: boom')),
    (('mptcp', 2, False, None, 2, False), (False, 'measurement failed')),
    (('mptcp', 2, True, None, 2, False), (True, None)),
    (('mptcp', 2, True, None, 3, False), (True, None)),
    (('mptcp', 2, True, None, 1, False), (False, 'invalid: 1 subflow(s) for 2 path(s)')),
    (('mptcp', 2, True, None, None, False), (False, 'invalid: no MPTCP subflows seen for the data streams')),
    (('mptcp', 1, True, None, 2, False, [], ['10.0.0.2']),
     (False, "invalid: subflows outside the test's paths, from 10.0.0.2")),
    (('mptcp', 2, True, None, 1, True, ['MPCapableFallbackSYNACK +2']),
     (False, 'invalid: MPTCP fell back to TCP (MPCapableFallbackSYNACK +2)')),
])
def test_gate(args, expected):
    assert pp.gate(*args) == expected


SNMP = """Ip: Forwarding DefaultTTL InReceives
Ip: 2 64 60116
IcmpMsg: InType3
IcmpMsg: 2
Tcp: RtoAlgorithm RtoMin ActiveOpens RetransSegs
Tcp: 1 200 942 15
"""


def test_nstat_names_every_group_like_nstat():
    c = pp.parse_nstat(SNMP)
    assert c == {'IpForwarding': 2, 'IpDefaultTTL': 64, 'IpInReceives': 60116, 'IcmpMsgInType3': 2,
                 'TcpRtoAlgorithm': 1, 'TcpRtoMin': 200, 'TcpActiveOpens': 942, 'TcpRetransSegs': 15}
    n = pp.parse_nstat(NETSTAT)
    assert n['MPTcpExtMPJoinSynAckRx'] == 3 and n['TcpExtSyncookiesSent'] == 0 and len(n) == 7
    # a header without its value line is skipped, the next group still pairs up
    assert pp.parse_nstat('Foo: A B\nTcp: X\nTcp: 4\n') == {'TcpX': 4}


def test_cpu_seconds_busy_is_user_system_softirq_irq():
    sec = pp.cpu_seconds(pp.parse_proc_stat(PROC_STAT), 100)
    # user 100 + nice 5, system 50, softirq 20, irq 1 jiffies; idle, iowait, steal are not work
    assert sec == pytest.approx({'user_s': 1.05, 'system_s': 0.5, 'softirq_s': 0.2, 'irq_s': 0.01,
                                 'busy_s': 1.76})


def test_ss_tcp_figures_of_subflows_and_plain_sockets():
    socks = pp.parse_ss_tcp(fixture('ss_tni_mptcp.txt'))
    assert len(socks) == 4 and all(s['token'] for s in socks)
    by_port = dict((s['local_port'], s) for s in socks)
    busy = by_port[36519]            # the joined subflow carrying data
    assert busy['cwnd'] == 26 and busy['rtt_ms'] == 4.322 and busy['retrans'] == 619
    assert busy['token'] == '13d47fb8' and busy['peer_port'] == 5201
    idle = by_port[34413]            # no retransmits: ss prints no retrans field
    assert idle['retrans'] == 0 and idle['cwnd'] == 11 and idle['rtt_ms'] == 0.015
    plain = pp.parse_ss_tcp('0 0 10.0.0.1:4000 10.0.0.2:5301\n\t cubic rtt:0.5/0.1 mss:1448 cwnd:10 '
                            'bbr:(bw:1bps,mrtt:0.004) retrans:1/7 minrtt:0.004\n')
    assert plain == [{'local': '10.0.0.1', 'local_port': 4000, 'peer': '10.0.0.2', 'peer_port': 5301,
                      'token': None, 'cwnd': 10, 'rtt_ms': 0.5, 'retrans': 7}]


def test_iperf3_window_from_counted_intervals():
    w = pp.iperf3_window(fixture('iperf3_mptcp_upload.json'))
    # one omitted interval of 1.000042 s, then counted intervals from 2.9e-05 to 3.000068
    assert w == {'omitted_s': 1.000042, 'measured_s': pytest.approx(3.000039), 'intervals': 3}
    assert pp.iperf3_window(fixture('iperf3_refused.json')) is None
    assert pp.iperf3_window(None) is None
    only_omitted = {'intervals': [{'sum': {'start': 0, 'end': 1, 'seconds': 1, 'omitted': True}}]}
    assert pp.iperf3_window(only_omitted) is None


def test_iperf3_bytes_received():
    report = fixture('iperf3_tcp_bidir.json')
    assert pp.summarize_iperf3(report, 'bidir')['bytes_received'] == 11725904 + 11284264
    assert pp.summarize_iperf3(report, 'upload')['bytes_received'] == 11725904
    assert pp.summarize_iperf3(None, 'upload')['bytes_received'] is None


# ---- one measurement's figures, derived from what perf_measure read (no process runs here)

def test_tool_outcome_names_what_went_wrong():
    report = fixture('iperf3_mptcp_upload.json')
    ok = pp.tool_outcome(report, 0, '', '', False, 40, 'upload')
    assert ok['ok'] and ok['error'] is None and ok['throughput_mbps'] > 0
    # a report but a non-zero exit: failed, with the tool's words
    bad_rc = pp.tool_outcome(report, 1, '', 'iperf3: interrupt - the client has terminated\n', False, 40, 'upload')
    assert not bad_rc['ok'] and bad_rc['error'] == 'iperf3 exited with code 1: iperf3: interrupt - the client has terminated'
    # no report: what it printed (stderr first, else stdout)
    crashed = pp.tool_outcome(None, 2, 'usage: iperf3 ...', '', False, 40, 'upload')
    assert not crashed['ok'] and crashed['error'] == 'iperf3 exited with code 2: usage: iperf3 ...'
    killed = pp.tool_outcome(None, -9, '', '', True, 40, 'upload')
    assert killed['error'] == 'iperf3 did not finish within 40s and was killed'


def test_path_figures_split_the_goodput_by_each_interfaces_bytes():
    before = pp.parse_net_dev(NET_DEV)
    after = pp.parse_net_dev(NET_DEV.replace('5000 50', '3005000 50').replace('7000 70', '1007000 70'))
    pbytes, per_path, wire = pp.path_figures(30.0, before, after, ['mlab-p1', 'mlab-p2'], 'upload', 2.0)
    assert pbytes == [3000000, 1000000]
    assert per_path == [22.5, 7.5] and wire == [12.0, 4.0]
    # an interface not seen has no figure; no throughput, no split
    pbytes, per_path, wire = pp.path_figures(None, before, after, ['mlab-p1', 'gone'], 'upload', 2.0)
    assert pbytes == [3000000, None] and per_path == [None, None] and wire == [12.0, None]


def test_mptcp_check_of_a_clean_run_a_fallback_and_tcp():
    report = fixture('iperf3_mptcp_upload.json')
    summary = pp.summarize_iperf3(report, 'upload')
    paths = {'10.200.0.2': 1, '10.200.2.2': 2}
    clean = pp.mptcp_check('mptcp', 2, summary, '10.200.0.2', 5201, paths, fixture('ss_tni_mptcp.txt'),
                           fixture('ss_mni_mptcp.txt'), {'MPCapableSYNTX': 2, 'MPCapableSYNACKRX': 2})
    assert clean['ok'] and clean['error'] is None
    assert (clean['subflows'], clean['fallback'], clean['fallback_reasons'], clean['foreign']) == (2, False, [], [])
    assert clean['streams'] == [{'port': 53175, 'subflows': 2, 'paths': [1, 2], 'foreign': []}]
    # the same connections on a test of three paths: too few subflows
    short = pp.mptcp_check('mptcp', 3, summary, '10.200.0.2', 5201, paths, fixture('ss_tni_mptcp.txt'),
                           fixture('ss_mni_mptcp.txt'), {})
    assert not short['ok'] and short['error'] == 'invalid: 2 subflow(s) for 3 path(s)'
    # a counter that only moves on a fallback
    fell = pp.mptcp_check('mptcp', 2, summary, '10.200.0.2', 5201, paths, fixture('ss_tni_mptcp.txt'), '',
                          {'MPCapableFallbackSYNACK': 1})
    assert not fell['ok'] and fell['fallback'] is True
    assert fell['error'] == 'invalid: MPTCP fell back to TCP (MPCapableFallbackSYNACK +1)'
    # TCP: only the tool's outcome; no connection to judge when the tool failed
    tcp = pp.mptcp_check('tcp', 1, summary, '10.200.0.2', 5201, paths, 'junk', 'junk', {'MPCapableFallbackSYNACK': 1})
    assert tcp['ok'] and tcp['fallback'] is None and tcp['streams'] == []
    failed = dict(summary, ok=False, error='iperf3: boom')
    assert pp.mptcp_check('mptcp', 2, failed, '10.200.0.2', 5201, paths, '', '', {})['fallback'] is None
    assert pp.mptcp_check('mptcp', 2, failed, '10.200.0.2', 5201, paths, '', '', {})['error'] == 'iperf3: boom'
