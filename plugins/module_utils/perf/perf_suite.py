# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Perf suite definitions: validation, expansion and the measurement plan.

Pure functions, no I/O. The suite format is documented in
roles/perf_suite/README.md; in short::

    name: default                  # optional, defaults to the file name
    description: free text
    defaults:                      # any test field except name
      duration_s: 20
      repetitions: 3
    tests:
      - name: tcp-up
        protocol: tcp              # tcp | mptcp
        paths: 1                   # how many (first N), "all", or which: [2] / [1, 3]
        direction: upload          # upload | download | bidir
        streams: 1
        congestion: cubic          # TCP congestion control (iperf3 -C); host default if unset
        capture: true              # header-only packet capture of each measurement (raw/*.pcap)
        shaping: none              # the paths' shaping for this test: none, lab, or one entry per path
        sysctls:                   # net.mptcp.* and net.ipv4.tcp_* on both ends for this test
          net.mptcp.checksum_enabled: 1
        scheduler: default         # net.mptcp.scheduler on both ends (a sysctl by its own name)
        path_manager: kernel       # net.mptcp.path_manager on both ends (kernel | userspace)
        backup_paths: [2]          # MPTCP only: the sink announces these paths as backup
        offloads: {gso: false}     # gro, gso, tso of both ends' path interfaces for this test
        commands:                  # around each measurement of the test, on generator, sink or all
          pre:
            - {host: sink, argv: [ip, mptcp, endpoint, show]}
          post:
            - {host: all, script: scripts/collect.sh, args: [--quick], timeout_s: 30}
      - name: mptcp
        protocol: mptcp
        paths: all
        matrix:                    # expands into mptcp-upload and mptcp-download
          direction: [upload, download]
      - name: rr-mptcp
        kind: latency              # throughput (default, iperf3) | latency (sockperf ping-pong)
        load: bulk                 # latency only: none (default) | bulk (an iperf3 flow meanwhile)
        msg_size: 64               # latency only: request and reply bytes

Every error names the test and the field:
``tests[2] 'mptcp-up': paths must be 1..2 (the lab has 2 paths), got 3``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import itertools
import json
import math
import re

from ansible_collections.mptcp.lab.plugins.module_utils.lab import lab_plan

PROTOCOLS = ('tcp', 'mptcp')
DIRECTIONS = ('upload', 'download', 'bidir')
KINDS = ('throughput', 'latency')
LOADS = ('none', 'bulk')
# Fields of latency tests only; and what they default to.
LATENCY_KEYS = ('load', 'msg_size')
LATENCY_DEFAULTS = {'load': 'none', 'msg_size': 64}
MIN_MSG_SIZE, MAX_MSG_SIZE = 14, 65000
# A latency measurement's seconds beyond duration_s: sockperf's fixed 2 s
# pause and its cleanup, and with load the bulk flow's extra second.
LATENCY_EXTRA_S = 3
NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$')
CONGESTION_RE = re.compile(r'^[a-z][a-z0-9_]{0,15}$')
MATRIX_KEYS = ('protocol', 'paths', 'direction', 'streams', 'congestion', 'load', 'scheduler', 'path_manager',
               'pairs')
TEST_KEYS = ('name', 'protocol', 'paths', 'direction', 'streams', 'congestion', 'duration_s', 'omit_s',
             'repetitions', 'matrix', 'capture', 'shaping', 'sysctls', 'scheduler', 'path_manager',
             'backup_paths', 'offloads', 'commands', 'kind', 'load', 'msg_size', 'pairs', 'mix', 'bottleneck')
SUITE_KEYS = ('name', 'description', 'defaults', 'tests')
BUILTIN_DEFAULTS = {
    'protocol': 'mptcp',
    'paths': 'all',
    'direction': 'upload',
    'streams': 1,
    'congestion': None,
    'duration_s': 20,
    'omit_s': 1,
    'repetitions': 3,
    'capture': False,
    'shaping': None,
    'sysctls': None,
    'scheduler': None,
    'path_manager': None,
    'backup_paths': None,
    'offloads': None,
    'commands': None,
    'pairs': 1,
    'mix': None,
    'bottleneck': None,
}
MAX_STREAMS = 128
MAX_DURATION_S = 86400
MAX_REPETITIONS = 1000
MAX_PAIRS = 256
# Ideal goodput over a rate-shaped Ethernet path: MSS 1448 (1500 - IP 20 -
# TCP 20 - timestamps 12) out of a 1514-byte frame (tbf counts the Ethernet
# header of the veth skb).
GOODPUT_FACTOR = 1448.0 / 1514.0


class SuiteError(ValueError):
    """Invalid suite definition; the message names the test and the field."""


def _where(index, name):
    if index is None:
        return 'defaults'
    return 'tests[%d]%s' % (index, " '%s'" % name if isinstance(name, str) and name else '')


def _int(value, where, field, low, high, allow_str=False):
    """An integer in [low, high]. Strings only where -e key=value gives them (allow_str)."""
    rule = '%s: %s must be an integer %d..%d, got %r' % (where, field, low, high, value)
    if isinstance(value, bool):
        raise SuiteError(rule)
    if isinstance(value, str):
        if allow_str and value.strip().isdigit():
            value = int(value.strip())
        else:
            raise SuiteError(rule + ('' if allow_str else ' (a string: write numbers without quotes)'))
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value) or value != int(value):
            raise SuiteError(rule)
        value = int(value)
    if not isinstance(value, int) or not low <= value <= high:
        raise SuiteError(rule)
    return value


def _choice(value, where, field, choices):
    if value not in choices:
        raise SuiteError('%s: %s must be one of %s, got %r' % (where, field, ', '.join(choices), value))
    return value


def parse_paths(value, where, path_count):
    """Path ids (1-based, ascending) for a paths field: N, "all" or a list."""
    if value == 'all':
        return list(range(1, path_count + 1))
    if isinstance(value, (list, tuple)):
        if not value:
            raise SuiteError('%s: paths must not be an empty list' % where)
        ids = []
        for v in value:
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= path_count:
                raise SuiteError('%s: paths lists path numbers 1..%d (the lab has %d paths), got %r'
                                 % (where, path_count, path_count, v))
            if v in ids:
                raise SuiteError('%s: paths lists path %d twice' % (where, v))
            ids.append(v)
        return sorted(ids)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= path_count:
        raise SuiteError('%s: paths must be 1..%d (the lab has %d paths), "all", or a list of '
                         'path numbers, got %r' % (where, path_count, path_count, value))
    return list(range(1, value + 1))


def _check_keys(data, allowed, where):
    unknown = sorted(str(k) for k in data if k not in allowed)
    if unknown:
        raise SuiteError('%s: unknown field(s) %s; allowed: %s'
                         % (where, ', '.join(unknown), ', '.join(allowed)))


SHAPING_WORDS = ('lab', 'none')
NETEM_KEYS = ('delay_ms', 'loss_pct', 'queue_limit')


def check_shaping(value, where, path_count):
    """A test's ``shaping``: None (the lab's ``lab_paths``) or one dict per lab path.

    ``lab`` (or null) is the lab's own shaping; ``none`` leaves every path
    unshaped (no rate limit, no delay or loss: the shaper only routes); a
    list has one ``{rate_mbit, delay_ms, loss_pct, queue_limit}`` per path of
    the lab, in path order, as ``lab_paths`` does, where ``rate_mbit`` is
    required and null means no rate limit on that path. The bounds are the
    lab's (lab_plan.check_paths). Returned entries always have
    ``rate_mbit`` (a number or None) and the other keys only when given.
    """
    if value is None or value == 'lab':
        return None
    if value == 'none':
        return [{'rate_mbit': None} for _dummy in range(path_count)]
    rule = ('shaping must be "lab", "none" or a list of one {rate_mbit, delay_ms, loss_pct, queue_limit} '
            'per path of the lab (%d path%s; rate_mbit null = no rate limit)' % (path_count, '' if path_count == 1 else 's'))
    if not isinstance(value, list):
        raise SuiteError('%s: %s, got %r' % (where, rule, value))
    if len(value) != path_count:
        raise SuiteError('%s: %s, got %d entr%s' % (where, rule, len(value), 'y' if len(value) == 1 else 'ies'))
    out = []
    for i, entry in enumerate(value):
        field = '%s: shaping[%d]' % (where, i)
        if not isinstance(entry, dict):
            raise SuiteError('%s must be a mapping {rate_mbit, delay_ms, loss_pct, queue_limit}, got %r'
                             % (field, entry))
        unknown = sorted(str(k) for k in entry if k not in lab_plan.PATH_KEYS)
        if unknown:
            raise SuiteError('%s has unknown key(s) %s; allowed: %s'
                             % (field, ', '.join(unknown), ', '.join(lab_plan.PATH_KEYS)))
        if 'rate_mbit' not in entry:
            raise SuiteError('%s.rate_mbit is required: the rate of the path in Mbit/s, in [%s, %s], '
                             'or null for no rate limit' % (field, lab_plan.MIN_RATE_MBIT, lab_plan.MAX_RATE_MBIT))
        shape = {'rate_mbit': None}
        try:
            if entry['rate_mbit'] is not None:
                shape['rate_mbit'] = lab_plan.check_number(entry['rate_mbit'], '%s.rate_mbit' % field,
                                                           lab_plan.MIN_RATE_MBIT, lab_plan.MAX_RATE_MBIT,
                                                           unit='Mbit/s (or null for no rate limit)')
            for key, low, high, integer in lab_plan.PATH_BOUNDS:
                if entry.get(key) is not None:
                    shape[key] = lab_plan.check_number(entry[key], '%s.%s' % (field, key), low, high,
                                                       integer=integer)
        except lab_plan.PlanError as exc:
            raise SuiteError(str(exc))
        out.append(shape)
    return out


def check_bottleneck(value, where):
    """A test's ``bottleneck``: None (the lab's ``lab_bottleneck``), ``none``, or ``{rate_mbit}``.

    A shared bottleneck is one shaped point every path of every pair of the
    test crosses, in each direction (the shaper redirects them through one
    queue): ``rate_mbit`` is its rate in Mbit/s. ``none`` runs the test
    without one, whatever the lab has. Returns None, ``'none'`` or
    ``{'rate_mbit': number}``.
    """
    if value is None or value == 'lab':
        return None
    if value == 'none':
        return 'none'
    rule = ('bottleneck must be "lab", "none" or {rate_mbit: N}: one shared bottleneck of N Mbit/s in [%s, %s] '
            'that every path of every pair of the test crosses' % (lab_plan.MIN_RATE_MBIT, lab_plan.MAX_RATE_MBIT))
    if not isinstance(value, dict) or sorted(value) != ['rate_mbit']:
        raise SuiteError('%s: %s, got %r' % (where, rule, value))
    try:
        rate = lab_plan.check_number(value['rate_mbit'], '%s: bottleneck.rate_mbit' % where,
                                     lab_plan.MIN_RATE_MBIT, lab_plan.MAX_RATE_MBIT, unit='Mbit/s')
    except lab_plan.PlanError as exc:
        raise SuiteError(str(exc))
    return {'rate_mbit': _shape_number(rate)}


def effective_bottleneck(test, lab_bottleneck=None):
    """The shared bottleneck while ``test`` runs: ``{rate_mbit}`` or None (none): its own, else the lab's."""
    value = test.get('bottleneck')
    if value is None:
        value = lab_bottleneck
    if not value or value == 'none':
        return None
    return {'rate_mbit': _shape_number(value['rate_mbit'])}


def check_mix(value, where, pair_count):
    """A test's ``mix``: how many of its flows are MPTCP and how many TCP, ``{mptcp: M, tcp: N}``.

    Each flow is one generator/sink pair, so M + N pairs run at once (the
    MPTCP flows on the first pairs). Returns None or the counts.
    """
    if value is None:
        return None
    rule = ('mix must be {mptcp: M, tcp: N}: how many flows of each protocol run at once, one per '
            'generator/sink pair, M + N from 2 to the lab\'s %d pairs' % pair_count)
    if not isinstance(value, dict) or not value or any(k not in PROTOCOLS for k in value):
        raise SuiteError('%s: %s, got %r' % (where, rule, value))
    out = {}
    for key in PROTOCOLS:
        count = value.get(key, 0)
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise SuiteError('%s: mix.%s must be a count of flows (0 or more), got %r' % (where, key, count))
        out[key] = count
    if not 2 <= sum(out.values()) <= min(pair_count, MAX_PAIRS):
        raise SuiteError('%s: %s, got %d flow(s)' % (where, rule, sum(out.values())))
    return out


def _shape_number(value):
    """50, 50.0 and 5e1 are one rate."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def normalize_shaping(paths):
    """Shaping entries with numbers in one spelling, null keys dropped (rate_mbit kept: null = unshaped)."""
    out = []
    for entry in paths or []:
        entry = entry or {}
        shape = {'rate_mbit': _shape_number(entry.get('rate_mbit'))}
        for key in NETEM_KEYS:
            if entry.get(key) is not None:
                shape[key] = _shape_number(entry[key])
        out.append(shape)
    return out


def effective_shaping(test, lab_paths):
    """The shaping of every lab path while ``test`` runs: its own, else the lab's (normalized)."""
    if test.get('shaping') is not None:
        return normalize_shaping(test['shaping'])
    return normalize_shaping(lab_paths)


def needs_netem(shaping):
    """True when a path of the shaping asks for delay, loss or a queue limit (sch_netem)."""
    return any(entry.get(key) is not None for entry in shaping or [] for key in NETEM_KEYS)


# The sysctls a test may set on both ends: the MPTCP knobs and TCP's own
# (net.ipv4.tcp_*: congestion control, buffers, ECN, ...), nothing else of
# the host. Values are integers or words, as the kernel writes them.
SYSCTL_NAME_RE = re.compile(r'^net\.(mptcp\.[a-z0-9_]{1,64}|ipv4\.tcp_[a-z0-9_]{1,64})$')
SYSCTL_WORD_RE = re.compile(r'^[A-Za-z0-9_.-]{1,64}$')
MAX_SYSCTL_WORDS = 8


def sysctl_text(value, field):
    """A sysctl value as the kernel writes it: words (integers, names) joined by single spaces."""
    rule = ('%s must be an integer, a word (letters, digits, "_", ".", "-"), true/false, or a list of '
            'up to %d of those (e.g. [4096, 131072, 6291456]), got %r' % (field, MAX_SYSCTL_WORDS, value))
    if isinstance(value, bool):
        return '1' if value else '0'
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        raise SuiteError(rule)
    if isinstance(value, str):
        words = value.split()
    elif isinstance(value, (list, tuple)):
        words = []
        for word in value:
            if isinstance(word, bool) or not isinstance(word, (int, str)):
                raise SuiteError(rule)
            words.append(str(word))
    else:
        raise SuiteError(rule)
    if not 1 <= len(words) <= MAX_SYSCTL_WORDS or not all(SYSCTL_WORD_RE.match(w) for w in words):
        raise SuiteError(rule)
    return ' '.join(words)


def check_sysctls(value, where):
    """A test's ``sysctls``: None (none of its own) or {name: value text}, names net.mptcp.* / net.ipv4.tcp_*."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise SuiteError('%s: sysctls must be a mapping of net.mptcp.* and net.ipv4.tcp_* names to values, got %r'
                         % (where, value))
    out = {}
    for name in sorted(value, key=str):
        if not isinstance(name, str) or not SYSCTL_NAME_RE.match(name):
            raise SuiteError('%s: sysctls: %r is not allowed: only net.mptcp.<name> and net.ipv4.tcp_<name> '
                             '(lowercase letters, digits and "_"), set on both ends for the test'
                             % (where, name))
        out[name] = sysctl_text(value[name], '%s: sysctls.%s' % (where, name))
    return out or None


# Test keys that are sysctls of both ends by a name of their own.
SYSCTL_ALIASES = (('scheduler', 'net.mptcp.scheduler'), ('path_manager', 'net.mptcp.path_manager'))
ALIAS_RE = re.compile(r'^[a-z][a-z0-9_]{0,31}$')


def check_sysctl_aliases(sysctls, merged, where):
    """``sysctls`` (or {}) with the test's ``scheduler`` and ``path_manager`` folded in, checked."""
    out = dict(sysctls or {})
    for key, name in SYSCTL_ALIASES:
        value = merged.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not ALIAS_RE.match(value):
            example = 'default' if key == 'scheduler' else 'kernel, userspace'
            raise SuiteError('%s: %s must be the name of one the kernel offers (net.mptcp.available_%ss, '
                             'e.g. %s), got %r' % (where, key, key, example, value))
        if name in out and out[name] != value:
            raise SuiteError('%s: %s: %r and sysctls.%s: %r disagree: state it once'
                             % (where, key, value, name, out[name]))
        out[name] = value
    return out or None


# Offloads a test may set on both ends' path interfaces (mptcp.lab.nic_offloads names).
OFFLOAD_KEYS = ('gro', 'gso', 'tso')


def check_offloads(value, where):
    """A test's ``offloads``: None (as provisioning left them) or {gro|gso|tso: bool}."""
    if value is None:
        return None
    rule = ('%s: offloads must be a mapping of %s to true/false (both ends\' path interfaces), got %r'
            % (where, ', '.join(OFFLOAD_KEYS), value))
    if not isinstance(value, dict) or not value:
        raise SuiteError(rule)
    for key in value:
        if key not in OFFLOAD_KEYS or not isinstance(value[key], bool):
            raise SuiteError(rule)
    return dict((k, value[k]) for k in OFFLOAD_KEYS if k in value)


def check_backup_paths(value, where, protocol, path_ids):
    """A test's ``backup_paths``: None or the ids (ascending) of some of its paths, MPTCP only."""
    if value is None:
        return None
    if protocol != 'mptcp':
        raise SuiteError('%s: backup_paths applies to protocol mptcp only (TCP uses one path), got %r'
                         % (where, value))
    rule = ('%s: backup_paths must list some, not all, of the test\'s paths %s (the sink announces them '
            'as backup), got %r' % (where, path_ids, value))
    if not isinstance(value, (list, tuple)) or not value:
        raise SuiteError(rule)
    ids = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, int) or v not in path_ids or v in ids:
            raise SuiteError(rule)
        ids.append(v)
    if len(ids) >= len(path_ids):
        raise SuiteError(rule)
    return sorted(ids)


def check_pairs(value, where, pair_count):
    """A test's ``pairs``: how many generator/sink pairs run it at once (``all``: every pair of the lab)."""
    rule = ('%s: pairs must be all or a count of generator/sink pairs from 1 to the lab\'s %d, got %r'
            % (where, pair_count, value))
    if value == 'all':
        return pair_count
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= min(pair_count, MAX_PAIRS):
        raise SuiteError(rule)
    return value


def check_concurrent(out, where, path_count):
    """What a test over several pairs at once cannot have (each pair's sink announces all its paths,
    every generator measures bulk traffic with perf_measure)."""
    for key, why in (('kind', 'a request/response test runs on one pair'),
                     ('capture', 'the captures are the first pair\'s'),
                     ('commands', 'the commands run on the first pair'),
                     ('backup_paths', 'only the first pair\'s sink changes its announced endpoints')):
        if out.get(key) not in (None, False, 'throughput'):
            raise SuiteError('%s: %s does not apply with pairs %d (%s)' % (where, key, out['pairs'], why))
    if out['protocol'] == 'mptcp' and out['path_ids'] != list(range(1, path_count + 1)):
        raise SuiteError('%s: paths must be all with pairs %d and protocol mptcp (only the first pair\'s '
                         'sink changes its announced endpoints), got %r' % (where, out['pairs'], out['path_ids']))


# A test's own commands (suite key commands): argument lists or scripts run
# around each of its measurements, never through a shell.
COMMAND_PHASES = ('pre', 'post')
COMMAND_HOSTS = ('generator', 'sink', 'all')
COMMAND_KEYS = ('host', 'argv', 'script', 'args', 'timeout_s', 'ignore_errors')
MAX_COMMANDS = 16
MAX_ARGS = 64
MAX_ARG_CHARS = 4096
DEFAULT_COMMAND_TIMEOUT_S = 60
MAX_COMMAND_TIMEOUT_S = 3600


def _arguments(value, field, minimum):
    """A list of command arguments: strings or integers, each 1..4096 characters, no NUL."""
    rule = ('%s must be a list of %d to %d arguments (strings or integers, each 1-%d characters, no NUL byte; '
            'no shell: one list item per argument), got %r' % (field, minimum, MAX_ARGS, MAX_ARG_CHARS, value))
    if not isinstance(value, (list, tuple)) or not minimum <= len(value) <= MAX_ARGS:
        raise SuiteError(rule)
    out = []
    for arg in value:
        if isinstance(arg, bool) or not isinstance(arg, (str, int)):
            raise SuiteError(rule)
        arg = str(arg)
        if not 1 <= len(arg) <= MAX_ARG_CHARS or '\0' in arg:
            raise SuiteError(rule)
        out.append(arg)
    return out


def check_commands(value, where):
    """A test's ``commands``: None or {pre: [...], post: [...]}, each command checked and filled in.

    A command is ``{host, argv}`` or ``{host, script, args}`` with
    ``timeout_s`` and ``ignore_errors``; ``host`` is generator, sink or all
    (both ends). A script is a file on the controller (a path relative to
    the suite file's directory), run on the host as its own program with
    ``args``: its shebang decides the interpreter, no shell string is built.
    """
    if value is None:
        return None
    if not isinstance(value, dict) or not value or any(k not in COMMAND_PHASES for k in value):
        raise SuiteError('%s: commands must be a mapping of pre and/or post to lists of commands '
                         '({host, argv} or {host, script, args}), got %r' % (where, value))
    out = {}
    for phase in COMMAND_PHASES:
        if phase not in value:
            continue
        entries = value[phase]
        if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_COMMANDS:
            raise SuiteError('%s: commands.%s must be a list of 1 to %d commands, got %r'
                             % (where, phase, MAX_COMMANDS, entries))
        normalized = []
        for i, cmd in enumerate(entries):
            field = '%s: commands.%s[%d]' % (where, phase, i)
            if not isinstance(cmd, dict):
                raise SuiteError('%s must be a mapping {host, argv} or {host, script, args}, got %r' % (field, cmd))
            _check_keys(cmd, COMMAND_KEYS, field)
            host = cmd.get('host', 'all')
            if host not in COMMAND_HOSTS:
                raise SuiteError('%s.host must be one of %s, got %r' % (field, ', '.join(COMMAND_HOSTS), host))
            entry = {'host': host}
            if ('argv' in cmd) == ('script' in cmd):
                raise SuiteError('%s must have exactly one of argv (an argument list) and script (a file), got %r'
                                 % (field, cmd))
            if 'argv' in cmd:
                if 'args' in cmd:
                    raise SuiteError('%s.args goes with script; put the arguments in argv' % field)
                entry['argv'] = _arguments(cmd['argv'], field + '.argv', 1)
            else:
                script = cmd['script']
                if not isinstance(script, str) or not script.strip() or '\0' in script:
                    raise SuiteError('%s.script must be the path of a file on the controller (relative to the '
                                     'suite file\'s directory), got %r' % (field, script))
                entry['script'] = script
                entry['args'] = _arguments(cmd.get('args') or [], field + '.args', 0)
            entry['timeout_s'] = _int(cmd.get('timeout_s', DEFAULT_COMMAND_TIMEOUT_S), field, 'timeout_s', 1,
                                      MAX_COMMAND_TIMEOUT_S)
            ignore = cmd.get('ignore_errors', False)
            if not isinstance(ignore, bool):
                raise SuiteError('%s.ignore_errors must be true or false, got %r' % (field, ignore))
            entry['ignore_errors'] = ignore
            normalized.append(entry)
        out[phase] = normalized
    return out


def _suffix(key, value):
    """The name suffix of a matrix value: P4 (streams), 2paths, allpaths, paths1_3, x4 (pairs), or the value."""
    if key == 'streams' and isinstance(value, int) and not isinstance(value, bool):
        return 'P%d' % value
    if key == 'paths':
        if isinstance(value, (list, tuple)):
            # paths [1, 3] -> "paths1_3" ("+" or "," would not be a valid test name)
            return 'paths' + '_'.join(str(v) for v in value)
        if isinstance(value, int) and not isinstance(value, bool):
            return '%dpath%s' % (value, '' if value == 1 else 's')
        return '%spaths' % (value,)
    if key == 'load' and value == 'none':
        return 'idle'
    if key == 'pairs':
        # pairs 4 -> "x4", all -> "xall"
        return 'x%s' % (value,)
    return str(value)


def expand(tests):
    """Expand ``matrix`` entries: one test per combination, named name-v1-v2."""
    out = []
    for index, test in enumerate(tests):
        where = _where(index, test.get('name') if isinstance(test, dict) else None)
        if not isinstance(test, dict):
            raise SuiteError('%s: each test must be a mapping, got %r' % (where, test))
        matrix = test.get('matrix')
        if matrix is None:
            out.append((index, dict(test)))
            continue
        if not isinstance(matrix, dict) or not matrix:
            raise SuiteError('%s: matrix must be a non-empty mapping of %s to lists'
                             % (where, '/'.join(MATRIX_KEYS)))
        if not isinstance(test.get('name'), str) or not test.get('name'):
            raise SuiteError('%s: name is required for a matrix test: the matrix adds -<value> suffixes to '
                             'it (e.g. name: mptcp gives mptcp-upload, mptcp-download), got %r'
                             % (where, test.get('name')))
        keys = []
        for key, values in matrix.items():
            if key not in MATRIX_KEYS:
                raise SuiteError('%s: matrix.%s is not allowed; matrix keys: %s'
                                 % (where, key, ', '.join(MATRIX_KEYS)))
            if key in test:
                raise SuiteError('%s: %s is given both as a field and in matrix' % (where, key))
            if not isinstance(values, list) or not values:
                raise SuiteError('%s: matrix.%s must be a non-empty list' % (where, key))
            for value in values:
                if isinstance(value, (dict, set)) or (isinstance(value, (list, tuple)) and key != 'paths'):
                    raise SuiteError('%s: matrix.%s must list single values, got %r' % (where, key, value))
            keys.append(key)
        for combo in itertools.product(*(matrix[k] for k in keys)):
            t = dict((k, v) for k, v in test.items() if k != 'matrix')
            t.update(zip(keys, combo))
            t['name'] = '-'.join([test['name']] + [_suffix(k, v) for k, v in zip(keys, combo)])
            t['_generated'] = True
            out.append((index, t))
    return out


def _normalize_test(index, test, defaults, path_count, pair_count=1):
    name = test.get('name')
    where = _where(index, name)
    generated = test.get('_generated', False)
    if not generated and (not isinstance(name, str) or not NAME_RE.match(name)):
        raise SuiteError('%s: name is required: 1-64 letters, digits, ".", "_" or "-", starting '
                         'with a letter or digit, got %r' % (where, name))
    merged = dict(BUILTIN_DEFAULTS)
    merged.update(defaults)
    merged.update(dict((k, v) for k, v in test.items() if k not in ('name', 'matrix', '_generated')))
    out = {'name': name}
    out['protocol'] = _choice(merged['protocol'], where, 'protocol', PROTOCOLS)
    out['direction'] = _choice(merged['direction'], where, 'direction', DIRECTIONS)
    out['streams'] = _int(merged['streams'], where, 'streams', 1, MAX_STREAMS)
    cc = merged['congestion']
    if cc is not None and (not isinstance(cc, str) or not CONGESTION_RE.match(cc)):
        raise SuiteError('%s: congestion must be a TCP congestion control name (e.g. cubic, bbr), got %r'
                         % (where, cc))
    out['congestion'] = cc
    out['duration_s'] = _int(merged['duration_s'], where, 'duration_s', 1, MAX_DURATION_S)
    out['omit_s'] = _int(merged['omit_s'], where, 'omit_s', 0, MAX_DURATION_S)
    out['repetitions'] = _int(merged['repetitions'], where, 'repetitions', 1, MAX_REPETITIONS)
    if not isinstance(merged['capture'], bool):
        raise SuiteError('%s: capture must be true or false, got %r' % (where, merged['capture']))
    if merged['capture']:
        out['capture'] = True
    shaping = check_shaping(merged['shaping'], where, path_count)
    if shaping is not None:
        out['shaping'] = shaping
    sysctls = check_sysctl_aliases(check_sysctls(merged['sysctls'], where), merged, where)
    if sysctls is not None:
        out['sysctls'] = sysctls
    offloads = check_offloads(merged['offloads'], where)
    if offloads is not None:
        out['offloads'] = offloads
    commands = check_commands(merged['commands'], where)
    if commands is not None:
        out['commands'] = commands
    kind = _choice(merged.get('kind', 'throughput'), where, 'kind', KINDS)
    if kind == 'latency':
        # the defaults may hold what only some latency tests use (load: bulk)
        _latency_fields(out, test if index is not None else {}, merged, where)
    else:
        for key in LATENCY_KEYS:
            if key in test:
                raise SuiteError('%s: %s applies to kind: latency only (this test is kind: %s)' % (where, key, kind))
    mix = check_mix(merged['mix'], where, pair_count)
    if mix is not None:
        # the test is MPTCP's when it has MPTCP flows; its TCP flows use its first path
        out['protocol'] = 'mptcp' if mix['mptcp'] else 'tcp'
        out['mix'] = mix
    bottleneck = check_bottleneck(merged['bottleneck'], where)
    if bottleneck is not None:
        out['bottleneck'] = bottleneck
    ids = parse_paths(merged['paths'], where, path_count)
    if out['protocol'] == 'tcp' and len(ids) != 1:
        raise SuiteError('%s: paths must select exactly one path for protocol tcp (TCP uses one path), '
                         'got %r' % (where, merged['paths']))
    out['path_ids'] = ids
    out['paths'] = len(ids)
    backup = check_backup_paths(merged['backup_paths'], where, out['protocol'], ids)
    if backup is not None:
        out['backup_paths'] = backup
    pairs = check_pairs(merged['pairs'], where, pair_count)
    if mix is not None:
        if 'pairs' in test and merged['pairs'] != sum(mix.values()):
            raise SuiteError('%s: pairs %r and mix %r disagree: mix runs one flow per pair, %d pairs'
                             % (where, merged['pairs'], mix, sum(mix.values())))
        pairs = sum(mix.values())
    if pairs > 1:
        # one pair (the usual case) is left out: records and identities stay as they were
        out['pairs'] = pairs
        check_concurrent(out, where, path_count)
    if generated and not NAME_RE.match(name):
        raise SuiteError('%s: the name the matrix generates must be 1-64 letters, digits, ".", "_" or "-", '
                         'got %r: shorten the test name' % (where, name))
    return out


def _latency_fields(out, test, merged, where):
    """The fields of a request/response test (kind: latency), checked; ``out`` gains them.

    What a latency test does not use is refused when the test itself sets it,
    and otherwise (a suite default meant for the bulk tests) set aside:
    omit_s (sockperf drops its own first 2.4 s); with load: none also
    streams and congestion, which describe the bulk flow.
    """
    out['kind'] = 'latency'
    out['load'] = _choice(merged.get('load', LATENCY_DEFAULTS['load']), where, 'load', LOADS)
    out['msg_size'] = _int(merged.get('msg_size', LATENCY_DEFAULTS['msg_size']), where, 'msg_size',
                           MIN_MSG_SIZE, MAX_MSG_SIZE)
    unused = {'omit_s': 'sockperf drops its own first 2.4 s'}
    if out['load'] == 'none':
        unused.update(streams='it is the bulk flow\'s (load: bulk)', congestion='it is the bulk flow\'s (load: bulk)')
    for key, why in sorted(unused.items()):
        if key in test and test[key] not in (None, False, 1 if key == 'streams' else None):
            raise SuiteError('%s: %s does not apply to kind: latency%s (%s), got %r'
                             % (where, key, ' with load: none' if key in ('streams', 'congestion') else '', why,
                                test[key]))
    out['omit_s'] = 0
    if out['load'] == 'none':
        out['streams'], out['congestion'] = 1, None


def validate_suite(data, path_count, duration_s=None, repetitions=None, default_name=None, pair_count=1):
    """Validate a suite definition (parsed YAML) and return it normalized.

    ``path_count`` is how many paths the lab has, ``pair_count`` how many
    generator/sink pairs (suite key ``pairs``: all, or up to that many);
    ``duration_s`` and
    ``repetitions`` override every test (perf_duration_s, perf_repetitions).
    Returns {name, description, tests: [...]} with every test field filled in:
    name, protocol, paths (count), path_ids, direction, streams, duration_s,
    omit_s, repetitions; and pairs (a count) when more than one.
    """
    if isinstance(path_count, bool) or not isinstance(path_count, int) or path_count < 1:
        raise SuiteError('the lab must have at least one path, got %r' % (path_count,))
    if isinstance(pair_count, bool) or not isinstance(pair_count, int) or pair_count < 1:
        raise SuiteError('the lab must have at least one generator/sink pair, got %r' % (pair_count,))
    if not isinstance(data, dict):
        raise SuiteError('suite: must be a mapping with a "tests" list, got %s' % type(data).__name__)
    _check_keys(data, SUITE_KEYS, 'suite')
    name = data.get('name', default_name)
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise SuiteError('suite: name must be 1-64 letters, digits, ".", "_" or "-", got %r' % (name,))
    description = data.get('description') or ''
    if not isinstance(description, str):
        raise SuiteError('suite: description must be a string')
    defaults = data.get('defaults') or {}
    if not isinstance(defaults, dict):
        raise SuiteError('defaults: must be a mapping of test fields')
    _check_keys(defaults, [k for k in TEST_KEYS if k not in ('name', 'matrix')], 'defaults')
    # Validate the defaults on their own too, so their errors say "defaults".
    probe = dict(BUILTIN_DEFAULTS)
    probe.update(defaults)
    if probe.get('kind', 'throughput') != 'latency':
        # latency fields in the defaults are for the latency tests: checked on their own
        for key in LATENCY_KEYS:
            probe.pop(key, None)
        if 'load' in defaults:
            _choice(defaults['load'], 'defaults', 'load', LOADS)
        if 'msg_size' in defaults:
            _int(defaults['msg_size'], 'defaults', 'msg_size', MIN_MSG_SIZE, MAX_MSG_SIZE)
    _normalize_test(None, dict(probe, name='defaults', protocol='mptcp'), {}, path_count, pair_count)

    tests = data.get('tests')
    if not isinstance(tests, list) or not tests:
        raise SuiteError('suite: tests must be a non-empty list')
    for index, test in enumerate(tests):
        if isinstance(test, dict):
            _check_keys(test, TEST_KEYS, _where(index, test.get('name')))
    normalized, seen = [], {}
    for index, test in expand(tests):
        t = _normalize_test(index, test, defaults, path_count, pair_count)
        if t['name'] in seen:
            raise SuiteError("%s: name %r is used twice (also by tests[%d])"
                             % (_where(index, t['name']), t['name'], seen[t['name']]))
        seen[t['name']] = index
        if duration_s is not None:
            t['duration_s'] = _int(duration_s, 'perf_duration_s', 'value', 1, MAX_DURATION_S, allow_str=True)
        if repetitions is not None:
            t['repetitions'] = _int(repetitions, 'perf_repetitions', 'value', 1, MAX_REPETITIONS, allow_str=True)
        normalized.append(t)
    return {'name': name, 'description': description, 'tests': normalized}


def expected_mbps(test, lab_paths, lab_bottleneck=None):
    """Ideal goodput of a test over rate-shaped paths, or None when unknown.

    0.956 x the sum of the rates of the paths used (both directions count for
    bidir), from the test's own ``shaping`` when it has one, else from
    ``lab_paths``. None when a used path has no rate (unshaped: the test's
    ``shaping: none``, or a bare-metal path without a shaper), and for a
    request/response test (kind: latency), which has no bulk throughput.
    A backup path (``backup_paths``) carries nothing while the others work:
    its rate does not count. A test over several pairs at once (``pairs``)
    counts every pair: each pair's paths are its own, shaped alike; its TCP
    flows (``mix``) count their one path. A shared bottleneck (its own
    ``bottleneck``, else ``lab_bottleneck``) caps the sum, in each direction.
    """
    if test.get('kind') == 'latency':
        return None
    paths = test['shaping'] if test.get('shaping') is not None else lab_paths
    rates = []
    for pid in test['path_ids']:
        if pid in (test.get('backup_paths') or []):
            continue
        path = paths[pid - 1] if paths and pid <= len(paths) else None
        rate = (path or {}).get('rate_mbit')
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate <= 0:
            return None
        rates.append(float(rate))
    mix = test.get('mix')
    if mix:
        total = sum(rates) * mix['mptcp'] + rates[0] * mix['tcp']
    else:
        total = sum(rates) * test.get('pairs', 1)
    bottleneck = effective_bottleneck(test, lab_bottleneck)
    if bottleneck:
        total = min(total, float(bottleneck['rate_mbit']))
    total *= GOODPUT_FACTOR
    if test['direction'] == 'bidir':
        total *= 2
    return round(total, 3)


def scenarios(suite, lab_paths=None, lab_bottleneck=None):
    """The suite's tests grouped by the scenario they run under, in order of first appearance.

    A test's scenario is its effective shaping (effective_shaping) and
    shared bottleneck (effective_bottleneck, in ``bottleneck``), its sysctls (with ``scheduler`` and ``path_manager``) and its offloads: tests
    without ``shaping``, and tests whose ``shaping`` equals the lab's, run on
    the lab's shaping. Each scenario is ``{index (1-based), lab (True when
    the shaping is the lab's own), shaping (None for the lab's, else one
    entry per path), netem (whether that shaping needs sch_netem), sysctls
    ({} for none), offloads ({} for none), tests: [names], label,
    sysctls_label, offloads_label}``; the labels name the suite fields of its
    first test (``lab_paths`` for the lab's shaping), for error messages.
    (Backup paths are an endpoint change, like a subset of the paths:
    segments(), not a scenario.)
    """
    lab = normalize_shaping(lab_paths)
    lab_key = json.dumps([lab, effective_bottleneck({}, lab_bottleneck)], sort_keys=True)
    out, by_key = [], {}
    for index, t in enumerate(suite['tests']):
        shaping = effective_shaping(t, lab_paths)
        bottleneck = effective_bottleneck(t, lab_bottleneck)
        shaping_key = json.dumps([shaping, bottleneck], sort_keys=True)
        sysctls = dict(t.get('sysctls') or {})
        offloads = dict(t.get('offloads') or {})
        key = json.dumps([shaping, bottleneck, sysctls, offloads], sort_keys=True)
        if key not in by_key:
            is_lab = shaping_key == lab_key
            where = "tests[%d] '%s'" % (index, t['name'])
            by_key[key] = len(out)
            out.append({'index': len(out) + 1, 'lab': is_lab, 'shaping': None if is_lab else shaping,
                        'bottleneck': bottleneck,
                        'netem': needs_netem(shaping) and not is_lab, 'sysctls': sysctls,
                        'offloads': offloads, 'tests': [],
                        'label': 'lab_paths' if is_lab else '%s: %s' % (
                            where, 'shaping' if t.get('shaping') is not None or t.get('bottleneck') is None
                            else 'bottleneck'),
                        'sysctls_label': '%s: sysctls' % where, 'offloads_label': '%s: offloads' % where})
        out[by_key[key]]['tests'].append(t['name'])
    return out


def plan(suite, lab_paths=None, lab_bottleneck=None):
    """The measurement order: tests grouped by scenario, repetitions interleaved within a group.

    Tests that run under the same shaping (scenarios()) form a group, the
    groups in order of their first test in the suite, so the shaper changes
    once per group. Within a group, round r runs repetition r of every test
    that has one, in suite order (A B C A B C ...), so slow drift of the
    machine spreads evenly over its tests. Each item carries k/N and its
    test's r/R for progress lines, its scenario's index, and the planned
    traffic seconds (omit + duration) for the ETA.
    """
    groups = scenarios(suite, lab_paths, lab_bottleneck)
    scenario_of = dict((name, g['index']) for g in groups for name in g['tests'])
    items = []
    for group in groups:
        tests = [(index, t) for index, t in enumerate(suite['tests']) if scenario_of[t['name']] == group['index']]
        rounds = max(t['repetitions'] for _index, t in tests)
        for rep in range(1, rounds + 1):
            for index, t in tests:
                if rep > t['repetitions']:
                    continue
                items.append({
                    'test': t['name'], 'test_index': index, 'rep': rep, 'reps': t['repetitions'],
                    'protocol': t['protocol'], 'path_ids': list(t['path_ids']), 'paths': t['paths'],
                    'backup_path_ids': list(t.get('backup_paths') or []),
                    'direction': t['direction'], 'streams': t['streams'], 'congestion': t['congestion'],
                    'duration_s': t['duration_s'], 'omit_s': t['omit_s'],
                    'planned_s': t['duration_s'] + t['omit_s'],
                    'capture': t.get('capture', False),
                    'scenario': group['index'],
                })
                if t.get('pairs', 1) > 1:
                    items[-1]['pairs'] = t['pairs']
                if t.get('mix'):
                    items[-1]['mix'] = t['mix']
                if t.get('commands'):
                    items[-1]['commands'] = t['commands']
                if t.get('kind') == 'latency':
                    items[-1].update(kind='latency', load=t['load'], msg_size=t['msg_size'],
                                     planned_s=t['duration_s'] + LATENCY_EXTRA_S + (1 if t['load'] == 'bulk' else 0))
    total = len(items)
    for k, item in enumerate(items, 1):
        item['k'] = k
        item['n'] = total
        item['label'] = '[%d/%d] %s rep %d/%d' % (k, total, item['test'], item['rep'], item['reps'])
    return items


def batches(items):
    """Consecutive items of one kind: [{kind, items}], in plan order.

    A kind has its own measurement module (throughput: perf_measure,
    latency: perf_latency), so each batch is one looped task; the plan's
    order is kept. A measurement over several pairs at once (``pairs`` > 1)
    is a batch of its own, ``concurrent``: its task runs on every generator
    of its flows together (a looped task would let each host go through its
    items at its own pace).
    """
    out = []
    for item in items:
        kind = item.get('kind', 'throughput')
        concurrent = item.get('pairs', 1) > 1
        if concurrent or not out or out[-1]['kind'] != kind or out[-1]['concurrent']:
            out.append({'kind': kind, 'concurrent': concurrent, 'items': []})
        out[-1]['items'].append(item)
    return out


def _flow_links(item, links, generator):
    """The links, bind and server address of ``item``'s paths among one generator's ``links``."""
    by_path = dict((int(link['path']), link) for link in links)
    missing = [i for i in item['path_ids'] if i not in by_path]
    if missing:
        raise SuiteError('%s: the generator %shas no link for path(s) %s'
                         % (item['test'], generator + ' ' if generator else '', ', '.join(str(i) for i in missing)))
    used = [by_path[i] for i in item['path_ids']]
    return {'links': used, 'bind': used[0].get('address'), 'server': used[0].get('peer_address')}


def attach_links(items, links, pairs=None):
    """Give each plan item the generator links of its paths, its bind and server addresses.

    ``pairs`` lists the lab's generator/sink pairs, the measuring pair first:
    ``[{generator, sink, links}]``. An item over several pairs at once
    (``pairs`` > 1) gets ``flows``: one per pair it uses, in that order, each
    ``{generator, sink, protocol, links, bind, server}``. With ``mix``, the
    first ``mix.mptcp`` flows are MPTCP over the item's paths, the others TCP
    over its first path.
    """
    for item in items:
        item.update(_flow_links(item, links, None))
        count = item.get('pairs', 1)
        if count == 1:
            continue
        if not pairs or len(pairs) < count:
            raise SuiteError('%s: pairs %d, but the lab has %d generator/sink pair(s)'
                             % (item['test'], count, len(pairs or [])))
        item['flows'] = []
        mix = item.get('mix')
        for i, pair in enumerate(pairs[:count]):
            protocol = item['protocol'] if not mix else 'mptcp' if i < mix['mptcp'] else 'tcp'
            flow = {'generator': pair['generator'], 'sink': pair['sink'], 'protocol': protocol}
            on = item if protocol == item['protocol'] else dict(item, path_ids=item['path_ids'][:1])
            flow.update(_flow_links(on, pair['links'], pair['generator']))
            item['flows'].append(flow)
    return items


def segments(items, path_count, groups=None):
    """Split the plan where the scenario, the MPTCP path set or its backup paths change.

    A new scenario (its own shaping or sysctls) starts a segment: the shaper
    reshapes the paths there, or the ends change their sysctls, once. MPTCP over a subset of the paths needs the sink to
    announce only those paths, which is an endpoint change; TCP does not
    care. Backup paths (``backup_paths``) are announced with the backup
    flag: the same kind of change. Consecutive items of one scenario share a
    segment while the MPTCP path set and its backup paths stay the same, so
    endpoints change only when needed. Each segment is {index, scenario,
    mptcp_path_ids, backup_path_ids, items} and, with ``groups``
    (scenarios()), also ``shaping`` (None: the lab's), ``bottleneck`` (the
    shared one, None for none) and ``reshape`` (True where the shaper must
    change: the shaping or bottleneck differs from the segment before, the
    lab's at the start), ``sysctls`` and ``retune`` (True where
    the ends' sysctls must change: they differ from the segment before, none
    at the start), ``offloads`` and ``reoffload`` (the same for the ends'
    offloads), and their labels. A segment with only TCP keeps the path set of the
    segment before it (all paths at the start), so nothing changes for it.
    With only full-path MPTCP tests under one shaping (the usual case) there
    is exactly one segment.
    """
    full = list(range(1, path_count + 1))
    out = []
    for item in items:
        wanted = None
        if item['protocol'] == 'mptcp':
            wanted = (item['path_ids'], item.get('backup_path_ids') or [])
        scenario = item.get('scenario', 1)
        if out and out[-1]['scenario'] == scenario:
            current = out[-1]['announced']
            if wanted is None or wanted == current or current is None:
                # same set, TCP riding along, or a TCP-only stretch adopting this set
                if current is None:
                    out[-1]['announced'] = wanted
                out[-1]['items'].append(item)
                continue
        out.append({'scenario': scenario, 'announced': wanted, 'items': [item]})
    previous = (full, [])
    for seg in out:
        announced = seg.pop('announced') or previous
        seg['mptcp_path_ids'], seg['backup_path_ids'] = announced
        previous = announced
    by_index = dict((g['index'], g) for g in groups or [])
    # the shaping and shared bottleneck the paths carry: the lab's at the start
    shaped = (None, next((g.get('bottleneck') for g in groups or [] if g['lab']), None))
    tuned = {}          # the test sysctls the ends carry: none at the start
    offloaded = {}      # the test offloads the ends carry: none at the start
    for i, seg in enumerate(out, 1):
        seg['index'] = i
        if groups is not None:
            group = by_index[seg['scenario']]
            seg['shaping'] = None if group['lab'] else group['shaping']
            seg['bottleneck'] = group.get('bottleneck')
            seg['label'] = group['label']
            seg['reshape'] = (seg['shaping'], seg['bottleneck']) != shaped
            shaped = (seg['shaping'], seg['bottleneck'])
            seg['sysctls'] = group['sysctls']
            seg['sysctls_label'] = group['sysctls_label']
            seg['retune'] = seg['sysctls'] != tuned
            tuned = seg['sysctls']
            seg['offloads'] = group.get('offloads') or {}
            seg['offloads_label'] = group.get('offloads_label', '')
            seg['reoffload'] = seg['offloads'] != offloaded
            offloaded = seg['offloads']
    return out
