#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: netns_wiring
short_description: Reconcile the network namespaces and veth links of a virtual lab
version_added: 0.1.0
description:
  - Creates the network namespaces and the veth pairs of a virtual lab on the machine it runs on,
    and removes the ones the lab no longer wants, in one call.
  - Ownership is by name. Only namespaces whose name starts with O(prefix) followed by C(-), and only
    veth links named the same way inside them, are ever read as the lab's, created or removed. Everything
    else on the machine is left alone; other devices of the lab's name in its namespaces (the shaper's
    ifb bottlenecks, see M(mptcp.lab.path_shaping)) belong to the module that made them and go with
    their namespace.
  - A link that exists but is wired wrong (its peer is not the wanted interface of the wanted
    namespace) is recreated. Every lab link and every loopback of a lab namespace is set up.
  - A stale entry of the lab in C(/run/netns) (C(<prefix>-*) that is not a network namespace, such as the
    empty file C(ip netns add) or this module leaves when killed between creating the entry and mounting
    the namespace on it) is removed, with O(state=present) and O(state=absent) alike, and created anew as
    a real namespace when it is wanted. An entry that cannot be removed (a directory) fails the run,
    naming it.
  - Before a namespace is removed, every process running in it is stopped (SIGTERM, then SIGKILL),
    comparing C(/proc/<pid>/ns/net) with the namespace, and its links are deleted so that their peers
    disappear at once.
  - With O(state=absent) every namespace of the lab is removed, with its processes, and so is every file
    of the lab in O(run_dir) (C(<run_dir>/<prefix>-*), the pidfiles, state files, logs and configuration
    files of the lab's supervised processes, see M(mptcp.lab.supervised_process)).
  - With O(state=present), the files in O(run_dir) named after a namespace that this run removes
    (C(<run_dir>/<namespace>-*)) go with it. A file belongs to the longest lab namespace name it starts
    with, so the files of C(mlab-gen1-x) are never taken for those of C(mlab-gen1).
  - Only regular files directly in O(run_dir) are removed; symbolic links, directories, other labs' files
    and files without the lab's prefix are left alone.
  - Addresses, routes and shaping are not this module's business (see M(mptcp.lab.path_routing) and
    M(mptcp.lab.path_shaping), which run inside the namespaces).
options:
  prefix:
    description:
      - The lab prefix. The lab owns the namespaces and links named C(<prefix>-*).
      - 1 to 10 lowercase letters or digits, starting with a letter.
    type: str
    required: true
  namespaces:
    description:
      - Namespaces the lab wants. Each name must start with C(<prefix>-).
    type: list
    elements: str
    default: []
  links:
    description:
      - veth pairs the lab wants. The end O(links[].name) is created in O(links[].netns), its peer
        O(links[].peer_name) in O(links[].peer_netns). Both namespaces must be in O(namespaces).
      - The filter M(mptcp.lab.lab_wiring) computes this list and O(namespaces) from the inventory.
    type: list
    elements: dict
    default: []
    suboptions:
      netns:
        description: Namespace of the first end.
        type: str
        required: true
      name:
        description: Interface name of the first end (C(<prefix>-*), at most 15 characters).
        type: str
        required: true
      peer_netns:
        description: Namespace of the peer end.
        type: str
        required: true
      peer_name:
        description: Interface name of the peer end (C(<prefix>-*), at most 15 characters).
        type: str
        required: true
  state:
    description:
      - V(present) creates what is wanted and removes the lab's namespaces and links that are not.
      - V(absent) removes every namespace of the lab (O(namespaces) and O(links) are ignored).
    type: str
    choices: [present, absent]
    default: present
  run_dir:
    description:
      - Directory of the supervised processes' files (M(mptcp.lab.supervised_process)); the files there
        that belong to a removed namespace of the lab are removed once their processes are gone.
    type: path
    default: /run/mptcp-lab
  kill_timeout:
    description:
      - Seconds a process of a removed namespace gets to exit after SIGTERM before it gets SIGKILL.
      - Processes are signalled through pidfds held from the scan that found them (never a pid that may
        have been reused), and the namespace is scanned again after each round until no process is left;
        after 5 rounds with processes still there (one that keeps forking, say) the module fails naming
        them, before removing the namespace.
    type: float
    default: 5
requirements:
  - pyroute2
  - root (CAP_SYS_ADMIN and CAP_NET_ADMIN)
notes:
  - Runs on the controller (the machine that holds the namespaces), not inside a namespace.
author:
  - mptcp.lab developers (@multipath-tcp)
extends_documentation_fragment:
  - mptcp.lab.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
'''

EXAMPLES = r'''
- name: Wire a lab of one pair and one path
  mptcp.lab.netns_wiring:
    prefix: mlab
    namespaces: [mlab-shaper, mlab-gen1, mlab-sink1]
    links:
      - {netns: mlab-shaper, name: mlab-1g1, peer_netns: mlab-gen1, peer_name: mlab-p1}
      - {netns: mlab-shaper, name: mlab-1s1, peer_netns: mlab-sink1, peer_name: mlab-p1}

- name: Wire the lab of the inventory
  mptcp.lab.netns_wiring:
    prefix: "{{ lab_prefix }}"
    namespaces: "{{ wiring.namespaces }}"
    links: "{{ wiring.links }}"
  vars:
    wiring: "{{ groups | mptcp.lab.lab_wiring(hostvars, lab_paths | length, prefix=lab_prefix) }}"

- name: Remove the whole lab, its processes and their files in /run/mptcp-lab included
  mptcp.lab.netns_wiring:
    prefix: mlab
    state: absent
'''

RETURN = r'''
namespaces:
  description: The lab's namespaces after the run (predicted in check mode).
  returned: always
  type: list
  elements: str
  sample: [mlab-gen1, mlab-shaper, mlab-sink1]
links:
  description: The lab's links after the run, as C(netns/name=peer_netns/peer_name).
  returned: always
  type: list
  elements: str
  sample: [mlab-shaper/mlab-1g1=mlab-gen1/mlab-p1]
actions:
  description: What was done (or would be done in check mode), in order; files removed from O(run_dir) last.
  returned: always
  type: list
  elements: str
  sample: ["remove stale entry /run/netns/mlab-gen1 (not a namespace)", "create namespace mlab-gen1",
           "create link mlab-shaper/mlab-1g1=mlab-gen1/mlab-p1",
           "remove /run/mptcp-lab/mlab-sink1-stats.log"]
diff:
  description:
    - The lab's namespaces and links, its files in O(run_dir) (C(run_files), names without the directory) and
      its stale entries in C(/run/netns) (C(stale_entries)), before and after the run.
  returned: when diff mode is on
  type: dict
  sample: {"before": {"namespaces": ["mlab-sink1"], "links": [], "run_files": ["mlab-sink1-stats.log"],
                      "stale_entries": ["mlab-gen1"]},
           "after": {"namespaces": [], "links": [], "run_files": [], "stale_entries": []}}
killed:
  description: Pids of the processes stopped because their namespace was removed.
  returned: always
  type: list
  elements: int
  sample: [4242]
'''

import os
import stat

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.mptcp.lab.plugins.module_utils.lab import lab_netlink as nl
from ansible_collections.mptcp.lab.plugins.module_utils.lab.lab_plan import IFNAMSIZ, PlanError, check_prefix


def link_id(link):
    return '%s/%s=%s/%s' % (link['netns'], link['name'], link['peer_netns'], link['peer_name'])


def validate(prefix, namespaces, links):
    """Fail early on input the lab must never act on; returns an error text or None."""
    try:
        check_prefix(prefix)
    except PlanError as exc:
        return 'prefix: %s' % exc
    owned = prefix + '-'
    seen = set()
    for name in namespaces:
        if not name.startswith(owned) or '/' in name or len(name) > 200:
            return 'namespaces: %r must start with %r (the lab only touches what carries its prefix)' % (name, owned)
        if name in seen:
            return 'namespaces: %r is listed twice' % name
        seen.add(name)
    ends = set()
    for i, link in enumerate(links):
        for ns_key, name_key in (('netns', 'name'), ('peer_netns', 'peer_name')):
            if link[ns_key] not in seen:
                return 'links[%d].%s: %r is not in namespaces' % (i, ns_key, link[ns_key])
            name = link[name_key]
            if not name.startswith(owned) or len(name) > IFNAMSIZ or '/' in name or ' ' in name:
                return ('links[%d].%s: %r must start with %r and have at most %d characters'
                        % (i, name_key, name, owned, IFNAMSIZ))
            end = (link[ns_key], name)
            if end in ends:
                return 'links[%d].%s: %s/%s is used by two links' % (i, name_key, link[ns_key], name)
            ends.add(end)
    return None


class Step(object):
    """``with Step('read namespace x'):`` turns a NetlinkError or an OSError into a LabNetlinkError naming the step.

    LabNetlinkErrors pass as they are: they name their object already.
    """

    def __init__(self, what):
        self.what = what

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if isinstance(exc, nl.NetlinkError):
            raise nl.LabNetlinkError('%s: %s' % (self.what, nl.netlink_message(exc)))
        if isinstance(exc, OSError):
            raise nl.LabNetlinkError('%s: %s' % (self.what, exc.strerror or exc))
        return False


class Wiring(object):
    """Read the lab's namespaces and links, compute and apply the difference."""

    def __init__(self, prefix, namespaces, links):
        self.prefix = prefix
        self.owned = prefix + '-'
        self.want_ns = list(namespaces)
        self.want_links = list(links)
        self.have_ns = []
        self.stale = []        # entries <prefix>-* in /run/netns that are not network namespaces
        self.have_links = {}   # netns -> {name: link info}, lab links only
        self.lo_down = []

    def read(self):
        with Step('list %s' % nl.NETNS_RUN_DIR):
            entries = [n for n in nl.list_netns() if n.startswith(self.owned)]
        for name in entries:
            with Step('inspect %s' % nl.netns_path(name)):
                live = nl.netns_is_live(name)
            (self.have_ns if live else self.stale).append(name)
        for name in self.have_ns:
            with Step('read the links of namespace %s' % name):
                with nl.open_netns(name) as ipr:
                    found = nl.links(ipr)
            # the lab's veths; other devices named <prefix>-* are other modules' (the shaper's ifb
            # bottlenecks: mptcp.lab.path_shaping) and go with their namespace
            self.have_links[name] = dict((k, v) for k, v in found.items()
                                         if k.startswith(self.owned) and v['kind'] == 'veth')
            if 'lo' in found and not found['lo']['up']:
                self.lo_down.append(name)
        return self

    def _wired(self, link, nsids):
        """True when both ends exist and are each other's veth peers across the right namespaces."""
        one = self.have_links.get(link['netns'], {}).get(link['name'])
        two = self.have_links.get(link['peer_netns'], {}).get(link['peer_name'])
        if not one or not two or one['kind'] != 'veth' or two['kind'] != 'veth':
            return False
        if one['peer_index'] != two['index'] or two['peer_index'] != one['index']:
            return False
        return one['peer_nsid'] is not None and one['peer_nsid'] == nsids.get((link['netns'], link['peer_netns']))

    def plan(self):
        """Compute the actions; returns a dict of lists."""
        want_ns = set(self.want_ns)
        remove_ns = [n for n in self.have_ns if n not in want_ns]
        create_ns = [n for n in self.want_ns if n not in self.have_ns]
        nsids = self._nsids()
        wired, create_links, up_links = [], [], []
        for link in self.want_links:
            if self._wired(link, nsids):
                wired.append(link)
                one = self.have_links[link['netns']][link['name']]
                two = self.have_links[link['peer_netns']][link['peer_name']]
                if not one['up'] or not two['up']:
                    up_links.append(link)
            else:
                create_links.append(link)
        keep = set()
        for link in wired:
            keep.add((link['netns'], link['name']))
            keep.add((link['peer_netns'], link['peer_name']))
        remove_links = []
        for ns in self.have_ns:
            if ns not in want_ns:
                continue  # goes with its namespace
            for name in sorted(self.have_links.get(ns, {})):
                if (ns, name) not in keep:
                    remove_links.append((ns, name))
        return {'wired': wired, 'keep': keep, 'remove_stale': list(self.stale),
                'remove_ns': remove_ns, 'create_ns': create_ns, 'remove_links': remove_links,
                'create_links': create_links, 'up_links': up_links,
                'lo_up': [n for n in self.lo_down if n in want_ns]}

    def _nsids(self):
        """Namespace ids, as (from, to) -> nsid, for the pairs of existing namespaces the links need."""
        pairs = set()
        for link in self.want_links:
            if link['netns'] in self.have_links and link['peer_netns'] in self.have_links:
                pairs.add((link['netns'], link['peer_netns']))
        nsids = {}
        for source in sorted(set(p[0] for p in pairs)):
            with Step('read the namespace ids of namespace %s' % source):
                with nl.open_netns(source) as ipr:
                    for target in sorted(p[1] for p in pairs if p[0] == source):
                        nsids[(source, target)] = nl.netnsid(ipr, target)
        return nsids

    @staticmethod
    def actions(plan):
        out = []
        out += ['remove stale entry %s (not a namespace)' % nl.netns_path(n) for n in plan['remove_stale']]
        out += ['remove namespace %s' % n for n in plan['remove_ns']]
        out += ['remove link %s/%s' % (ns, name) for ns, name in plan['remove_links']]
        out += ['create namespace %s' % n for n in plan['create_ns']]
        out += ['create link %s' % link_id(link) for link in plan['create_links']]
        out += ['set up %s' % link_id(link) for link in plan['up_links']]
        out += ['set up %s/lo' % n for n in plan['lo_up']]
        return out

    def apply(self, plan, kill_timeout):
        for name in plan['remove_stale']:
            with Step('remove stale entry %s' % nl.netns_path(name)):
                nl.delete_netns(name)
        killed = []
        if plan['remove_ns']:
            with Step('stop the processes of namespace(s) %s' % ', '.join(plan['remove_ns'])):
                killed = nl.kill_netns_pids(plan['remove_ns'], kill_timeout)
        # When every namespace of the lab goes, each one's links go with it: the kernel unregisters the
        # devices of dying namespaces in one batch, where deleting 128 veth pairs one by one costs one
        # RCU grace period each (several seconds). When some stay, the links towards them are deleted
        # first, so that their ends there are gone at once (and can be made again under the same name).
        whole_lab = not set(self.have_ns) - set(plan['remove_ns'])
        for name in plan['remove_ns']:
            self.remove_namespace(name, links_first=not whole_lab)
        by_ns = {}
        for ns, name in plan['remove_links']:
            by_ns.setdefault(ns, []).append(name)
        for ns, names in sorted(by_ns.items()):
            with Step('remove links of namespace %s' % ns):
                with nl.open_netns(ns) as ipr:
                    current = nl.links(ipr)
                    for name in names:
                        if name in current:
                            nl.delete_link(ipr, current[name]['index'], '%s/%s' % (ns, name))
        for name in plan['create_ns']:
            with Step('create namespace %s' % name):
                nl.create_netns(name)
        for name in plan['lo_up']:
            with Step('set up %s/lo' % name):
                with nl.open_netns(name) as ipr:
                    nl.set_up(ipr, 1, '%s/lo' % name)
        self._create_links(plan['create_links'], plan['up_links'])
        return killed

    def remove_namespace(self, name, links_first=True):
        """Delete the lab's links of a namespace (their peers go at once) if asked, then the namespace."""
        with Step('remove namespace %s' % name):
            if links_first:
                with nl.open_netns(name) as ipr:
                    for link_name, info in sorted(nl.links(ipr).items()):
                        if link_name.startswith(self.owned):
                            nl.delete_link(ipr, info['index'], '%s/%s' % (name, link_name))
            nl.delete_netns(name)

    @staticmethod
    def _create_links(create, up):
        by_ns = {}
        for link in create:
            by_ns.setdefault(link['netns'], []).append(link)
        for ns, items in sorted(by_ns.items()):
            with Step('create links in namespace %s' % ns):
                with nl.open_netns(ns) as ipr:
                    for link in items:
                        nl.add_veth(ipr, link['name'], link['peer_name'], link['peer_netns'])
        ends = {}
        for link in create + up:
            ends.setdefault(link['netns'], []).append(link['name'])
            ends.setdefault(link['peer_netns'], []).append(link['peer_name'])
        for ns, names in sorted(ends.items()):
            with Step('set up links in namespace %s' % ns):
                with nl.open_netns(ns) as ipr:
                    current = nl.links(ipr)
                    for name in names:
                        if name not in current:
                            raise nl.LabNetlinkError('link %s/%s vanished after its creation' % (ns, name))
                        if not current[name]['up']:
                            nl.set_up(ipr, current[name]['index'], '%s/%s' % (ns, name))


def lab_run_files(run_dir, prefix):
    """Names of the lab's files in run_dir: regular files (not symbolic links) named <prefix>-*."""
    try:
        entries = sorted(os.listdir(run_dir))
    except OSError:
        return []
    found = []
    for entry in entries:
        if not entry.startswith(prefix + '-'):
            continue
        try:
            mode = os.lstat(os.path.join(run_dir, entry)).st_mode
        except OSError:
            continue
        if stat.S_ISREG(mode):
            found.append(entry)
    return found


def run_files_to_remove(files, prefix, removed_ns, known_ns, absent):
    """The files (of lab_run_files) that belong to a removed namespace of the lab.

    With state=absent every namespace of the lab goes, so every file named <prefix>-* goes, also those of
    namespaces that are already gone. Otherwise a file is <namespace>-*, of the longest known namespace name
    it starts with, and goes when that namespace is removed.
    """
    if absent:
        return [f for f in files if f.startswith(prefix + '-')]
    removed = set(removed_ns)
    names = sorted(set(known_ns) | removed, key=len, reverse=True)
    out = []
    for name in files:
        owner = next((ns for ns in names if name.startswith(ns + '-')), None)
        if owner in removed:
            out.append(name)
    return out


def remove_run_files(run_dir, names):
    """Unlink the files (gone already is fine); returns the paths removed."""
    removed = []
    for name in names:
        path = os.path.join(run_dir, name)
        try:
            if not stat.S_ISREG(os.lstat(path).st_mode):
                continue
            os.unlink(path)
        except FileNotFoundError:
            continue
        removed.append(path)
    return removed


def run(module):
    p = module.params
    prefix = p['prefix']
    absent = p['state'] == 'absent'
    namespaces = [] if absent else p['namespaces']
    links = [] if absent else p['links']
    error = validate(prefix, namespaces, links)
    if error:
        module.fail_json(msg=error)
    if os.geteuid() != 0:
        module.fail_json(msg='netns_wiring needs root (it creates namespaces and links)')

    actions = []
    try:
        return reconcile(module, prefix, namespaces, links, absent, actions)
    except (nl.LabNetlinkError, nl.NetlinkError, OSError) as exc:
        if isinstance(exc, nl.NetlinkError):
            text = 'netlink: %s' % nl.netlink_message(exc)
        elif isinstance(exc, nl.LabNetlinkError):
            text = str(exc)
        else:
            text = '%s: %s' % (getattr(exc, 'filename', None) or 'system call', exc.strerror or exc)
        module.fail_json(msg='netns_wiring (lab %s): %s' % (prefix, text), actions=actions)


def reconcile(module, prefix, namespaces, links, absent, actions):
    """Read, plan and (outside check mode) apply; ``actions`` is filled as soon as they are known."""
    p = module.params
    wiring = Wiring(prefix, namespaces, links).read()
    plan = wiring.plan()
    actions.extend(Wiring.actions(plan))
    known_ns = set(wiring.have_ns) | set(wiring.stale) | set(namespaces)
    gone_ns = plan['remove_ns'] + [n for n in wiring.stale if n not in namespaces]
    files = lab_run_files(p['run_dir'], prefix)
    doomed = run_files_to_remove(files, prefix, gone_ns, known_ns, absent)
    before = {'namespaces': sorted(wiring.have_ns), 'links': sorted(_have_link_ids(wiring, plan)),
              'run_files': files, 'stale_entries': sorted(wiring.stale)}
    after = {'namespaces': sorted(namespaces), 'links': sorted(link_id(link) for link in links),
             'run_files': [f for f in files if f not in doomed], 'stale_entries': []}
    result = {'changed': bool(actions or doomed), 'namespaces': after['namespaces'], 'links': after['links'],
              'actions': actions + ['remove %s' % os.path.join(p['run_dir'], f) for f in doomed], 'killed': []}
    if module.check_mode:
        if module._diff:
            result['diff'] = {'before': before, 'after': after}
        return result
    result['killed'] = wiring.apply(plan, p['kill_timeout'])
    # Listed again: the stopped processes may have written their last files meanwhile.
    files = lab_run_files(p['run_dir'], prefix)
    with Step('remove the lab\'s files in %s' % p['run_dir']):
        gone = remove_run_files(p['run_dir'], run_files_to_remove(files, prefix, gone_ns, known_ns, absent))
    result['actions'] = actions + ['remove %s' % path for path in gone]
    result['changed'] = bool(actions or gone)
    if module._diff:
        gone_names = set(os.path.basename(path) for path in gone)
        after['run_files'] = [f for f in files if f not in gone_names]
        result['diff'] = {'before': before, 'after': after}
    return result


def _have_link_ids(wiring, plan):
    """The lab's existing links: wired ones as netns/name=peer_netns/peer_name, stray ends as netns/name."""
    ids = [link_id(link) for link in plan['wired']]
    for ns, found in sorted(wiring.have_links.items()):
        ids += ['%s/%s' % (ns, name) for name in sorted(found) if (ns, name) not in plan['keep']]
    return ids


def main():
    module = AnsibleModule(
        argument_spec=dict(
            prefix=dict(type='str', required=True),
            namespaces=dict(type='list', elements='str', default=[]),
            links=dict(type='list', elements='dict', default=[], options=dict(
                netns=dict(type='str', required=True),
                name=dict(type='str', required=True),
                peer_netns=dict(type='str', required=True),
                peer_name=dict(type='str', required=True),
            )),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            run_dir=dict(type='path', default='/run/mptcp-lab'),
            kill_timeout=dict(type='float', default=5.0),
        ),
        supports_check_mode=True,
    )
    if not nl.HAS_PYROUTE2:
        module.fail_json(msg=missing_required_lib('pyroute2'), exception=nl.PYROUTE2_IMPORT_ERROR)
    module.exit_json(**run(module))


if __name__ == '__main__':
    main()
