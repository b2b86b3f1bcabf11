# -*- coding: utf-8 -*-
# Copyright: (c) mptcp.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one netlink helper of mptcp.lab: the kernel's MPTCP path manager.

Built on pyroute2's ``MPTCP`` generic-netlink socket (family ``mptcp_pm``).
It adds what pyroute2 0.9.7 lacks:

* ``MPTCP_PM_CMD_SET_FLAGS`` (7): changes the backup/fullmesh flags of an
  endpoint in place, keeping its id and every live subflow that uses it
  (deleting and re-adding would tear those subflows down);
* the kernel's extended-ack text in errors (``NETLINK_EXT_ACK``), so a
  rejected request says why (``flags mustn't have both signal and
  fullmesh``) instead of a bare errno;
* decoding of the dump into plain dicts (flag names, interface names).

Everything acts on the network namespace of the calling process.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import socket
import struct
import traceback

try:
    from pyroute2.netlink import NLA_F_NESTED, NLM_F_ACK, NLM_F_REQUEST
    from pyroute2.netlink.exceptions import NetlinkError
    from pyroute2.netlink.generic.mptcp import (
        MPTCP,
        MPTCP_PM_CMD_SET_FLAGS,
        AsyncMPTCP,
        mptcp_msg,
    )
except ImportError:  # pragma: no cover - depends on the host
    HAS_PYROUTE2 = False
    PYROUTE2_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_PYROUTE2 = True
    PYROUTE2_IMPORT_ERROR = None

# Endpoint flag bits (include/uapi/linux/mptcp.h), in the order ip(8) prints them.
FLAG_BITS = (
    ('signal', 1 << 0),
    ('subflow', 1 << 1),
    ('backup', 1 << 2),
    ('fullmesh', 1 << 3),
    ('implicit', 1 << 4),
    ('laminar', 1 << 5),
)
FLAG_VALUES = dict(FLAG_BITS)
FLAG_ORDER = [name for name, _bit in FLAG_BITS]
# Flags a user may set; ``implicit`` is set by the kernel only.
USER_FLAGS = ('signal', 'subflow', 'backup', 'fullmesh', 'laminar')
# The only flags MPTCP_PM_CMD_SET_FLAGS changes (mptcp_pm_nl_set_flags()).
CHANGEABLE_FLAGS = ('backup', 'fullmesh')
# Kernel limits (MPTCP_PM_ADDR_MAX and the id bitmap of pm_netlink/pm_kernel).
MAX_ENDPOINTS = 8
MAX_LIMIT = 8
MIN_ID = 1
MAX_ID = 255
# The first kernel release that knows the laminar flag.
LAMINAR_KERNEL = (6, 18)

GENL_FAMILY = 'mptcp_pm'


def flags_to_names(bits):
    """Decode a flag bitmask into names in canonical order.

    Unknown bits (a newer kernel) come out as ``0x..`` so nothing is hidden.
    """
    names = [name for name, bit in FLAG_BITS if bits & bit]
    unknown = bits & ~sum(FLAG_VALUES.values())
    if unknown:
        names.append('0x%x' % unknown)
    return names


def names_to_flags(names):
    """Encode flag names into the kernel bitmask (names must be known)."""
    bits = 0
    for name in names or ():
        bits |= FLAG_VALUES[name]
    return bits


def sort_flags(names):
    """Flag names in canonical order, without duplicates."""
    names = set(names or ())
    return [n for n in FLAG_ORDER if n in names] + sorted(n for n in names if n not in FLAG_VALUES)


def kernel_release():
    return os.uname()[2]


def kernel_version(release=None):
    """(major, minor) of a release string such as ``6.18.44-fc``; (0, 0) if unparsable."""
    release = release if release is not None else kernel_release()
    parts = []
    for chunk in release.split('.')[:2]:
        digits = ''
        for char in chunk:
            if not char.isdigit():
                break
            digits += char
        if not digits:
            break
        parts.append(int(digits))
    while len(parts) < 2:
        parts.append(0)
    return tuple(parts)


def kernel_supports_laminar(release=None):
    """Older kernels accept the laminar bit silently but ignore it, so go by release."""
    return kernel_version(release) >= LAMINAR_KERNEL


class MptcpError(Exception):
    """A request the kernel refused, with its extended-ack text when it gave one."""

    def __init__(self, operation, code, kernel_msg=None):
        self.operation = operation
        self.code = code
        self.kernel_msg = kernel_msg
        text = os.strerror(code) if code else 'unknown error'
        detail = kernel_msg if kernel_msg and kernel_msg != text else None
        msg = 'kernel rejected %s: %s' % (operation, text)
        if detail:
            msg = 'kernel rejected %s: %s (%s)' % (operation, detail, text)
        super(MptcpError, self).__init__(msg)


class MptcpUnsupported(Exception):
    """The running kernel has no MPTCP path manager (no ``mptcp_pm`` genl family)."""


def _error(operation, exc):
    code = getattr(exc, 'code', 0) or 0
    kernel_msg = None
    args = getattr(exc, 'args', ())
    if len(args) > 1 and isinstance(args[1], str):
        kernel_msg = args[1]
    return MptcpError(operation, code, kernel_msg)


if HAS_PYROUTE2:

    class _AsyncMptcpPM(AsyncMPTCP):
        """pyroute2's MPTCP socket plus MPTCP_PM_CMD_SET_FLAGS."""

        async def set_flags(self, **attrs):
            msg = mptcp_msg()
            msg['cmd'] = MPTCP_PM_CMD_SET_FLAGS
            msg['version'] = 1
            addr = {'attrs': [(mptcp_msg.pm_addr.name2nla(key), value) for key, value in attrs.items()]}
            msg['attrs'] = [('MPTCP_PM_ATTR_ADDR', addr, NLA_F_NESTED)]
            return await self.nlm_request(msg, msg_type=self.prid, msg_flags=NLM_F_REQUEST | NLM_F_ACK)

    class _MptcpPM(MPTCP):
        async_class = _AsyncMptcpPM

        def set_flags(self, **attrs):
            return self._run_sync_cleanup(self.asyncore.set_flags, **attrs)


def _ifindex_from_hex(value):
    """pyroute2 types IF_IDX as 'hex' and returns '02:00:00:00' (native int32)."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    raw = bytes.fromhex(value.replace(':', ''))
    if len(raw) != 4:
        return 0
    return struct.unpack('i', raw)[0]


def ifname(index):
    if not index:
        return None
    try:
        return socket.if_indextoname(index)
    except OSError:
        return None


def ifindex(name):
    """Interface index of ``name`` in this network namespace, or None."""
    try:
        return socket.if_nametoindex(name)
    except (OSError, ValueError):
        return None


def decode_endpoint(msg):
    """One MPTCP_PM_CMD_GET_ADDR reply as a plain dict."""
    addr = msg.get_attr('MPTCP_PM_ATTR_ADDR')
    attrs = dict((key, value) for key, value in addr['attrs'])
    index = _ifindex_from_hex(attrs.get('MPTCP_PM_ADDR_ATTR_IF_IDX'))
    flags = attrs.get('MPTCP_PM_ADDR_ATTR_FLAGS') or 0
    address = attrs.get('MPTCP_PM_ADDR_ATTR_ADDR4') or attrs.get('MPTCP_PM_ADDR_ATTR_ADDR6')
    return {
        'id': attrs.get('MPTCP_PM_ADDR_ATTR_ID'),
        'address': address,
        'port': attrs.get('MPTCP_PM_ADDR_ATTR_PORT') or None,
        'dev': ifname(index),
        'ifindex': index or None,
        'flags': flags_to_names(flags),
    }


class MptcpNetlink:
    """The kernel path manager of the caller's network namespace.

    Use as a context manager. Raises MptcpUnsupported when the kernel has no
    MPTCP, MptcpError when the kernel refuses a request.
    """

    def __init__(self):
        if not HAS_PYROUTE2:
            raise RuntimeError('pyroute2 is required')
        try:
            self.sock = _MptcpPM(ext_ack=True)
        except NetlinkError as exc:
            if exc.code in (errno.ENOENT, errno.EOPNOTSUPP):
                raise MptcpUnsupported('the kernel has no MPTCP path manager (genl family %s)' % GENL_FAMILY)
            raise _error('opening the %s netlink family' % GENL_FAMILY, exc)

    def close(self):
        sock, self.sock = getattr(self, 'sock', None), None
        if sock is not None:
            sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    # endpoints -----------------------------------------------------------

    def endpoints(self):
        """All endpoints, sorted by id."""
        try:
            msgs = self.sock.endpoint('show')
        except NetlinkError as exc:
            raise _error('endpoint dump', exc)
        return sorted((decode_endpoint(m) for m in msgs), key=lambda e: e['id'] or 0)

    def add_endpoint(self, address, id=None, port=None, flags=(), dev=None):
        """Add an endpoint; ``dev`` is an interface name of this namespace."""
        kwargs = {'flags': names_to_flags(flags)}
        if ':' in address:
            kwargs['addr6'] = address
        else:
            kwargs['addr4'] = address
        if id:
            kwargs['id'] = id
        if port:
            kwargs['port'] = port
        if dev:
            index = ifindex(dev)
            if index is None:
                raise MptcpError('endpoint add %s' % address, errno.ENODEV, 'no interface named %s' % dev)
            kwargs['if_idx'] = struct.pack('i', index)
        try:
            self.sock.endpoint('add', **kwargs)
        except NetlinkError as exc:
            raise _error('endpoint add %s' % address, exc)

    def delete_endpoint(self, id):
        """Delete the endpoint with this id (ids 1-255 identify one endpoint)."""
        try:
            self.sock.endpoint('del', id=id)
        except NetlinkError as exc:
            raise _error('endpoint delete id %s' % id, exc)

    def flush_endpoints(self):
        try:
            self.sock.endpoint('flush')
        except NetlinkError as exc:
            raise _error('endpoint flush', exc)

    def set_flags(self, id, flags):
        """Set backup/fullmesh of endpoint ``id`` in place (other flags are ignored by the kernel)."""
        try:
            self.sock.set_flags(id=id, flags=names_to_flags(flags))
        except NetlinkError as exc:
            raise _error('endpoint set_flags id %s' % id, exc)

    # limits --------------------------------------------------------------

    def limits(self):
        try:
            (msg,) = self.sock.limits('show')
        except NetlinkError as exc:
            raise _error('limits get', exc)
        return {
            'subflows': msg.get_attr('MPTCP_PM_ATTR_SUBFLOWS'),
            'add_addr_accepted': msg.get_attr('MPTCP_PM_ATTR_RCV_ADD_ADDRS'),
        }

    def set_limits(self, subflows, add_addr_accepted):
        try:
            self.sock.limits('set', subflows=subflows, add_addr_accepted=add_addr_accepted)
        except NetlinkError as exc:
            raise _error('limits set', exc)
