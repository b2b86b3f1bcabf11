#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: cpu_tuning
short_description: CPU frequency governor and NIC IRQ affinity of a lab machine, set or kept, and recorded
version_added: 0.1.0
description:
  - Optionally sets the cpufreq scaling governor of every online CPU, and pins the IRQs of network
    interfaces to a CPU list. What is not asked for is kept. The state is returned either way, so that a
    perf run records it.
  - The IRQs of an interface are the MSI/MSI-X vectors of its device (C(/sys/class/net/<dev>/device/msi_irqs),
    or its parent's on a bus such as virtio), pinned through C(/proc/irq/<n>/smp_affinity_list).
  - O(process_cpus) is only checked (every CPU must be online) and returned in canonical form; the
    lab's traffic processes are pinned to it when they start.
  - The governor and IRQ affinity are machine-wide, not per network namespace.
  - With O(save_file), the governor and IRQ affinities before this module first changed them are kept in
    that file, and O(state=restored) puts them back and removes the file.
options:
  governor:
    description:
      - Scaling governor for every online CPU (for example V(performance)); null keeps the current one.
      - It must be one the kernel offers on every CPU (C(scaling_available_governors)). A host without
        cpufreq (most VMs) fails when a governor is asked for.
    type: str
  irqs:
    description: Interfaces whose IRQs to record and, when O(irqs[].cpus) is set, to pin.
    type: list
    elements: dict
    default: []
    suboptions:
      dev:
        description: Interface name (a physical NIC; virtual interfaces have no IRQs).
        type: str
        required: true
      cpus:
        description: CPU list (C(2), C(2-3), C(0,2-3)) for every IRQ of O(irqs[].dev); null only records.
        type: str
  process_cpus:
    description: CPU list for the lab's traffic processes on this host; checked and returned, not applied here.
    type: str
  save_file:
    description:
      - File on the host that keeps the governor and IRQ affinities before their first change.
      - Required with O(state=restored).
    type: path
  state:
    description:
      - V(present) applies the options. V(restored) puts back what O(save_file) holds, then removes it.
    type: str
    choices: [present, restored]
    default: present
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
  - irqbalance moves IRQs around and undoes pinning; the module warns when it runs. Stop it for the
    duration of the lab (the C(mptcp.lab.host_prep) role can).
  - Kernel-managed IRQs (common on multi-queue NICs with one vector per CPU) refuse a new affinity; the
    module fails naming the IRQ.
'''

EXAMPLES = r'''
- name: Record the governor and the IRQ affinity of the path NICs
  mptcp.lab.cpu_tuning:
    irqs:
      - dev: enp1s0f0

- name: Performance governor, NIC IRQs on CPU 2, traffic processes on CPU 3
  mptcp.lab.cpu_tuning:
    governor: performance
    irqs:
      - {dev: enp1s0f0, cpus: "2"}
      - {dev: enp1s0f1, cpus: "2"}
    process_cpus: "3"
    save_file: /var/lib/mptcp-lab/cpu.json
  become: true
'''

RETURN = r'''
cpus_online:
  description: The online CPUs, as a CPU list.
  returned: always
  type: str
  sample: "0-7"
governor:
  description: The scaling governor of each online CPU after the run; empty without cpufreq.
  returned: always
  type: dict
  sample: {"0": performance, "1": performance}
governors_available:
  description: The governors every CPU offers.
  returned: always
  type: list
  elements: str
  sample: [performance, powersave]
irq_affinity:
  description: Per interface, the affinity of each of its IRQs after the run (empty for virtual interfaces).
  returned: always
  type: dict
  sample: {enp1s0f0: {"120": "2", "121": "2"}}
irqbalance:
  description: Whether an irqbalance process is running.
  returned: always
  type: bool
process_cpus:
  description: O(process_cpus) in canonical form, or null.
  returned: always
  type: str
  sample: "3"
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mptcp.lab.plugins.module_utils.lab import host_tuning as ht


class Paths(object):
    """Where the state lives (parameters so that unit tests use a scratch tree)."""

    def __init__(self, sys_cpu=ht.SYS_CPU, sys_net=ht.SYS_NET, proc_irq=ht.PROC_IRQ, proc=ht.PROC):
        self.sys_cpu, self.sys_net, self.proc_irq, self.proc = sys_cpu, sys_net, proc_irq, proc


def read_state(irq_devs, paths):
    governors, available = ht.read_governors(paths.sys_cpu)
    irqs = {}
    for dev in irq_devs:
        irqs[dev] = dict((str(irq), ht.read_irq_affinity(irq, paths.proc_irq)) for irq in ht.dev_irqs(dev, paths.sys_net))
    return {'governor': dict((str(c), g) for c, g in governors.items()), 'governors_available': available,
            'irq_affinity': irqs}


def plan(params, paths):
    """(state before, wanted changes {governor: {cpu: gov}, irq: {irq: cpulist}}, process_cpus).

    Raises TuningError naming the option.
    """
    seen = set()
    for i, item in enumerate(params['irqs']):
        if item['dev'] in seen:
            raise ht.TuningError('irqs[%d].dev %s is listed twice' % (i, item['dev']))
        seen.add(item['dev'])
    process_cpus = None
    if params['process_cpus'] is not None:
        process_cpus = ht.check_cpus(params['process_cpus'], 'process_cpus', paths.sys_cpu)
    wanted_irq = {}
    for i, item in enumerate(params['irqs']):
        if item['cpus'] is not None:
            wanted_irq[item['dev']] = ht.check_cpus(item['cpus'], 'irqs[%d].cpus' % i, paths.sys_cpu)
    try:
        state = read_state([item['dev'] for item in params['irqs']], paths)
    except ht.TuningError as exc:
        raise ht.TuningError('irqs: %s' % exc)
    changes = {'governor': {}, 'irq': {}}
    governor = params['governor']
    if governor is not None:
        if not state['governor']:
            raise ht.TuningError('governor: this host has no cpufreq scaling (%s/cpu*/cpufreq is absent, as on '
                                 'most VMs); leave governor unset (null)' % paths.sys_cpu)
        if governor not in state['governors_available']:
            raise ht.TuningError('governor: %r is not offered by every CPU; available: %s'
                                 % (governor, ', '.join(state['governors_available']) or 'none'))
        changes['governor'] = dict((cpu, governor) for cpu, cur in state['governor'].items() if cur != governor)
    for i, item in enumerate(params['irqs']):
        dev = item['dev']
        if dev not in wanted_irq:
            continue
        if not state['irq_affinity'][dev]:
            raise ht.TuningError('irqs[%d]: %s has no IRQs of its own (a virtual interface, a VLAN or a bond?); '
                                 'name the physical NIC' % (i, dev))
        for irq, cur in state['irq_affinity'][dev].items():
            if cur is None or ht.format_cpulist(ht.parse_cpulist(cur)) != wanted_irq[dev]:
                changes['irq'][irq] = wanted_irq[dev]
    return state, changes, process_cpus


def after_state(state, changes):
    gov = dict(state['governor'], **changes['governor'])
    irqs = {}
    for dev, affinity in state['irq_affinity'].items():
        irqs[dev] = dict((irq, changes['irq'].get(irq, cur)) for irq, cur in affinity.items())
    return dict(state, governor=gov, irq_affinity=irqs)


def saved_entries(saved, state, changes):
    """Add the original value of everything about to change; returns True when something was added."""
    added = False
    for cpu in changes['governor']:
        entry = saved.setdefault('governor', {})
        if cpu not in entry:
            entry[cpu] = state['governor'][cpu]
            added = True
    originals = {}
    for affinity in state['irq_affinity'].values():
        originals.update(affinity)
    for irq in changes['irq']:
        entry = saved.setdefault('irq', {})
        if irq not in entry:
            entry[irq] = originals[irq]
            added = True
    return added


def apply(changes, paths):
    for cpu, gov in sorted(changes['governor'].items()):
        ht.write_governor(int(cpu), gov, paths.sys_cpu)
    for irq, cpus in sorted(changes['irq'].items(), key=lambda kv: int(kv[0])):
        ht.write_irq_affinity(int(irq), cpus, paths.proc_irq)


def run_present(module, paths):
    p = module.params
    try:
        state, changes, process_cpus = plan(p, paths)
    except ht.TuningError as exc:
        module.fail_json(msg=str(exc))
    changed = bool(changes['governor'] or changes['irq'])
    after = after_state(state, changes)
    if changed and not module.check_mode:
        try:
            if p['save_file']:
                saved = ht.load_saved(p['save_file']) or {}
                if saved_entries(saved, state, changes):
                    ht.save_state(p['save_file'], saved)
            apply(changes, paths)
            after = read_state([item['dev'] for item in p['irqs']], paths)
        except ht.TuningError as exc:
            module.fail_json(msg=str(exc))
    return finish(module, changed, state, after, process_cpus, paths)


def run_restored(module, paths):
    path = module.params['save_file']
    if not path:
        module.fail_json(msg='save_file: required when state is restored')
    try:
        saved = ht.load_saved(path)
        state = read_state([], paths)
    except ht.TuningError as exc:
        module.fail_json(msg=str(exc))
    if saved is None:
        return finish(module, False, state, state, None, paths)
    changes = {'governor': dict((cpu, gov) for cpu, gov in (saved.get('governor') or {}).items()
                                if cpu in state['governor'] and state['governor'][cpu] != gov),
               'irq': {}}
    for irq, cpus in sorted((saved.get('irq') or {}).items()):
        current = ht.read_irq_affinity(int(irq), paths.proc_irq)
        if current is None:
            module.warn('IRQ %s no longer exists: its saved affinity is dropped' % irq)
        elif cpus and ht.parse_cpulist(current) != ht.parse_cpulist(cpus):
            changes['irq'][irq] = cpus
    after = after_state(state, changes)
    if not module.check_mode:
        try:
            apply(changes, paths)
            ht.remove_saved(path)
        except ht.TuningError as exc:
            module.fail_json(msg=str(exc))
    result = finish(module, True, dict(state, save_file=path), after, None, paths)
    result['restored'] = changes
    return result


def finish(module, changed, before, after, process_cpus, paths):
    result = dict(changed=changed, cpus_online=ht.format_cpulist(ht.online_cpus(paths.sys_cpu)),
                  governor=after['governor'], governors_available=after['governors_available'],
                  irq_affinity=after['irq_affinity'], irqbalance=ht.irqbalance_running(paths.proc),
                  process_cpus=process_cpus)
    if result['irqbalance'] and any(item.get('cpus') for item in module.params['irqs']):
        module.warn('irqbalance is running and will move the pinned IRQs; stop it for the lab')
    if module._diff:
        keys = ('governor', 'irq_affinity')
        result['diff'] = {'before': dict((k, before[k]) for k in keys), 'after': dict((k, after[k]) for k in keys)}
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            governor=dict(type='str'),
            irqs=dict(type='list', elements='dict', default=[], options=dict(
                dev=dict(type='str', required=True),
                cpus=dict(type='str'),
            )),
            process_cpus=dict(type='str'),
            save_file=dict(type='path'),
            state=dict(type='str', choices=['present', 'restored'], default='present'),
        ),
        supports_check_mode=True,
    )
    paths = Paths()
    if module.params['state'] == 'restored':
        module.exit_json(**run_restored(module, paths))
    module.exit_json(**run_present(module, paths))


if __name__ == '__main__':
    main()
