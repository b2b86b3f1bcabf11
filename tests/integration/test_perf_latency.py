"""mptcp.lab.perf_latency for real: sockperf request/response over TCP and MPTCP, idle and under load.

A throwaway two-path lab (generator, shaper, sink namespaces; each path its
own veth pairs and subnets, tbf 50 Mbit/s on the shaper's egress, policy
routing per path; the sink announces its path addresses) with the servers
the traffic sink runs: a sockperf server per path address (MPTCP under
mptcpize, and plain TCP), and iperf3 servers for the bulk load.
"""

import os

import pytest

from conftest import run_module
from latency_lab import BULK_MPTCP, BULK_TCP, LIMIT, RATE, RR_MPTCP, RR_TCP, LatencyLab

IDEAL = RATE * 1448.0 / 1514.0
# A full tbf queue in the shaper: what a round trip waits behind a cubic bulk flow.
QUEUE_US = LIMIT * 8.0 / (RATE * 1e6) * 1e6


@pytest.fixture(scope='module')
def lab():
    if os.geteuid() != 0:
        pytest.skip('needs root (network namespaces)')
    built = LatencyLab('mlt')
    try:
        yield built.build()
    finally:
        built.destroy()


def measure(lab, **kwargs):
    args = dict(server=lab.links[0]['peer_address'], bind=lab.links[0]['address'], port=RR_MPTCP,
                protocol='mptcp', duration=3, links=lab.links, load_port=BULK_MPTCP)
    args.update(kwargs)
    res = run_module(lab.gen, 'perf_latency', args)
    assert res['rc'] == 0, res           # the module itself never fails on a bad run
    assert res['changed'] is False
    return res


def tcp(lab, **kwargs):
    link = lab.links[1]
    args = dict(protocol='tcp', server=link['peer_address'], bind=link['address'], port=RR_TCP,
                links=[link], load_port=BULK_TCP)
    args.update(kwargs)
    return measure(lab, **args)


def assert_sane(res):
    m = res['metrics']
    assert set(m) == {'rr_tps', 'latency_p50_us', 'latency_p90_us', 'latency_p99_us'}
    assert m['rr_tps'] > 0
    assert 0 < m['latency_p50_us'] <= m['latency_p90_us'] <= m['latency_p99_us']
    assert res['rr']['min_us'] <= m['latency_p50_us'] and m['latency_p99_us'] <= res['rr']['max_us']
    # transactions/s and the round trips agree: one message in flight at a time
    assert m['rr_tps'] == pytest.approx(res['rr']['valid_received'] / res['duration_s'], rel=0.01)
    assert m['rr_tps'] <= 1e6 / res['rr']['min_us'] * 1.01
    # --time 3 minus sockperf's 0.45 s (its window ends at the last reply: shorter when round trips are slow)
    assert 1.5 < res['duration_s'] <= 2.6
    assert res['throughput_mbps'] is None and res['per_path_mbps'] == [None] * len(res['per_path_bytes'])
    assert res['rr']['dropped'] == 0 and res['rr']['msg_size'] == 64
    assert res['elapsed_s'] >= 5.0                  # 3 s, plus sockperf's own 2 s pause


def test_mptcp_idle(lab):
    res = measure(lab)
    assert res['ok'], res['error']
    assert_sane(res)
    assert res['fallback'] is False and res['fallback_reasons'] == []
    assert res['subflows'] == 2
    assert [(s['role'], s['subflows'], s['paths']) for s in res['streams']] == [('rr', 2, [1, 2])]
    assert res['launcher'] == 'mptcpize' and res['argv'][1] == 'run'
    assert res['argv'][2].endswith('/sockperf') and res['argv'][3:5] == ['ping-pong', '--tcp']
    assert res['argv'][res['argv'].index('--client_ip') + 1] == lab.links[0]['address']
    assert res['load'] is None
    raw = res['raw']
    assert 'Valid Duration' in raw['sockperf'] and raw['iperf3'] is None
    # the connection really is MPTCP: the kernel's counters and ss say so
    assert raw['mptcp_counters'].get('MPCapableSYNACKRX', 0) >= 1
    assert raw['mptcp_counters'].get('MPJoinSynAckRx', 0) >= 1
    assert 'tcp-ulp-mptcp' in raw['ss_subflows'] and ':%d' % RR_MPTCP in raw['ss_mptcp']


def test_tcp_idle(lab):
    res = tcp(lab)
    assert res['ok'], res['error']
    assert_sane(res)
    assert res['subflows'] is None and res['fallback'] is None and res['streams'] == []
    assert res['launcher'] is None and 'mptcpize' not in res['argv']
    assert 'tcp-ulp-mptcp' not in (res['raw']['ss_subflows'] or '')
    assert res['per_path_bytes'][0] > 0


def test_mptcp_under_load(lab):
    idle = measure(lab)
    res = measure(lab, load='bulk', congestion='cubic')
    assert res['ok'], res['error']
    assert_sane(res)
    load = res['load']
    assert load['ok'] and load['covers'] is True and load['protocol'] == 'mptcp'
    assert 0 < load['start_s'] < 2
    # the bulk flow fills both paths meanwhile (what is left after the round trips)
    assert load['throughput_mbps'] > 0.7 * 2 * IDEAL
    assert len(load['per_path_mbps']) == 2 and all(v > 0.2 * load['throughput_mbps'] for v in load['per_path_mbps'])
    assert [(s['role'], s['subflows']) for s in res['streams']] == [('rr', 2), ('load', 2)]
    assert res['subflows'] == 2 and res['fallback'] is False
    assert res['raw']['iperf3']['end']['sum_received']['bits_per_second'] > 0
    # cubic fills the shaper's queue: a request waits behind it (the replies' direction is idle)
    assert 0.3 * QUEUE_US < res['metrics']['latency_p50_us'] < 3 * QUEUE_US, (res['metrics'], res['load'])
    assert res['metrics']['latency_p50_us'] > 10 * idle['metrics']['latency_p50_us']
    assert res['metrics']['rr_tps'] < idle['metrics']['rr_tps'] / 10


def test_tcp_under_load(lab):
    idle = tcp(lab)
    res = tcp(lab, load='bulk', congestion='cubic')
    assert res['ok'], res['error']
    assert_sane(res)
    load = res['load']
    assert load['ok'] and load['covers'] is True and load['protocol'] == 'tcp'
    assert load['congestion'] == 'cubic'
    assert load['throughput_mbps'] == pytest.approx(IDEAL, rel=0.15)
    assert 0.3 * QUEUE_US < res['metrics']['latency_p50_us'] < 3 * QUEUE_US, (res['metrics'], res['load'])
    assert res['metrics']['latency_p50_us'] > 10 * idle['metrics']['latency_p50_us']


def test_mptcp_against_a_tcp_server_is_invalid(lab):
    # mptcpized client, plain TCP sockperf server: the handshake falls back
    res = measure(lab, port=RR_TCP)
    assert not res['ok'] and res['fallback'] is True
    assert res['error'].startswith('invalid: MPTCP fell back to TCP')
    assert res['metrics']['rr_tps'] > 0              # the figures are kept, the run marked invalid


def test_fewer_subflows_than_paths_is_invalid(lab):
    lab.sink.run('ip', 'mptcp', 'endpoint', 'flush')
    try:
        res = measure(lab)
    finally:
        for i, link in enumerate(lab.links, 1):
            lab.sink.run('ip', 'mptcp', 'endpoint', 'add', link['peer_address'], 'dev', 's%d' % i, 'signal')
    assert not res['ok'] and res['fallback'] is False and res['subflows'] == 1
    assert res['error'] == 'invalid: 1 subflow(s) for 2 path(s)'


def test_tool_failure_is_kept_with_its_error(lab):
    res = measure(lab, port=11999, duration=1)
    assert not res['ok']
    assert res['error'] == 'sockperf: ERROR: Can`t connect socket (errno=111 Connection refused)'
    assert res['metrics'] == {'rr_tps': None, 'latency_p50_us': None, 'latency_p90_us': None,
                              'latency_p99_us': None}
    assert res['fallback'] is None


def test_a_failed_load_makes_the_run_invalid(lab):
    res = measure(lab, load='bulk', load_port=5999)
    assert not res['ok']
    assert res['error'] == 'load: iperf3: unable to connect to server: Connection refused'
    assert res['load']['ok'] is False and res['load']['covers'] is None and res['load']['start_s'] is None
    # no round trip is measured without the load that was asked for
    assert res['metrics'] == dict.fromkeys(res['metrics']) and res['argv'] is None
    assert res['elapsed_s'] < 3


def test_capture_around_the_run(lab, tmp_path):
    from ansible_collections.mptcp.lab.plugins.module_utils.process import packet_capture as pc
    res = measure(lab, duration=1, capture_dir=str(tmp_path), capture_name='001-rr-rep1')
    assert res['ok'], res['error']
    assert res['capture']['error'] is None and [f['dev'] for f in res['capture']['files']] == ['g1', 'g2']
    first = pc.mptcp_options(str(tmp_path / '001-rr-rep1.generator.g1.pcap'))
    second = pc.mptcp_options(str(tmp_path / '001-rr-rep1.generator.g2.pcap'))
    # sockperf's connection: MP_CAPABLE on path 1, MP_JOIN on path 2, data both ways
    assert first['syn_mp_capable'] >= 1 and second['syn_mp_join'] >= 1
    assert any(RR_MPTCP in pair for pair in first['ports']) and first['options'].get('DSS', 0) > 100
    assert all(f['bytes'] > 0 and f['dropped'] == 0 for f in res['capture']['files'])


def test_check_mode_measures_nothing(lab):
    res = run_module(lab.gen, 'perf_latency', dict(server='10.78.3.2', links=lab.links), check_mode=True)
    assert res['rc'] == 0 and res['skipped'] and not res['ok']
    assert res['metrics']['rr_tps'] is None and res['throughput_mbps'] is None


@pytest.mark.parametrize('args, message', [
    (dict(protocol='tcp'), 'links: protocol tcp uses exactly one path, got 2 links'),
    (dict(msg_size=10), 'msg_size: must be 14..65000 bytes, got 10'),
    (dict(duration=0), 'duration: must be >= 1, got 0'),
    (dict(load='bulk', load_port=11111), 'load_port: must differ from port (11111): the bulk flow needs its own server'),
    (dict(load='heavy'), 'value of load must be one of: none, bulk, got: heavy'),
    (dict(capture_dir='/tmp/x', capture_name='a/b'), 'capture_name: required with capture_dir'),
])
def test_bad_input_fails_early(lab, args, message):
    res = run_module(lab.gen, 'perf_latency', dict(dict(server='10.78.3.2', links=lab.links), **args))
    assert res['rc'] != 0 and message in res['msg']
