#!/usr/bin/env python
"""What the virtual lab costs to provision, re-provision and tear down, by size.

For each size (1, 8 and 32 generator/sink pairs; 64 too with --max 64) it
writes an inventory with scripts/lab-inventory.py (prefix <prefix><pairs>,
two 50 Mbit/s paths), then times, with ansible-playbook and this
repository's ansible.cfg:

  * cold:     playbooks/provision.yml on a machine without that lab;
  * re-run:   playbooks/provision.yml again (asserted: changed=0 on every host);
  * teardown: playbooks/teardown.yml (asserted: no namespace of the lab left).

It prints one table: seconds, the CPU seconds ansible-playbook and its
children used (user + system: what the step costs whatever else runs on the
machine), task results executed (ok + failed from the PLAY RECAP, summed over
hosts; `skipped` apart), changed, and the 1-minute load average before and
after each step, with the machine's CPU count, so that a figure measured
under load is read as such.

Every lab it builds is named m16p<pairs>-* by default and is torn down
before it returns (also on failure or Ctrl-C). Run as root from the
repository root:

    .venv/bin/python tests/benchmarks/bench_lab_scale.py              # 1, 8, 32 pairs
    .venv/bin/python tests/benchmarks/bench_lab_scale.py --max 64     # and 64
    .venv/bin/python tests/benchmarks/bench_lab_scale.py --sizes 1 --reps 3 --json /tmp/scale.json
"""

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.dirname(sys.executable)
PROVISION = os.path.join(ROOT, 'playbooks', 'provision.yml')
TEARDOWN = os.path.join(ROOT, 'playbooks', 'teardown.yml')
INVENTORY_SCRIPT = os.path.join(ROOT, 'scripts', 'lab-inventory.py')


def loadavg():
    """The 1-minute load average."""
    with open('/proc/loadavg') as handle:
        return float(handle.read().split()[0])


def lab_namespaces(prefix):
    """The namespaces of the lab ``prefix`` (exact "<prefix>-" match, never a substring)."""
    if not os.path.isdir('/run/netns'):
        return []
    return sorted(n for n in os.listdir('/run/netns') if n.startswith(prefix + '-'))


def recap(stdout):
    """{host: {ok, changed, unreachable, failed, skipped, rescued, ignored}} from the PLAY RECAP."""
    hosts = {}
    in_recap = False
    for line in stdout.splitlines():
        if line.startswith('PLAY RECAP'):
            in_recap = True
            continue
        match = re.match(r'^(\S+)\s+:\s+(ok=.*)$', line)
        if in_recap and match:
            hosts[match.group(1)] = dict((k, int(v)) for k, v in re.findall(r'(\w+)=(\d+)', match.group(2)))
    return hosts


class StepFailed(Exception):
    pass


def playbook(playbook_path, inventory):
    """Run one playbook; returns (seconds, recap, stdout)."""
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), ANSIBLE_NOCOLOR='1',
               ANSIBLE_FORCE_COLOR='0', PATH=VENV_BIN + os.pathsep + os.environ.get('PATH', ''))
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    proc = subprocess.run([os.path.join(VENV_BIN, 'ansible-playbook'), '-i', inventory, playbook_path],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - usage.ru_utime + after.ru_stime - usage.ru_stime
    if proc.returncode != 0:
        raise StepFailed('%s failed (rc=%d)\n%s\n%s' % (
            os.path.basename(playbook_path), proc.returncode, proc.stdout[-4000:], proc.stderr[-2000:]))
    return seconds, cpu, recap(proc.stdout)


def step(name, pairs, playbook_path, inventory):
    """Time one step; the row of the table."""
    load_before = loadavg()
    seconds, cpu, hosts = playbook(playbook_path, inventory)
    total = dict((key, sum(h.get(key, 0) for h in hosts.values()))
                 for key in ('ok', 'changed', 'failed', 'skipped', 'unreachable'))
    return {'pairs': pairs, 'step': name, 'seconds': round(seconds, 2), 'cpu_s': round(cpu, 2),
            'tasks': total['ok'] + total['failed'], 'skipped': total['skipped'], 'changed': total['changed'],
            'changed_hosts': sorted(h for h, c in hosts.items() if c.get('changed')),
            'hosts': len(hosts), 'load_before': load_before, 'load_after': loadavg()}


def bench_size(pairs, prefix, workdir):
    """cold, re-run, teardown of one lab of ``pairs`` pairs; always torn down."""
    if lab_namespaces(prefix):
        raise StepFailed('lab %s exists already (%d namespaces): tear it down first (-i <its inventory> '
                         'playbooks/teardown.yml), a cold run needs none' % (prefix, len(lab_namespaces(prefix))))
    inventory = os.path.join(workdir, prefix)
    subprocess.run([sys.executable, INVENTORY_SCRIPT, '--pairs', str(pairs), '--prefix', prefix,
                    '--rates', '50,50', '--out', inventory], check=True, capture_output=True)
    rows = []
    torn_down = False
    try:
        rows.append(step('cold', pairs, PROVISION, inventory))
        expected = 2 * pairs + 1
        if len(lab_namespaces(prefix)) != expected:
            raise StepFailed('cold provisioning of %s made %d namespaces, not %d'
                             % (prefix, len(lab_namespaces(prefix)), expected))
        rows.append(step('re-run', pairs, PROVISION, inventory))
        if rows[-1]['changed']:
            raise StepFailed('re-run of %s is not idempotent: changed on %s'
                             % (prefix, ', '.join(rows[-1]['changed_hosts'])))
        rows.append(step('teardown', pairs, TEARDOWN, inventory))
        torn_down = True
        if lab_namespaces(prefix):
            raise StepFailed('teardown of %s left %s' % (prefix, lab_namespaces(prefix)))
    finally:
        if not torn_down:
            playbook_env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'))
            subprocess.run([os.path.join(VENV_BIN, 'ansible-playbook'), '-i', inventory, TEARDOWN],
                           cwd=ROOT, env=playbook_env, capture_output=True, check=False)
    return rows


def table(rows, reps):
    """The table: per size and step, the median over the repetitions (min-max beside it when reps > 1)."""
    lines = ['%-6s %-9s %9s %-13s %7s %6s %8s %8s %13s' % (
        'pairs', 'step', 'seconds', '(min-max)', 'cpu_s', 'tasks', 'skipped', 'changed', 'load before/after')]
    keys = []
    for row in rows:
        if (row['pairs'], row['step']) not in keys:
            keys.append((row['pairs'], row['step']))
    for pairs, name in keys:
        same = [r for r in rows if r['pairs'] == pairs and r['step'] == name]
        seconds = [r['seconds'] for r in same]
        spread = '(%.1f-%.1f)' % (min(seconds), max(seconds)) if reps > 1 else ''
        lines.append('%-6d %-9s %9.2f %-13s %7.2f %6d %8d %8d %6.2f/%-6.2f' % (
            pairs, name, statistics.median(seconds), spread, statistics.median(r['cpu_s'] for r in same),
            same[-1]['tasks'], same[-1]['skipped'],
            max(r['changed'] for r in same), same[0]['load_before'], same[-1]['load_after']))
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--sizes', default='1,8,32', help='comma-separated pair counts (default 1,8,32)')
    parser.add_argument('--max', type=int, default=None, help='also this many pairs (e.g. 64), if not listed')
    parser.add_argument('--reps', type=int, default=1, help='repetitions of each size (default 1)')
    parser.add_argument('--prefix', default='m16p', help='lab prefix; a size of N pairs uses <prefix>N (default m16p)')
    parser.add_argument('--json', help='also write the rows to this file')
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.error('needs root (network namespaces)')
    sizes = [int(s) for s in args.sizes.split(',') if s]
    if args.max and args.max not in sizes:
        sizes.append(args.max)
    for size in sizes:
        if not 1 <= size <= 64:
            parser.error('sizes must be 1..64 pairs (the default address plan), got %d' % size)
        if not re.match(r'^[a-z][a-z0-9]{0,9}$', '%s%d' % (args.prefix, size)):
            parser.error('prefix %r + %d is not a lab prefix (1-10 lowercase letters or digits)' % (args.prefix, size))
    print('%d CPUs, load average now %.2f; sizes %s, %d repetition(s)'
          % (os.cpu_count(), loadavg(), sizes, args.reps), flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix='bench-lab-scale-') as workdir:
        try:
            for dummy in range(args.reps):
                for size in sizes:
                    new = bench_size(size, '%s%d' % (args.prefix, size), workdir)
                    for row in new:
                        print('  %3d pairs %-8s %7.2f s  cpu %6.2f s  tasks %4d  changed %4d  load %.2f'
                              % (size, row['step'], row['seconds'], row['cpu_s'], row['tasks'], row['changed'],
                                 row['load_before']), flush=True)
                    rows.extend(new)
        except StepFailed as exc:
            print(table(rows, args.reps))
            print('FAILED: %s' % exc, file=sys.stderr)
            return 1
    print()
    print(table(rows, args.reps))
    if args.json:
        with open(args.json, 'w') as handle:
            json.dump({'cpus': os.cpu_count(), 'rows': rows}, handle, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
