#!/usr/bin/env python
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write a virtual-lab inventory with N generator/sink pairs.

The inventory is the default one (inventories/virtual) with more pairs: its
group_vars are copied as they are, hosts.yml lists the pairs, and
group_vars/all/zz-generated.yml sets the prefix (and the paths, if given).

    scripts/lab-inventory.py --pairs 8 --prefix mlab8 --out /tmp/lab8
    ansible-playbook -i /tmp/lab8 playbooks/provision.yml
    ansible-playbook -i /tmp/lab8 playbooks/teardown.yml

--rates 50,50 sets lab_paths to two 50 Mbit/s paths.
"""

import argparse
import json
import os
import re
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEMPLATE = os.path.join(ROOT, 'inventories', 'virtual')


def hosts(prefix, pairs):
    """The hosts.yml content (JSON is YAML) for ``pairs`` pairs."""
    generators = {}
    sinks = {}
    for pair in range(1, pairs + 1):
        generators['%s-gen%d' % (prefix, pair)] = {'lab_pair': pair, 'lab_peer': '%s-sink%d' % (prefix, pair)}
        sinks['%s-sink%d' % (prefix, pair)] = {'lab_pair': pair}
    return {'all': {'children': {'lab': {
        'vars': {'ansible_connection': 'mptcp.lab.netns',
                 'ansible_python_interpreter': '{{ ansible_playbook_python }}'},
        'children': {
            'generators': {'hosts': generators},
            'sinks': {'hosts': sinks},
            'shapers': {'hosts': {'%s-shaper' % prefix: {}}},
        }}}}}


def write(out, prefix, pairs, rates=None):
    """Create the inventory directory ``out`` (replacing its hosts and generated vars)."""
    if not re.match(r'^[a-z][a-z0-9]{0,9}$', prefix):
        raise ValueError('prefix must be 1-10 lowercase letters or digits, starting with a letter')
    if pairs < 1:
        raise ValueError('pairs must be at least 1')
    os.makedirs(out, exist_ok=True)
    shutil.copytree(os.path.join(TEMPLATE, 'group_vars'), os.path.join(out, 'group_vars'), dirs_exist_ok=True)
    with open(os.path.join(out, 'hosts.yml'), 'w') as handle:
        json.dump(hosts(prefix, pairs), handle, indent=1, sort_keys=True)
    extra = {'lab_prefix': prefix}
    if rates:
        extra['lab_paths'] = [{'rate_mbit': rate} for rate in rates]
    with open(os.path.join(out, 'group_vars', 'all', 'zz-generated.yml'), 'w') as handle:
        handle.write('# written by scripts/lab-inventory.py\n')
        json.dump(extra, handle, indent=1, sort_keys=True)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--pairs', type=int, default=1, help='generator/sink pairs (default 1)')
    parser.add_argument('--prefix', default='mlab', help='lab prefix (default mlab)')
    parser.add_argument('--rates', help='comma-separated path rates in Mbit/s (default: the inventory\'s lab_paths)')
    parser.add_argument('--out', required=True, help='inventory directory to write')
    args = parser.parse_args(argv)
    rates = [float(r) if '.' in r else int(r) for r in args.rates.split(',')] if args.rates else None
    try:
        write(args.out, args.prefix, args.pairs, rates)
    except ValueError as exc:
        parser.error(str(exc))
    print(args.out)
    return 0


if __name__ == '__main__':
    sys.exit(main())
