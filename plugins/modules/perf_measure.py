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
  - Around the run it samples, on the generator, the interface counters of every
    path the test uses (C(/proc/net/dev)), the MPTcpExt counters (C(/proc/net/netstat),
    what C(nstat) reads; per network namespace) and the system-wide CPU time
    (C(/proc/stat), softirq included). Half-way through the run it lists the
    MPTCP connections and their subflows with C(ss -tni) and C(ss -Mni).
  - With O(stats_address), it also samples the sink's C(/proc/stat) and counters
    before and after, from the small stats responder the C(mptcp.lab.traffic_sink)
    role runs, so CPU use is known on both ends without another task.
  - For MPTCP, iperf3's own TCP_INFO describes only the first subflow, so the
    subflow count comes from C(ss) (per data stream, iperf3's control connection
    left out) and fallback from both the counters and the C(ss -M) fallback flag.
  - The run is marked invalid (RV(ok=false) with RV(error)) when iperf3 failed,
    or for MPTCP when it fell back to TCP, has fewer subflows than paths, or has
    subflows from addresses outside the paths in O(links). The
    module itself fails only on bad input, so a suite goes on after a bad run.
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
      C(iperf3_stderr), C(mptcp_counters) (MPTcpExt deltas, like C(nstat)),
      C(ss_subflows) (C(ss -tni)), C(ss_mptcp) (C(ss -Mni)), C(sink) (sink-side deltas).
  returned: always
  type: dict
'''

import json
import os
import socket
import threading
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mptcp.lab.plugins.module_utils import packet_capture as pc
from ansible_collections.mptcp.lab.plugins.module_utils import perf_parse as pp


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


def sink_sample(address, port, timeout=2.0):
    """Ask the sink's stats responder for its counters: (sample, error)."""
    if not address:
        return None, None
    try:
        conn = socket.create_connection((address, port), timeout=timeout)
        try:
            conn.sendall(b'stats\n')
            chunks = []
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                chunks.append(data)
        finally:
            conn.close()
        reply = json.loads(b''.join(chunks).decode('utf-8'))
        return {
            'cpu': pp.parse_proc_stat(reply['stat']),
            'net_dev': pp.parse_net_dev(reply['net_dev']),
            'mptcp': pp.parse_netstat(reply['netstat']),
        }, None
    except (OSError, ValueError, KeyError) as e:
        return None, 'sink stats responder %s:%d: %s' % (address, port, e)


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


def measure(module, p):
    """Run one measurement; returns the result dict (never fails on tool errors)."""
    links = p['links']
    devs = [link['dev'] for link in links]
    path_of = dict((link['address'], link['path']) for link in links)
    launcher = choose_launcher(module, p['mptcp_launcher']) if p['protocol'] == 'mptcp' else None
    argv = iperf3_argv(module, p, launcher)
    limit = p['omit'] + p['duration'] + p['timeout']
    timeout_bin = module.get_bin_path('timeout', required=True)
    full = [timeout_bin, '--kill-after=5', str(limit)] + argv
    env = {'LC_ALL': 'C'}
    ss_bin = module.get_bin_path('ss', required=True)

    snap = {}
    done = threading.Event()

    def snapshot():
        # Half-way through the measured window, list the connections.
        if done.wait(p['omit'] + p['duration'] / 2.0):
            return
        rc1, out1, err1 = module.run_command([ss_bin, '-Htni', 'state', 'established',
                                              'dport', '=', ':%d' % p['port']], environ_update=env)
        rc2, out2, err2 = module.run_command([ss_bin, '-HMni'], environ_update=env)
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
    sink_before, sink_err = sink_sample(p['stats_address'], p['stats_port'])
    before = local_sample()
    started = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())
    watcher = threading.Thread(target=snapshot)
    watcher.daemon = True
    watcher.start()
    rc, out, err = module.run_command(full, environ_update=env)
    done.set()
    after = local_sample()
    sink_after, err2 = sink_sample(p['stats_address'], p['stats_port'])
    watcher.join(10)
    sink_err = sink_err or err2
    if captures is not None:
        capture['files'] = captures.stop()

    try:
        report = json.loads(out) if out.strip() else None
    except ValueError:
        report = None
    summary = pp.summarize_iperf3(report, p['direction'])
    if not summary['ok'] and rc == 124:
        summary['error'] = 'iperf3 did not finish within %ds and was killed' % limit
    elif not summary['ok'] and report is None:
        summary['error'] = 'iperf3 exited with code %d: %s' % (rc, (err or out).strip()[-500:])
    elif summary['ok'] and rc != 0:
        summary.update(ok=False, error='iperf3 exited with code %d: %s' % (rc, err.strip()[-500:]))

    elapsed = after['time'] - before['time']
    pbytes = pp.path_bytes(before['net_dev'], after['net_dev'], devs, p['direction'])
    known = [b for b in pbytes if b is not None]
    total = sum(known)
    tput = summary['throughput_mbps']
    per_path = [round(tput * b / total, 3) if (tput is not None and total and b is not None) else None
                for b in pbytes]
    wire = [round(b * 8 / elapsed / 1e6, 3) if b is not None and elapsed > 0 else None for b in pbytes]
    delta = pp.counter_delta(before['mptcp'], after['mptcp'])

    subflows = fallback = None
    reasons, streams = [], []
    sf_list = pp.parse_ss_subflows(snap.get('subflows') or '')
    msk_list = pp.parse_ss_mptcp(snap.get('mptcp') or '')
    msk_list = [m for m in msk_list if m['peer_port'] == p['port']]
    if p['protocol'] == 'mptcp':
        streams = pp.stream_subflows(summary['stream_ports'], p['bind'], sf_list, path_of)
        counts = [s['subflows'] for s in streams]
        subflows = min(counts) if counts and None not in counts else None
        reasons = pp.fallback_reasons(delta, msk_list, summary['stream_ports'])
        # Without a completed run there is no connection to judge.
        fallback = bool(reasons) if summary['ok'] else None
    foreign = sorted(set(a for s in streams for a in s.get('foreign') or []))
    ok, error = pp.gate(p['protocol'], len(links), summary['ok'], summary['error'],
                        subflows, fallback, reasons, foreign)

    sink_cpu = pp.cpu_usage(sink_before and sink_before['cpu'], sink_after and sink_after['cpu'])
    return {
        'changed': False,
        'ok': ok,
        'error': error,
        'throughput_mbps': tput,
        'per_path_mbps': per_path,
        'per_path_bytes': pbytes,
        'per_path_wire_mbps': wire,
        'subflows': subflows,
        'streams': streams,
        'fallback': fallback,
        'fallback_reasons': reasons,
        'duration_s': summary['seconds'],
        'elapsed_s': round(elapsed, 3),
        'retransmits': summary['retransmits'],
        'sent_mbps': summary['sent_mbps'],
        'congestion': summary['congestion'],
        'cpu': {'generator': pp.cpu_usage(before['cpu'], after['cpu']), 'sink': sink_cpu},
        'sink_stats_error': sink_err,
        'started': started,
        'argv': argv,
        'launcher': launcher,
        'capture': capture,
        'raw': {
            'iperf3': report,
            'iperf3_stdout': None if report is not None else out[-4000:],
            'iperf3_stderr': err[-4000:],
            'mptcp_counters': delta,
            'ss_subflows': snap.get('subflows'),
            'ss_mptcp': snap.get('mptcp'),
            'sink': {
                'mptcp_counters': pp.counter_delta(sink_before['mptcp'], sink_after['mptcp']),
                'net_dev': dict((dev, {k: sink_after['net_dev'][dev][k] - sink_before['net_dev'][dev][k]
                                       for k in sink_after['net_dev'][dev]})
                                for dev in sink_after['net_dev'] if dev in sink_before['net_dev']),
            } if sink_before and sink_after else None,
        },
    }


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
        ),
        supports_check_mode=True,
    )
    p = module.params
    validate(module, p)
    if module.check_mode:
        module.exit_json(changed=False, ok=False, skipped=True, error='check mode: not measured',
                         throughput_mbps=None, per_path_mbps=[], subflows=None, fallback=None)
    if not os.path.exists('/proc/net/netstat'):
        module.fail_json(msg='/proc/net/netstat is missing: a Linux host is required')
    module.exit_json(**measure(module, p))


if __name__ == '__main__':
    main()
