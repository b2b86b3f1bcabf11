# -*- coding: utf-8 -*-
# Copyright: (c) mptcp.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""How NetworkManager (>= 1.40) takes part in MPTCP endpoint management.

NetworkManager 1.40 added ``connection.mptcp-flags``. With the value 0
("default") a connection uses the global default from NetworkManager.conf
(``connection.mptcp-flags`` in a ``[connection]`` section), and without one
the fallback ``enabled,subflow``: NetworkManager then adds an MPTCP endpoint
for each address of the device (when net.mptcp.enabled is on and the device
has a default route). Any value without the ``disabled`` bit enables it.
mptcpd's addr_adv plugin manages the same endpoints, so the two fight.

Pure logic only: the module runs nmcli and reads files, this file parses.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

MIN_VERSION = (1, 40)

FLAGS = (
    ('disabled', 0x1),
    ('enabled', 0x2),
    ('also-without-sysctl', 0x4),
    ('also-without-default-route', 0x8),
    ('signal', 0x10),
    ('subflow', 0x20),
    ('backup', 0x40),
    ('fullmesh', 0x80),
)
FLAG_VALUES = dict(FLAGS)
DISABLED = 0x1
FALLBACK = 0x22  # enabled,subflow: what a connection gets when nothing is configured
DEFAULT_NAMES = ('', 'default', 'none')

# Configuration files, lowest priority first (NetworkManager.conf(5)).
CONF_LIB_DIR = 'usr/lib/NetworkManager/conf.d'
CONF_RUN_DIR = 'run/NetworkManager/conf.d'
CONF_ETC_DIR = 'etc/NetworkManager/conf.d'
CONF_MAIN = 'etc/NetworkManager/NetworkManager.conf'
CONF_INTERN = 'var/lib/NetworkManager/NetworkManager-intern.conf'
KEYFILE_DIRS = ('etc/NetworkManager/system-connections', 'run/NetworkManager/system-connections')
CONF_KEY = 'connection.mptcp-flags'


class FlagsError(ValueError):
    pass


def parse_flags(text):
    """Integer value of an mptcp-flags text.

    Accepts what nmcli prints (``0x22 (enabled,subflow)``, ``0x0 (default)``),
    numbers (``34``, ``0x22``) and flag names (``disabled``,
    ``enabled,subflow``). Empty text and ``default`` mean 0.
    """
    text = (text or '').strip()
    match = re.match(r'^(0x[0-9a-fA-F]+|\d+)\s*(\(.*\))?$', text)
    if match:
        return int(match.group(1), 0)
    if text.lower() in DEFAULT_NAMES:
        return 0
    value = 0
    for name in re.split(r'[\s,|]+', text):
        if not name:
            continue
        if name.lower() not in FLAG_VALUES:
            raise FlagsError('unknown mptcp flag %r in %r' % (name, text))
        value |= FLAG_VALUES[name.lower()]
    return value


def flag_names(value):
    """Names of the bits set in value; ['default'] for 0."""
    if not value:
        return ['default']
    return [name for name, bit in FLAGS if value & bit]


def enables(value):
    """True when a non-default value enables MPTCP endpoint handling."""
    return bool(value) and not value & DISABLED


def effective(connection_value, global_default):
    """The flags a connection really uses: its own, else the global default, else the fallback."""
    if connection_value:
        return connection_value
    if global_default:
        return global_default
    return FALLBACK


def parse_version(text):
    """(major, minor, micro) from ``1.42.4`` or ``nmcli tool, version 1.42.4``."""
    match = re.search(r'(\d+)\.(\d+)(?:\.(\d+))?', text or '')
    if not match:
        return None
    return tuple(int(part or 0) for part in match.groups())


def supports_mptcp(version):
    return version is None or tuple(version[:2]) >= MIN_VERSION


def parse_keyfile(text):
    """GKeyFile-style INI: list of (section, key, value) in file order."""
    entries = []
    section = None
    for raw in (text or '').splitlines():
        line = raw.strip()
        if not line or line.startswith('#'):
            continue
        if line.startswith('[') and line.endswith(']'):
            section = line[1:-1].strip()
            continue
        if section is not None and '=' in line:
            key, value = line.split('=', 1)
            entries.append((section, key.strip(), value.strip()))
    return entries


def conf_files(root, extra_etc=(), listdir=os.listdir, isfile=os.path.isfile):
    """NetworkManager.conf and its conf.d snippets under root, in reading order.

    /usr/lib/.../conf.d first, then /run/.../conf.d, then the main file, then
    /etc/.../conf.d, each directory in ASCII order of its *.conf names; a name
    in /etc shadows the same name in /run and /usr/lib, and /run shadows
    /usr/lib. NetworkManager-intern.conf comes last. ``extra_etc`` adds file
    names to /etc/.../conf.d as if they existed (to predict a new file).
    """
    def names(rel):
        try:
            return sorted(n for n in listdir(os.path.join(root, rel)) if n.endswith('.conf'))
        except OSError:
            return []

    etc = sorted(set(names(CONF_ETC_DIR)) | set(extra_etc))
    run, lib = names(CONF_RUN_DIR), names(CONF_LIB_DIR)
    files = [os.path.join(root, CONF_LIB_DIR, n) for n in lib if n not in etc and n not in run]
    files += [os.path.join(root, CONF_RUN_DIR, n) for n in run if n not in etc]
    main = os.path.join(root, CONF_MAIN)
    if isfile(main):
        files.append(main)
    files += [os.path.join(root, CONF_ETC_DIR, n) for n in etc]
    intern = os.path.join(root, CONF_INTERN)
    if isfile(intern):
        files.append(intern)
    return files


def conf_defaults(file_texts):
    """MPTCP defaults from NetworkManager.conf files.

    ``file_texts`` is a list of (path, text) in reading order. Returns
    (global_default, device_defaults): global_default is a dict
    {value, file} from the last ``[connection]`` section setting the key, or
    None; device_defaults lists {value, file, section} of ``[connection-*]``
    sections (defaults that apply to matching devices only).
    """
    global_default = None
    device_defaults = []
    for path, text in file_texts:
        for section, key, value in parse_keyfile(text):
            if key != CONF_KEY or not section.startswith('connection'):
                continue
            try:
                number = parse_flags(value)
            except FlagsError as exc:
                raise FlagsError('%s [%s] %s: %s' % (path, section, key, exc))
            if section == 'connection':
                global_default = dict(value=number, file=path)
            else:
                device_defaults.append(dict(value=number, file=path, section=section))
    return global_default, device_defaults


def keyfile_connection(path, text):
    """A connection profile from a keyfile (.nmconnection): {uuid, name, flags, file}."""
    values = {}
    for section, key, value in parse_keyfile(text):
        if section == 'connection':
            values[key] = value
    return dict(uuid=values.get('uuid'), name=values.get('id'), device=values.get('interface-name'),
                active=None, flags=parse_flags(values.get('mptcp-flags')), file=path)


def split_terse(line):
    """Fields of one ``nmcli -t`` line (':' separates, '\\:' and '\\\\' escape)."""
    fields, current, escaped = [], [], False
    for char in line:
        if escaped:
            current.append(char)
            escaped = False
        elif char == '\\':
            escaped = True
        elif char == ':':
            fields.append(''.join(current))
            current = []
        else:
            current.append(char)
    fields.append(''.join(current))
    return fields


def parse_connection_list(text):
    """``nmcli -t -f UUID,NAME,DEVICE,ACTIVE connection show`` -> list of dicts."""
    out = []
    for line in (text or '').splitlines():
        if not line.strip():
            continue
        fields = split_terse(line)
        if len(fields) < 4:
            continue
        uuid, name, device, active = fields[:4]
        out.append(dict(uuid=uuid, name=name, device=device or None,
                        active=active.strip().lower() == 'yes'))
    return out


def assess(running, version, global_default, device_defaults, connections):
    """Whether NetworkManager manages MPTCP endpoints, and why.

    Returns (managing, reasons); ``managing`` means: NetworkManager runs, is
    new enough, and at least one connection (or the global default, when no
    connection is known) enables MPTCP endpoints.
    """
    reasons = []
    if not supports_mptcp(version):
        return False, reasons
    default_value = global_default['value'] if global_default else 0
    for conn in connections:
        eff = effective(conn['flags'], default_value)
        conn['effective'] = eff
        conn['effective_names'] = flag_names(eff)
        conn['enables'] = enables(eff)
        if conn['enables']:
            source = 'its own mptcp-flags' if conn['flags'] else (
                'the global default in %s' % global_default['file'] if global_default
                else "NetworkManager's built-in default (enabled,subflow)")
            reasons.append('connection %r (%s) enables MPTCP endpoints (%s) through %s'
                           % (conn['name'], conn['uuid'], ','.join(conn['effective_names']), source))
    for dev in device_defaults:
        if enables(dev['value']):
            reasons.append('[%s] in %s sets connection.mptcp-flags=%s for matching devices'
                           % (dev['section'], dev['file'], ','.join(flag_names(dev['value']))))
    if not connections and enables(effective(0, default_value)):
        reasons.append('new connections get MPTCP endpoints from %s'
                       % (global_default['file'] if global_default else "the built-in default (enabled,subflow)"))
    return bool(running and reasons), reasons


def disable_plan(global_after, device_defaults, connections, drop_in, drop_in_text):
    """What turning NetworkManager's MPTCP handling off needs.

    ``global_after`` is the global default as it would be with the drop-in
    file in place, ``drop_in_text`` the drop-in's current content (None when
    missing). Returns dict(write_drop_in, modify, blockers): whether the
    drop-in must be (re)written, the connections whose own flags must become
    ``disabled``, and problems this module does not fix (files of others that
    still enable MPTCP).
    """
    blockers = []
    if not global_after or global_after['value'] != DISABLED:
        blockers.append('%s sets connection.mptcp-flags after %s; remove it or give it 0x1 (disabled)'
                        % (global_after['file'] if global_after else 'another file', drop_in))
    blockers += ['[%s] in %s enables MPTCP for matching devices; set it to 0x1 (disabled) or remove it'
                 % (d['section'], d['file']) for d in device_defaults if enables(d['value'])]
    modify = [c for c in connections if c['flags'] and enables(c['flags'])]
    return dict(write_drop_in=drop_in_text != DROP_IN_TEXT, modify=modify, blockers=blockers)


DROP_IN_TEXT = ('# Managed by Ansible (mptcp.lab.networkmanager_mptcp): mptcpd manages MPTCP\n'
                '# endpoints on this host, so NetworkManager must not add its own.\n'
                '[connection]\n'
                'connection.mptcp-flags=0x1\n')
