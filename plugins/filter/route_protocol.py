# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Filter checking the lab's route protocol against the controller's rt_protos.

Documentation: lab_route_protocol_error.yml beside this file. The rules live in
module_utils/lab/route_protocols.py; mptcp.lab.path_routing checks again on each
host, against that host's own rt_protos.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.mptcp.lab.plugins.module_utils.lab import route_protocols


def lab_route_protocol_error(value, field='lab_route_protocol'):
    """'' when ``value`` may be the lab's route protocol, else the message naming ``field``."""
    dummy, error = route_protocols.check_protocol(value, field, route_protocols.read_rt_protos())
    return error or ''


PROTOCOL_VARS = ('lab_route_protocol', 'lab_host_route_protocol', 'lab_shaper_route_protocol')


def lab_route_protocol_errors(hosts, hostvars):
    """The messages (one per variable and value) for every route protocol variable the hosts set."""
    known = route_protocols.read_rt_protos()
    out = []
    for host in hosts or []:
        values = hostvars[host]
        for var in PROTOCOL_VARS:
            if var not in values:
                continue
            dummy, error = route_protocols.check_protocol(values[var], var, known)
            if error and error not in out:
                out.append(error)
    return out


class FilterModule(object):
    def filters(self):
        return {'lab_route_protocol_error': lab_route_protocol_error,
                'lab_route_protocol_errors': lab_route_protocol_errors}
