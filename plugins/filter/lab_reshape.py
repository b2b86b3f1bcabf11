# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""``lab_reshape_devices``: the shaper's interfaces shaped for other paths' shaping.

A perf suite test may run under a shaping of its own (suite key ``shaping``,
roles/perf_suite/README.md). The shaper then reshapes exactly the interfaces
it shaped for the lab (``lab_shaper_devices``), each one for the path it
carries (``lab_shaper_links``), in one mptcp.lab.path_shaping call:

    lab_shaper_devices | mptcp.lab.lab_reshape_devices(lab_shaper_links, paths, "tests[3] 'x': shaping")

``paths`` is a list like ``lab_paths`` (one entry per path, in path order)
where ``rate_mbit`` may be null: no rate limit on that path. Each item's
``label`` becomes ``<label>[i]`` so that path_shaping's errors name the suite
field. An interface of no path (a bare-metal shaper may shape others) keeps
the lab's shaping.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

SHAPING_KEYS = ('rate_mbit', 'delay_ms', 'loss_pct', 'queue_limit')
NETEM_KEYS = ('delay_ms', 'loss_pct', 'queue_limit')


def _path_number(value, field):
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise AnsibleFilterError('%s.path must be a path number (1 or more), got %r' % (field, value))
    return value


def lab_reshape_devices(devices, links, paths, label='shaping'):
    """``devices`` (path_shaping format) with each interface's shaping taken from ``paths``."""
    if paths is None:
        return [dict(item) for item in devices or []]
    if not isinstance(paths, (list, tuple)) or not all(isinstance(p, dict) for p in paths):
        raise AnsibleFilterError('%s must be a list of {rate_mbit, delay_ms, loss_pct, queue_limit}, one per path, '
                                 'got %r' % (label, paths))
    for i, shape in enumerate(paths):
        unknown = sorted(str(k) for k in shape if k not in SHAPING_KEYS)
        if unknown:
            raise AnsibleFilterError('%s[%d] has unknown key(s) %s; allowed: %s'
                                     % (label, i, ', '.join(unknown), ', '.join(SHAPING_KEYS)))
        if 'rate_mbit' not in shape:
            raise AnsibleFilterError('%s[%d].rate_mbit is required (null for no rate limit)' % (label, i))
    if not isinstance(links, (list, tuple)):
        raise AnsibleFilterError('lab_shaper_links must be a list of {path, dev, ...}, got %r' % (links,))
    path_of = {}
    for i, link in enumerate(links):
        if not isinstance(link, dict) or not link.get('dev'):
            raise AnsibleFilterError('lab_shaper_links[%d] must be a dict with path and dev, got %r' % (i, link))
        path_of[link['dev']] = _path_number(link.get('path'), 'lab_shaper_links[%d]' % i)
    if not isinstance(devices, (list, tuple)):
        raise AnsibleFilterError('lab_shaper_devices must be a list of {dev, rate_mbit, ...}, got %r' % (devices,))
    out = []
    for i, item in enumerate(devices):
        if not isinstance(item, dict) or not item.get('dev'):
            raise AnsibleFilterError('lab_shaper_devices[%d] must be a dict with dev, got %r' % (i, item))
        path = path_of.get(item['dev'])
        if path is None:
            out.append(dict(item))
            continue
        if path > len(paths):
            raise AnsibleFilterError('%s has %d entries, but %s carries path %d'
                                     % (label, len(paths), item['dev'], path))
        shape = paths[path - 1]
        new = {'dev': item['dev'], 'rate_mbit': shape.get('rate_mbit'), 'label': '%s[%d]' % (label, path - 1)}
        for key in NETEM_KEYS:
            if shape.get(key) is not None:
                new[key] = shape[key]
        out.append(new)
    return out


class FilterModule(object):
    """mptcp.lab shaping filters."""

    def filters(self):
        return {'lab_reshape_devices': lab_reshape_devices}
