# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Which MPTCP endpoints mptcpd added: the mptcpd role's record, and what it may remove.

mptcpd (addr_adv) adds an endpoint for each address of the host, with its ``addr-flags``, when it
starts (notify flag ``existing``) and whenever an address appears. It never removes them when it
stops, and never changes one that exists when it starts again. The kernel keeps no owner for an
endpoint, so the mptcpd role keeps a record on the host::

    {"saved_by": "mptcp.lab.mptcpd",
     "before": [...],      # the host's endpoints before the role first started mptcpd: never its
     "flags": [...],       # the addr-flags mptcpd ran with
     "endpoints": [...]}   # the endpoints seen added by mptcpd

An endpoint is mptcpd's when the record lists it, or when it was not there before the role first
started mptcpd and carries exactly the flags mptcpd ran with (one mptcpd added between two runs of the
role, for an address that appeared meanwhile). Only those are ever removed; an endpoint the host had
before, or one with other flags that someone else added, never is.

Endpoints are matched by id, address and port, as the kernel and mptcp_endpoints(deleted) tell them
apart. Pure functions; the role passes them mptcp_endpoints' ``gathered`` lists.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

SAVED_BY = 'mptcp.lab.mptcpd'


def key(endpoint):
    return (endpoint.get('id'), endpoint.get('address'), endpoint.get('port') or None)


def _flags(endpoint):
    return sorted(endpoint.get('flags') or [])


def _plain(endpoint):
    out = {'id': endpoint.get('id'), 'address': endpoint.get('address'), 'flags': _flags(endpoint)}
    if endpoint.get('port'):
        out['port'] = endpoint['port']
    return out


def _implicit(endpoint):
    return 'implicit' in (endpoint.get('flags') or [])


def _sorted(endpoints):
    return sorted(endpoints, key=lambda e: (e.get('id') or 0, e.get('address') or '', e.get('port') or 0))


def parse_record(text):
    """The record in a file's text; None for no file, or one that is not a record of this role."""
    try:
        data = json.loads(text or '')
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get('saved_by') != SAVED_BY:
        return None
    out = {}
    for name in ('before', 'endpoints'):
        items = data.get(name)
        out[name] = [e for e in items if isinstance(e, dict) and 'id' in e and 'address' in e] \
            if isinstance(items, list) else []
    flags = data.get('flags')
    out['flags'] = sorted(f for f in flags if isinstance(f, str)) if isinstance(flags, list) else []
    return out


def owned(current, record):
    """The endpoints of ``current`` that are mptcpd's by the record (see the module's text)."""
    if not record:
        return []
    listed = set(key(e) for e in record['endpoints'])
    before = set(key(e) for e in record['before'])
    flags = sorted(record['flags'])
    return _sorted(e for e in current or [] if not _implicit(e) and (
        key(e) in listed or (flags and key(e) not in before and _flags(e) == flags)))


def stale_endpoints(current, record, wanted_flags):
    """mptcpd's endpoints whose flags are not ``wanted_flags``, as mptcp_endpoints(deleted) items."""
    wanted = sorted(wanted_flags or [])
    out = []
    for endpoint in owned(current, record):
        if _flags(endpoint) != wanted:
            item = {'id': endpoint['id'], 'address': endpoint['address']}
            if endpoint.get('port'):
                item['port'] = endpoint['port']
            out.append(item)
    return out


def new_record(after, record, flags, before):
    """The record once mptcpd runs with ``flags``: ``after`` are the endpoints now, ``before`` those
    read before it (re)started, which become the record's ``before`` when there was no record."""
    base = record['before'] if record else [_plain(e) for e in before or [] if not _implicit(e)]
    listed = record['endpoints'] if record else []
    mine = owned(after, {'before': base, 'endpoints': listed, 'flags': sorted(flags or [])})
    return {'saved_by': SAVED_BY, 'before': _sorted(base), 'flags': sorted(flags or []),
            'endpoints': [_plain(e) for e in mine]}
