"""A throwaway two-path lab for request/response measurements, without Ansible.

Three namespaces (generator, shaper, sink): each path its own veth pairs and
subnets, tbf on the shaper's egress (RATE Mbit/s, LIMIT bytes of queue),
policy routing per path, the lab's MPTCP policy (the sink announces its path
addresses, both ends allow one more subflow), and the servers the traffic
sink runs: a sockperf server per path address (MPTCP under mptcpize, and
plain TCP), and iperf3 servers for the bulk load. Used by
tests/integration/test_perf_latency.py and tests/benchmarks/bench_latency.py;
:meth:`LatencyLab.destroy` removes everything, whatever state the build
reached.
"""

import json
import os
import subprocess
import sys
import tempfile
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(ROOT, '.collections')
RATE = 50
LIMIT = 100 * 1024
RR_MPTCP, RR_TCP, BULK_MPTCP, BULK_TCP = 11111, 11211, 5201, 5301


class Ns(object):
    """A network namespace by name (what conftest.run_module takes)."""

    def __init__(self, name):
        self.name = name

    def run(self, *argv):
        return subprocess.run(['ip', 'netns', 'exec', self.name] + list(argv), check=True, capture_output=True,
                              text=True)


def module(ns, name, args, check_mode=False):
    """Run collection module ``name`` for real inside namespace ``ns`` (an Ns); its result, with rc."""
    payload = dict(args, _ansible_check_mode=check_mode, _ansible_diff=False, _ansible_tmpdir=None,
                   _ansible_remote_tmp='/tmp', _ansible_keep_remote_files=False)
    argv = [sys.executable, '-m', 'ansible_collections.mptcp.lab.plugins.modules.%s' % name]
    if ns is not None:
        argv = ['ip', 'netns', 'exec', ns.name] + argv
    proc = subprocess.run(argv, input=json.dumps({'ANSIBLE_MODULE_ARGS': payload}), capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=COLLECTIONS, LC_ALL='C'), check=False)
    try:
        result = json.loads(proc.stdout)
    except ValueError:
        raise AssertionError('module %s printed no JSON (rc=%d)\nstdout: %s\nstderr: %s'
                             % (name, proc.returncode, proc.stdout, proc.stderr))
    result['rc'] = proc.returncode
    return result


class LatencyLab(object):
    """gen, mid, sink: the namespaces (Ns); links: the generator's links, as lab_path_links."""

    def __init__(self, prefix='mlt', rate=RATE, limit=LIMIT):
        self.gen, self.mid, self.sink = [Ns('%s%s' % (prefix, uuid.uuid4().hex[:8])) for dummy in range(3)]
        self.rate, self.limit = rate, limit
        self.run_dir = tempfile.mkdtemp(prefix='mlt-latency-')
        self.links = []
        self.daemons = []
        self.created = []

    @staticmethod
    def ns(where, *argv):
        return where.run(*argv)

    def build(self):
        for where in (self.gen, self.mid, self.sink):
            subprocess.run(['ip', 'netns', 'add', where.name], check=True)
            self.created.append(where.name)
            self.ns(where, 'ip', 'link', 'set', 'lo', 'up')
        self.ns(self.mid, 'sysctl', '-qw', 'net.ipv4.ip_forward=1')
        for i in (1, 2):
            ga, sa = '10.78.%d.2' % (2 * i), '10.78.%d.2' % (2 * i + 1)
            for here, dev, peer in ((self.gen, 'g%d' % i, 'mg%d' % i), (self.sink, 's%d' % i, 'ms%d' % i)):
                subprocess.run(['ip', 'link', 'add', dev, 'netns', here.name, 'type', 'veth', 'peer', 'name', peer,
                                'netns', self.mid.name], check=True)
                self.ns(here, 'ip', 'link', 'set', dev, 'up')
                self.ns(self.mid, 'ip', 'link', 'set', peer, 'up')
            self.ns(self.gen, 'ip', 'addr', 'add', ga + '/24', 'dev', 'g%d' % i)
            self.ns(self.sink, 'ip', 'addr', 'add', sa + '/24', 'dev', 's%d' % i)
            self.ns(self.mid, 'ip', 'addr', 'add', '10.78.%d.1/24' % (2 * i), 'dev', 'mg%d' % i)
            self.ns(self.mid, 'ip', 'addr', 'add', '10.78.%d.1/24' % (2 * i + 1), 'dev', 'ms%d' % i)
            for here, addr, dev, gw, table in ((self.gen, ga, 'g%d' % i, '10.78.%d.1' % (2 * i), 100 + i),
                                               (self.sink, sa, 's%d' % i, '10.78.%d.1' % (2 * i + 1), 100 + i)):
                self.ns(here, 'ip', 'rule', 'add', 'from', addr, 'table', str(table))
                self.ns(here, 'ip', 'route', 'add', 'default', 'via', gw, 'dev', dev, 'table', str(table))
            self.ns(self.gen, 'ip', 'route', 'add', '10.78.%d.0/24' % (2 * i + 1), 'via', '10.78.%d.1' % (2 * i))
            self.ns(self.sink, 'ip', 'route', 'add', '10.78.%d.0/24' % (2 * i), 'via', '10.78.%d.1' % (2 * i + 1))
            for dev in ('mg%d' % i, 'ms%d' % i):
                self.ns(self.mid, 'tc', 'qdisc', 'add', 'dev', dev, 'root', 'tbf', 'rate', '%dmbit' % self.rate,
                        'burst', '15k', 'limit', str(self.limit))
            self.links.append({'path': i, 'dev': 'g%d' % i, 'address': ga, 'peer_address': sa})
        self.announce()
        for name in (self.gen, self.sink):
            self.ns(name, 'ip', 'mptcp', 'limits', 'set', 'subflows', '1', 'add_addr_accepted', '1')
        # as the traffic sink runs them: one server per path address (joins arrive at the second)
        for i, link in enumerate(self.links, 1):
            addr = link['peer_address']
            for kind, port, argv in (
                    ('rr-mptcp', RR_MPTCP, ['mptcpize', 'run', 'sockperf', 'server', '--tcp', '-i', addr,
                                            '-p', str(RR_MPTCP)]),
                    ('rr-tcp', RR_TCP, ['sockperf', 'server', '--tcp', '-i', addr, '-p', str(RR_TCP)]),
                    ('bulk-mptcp', BULK_MPTCP, ['mptcpize', 'run', 'iperf3', '--server', '--port', str(BULK_MPTCP),
                                                '--bind', addr]),
                    ('bulk-tcp', BULK_TCP, ['iperf3', '--server', '--port', str(BULK_TCP), '--bind', addr])):
                self.daemons.append('%s-a%d' % (kind, i))
                res = module(self.sink, 'supervised_process', dict(name=self.daemons[-1], argv=argv, wait_for_port=port,
                                                                   run_dir=self.run_dir))
                assert res['rc'] == 0, res
        return self

    def announce(self):
        """The sink's signal endpoints, one per path address."""
        for i, link in enumerate(self.links, 1):
            self.ns(self.sink, 'ip', 'mptcp', 'endpoint', 'add', link['peer_address'], 'dev', 's%d' % i, 'signal')

    def destroy(self):
        for name in self.daemons:
            module(self.sink, 'supervised_process', dict(name=name, state='stopped', run_dir=self.run_dir))
        for name in self.created:
            subprocess.run(['ip', 'netns', 'del', name], check=False)
        subprocess.run(['rm', '-rf', self.run_dir], check=False)

    def measure(self, protocol='mptcp', path=None, **kwargs):
        """One perf_latency run: MPTCP over both paths, or TCP over ``path`` (default 1)."""
        links = self.links if protocol == 'mptcp' else [self.links[(path or 1) - 1]]
        args = dict(server=links[0]['peer_address'], bind=links[0]['address'], protocol=protocol, links=links,
                    port=RR_MPTCP if protocol == 'mptcp' else RR_TCP,
                    load_port=BULK_MPTCP if protocol == 'mptcp' else BULK_TCP, duration=3)
        args.update(kwargs)
        return module(self.gen, 'perf_latency', args)
