# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The debug bundle: what a host is asked for, what may leave it, and how it is packed.

Pure functions (no I/O except ``write_archive``), shared by the modules
``debug_collect`` (on each host) and ``debug_bundle`` (on the controller).

What a host is asked for follows mptcpd's ``mptcp-get-debug`` (uname,
os-release, ``sysctl net.mptcp``, endpoints, limits, ``ss -ManiH``,
``nstat``) plus what the lab knows (addresses, rules and the routes of the
lab's tables, qdiscs, offloads, mptcpd, NetworkManager). Every command is an
argument list. Nothing secret leaves a host: only the named files are read,
no environment is dumped, and a text that looks like a private key is
replaced by a note.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import json
import os
import re
import tarfile
import time

# (item name, argv) asked of every host, in the order mptcp-get-debug shows them.
BASE_COMMANDS = (
    ('uname', ['uname', '-a']),
    ('sysctl_mptcp', ['sysctl', 'net.mptcp']),
    ('mptcp_endpoints', ['ip', 'mptcp', 'endpoint', 'show']),
    ('mptcp_limits', ['ip', 'mptcp', 'limits', 'show']),
    ('ss_mptcp', ['ss', '-ManiH']),
)
# What the lab knows beyond that.
LAB_COMMANDS = (
    ('ip_version', ['ip', '-V']),
    ('addresses', ['ip', '-d', 'address', 'show']),
    ('links', ['ip', '-s', '-d', 'link', 'show']),
    ('rules', ['ip', 'rule', 'show']),
    ('rules6', ['ip', '-6', 'rule', 'show']),
    ('routes_main', ['ip', 'route', 'show', 'table', 'main']),
    ('routes6', ['ip', '-6', 'route', 'show', 'table', 'all']),
    ('qdiscs', ['tc', '-s', '-d', 'qdisc', 'show']),
    ('sysctl_tcp', ['sysctl', 'net.ipv4.tcp_congestion_control', 'net.ipv4.tcp_available_congestion_control',
                    'net.core.rmem_max', 'net.core.wmem_max', 'net.ipv4.tcp_rmem', 'net.ipv4.tcp_wmem']),
    ('iperf3_version', ['iperf3', '--version']),
)
# Read as files.
BASE_FILES = (
    ('os_release', '/etc/os-release'),
)
MPTCPD_CONF_FILES = ('/etc/mptcpd/mptcpd.conf', '/usr/local/etc/mptcpd/mptcpd.conf')
# Kernel config lines worth a bug report.
KCONFIG_RE = re.compile(r'^(# )?CONFIG_(MPTCP|INET_MPTCP|NET_SCH_(NETEM|TBF|HTB)|TCP_CONG)[A-Z0-9_]*[= ]')
PRIVATE_KEY_RE = re.compile(r'-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----')
SECRET_NAME_RE = re.compile(r'(^id_(rsa|dsa|ecdsa|ed25519)(?!\.pub$))|(\.(key|pem|p12|pfx)$)|(^shadow$)|(^gshadow$)')
ITEM_NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$')
HOST_NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._:@-]{0,252}$')
# MPTcpExt counters a reader looks at first (fallbacks, failed joins, resets).
WATCHED_COUNTERS = ('MPCapableSYNRX', 'MPCapableSYNTX', 'MPCapableFallbackACK', 'MPCapableFallbackSYNACK',
                    'MPFallbackTokenInit', 'MPJoinSynRx', 'MPJoinSynAckRx', 'MPJoinAckRx',
                    'MPJoinSynTx', 'MPJoinSynTxCreatSkErr', 'MPJoinSynTxBindErr', 'MPJoinSynTxConnectErr',
                    'MPJoinNoTokenFound', 'MPJoinAckHMacFailure', 'MPJoinSynAckHMacFailure', 'DSSNoMatchTCP',
                    'InfiniteMapRx', 'InfiniteMapTx', 'MPTCPRetrans', 'MPFailTx', 'MPFailRx', 'MPRstTx',
                    'MPRstRx', 'AddAddr', 'AddAddrTx', 'AddAddrDrop', 'EchoAdd', 'RmAddr', 'RmSubflow',
                    'Blackhole', 'MPCurrEstab')


class BundleError(ValueError):
    """Bad input to the bundle; the message names the field."""


def safe_name(value, field):
    """A host or item name that is safe as a path component of the archive."""
    if not isinstance(value, str) or not HOST_NAME_RE.match(value) or value in ('.', '..'):
        raise BundleError('%s: must be 1-253 letters, digits, ".", "_", ":", "@" or "-", '
                          'starting with a letter or digit, got %r' % (field, value))
    return value


def secret_path(path):
    """Whether a file's name says it holds a secret (private keys, shadow files)."""
    return bool(SECRET_NAME_RE.search(os.path.basename(path)))


def redact(text):
    """(text, redacted): a text holding a private key is replaced by a note."""
    if text and PRIVATE_KEY_RE.search(text):
        return '[removed by mptcp.lab debug: the text holds a private key]\n', True
    return text, False


def clip(text, max_bytes):
    """(text, truncated): the last max_bytes of text (the tail of a log matters most)."""
    data = (text or '').encode('utf-8', 'replace')
    if len(data) <= max_bytes:
        return text or '', False
    return data[-max_bytes:].decode('utf-8', 'replace'), True


def kconfig_lines(text):
    """The MPTCP, netem, tbf, htb and congestion-control lines of a kernel config."""
    return '\n'.join(line for line in (text or '').splitlines() if KCONFIG_RE.match(line)) + '\n'


def host_commands(tables=(), interfaces=(), mptcpd_binary=None, systemd=False, nstat_bin='nstat'):
    """The (item name, argv, env) a host is asked for.

    ``tables``: the lab's policy-routing tables (their routes are listed);
    ``interfaces``: the devices whose offloads are listed; ``nstat_bin`` is
    run with ``-s`` (never updating nstat's history), once relative to the
    history the reproduce mode reset and once absolute.
    """
    out = [(name, list(argv), None) for name, argv in BASE_COMMANDS]
    out.append(('nstat', [nstat_bin, '-s'], 'history'))
    out.append(('nstat_absolute', [nstat_bin, '-a', '-s', '-z'], 'history'))
    out += [(name, list(argv), None) for name, argv in LAB_COMMANDS]
    for table in sorted(set(int(t) for t in tables)):
        out.append(('routes_table_%d' % table, ['ip', 'route', 'show', 'table', str(table)], None))
    for dev in sorted(set(interfaces)):
        out.append(('offloads_%s' % dev, ['ethtool', '-k', dev], None))
    if mptcpd_binary:
        out.append(('mptcpd_version', [mptcpd_binary, '--version'], None))
    if systemd:
        out.append(('mptcpd_journal', ['journalctl', '--no-pager', '-o', 'short-iso', '-n', '300',
                                       '-u', 'mptcp.service'], None))
        out.append(('mptcp_service', ['systemctl', '--no-pager', 'status', 'mptcp.service'], None))
    return out


def file_item_name(path, used):
    """A unique item name for a file: file_<basename>, numbered when taken."""
    base = 'file_' + re.sub(r'[^A-Za-z0-9._-]', '_', os.path.basename(path) or 'root')
    name, n = base, 2
    while name in used:
        name = '%s_%d' % (base, n)
        n += 1
    return name


# ---------------------------------------------------------------- controller side

def _item_path(bundle_id, host, phase, item):
    parts = [bundle_id, host] + ([phase] if phase else []) + ['%s.txt' % item['name']]
    return '/'.join(parts)


def layout(bundle_id, hosts, reproduce=False):
    """Files of the archive and the manifest.

    ``hosts`` maps a host name to {collect: [phase results], monitor, facts,
    networkmanager, error}; a phase result is {phase, items: [...]} as
    ``debug_collect`` returns it. Returns (files, manifest): files is a list
    of (archive path, text), the manifest lists every item of every host
    with its command or file, rc, and where it is in the archive.
    """
    safe_name(bundle_id, 'id')
    files = []
    manifest = {'id': bundle_id, 'mode': 'reproduce' if reproduce else 'collect', 'hosts': {}}
    for host in sorted(hosts):
        safe_name(host, 'hosts')
        data = hosts[host] or {}
        entry = {'error': data.get('error'), 'items': []}
        for phase_result in data.get('collect') or []:
            phase = phase_result.get('phase') or ''
            for item in phase_result.get('items') or []:
                if not ITEM_NAME_RE.match(item.get('name') or ''):
                    raise BundleError('hosts.%s: item name %r is not a safe file name' % (host, item.get('name')))
                path = _item_path(bundle_id, host, phase if reproduce else '', item)
                text = item.get('output') or ''
                if item.get('error'):
                    text = (text + '\n' if text else '') + '[%s]\n' % item['error']
                files.append((path, text))
                record = dict((k, item.get(k)) for k in ('name', 'argv', 'path', 'rc', 'seconds', 'error',
                                                         'truncated', 'redacted'))
                record.update(phase=phase or None, file=path)
                entry['items'].append(record)
        for key, name in (('facts', 'mptcp_info.json'), ('networkmanager', 'networkmanager.json')):
            if data.get(key) is not None:
                path = '%s/%s/%s' % (bundle_id, host, name)
                files.append((path, json.dumps(data[key], indent=2, sort_keys=True, default=str) + '\n'))
                entry['items'].append({'name': name.split('.', maxsplit=1)[0], 'argv': None, 'path': None, 'rc': 0,
                                       'phase': None, 'file': path, 'error': None})
        monitor = data.get('monitor')
        if monitor is not None:
            path = '%s/%s/ip_mptcp_monitor.txt' % (bundle_id, host)
            files.append((path, monitor.get('output') or ''))
            entry['items'].append({'name': 'ip_mptcp_monitor', 'argv': monitor.get('argv'), 'path': None,
                                   'rc': monitor.get('rc'), 'phase': None, 'file': path,
                                   'error': monitor.get('error'), 'events': monitor.get('events'),
                                   'stopped_by': monitor.get('stopped_by')})
        manifest['hosts'][host] = entry
    return files, manifest


def _items_by_name(data, phase=None):
    runs = (data or {}).get('collect') or []
    if phase is not None:
        runs = [r for r in runs if r.get('phase') == phase] or runs
    out = {}
    for run in runs:
        for item in run.get('items') or []:
            out[item['name']] = item
    return out


def _first_line(text):
    for line in (text or '').splitlines():
        if line.strip():
            return line.strip()
    return '-'


def _counters(text):
    """{counter: value} of nstat's output (name value rate)."""
    out = {}
    for line in (text or '').splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[1].isdigit():
            out[fields[0]] = int(fields[1])
    return out


def summary(bundle_id, hosts, manifest, created, command=None):
    """The one-page text to paste into an issue (mptcp_net-next's bug form order)."""
    lines = ['mptcp.lab debug bundle %s (%s, %s)' % (bundle_id, manifest['mode'], created), '']
    if command is not None:
        argv = ' '.join(command.get('argv') or ['(Enter)'])
        lines += ['Reproduced with: %s -> rc %s' % (argv, command.get('rc')), '']
    for host in sorted(hosts):
        data = hosts[host] or {}
        lines.append('== %s' % host)
        if data.get('error'):
            lines += ['   no data: %s' % data['error'], '']
            continue
        last = 'after' if manifest['mode'] == 'reproduce' else None
        items = _items_by_name(data, last)
        facts = data.get('facts') or {}
        lines.append('   kernel:    %s' % _first_line(items.get('uname', {}).get('output')))
        os_release = dict(re.findall(r'^(\w+)="?([^"\n]*)"?$', items.get('os_release', {}).get('output') or '',
                                     re.M))
        lines.append('   os:        %s' % os_release.get('PRETTY_NAME', '-'))
        settings = facts.get('settings') or {}
        if settings:
            lines.append('   mptcp:     enabled=%s path_manager=%s scheduler=%s checksum=%s' % (
                settings.get('enabled'), settings.get('path_manager', settings.get('pm_type')),
                settings.get('scheduler'), settings.get('checksum_enabled')))
        limits = facts.get('limits') or {}
        if limits:
            lines.append('   limits:    subflows %s, add_addr_accepted %s'
                         % (limits.get('subflows'), limits.get('add_addr_accepted')))
        endpoints = facts.get('endpoints')
        if endpoints is not None:
            lines.append('   endpoints: %s' % (', '.join(
                '%s id %s %s%s' % (e.get('address'), e.get('id'), ','.join(e.get('flags') or []) or '-',
                                   ' dev %s' % e['dev'] if e.get('dev') else '')
                for e in endpoints) or 'none'))
        ss = items.get('ss_mptcp', {}).get('output') or ''
        sockets = [line for line in ss.splitlines() if line.strip() and not line[:1].isspace()]
        lines.append('   ss -M:     %d MPTCP socket(s)' % len(sockets))
        counters = _counters(items.get('nstat', {}).get('output'))
        watched = ['%s=%d' % (k[len('MPTcpExt'):], v) for k, v in sorted(counters.items())
                   if k.startswith('MPTcpExt') and k[len('MPTcpExt'):] in WATCHED_COUNTERS and v]
        lines.append('   MPTcpExt:  %s' % (' '.join(watched) or 'no watched counter moved'))
        nm = data.get('networkmanager') or {}
        if nm:
            lines.append('   NetworkManager: %s' % (
                'manages MPTCP endpoints' if nm.get('manages_mptcp') else
                'running, not managing MPTCP endpoints' if nm.get('running') else
                'not running' if nm.get('installed') else 'not installed'))
        monitor = data.get('monitor')
        if monitor is not None:
            lines.append('   ip mptcp monitor: %s event(s)%s' % (
                monitor.get('events'), ' (%s)' % monitor['error'] if monitor.get('error') else ''))
        failed = [i for i in manifest['hosts'][host]['items'] if i.get('error') or (i.get('rc') not in (0, None))]
        if failed:
            lines.append('   not collected: %s' % ', '.join(
                '%s (%s)' % (i['name'], i.get('error') or 'rc %s' % i.get('rc')) for i in failed[:12]))
        lines.append('')
    lines.append('Every item, per host, is in the archive; manifest.json lists each command and its rc.')
    return '\n'.join(lines) + '\n'


def write_archive(dest, files, mtime=None):
    """Write files [(archive path, text)] as dest (.tar.gz), atomically; returns its size."""
    mtime = int(mtime if mtime is not None else time.time())
    tmp = '%s.tmp-%d' % (dest, os.getpid())
    try:
        with tarfile.open(tmp, 'w:gz') as tar:
            for path, text in files:
                data = text.encode('utf-8', 'replace')
                info = tarfile.TarInfo(path)
                info.size = len(data)
                info.mtime = mtime
                info.mode = 0o640
                tar.addfile(info, io.BytesIO(data))
        os.chmod(tmp, 0o640)
        os.rename(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return os.path.getsize(dest)
