# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The lab's route protocol number: which numbers it may use, from the host's rt_protos.

The lab marks every address, route and rule it creates with one protocol number (default 211) and
removes only what carries it (and sits in its own tables, priorities and devices). A number that the
system or another routing program uses would make the lab take their objects for its own, so it is
refused: 0-4 (unspec, redirect, kernel, boot, static, used by the kernel and by ``ip`` itself) and any
number or name that the host's rt_protos files list (iproute2 reads /etc/iproute2/rt_protos, or
/usr/share/iproute2/rt_protos when the former is missing, then rt_protos.d/*.conf of both).

Pure functions; the only I/O is ``read_rt_protos``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

DEFAULT_PROTOCOL = 211
SYSTEM_PROTOCOLS = {0: 'unspec', 1: 'redirect', 2: 'kernel', 3: 'boot', 4: 'static'}
RT_PROTOS_DIRS = ('/etc/iproute2', '/usr/share/iproute2')


def parse_rt_protos(text):
    """``{number: name}`` of an rt_protos file's text: ``<number> <name>`` lines, ``#`` comments.

    Numbers may be written in decimal or hex (``0x..``), as iproute2 accepts; malformed lines are
    skipped, as iproute2 skips them.
    """
    found = {}
    for line in text.splitlines():
        line = line.split('#', 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        if len(fields) < 2:
            continue
        try:
            number = int(fields[0], 0)
        except ValueError:
            continue
        if 0 <= number <= 255:
            found[number] = fields[1]
    return found


def rt_protos_files(dirs=RT_PROTOS_DIRS):
    """The rt_protos files that exist, in the order iproute2 reads them."""
    files = []
    for base in dirs:
        path = os.path.join(base, 'rt_protos')
        if os.path.isfile(path):
            files.append(path)
    for base in dirs:
        conf = os.path.join(base, 'rt_protos.d')
        try:
            names = sorted(os.listdir(conf))
        except OSError:
            continue
        files.extend(os.path.join(conf, n) for n in names
                     if n.endswith('.conf') and os.path.isfile(os.path.join(conf, n)))
    return files


def read_rt_protos(dirs=RT_PROTOS_DIRS):
    """``{number: (name, file)}`` from every rt_protos file of the host; unreadable files are skipped."""
    found = {}
    for path in rt_protos_files(dirs):
        try:
            with open(path) as handle:
                text = handle.read()
        except (IOError, OSError, UnicodeDecodeError):
            continue
        for number, name in parse_rt_protos(text).items():
            found.setdefault(number, (name, path))
    return found


def check_protocol(value, field, known):
    """Validate a route protocol; returns ``(number, None)`` or ``(None, message)``.

    ``value`` is what the user gave (an int, a numeric string, or a name); ``field`` names the
    variable for the message; ``known`` is ``read_rt_protos()``'s result.
    """
    rule = ('must be a number in [5, 255] that neither the system (0-4) nor the host\'s rt_protos '
            '(%s) use' % ', '.join(sorted(set(f for dummy, f in known.values()))) if known else
            'must be a number in [5, 255] that the system does not use (0-4)')
    number = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            number = int(text, 0)
        except ValueError:
            names = dict((n, num) for num, (n, dummy) in known.items())
            names.update((n, num) for num, n in SYSTEM_PROTOCOLS.items())
            if text in names:
                return None, ('%s: %r is the name of route protocol %d, which %s: the lab would take '
                              'their routes and rules for its own. %s'
                              % (field, value, names[text], _user(names[text], known), _rule(field, rule)))
    if number is None:
        return None, '%s %s (default %d), got %r' % (field, rule, DEFAULT_PROTOCOL, value)
    if number in SYSTEM_PROTOCOLS:
        return None, ('%s: %d is route protocol "%s", which the system uses: the lab would take its routes '
                      'and rules for its own. %s' % (field, number, SYSTEM_PROTOCOLS[number], _rule(field, rule)))
    if not 5 <= number <= 255:
        return None, '%s %s (default %d), got %r' % (field, rule, DEFAULT_PROTOCOL, value)
    if number in known:
        name, path = known[number]
        return None, ('%s: %d is route protocol "%s" in %s, which another program uses: the lab would take '
                      'its routes and rules for its own. %s' % (field, number, name, path, _rule(field, rule)))
    return number, None


def _user(number, known):
    if number in SYSTEM_PROTOCOLS:
        return 'the system uses'
    return 'another program uses (%s)' % known[number][1]


def _rule(field, rule):
    return '%s %s (default %d).' % (field, rule, DEFAULT_PROTOCOL)
