#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: perf_latency
short_description: Run one TCP or MPTCP request/response (latency) measurement and check it
version_added: 0.2.0
description:
  - Runs one C(sockperf ping-pong --tcp --full-rtt) client from the host it runs on (the traffic
    generator) against a sockperf server (the traffic sink), and returns transactions per second and
    the round-trip latency percentiles (p50, p90, p99). One task is one measurement.
  - One message of O(msg_size) bytes is in flight at a time; every round trip is one transaction.
    sockperf is a C program; nothing in the measured path is Python.
  - For MPTCP the client runs under C(mptcpize run) (sockperf has no MPTCP option), and the
    measurement checks that its connection really is MPTCP, with a subflow on every path of
    O(links) and no fallback, with the same C(ss) parsers and validity gate as
    M(mptcp.lab.perf_measure).
  - With O(load=bulk), an iperf3 bulk flow of the same protocol on the same paths starts first, and the
    request/response client once the bulk data flows (64 KiB on the paths, checked every 10 ms; not at
    all when the bulk client exits first); the bulk flow's throughput is returned in RV(load).
    sockperf pauses 2 s after connecting and drops its first 400 ms (fixed in sockperf), so the bulk
    flow has 2.4 s to ramp up before the counted round trips begin; iperf3 omits its first 2 s and ends
    2 s after sockperf's window would. The run is invalid when the bulk flow did not cover the window.
  - Around the run it samples the generator's C(/proc/stat), interface counters and MPTcpExt counters;
    half-way through the window it lists the connections with C(ss -tni) and C(ss -Mni).
  - The module fails only on bad input; a failed or invalid run is returned with RV(ok=false) and
    RV(error), so a suite goes on.
options:
  server:
    description: Address of the sockperf server (the sink's address on the first path used).
    type: str
    required: true
  port:
    description: TCP port of the sockperf server (MPTCP-accepting for O(protocol=mptcp)).
    type: int
    default: 11111
  bind:
    description:
      - Local address the client binds (the generator's address on the first path used), so the
        first subflow, or the TCP connection, takes that path. Also the bulk flow's.
    type: str
  protocol:
    description: V(mptcp) opens MPTCP connections (through C(mptcpize run)), V(tcp) plain TCP ones.
    type: str
    choices: [tcp, mptcp]
    default: mptcp
  duration:
    description: Seconds sockperf runs (C(--time)); its valid window is 0.45 s shorter.
    type: int
    default: 10
  msg_size:
    description: Bytes of each request and each reply (C(--msg-size)), 14 to 65000.
    type: int
    default: 64
  links:
    description:
      - The generator's links of the paths the test uses, in path order (items of
        C(lab_path_links)); C(address) maps subflows to paths, C(dev) gives the byte counters.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: Path number (1-based).
        type: int
        required: true
      dev:
        description: Interface of the generator on that path.
        type: str
        required: true
      address:
        description: Address of the generator on that path.
        type: str
        required: true
      prefix:
        description: Prefix length of O(links[].address) (accepted, unused).
        type: int
      peer_address:
        description: The sink's address on that path (accepted, unused; O(server) decides).
        type: str
      gateway:
        description: Next hop on that path (accepted, unused).
        type: str
      table:
        description: Policy routing table of that path (accepted, unused).
        type: int
  load:
    description: V(none) measures on idle paths; V(bulk) runs an iperf3 bulk flow on the same paths meanwhile.
    type: str
    choices: [none, bulk]
    default: none
  load_port:
    description: Port of the iperf3 server of the bulk flow (MPTCP-accepting for O(protocol=mptcp)).
    type: int
    default: 5201
  load_direction:
    description: Direction of the bulk flow; V(upload) sends from generator to sink.
    type: str
    choices: [upload, download, bidir]
    default: upload
  load_streams:
    description: Parallel streams of the bulk flow (C(iperf3 -P)).
    type: int
    default: 1
  congestion:
    description:
      - Congestion control of the bulk flow (C(iperf3 --congestion)); the host's default when omitted.
        The request/response connection always uses the host's default (one small message in
        flight never depends on it).
    type: str
  mptcp_launcher:
    description:
      - How the bulk flow's iperf3 opens MPTCP sockets, as in M(mptcp.lab.perf_measure). sockperf
        always runs under C(mptcpize run).
    type: str
    choices: [auto, native, mptcpize]
    default: auto
  timeout:
    description: Seconds allowed beyond the planned run before a client is killed.
    type: int
    default: 30
  cpus:
    description: CPU list (C(3), C(2-3)) both clients are pinned to, through C(taskset); unpinned when omitted.
    type: str
  capture_dir:
    description:
      - When set, a header-only capture (C(tcpdump -s 150), TCP only) runs on the interface of every path in
        O(links) around the run, into C(<capture_dir>/<capture_name>.generator.<dev>.pcap), as with
        M(mptcp.lab.perf_measure). RV(capture) reports it.
    type: path
  capture_name:
    description: The capture files' name stem (the measurement's raw name); required with O(capture_dir).
    type: str
notes:
  - Nothing changes on the host; the module always reports C(changed=false). In check mode it does
    not measure and returns RV(ok=false) with C(skipped=true).
  - Each run costs about 2.2 s more than O(duration) (sockperf's fixed pause and cleanup).
requirements:
  - sockperf (Debian package C(sockperf)), mptcpize for MPTCP, iperf3 for O(load=bulk)
author:
  - mptcp.lab developers (@multipath-tcp)
extends_documentation_fragment:
  - mptcp.lab.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
seealso:
  - module: mptcp.lab.perf_measure
'''

EXAMPLES = r'''
- name: MPTCP request/response over both paths, idle, 10 s
  mptcp.lab.perf_latency:
    server: "{{ lab_path_links[0].peer_address }}"
    bind: "{{ lab_path_links[0].address }}"
    protocol: mptcp
    links: "{{ lab_path_links }}"
  register: rr

- name: TCP request/response on path 1 under a bulk TCP upload on the same path
  mptcp.lab.perf_latency:
    server: "{{ lab_path_links[0].peer_address }}"
    bind: "{{ lab_path_links[0].address }}"
    port: 11211
    protocol: tcp
    load: bulk
    load_port: 5301
    links: "{{ [lab_path_links[0]] }}"
'''

RETURN = r'''
ok:
  description: Whether the run is valid (sockperf succeeded; for MPTCP no fallback and a subflow per path; the load covered it).
  returned: always
  type: bool
  sample: true
error:
  description: Why the run is not valid, or null.
  returned: always
  type: str
  sample: "invalid: 1 subflow(s) for 2 path(s)"
metrics:
  description:
    - The run's figures by metric name (null when not measured) - C(rr_tps) (round trips per second
      over sockperf's valid window), C(latency_p50_us), C(latency_p90_us), C(latency_p99_us) (round-trip
      time percentiles, microseconds).
  returned: always
  type: dict
  sample: {rr_tps: 24000.5, latency_p50_us: 38.2, latency_p90_us: 45.0, latency_p99_us: 80.1}
throughput_mbps:
  description: Always null; a request/response test has no bulk throughput (the load's is in RV(load)).
  returned: always
  type: float
per_path_mbps:
  description: One null per path used (no bulk throughput of the test itself).
  returned: always
  type: list
  elements: float
per_path_bytes:
  description: Bytes each path's interface carried in both directions during the run (headers included).
  returned: always
  type: list
  elements: int
subflows:
  description:
    - For MPTCP, the fewest subflows of the request/response connection and the bulk flow's
      connections (null if not seen); null for TCP.
  returned: always
  type: int
  sample: 2
streams:
  description:
    - Per MPTCP connection (the request/response one first, with C(role=rr), then the bulk flow's with
      C(role=load)), its local port, subflow count, paths and C(foreign) local addresses.
  returned: always
  type: list
  elements: dict
fallback:
  description: For MPTCP, whether any sign of a fallback to TCP was seen; null for TCP.
  returned: always
  type: bool
fallback_reasons:
  description: The evidence behind RV(fallback).
  returned: always
  type: list
  elements: str
duration_s:
  description: Seconds of sockperf's valid window (the counted round trips).
  returned: always
  type: float
elapsed_s:
  description: Seconds between the samples before and after the run.
  returned: always
  type: float
rr:
  description:
    - sockperf's figures - C(version), C(valid_s), C(valid_sent), C(valid_received), C(observations),
      C(avg_us), C(std_us), C(min_us), C(max_us), C(percentiles) (all sockperf printed, round trips in
      microseconds), C(dropped), C(duplicated), C(out_of_order), C(msg_size).
  returned: always
  type: dict
load:
  description:
    - With O(load=bulk), the bulk flow - C(ok), C(error), C(protocol), C(direction), C(streams),
      C(throughput_mbps) (receiver's goodput over iperf3's counted window), C(per_path_mbps),
      C(retransmits), C(congestion), C(duration_s), C(argv), C(launcher), C(covers) (whether it ran over
      the whole request/response window), C(start_s) (seconds from its start to its data flowing). Null
      without load.
  returned: always
  type: dict
cpu:
  description: System-wide CPU use of the generator during the run (as M(mptcp.lab.perf_measure)); C(sink) is null.
  returned: always
  type: dict
started:
  description: UTC start time (ISO 8601).
  returned: always
  type: str
argv:
  description: The sockperf command line that ran (null when it did not run).
  returned: always
  type: list
  elements: str
launcher:
  description: V(mptcpize) for MPTCP (sockperf has no MPTCP option), null for TCP.
  returned: always
  type: str
capture:
  description:
    - With O(capture_dir), C(error) and C(files) (per interface C(dev), C(file), C(path), C(bytes), tcpdump's
      counters and C(cpu_s)), as M(mptcp.lab.perf_measure) returns them. Null without O(capture_dir).
  returned: always
  type: dict
raw:
  description:
    - Raw tool output, for the results directory - C(sockperf) (its output), C(iperf3) (the bulk
      flow's JSON report, or null), C(iperf3_stderr), C(mptcp_counters) (MPTcpExt deltas),
      C(ss_subflows) (C(ss -tni)), C(ss_mptcp) (C(ss -Mni)).
  returned: always
  type: dict
'''

import json
import os
import threading
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mptcp.lab.plugins.module_utils.process import packet_capture as pc
from ansible_collections.mptcp.lab.plugins.module_utils.perf import perf_latency as pl
from ansible_collections.mptcp.lab.plugins.module_utils.perf import perf_parse as pp

# The bulk flow omits its first seconds (slow start) and outlasts the
# request/response window by two: see the module description. The
# request/response client starts once LOAD_START_BYTES of the bulk flow went
# over its paths (checked every LOAD_POLL_S), or not at all when the bulk
# client exits first.
LOAD_OMIT_S = 2
LOAD_EXTRA_S = 2
LOAD_START_BYTES = 64 * 1024
LOAD_START_TIMEOUT_S = 10
LOAD_POLL_S = 0.01


def read_file(path):
    with open(path) as f:
        return f.read()


def local_sample():
    return {
        'time': time.monotonic(),
        'cpu': pp.parse_proc_stat(read_file('/proc/stat')),
        'net_dev': pp.parse_net_dev(read_file('/proc/net/dev')),
        'mptcp': pp.parse_netstat(read_file('/proc/net/netstat')),
    }


class Client(object):
    """A client run to its end in a thread of its own; records when it started and exited."""

    def __init__(self, module, argv):
        self.argv = argv
        self.out = self.err = ''
        self.rc = None
        self.started = self.ended = None
        self.launched = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(module,))
        self.thread.daemon = True
        self.thread.start()

    def _run(self, module):
        self.started = time.monotonic()
        self.launched.set()
        try:
            self.rc, self.out, self.err = module.run_command(self.argv, environ_update={'LC_ALL': 'C'})
        except Exception as e:  # pylint: disable=broad-except
            # kept as the run's error: the other client and the suite go on
            self.rc, self.err = -1, 'could not run %s: %s' % (self.argv[0], e)
        self.ended = time.monotonic()

    def join(self):
        self.thread.join()
        return self


def pinned(module, p, argv):
    if p['cpus']:
        return [module.get_bin_path('taskset', required=True), '--cpu-list', p['cpus']] + argv
    return argv


def limited(module, seconds, argv):
    return [module.get_bin_path('timeout', required=True), '--kill-after=5', str(seconds)] + argv


def sockperf_argv(module, p):
    argv = [module.get_bin_path('sockperf', required=True), 'ping-pong', '--tcp',
            '--ip', p['server'], '--port', str(p['port']), '--time', str(p['duration']),
            '--msg-size', str(p['msg_size']), '--full-rtt']
    if p['bind']:
        argv += ['--client_ip', p['bind']]
    if p['protocol'] == 'mptcp':
        argv = [module.get_bin_path('mptcpize', required=True), 'run'] + argv
    return pinned(module, p, argv)


def choose_launcher(module, wanted):
    if wanted != 'auto':
        return wanted
    rc, out, err = module.run_command([module.get_bin_path('iperf3', required=True), '--help'])
    return 'native' if '--mptcp' in (out + err) else 'mptcpize'


def iperf3_argv(module, p, launcher):
    argv = [module.get_bin_path('iperf3', required=True), '--client', p['server'], '--port', str(p['load_port']),
            '--json', '--time', str(p['duration'] + LOAD_EXTRA_S), '--omit', str(LOAD_OMIT_S),
            '--parallel', str(p['load_streams']), '--connect-timeout', '5000']
    if p['bind']:
        argv += ['--bind', p['bind']]
    if p['congestion']:
        argv += ['--congestion', p['congestion']]
    if p['load_direction'] == 'download':
        argv.append('--reverse')
    elif p['load_direction'] == 'bidir':
        argv.append('--bidir')
    if p['protocol'] == 'mptcp':
        if launcher == 'native':
            argv.append('--mptcp')
        else:
            argv = [module.get_bin_path('mptcpize', required=True), 'run'] + argv
    return pinned(module, p, argv)


def validate(module, p):
    for key, low in (('duration', 1), ('timeout', 1), ('load_streams', 1)):
        if p[key] < low:
            module.fail_json(msg='%s: must be >= %d, got %d' % (key, low, p[key]))
    if not pl.MIN_MSG_SIZE <= p['msg_size'] <= pl.MAX_MSG_SIZE:
        module.fail_json(msg='msg_size: must be %d..%d bytes, got %d'
                         % (pl.MIN_MSG_SIZE, pl.MAX_MSG_SIZE, p['msg_size']))
    for key in ('port', 'load_port'):
        if not 0 < p[key] < 65536:
            module.fail_json(msg='%s: must be 1..65535, got %d' % (key, p[key]))
    if p['load'] == 'bulk' and p['load_port'] == p['port']:
        module.fail_json(msg='load_port: must differ from port (%d): the bulk flow needs its own server'
                         % p['port'])
    if not p['links']:
        module.fail_json(msg='links: must list the generator links of at least one path')
    if p['capture_dir'] and not (p['capture_name'] and pc.SAFE_RE.sub('', p['capture_name']) == p['capture_name']):
        module.fail_json(msg='capture_name: required with capture_dir, letters, digits, ".", "_" or "-", got %r'
                         % p['capture_name'])
    if p['protocol'] == 'tcp' and len(p['links']) != 1:
        module.fail_json(msg='links: protocol tcp uses exactly one path, got %d links' % len(p['links']))


def wait_for_load(client, base, devs, direction):
    """When the bulk flow's data began to flow on its paths (monotonic), or None.

    None when its client exited first, or when nothing flowed within
    LOAD_START_TIMEOUT_S. ``base`` is /proc/net/dev (parsed) before the start.
    """
    limit = time.monotonic() + LOAD_START_TIMEOUT_S
    while time.monotonic() < limit:
        now = pp.parse_net_dev(read_file('/proc/net/dev'))
        if sum(b or 0 for b in pp.path_bytes(base, now, devs, direction)) >= LOAD_START_BYTES:
            return time.monotonic()
        client.thread.join(LOAD_POLL_S)       # returns at once when the client exits
        if not client.thread.is_alive():
            return None
    return None


def summarize_load(p, client, launcher, pbytes):
    """The bulk flow's figures and its streams' ports."""
    try:
        report = json.loads(client.out) if client.out.strip() else None
    except ValueError:
        report = None
    summary = pp.summarize_iperf3(report, p['load_direction'])
    limit = p['duration'] + LOAD_EXTRA_S + LOAD_OMIT_S + p['timeout'] + pl.PAUSE_S
    if not summary['ok'] and client.rc == 124:
        summary['error'] = 'iperf3 did not finish within %ds and was killed' % limit
    elif not summary['ok'] and report is None:
        summary['error'] = 'iperf3 exited with code %d: %s' % (client.rc, (client.err or client.out).strip()[-500:])
    elif summary['ok'] and client.rc != 0:
        summary.update(ok=False, error='iperf3 exited with code %d: %s' % (client.rc, client.err.strip()[-500:]))
    tput = summary['throughput_mbps']
    known = [b for b in pbytes if b is not None]
    per_path = [round(tput * b / sum(known), 3) if (tput is not None and sum(known) and b is not None) else None
                for b in pbytes]
    load = {
        'ok': summary['ok'], 'error': summary['error'], 'protocol': p['protocol'],
        'direction': p['load_direction'], 'streams': p['load_streams'],
        'throughput_mbps': tput, 'per_path_mbps': per_path, 'retransmits': summary['retransmits'],
        'congestion': summary['congestion'], 'duration_s': summary['seconds'], 'argv': client.argv,
        'launcher': launcher, 'covers': None, 'start_s': None,
    }
    return load, report, summary['stream_ports']


def measure(module, p):
    """Run one request/response measurement; returns the result dict (never fails on tool errors)."""
    links = p['links']
    devs = [link['dev'] for link in links]
    path_of = dict((link['address'], link['path']) for link in links)
    ss_bin = module.get_bin_path('ss', required=True)
    rr_argv = sockperf_argv(module, p)
    rr_limit = int(p['duration'] + pl.PAUSE_S + 1 + p['timeout'])
    launcher = load_argv = None
    if p['load'] == 'bulk':
        launcher = choose_launcher(module, p['mptcp_launcher']) if p['protocol'] == 'mptcp' else None
        load_argv = iperf3_argv(module, p, launcher)
        load_limit = int(p['duration'] + LOAD_EXTRA_S + LOAD_OMIT_S + pl.PAUSE_S + p['timeout'])
    ports = [p['port']] + ([p['load_port']] if load_argv else [])
    port_filter = ['(']
    for port in ports:
        port_filter += (['or'] if len(port_filter) > 1 else []) + ['dport', '=', ':%d' % port]
    port_filter.append(')')

    snap = {}
    done = threading.Event()

    def snapshot(start):
        # half-way through sockperf's valid window, list the connections
        if done.wait(max(0.0, start + pl.PAUSE_S + pl.HEAD_S + p['duration'] / 2.0 - time.monotonic())):
            return
        rc1, out1, err1 = module.run_command([ss_bin, '-Htni', 'state', 'established'] + port_filter,
                                             environ_update={'LC_ALL': 'C'})
        rc2, out2, err2 = module.run_command([ss_bin, '-HMni'], environ_update={'LC_ALL': 'C'})
        snap.update(subflows=out1 if rc1 == 0 else err1, mptcp=out2 if rc2 == 0 else err2)

    captures = capture = None
    if p['capture_dir']:
        # a capture that cannot run is reported with the run; the measurement goes on
        tcpdump = module.get_bin_path('tcpdump', opt_dirs=['/usr/sbin', '/sbin'])
        capture = {'error': None if tcpdump else 'tcpdump is not installed', 'files': []}
        if tcpdump:
            if not os.path.isdir(p['capture_dir']):
                os.makedirs(p['capture_dir'], 0o755)
            captures = pc.Captures(tcpdump, devs, p['capture_dir'], p['capture_name'], 'generator')
            capture['error'] = captures.start()
    before = local_sample()
    started = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())
    # the bulk flow first, then the request/response client once the bulk data flows
    load_client = Client(module, limited(module, load_limit, load_argv)) if load_argv else None
    load_flowing = rr_client = None
    if load_client is not None:
        load_client.launched.wait(5)
        load_flowing = wait_for_load(load_client, before['net_dev'], devs, p['load_direction'])
    if load_client is None or load_flowing is not None or load_client.thread.is_alive():
        rr_client = Client(module, limited(module, rr_limit, rr_argv))
        watcher = threading.Thread(target=snapshot, args=(time.monotonic(),))
        watcher.daemon = True
        watcher.start()
        rr_client.join()
    if load_client is not None:
        load_client.join()
    done.set()
    after = local_sample()
    if rr_client is not None:
        watcher.join(10)
    if captures is not None:
        capture['files'] = captures.stop()

    parsed = pl.parse_sockperf(rr_client.out + '\n' + rr_client.err if rr_client else '')
    if rr_client is None:
        parsed['error'] = 'sockperf did not run: the bulk load ended before its data flowed'
    elif not parsed['ok'] and rr_client.rc == 124:
        parsed['error'] = 'sockperf did not finish within %ds and was killed' % rr_limit
    elif not parsed['ok'] and rr_client.rc not in (0, None) and not parsed['error']:
        parsed['error'] = 'sockperf exited with code %d' % rr_client.rc
    tool_ok, tool_error = parsed['ok'], parsed['error']

    elapsed = after['time'] - before['time']
    pbytes = pp.path_bytes(before['net_dev'], after['net_dev'], devs, 'bidir')
    delta = pp.counter_delta(before['mptcp'], after['mptcp'])
    load = report = None
    load_ports = []
    if load_client is not None:
        load, report, load_ports = summarize_load(
            p, load_client, launcher, pp.path_bytes(before['net_dev'], after['net_dev'], devs, p['load_direction']))
        if load_flowing is not None:
            load['start_s'] = round(load_flowing - load_client.started, 3)
        if rr_client is not None and load_flowing is not None:
            covers, why = pl.load_covers(pl.rr_window(rr_client.started, rr_client.ended),
                                         (load_flowing, load_client.ended))
        else:
            covers, why = False, 'invalid: the bulk load sent no data within %ds' % LOAD_START_TIMEOUT_S
        load['covers'] = covers if load['ok'] else None
        if (tool_ok or rr_client is None) and not load['ok']:
            tool_ok, tool_error = False, 'load: %s' % (load['error'] or 'the bulk flow failed')
        elif tool_ok and not covers:
            tool_ok, tool_error = False, why

    subflows = fallback = None
    reasons, streams = [], []
    sf_list = pp.parse_ss_subflows(snap.get('subflows') or '')
    msk_list = [m for m in pp.parse_ss_mptcp(snap.get('mptcp') or '') if m['peer_port'] in ports]
    if p['protocol'] == 'mptcp':
        rr_port = pl.rr_connection_port(sf_list, p['bind'], p['server'], p['port'])
        streams = [dict(s, role='rr') for s in pp.stream_subflows([rr_port], p['bind'], sf_list, path_of)]
        streams += [dict(s, role='load') for s in pp.stream_subflows(load_ports, p['bind'], sf_list, path_of)]
        counts = [s['subflows'] for s in streams]
        subflows = min(counts) if counts and None not in counts else None
        reasons = pp.fallback_reasons(delta, msk_list, [rr_port] + load_ports if rr_port else None)
        fallback = bool(reasons) if parsed['ok'] else None
    foreign = sorted(set(a for s in streams for a in s.get('foreign') or []))
    ok, error = pp.gate(p['protocol'], len(links), tool_ok, tool_error, subflows, fallback, reasons, foreign)

    rr = dict((k, parsed[k]) for k in ('version', 'valid_s', 'valid_sent', 'valid_received', 'observations',
                                       'avg_us', 'std_us', 'min_us', 'max_us', 'percentiles', 'dropped',
                                       'duplicated', 'out_of_order'))
    rr['msg_size'] = p['msg_size']
    return {
        'changed': False,
        'ok': ok,
        'error': error,
        'metrics': pl.rr_metrics(parsed),
        'throughput_mbps': None,
        'per_path_mbps': [None] * len(links),
        'per_path_bytes': pbytes,
        'subflows': subflows,
        'streams': streams,
        'fallback': fallback,
        'fallback_reasons': reasons,
        'duration_s': parsed['valid_s'],
        'elapsed_s': round(elapsed, 3),
        'rr': rr,
        'load': load,
        'cpu': {'generator': pp.cpu_usage(before['cpu'], after['cpu']), 'sink': None},
        'started': started,
        'argv': rr_argv if rr_client is not None else None,
        'launcher': 'mptcpize' if p['protocol'] == 'mptcp' else None,
        'capture': capture,
        'raw': {
            'sockperf': (rr_client.out + rr_client.err)[-20000:] if rr_client is not None else None,
            'iperf3': report,
            'iperf3_stderr': load_client.err[-4000:] if load_client is not None else None,
            'mptcp_counters': delta,
            'ss_subflows': snap.get('subflows'),
            'ss_mptcp': snap.get('mptcp'),
        },
    }


def main():
    module = AnsibleModule(
        argument_spec=dict(
            server=dict(type='str', required=True),
            port=dict(type='int', default=11111),
            bind=dict(type='str'),
            protocol=dict(type='str', default='mptcp', choices=['tcp', 'mptcp']),
            duration=dict(type='int', default=10),
            msg_size=dict(type='int', default=64),
            links=dict(type='list', elements='dict', required=True, options=dict(
                path=dict(type='int', required=True),
                dev=dict(type='str', required=True),
                address=dict(type='str', required=True),
                prefix=dict(type='int'),
                peer_address=dict(type='str'),
                gateway=dict(type='str'),
                table=dict(type='int'),
            )),
            load=dict(type='str', default='none', choices=['none', 'bulk']),
            load_port=dict(type='int', default=5201),
            load_direction=dict(type='str', default='upload', choices=['upload', 'download', 'bidir']),
            load_streams=dict(type='int', default=1),
            congestion=dict(type='str'),
            mptcp_launcher=dict(type='str', default='auto', choices=['auto', 'native', 'mptcpize']),
            timeout=dict(type='int', default=30),
            cpus=dict(type='str'),
            capture_dir=dict(type='path'),
            capture_name=dict(type='str'),
        ),
        supports_check_mode=True,
    )
    p = module.params
    validate(module, p)
    if module.check_mode:
        module.exit_json(changed=False, ok=False, skipped=True, error='check mode: not measured',
                         metrics=pl.rr_metrics(None), throughput_mbps=None, per_path_mbps=[], subflows=None,
                         fallback=None)
    if not os.path.exists('/proc/net/netstat'):
        module.fail_json(msg='/proc/net/netstat is missing: a Linux host is required')
    module.exit_json(**measure(module, p))


if __name__ == '__main__':
    main()
