# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Filters computing the virtual lab's plan from the inventory.

Documentation: lab_path_links.yml, lab_shaper_links.yml, lab_wiring.yml
beside this file. The arithmetic lives in module_utils/lab/lab_plan.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.mptcp.lab.plugins.module_utils.lab import lab_plan


def _call(func, *args, **kwargs):
    try:
        return func(*args, **kwargs)
    except lab_plan.PlanError as exc:
        raise AnsibleFilterError(str(exc))


def _int(value, field):
    """Inventory values may arrive as strings (INI, -e): accept digits."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise AnsibleFilterError('%s must be an integer, got %r' % (field, value))


def lab_path_links(lab_paths, pair, side, prefix='mlab', address_base=lab_plan.DEFAULT_ADDRESS_BASE,
                   subnet_prefix=lab_plan.DEFAULT_SUBNET_PREFIX, table_base=lab_plan.DEFAULT_TABLE_BASE):
    """Per-path links of one generator or sink."""
    return _call(lab_plan.path_links, list(lab_paths or []), _int(pair, 'lab_pair'), side, prefix=prefix,
                 address_base=address_base, subnet_prefix=_int(subnet_prefix, 'lab_subnet_prefix'),
                 table_base=_int(table_base, 'lab_table_base'))


def lab_shaper_links(lab_paths, pairs, prefix='mlab', address_base=lab_plan.DEFAULT_ADDRESS_BASE,
                     subnet_prefix=lab_plan.DEFAULT_SUBNET_PREFIX):
    """The shaper's interfaces and addresses, one per path, side and pair."""
    return _call(lab_plan.shaper_links, list(lab_paths or []), [_int(p, 'lab_pair') for p in pairs],
                 prefix=prefix, address_base=address_base,
                 subnet_prefix=_int(subnet_prefix, 'lab_subnet_prefix'))


def lab_shaper_devices(lab_paths, pairs, prefix='mlab', address_base=lab_plan.DEFAULT_ADDRESS_BASE,
                       subnet_prefix=lab_plan.DEFAULT_SUBNET_PREFIX):
    """The shaping of each shaper interface (both directions of every path)."""
    return _call(lab_plan.shaper_devices, list(lab_paths or []), [_int(p, 'lab_pair') for p in pairs],
                 prefix=prefix, address_base=address_base,
                 subnet_prefix=_int(subnet_prefix, 'lab_subnet_prefix'))


def lab_shaper_bottlenecks(lab_paths, pairs, prefix='mlab', bottleneck=None, label='lab_bottleneck'):
    """The shaper's shared bottlenecks (one per direction, none without ``bottleneck``)."""
    return _call(lab_plan.shaper_bottlenecks, len(list(lab_paths or [])), [_int(p, 'lab_pair') for p in pairs],
                 prefix=prefix, bottleneck=bottleneck or None, label=label)


def lab_pairs(groups, hostvars):
    """The generator/sink pairs of the inventory: ``[{pair, generator, sink}]`` (namespace names).

    A host's namespace is ``ansible_netns_name``, defaulting to its inventory
    hostname, as in the mptcp.lab.netns connection plugin.
    """
    pairs = []
    sinks = set(groups.get('sinks') or [])
    for gen in groups.get('generators') or []:
        gvars = hostvars[gen]
        peer = gvars.get('lab_peer')
        if peer not in sinks:
            raise AnsibleFilterError('%s: lab_peer must name a host of the sinks group, got %r' % (gen, peer))
        pair = _int(gvars.get('lab_pair'), '%s: lab_pair' % gen)
        peer_pair = _int(hostvars[peer].get('lab_pair'), '%s: lab_pair' % peer)
        if peer_pair != pair:
            raise AnsibleFilterError('%s has lab_pair %d but its lab_peer %s has lab_pair %d: a generator and '
                                     'its sink must carry the same lab_pair' % (gen, pair, peer, peer_pair))
        pairs.append({'pair': pair, 'generator': gvars.get('ansible_netns_name') or gen,
                      'sink': hostvars[peer].get('ansible_netns_name') or peer})
    return pairs


def lab_wiring(groups, hostvars, path_count, prefix='mlab', address_base=lab_plan.DEFAULT_ADDRESS_BASE,
               subnet_prefix=lab_plan.DEFAULT_SUBNET_PREFIX):
    """Namespaces and veth pairs the controller creates, from the inventory's groups and hostvars."""
    shapers = list(groups.get('shapers') or [])
    if len(shapers) != 1:
        raise AnsibleFilterError('the virtual lab needs exactly one host in the shapers group, got %d' % len(shapers))
    shaper = hostvars[shapers[0]].get('ansible_netns_name') or shapers[0]
    return _call(lab_plan.wiring, lab_pairs(groups, hostvars), shaper, _int(path_count, 'path count'),
                 prefix=prefix, address_base=address_base,
                 subnet_prefix=_int(subnet_prefix, 'lab_subnet_prefix'))


def lab_endpoints(path_links, flags=None, backup=None):
    """MPTCP endpoints for a host's path links: ``[{address, id, dev, flags}]``, id = path number.

    The paths listed in ``backup`` (path numbers) also get the ``backup`` flag.
    """
    flags = list(flags if flags is not None else ['signal'])
    try:
        backup = set(_int(path, 'backup') for path in backup or [])
    except TypeError:
        raise AnsibleFilterError('lab_endpoints: backup must list path numbers, got %r' % (backup,))
    endpoints = []
    for link in path_links or []:
        try:
            path = _int(link['path'], 'path')
            endpoints.append({'address': link['address'], 'id': path, 'dev': link['dev'],
                              'flags': list(flags) + (['backup'] if path in backup and 'backup' not in flags else [])})
        except (KeyError, TypeError):
            raise AnsibleFilterError('lab_endpoints: every path link needs path, dev and address, got %r' % (link,))
    return endpoints


class FilterModule(object):
    """mptcp.lab plan filters."""

    def filters(self):
        return {
            'lab_path_links': lab_path_links,
            'lab_shaper_links': lab_shaper_links,
            'lab_shaper_devices': lab_shaper_devices,
            'lab_shaper_bottlenecks': lab_shaper_bottlenecks,
            'lab_pairs': lab_pairs,
            'lab_wiring': lab_wiring,
            'lab_endpoints': lab_endpoints,
        }
