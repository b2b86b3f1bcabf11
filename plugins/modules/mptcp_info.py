#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) mptcp.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: mptcp_info
short_description: Gather MPTCP facts of a host
description:
  - Returns, under C(ansible_facts.mptcp), whether the kernel supports MPTCP
    and has it enabled, every readable C(net.mptcp.*) setting, the path
    managers and schedulers the kernel offers, the endpoints (with decoded
    flag names) and limits of the path manager, the kernel release, and the
    MPTCP tools installed (iproute2, iperf3, mptcpize, sockperf, mptcpd).
  - Acts on the network namespace the module runs in. mptcpd counts as
    running only when an mptcpd process lives in that same namespace.
  - On a kernel without MPTCP it reports RV(ansible_facts.mptcp.supported=false)
    and succeeds.
  - For mptcpd it reports both the binary found on the host (PATH and the
    usual C(libexec) directories) and the binary each mptcpd process of this
    namespace actually runs (C(/proc/<pid>/exe)), which differ when mptcpd was
    built into a custom prefix or upgraded without a restart.
  - Cheap enough to call on every host for run metadata; it runs at most
    five short commands (C(ip mptcp help), C(iperf3 --version),
    C(iperf3 --help), C(sockperf --version), C(mptcpd --version)) and only for tools that exist,
    plus one C(--version) per distinct running mptcpd binary other than the
    one found.
version_added: 0.1.0
author:
  - mptcp.lab developers (@multipath-tcp)
requirements:
  - pyroute2 on the managed host
options: {}
extends_documentation_fragment:
  - mptcp.lab.attributes
  - mptcp.lab.attributes.facts
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  facts:
    support: full
seealso:
  - module: mptcp.lab.mptcp_endpoints
  - module: mptcp.lab.mptcp_limits
  - module: mptcp.lab.mptcp_settings
'''

EXAMPLES = r'''
- name: Gather MPTCP facts
  mptcp.lab.mptcp_info:

- name: Stop early on a host without MPTCP
  ansible.builtin.assert:
    that: ansible_facts.mptcp.supported and ansible_facts.mptcp.enabled
    fail_msg: MPTCP is not available on {{ inventory_hostname }}

- name: Run iperf3 natively when it knows --mptcp, else through mptcpize
  ansible.builtin.set_fact:
    perf_iperf3_prefix: "{{ [] if ansible_facts.mptcp.tools.iperf3.mptcp_option else ['mptcpize', 'run'] }}"
'''

RETURN = r'''
ansible_facts:
  description: Facts to add to ansible_facts.
  returned: always
  type: complex
  contains:
    mptcp:
      description: MPTCP facts of the host (of its network namespace).
      returned: always
      type: complex
      contains:
        supported:
          description: Whether the kernel has MPTCP (C(/proc/sys/net/mptcp) and the C(mptcp_pm) netlink family).
          type: bool
          sample: true
        enabled:
          description: Whether C(net.mptcp.enabled) is on; V(false) when MPTCP is not supported.
          type: bool
          sample: true
        settings:
          description:
            - Every readable C(net.mptcp.*) setting by name, without the
              C(available_*) lists; on/off settings as booleans, numbers as
              integers, others as strings. Empty when MPTCP is not supported.
          type: dict
          sample:
            enabled: true
            path_manager: kernel
            pm_type: 0
            scheduler: default
            checksum_enabled: false
            allow_join_initial_addr_port: true
            add_addr_timeout: 120
            close_timeout: 60
            stale_loss_cnt: 4
            blackhole_timeout: 3600
            syn_retrans_before_tcp_fallback: 2
        available_path_managers:
          description:
            - Path managers the kernel offers (C(kernel) and C(userspace) on
              kernels that only have C(pm_type)).
          type: list
          elements: str
          sample: [kernel, userspace]
        available_schedulers:
          description: Packet schedulers the kernel offers.
          type: list
          elements: str
          sample: [default]
        endpoints:
          description: The path manager's endpoints, sorted by id; empty when MPTCP is not supported.
          type: list
          elements: dict
          contains:
            id:
              description: Endpoint id.
              type: int
            address:
              description: IPv4 or IPv6 address.
              type: str
            port:
              description: Announced port, or V(null).
              type: int
            dev:
              description: Interface name, or V(null).
              type: str
            flags:
              description: Flag names (signal, subflow, backup, fullmesh, implicit, laminar).
              type: list
              elements: str
          sample:
            - {id: 1, address: 10.0.2.2, port: null, dev: eth1, flags: [signal]}
        limits:
          description: The path manager limits; V(null) when MPTCP is not supported.
          type: dict
          contains:
            subflows:
              description: Additional subflows per connection.
              type: int
            add_addr_accepted:
              description: Announced addresses accepted per connection.
              type: int
          sample: {subflows: 2, add_addr_accepted: 0}
        kernel:
          description: The kernel release.
          type: str
          sample: 6.18.4
        tools:
          description: MPTCP-related tools on the host.
          type: complex
          contains:
            iproute2_mptcp:
              description: Whether C(ip) knows the C(mptcp) object.
              type: bool
              sample: true
            iperf3:
              description: iperf3, with whether it has C(--mptcp) (iperf3 3.19+); values V(null) when absent.
              type: dict
              sample: {version: '3.12', mptcp_option: false, path: /usr/bin/iperf3}
            mptcpize:
              description: mptcpize, which runs a TCP program over MPTCP; path V(null) when absent.
              type: dict
              sample: {path: /usr/bin/mptcpize}
            sockperf:
              description: sockperf, the request/response tool of the latency tests; values V(null) when absent.
              type: dict
              sample: {version: '3.7', path: /usr/bin/sockperf}
            mptcpd:
              description:
                - The mptcpd daemon found on the host, its version, and whether
                  it runs in this network namespace (with the pids of those
                  processes and the binary they run).
              type: complex
              contains:
                path:
                  description: The mptcpd binary found on PATH or in the usual directories; V(null) when none.
                  type: str
                  sample: /usr/libexec/mptcpd
                version:
                  description: Version of RV(ansible_facts.mptcp.tools.mptcpd.path) (not necessarily the running one).
                  type: str
                  sample: '0.12'
                running:
                  description: Whether an mptcpd process lives in this network namespace.
                  type: bool
                  sample: true
                pids:
                  description: Pids of the mptcpd processes in this network namespace, sorted.
                  type: list
                  elements: int
                  sample: [4242]
                running_path:
                  description:
                    - The binary the first of RV(ansible_facts.mptcp.tools.mptcpd.processes)
                      runs, from C(/proc/<pid>/exe); V(null) when none runs or the link
                      is not readable (another user's process without privileges).
                  type: str
                  sample: /opt/mptcpd-0.13/libexec/mptcpd
                running_version:
                  description:
                    - Version of the binary that first process runs (asked from that very
                      binary, also when it was deleted or replaced on disk since); V(null)
                      when unknown, or when the binary is not owned by root or this user or
                      is writable by group or others (it is then not run).
                  type: str
                  sample: '0.13'
                processes:
                  description: Every mptcpd process of this namespace, by pid.
                  type: list
                  elements: dict
                  contains:
                    pid:
                      description: Process id.
                      type: int
                    path:
                      description: The binary it runs (C(/proc/<pid>/exe) without the C( (deleted)) mark), or V(null).
                      type: str
                    version:
                      description: Version of that binary, or V(null).
                      type: str
                    deleted:
                      description: Whether that binary was deleted or replaced on disk after the process started.
                      type: bool
                  sample: [{pid: 4242, path: /opt/mptcpd-0.13/libexec/mptcpd, version: '0.13', deleted: false}]
              sample:
                path: /usr/libexec/mptcpd
                version: '0.12'
                running: true
                pids: [4242]
                running_path: /opt/mptcpd-0.13/libexec/mptcpd
                running_version: '0.13'
                processes: [{pid: 4242, path: /opt/mptcpd-0.13/libexec/mptcpd, version: '0.13', deleted: false}]
'''

import os
import re
import stat

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.mptcp.lab.plugins.module_utils.mptcp import mptcp_netlink as nl
from ansible_collections.mptcp.lab.plugins.module_utils.mptcp import mptcp_sysctl as sysctl

# Where distributions put mptcpd, which is not on PATH (Debian: /usr/libexec).
MPTCPD_DIRS = ['/usr/libexec', '/usr/local/libexec', '/usr/lib/mptcpd', '/usr/libexec/mptcpd',
               '/usr/local/lib/mptcpd', '/usr/sbin', '/usr/local/sbin']
VERSION_RE = re.compile(r'(\d+\.\d+(?:\.\d+)?)')
DELETED_MARK = ' (deleted)'


def parse_version(text, word):
    """The version after ``word`` on the first line that has it (``iperf 3.12 (cJSON...)``)."""
    for line in (text or '').splitlines():
        if word in line:
            match = VERSION_RE.search(line.split(word, 1)[1])
            if match:
                return match.group(1)
    return None


def netns_processes(name, proc='/proc'):
    """Pids of processes called ``name`` that share our network namespace."""
    try:
        mine = os.stat(os.path.join(proc, 'self', 'ns', 'net'))
    except OSError:
        return []
    pids = []
    for entry in os.listdir(proc):
        if not entry.isdigit():
            continue
        try:
            with open(os.path.join(proc, entry, 'comm')) as handle:
                if handle.read().strip() != name:
                    continue
            theirs = os.stat(os.path.join(proc, entry, 'ns', 'net'))
        except (IOError, OSError):
            continue
        if (theirs.st_dev, theirs.st_ino) == (mine.st_dev, mine.st_ino):
            pids.append(int(entry))
    return sorted(pids)


def process_exe(pid, proc='/proc'):
    """(path, deleted) of the binary process ``pid`` runs; (None, False) when unreadable."""
    try:
        target = os.readlink(os.path.join(proc, str(pid), 'exe'))
    except OSError:
        return None, False
    if target.endswith(DELETED_MARK):
        return target[:-len(DELETED_MARK)], True
    return target, False


def program_identity(path, trusted_only=False):
    """(st_dev, st_ino) of the regular file ``path``, else None.

    With ``trusted_only``, also None unless it is owned by root or by us and
    not writable by group or others: a process that merely calls itself
    mptcpd cannot make us run its binary.
    """
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    if trusted_only and (st.st_uid not in (0, os.geteuid()) or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)):
        return None
    return st.st_dev, st.st_ino


def gather_mptcpd(module, run, proc='/proc'):
    """The mptcpd found on the host and the binaries its processes here run.

    Versions are cached per binary (device and inode), so each distinct
    binary runs ``--version`` once, the installed one included.
    """
    versions = {}

    def version_of(program, trusted_only=False):
        identity = program_identity(program, trusted_only)
        if identity is None:
            return None
        if identity not in versions:
            _rc, text = run([program, '--version'])
            versions[identity] = parse_version(text, 'mptcpd')
        return versions[identity]

    path = module.get_bin_path('mptcpd', opt_dirs=MPTCPD_DIRS)
    info = {'path': path, 'version': version_of(path) if path else None}
    processes = []
    for pid in netns_processes('mptcpd', proc):
        exe, deleted = process_exe(pid, proc)
        # /proc/<pid>/exe is the very binary, even when deleted or in another mount namespace
        version = version_of(os.path.join(proc, str(pid), 'exe'), trusted_only=True) if exe else None
        processes.append({'pid': pid, 'path': exe, 'version': version, 'deleted': deleted})
    first = processes[0] if processes else {}
    info.update({
        'running': bool(processes),
        'pids': [p['pid'] for p in processes],
        'running_path': first.get('path'),
        'running_version': first.get('version'),
        'processes': processes,
    })
    return info


def gather_kernel(proc_dir=sysctl.PROC_DIR, netlink=None):
    """The kernel part of the facts. ``netlink`` builds an MptcpNetlink."""
    facts = {
        'supported': False,
        'enabled': False,
        'settings': {},
        'available_path_managers': [],
        'available_schedulers': [],
        'endpoints': [],
        'limits': None,
        'kernel': nl.kernel_release(),
    }
    if not sysctl.supported(proc_dir):
        return facts
    settings = sysctl.read_all(proc_dir)
    if 'path_manager' not in settings and 'pm_type' in settings:
        settings['path_manager'] = sysctl.read_path_manager(proc_dir)
    facts['settings'] = settings
    facts['enabled'] = bool(settings.get('enabled'))
    facts['available_path_managers'] = sysctl.available_path_managers(proc_dir)
    facts['available_schedulers'] = sysctl.available_schedulers(proc_dir)
    try:
        with (netlink or nl.MptcpNetlink)() as pm:
            facts['endpoints'] = [dict((k, e[k]) for k in ('id', 'address', 'port', 'dev', 'flags'))
                                  for e in pm.endpoints()]
            facts['limits'] = pm.limits()
    except nl.MptcpUnsupported:
        facts['supported'] = False
        facts['enabled'] = False
        return facts
    facts['supported'] = True
    return facts


def gather_tools(module, proc='/proc'):
    env = {'LC_ALL': 'C', 'LANG': 'C'}

    def run(argv):
        rc, out, err = module.run_command(argv, environ_update=env)
        return rc, (out or '') + (err or '')

    tools = {}
    ip = module.get_bin_path('ip')
    iproute2_mptcp = False
    if ip:
        _rc, text = run([ip, 'mptcp', 'help'])
        iproute2_mptcp = 'mptcp endpoint' in text
    tools['iproute2_mptcp'] = iproute2_mptcp

    iperf3 = module.get_bin_path('iperf3')
    info = {'version': None, 'mptcp_option': False, 'path': iperf3}
    if iperf3:
        _rc, text = run([iperf3, '--version'])
        info['version'] = parse_version(text, 'iperf')
        _rc, text = run([iperf3, '--help'])
        info['mptcp_option'] = '--mptcp' in text
    tools['iperf3'] = info

    tools['mptcpize'] = {'path': module.get_bin_path('mptcpize')}

    # the client and server of the latency tests (request/response)
    sockperf = module.get_bin_path('sockperf')
    info = {'version': None, 'path': sockperf}
    if sockperf:
        _rc, text = run([sockperf, '--version'])
        info['version'] = parse_version(text, 'version')
    tools['sockperf'] = info

    tools['mptcpd'] = gather_mptcpd(module, run, proc)
    return tools


def main():
    module = AnsibleModule(argument_spec={}, supports_check_mode=True)
    if not nl.HAS_PYROUTE2:
        module.fail_json(msg=missing_required_lib('pyroute2'), exception=nl.PYROUTE2_IMPORT_ERROR)
    try:
        facts = gather_kernel()
    except nl.MptcpError as exc:
        module.fail_json(msg='%s' % exc)
    facts['tools'] = gather_tools(module)
    module.exit_json(changed=False, ansible_facts={'mptcp': facts})


if __name__ == '__main__':
    main()
