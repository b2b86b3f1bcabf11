#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: nic_offloads
short_description: Keep or set the offloads (GRO, GSO, TSO, LRO) of network interfaces, and record them
version_added: 0.1.0
description:
  - Reads the offload features of each listed interface and, for each offload given a value, sets it;
    an offload left out (or null) is kept as it is. The state of every offload is returned either way, so
    that a perf run records what its NICs did.
  - Uses the kernel's ethtool interface (C(ETHTOOL_GFEATURES)/C(ETHTOOL_SFEATURES), what C(ethtool -k)
    and C(ethtool -K) use) through pyroute2; acts on the network namespace the module runs in.
  - The offload short names map to kernel features as C(ethtool -K) does. V(gro) is C(rx-gro), V(gso) is
    C(tx-generic-segmentation), V(tso) is every C(tx-tcp*-segmentation) feature the kernel has, V(lro) is
    C(rx-lro), V(gro_hw) is C(rx-gro-hw). Other features can be named raw in O(devices[].features).
  - With O(save_file), the value each feature had before this module first changed it is kept in that
    file. O(state=restored) puts those values back and removes the file, so a lab can give a machine back
    as it found it.
options:
  devices:
    description: The interfaces, each with the offloads to set. Offloads not given are kept.
    type: list
    elements: dict
    default: []
    suboptions:
      dev:
        description: Interface name. It must exist.
        type: str
        required: true
      gro:
        description: Generic receive offload (C(rx-gro)). Null keeps it.
        type: bool
      gso:
        description: Generic segmentation offload (C(tx-generic-segmentation)). Null keeps it.
        type: bool
      tso:
        description: TCP segmentation offload (every C(tx-tcp*-segmentation) feature). Null keeps it.
        type: bool
      lro:
        description: Large receive offload (C(rx-lro)). Null keeps it.
        type: bool
      gro_hw:
        description: Hardware GRO (C(rx-gro-hw)). Null keeps it.
        type: bool
      features:
        description: Other features by their kernel name (as C(ethtool -k) lists them), to a bool.
        type: dict
        default: {}
  save_file:
    description:
      - File on the host that keeps the value of every feature before its first change by this module.
        Entries are only ever added (a later run does not overwrite the original value).
      - Required with O(state=restored).
    type: path
  state:
    description:
      - V(present) sets the given offloads and keeps the others.
      - V(restored) sets every feature in O(save_file) back to its saved value, then removes the file.
        O(devices) is ignored; interfaces that no longer exist are skipped with a warning.
    type: str
    choices: [present, restored]
    default: present
requirements:
  - pyroute2
author:
  - mptcp.lab developers (@multipath-tcp)
extends_documentation_fragment:
  - mptcp.lab.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
notes:
  - A feature the driver cannot change (C([fixed]) in C(ethtool -k)) fails the module when asked for
    the other state. A fixed member of the V(tso) group (a NIC without IPv6 TSO, say) is left alone.
  - The kernel may keep a feature off while a feature it depends on is off (TSO needs scatter-gather and
    checksumming); the module then fails naming the feature, after the change.
'''

EXAMPLES = r'''
- name: Record the offloads of the path interfaces, changing nothing
  mptcp.lab.nic_offloads:
    devices:
      - dev: enp1s0f0
      - dev: enp1s0f1
  register: offloads

- name: Turn GRO and TSO off on a path interface, keep GSO, remember the originals
  mptcp.lab.nic_offloads:
    devices:
      - {dev: enp1s0f0, gro: false, tso: false}
    save_file: /var/lib/mptcp-lab/offloads.json
  become: true

- name: Give the machine back its original offloads
  mptcp.lab.nic_offloads:
    state: restored
    save_file: /var/lib/mptcp-lab/offloads.json
  become: true
'''

RETURN = r'''
offloads:
  description:
    - Per interface, the state of each offload after the run, ethtool-style (V(on), V(off), V(off [fixed]),
      or V(mixed) when the features of a group differ), and of each raw feature named.
    - Offloads the kernel does not know for that interface are left out.
  returned: always
  type: dict
  sample: {enp1s0f0: {gro: "off", gso: "on", tso: "off", lro: "off [fixed]", gro_hw: "off [fixed]"}}
changes:
  description: Per interface, the kernel features changed (or, in check mode, to change) and their new value.
  returned: always
  type: dict
  sample: {enp1s0f0: {rx-gro: false, tx-tcp-segmentation: false}}
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.mptcp.lab.plugins.module_utils.lab import host_tuning as ht

SETTINGS = ht.OFFLOAD_NAMES


def validate(devices):
    """Returns an error text or None."""
    seen = set()
    for i, item in enumerate(devices):
        field = 'devices[%d]' % i
        if not item['dev'] or '/' in item['dev'] or len(item['dev']) > 15:
            return '%s.dev must be an interface name (1-15 characters, no "/"), got %r' % (field, item['dev'])
        if item['dev'] in seen:
            return '%s.dev %s is listed twice' % (field, item['dev'])
        seen.add(item['dev'])
        for name, value in (item.get('features') or {}).items():
            if not ht.FEATURE_RE.match(str(name)):
                return '%s.features: %r is not a kernel feature name (as ethtool -k lists them)' % (field, name)
            if not isinstance(value, bool):
                return '%s.features.%s must be true or false, got %r' % (field, name, value)
    return None


def wanted_of(item):
    """{offload or raw feature: bool or None} of one device item."""
    wanted = dict((name, item.get(name)) for name in SETTINGS)
    wanted.update(item.get('features') or {})
    return wanted


def plan(devices, read=ht.read_features):
    """Per device: (features before, changes). Raises TuningError."""
    out = []
    for i, item in enumerate(devices):
        field = 'devices[%d]' % i
        try:
            features = read(item['dev'])
        except ht.TuningError as exc:
            raise ht.TuningError('%s: %s' % (field, exc))
        out.append((item, features, ht.plan_features(features, wanted_of(item), field)))
    return out


def predicted(features, changes):
    after = dict((k, dict(v)) for k, v in features.items())
    for name, value in changes.items():
        after[name]['active'] = value
        after[name]['requested'] = value
    return after


def merge_saved(saved, dev, features, changes):
    """Add the original value of each feature about to change; returns True when something was added."""
    entry = saved.setdefault(dev, {})
    added = False
    for name in changes:
        if name not in entry:
            entry[name] = features[name]['active']
            added = True
    return added


def run_present(module):
    p = module.params
    error = validate(p['devices'])
    if error:
        module.fail_json(msg=error)
    try:
        planned = plan(p['devices'])
    except ht.TuningError as exc:
        module.fail_json(msg=str(exc))
    changes = dict((item['dev'], ch) for item, _f, ch in planned if ch)
    changed = bool(changes)
    before, after = {}, {}
    for item, features, ch in planned:
        extra = sorted((item.get('features') or {}).keys())
        before[item['dev']] = ht.summarize(features, extra)
        after[item['dev']] = ht.summarize(predicted(features, ch), extra)
    if changed and not module.check_mode:
        try:
            if p['save_file']:
                saved = ht.load_saved(p['save_file']) or {}
                added = False
                for item, features, ch in planned:
                    added = merge_saved(saved, item['dev'], features, ch) or added
                if added:
                    ht.save_state(p['save_file'], saved)
            for i, (item, _features, ch) in enumerate(planned):
                ht.write_features(item['dev'], ch)
                if ch:
                    now = ht.read_features(item['dev'])
                    ht.check_applied(now, ch, 'devices[%d]' % i)
                    after[item['dev']] = ht.summarize(now, sorted((item.get('features') or {}).keys()))
        except ht.TuningError as exc:
            module.fail_json(msg=str(exc), changes=changes)
    result = dict(changed=changed, offloads=after, changes=changes)
    if module._diff:
        result['diff'] = {'before': before, 'after': after}
    return result


def run_restored(module):
    path = module.params['save_file']
    if not path:
        module.fail_json(msg='save_file: required when state is restored')
    try:
        saved = ht.load_saved(path)
    except ht.TuningError as exc:
        module.fail_json(msg=str(exc))
    if saved is None:
        return dict(changed=False, offloads={}, changes={})
    changes, before, after = {}, {}, {}
    for dev in sorted(saved):
        try:
            features = ht.read_features(dev)
        except ht.TuningError:
            module.warn('%s no longer exists: its saved offloads are dropped' % dev)
            continue
        want = dict((name, value) for name, value in saved[dev].items() if name in features)
        ch = dict((n, v) for n, v in want.items() if features[n]['active'] != v and features[n]['available'])
        before[dev] = ht.summarize(features)
        after[dev] = ht.summarize(predicted(features, ch))
        if ch:
            changes[dev] = ch
    if not module.check_mode:
        try:
            for dev, ch in sorted(changes.items()):
                ht.write_features(dev, ch)
            ht.remove_saved(path)
        except ht.TuningError as exc:
            module.fail_json(msg=str(exc), changes=changes)
    # removing the file is a change too
    result = dict(changed=True, offloads=after, changes=changes)
    if module._diff:
        result['diff'] = {'before': dict(before, save_file=path), 'after': after}
    return result


def main():
    setting = dict(type='bool')
    module = AnsibleModule(
        argument_spec=dict(
            devices=dict(type='list', elements='dict', default=[], options=dict(
                dev=dict(type='str', required=True),
                gro=setting, gso=setting, tso=setting, lro=setting, gro_hw=setting,
                features=dict(type='dict', default={}),
            )),
            save_file=dict(type='path'),
            state=dict(type='str', choices=['present', 'restored'], default='present'),
        ),
        supports_check_mode=True,
    )
    if not ht.HAS_PYROUTE2:
        module.fail_json(msg=missing_required_lib('pyroute2'), exception=ht.PYROUTE2_IMPORT_ERROR)
    if module.params['state'] == 'restored':
        module.exit_json(**run_restored(module))
    module.exit_json(**run_present(module))


if __name__ == '__main__':
    main()
