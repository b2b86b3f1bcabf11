# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: netns
short_description: Run tasks inside a network namespace of the controller
description:
  - Makes a Linux network namespace of the controller an inventory host, so that roles written
    for real hosts (over SSH) run unchanged on a virtual lab built from namespaces on one machine.
  - Every command runs with C(ip netns exec) semantics, see I(Why ip netns exec) in the notes.
  - Supports pipelining (one process per task, nothing written to disk), C(put_file) and
    C(fetch_file). Files are written and read from inside the namespace's view, so per-namespace
    files bind-mounted from C(/etc/netns/<name>/) are honoured.
  - The controller must run as root (or with CAP_SYS_ADMIN), since entering a namespace and
    remounting C(/sys) need it. C(become) works when it needs no password (root becoming another
    user, for example to drop privileges); a become password prompt is refused with a clear error.
author: mptcp.lab developers (@multipath-tcp)
version_added: 0.1.0
options:
  netns_name:
    description:
      - Name of the network namespace, as listed by C(ip netns list) (a file under C(/run/netns)).
      - When unset, the namespace is the host's address O(remote_addr), which is the inventory
        hostname unless C(ansible_host) is set.
      - With C(delegate_to), Ansible reads this option from the delegated host's variables, so a
        delegated task runs in the delegated host's namespace.
    type: string
    vars:
      - name: ansible_netns_name
  remote_addr:
    description:
      - The host's address, used as the namespace name when O(netns_name) is unset.
      - With C(delegate_to), Ansible sets C(ansible_host) to the delegated host's address (its
        inventory name unless it sets C(ansible_host) itself), while C(inventory_hostname) stays
        the original host's; the delegated host's address therefore wins, and the task runs in the
        delegated host's namespace, never in the original host's.
    type: string
    vars:
      - name: inventory_hostname
      - name: ansible_host
  ip_executable:
    description:
      - Path of the iproute2 C(ip) binary. By default it is looked up in C(PATH), then in
        C(/usr/sbin), C(/sbin) and C(/usr/bin).
    type: string
    vars:
      - name: ansible_netns_ip_executable
notes:
  - I(Why ip netns exec.) The two ways to enter a namespace differ in what the command sees.
    C(nsenter --net) only switches the network namespace, so C(/sys/class/net) still lists the
    controller's interfaces and C(/etc/hosts) is the controller's; tools and facts that read
    C(/sys) (for example the setup module's interface facts) then describe the wrong machine.
    C(ip netns exec) also enters a private mount namespace where C(/sys) is remounted for the
    namespace and C(/etc/netns/<name>/*) is bind-mounted over C(/etc), exactly the view a real host
    gives a role. Measured here, it costs about 0.4 ms more per command than nsenter (2.0 ms against
    1.6 ms), which is nothing beside a task's 0.2 s, so this plugin takes the real-host view.
  - Files and the rest of the file system are shared with the controller (the mount namespace is
    a slave of the controller's), so temporary files and daemons' pidfiles are visible from both.
    Processes started by a task keep running in the namespace after the task ends.
  - I(Which namespace.) The first set of C(ansible_netns_name), C(ansible_host) and the inventory
    hostname names it. Under C(delegate_to) the first two are the delegated host's (Ansible resolves
    connection variables from the delegated host and gives it an C(ansible_host), its name by
    default), so the original host's inventory hostname is never used.
    The mptcp.lab roles name a host's namespace C(ansible_netns_name), else C(inventory_hostname),
    so on a lab host set C(ansible_netns_name) rather than C(ansible_host).
  - The namespace must exist before the first task (the mptcp.lab lab roles create it); a missing
    namespace makes the host unreachable with a message naming it.
seealso:
  - name: ip-netns(8)
    description: The iproute2 command whose semantics this plugin uses.
    link: https://man7.org/linux/man-pages/man8/ip-netns.8.html
'''

EXAMPLES = r'''
# inventory (YAML): two namespaces as hosts
# all:
#   vars:
#     ansible_connection: mptcp.lab.netns
#     ansible_python_interpreter: "{{ ansible_playbook_python }}"
#   hosts:
#     mlab-gen1: {}                  # namespace "mlab-gen1"
#     gen:
#       ansible_netns_name: mlab-gen1  # same namespace, another inventory name

# delegation: the delegated host's namespace (here mlab-sink1's), not the play host's
# - name: Endpoints of the sink, from a play on the generator
#   mptcp.lab.mptcp_endpoints:
#     config: [{address: 10.0.2.2, flags: [signal]}]
#   delegate_to: mlab-sink1

# ad hoc
# ansible mlab-gen1 -i mlab-gen1, -c mptcp.lab.netns -m ansible.builtin.command -a 'ip -br addr'
'''

import os
import shutil
import subprocess

from ansible.errors import AnsibleConnectionFailure, AnsibleError, AnsibleFileNotFound
from ansible.module_utils.common.text.converters import to_bytes, to_native, to_text
from ansible.plugins.connection import ConnectionBase
from ansible.utils.display import Display

display = Display()

NETNS_RUN_DIR = '/run/netns'
IP_FALLBACKS = ('/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip')
SHELL = '/bin/sh'


def check_netns_name(name):
    """A namespace name is a single file name under /run/netns."""
    if not name or not isinstance(name, str) or '/' in name or name in ('.', '..') or '\0' in name:
        raise AnsibleConnectionFailure('invalid network namespace name %r: it must be a file name '
                                       'under %s (set ansible_netns_name)' % (name, NETNS_RUN_DIR))
    return name


def resolve_netns_name(netns_name=None, remote_addr=None, play_remote_addr=None):
    """The namespace to enter: ansible_netns_name, else the host's address, else the play context's.

    Under delegation both options come from the delegated host's variables (remote_addr is its
    ansible_host, which Ansible sets to its name by default); play_remote_addr is the play
    context's view of the same, for callers that set no options.
    """
    for candidate in (netns_name, remote_addr, play_remote_addr):
        if candidate:
            return check_netns_name(candidate)
    return check_netns_name(None)


def find_ip(configured=None):
    """Locate the ip binary."""
    if configured:
        if not os.access(configured, os.X_OK):
            raise AnsibleConnectionFailure('ip_executable %s is not an executable file' % configured)
        return configured
    found = shutil.which('ip')
    if found:
        return found
    for candidate in IP_FALLBACKS:
        if os.access(candidate, os.X_OK):
            return candidate
    raise AnsibleConnectionFailure('the iproute2 "ip" command is not installed (package iproute2)')


class Connection(ConnectionBase):
    """Run commands inside a network namespace with ip netns exec semantics."""

    transport = 'mptcp.lab.netns'
    has_pipelining = True
    default_user = 'root'

    def __init__(self, *args, **kwargs):
        super(Connection, self).__init__(*args, **kwargs)
        self._ip = None
        self._netns = None

    def _prefix(self):
        return [self._ip, 'netns', 'exec', self._netns]

    def _connect(self):
        if self._connected:
            return self
        name = resolve_netns_name(self.get_option('netns_name'), self.get_option('remote_addr'),
                                  self._play_context.remote_addr)
        if os.geteuid() != 0:
            raise AnsibleConnectionFailure('entering network namespace %s needs root on the controller' % name)
        if not os.path.exists(os.path.join(NETNS_RUN_DIR, name)):
            raise AnsibleConnectionFailure('network namespace %s does not exist (create the lab first, '
                                           'e.g. playbooks/provision.yml)' % name)
        self._ip = find_ip(self.get_option('ip_executable'))
        self._netns = name
        display.vvv('ENTER NETNS %s' % name, host=name)
        self._connected = True
        return self

    def exec_command(self, cmd, in_data=None, sudoable=True):
        """Run a shell command string inside the namespace; in_data feeds stdin (pipelining)."""
        super(Connection, self).exec_command(cmd, in_data=in_data, sudoable=sudoable)
        self._connect()
        if sudoable and self.become and self.become.expect_prompt():
            raise AnsibleError('mptcp.lab.netns: become method %s asks for a password, which this '
                               'connection cannot answer; run the controller as root'
                               % self.become.name)
        argv = self._prefix() + [SHELL, '-c', to_text(cmd, errors='surrogate_or_strict')]
        display.vvv('EXEC %s' % argv, host=self._netns)
        try:
            proc = subprocess.Popen([to_bytes(a, errors='surrogate_or_strict') for a in argv],
                                    stdin=subprocess.PIPE if in_data is not None else subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError as exc:
            raise AnsibleConnectionFailure('cannot run %s: %s' % (self._ip, to_native(exc)))
        stdout, stderr = proc.communicate(to_bytes(in_data) if in_data is not None else None)
        if sudoable and self.become and getattr(self.become, '_id', None) and self.become.check_success(stdout):
            # The become wrapper echoes a marker before the command's own output.
            stdout = self.become.strip_become_success(stdout)
        return proc.returncode, stdout, stderr

    def put_file(self, in_path, out_path):
        """Copy a controller file to a path as seen from inside the namespace."""
        super(Connection, self).put_file(in_path, out_path)
        self._connect()
        display.vvv('PUT %s TO %s' % (in_path, out_path), host=self._netns)
        b_in = to_bytes(in_path, errors='surrogate_or_strict')
        if not os.path.exists(b_in):
            raise AnsibleFileNotFound('file or module does not exist: %s' % to_native(in_path))
        # The path travels as an argument ($1), never inside the shell string.
        argv = self._prefix() + [SHELL, '-c', 'cat > "$1"', 'sh', out_path]
        with open(b_in, 'rb') as src:
            proc = subprocess.Popen([to_bytes(a, errors='surrogate_or_strict') for a in argv],
                                    stdin=src, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            dummy, stderr = proc.communicate()
        if proc.returncode != 0:
            raise AnsibleError('failed to transfer %s to %s in namespace %s: %s'
                               % (in_path, out_path, self._netns, to_native(stderr).strip()))

    def fetch_file(self, in_path, out_path):
        """Copy a file, as seen from inside the namespace, to the controller."""
        super(Connection, self).fetch_file(in_path, out_path)
        self._connect()
        display.vvv('FETCH %s TO %s' % (in_path, out_path), host=self._netns)
        argv = self._prefix() + ['cat', '--', in_path]
        b_out = to_bytes(out_path, errors='surrogate_or_strict')
        partial = b_out + b'.part'
        with open(partial, 'wb') as dst:
            proc = subprocess.Popen([to_bytes(a, errors='surrogate_or_strict') for a in argv],
                                    stdin=subprocess.DEVNULL, stdout=dst, stderr=subprocess.PIPE)
            dummy, stderr = proc.communicate()
        if proc.returncode != 0:
            os.unlink(partial)
            raise AnsibleError('failed to fetch %s from namespace %s: %s'
                               % (in_path, self._netns, to_native(stderr).strip()))
        os.rename(partial, b_out)

    def close(self):
        """Nothing stays open between commands."""
        self._connected = False
