#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: perf_measure
short_description: Run one TCP or MPTCP throughput measurement and check it
version_added: 0.1.0
description:
  - Runs one C(iperf3 -J) client measurement from the host it runs on (the
    traffic generator) against an iperf3 server (the traffic sink), and returns
    parsed, checked results. One task is one measurement.
  - Before and after the run it reads, on the generator, every C(nstat) counter
    (C(/proc/net/snmp), C(/proc/net/netstat) - Tcp, TcpExt, MPTcpExt, IpExt...; per
    network namespace), the interface counters (C(/proc/net/dev)) and the
    system-wide CPU time (C(/proc/stat)).
  - While iperf3 runs, a sampler thread (every 0.2 s, on a fixed schedule, no busy
    loop) reads the C(cpu) line of C(/proc/stat), the path interfaces' byte
    counters, Tcp RetransSegs and the iperf3 client's CPU; once a second it lists
    the test's TCP sockets with C(ss -tni) (cwnd, RTT, retransmits per subflow) and
    asks the sink for its CPU; half-way through it also keeps C(ss -Mni). Its own
    CPU cost is measured and returned (C(cpu_cost.sampler)).
  - With O(stats_address), the sink's counters come from the small stats responder
    the C(mptcp.lab.traffic_sink) role runs (a full sample before and after, a
    light one once a second), so both ends are known without another task.
  - B(CPU cost) is taken over exactly the measured window - iperf3's counted
    intervals, omitted seconds and setup excluded - which starts the omitted
    seconds after the data did (the sampler watches the paths' byte counters every
    5 ms until then), or else ends when iperf3 exits; every counter is
    interpolated at the window's bounds. Per host it gives user,
    system, softirq and irq seconds, the lab's processes' share (the iperf3 client;
    the sink's iperf3 servers), and C(other_s), busy time nothing of the lab
    explains, so a noisy machine shows. Two ends on one kernel (same boot_id, as
    in the netns lab) are one machine, counted once. C(metrics.cpu_s_per_gb) is
    the busy CPU seconds (user+system+softirq+irq) of the distinct machines per
    GB (1e9 bytes) the receiver got.
  - B(Retransmits). C(metrics.retransmits) is Tcp RetransSegs of the sending
    end's network namespace over the window (the sink's for download, both for
    bidir), since under MPTCP iperf3's own count covers only the first subflow (its
    TCP_INFO), while the namespace's counter covers every subflow. iperf3's count
    stays in RV(retransmits); for TCP without the sink's counters it is the
    fallback. In a namespace of its own (the netns lab) nothing else sends; on a
    shared host other connections count too.
  - B(Time series) per second of the window (C(raw.timeseries)), per path the
    generator's interface bytes in the data direction, per subflow of every data
    stream cwnd, smoothed RTT and retransmitted segments, from the generator's
    sockets (the sender's for upload; for download they are the receiving end's).
    docs/measurement.md has the format and the reasoning.
  - For MPTCP, iperf3's own TCP_INFO describes only the first subflow, so the
    subflow count comes from C(ss) (per data stream, iperf3's control connection
    left out) and fallback from both the counters and the C(ss -M) fallback flag.
  - The run is marked invalid (RV(ok=false) with RV(error)) when iperf3 failed,
    or for MPTCP when it fell back to TCP, has fewer subflows than paths, or has
    subflows from addresses outside the paths in O(links). The
    module itself fails only on bad input, so a suite goes on after a bad run.
  - B(One retry.) When iperf3 fails before it measured anything (its report
    has an error and no interval - the control connection closed at once, the
    server was still busy), the measurement is made again once, a second
    later. RV(attempts) says so and RV(retried_error) keeps the first error, so
    a flaky start is visible in the record without costing a repetition.
    A failure during the test, a missing report or a failed gate is not retried.
options:
  server:
    description: Address of the iperf3 server (the sink's address on the first path used).
    type: str
    required: true
  port:
    description: TCP port of the iperf3 server.
    type: int
    default: 5201
  bind:
    description:
      - Local address to bind (the generator's address on the first path used), so
        the first subflow, or the TCP connection, takes that path.
    type: str
  protocol:
    description: V(mptcp) opens MPTCP connections, V(tcp) plain TCP ones.
    type: str
    choices: [tcp, mptcp]
    default: mptcp
  mptcp_launcher:
    description:
      - How iperf3 opens MPTCP sockets. V(native) passes C(--mptcp) (iperf3 3.19+),
        V(mptcpize) runs it under C(mptcpize run), V(auto) picks V(native) when
        C(iperf3 --help) lists C(--mptcp).
    type: str
    choices: [auto, native, mptcpize]
    default: auto
  direction:
    description: V(upload) sends from generator to sink, V(download) the reverse (C(-R)), V(bidir) both.
    type: str
    choices: [upload, download, bidir]
    default: upload
  streams:
    description: Parallel streams (C(-P)).
    type: int
    default: 1
  congestion:
    description:
      - TCP congestion control of the connections (C(--congestion)); for MPTCP it applies to
        every subflow. The host's default when omitted.
    type: str
  duration:
    description: Measured seconds (C(-t)).
    type: int
    default: 10
  omit:
    description: Seconds at the start that are sent but not counted (C(-O)), for slow start.
    type: int
    default: 1
  links:
    description:
      - The generator's links of the paths the test uses, in path order (items of
        C(lab_path_links)); C(dev) gives the per-path byte counters and C(address)
        maps subflows to paths.
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
  stats_address:
    description: Address of the sink's stats responder; no sink-side sampling when omitted.
    type: str
  stats_port:
    description: Port of the sink's stats responder.
    type: int
    default: 5199
  timeout:
    description: Seconds allowed beyond O(omit) + O(duration) before iperf3 is killed.
    type: int
    default: 30
  interval:
    description: iperf3 report interval in seconds (C(-i)); the raw report keeps the intervals.
    type: float
    default: 1
  iperf3_args:
    description: Extra iperf3 client arguments, for example C([-C, cubic]).
    type: list
    elements: str
    default: []
  cpus:
    description:
      - CPU list (C(3), C(2-3)) the iperf3 client is pinned to, through C(taskset); unpinned when omitted.
    type: str
  capture_dir:
    description:
      - When set, a header-only capture (C(tcpdump -s 150), TCP only) runs on the interface of every
        path in O(links) from before the counters are first sampled until after they are sampled
        last, into C(<capture_dir>/<capture_name>.generator.<dev>.pcap). RV(capture) reports it.
    type: path
  capture_name:
    description: The capture files' name stem (the measurement's raw name); required with O(capture_dir).
    type: str
  start_at:
    description:
      - Start iperf3 at this time (seconds since the epoch), not at once - the barrier of a measurement that
        several generators make together (suite key C(pairs)), each told the same time. The wait comes right
        before iperf3 starts (the counters are read before it, so RV(elapsed_s) and the CPU figures of RV(cpu)
        include it). A time already past starts at once (RV(start_late_s) says by how much); one more than 600 seconds
        ahead is refused.
    type: float
notes:
  - Nothing changes on the host; the module always reports C(changed=false). In check
    mode it does not measure and returns RV(ok=false) with C(skipped=true).
author:
  - mptcp.lab developers (@multipath-tcp)
extends_documentation_fragment:
  - mptcp.lab.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
'''

EXAMPLES = r'''
- name: MPTCP over both paths, 20 s, from the generator's path-1 address
  mptcp.lab.perf_measure:
    server: "{{ lab_path_links[0].peer_address }}"
    bind: "{{ lab_path_links[0].address }}"
    protocol: mptcp
    duration: 20
    links: "{{ lab_path_links }}"
  register: run

- name: TCP over path 2 only, download
  mptcp.lab.perf_measure:
    server: "{{ lab_path_links[1].peer_address }}"
    bind: "{{ lab_path_links[1].address }}"
    protocol: tcp
    direction: download
    links: "{{ [lab_path_links[1]] }}"
'''

RETURN = r'''
ok:
  description: Whether the run is valid (tool succeeded; for MPTCP no fallback and enough subflows).
  returned: always
  type: bool
  sample: true
error:
  description: Why the run is not valid, or null.
  returned: always
  type: str
  sample: "invalid: 1 subflow(s) for 2 path(s)"
throughput_mbps:
  description: Goodput counted by the receiver over the measured window, Mbit/s (both directions for bidir).
  returned: always
  type: float
  sample: 93.8
per_path_mbps:
  description:
    - Goodput carried by each path used, in path order, Mbit/s. The throughput split in
      proportion to the bytes each path's interface carried in the data direction.
  returned: always
  type: list
  elements: float
  sample: [46.9, 46.9]
per_path_bytes:
  description: Bytes each path's interface carried in the data direction (headers included) during the run.
  returned: always
  type: list
  elements: int
per_path_wire_mbps:
  description: RV(per_path_bytes) over the sampling window, Mbit/s on the wire (headers included).
  returned: always
  type: list
  elements: float
subflows:
  description:
    - For MPTCP, the fewest subflows of any data stream's connection (null if not seen);
      null for TCP.
  returned: always
  type: int
  sample: 2
streams:
  description:
    - Per data stream (MPTCP), its local port, subflow count, the paths its subflows use,
      and C(foreign) - local addresses of subflows outside the test's paths.
  returned: always
  type: list
  elements: dict
fallback:
  description: For MPTCP, whether any sign of a fallback to TCP was seen; null for TCP.
  returned: always
  type: bool
  sample: false
fallback_reasons:
  description: The evidence behind RV(fallback).
  returned: always
  type: list
  elements: str
duration_s:
  description: Seconds iperf3 measured (its window, omit excluded).
  returned: always
  type: float
  sample: 20.0
elapsed_s:
  description: Seconds between the samples before and after the run (omit and setup included).
  returned: always
  type: float
congestion:
  description: The congestion control iperf3 reports the sender used.
  returned: always
  type: str
  sample: cubic
retransmits:
  description: Retransmissions iperf3 reported for the sender (first subflow only under MPTCP).
  returned: always
  type: int
retransmits_by_source:
  description:
    - Retransmitted segments by source - C(iperf3) (RV(retransmits)), C(nstat) (Tcp RetransSegs
      of the sending end over the window, null without its counters) - and C(used), the one in
      C(metrics.retransmits) (C(nstat), C(iperf3) or null).
  returned: always
  type: dict
  sample: {iperf3: 3, nstat: 4, used: nstat}
attempts:
  description: How many times iperf3 was started (2 when the first attempt failed before measuring).
  returned: when it measured (not in check mode)
  type: int
  sample: 1
retried_error:
  description: The error of the first attempt when RV(attempts) is 2, else null.
  returned: when it measured (not in check mode)
  type: str
  sample: "iperf3: control socket has closed unexpectedly"
bytes_received:
  description: Bytes the receiver counted over iperf3's measured window (both directions for bidir).
  returned: always
  type: int
metrics:
  description:
    - The run's figures of the metrics the run record knows (perf_record.METRICS), null when
      not measured - C(throughput_mbps) (RV(throughput_mbps)), C(cpu_s_per_gb) (busy CPU seconds
      of the distinct machines per GB received; null without the sink's figures unless both ends
      are one machine) and C(retransmits) (segments the sender retransmitted, see the description).
  returned: always
  type: dict
  sample: {throughput_mbps: 1830.8, cpu_s_per_gb: 3.26, retransmits: 4}
cpu_cost:
  description:
    - CPU cost over the measured window; null when iperf3 gave no report.
    - C(window_s) (seconds), C(gb_delivered) (the receiver's goodput over the window, 1e9 bytes),
      C(same_machine) (both ends on one kernel, by boot_id; null when the sink is unknown).
    - C(hosts.generator), C(hosts.sink) (null without the responder) - C(user_s) (nice included),
      C(system_s), C(softirq_s), C(irq_s), C(busy_s) (their sum), C(lab_s) (CPU of the lab's
      processes on that host, the iperf3 client and the sink's iperf3 servers), C(sampler_s) (this
      module's sampler; the sink's responder), C(other_s) (busy minus lab, samplers, softirq and
      irq, never below 0 - the rest of the machine's load; on one machine the machine's, on both
      hosts), C(busy_s_per_gb).
    - C(lab_s_per_gb) - busy minus other, per GB - the part of the cost the lab explains.
    - C(window) - C(start_s), C(end_s) (seconds after iperf3 started), C(omitted_s), C(measured_s)
      (from iperf3's intervals), C(overhead_s) (setup and teardown around them), C(anchor)
      (C(data start) - the window starts C(omitted_s) after the data did, C(data_start_s) after
      iperf3 started, within C(data_start_uncertainty_s); or C(exit) - it ends when iperf3 exited),
      C(exit_lag_s) (from the window's end to the exit), C(bounds_sampled) (whether samples exist
      on both sides of each bound, per host).
    - C(sampler) - C(cpu_s) (the sampler's own CPU, thread and ss children), C(period_s),
      C(ticks), C(ss_runs), C(sink_samples), C(sink_cpu_s) (the responder's CPU in the window).
    - C(error) - why a part is missing (the responder, ss), or null.
  returned: always
  type: dict
mptcp_events:
  description:
    - For MPTCP, per end (C(generator), C(sink); null without the responder), the MPTcpExt counters
      of interest over the whole run (perf_cost.MPTCP_EVENTS) - data sequence trouble
      (DuplicateData, DSSNotMatching, DataCsumErr, OFOQueue, MPTCPRetrans...), ADD_ADDR (AddAddr,
      AddAddrTx, EchoAdd...), MP_JOIN (MPJoinSynTx, MPJoinSynAckRx, MPJoinAckRx, MPJoinRejected...)
      and subflow resets and failures (MPRstTx, MPRstRx, MPFailTx, SubflowStale...); 0 when a
      counter did not move. Null for TCP.
  returned: always
  type: dict
cpu:
  description:
    - System-wide CPU use during the run from /proc/stat, in percent of all CPUs of the
      machine (busy_pct, user_pct, system_pct, softirq_pct, irq_pct, iowait_pct, steal_pct),
      for C(generator) and C(sink) (null without the stats responder).
  returned: always
  type: dict
started:
  description: UTC start time (ISO 8601).
  returned: always
  type: str
started_at:
  description: When iperf3 was started (seconds since the epoch, to the 0.1 ms), for the start skew between flows.
  returned: when it measured (not in check mode)
  type: float
start_late_s:
  description: How late iperf3 started after O(start_at) (the module arrived after it, or waited too long); null without O(start_at).
  returned: when it measured (not in check mode)
  type: float
argv:
  description: The iperf3 command line that ran.
  returned: always
  type: list
  elements: str
capture:
  description:
    - With O(capture_dir), per interface C(dev), C(file), C(path), C(bytes), C(captured), C(received),
      C(dropped) (tcpdump's counters), C(cpu_s) (tcpdump's own CPU seconds) and C(error); C(error) also
      says when the capture did not start (the measurement runs anyway). Null without O(capture_dir).
  returned: always
  type: dict
raw:
  description:
    - Raw tool output, for the results directory. C(iperf3) (the parsed JSON report),
      C(iperf3_stderr), C(mptcp_counters) (the generator's MPTcpExt deltas), C(nstat)
      (C(generator), C(sink) - every nstat counter that moved over the run, named like nstat,
      C(TcpRetransSegs), C(TcpExtTCPLostRetransmit), C(MPTcpExtMPJoinSynRx)...),
      C(ss_subflows) (C(ss -tni)), C(ss_mptcp) (C(ss -Mni)), C(sink) (sink-side deltas).
    - C(timeseries) (null without a report) - C(interval_s) (1.0), C(t) (seconds since the
      window's start, at each bucket's end; the last bucket stretches to the window's end),
      C(paths) (C(path), C(dev), C(mbps) - the interface's Mbit/s in the data direction, headers
      included), C(subflows) (C(stream) - the local port of the data stream's connection, C(path)
      - null outside the test's paths, C(local), C(remote), C(cwnd) - segments, C(rtt_ms),
      C(retrans) - segments retransmitted in the bucket; null where no sample was near),
      C(subflows_from) (C(generator) or C(sink), whose sockets gave the subflows' figures - the
      sender's - a download's from the sink when its responder lists them), C(cpu) (C(generator),
      C(sink) - C(busy), C(lab), C(other) in cores for each bucket, as in RV(cpu_cost)).
  returned: always
  type: dict
'''

import json
import math
import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mptcp.lab.plugins.module_utils.process import packet_capture as pc
from ansible_collections.mptcp.lab.plugins.module_utils.perf import perf_cost as pcost
from ansible_collections.mptcp.lab.plugins.module_utils.perf import perf_parse as pp
from ansible_collections.mptcp.lab.plugins.module_utils.perf import perf_sampler as ps
from ansible_collections.mptcp.lab.plugins.module_utils.process import proc_identity as procid

# The metrics a run of this module has figures for (names: perf_record.METRICS).
METRICS = ('throughput_mbps', 'cpu_s_per_gb', 'retransmits')
# Seconds between a measurement that failed before measuring and its retry:
# time for the sink's iperf3 server to finish with the connection it dropped.
RETRY_PAUSE_S = 1.0
# The longest wait for start_at (a barrier set by the controller seconds before).
MAX_START_WAIT_S = 600


def iperf3_argv(module, p, launcher):
    iperf3 = module.get_bin_path('iperf3', required=True)
    argv = [iperf3, '--client', p['server'], '--port', str(p['port']), '--json',
            '--time', str(p['duration']), '--omit', str(p['omit']),
            '--parallel', str(p['streams']), '--interval', '%g' % p['interval'],
            '--connect-timeout', '5000']
    if p['bind']:
        argv += ['--bind', p['bind']]
    if p['congestion']:
        argv += ['--congestion', p['congestion']]
    if p['direction'] == 'download':
        argv.append('--reverse')
    elif p['direction'] == 'bidir':
        argv.append('--bidir')
    if p['protocol'] == 'mptcp':
        if launcher == 'native':
            argv.append('--mptcp')
        else:
            argv = [module.get_bin_path('mptcpize', required=True), 'run'] + argv
    argv = argv + list(p['iperf3_args'])
    if p['cpus']:
        argv = [module.get_bin_path('taskset', required=True), '--cpu-list', p['cpus']] + argv
    return argv


def choose_launcher(module, wanted):
    if wanted != 'auto':
        return wanted
    rc, out, err = module.run_command([module.get_bin_path('iperf3', required=True), '--help'])
    return 'native' if '--mptcp' in (out + err) else 'mptcpize'


def validate(module, p):
    for key, low in (('streams', 1), ('duration', 1), ('omit', 0), ('timeout', 1)):
        if p[key] < low:
            module.fail_json(msg='%s: must be >= %d, got %d' % (key, low, p[key]))
    if not 0 < p['port'] < 65536 or not 0 < p['stats_port'] < 65536:
        module.fail_json(msg='port, stats_port: must be 1..65535')
    if p['interval'] <= 0:
        module.fail_json(msg='interval: must be > 0, got %s' % p['interval'])
    if not p['links']:
        module.fail_json(msg='links: must list the generator links of at least one path')
    if p['capture_dir'] and not (p['capture_name'] and pc.SAFE_RE.sub('', p['capture_name']) == p['capture_name']):
        module.fail_json(msg='capture_name: required with capture_dir, letters, digits, ".", "_" or "-", got %r'
                         % p['capture_name'])
    if p['protocol'] == 'tcp' and len(p['links']) != 1:
        module.fail_json(msg='links: protocol tcp uses exactly one path, got %d links' % len(p['links']))
    if p['start_at'] is not None and not (math.isfinite(p['start_at']) and p['start_at'] > 0
                                          and p['start_at'] - time.time() <= MAX_START_WAIT_S):
        module.fail_json(msg='start_at: must be a time (seconds since the epoch) at most %d s ahead, got %r'
                         % (MAX_START_WAIT_S, p['start_at']))


def sink_deltas(before, after):
    if not (before and after):
        return None
    return {
        'mptcp_counters': pp.counter_delta(before['mptcp'], after['mptcp']),
        'net_dev': dict((dev, dict((k, after['net_dev'][dev][k] - before['net_dev'][dev][k])
                                   for k in after['net_dev'][dev]))
                        for dev in after['net_dev'] if dev in before['net_dev']),
    }


def cost_and_series(p, summary, report, client, sampler, sink_before, sink_after, gen_before, path_of):
    """cpu_cost, the metrics, the retransmits and the time series of a run that produced a report."""
    win = pp.iperf3_window(report)
    if not summary['ok'] or win is None or client.t_exit is None:
        return None, None, None, None
    local = sampler.local
    start, end, anchor = pcost.anchored_window(client.t_spawn, client.t_exit, win['omitted_s'], win['measured_s'],
                                               sampler.data_start)
    sink_samples = [s for s in [sink_before] + sampler.sink_samples + [sink_after] if s]
    gen = pcost.host_cpu(local, start, end, ps.HZ)
    sink = pcost.host_cpu(sink_samples, start, end, ps.HZ) if sink_before and sink_after else None
    same = None
    if sink_before and sink_before.get('boot_id') and gen_before.get('boot_id'):
        same = sink_before['boot_id'] == gen_before['boot_id']
    cost, per_gb = pcost.cpu_cost(gen, sink, same, end - start, summary['throughput_mbps'])
    cost['window'] = {
        'start_s': round(start - client.t_spawn, 4), 'end_s': round(end - client.t_spawn, 4),
        'omitted_s': win['omitted_s'], 'measured_s': win['measured_s'],
        'overhead_s': round(client.t_exit - client.t_spawn - win['omitted_s'] - win['measured_s'], 4),
        'anchor': anchor, 'exit_lag_s': round(client.t_exit - end, 4),
        'data_start_s': pcost.rounded(sampler.data_start and sampler.data_start - client.t_spawn),
        'data_start_uncertainty_s': pcost.rounded(sampler.data_start_uncertainty),
        'bounds_sampled': {'generator': pcost.covers(local, start, end),
                           'sink': pcost.covers(sink_samples, start, end) if sink else None},
    }
    cost['sampler'] = {
        'cpu_s': round(sampler.cost_s(), 4), 'period_s': sampler.period, 'ticks': len(sampler.local),
        'ss_runs': sampler.ss_runs, 'sink_samples': len(sampler.sink_samples),
        'sink_cpu_s': pcost.rounded((sink or {}).get('sampler_s')),
    }
    nstat = pcost.sender_retransmits(p['direction'], local, sink_samples if sink else None, start, end)
    paths = [(link['path'], link['dev']) for link in p['links']]
    series = pcost.timeseries(local, sampler.ss, paths, p['direction'], summary['stream_ports'], p['bind'],
                              path_of, start, end, sink_ss=sampler.sink_ss,
                              sink_samples=sink_samples if sink else None, same_machine=same, hz=ps.HZ)
    return cost, per_gb, nstat, series


def measure(module, p):
    """Run one measurement; returns the result dict (never fails on tool errors)."""
    links = p['links']
    devs = [link['dev'] for link in links]
    path_of = dict((link['address'], link['path']) for link in links)
    launcher = choose_launcher(module, p['mptcp_launcher']) if p['protocol'] == 'mptcp' else None
    argv = iperf3_argv(module, p, launcher)
    limit = p['omit'] + p['duration'] + p['timeout']
    env = dict(os.environ, LC_ALL='C')
    ss_bin = module.get_bin_path('ss', required=True)
    ss_argv = [ss_bin, '-Htni', 'state', 'established', 'dport', '=', ':%d' % p['port']]
    sink = ps.SinkClient(p['stats_address'], p['stats_port']) if p['stats_address'] else None

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
    sink_before, sink_err = sink.ask('stats') if sink else (None, None)
    before = ps.local_full()
    before['boot_id'] = procid.boot_id()
    sampler = ps.Sampler(devs, sink if sink_before else None, ss_argv, [ss_bin, '-HMni'],
                         p['omit'] + p['duration'] / 2.0, env, port=p['port'], direction=p['direction'])
    start_late = None
    if p['start_at'] is not None:
        # The barrier of a measurement several generators make at once: all
        # start iperf3 at start_at, nothing between the wait and the start (the
        # counters above were read before it; no traffic of this pair meanwhile).
        wait = p['start_at'] - time.time()
        if wait > 0:
            time.sleep(wait)
        start_late = max(0.0, time.time() - p['start_at'])
    started = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())
    client = ps.Client(argv, env, limit)
    rc, out, err = client.run(sampler)
    started_at = time.time() - (time.monotonic() - client.t_spawn) if client.t_spawn is not None else None
    if start_late is not None and started_at is not None:
        start_late = max(0.0, started_at - p['start_at'])
    after = ps.local_full()
    sink_after, err2 = sink.ask('stats') if sink else (None, None)
    sink_err = sink_err or err2
    if captures is not None:
        capture['files'] = captures.stop()

    try:
        report = json.loads(out) if out.strip() else None
    except ValueError:
        report = None
    summary = pp.tool_outcome(report, rc, out, err, client.killed, limit, p['direction'])
    elapsed = after['t'] - before['t']
    tput = summary['throughput_mbps']
    pbytes, per_path, wire = pp.path_figures(tput, before['net_dev'], after['net_dev'], devs, p['direction'], elapsed)
    nstat = {'generator': pp.counter_delta(before['nstat'], after['nstat']),
             'sink': pp.counter_delta(sink_before['nstat'], sink_after['nstat']) if sink_before and sink_after else None}
    delta = dict((k[len('MPTcpExt'):], v) for k, v in nstat['generator'].items() if k.startswith('MPTcpExt'))
    check = pp.mptcp_check(p['protocol'], len(links), summary, p['bind'], p['port'], path_of,
                           sampler.mid.get('subflows'), sampler.mid.get('mptcp'), delta)

    cost, per_gb, nstat_retrans, series = cost_and_series(p, summary, report, client, sampler, sink_before,
                                                          sink_after, before, path_of)
    if cost is not None:
        cost['error'] = sink_err or sampler.sink_error or ('; '.join(sampler.errors) or None)
    retrans = nstat_retrans
    source = 'nstat' if retrans is not None else None
    if retrans is None and p['protocol'] == 'tcp' and summary['retransmits'] is not None:
        retrans, source = summary['retransmits'], 'iperf3'
    sink_cpu = pp.cpu_usage(sink_before and sink_before['cpu'], sink_after and sink_after['cpu'])
    return {
        'changed': False,
        'ok': check['ok'],
        'error': check['error'],
        'throughput_mbps': tput,
        'per_path_mbps': per_path,
        'per_path_bytes': pbytes,
        'per_path_wire_mbps': wire,
        'subflows': check['subflows'],
        'streams': check['streams'],
        'fallback': check['fallback'],
        'fallback_reasons': check['fallback_reasons'],
        'duration_s': summary['seconds'],
        'elapsed_s': round(elapsed, 3),
        'retransmits': summary['retransmits'],
        'retransmits_by_source': {'iperf3': summary['retransmits'], 'nstat': nstat_retrans, 'used': source},
        'sent_mbps': summary['sent_mbps'],
        'bytes_received': summary['bytes_received'],
        'congestion': summary['congestion'],
        'cpu': {'generator': pp.cpu_usage(before['cpu'], after['cpu']), 'sink': sink_cpu},
        'cpu_cost': cost,
        'metrics': dict(zip(METRICS, (tput, per_gb, retrans))),
        'mptcp_events': pcost.mptcp_events(nstat) if p['protocol'] == 'mptcp' else None,
        'sink_stats_error': sink_err,
        'started': started,
        'started_at': round(started_at, 4) if started_at is not None else None,
        'start_late_s': round(start_late, 4) if start_late is not None else None,
        'argv': argv,
        'launcher': launcher,
        'capture': capture,
        'raw': {
            'iperf3': report,
            'iperf3_stdout': None if report is not None else out[-4000:],
            'iperf3_stderr': err[-4000:],
            'mptcp_counters': delta,
            'nstat': nstat,
            'ss_subflows': sampler.mid.get('subflows'),
            'ss_mptcp': sampler.mid.get('mptcp'),
            'sink': sink_deltas(sink_before, sink_after),
            'timeseries': series,
        },
    }


def measure_with_retry(module, p, measure_once=None, pause=None):
    """measure(), made again once when iperf3 failed before measuring anything."""
    measure_once = measure_once or measure
    result = measure_once(module, p)
    result.update(attempts=1, retried_error=None)
    if pp.failed_before_measuring(result):
        first_error = result['error']
        time.sleep(RETRY_PAUSE_S if pause is None else pause)
        result = measure_once(module, p)
        result.update(attempts=2, retried_error=first_error)
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            server=dict(type='str', required=True),
            port=dict(type='int', default=5201),
            bind=dict(type='str'),
            protocol=dict(type='str', default='mptcp', choices=['tcp', 'mptcp']),
            mptcp_launcher=dict(type='str', default='auto', choices=['auto', 'native', 'mptcpize']),
            direction=dict(type='str', default='upload', choices=['upload', 'download', 'bidir']),
            streams=dict(type='int', default=1),
            congestion=dict(type='str'),
            duration=dict(type='int', default=10),
            omit=dict(type='int', default=1),
            links=dict(type='list', elements='dict', required=True, options=dict(
                path=dict(type='int', required=True),
                dev=dict(type='str', required=True),
                address=dict(type='str', required=True),
                prefix=dict(type='int'),
                peer_address=dict(type='str'),
                gateway=dict(type='str'),
                table=dict(type='int'),
            )),
            stats_address=dict(type='str'),
            stats_port=dict(type='int', default=5199),
            timeout=dict(type='int', default=30),
            interval=dict(type='float', default=1),
            iperf3_args=dict(type='list', elements='str', default=[]),
            cpus=dict(type='str'),
            capture_dir=dict(type='path'),
            capture_name=dict(type='str'),
            start_at=dict(type='float'),
        ),
        supports_check_mode=True,
    )
    p = module.params
    validate(module, p)
    if module.check_mode:
        module.exit_json(changed=False, ok=False, skipped=True, error='check mode: not measured',
                         throughput_mbps=None, per_path_mbps=[], subflows=None, fallback=None,
                         metrics=dict((name, None) for name in METRICS), cpu_cost=None, mptcp_events=None)
    if not os.path.exists('/proc/net/netstat'):
        module.fail_json(msg='/proc/net/netstat is missing: a Linux host is required')
    module.exit_json(**measure_with_retry(module, p))


if __name__ == '__main__':
    main()
