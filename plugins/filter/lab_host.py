# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What the lab_host role configures on a host, from the role's variables.

Documentation: lab_host_specs.yml beside this file. The role runs two ways:
on the host itself (SSH, a VM, a namespace through mptcp.lab.netns), or on
the controller for every host of the virtual lab at once (one
mptcp.lab.lab_host_config call). Both go through host_spec(), so a variable
means the same either way.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.mptcp.lab.plugins.filter.lab_plan import lab_endpoints, lab_path_links

# The role's own variables: a host may set them in its inventory (host_vars, group_vars of its group).
ROLE_VARS = ('lab_host_rp_filter', 'lab_host_rule_priority', 'lab_host_route_protocol', 'lab_host_mptcp',
             'lab_host_is_sink', 'lab_host_mptcp_settings', 'lab_host_mptcp_limits', 'lab_host_mptcp_endpoints')
# The lab-level knobs the virtual lab's plan is computed from (as lab_path_links and the wiring do).
PLAN_VARS = ('lab_paths', 'lab_prefix', 'lab_address_base', 'lab_subnet_prefix', 'lab_table_base')
AUTO = 'auto'


def _bool(value, field):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ('true', 'yes', 'on', '1', 'false', 'no', 'off', '0'):
        return value.lower() in ('true', 'yes', 'on', '1')
    raise AnsibleFilterError('%s must be a boolean, got %r' % (field, value))


def host_spec(name, values, sinks, netns=None):
    """The lab_host_config item (``config``) and the net.mptcp settings (``settings``) of one host.

    ``values``: the lab_host role's variables for that host (ROLE_VARS and lab_path_links);
    ``sinks``: the inventory's sinks group. The lab's MPTCP policy: limits paths - 1 on both ends
    (``auto``), a signal endpoint per path on a sink and none on a generator (``auto``).
    """
    links = values.get('lab_path_links')
    if not isinstance(links, list) or not links:
        raise AnsibleFilterError('%s: lab_path_links is required (one item per path), got %r' % (name, links))
    config = {'name': name, 'links': links, 'rp_filter': values['lab_host_rp_filter'],
              'rule_priority': values['lab_host_rule_priority'], 'protocol': values['lab_host_route_protocol']}
    if netns:
        config['netns'] = netns
    settings = {}
    if _bool(values['lab_host_mptcp'], '%s: lab_host_mptcp' % name):
        is_sink = values.get('lab_host_is_sink')
        is_sink = name in sinks if is_sink is None else _bool(is_sink, '%s: lab_host_is_sink' % name)
        paths = len(links)
        limits = values['lab_host_mptcp_limits']
        if limits == AUTO:
            limits = {'subflows': max(paths - 1, 0), 'add_addr_accepted': max(paths - 1, 0)}
        elif not isinstance(limits, dict):
            raise AnsibleFilterError('%s: lab_host_mptcp_limits must be auto or a dict {subflows, '
                                     'add_addr_accepted}, got %r' % (name, limits))
        endpoints = values['lab_host_mptcp_endpoints']
        if endpoints == AUTO:
            endpoints = lab_endpoints(links, ['signal']) if is_sink else []
        elif endpoints is not None and not isinstance(endpoints, list):
            raise AnsibleFilterError('%s: lab_host_mptcp_endpoints must be auto, null or a list of endpoints, '
                                     'got %r' % (name, endpoints))
        config['mptcp_limits'] = limits
        config['mptcp_endpoints'] = endpoints
        settings = values.get('lab_host_mptcp_settings') or {}
        if not isinstance(settings, dict):
            raise AnsibleFilterError('%s: lab_host_mptcp_settings must be a dict, got %r' % (name, settings))
    return {'name': name, 'netns': netns, 'config': config, 'settings': settings}


def lab_host_spec(values, name, groups):
    """The spec of the host the role runs on (its variables as the role sees them)."""
    return host_spec(name, values, (groups or {}).get('sinks') or [])


def lab_host_specs(hosts, values, groups, hostvars, plan, reference='localhost'):
    """The specs of hosts of the virtual lab, configured from the controller in one call.

    ``values``: the role's variables on the controller (``reference``), the lab's; ``plan``: the lab-level
    knobs of PLAN_VARS there. A host's own value of a role variable (set in its inventory for it, not for
    the controller) wins over the lab's. Its path links are the lab's plan for its lab_pair and side,
    computed as the wiring computes them. Its namespace is ansible_netns_name, else its name.
    """
    groups = groups or {}
    generators = groups.get('generators') or []
    sinks = groups.get('sinks') or []
    here = hostvars[reference] if reference in hostvars else {}
    specs = []
    for name in hosts or []:
        if name not in generators and name not in sinks:
            raise AnsibleFilterError('%s is neither a generator nor a sink of this inventory' % name)
        own = hostvars[name]
        merged = dict(values)
        for var in ROLE_VARS:
            if var in own and var not in here:
                merged[var] = own[var]
        if 'lab_pair' not in own:
            raise AnsibleFilterError('%s: lab_pair is required on the virtual lab' % name)
        merged['lab_path_links'] = lab_path_links(
            plan.get('lab_paths'), own['lab_pair'], 'generator' if name in generators else 'sink',
            **dict((key, plan[var]) for key, var in (('prefix', 'lab_prefix'), ('address_base', 'lab_address_base'),
                                                     ('subnet_prefix', 'lab_subnet_prefix'),
                                                     ('table_base', 'lab_table_base')) if plan.get(var) is not None))
        specs.append(host_spec(name, merged, sinks, netns=own.get('ansible_netns_name') or name))
    return specs


class FilterModule(object):
    """mptcp.lab lab_host filters."""

    def filters(self):
        return {
            'lab_host_spec': lab_host_spec,
            'lab_host_specs': lab_host_specs,
        }
