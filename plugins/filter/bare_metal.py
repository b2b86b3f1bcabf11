# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Filters for a lab on real machines, whose links the inventory states.

``lab_path_shaping``: the shaping of a bare-metal shaper's interfaces
(mptcp.lab.path_shaping format) from its ``lab_shaper_links`` and the lab's
``lab_paths``: every interface of path i gets ``lab_paths[i-1]``.

``lab_link_devs``: the interface names of a list of links, for the roles that
act per interface (offloads, IRQs).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.mptcp.lab.plugins.module_utils.lab import lab_plan

SHAPING_KEYS = ('delay_ms', 'loss_pct', 'queue_limit')


def lab_path_shaping(links, lab_paths):
    """``[{dev, rate_mbit, delay_ms, loss_pct, queue_limit, label}]`` for each link, by its path."""
    try:
        lab_plan.check_paths(list(lab_paths or []))
    except lab_plan.PlanError as exc:
        raise AnsibleFilterError(str(exc))
    if not isinstance(links, (list, tuple)):
        raise AnsibleFilterError('lab_shaper_links must be a list of {path, dev, address, prefix}, got %r' % (links,))
    devices = []
    seen = set()
    for i, link in enumerate(links):
        field = 'lab_shaper_links[%d]' % i
        if not isinstance(link, dict) or not link.get('dev'):
            raise AnsibleFilterError('%s must be a dict with path and dev, got %r' % (field, link))
        path = link.get('path')
        if isinstance(path, str) and path.isdigit():
            path = int(path)
        if isinstance(path, bool) or not isinstance(path, int) or not 1 <= path <= len(lab_paths):
            raise AnsibleFilterError('%s.path must be a path number in [1, %d] (lab_paths has %d paths), got %r'
                                     % (field, len(lab_paths), len(lab_paths), link.get('path')))
        if link['dev'] in seen:
            continue
        seen.add(link['dev'])
        shape = lab_paths[path - 1]
        item = {'dev': link['dev'], 'rate_mbit': shape['rate_mbit'], 'label': 'lab_paths[%d]' % (path - 1)}
        for key in SHAPING_KEYS:
            if shape.get(key) is not None:
                item[key] = shape[key]
        devices.append(item)
    return devices


def lab_link_devs(links):
    """The distinct interface names of a list of links, in order."""
    devs = []
    for link in links or []:
        dev = link.get('dev') if isinstance(link, dict) else None
        if dev and dev not in devs:
            devs.append(dev)
    return devs


class FilterModule(object):
    """mptcp.lab bare-metal filters."""

    def filters(self):
        return {
            'lab_path_shaping': lab_path_shaping,
            'lab_link_devs': lab_link_devs,
        }
