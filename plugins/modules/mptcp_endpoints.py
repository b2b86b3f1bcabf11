#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) mptcp.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: mptcp_endpoints
short_description: Manage the MPTCP endpoints of the kernel path manager
description:
  - Declares the MPTCP endpoints (C(ip mptcp endpoint)) of the in-kernel path
    manager of one host, as a network resource module.
  - Talks netlink to the kernel (generic netlink family C(mptcp_pm)) through
    pyroute2; it never runs or parses C(ip).
  - Acts on the network namespace the module runs in, so it works the same on
    a network namespace of the virtual lab and on a real host.
  - An endpoint is identified by its O(config[].address) and O(config[].port).
    The same address with two different ports is two endpoints.
  - A change of only C(backup) or C(fullmesh) is made in place (netlink
    C(MPTCP_PM_CMD_SET_FLAGS)), which keeps the endpoint id and the live
    subflows that use it.
  - Any other change of an existing endpoint (the flags C(signal), C(subflow)
    or C(laminar), O(config[].dev), or an explicit O(config[].id) different
    from the current one) cannot be made in place by the kernel, so the
    endpoint is deleted and added again with the same id (unless a new id is
    given). This is reported as a C(replace) action; subflows using that
    endpoint are closed by the kernel.
  - Everything the kernel would reject is checked before anything is changed,
    and the error names the field and the rule. If the kernel still refuses a
    request, the changes already made by this call are rolled back and the
    kernel's own error text is reported.
  - Endpoints the kernel created itself (flag C(implicit)) are reported like
    the others in C(before), C(after) and C(gathered). See O(implicit) for
    what V(overridden) and V(deleted) do with them; listing one in O(config)
    turns it into an ordinary endpoint with the same id (a C(replace)),
    whatever O(implicit) is.
version_added: 0.1.0
author:
  - mptcp.lab developers (@multipath-tcp)
requirements:
  - pyroute2 on the managed host
  - Linux with MPTCP (5.6 or later); the C(laminar) flag needs 6.18 or later
options:
  config:
    description:
      - The endpoints.
      - With O(state=deleted) and no O(config), every endpoint is removed
        (except implicit ones, see O(implicit)).
    type: list
    elements: dict
    suboptions:
      address:
        description:
          - IPv4 or IPv6 address of the endpoint.
          - Required, except with O(state=deleted) where an O(config[].id)
            alone selects an endpoint.
        type: str
      id:
        description:
          - Endpoint id, 1 to 255, unique on the host.
          - When omitted, a new endpoint gets an id from the kernel and an
            existing endpoint keeps the id it has. Ids are never renumbered.
          - When given and different from the current id of the endpoint, the
            endpoint is re-created with the new id (a C(replace) action).
        type: int
      dev:
        description:
          - Interface the endpoint is bound to. It must exist in the host's
            network namespace.
          - With O(state=merged), omitting it keeps the current interface;
            with O(state=replaced) or O(state=overridden), omitting it means
            no interface.
        type: str
      port:
        description:
          - TCP port to announce with the address (1 to 65535). Part of the
            endpoint's identity.
          - Needs the C(signal) flag, excludes C(subflow), and needs the
            address assigned to a local interface, because the kernel opens
            a listening socket on it.
        type: int
      flags:
        description:
          - Endpoint flags, a subset of C(signal), C(subflow), C(backup),
            C(fullmesh) and C(laminar) (Linux 6.18+).
          - C(signal) and C(fullmesh) are mutually exclusive. C(implicit) is
            set by the kernel only and cannot be requested.
          - With O(state=merged), omitting it keeps the current flags of an
            existing endpoint (and means no flags for a new one). A given
            list is the endpoint's complete set of flags.
        type: list
        elements: str
  state:
    description:
      - V(merged) adds the listed endpoints and updates the listed attributes
        of existing ones; other endpoints are untouched.
      - V(replaced) makes each listed endpoint exactly as given (omitted
        attributes take their defaults); other endpoints are untouched.
      - V(overridden) makes the endpoints exactly O(config); every other
        endpoint is removed (implicit ones only with O(implicit=remove)).
      - V(deleted) removes the listed endpoints, matched by address (and port
        and id when given; or by id alone; other attributes are ignored, so the
        output of V(gathered) can be fed back), or every endpoint when O(config) is empty
        (a flush, after which the kernel numbers new endpoints from 1 again;
        when implicit endpoints are kept, the others are deleted one by one
        instead and the numbering goes on).
      - V(gathered) returns the current endpoints in O(config) format, and
        changes nothing.
    type: str
    choices: [merged, replaced, overridden, deleted, gathered]
    default: merged
  implicit:
    description:
      - What V(overridden), and V(deleted) without O(config), do with the
        implicit endpoints that O(config) does not list.
      - The in-kernel path manager creates an implicit endpoint itself when a
        subflow uses a local address that has no endpoint (typically on a
        client that follows the peer's announcements). That is runtime state
        of past connections, not configuration, and it comes back with the
        next connection. Removing it would make every run after MPTCP
        traffic report a change, so by default it is left alone.
      - V(keep) leaves unlisted implicit endpoints in place. They still count
        toward the kernel's cap of 8 endpoints and keep their ids, and the
        validation counts them.
      - V(remove) removes them like any other unlisted endpoint.
      - An implicit endpoint that O(config) lists is always handled as
        listed (made ordinary, or deleted with O(state=deleted)). Other
        states never remove unlisted endpoints, so this option does not
        change them.
    type: str
    choices: [keep, remove]
    default: keep
extends_documentation_fragment:
  - mptcp.lab.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
notes:
  - In check mode, C(after) is the predicted state; the id of an endpoint the
    kernel would number itself is predicted as V(null).
  - The kernel allows at most 8 endpoints per network namespace, implicit
    ones included.
seealso:
  - module: mptcp.lab.mptcp_limits
  - module: mptcp.lab.mptcp_settings
  - module: mptcp.lab.mptcp_info
  - name: ip-mptcp(8)
    description: The iproute2 command this module replaces.
    link: https://man7.org/linux/man-pages/man8/ip-mptcp.8.html
'''

EXAMPLES = r'''
- name: Announce the second path address, let the client use both paths
  mptcp.lab.mptcp_endpoints:
    config:
      - address: 10.0.2.2
        dev: eth1
        flags: [signal]
      - address: 2001:db8:2::2
        dev: eth1
        flags: [signal]

- name: Mark a path as backup (in place, live subflows stay up)
  mptcp.lab.mptcp_endpoints:
    config:
      - address: 10.0.2.1
        flags: [subflow, backup]

- name: Exactly these endpoints, nothing else
  mptcp.lab.mptcp_endpoints:
    state: overridden
    config:
      - address: 10.0.1.1
        id: 1
        dev: eth0
        flags: [subflow]
      - address: 10.0.2.1
        id: 2
        dev: eth1
        flags: [subflow, fullmesh]

- name: Announce a second port on the main address
  mptcp.lab.mptcp_endpoints:
    config:
      - address: 10.0.1.2
        port: 10100
        flags: [signal]

- name: Remove one endpoint
  mptcp.lab.mptcp_endpoints:
    state: deleted
    config:
      - address: 10.0.2.1

- name: Exactly these endpoints, and none of the kernel's implicit ones either
  mptcp.lab.mptcp_endpoints:
    state: overridden
    implicit: remove
    config:
      - address: 10.0.1.1
        flags: [subflow]

- name: Remove all endpoints but the implicit ones (runtime state of the path manager)
  mptcp.lab.mptcp_endpoints:
    state: deleted

- name: Remove all endpoints, implicit ones included
  mptcp.lab.mptcp_endpoints:
    state: deleted
    implicit: remove

- name: Read the endpoints
  mptcp.lab.mptcp_endpoints:
    state: gathered
  register: mptcp_endpoints_now
'''

RETURN = r'''
before:
  description: The endpoints before the call, in O(config) format, sorted by id.
  returned: when O(state) is not V(gathered)
  type: list
  elements: dict
  sample:
    - {address: 10.0.2.1, id: 1, port: null, dev: eth1, flags: [subflow]}
after:
  description:
    - The endpoints after the call, in O(config) format, sorted by id.
    - In check mode, the predicted endpoints (an id the kernel would choose is V(null)).
  returned: when O(state) is not V(gathered)
  type: list
  elements: dict
  sample:
    - {address: 10.0.2.1, id: 1, port: null, dev: eth1, flags: [subflow, backup]}
gathered:
  description: The current endpoints in O(config) format.
  returned: when O(state=gathered)
  type: list
  elements: dict
  sample:
    - {address: 10.0.2.1, id: 1, port: null, dev: eth1, flags: [subflow]}
actions:
  description:
    - What was done (or would be done in check mode), in order.
    - C(action) is V(add), V(delete), V(set_flags) (in place, id and subflows
      kept) or V(replace) (delete and add again).
    - C(endpoint) is the endpoint added, deleted or as it becomes;
      C(previous) is the endpoint before a V(set_flags) or V(replace).
  returned: when O(state) is not V(gathered)
  type: list
  elements: dict
  sample:
    - action: set_flags
      endpoint: {address: 10.0.2.1, id: 1, port: null, dev: eth1, flags: [subflow, backup]}
      previous: {address: 10.0.2.1, id: 1, port: null, dev: eth1, flags: [subflow]}
diff:
  description: Endpoints before and after, when run with C(--diff).
  returned: when diff mode is on and O(state) is not V(gathered)
  type: dict
'''

import ipaddress
import socket

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.mptcp.lab.plugins.module_utils import mptcp_netlink as nl

STATES = ('merged', 'replaced', 'overridden', 'deleted', 'gathered')


class ValidationError(Exception):
    """Bad input: the message names the field and the rule."""


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


# ------------------------------------------------------------------- main

def run(module):
    state = module.params['state']
    config = module.params['config'] or []
    implicit = module.params.get('implicit') or 'keep'
    if state == 'gathered' and config:
        raise ValidationError('config: must be empty with state=gathered')
    entries = normalize_config(config, state, laminar_ok=nl.kernel_supports_laminar(),
                               dev_exists=lambda dev: nl.ifindex(dev) is not None)
    try:
        pm = nl.MptcpNetlink()
    except nl.MptcpUnsupported as exc:
        module.fail_json(msg='%s' % exc)
    with pm:
        before = [as_config(e) for e in pm.endpoints()]
        if state == 'gathered':
            module.exit_json(changed=False, gathered=sort_endpoints(before))
        actions, predicted = compute(before, entries, state, implicit=implicit)
        for action in actions:
            endpoint = action['endpoint']
            if action['action'] == 'add' or (action['action'] == 'replace' and endpoint['port']):
                if endpoint['port'] and not address_is_local(endpoint['address']):
                    raise ValidationError(
                        'config[%d].address: an endpoint with a port needs %s assigned to a local interface '
                        '(the kernel listens on it)'
                        % (_index_of(entries, endpoint), endpoint['address']))
        result = {'changed': bool(actions), 'before': sort_endpoints(before), 'actions': actions}
        if actions and not module.check_mode:
            try:
                if state == 'deleted' and not entries and len(actions) == len(before):
                    # nothing kept: like ip mptcp endpoint flush, which also resets the kernel's id counter
                    pm.flush_endpoints()
                else:
                    apply_actions(pm, actions)
            except nl.MptcpError as exc:
                restored = restore(pm, before)
                module.fail_json(msg='%s%s' % (exc, '' if restored else ' (and the previous endpoints could '
                                                                        'not all be restored)'),
                                 before=result['before'], after=[as_config(e) for e in pm.endpoints()],
                                 planned_actions=actions)
            after = sort_endpoints(as_config(e) for e in pm.endpoints())
        else:
            after = predicted
        result['after'] = after
        if module._diff:
            result['diff'] = {'before': {'endpoints': result['before']}, 'after': {'endpoints': after}}
        return result


def _index_of(entries, endpoint):
    for entry in entries:
        if ep_key(entry) == ep_key(endpoint):
            return entry['index']
    return 0


def main():
    module = AnsibleModule(
        argument_spec=dict(
            config=dict(type='list', elements='dict', options=dict(
                address=dict(type='str'),
                id=dict(type='int'),
                dev=dict(type='str'),
                port=dict(type='int'),
                flags=dict(type='list', elements='str'),
            )),
            state=dict(type='str', default='merged', choices=list(STATES)),
            implicit=dict(type='str', default='keep', choices=['keep', 'remove']),
        ),
        supports_check_mode=True,
    )
    if not nl.HAS_PYROUTE2:
        module.fail_json(msg=missing_required_lib('pyroute2'), exception=nl.PYROUTE2_IMPORT_ERROR)
    try:
        result = run(module)
    except ValidationError as exc:
        module.fail_json(msg='%s' % exc)
    except nl.MptcpError as exc:
        module.fail_json(msg='%s' % exc)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
