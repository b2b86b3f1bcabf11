# -*- coding: utf-8 -*-
# Copyright: (c) mptcp.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""mptcpd: versions, what each version supports, and its configuration file.

Pure logic (no Ansible imports) so unit tests and several modules share it.
The feature table comes from mptcpd's NEWS file:

- 0.6  the ``addr_adv`` plugin;
- 0.8  ``addr-flags`` and ``notify-flags`` (existing, skip_link_local,
  skip_loopback);
- 0.9  ``load-plugins`` and the ``check_route`` notify flag;
- 0.11 the ``fullmesh`` address flag.

mptcpd itself only warns about an unknown flag and ignores it, and it passes
``signal`` together with ``fullmesh`` to the kernel, which then rejects every
endpoint. Checking here turns both into an early, named error.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import re

# The [core] keys, in the order mptcpd's own sample file lists them.
CONFIG_KEYS = ('log', 'plugin-dir', 'path-manager', 'addr-flags', 'notify-flags', 'load-plugins')
LOG_CHOICES = ('stderr', 'syslog', 'journal', 'null')
ADDR_FLAGS = ('subflow', 'signal', 'backup', 'fullmesh')
NOTIFY_FLAGS = ('existing', 'skip_link_local', 'skip_loopback', 'check_route')

# Minimum mptcpd version of each feature: (option, value or None) -> version.
FEATURE_MIN_VERSION = {
    ('addr_flags', None): (0, 8),
    ('notify_flags', None): (0, 8),
    ('load_plugins', None): (0, 9),
    ('notify_flags', 'check_route'): (0, 9),
    ('addr_flags', 'fullmesh'): (0, 11),
}

# Where distributions and source builds put the daemon (it is not on PATH).
BINARY_CANDIDATES = (
    '/usr/libexec/mptcpd',
    '/usr/lib/mptcpd/mptcpd',
    '/usr/local/libexec/mptcpd',
    '/usr/local/bin/mptcpd',
    '/usr/sbin/mptcpd',
    '/usr/bin/mptcpd',
)

PLUGIN_NAME_RE = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_.-]*$')
VERSION_RE = re.compile(r'\bmptcpd\s+v?(\d+)\.(\d+)(?:\.(\d+))?')


def parse_version(text):
    """(major, minor, patch) from ``mptcpd --version`` output, or None."""
    match = VERSION_RE.search(text or '')
    if not match:
        return None
    return tuple(int(part or 0) for part in match.groups())


def parse_version_string(text):
    """(major, minor, patch) from a bare version like ``0.13`` or ``v0.12.1``."""
    match = re.match(r'^v?(\d+)\.(\d+)(?:\.(\d+))?$', (text or '').strip())
    if not match:
        return None
    return tuple(int(part or 0) for part in match.groups())


def version_string(version):
    """'0.12' for (0, 12, 0), '0.12.1' for (0, 12, 1)."""
    if version is None:
        return None
    if len(version) > 2 and version[2]:
        return '%d.%d.%d' % tuple(version[:3])
    return '%d.%d' % tuple(version[:2])


def _ordered_unique(items):
    seen = set()
    out = []
    for item in items or []:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


def normalize(params):
    """The wanted configuration from module-style parameters.

    Flags are de-duplicated and put in mptcpd's canonical order, so the same
    set always renders the same file; plugins keep their order (load order).
    Empty lists and None mean "not set" (the key is left out of the file).
    """
    def flags(name, known):
        values = params.get(name) or []
        return [flag for flag in known if flag in values] + \
            [flag for flag in _ordered_unique(values) if flag not in known]

    return {
        'log': params.get('log') or None,
        'plugin_dir': params.get('plugin_dir') or None,
        'path_manager': params.get('path_manager') or None,
        'addr_flags': flags('addr_flags', ADDR_FLAGS),
        'notify_flags': flags('notify_flags', NOTIFY_FLAGS),
        'load_plugins': _ordered_unique(params.get('load_plugins')),
    }


def available_plugins(plugin_dir):
    """Names of the plugins (``<name>.so``) in plugin_dir, or None if unreadable."""
    try:
        names = os.listdir(plugin_dir)
    except (OSError, TypeError):
        return None
    return sorted(name[:-3] for name in names if name.endswith('.so'))


def validate(config, version=None, plugins=None):
    """Errors (a list of strings naming the field and the rule) for a config.

    ``version`` is the installed mptcpd version tuple (None: unknown, the
    version rules are skipped); ``plugins`` lists the plugins present in the
    plugin directory (None: unknown, presence is not checked).
    """
    errors = []
    if config['log'] is not None and config['log'] not in LOG_CHOICES:
        errors.append('log: must be one of %s, got %r' % (', '.join(LOG_CHOICES), config['log']))
    if config['plugin_dir'] is not None and not os.path.isabs(config['plugin_dir']):
        errors.append('plugin_dir: must be an absolute path, got %r' % config['plugin_dir'])
    for flag in config['addr_flags']:
        if flag not in ADDR_FLAGS:
            errors.append('addr_flags: unknown flag %r (known: %s)' % (flag, ', '.join(ADDR_FLAGS)))
    for flag in config['notify_flags']:
        if flag not in NOTIFY_FLAGS:
            errors.append('notify_flags: unknown flag %r (known: %s)' % (flag, ', '.join(NOTIFY_FLAGS)))
    if 'signal' in config['addr_flags'] and 'fullmesh' in config['addr_flags']:
        errors.append('addr_flags: signal and fullmesh are mutually exclusive '
                      '(the kernel rejects endpoints that carry both)')

    names = ([('path_manager', config['path_manager'])] if config['path_manager'] else []) + \
        [('load_plugins', name) for name in config['load_plugins']]
    for field, name in names:
        if not PLUGIN_NAME_RE.match(name):
            errors.append('%s: %r is not a plugin name (letters, digits, _ . -; no path)' % (field, name))
        elif plugins is not None and name not in plugins:
            errors.append('%s: plugin %r is not in %s (available: %s)'
                          % (field, name, config['plugin_dir'] or 'the plugin directory',
                             ', '.join(plugins) or 'none'))
    if config['path_manager'] and config['load_plugins'] and \
            config['path_manager'] not in config['load_plugins']:
        errors.append('path_manager: %r must also be listed in load_plugins %s, '
                      'or mptcpd will not load it' % (config['path_manager'], config['load_plugins']))

    if version is not None:
        for (field, value), minimum in sorted(FEATURE_MIN_VERSION.items(), key=lambda kv: (kv[0][0], kv[0][1] or '')):
            used = config[field] and (value is None or value in config[field])
            if used and tuple(version[:2]) < minimum:
                what = '%s %r' % (field, value) if value else field
                errors.append('%s: needs mptcpd >= %s, the installed version is %s'
                              % (what, version_string(minimum), version_string(version)))
    return errors


def render(config, header=None):
    """The text of mptcpd.conf for a normalized config (deterministic)."""
    lines = []
    if header:
        lines.extend('# %s' % line if line else '#' for line in header.splitlines())
        lines.append('')
    lines.append('[core]')
    values = {
        'log': config['log'],
        'plugin-dir': config['plugin_dir'],
        'path-manager': config['path_manager'],
        'addr-flags': ','.join(config['addr_flags']),
        'notify-flags': ','.join(config['notify_flags']),
        'load-plugins': ','.join(config['load_plugins']),
    }
    for key in CONFIG_KEYS:
        if values[key]:
            lines.append('%s=%s' % (key, values[key]))
    return '\n'.join(lines) + '\n'


def parse_config(text):
    """The [core] keys of an mptcpd.conf text, as a dict of strings.

    A minimal INI reader with mptcpd's rules: '#' comments, one [core] group,
    last assignment wins. Other groups are ignored.
    """
    values = {}
    group = None
    for raw in (text or '').splitlines():
        line = raw.strip()
        if not line or line.startswith('#'):
            continue
        if line.startswith('[') and line.endswith(']'):
            group = line[1:-1].strip()
            continue
        if group == 'core' and '=' in line:
            key, value = line.split('=', 1)
            values[key.strip()] = value.strip()
    return values


def config_from_file(text):
    """The normalized configuration an mptcpd.conf text holds (None when no text)."""
    if text is None:
        return None
    values = parse_config(text)

    def split(key):
        return [item.strip() for item in values.get(key, '').split(',') if item.strip()]

    return normalize({
        'log': values.get('log'),
        'plugin_dir': values.get('plugin-dir'),
        'path_manager': values.get('path-manager'),
        'addr_flags': split('addr-flags'),
        'notify_flags': split('notify-flags'),
        'load_plugins': split('load-plugins'),
    })


def checksum(text):
    """SHA-1 of a text, as Ansible's stat/copy report it."""
    return hashlib.sha1(text.encode('utf-8')).hexdigest()


def default_plugin_dirs(binary):
    """Where a build puts its plugins, relative to its binary.

    mptcpd's default plugin directory is ``$(libdir)/mptcpd``; the binary is
    in ``$(prefix)/libexec`` or ``$(prefix)/bin``, and libdir is
    ``$(prefix)/lib``, ``$(prefix)/lib64`` (Fedora) or
    ``$(prefix)/lib/<multiarch triplet>`` (Debian).
    """
    if not binary:
        return []
    prefix = os.path.dirname(os.path.dirname(os.path.realpath(binary)))
    out = []
    lib = os.path.join(prefix, 'lib')
    try:
        out.extend(os.path.join(lib, d, 'mptcpd') for d in sorted(os.listdir(lib)) if '-linux-' in d)
    except OSError:
        pass
    out.extend([os.path.join(prefix, 'lib64', 'mptcpd'), os.path.join(lib, 'mptcpd')])
    return out


def detect_plugin_dir(binary):
    """The first default plugin directory of ``binary`` that holds plugins, or None."""
    for candidate in default_plugin_dirs(binary):
        if available_plugins(candidate):
            return candidate
    return None


def find_binary(candidates=BINARY_CANDIDATES, extra_paths=()):
    """The first existing, executable mptcpd among the usual places, or None."""
    for path in list(candidates) + list(extra_paths):
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None
