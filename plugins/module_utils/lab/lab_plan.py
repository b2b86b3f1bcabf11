# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The virtual lab's address and link plan: pure functions, no I/O.

One plan serves the filter plugins (``lab_path_links`` for each host, the
shaper's links, the controller's wiring) so that every part of the
collection reads the same numbers.

Topology of pair ``p`` (1-based) with ``n`` paths::

    generator                 shaper                     sink
    <prefix>-p1  --veth--  <prefix>-<p>g1 | <prefix>-<p>s1  --veth--  <prefix>-p1
    <prefix>-p2  --veth--  <prefix>-<p>g2 | <prefix>-<p>s2  --veth--  <prefix>-p2
    ...

Every path of every pair has two /``subnet_prefix`` subnets of its own: the
generator side and the sink side. Subnet number ``k`` of the address base is::

    k = (pair - 1) * 2 * MAX_PATHS + (path - 1) * 2 + side     # side: 0 generator, 1 sink

so a pair always owns the same block whatever its path count (adding a path
never renumbers anything), and no two pairs or paths ever overlap. In each
subnet the shaper (the gateway) is host ``.1`` and the end host is ``.2``.
With the defaults (base 10.200.0.0/14, /24 subnets) pair 1 path 1 is
10.200.0.2 (generator) -> 10.200.0.1 | 10.200.1.1 -> 10.200.1.2 (sink), and
the base holds 64 pairs of up to 8 paths.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import math
import re

# The kernel allows at most 8 MPTCP endpoints and 8 subflows: 8 paths.
MAX_PATHS = 8
IFNAMSIZ = 15
PREFIX_RE = re.compile(r'^[a-z][a-z0-9]{0,9}$')
SIDES = ('generator', 'sink')

DEFAULT_ADDRESS_BASE = '10.200.0.0/14'
DEFAULT_SUBNET_PREFIX = 24
DEFAULT_TABLE_BASE = 100


class PlanError(ValueError):
    """Bad plan input; the message names the field and the rule."""


def check_prefix(prefix):
    """Validate a lab prefix: short, lowercase, no separator."""
    if not isinstance(prefix, str) or not PREFIX_RE.match(prefix):
        raise PlanError('lab_prefix %r must match %s (1-10 lowercase letters or digits, '
                        'starting with a letter, no "-": the prefix plus "-" marks every '
                        'object the lab owns)' % (prefix, PREFIX_RE.pattern))
    return prefix


# Bounds of a path's shaping, chosen for what tbf/htb and netem can express:
# rates from 10 kbit/s (a 3 kB token bucket drains in 2.4 s; lower rates make
# the psched buffer of tbf/htb and every measurement absurdly long) up to
# 34 Gbit/s (the qdiscs carry the rate in 32 bits of bytes/s without their
# 64-bit attributes; mptcp.lab.path_shaping stops there too); netem delays up
# to a minute, loss in percent, and a queue of 1..1048576 packets.
MIN_RATE_MBIT = 0.01
MAX_RATE_MBIT = 34000
# A bare-metal lab may have no shaper: its lab_paths then state the line rates
# of real NICs (up to 1 Tbit/s here); a bare-metal shaper still refuses more
# than MAX_RATE_MBIT (mptcp.lab.path_shaping), before it changes anything.
MAX_LINE_RATE_MBIT = 1000000
PATH_BOUNDS = (('delay_ms', 0, 60000, False), ('loss_pct', 0, 100, False), ('queue_limit', 1, 1 << 20, True))
PATH_KEYS = ('rate_mbit', 'delay_ms', 'loss_pct', 'queue_limit')
LAB_KINDS = ('virtual', 'vm', 'bare_metal')


def is_number(value):
    """A finite int or float (not a bool, not a string, not nan/inf)."""
    return (not isinstance(value, bool) and isinstance(value, (int, float))
            and not math.isinf(value) and not math.isnan(value))


def check_number(value, field, low, high, integer=False, low_open=False, unit=''):
    """A finite number (an integer if asked) in [low, high] (low excluded if low_open)."""
    kind = 'an integer' if integer else 'a finite number'
    rule = '%s in %s%s, %s]%s' % (kind, '(' if low_open else '[', low, high, unit and ' ' + unit)
    if isinstance(value, str):
        raise PlanError('%s must be %s, got the string %r (numbers are written without quotes)'
                        % (field, rule, value))
    if not is_number(value) or (integer and value != int(value)):
        raise PlanError('%s must be %s, got %r' % (field, rule, value))
    if value < low or value > high or (low_open and value == low):
        raise PlanError('%s must be %s, got %r' % (field, rule, value))
    return int(value) if integer else value


def check_paths(lab_paths, max_rate=MAX_RATE_MBIT):
    """Validate lab_paths: a list of 1..8 dicts whose numbers the shaper can express.

    rate_mbit is required, a finite number in [MIN_RATE_MBIT, max_rate];
    delay_ms, loss_pct (finite numbers) and queue_limit (an integer) are
    optional, within PATH_BOUNDS. Strings, booleans, nan and inf are refused.
    """
    if not isinstance(lab_paths, (list, tuple)) or not lab_paths:
        raise PlanError('lab_paths must be a non-empty list of {rate_mbit, delay_ms, loss_pct, queue_limit}, '
                        'got %r' % (lab_paths,))
    if len(lab_paths) > MAX_PATHS:
        raise PlanError('lab_paths has %d paths; at most %d are allowed (the kernel limit of '
                        'MPTCP subflows and endpoints)' % (len(lab_paths), MAX_PATHS))
    for i, path in enumerate(lab_paths):
        field = 'lab_paths[%d]' % i
        if not isinstance(path, dict):
            raise PlanError('%s must be a dict with rate_mbit (and optionally delay_ms, loss_pct, queue_limit), '
                            'got %r' % (field, path))
        unknown = sorted(str(k) for k in path if k not in PATH_KEYS)
        if unknown:
            raise PlanError('%s has unknown keys %s; allowed: %s' % (field, ', '.join(unknown), ', '.join(PATH_KEYS)))
        rate = path.get('rate_mbit')
        if rate is None:
            raise PlanError('%s.rate_mbit is required: the rate of the path in Mbit/s, in [%s, %s]'
                            % (field, MIN_RATE_MBIT, max_rate))
        check_number(rate, '%s.rate_mbit' % field, MIN_RATE_MBIT, max_rate, unit='Mbit/s')
        for key, low, high, integer in PATH_BOUNDS:
            value = path.get(key)
            if value is not None:
                check_number(value, '%s.%s' % (field, key), low, high, integer=integer)
    return lab_paths


def check_lab_knobs(knobs):
    """Validate the lab knobs given (a dict of variable name -> value); returns the errors.

    Every message names the variable, the rule and the value. Knobs not in
    ``knobs`` are not checked (they keep their defaults elsewhere).
    """
    errors = []

    def attempt(func, *args):
        try:
            return func(*args)
        except PlanError as exc:
            errors.append(str(exc))
        return None

    if 'lab_prefix' in knobs:
        attempt(check_prefix, knobs['lab_prefix'])
    if 'lab_kind' in knobs and knobs['lab_kind'] not in LAB_KINDS:
        errors.append('lab_kind must be one of %s, got %r' % (', '.join(LAB_KINDS), knobs['lab_kind']))
    if 'lab_paths' in knobs:
        attempt(check_paths, knobs['lab_paths'],
                MAX_LINE_RATE_MBIT if knobs.get('lab_kind') == 'bare_metal' else MAX_RATE_MBIT)
    base = knobs.get('lab_address_base', DEFAULT_ADDRESS_BASE)
    sub = knobs.get('lab_subnet_prefix', DEFAULT_SUBNET_PREFIX)
    if isinstance(sub, str):
        errors.append('lab_subnet_prefix must be an integer in [16, 30], got the string %r '
                      '(-e key=value gives strings: use -e \'{"lab_subnet_prefix": %s}\')' % (sub, sub))
    elif 'lab_address_base' in knobs or 'lab_subnet_prefix' in knobs:
        if attempt(_network, base, sub) is not None and max_pairs(base, sub) < 1:
            errors.append('lab_address_base %s holds no pair with /%s subnets (a pair needs %d of them): '
                          'use a larger base or a longer lab_subnet_prefix' % (base, sub, 2 * MAX_PATHS))
    if 'lab_table_base' in knobs:
        attempt(check_number, knobs['lab_table_base'], 'lab_table_base', 1, 0xFFFFFFFF - MAX_PATHS, True)
    if knobs.get('lab_bottleneck') is not None:
        attempt(shaper_bottlenecks, 1, [], 'mlab', knobs['lab_bottleneck'])
    return errors


def _network(address_base, subnet_prefix):
    try:
        base = ipaddress.IPv4Network(str(address_base), strict=True)
    except ValueError as exc:
        raise PlanError('lab_address_base %r must be an IPv4 network in CIDR form (%s)' % (address_base, exc))
    if isinstance(subnet_prefix, bool) or not isinstance(subnet_prefix, int) or not 16 <= subnet_prefix <= 30:
        raise PlanError('lab_subnet_prefix must be an integer in [16, 30], got %r' % (subnet_prefix,))
    if subnet_prefix < base.prefixlen:
        raise PlanError('lab_subnet_prefix /%d is larger than lab_address_base %s' % (subnet_prefix, base))
    return base


def max_pairs(address_base=DEFAULT_ADDRESS_BASE, subnet_prefix=DEFAULT_SUBNET_PREFIX):
    """How many pairs fit in the address base."""
    base = _network(address_base, subnet_prefix)
    return (1 << (subnet_prefix - base.prefixlen)) // (2 * MAX_PATHS)


def check_pair(pair, address_base=DEFAULT_ADDRESS_BASE, subnet_prefix=DEFAULT_SUBNET_PREFIX):
    """Validate a 1-based pair number against the address base."""
    limit = max_pairs(address_base, subnet_prefix)
    if isinstance(pair, bool) or not isinstance(pair, int) or not 1 <= pair <= limit:
        raise PlanError('lab_pair must be an integer in [1, %d] (the pairs that fit in lab_address_base %s '
                        'with /%d subnets), got %r' % (limit, address_base, subnet_prefix, pair))
    return pair


def subnet(pair, path, side, address_base=DEFAULT_ADDRESS_BASE, subnet_prefix=DEFAULT_SUBNET_PREFIX):
    """The subnet of one side (0 generator, 1 sink) of one path of one pair."""
    base = _network(address_base, subnet_prefix)
    check_pair(pair, address_base, subnet_prefix)
    if not 1 <= path <= MAX_PATHS or side not in (0, 1):
        raise PlanError('path must be in [1, %d] and side in (0, 1)' % MAX_PATHS)
    index = (pair - 1) * 2 * MAX_PATHS + (path - 1) * 2 + side
    size = 1 << (32 - subnet_prefix)
    first = int(base.network_address) + index * size
    return ipaddress.IPv4Network((first, subnet_prefix))


def host_dev(prefix, path):
    """Interface name of path ``path`` on a generator or a sink."""
    return _ifname('%s-p%d' % (check_prefix(prefix), path))


def shaper_dev(prefix, pair, path, side):
    """Interface name on the shaper, facing the generator (side 0) or the sink (side 1)."""
    return _ifname('%s-%d%s%d' % (check_prefix(prefix), pair, 'gs'[side], path))


def _ifname(name):
    if len(name) > IFNAMSIZ:
        raise PlanError('interface name %r is longer than %d characters: use a shorter lab_prefix'
                        % (name, IFNAMSIZ))
    return name


def _side_index(side):
    if side not in SIDES:
        raise PlanError('side must be one of %s, got %r' % (', '.join(SIDES), side))
    return SIDES.index(side)


def path_links(lab_paths, pair, side, prefix='mlab', address_base=DEFAULT_ADDRESS_BASE,
               subnet_prefix=DEFAULT_SUBNET_PREFIX, table_base=DEFAULT_TABLE_BASE):
    """``lab_path_links`` of one generator or sink (its fields: docs/bare-metal.md)."""
    check_paths(lab_paths)
    check_prefix(prefix)
    me = _side_index(side)
    if isinstance(table_base, bool) or not isinstance(table_base, int) or not 1 <= table_base <= 0xFFFFFFFF - MAX_PATHS:
        raise PlanError('lab_table_base must be an integer in [1, %d], got %r' % (0xFFFFFFFF - MAX_PATHS, table_base))
    links = []
    for path in range(1, len(lab_paths) + 1):
        mine = subnet(pair, path, me, address_base, subnet_prefix)
        theirs = subnet(pair, path, 1 - me, address_base, subnet_prefix)
        links.append({
            'path': path,
            'dev': host_dev(prefix, path),
            'address': str(mine.network_address + 2),
            'prefix': subnet_prefix,
            'peer_address': str(theirs.network_address + 2),
            'gateway': str(mine.network_address + 1),
            'table': table_base + path,
        })
    return links


def shaper_links(lab_paths, pairs, prefix='mlab', address_base=DEFAULT_ADDRESS_BASE,
                 subnet_prefix=DEFAULT_SUBNET_PREFIX):
    """The shaper's interfaces and addresses: one per path per side per pair.

    Items are ``{path, dev, address, prefix}`` (the format mptcp.lab.path_routing
    takes); the shaper is the gateway (``.1``) of every subnet.
    """
    check_paths(lab_paths)
    check_prefix(prefix)
    links = []
    for pair in _check_pairs(pairs, address_base, subnet_prefix):
        for path in range(1, len(lab_paths) + 1):
            for side in (0, 1):
                net = subnet(pair, path, side, address_base, subnet_prefix)
                links.append({'path': path, 'dev': shaper_dev(prefix, pair, path, side),
                              'address': str(net.network_address + 1), 'prefix': subnet_prefix})
    return links


def shaper_devices(lab_paths, pairs, prefix='mlab', address_base=DEFAULT_ADDRESS_BASE,
                   subnet_prefix=DEFAULT_SUBNET_PREFIX):
    """The shaping of every shaper interface (the format mptcp.lab.path_shaping takes).

    Both interfaces of a path get the path's shaping: the one facing the sink
    shapes generator->sink traffic, the one facing the generator the reverse.
    ``label`` (``lab_paths[i]``) lets errors name the inventory field.
    """
    check_paths(lab_paths)
    check_prefix(prefix)
    devices = []
    for pair in _check_pairs(pairs, address_base, subnet_prefix):
        for path, shape in enumerate(lab_paths, start=1):
            for side in (0, 1):
                item = {'dev': shaper_dev(prefix, pair, path, side), 'rate_mbit': shape['rate_mbit'],
                        'label': 'lab_paths[%d]' % (path - 1)}
                for key in ('delay_ms', 'loss_pct', 'queue_limit'):
                    if shape.get(key) is not None:
                        item[key] = shape[key]
                devices.append(item)
    return devices


def bottleneck_dev(prefix, side):
    """Name of the shared bottleneck's ifb device on the shaper, for traffic toward the generators (side 0) or
    the sinks (side 1): ``<prefix>-bg`` or ``<prefix>-bs``."""
    return _ifname('%s-b%s' % (check_prefix(prefix), 'gs'[side]))


def shaper_bottlenecks(path_count, pairs, prefix='mlab', bottleneck=None, label='lab_bottleneck'):
    """The shared bottlenecks of the shaper (the format of mptcp.lab.path_shaping's ``bottlenecks``).

    ``bottleneck``: None (none) or ``{rate_mbit}``: one shaped point that
    every path of every pair crosses, one ifb device per direction, whose
    members are the shaper interfaces facing the sinks (generator->sink
    traffic) or the generators (the reverse). Without a bottleneck both
    devices are listed with no members, so that a shaper that had one loses
    it.
    """
    check_prefix(prefix)
    rate = None
    if bottleneck is not None:
        if not isinstance(bottleneck, dict) or sorted(bottleneck) != ['rate_mbit']:
            raise PlanError('%s must be null (no shared bottleneck) or {rate_mbit: N}, got %r' % (label, bottleneck))
        rate = check_number(bottleneck['rate_mbit'], '%s.rate_mbit' % label, MIN_RATE_MBIT, MAX_RATE_MBIT,
                            unit='Mbit/s')
    out = []
    for side in (1, 0):
        members = []
        if rate is not None:
            members = [shaper_dev(prefix, pair, path, side) for pair in sorted(pairs)
                       for path in range(1, path_count + 1)]
        out.append({'name': bottleneck_dev(prefix, side), 'rate_mbit': rate, 'members': members, 'label': label})
    return out


def _check_pairs(pairs, address_base, subnet_prefix):
    if not isinstance(pairs, (list, tuple)):
        raise PlanError('pairs must be a list of pair numbers')
    seen = set()
    for pair in pairs:
        check_pair(pair, address_base, subnet_prefix)
        if pair in seen:
            raise PlanError('lab_pair %d is used by more than one generator/sink pair' % pair)
        seen.add(pair)
    return sorted(seen)


def wiring(pairs, shaper, path_count, prefix='mlab', address_base=DEFAULT_ADDRESS_BASE,
           subnet_prefix=DEFAULT_SUBNET_PREFIX):
    """What the controller creates: namespaces and veth pairs.

    ``pairs`` is a list of ``{pair, generator, sink}`` where generator and sink
    are namespace names; ``shaper`` is the shaper's namespace. Returns
    ``{namespaces: [...], links: [{netns, name, peer_netns, peer_name}]}``,
    the ``name`` end being on the shaper. Every namespace must carry the prefix.
    """
    check_prefix(prefix)
    if isinstance(path_count, bool) or not isinstance(path_count, int) or not 1 <= path_count <= MAX_PATHS:
        raise PlanError('path count must be in [1, %d], got %r' % (MAX_PATHS, path_count))
    owned = prefix + '-'
    namespaces = [shaper]
    links = []
    seen = set()
    for item in sorted(pairs, key=lambda p: p.get('pair') or 0):
        pair = check_pair(item.get('pair'), address_base, subnet_prefix)
        if pair in seen:
            raise PlanError('lab_pair %d is used by more than one generator/sink pair' % pair)
        seen.add(pair)
        for key in ('generator', 'sink'):
            namespaces.append(item.get(key))
        for path in range(1, path_count + 1):
            links.append({'netns': shaper, 'name': shaper_dev(prefix, pair, path, 0),
                          'peer_netns': item['generator'], 'peer_name': host_dev(prefix, path)})
            links.append({'netns': shaper, 'name': shaper_dev(prefix, pair, path, 1),
                          'peer_netns': item['sink'], 'peer_name': host_dev(prefix, path)})
    for name in namespaces:
        if not isinstance(name, str) or not name.startswith(owned) or len(name) > 200 or '/' in name:
            raise PlanError('namespace %r must start with "%s" (lab_prefix plus "-"), so that the lab '
                            'only ever touches what it created' % (name, owned))
    if len(set(namespaces)) != len(namespaces):
        raise PlanError('namespace names must be unique, got %s' % ', '.join(namespaces))
    return {'namespaces': namespaces, 'links': links}
