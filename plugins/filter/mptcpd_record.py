# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Filters of the mptcpd role's record of the endpoints mptcpd added.

Documentation: mptcpd_owned_endpoints.yml, mptcpd_stale_endpoints.yml and mptcpd_endpoint_record.yml
beside this file. The logic lives in module_utils/mptcp/mptcpd_record.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64

from ansible_collections.mptcp.lab.plugins.module_utils.mptcp import mptcpd_record


def _record(value):
    """The record from a C(slurp) result (failed when there is no file), or the file's text."""
    if isinstance(value, dict):
        content = value.get('content')
        if not content:
            return None
        value = base64.b64decode(content).decode('utf-8', 'replace')
    return mptcpd_record.parse_record(value)


def mptcpd_owned_endpoints(current, record):
    return [{'id': e['id'], 'address': e['address']} for e in mptcpd_record.owned(current, _record(record))]


def mptcpd_stale_endpoints(current, record, wanted_flags):
    return mptcpd_record.stale_endpoints(current, _record(record), wanted_flags)


def mptcpd_endpoint_record(after, record, flags, before):
    return mptcpd_record.new_record(after, _record(record), flags, before)


class FilterModule(object):
    def filters(self):
        return {'mptcpd_owned_endpoints': mptcpd_owned_endpoints,
                'mptcpd_stale_endpoints': mptcpd_stale_endpoints,
                'mptcpd_endpoint_record': mptcpd_endpoint_record}
