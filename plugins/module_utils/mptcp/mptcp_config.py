# -*- coding: utf-8 -*-
# Copyright: (c) mptcp.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""MPTCP endpoints and limits of the kernel path manager: validation, the change, applying it.

What mptcp.lab.mptcp_endpoints and mptcp.lab.mptcp_limits do, as functions, so
that mptcp.lab.lab_host_config configures a host's MPTCP the same way (one
meaning for every option), also for many network namespaces in one call.
Netlink goes through mptcp_netlink.py; everything acts on the network
namespace of the calling thread.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import socket

from ansible_collections.mptcp.lab.plugins.module_utils.mptcp import mptcp_netlink as nl

STATES = ('merged', 'replaced', 'overridden', 'deleted', 'gathered')


class ValidationError(Exception):
    """Bad input: the message names the field and the rule (endpoints and limits)."""


# ---------------------------------------------------------------- helpers

def canonical_address(text):
    """Canonical text of an IPv4/IPv6 address, or None when it is not one."""
    try:
        return str(ipaddress.ip_address(str(text).strip()))
    except ValueError:
        return None


def ep_key(endpoint):
    """The identity of an endpoint: (address, port), port 0 when none."""
    return (endpoint['address'], endpoint.get('port') or 0)


def ep_label(endpoint):
    if endpoint.get('port'):
        return '%s port %s' % (endpoint['address'], endpoint['port'])
    return '%s' % endpoint.get('address')


def as_config(endpoint):
    """An endpoint in the module's config format (the shape before/after use)."""
    return {
        'address': endpoint.get('address'),
        'id': endpoint.get('id'),
        'port': endpoint.get('port') or None,
        'dev': endpoint.get('dev') or None,
        'flags': nl.sort_flags(endpoint.get('flags')),
    }


def is_implicit(endpoint):
    return 'implicit' in (endpoint.get('flags') or [])


def sort_endpoints(endpoints):
    return sorted(endpoints, key=lambda e: (e.get('id') is None, e.get('id') or 0, e.get('address') or '',
                                            e.get('port') or 0))


def address_is_local(address):
    """True when ``address`` is assigned in this network namespace (a bind succeeds)."""
    family = socket.AF_INET6 if ':' in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.bind((address, 0))
        return True
    except OSError:
        return False
    finally:
        sock.close()


# ------------------------------------------------------------- validation

def normalize_config(config, state, laminar_ok=True, dev_exists=None):
    """Check each config entry alone; return normalized entries.

    Each entry: address (canonical), port (int or None), id, dev, flags
    (sorted list, or None when not given) and ``index`` (its position, for
    messages). Raises ValidationError.
    """
    entries = []
    seen_keys = {}
    seen_ids = {}
    for index, item in enumerate(config or []):
        where = 'config[%d]' % index
        item = item or {}
        entry = {'index': index}

        raw_address = item.get('address')
        if raw_address in (None, ''):
            if state != 'deleted':
                raise ValidationError('%s.address: required' % where)
            if item.get('id') is None:
                raise ValidationError('%s: give an address or an id to select the endpoint to delete' % where)
            entry['address'] = None
        else:
            address = canonical_address(raw_address)
            if address is None:
                raise ValidationError('%s.address: %r is not an IPv4 or IPv6 address' % (where, raw_address))
            if '%' in address:
                raise ValidationError('%s.address: %r has a zone index; give the interface in dev instead'
                                      % (where, raw_address))
            entry['address'] = address

        ep_id = item.get('id')
        if ep_id is not None and not nl.MIN_ID <= ep_id <= nl.MAX_ID:
            raise ValidationError('%s.id: must be between %d and %d (got %s)' % (where, nl.MIN_ID, nl.MAX_ID, ep_id))
        entry['id'] = ep_id

        port = item.get('port')
        if port is not None and not 1 <= port <= 65535:
            raise ValidationError('%s.port: must be between 1 and 65535 (got %s)' % (where, port))
        entry['port'] = port or None

        flags = item.get('flags')
        if state == 'deleted':
            flags = None  # ignored: deleted matches by address, port and id only
        if flags is not None:
            for flag in flags:
                if flag == 'implicit':
                    raise ValidationError('%s.flags: implicit is set by the kernel only and cannot be requested'
                                          % where)
                if flag not in nl.USER_FLAGS:
                    raise ValidationError('%s.flags: unknown flag %r (allowed: %s)'
                                          % (where, flag, ', '.join(nl.USER_FLAGS)))
            if 'laminar' in flags and not laminar_ok:
                raise ValidationError('%s.flags: laminar needs Linux %d.%d or later (this kernel is %s)'
                                      % ((where,) + nl.LAMINAR_KERNEL + (nl.kernel_release(),)))
            flags = nl.sort_flags(flags)
        entry['flags'] = flags

        dev = item.get('dev')
        if dev in ('',):
            dev = None
        if dev is not None and state != 'deleted' and dev_exists is not None and not dev_exists(dev):
            raise ValidationError('%s.dev: no interface named %r in this network namespace' % (where, dev))
        entry['dev'] = dev

        if state != 'deleted':
            key = ep_key(entry)
            if key in seen_keys:
                raise ValidationError('%s.address: %s is listed twice (also config[%d]); an endpoint is '
                                      'identified by its address and port' % (where, ep_label(entry), seen_keys[key]))
            seen_keys[key] = index
            if ep_id is not None:
                if ep_id in seen_ids:
                    raise ValidationError('%s.id: id %d is also given to config[%d]; ids must be unique'
                                          % (where, ep_id, seen_ids[ep_id]))
                seen_ids[ep_id] = index
        entries.append(entry)
    return entries


def check_target(target, where):
    """The kernel's rules on one endpoint as it will be."""
    flags = target['flags']
    if 'signal' in flags and 'fullmesh' in flags:
        raise ValidationError('%s.flags: signal and fullmesh are mutually exclusive' % where)
    if target.get('port'):
        if 'signal' not in flags:
            raise ValidationError('%s.port: a port needs the signal flag' % where)
        if 'subflow' in flags:
            raise ValidationError('%s.port: a port excludes the subflow flag' % where)


def check_final(final, origin):
    """Rules on the whole set after the change: the cap and unique ids.

    ``origin`` maps the key of an endpoint whose id the config gives
    explicitly to that config index (other ids are the kernel's, unique).
    """
    if len(final) > nl.MAX_ENDPOINTS:
        kept = len([e for e in final if is_implicit(e)])
        raise ValidationError('config: %d endpoints after the change, the kernel allows at most %d%s'
                              % (len(final), nl.MAX_ENDPOINTS,
                                 ' (%d of them implicit, kept with implicit=keep)' % kept if kept else ''))
    owners = {}
    for endpoint in final:
        ep_id = endpoint.get('id')
        if ep_id is None:
            continue
        other = owners.get(ep_id)
        if other is not None:
            if ep_key(endpoint) not in origin:
                endpoint, other = other, endpoint
            raise ValidationError('config[%d].id: id %d is already used by endpoint %s, which stays%s'
                                  % (origin.get(ep_key(endpoint), 0), ep_id, ep_label(other),
                                     ' (an implicit endpoint, kept with implicit=keep)' if is_implicit(other)
                                     else ''))
        owners[ep_id] = endpoint


# ------------------------------------------------------------ computation

def _target(entry, current, state):
    """The endpoint as it should be, from one config entry and its match."""
    if state == 'merged' and current is not None:
        target = dict(current)
        if entry['id'] is not None:
            target['id'] = entry['id']
        if entry['dev'] is not None:
            target['dev'] = entry['dev']
        if entry['flags'] is not None:
            target['flags'] = entry['flags']
        # a listed endpoint is the user's: the kernel's implicit mark goes
        target['flags'] = [f for f in target['flags'] if f != 'implicit']
        return target
    return {
        'address': entry['address'],
        'port': entry['port'],
        'id': entry['id'] if entry['id'] is not None else (current['id'] if current else None),
        'dev': entry['dev'],
        'flags': entry['flags'] or [],
    }


def _classify(current, target):
    """None (nothing to do), 'set_flags' (in place) or 'replace' (delete + add)."""
    same_flags = set(current['flags']) == set(target['flags'])
    if same_flags and current.get('id') == target.get('id') and (current.get('dev') or None) == (
            target.get('dev') or None):
        return None
    if current.get('id') != target.get('id') or (current.get('dev') or None) != (target.get('dev') or None):
        return 'replace'
    fixed = set(current['flags']) ^ set(target['flags'])
    if fixed - set(nl.CHANGEABLE_FLAGS):
        return 'replace'
    return 'set_flags'


def compute(current, entries, state, implicit='keep'):
    """Plan the change.

    ``current``: endpoints as dumped (config format, with ids). ``entries``:
    normalize_config() output. ``implicit``: 'keep' leaves the implicit
    endpoints that ``entries`` does not list (overridden, and deleted without
    entries), 'remove' treats them like the others. Returns (actions,
    predicted), where predicted is the list of endpoints after the actions.
    Raises ValidationError when the result would break a kernel rule.
    """
    current = [as_config(e) for e in current]
    by_key = dict((ep_key(e), e) for e in current)
    actions = []

    if state == 'gathered':
        return actions, sort_endpoints(current)

    if state == 'deleted':
        doomed = []
        if not entries:
            doomed = [e for e in current if implicit == 'remove' or not is_implicit(e)]
        for entry in entries:
            for endpoint in current:
                if entry['address'] is not None and endpoint['address'] != entry['address']:
                    continue
                if entry['port'] is not None and (endpoint['port'] or 0) != entry['port']:
                    continue
                if entry['id'] is not None and endpoint['id'] != entry['id']:
                    continue
                if endpoint not in doomed:
                    doomed.append(endpoint)
        for endpoint in sort_endpoints(doomed):
            actions.append({'action': 'delete', 'endpoint': endpoint})
        predicted = [e for e in current if e not in doomed]
        return actions, sort_endpoints(predicted)

    final = {}
    origin = {}
    listed = set()
    for entry in entries:
        key = ep_key(entry)
        listed.add(key)
        match = by_key.get(key)
        target = as_config(_target(entry, match, state))
        check_target(target, 'config[%d]' % entry['index'])
        if entry['id'] is not None:
            origin[key] = entry['index']
        final[key] = target
        if match is None:
            actions.append({'action': 'add', 'endpoint': target})
            continue
        kind = _classify(match, target)
        if kind is not None:
            actions.append({'action': kind, 'endpoint': target, 'previous': match})

    deletes = []
    for endpoint in current:
        key = ep_key(endpoint)
        if key in listed:
            continue
        if state == 'overridden' and (implicit == 'remove' or not is_implicit(endpoint)):
            deletes.append({'action': 'delete', 'endpoint': endpoint})
        else:
            final[key] = endpoint

    predicted = sort_endpoints(final.values())
    check_final(predicted, origin)
    return deletes + actions, predicted


# ------------------------------------------------------------------ apply

def apply_actions(pm, actions):
    """Carry out a plan: deletions first, then in-place changes, then additions.

    That order frees ids and room (the 8-endpoint cap) before they are
    reused, so swaps of ids between endpoints work. Returns the number of
    actions fully done; raises MptcpError from the kernel.
    """
    for action in actions:
        if action['action'] == 'delete':
            pm.delete_endpoint(action['endpoint']['id'])
        elif action['action'] == 'replace':
            pm.delete_endpoint(action['previous']['id'])
    for action in actions:
        if action['action'] == 'set_flags':
            pm.set_flags(action['previous']['id'], action['endpoint']['flags'])
    for action in actions:
        if action['action'] in ('add', 'replace'):
            endpoint = action['endpoint']
            pm.add_endpoint(endpoint['address'], id=endpoint['id'], port=endpoint['port'],
                            flags=endpoint['flags'], dev=endpoint['dev'])


def restore(pm, before):
    """Best effort: bring the endpoints back to ``before`` after a failure."""
    entries = []
    for index, endpoint in enumerate(before):
        if 'implicit' in endpoint['flags']:
            continue
        entry = dict(endpoint, index=index)
        entries.append(entry)
    try:
        current = pm.endpoints()
        actions = compute(current, entries, 'overridden', implicit='keep')[0]
    except (nl.MptcpError, ValidationError):
        return False
    # Implicit endpoints of ``before`` cannot be re-created; keep what the kernel has.
    implicit = set(ep_key(e) for e in before if 'implicit' in e['flags'])
    actions = [a for a in actions if not (a['action'] == 'delete' and ep_key(a['endpoint']) in implicit)]
    try:
        apply_actions(pm, actions)
    except nl.MptcpError:
        return False
    return True


def _index_of(entries, endpoint):
    for entry in entries:
        if ep_key(entry) == ep_key(endpoint):
            return entry['index']
    return 0


def check_ports(actions, entries, local_addresses=()):
    """An endpoint with a port needs its address on a local interface (the kernel listens on it).

    ``local_addresses``: addresses that will be local when the actions run (added just before,
    by the same call); the others must be local now. Raises ValidationError.
    """
    for action in actions:
        endpoint = action['endpoint']
        if action['action'] == 'add' or (action['action'] == 'replace' and endpoint['port']):
            if endpoint['port'] and endpoint['address'] not in local_addresses \
                    and not address_is_local(endpoint['address']):
                raise ValidationError(
                    'config[%d].address: an endpoint with a port needs %s assigned to a local interface '
                    '(the kernel listens on it)'
                    % (_index_of(entries, endpoint), endpoint['address']))


class ApplyError(Exception):
    """The kernel refused an action; the previous endpoints were put back when ``restored``."""

    def __init__(self, error, restored):
        self.error = error
        self.restored = restored
        super(ApplyError, self).__init__('%s%s' % (error, '' if restored else ' (and the previous endpoints could '
                                                                              'not all be restored)'))


def apply_plan(pm, state, entries, before, actions):
    """Carry out compute()'s actions; returns the endpoints after, sorted. Raises ApplyError."""
    try:
        if state == 'deleted' and not entries and len(actions) == len(before):
            # nothing kept: like ip mptcp endpoint flush, which also resets the kernel's id counter
            pm.flush_endpoints()
        else:
            apply_actions(pm, actions)
    except nl.MptcpError as exc:
        raise ApplyError(exc, restore(pm, before))
    return sort_endpoints(as_config(e) for e in pm.endpoints())


# ------------------------------------------------------------------ limits

LIMIT_NAMES = ('subflows', 'add_addr_accepted')


def validate_limits(params):
    """The wanted limits (only those given); raises ValidationError."""
    wanted = {}
    for name in LIMIT_NAMES:
        value = params.get(name)
        if value is None:
            continue
        if not 0 <= value <= nl.MAX_LIMIT:
            raise ValidationError('%s: must be between 0 and %d (got %s)' % (name, nl.MAX_LIMIT, value))
        wanted[name] = value
    if not wanted:
        raise ValidationError('one of subflows or add_addr_accepted is required')
    return wanted


def compute_limits(current, wanted):
    """The limits after the change, and whether that is a change."""
    after = dict(current)
    after.update(wanted)
    return after, after != current
