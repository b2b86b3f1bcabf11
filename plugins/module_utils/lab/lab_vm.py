# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The VM lab's plan: which NICs, ports, MACs and scripts each VM gets.

Pure functions (unit-tested); mptcp.lab.vm_lab starts and stops the VMs.

A VM is booted by virtme-ng (virtme-run) with the kernel under test and the
host's root file system shared read-only; it gets one virtio NIC per lab
link (a QEMU ``dgram`` pair on 127.0.0.1: no privilege, no tap) and a
management NIC (QEMU user networking, ``restrict=on``, one forwarded TCP port
on 127.0.0.1 to the guest's sshd). The guest's first program is the init
script below: it names the NICs by MAC, loads the lab's modules from the
kernel's own module tree, puts a copy of the Python standard library and
pyroute2 in RAM (the 9p root is slow under TCG) and runs sshd with the lab's
keys, in the foreground: the VM lives as long as sshd.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import json
import os
import re
import struct

MGMT_DEV = 'mgmt'
# QEMU user networking's defaults: the guest is .15, the host (hostfwd) .2
MGMT_ADDRESS = '10.0.2.15/24'
# Where the guest's interpreter wrapper lives (a tmpfs of the guest).
GUEST_PYTHON = '/run/mptcp-lab-vm/python'
GUEST_RUN = '/run/mptcp-lab-vm'
# Modules the lab needs, loaded at boot (no udev in the guest): NICs, shaping, a shared bottleneck (ifb, clsact,
# u32, mirred), ss -M.
GUEST_MODULES = ('overlay', 'virtio_net', 'sch_netem', 'sch_tbf', 'sch_htb', 'ifb', 'sch_ingress', 'cls_u32',
                 'act_mirred', 'inet_diag', 'tcp_diag', 'mptcp_diag')
# Paths the guest does not see from the host (virtme-ng mounts tmpfs there, or we do).
HIDDEN_IN_GUEST = ('/tmp', '/run', '/var/cache', '/var/log', '/var/tmp', '/dev', '/proc', '/sys')
CONFIG_OPTIONS = ('CONFIG_MPTCP', 'CONFIG_MPTCP_IPV6', 'CONFIG_INET_MPTCP_DIAG', 'CONFIG_NET_SCH_NETEM',
                  'CONFIG_NET_SCH_TBF', 'CONFIG_NET_SCH_HTB', 'CONFIG_IFB', 'CONFIG_VIRTIO_NET', 'CONFIG_9P_FS')
_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$')
_IFNAME = re.compile(r'^[A-Za-z0-9_.-]{1,15}$')


class VmPlanError(ValueError):
    pass


def check_visible(path, field):
    """The guest sees the host's root read-only, except a few tmpfs mounts."""
    if not isinstance(path, str) or not path.startswith('/'):
        raise VmPlanError('%s: must be an absolute path, got %r' % (field, path))
    real = os.path.normpath(path)
    for hidden in HIDDEN_IN_GUEST:
        if real == hidden or real.startswith(hidden + '/'):
            raise VmPlanError('%s: %s is not visible inside the VMs (the guest has its own %s); '
                              'use a directory elsewhere, e.g. /var/lib/mptcp-lab' % (field, path, hidden))
    return real


def plan(prefix, vms, links, port_base):
    """Per VM: its NICs (dev, mac, local/remote UDP port) and SSH port.

    ``vms`` is a list of ``{name, ssh_port, cpus, memory_mb}``; ``links`` the
    lab's links ``{netns, name, peer_netns, peer_name}`` (mptcp.lab.lab_wiring):
    link i is a dgram pair on ports ``port_base + 2i`` (the ``netns`` end) and
    ``port_base + 2i + 1`` (the peer end).
    """
    if not isinstance(prefix, str) or not _NAME.match(prefix):
        raise VmPlanError('prefix: must be a short name of letters, digits, "-", "_" or ".", got %r' % (prefix,))
    if isinstance(port_base, bool) or not isinstance(port_base, int) or not 1024 <= port_base <= 65535 - 2 * len(links):
        raise VmPlanError('port_base: must be an integer in [1024, %d], got %r' % (65535 - 2 * len(links), port_base))
    out = {}
    ports = set()
    for i, vm in enumerate(vms):
        name = vm.get('name')
        if not isinstance(name, str) or not _NAME.match(name) or not name.startswith(prefix + '-'):
            raise VmPlanError('vms[%d].name: must start with "%s-" (lab_prefix plus "-") and be a plain name, got %r'
                              % (i, prefix, name))
        if name in out:
            raise VmPlanError('vms[%d].name: %s is there twice' % (i, name))
        port = vm.get('ssh_port')
        if isinstance(port, bool) or not isinstance(port, int) or not 1024 <= port <= 65535:
            raise VmPlanError('vms[%d].ssh_port (%s): must be an integer in [1024, 65535], got %r' % (i, name, port))
        if port in ports:
            raise VmPlanError('vms[%d].ssh_port (%s): %d is used by another VM' % (i, name, port))
        ports.add(port)
        for key, low, high in (('cpus', 1, 64), ('memory_mb', 128, 65536)):
            value = vm.get(key)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise VmPlanError('vms[%d].%s (%s): must be an integer in [%d, %d], got %r'
                                  % (i, key, name, low, high, value))
        out[name] = {'name': name, 'index': i, 'ssh_port': port, 'cpus': vm['cpus'],
                     'memory_mb': vm['memory_mb'], 'nics': []}
    for i, link in enumerate(links):
        base = port_base + 2 * i
        if base in ports or base + 1 in ports:
            raise VmPlanError('port_base: link ports %d-%d overlap an ssh_port' % (base, base + 1))
        for end, other, local, remote in (('', 'peer_', base, base + 1), ('peer_', '', base + 1, base)):
            vm_name, dev = link.get(end + 'netns'), link.get(end + 'name')
            if vm_name not in out:
                raise VmPlanError('links[%d].%snetns: %r is not one of the VMs' % (i, end, vm_name))
            if not isinstance(dev, str) or not _IFNAME.match(dev) or dev == MGMT_DEV:
                raise VmPlanError('links[%d].%sname: must be an interface name (at most 15 characters, not %s), '
                                  'got %r' % (i, end, MGMT_DEV, dev))
            nics = out[vm_name]['nics']
            if any(n['dev'] == dev for n in nics):
                raise VmPlanError('links[%d].%sname: %s has two NICs named %s' % (i, end, vm_name, dev))
            nics.append({'dev': dev, 'local_port': local, 'remote_port': remote,
                         'peer': '%s:%s' % (link.get(other + 'netns'), link.get(other + 'name'))})
    for vm in out.values():
        vm['mgmt_mac'] = mac(vm['index'], 0)
        for j, nic in enumerate(vm['nics'], start=1):
            nic['mac'] = mac(vm['index'], j)
    return out


def mac(vm_index, nic_index):
    """A locally administered MAC, unique per VM and NIC of one lab."""
    if not 0 <= vm_index < 256 or not 0 <= nic_index < 256:
        raise VmPlanError('at most 256 VMs of 256 NICs each')
    return '52:54:00:6d:%02x:%02x' % (vm_index, nic_index)


def qemu_opts(vm):
    """The QEMU arguments of one VM's NICs (management first)."""
    args = ['-netdev', 'user,id=mgmt,restrict=on,hostfwd=tcp:127.0.0.1:%d-:22' % vm['ssh_port'],
            '-device', 'virtio-net-pci,netdev=mgmt,mac=%s' % vm['mgmt_mac']]
    for j, nic in enumerate(vm['nics'], start=1):
        args += ['-netdev', 'dgram,id=n%d,local.type=inet,local.host=127.0.0.1,local.port=%d,'
                 'remote.type=inet,remote.host=127.0.0.1,remote.port=%d' % (j, nic['local_port'], nic['remote_port']),
                 '-device', 'virtio-net-pci,netdev=n%d,mac=%s' % (j, nic['mac'])]
    return args


def _sh(value):
    return "'" + str(value).replace("'", "'\\''") + "'"


def guest_init(vm, modules_root, python_tar, sshd_config):
    """The guest's first program (a /bin/sh script run by virtme-ng-init).

    Every value comes from the plan (validated names, MACs) or from paths the
    module chose, and is quoted all the same.
    """
    renames = ''.join('    %s) ip link set dev "$n" name %s ;;\n' % (_sh(n['mac']), _sh(n['dev']))
                      for n in [{'mac': vm['mgmt_mac'], 'dev': MGMT_DEV}] + vm['nics'])
    return '''#!/bin/sh
# Written by mptcp.lab.vm_lab for the VM %(name)s; run as the guest's first program.
exec >/dev/console 2>&1
echo "mptcp-lab-vm: init $(uname -r)"
R=%(run)s
mkdir -p "$R" && mount -t tmpfs -o mode=0755 tmpfs "$R"
# Kernel modules come from the kernel's own tree (the host's /lib/modules is not this kernel's).
MODROOT=%(modroot)s
printf '#!/bin/sh\\nexec /sbin/modprobe -d "%%s" "$@"\\n' "$MODROOT" > "$R/modprobe"
chmod 755 "$R/modprobe"
[ -n "$MODROOT" ] && echo "$R/modprobe" > /proc/sys/kernel/modprobe
[ -n "$MODROOT" ] && "$R/modprobe" -a -q %(modules)s
# A writable /tmp, and a root account whose shell reads no dotfile of the host's.
mount -t tmpfs -o mode=1777 tmpfs /tmp
mkdir -m 0700 "$R/home"
# A writable /etc in RAM over the host's (useradd locks and renames files in /etc): an
# overlay, or a copy where the kernel has no overlayfs.
mkdir -p "$R/etc/upper" "$R/etc/work" "$R/etc/copy"
mount -t overlay overlay -o lowerdir=/etc,upperdir="$R/etc/upper",workdir="$R/etc/work" /etc ||
  { cp -a /etc/. "$R/etc/copy/" && mount --bind "$R/etc/copy" /etc; }
sed 's|^root:.*|root:x:0:0:root:'"$R"'/home:/bin/sh|' /etc/passwd > "$R/passwd" && cat "$R/passwd" > /etc/passwd
{ grep -v '^root:' /etc/shadow; echo 'root:*:1::::::'; } > "$R/shadow" && cat "$R/shadow" > /etc/shadow
# The interpreter, its standard library and pyroute2 in RAM: over 9p under TCG, every
# import costs a round trip to the host, and a module run took minutes.
mkdir "$R/py" && tar -C "$R/py" -xf %(tar)s
printf '#!/bin/sh\\nLD_LIBRARY_PATH=%%s/py/lib PYTHONPATH=%%s/py/site exec %%s/py/bin/%%s "$@"\\n' \\
  "$R" "$R" "$R" %(python)s > "$R/python"
chmod 755 "$R/python"
for d in /sys/class/net/*; do
  n=${d##*/}
  case "$(cat "$d/address")" in
%(renames)s  esac
done
ip link set lo up
for dev in %(devs)s; do ip link set dev "$dev" up; done
ip link set %(mgmt)s up
ip addr add %(mgmt_address)s dev %(mgmt)s
mkdir -p /run/sshd
echo "mptcp-lab-vm: sshd"
exec /usr/sbin/sshd -D -e -f %(sshd_config)s
''' % {'name': vm['name'], 'run': _sh(GUEST_RUN), 'modroot': _sh(modules_root or ''),
       'modules': ' '.join(GUEST_MODULES), 'tar': _sh(python_tar['path']), 'python': _sh(python_tar['python']), 'renames': renames, 'mgmt': MGMT_DEV,
       'mgmt_address': MGMT_ADDRESS, 'devs': ' '.join(_sh(n['dev']) for n in vm['nics']), 'sshd_config': _sh(sshd_config)}


def sshd_config(host_key, authorized_keys):
    return '''# Written by mptcp.lab.vm_lab: the guest's sshd, the lab's keys only.
Port 22
HostKey %s
AuthorizedKeysFile %s
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PrintMotd no
UseDNS no
PidFile none
Subsystem sftp /usr/lib/openssh/sftp-server
''' % (host_key, authorized_keys)


def kernel_release(image_bytes):
    """The release of an x86 bzImage (its setup header's version string), or None."""
    if len(image_bytes) < 0x210 or image_bytes[0x202:0x206] != b'HdrS':
        return None
    offset = struct.unpack_from('<H', image_bytes, 0x20E)[0] + 0x200
    text = image_bytes[offset:offset + 256].split(b'\0')[0].decode('ascii', 'replace')
    return text.split(' ')[0] or None


def config_options(text):
    """The lab-relevant CONFIG_ lines of a kernel config: {name: y|m|value|None}."""
    found = dict((name, None) for name in CONFIG_OPTIONS)
    for line in text.splitlines():
        line = line.strip()
        m = re.match(r'^(CONFIG_[A-Z0-9_]+)=(.*)$', line)
        if m and m.group(1) in found:
            found[m.group(1)] = m.group(2).strip('"')
    return found


def config_hash(data):
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode('utf-8')).hexdigest()[:16]
