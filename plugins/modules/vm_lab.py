#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: vm_lab
short_description: Start, wire and stop the VMs of a VM lab (kernel under test, virtme-ng, QEMU)
version_added: 0.2.0
description:
  - Boots one VM per lab host with the kernel under test (virtme-ng's C(virtme-run), the host's root
    shared read-only), one virtio NIC per lab link (a QEMU C(dgram) pair on 127.0.0.1, no privilege)
    and a management NIC whose guest sshd is forwarded to a TCP port on 127.0.0.1.
  - The guests are reached over SSH with keys this module generates in O(state_dir), never the
    user's. Their interpreter is C(/run/mptcp-lab-vm/python) (the host's Python with the standard
    library and pyroute2 copied into the guest's RAM).
  - Each VM runs under a guardian process (new session); SIGINT or SIGTERM to it stops the VM, and QEMU
    and virtme-run die with it (parent-death signal), so no QEMU outlives its guardian. With
    O(owner_pid), the guardian also stops the VM when that process ends (an aborted playbook).
  - A VM that does not answer on SSH within O(boot_timeout) is stopped and booted again, O(boot_retries)
    times, and the result says which VMs needed a retry.
  - The accelerator is detected for real (O(accel=auto)) by booting the kernel under KVM for a few
    seconds; a KVM that hangs guests (the PVM variant) falls back to TCG. The result is cached in
    O(state_dir).
  - O(state=absent) stops every VM of O(state_dir) and removes the directory (keys, scripts, logs).
options:
  state:
    description: V(present) starts (or reconciles) the VMs, V(absent) stops them and removes O(state_dir).
    type: str
    choices: [present, absent]
    default: present
  prefix:
    description: The lab prefix; every VM name starts with C(<prefix>-).
    type: str
    required: true
  state_dir:
    description:
      - The lab's own directory (pidfiles, keys, guest scripts, logs). It must be visible in the guests
        (not under /tmp, /run, /var/cache, /var/log or /var/tmp).
    type: path
    required: true
  kernel:
    description:
      - The kernel under test. C(image) is the bzImage/vmlinuz; C(modules_root) the directory holding
        C(lib/modules/<release>) (an unpacked Debian package, or C(INSTALL_MOD_PATH) of a build), or
        null when the kernel needs no module. C(config) the kernel's config file, if known.
      - Required when O(state=present).
    type: dict
  vms:
    description: The VMs, C({name, ssh_port, cpus, memory_mb}).
    type: list
    elements: dict
    default: []
  links:
    description: The lab's links, C({netns, name, peer_netns, peer_name}) (the mptcp.lab.lab_wiring filter).
    type: list
    elements: dict
    default: []
  port_base:
    description: First UDP port of the links on 127.0.0.1 (two per link).
    type: int
    default: 47100
  accel:
    description: V(auto) uses KVM when it works and TCG otherwise; V(kvm) and V(tcg) force one.
    type: str
    choices: [auto, kvm, tcg]
    default: auto
  boot_timeout:
    description:
      - Seconds a VM gets to answer on SSH. An idle 2-core host boots three TCG guests in well under
        a minute; a loaded one took 4-5 minutes here.
    type: int
    default: 600
  boot_retries:
    description: How many times a VM that timed out is booted again.
    type: int
    default: 1
  owner_pid:
    description: Stop the VMs when this process ends (0 = never; the VMs stay until O(state=absent)).
    type: int
    default: 0
author: mptcp.lab developers (@multipath-tcp)
extends_documentation_fragment: [mptcp.lab.attributes]
attributes:
  check_mode: {support: full}
  diff_mode: {support: none}
'''

EXAMPLES = r'''
- name: Boot the lab's VMs with a Debian kernel
  mptcp.lab.vm_lab:
    prefix: mvm
    state_dir: /var/lib/mptcp-lab/mvm
    kernel:
      image: /var/lib/mptcp-lab/kernels/linux-image-6.1.0-50-amd64/boot/vmlinuz-6.1.0-50-amd64
      modules_root: /var/lib/mptcp-lab/kernels/linux-image-6.1.0-50-amd64
    vms:
      - {name: mvm-gen1, ssh_port: 47022, cpus: 1, memory_mb: 512}
      - {name: mvm-sink1, ssh_port: 47023, cpus: 1, memory_mb: 512}
    links:
      - {netns: mvm-gen1, name: mvm-p1, peer_netns: mvm-sink1, peer_name: mvm-p1}

- name: Stop them and remove their files
  mptcp.lab.vm_lab:
    prefix: mvm
    state_dir: /var/lib/mptcp-lab/mvm
    state: absent
'''

RETURN = r'''
vms:
  description: Per VM, what it runs and how it booted (the run record's C(vm) metadata).
  returned: always
  type: dict
  sample:
    mvm-gen1: {kernel_release: 6.1.0-50-amd64, image_sha256: "...", accel: tcg, cpus: 1, memory_mb: 512,
               boot_s: 41.2, boot_attempts: 1, ssh_port: 47022, config: {CONFIG_MPTCP: "y"}}
ssh:
  description: The connection settings of the guests (key, known_hosts, interpreter).
  returned: when O(state=present)
  type: dict
started:
  description: The VMs started (or restarted) by this call.
  returned: always
  type: list
stopped:
  description: The VMs stopped by this call.
  returned: always
  type: list
'''

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tarfile
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mptcp.lab.plugins.module_utils.lab import lab_vm
from ansible_collections.mptcp.lab.plugins.module_utils.process import proc_identity as procid

MARKER = '.mptcp-lab-vm'
PR_SET_PDEATHSIG = 1


def _read(path, default=None):
    try:
        with open(path) as f:
            return f.read()
    except (IOError, OSError):
        return default


def _write(path, text, mode=0o644):
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.rename(tmp, path)


def starttime(pid):
    """Kernel start time of a live, non-zombie pid as text (the records keep it so), or None."""
    start = procid.start_time(pid)
    return None if start is None else str(start)


alive = procid.same_process


def _prctl_pdeathsig(libc, parent):
    """In a forked child: die with the parent. A parent that died before the call is
    not signalled any more (the child was reparented): then exit at once."""
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


def guardian(argv, env, log_path, owner_pid, owner_start):
    """Run in the forked guardian: start virtme-run, stop it when told or when the owner ends."""
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getpid()
    child = os.fork()
    if child == 0:
        try:
            _prctl_pdeathsig(libc, parent)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.dup2(log, 1)
            os.dup2(log, 2)
            os.close(log)
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    deadline = None
    while True:
        done = os.waitpid(child, os.WNOHANG)[0]
        if done:
            return
        if deadline is None and (stop or (owner_pid and not alive(owner_pid, owner_start))):
            # SIGINT lets virtme-run clean its temporary files; QEMU dies with it (parent-death signal)
            os.kill(child, signal.SIGINT)
            deadline = time.time() + 10
        elif deadline is not None and time.time() > deadline:
            os.kill(child, signal.SIGKILL)
        time.sleep(0.5)


def spawn_guardian(argv, env, log_path, owner_pid):
    owner_start = starttime(owner_pid) if owner_pid else None
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid:
        os.close(write_fd)
        os.waitpid(pid, 0)
        data = os.read(read_fd, 64).decode()
        os.close(read_fd)
        return int(data)
    try:  # first child: new session, then the guardian forks off and this one ends
        os.setsid()
        gpid = os.fork()
        if gpid:
            os.write(write_fd, str(gpid).encode())
            os._exit(0)
        os.close(read_fd)
        os.close(write_fd)
        null = os.open('/dev/null', os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.closerange(3, 65536)
        os.chdir('/')
        guardian(argv, env, log_path, owner_pid, owner_start)
    finally:
        os._exit(0)


def children(pid):
    out = []
    for task in os.listdir('/proc/%d/task' % pid) if os.path.isdir('/proc/%d/task' % pid) else []:
        out += [int(c) for c in (_read('/proc/%d/task/%s/children' % (pid, task)) or '').split()]
    return out


def find_qemu(gpid):
    """QEMU's pid under a guardian (guardian -> virtme-run -> qemu)."""
    todo = [gpid]
    while todo:
        p = todo.pop()
        for c in children(p):
            if os.path.basename((_read('/proc/%d/cmdline' % c) or '').split('\0')[0]).startswith('qemu-system'):
                return c
            todo.append(c)
    return None


def ssh_banner(port, timeout=30.0):
    """True when the guest's sshd answers: QEMU's forward accepts before the guest listens (then
    closes), and a guest under a loaded TCG host may take many seconds to send its banner."""
    try:
        with socket.create_connection(('127.0.0.1', port), timeout=5) as s:
            s.settimeout(timeout)
            return s.recv(4) == b'SSH-'
    except (OSError, socket.timeout):
        return False


class VmLab(object):
    def __init__(self, module):
        self.m = module
        self.p = module.params
        self.dir = self.p['state_dir']
        self.changed = False
        self.started, self.stopped = [], []

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    # ---- what runs
    def records(self):
        out = {}
        if not os.path.isdir(self.dir):
            return out
        for name in sorted(os.listdir(self.dir)):
            if name.endswith('.json') and name.startswith(self.p['prefix'] + '-'):
                try:
                    out[name[:-5]] = json.loads(_read(self.path(name)))
                except ValueError:
                    out[name[:-5]] = {}
        return out

    def stop(self, name, rec):
        for key in ('guardian', 'qemu'):
            pid, start = rec.get(key + '_pid'), rec.get(key + '_start')
            if alive(pid, start):
                os.kill(pid, signal.SIGTERM)
        deadline = time.time() + 15
        while time.time() < deadline and any(alive(rec.get(k + '_pid'), rec.get(k + '_start')) for k in ('guardian', 'qemu')):
            time.sleep(0.2)
        for key in ('guardian', 'qemu'):
            if alive(rec.get(key + '_pid'), rec.get(key + '_start')):
                os.kill(rec[key + '_pid'], signal.SIGKILL)
        for suffix in ('.json', '.init.sh', '.log', '.log.previous'):
            if os.path.exists(self.path(name + suffix)):
                os.unlink(self.path(name + suffix))

    def running(self, rec):
        return alive(rec.get('guardian_pid'), rec.get('guardian_start'))

    # ---- absent
    def absent(self):
        recs = self.records()
        if recs or os.path.isdir(self.dir):
            if os.path.isdir(self.dir) and not os.path.exists(self.path(MARKER)):
                self.m.fail_json(msg='state_dir: %s was not made by mptcp.lab.vm_lab (no %s): not removing it'
                                 % (self.dir, MARKER))
            self.changed = True
            if not self.m.check_mode:
                for name, rec in recs.items():
                    self.stop(name, rec)
                shutil.rmtree(self.dir)
            self.stopped = sorted(recs)
        return {}

    # ---- present
    def kernel(self):
        k = self.p['kernel'] or {}
        image = k.get('image')
        if not image or not os.path.isfile(image):
            self.m.fail_json(msg='kernel.image: %r is not a file (a bzImage or vmlinuz)' % (image,))
        root = k.get('modules_root') or None
        try:
            lab_vm.check_visible(image, 'kernel.image')
            if root:
                lab_vm.check_visible(root, 'kernel.modules_root')
        except lab_vm.VmPlanError as e:
            self.m.fail_json(msg=str(e))
        with open(image, 'rb') as f:
            data = f.read()
        release = lab_vm.kernel_release(data)
        if root and release and not os.path.isdir(os.path.join(root, 'lib', 'modules', release)):
            self.m.fail_json(msg='kernel.modules_root: %s has no lib/modules/%s' % (root, release))
        config = k.get('config')
        if not config:
            for cand in [os.path.join(os.path.dirname(image), 'config-%s' % release),
                         os.path.join(os.path.dirname(image), '.config'),
                         os.path.join(os.path.dirname(image), '..', '..', '..', '..', '.config')]:
                if os.path.isfile(cand):
                    config = os.path.normpath(cand)
                    break
        return {'image': image, 'modules_root': root, 'release': release,
                'image_sha256': hashlib.sha256(data).hexdigest(), 'config_file': config,
                'config': lab_vm.config_options(_read(config, '')) if config else None}

    def keys(self):
        keygen = self.m.get_bin_path('ssh-keygen', required=True)
        for name, comment in (('id_ed25519', 'mptcp-lab-controller'), ('ssh_host_ed25519_key', 'mptcp-lab-guest')):
            if not os.path.exists(self.path(name)):
                self.m.run_command([keygen, '-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', self.path(name)],
                                   check_rc=True)
                self.changed = True
        _write(self.path('authorized_keys'), _read(self.path('id_ed25519.pub')))
        _write(self.path('sshd_config'), lab_vm.sshd_config(self.path('ssh_host_ed25519_key'),
                                                            self.path('authorized_keys')))

    def python_tar_spec(self):
        version = 'python%d.%d' % sys.version_info[:2]
        binary = os.path.realpath(getattr(sys, '_base_executable', None) or sys.executable)
        stdlib = sysconfig.get_paths()['stdlib']
        # named by what it holds, so another interpreter (or layout) makes another tar
        name = 'guest-python-%s.tar' % lab_vm.config_hash({'layout': 2, 'binary': binary, 'stdlib': stdlib,
                                                           'version': sys.version})
        return {'path': self.path(name), 'python': version, 'binary': binary, 'stdlib': stdlib}

    def python_tar(self):
        """The guest's Python in one tar read at boot: this interpreter (and its libpython),
        its standard library and pyroute2, laid out as a prefix (bin/, lib/pythonX.Y/)."""
        spec = self.python_tar_spec()
        path = spec['path']
        try:
            import pyroute2
        except ImportError:
            self.m.fail_json(msg='pyroute2 must be installed for the interpreter running this module')
        if not os.path.exists(path):
            skip = ('lib2to3', 'idlelib', 'tkinter', 'ensurepip', 'pydoc_data', 'turtledemo', 'test', 'site-packages')

            def keep(info):
                parts = info.name.split('/')
                if len(parts) > 2 and (parts[2] in skip or parts[2].startswith('config-')):
                    return None
                if info.name.endswith(('.opt-1.pyc', '.opt-2.pyc')):
                    return None
                return info
            with tarfile.open(path + '.tmp', 'w') as tar:
                tar.add(spec['binary'], arcname='bin/' + spec['python'])
                soname = sysconfig.get_config_var('INSTSONAME')
                libdir = sysconfig.get_config_var('LIBDIR')
                if sysconfig.get_config_var('Py_ENABLE_SHARED') and soname and libdir:
                    tar.add(os.path.realpath(os.path.join(libdir, soname)), arcname='lib/' + soname)
                tar.add(spec['stdlib'], arcname='lib/' + spec['python'], filter=keep)
                tar.add(os.path.dirname(pyroute2.__file__), arcname='site/pyroute2')
            os.rename(path + '.tmp', path)
        return spec

    def accel(self, kernel):
        want = self.p['accel']
        if want != 'auto':
            return want, 'forced'
        if not os.access('/dev/kvm', os.R_OK | os.W_OK):
            return 'tcg', '/dev/kvm is not usable'
        cache = self.path('accel.json')
        key = '%s %s' % (kernel['image_sha256'], os.uname().release)
        found = json.loads(_read(cache, '{}') or '{}')
        if found.get('key') == key:
            return found['accel'], found['reason']
        qemu = self.m.get_bin_path('qemu-system-x86_64', required=True)
        # Under a working KVM the kernel reaches "no root" and panics within a second or two;
        # the PVM variant of /dev/kvm hangs it after the decompressor.
        argv = [qemu, '-accel', 'kvm', '-m', '256', '-nodefaults', '-display', 'none', '-no-reboot',
                '-serial', 'stdio', '-kernel', kernel['image'], '-append', 'console=ttyS0 panic=-1 root=/dev/null']
        try:
            out = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 timeout=20, check=False).stdout
            ok = b'Kernel panic' in out or b'VFS:' in out
            reason = 'KVM boots the kernel' if ok else 'KVM did not boot the kernel: %s' % out[-200:].decode('replace')
        except subprocess.TimeoutExpired:
            ok, reason = False, '/dev/kvm hangs a guest (no panic within 20 s): TCG'
        result = ('kvm' if ok else 'tcg', reason)
        _write(cache, json.dumps({'key': key, 'accel': result[0], 'reason': result[1]}))
        return result

    def argv(self, vm, kernel, accel, init_path):
        virtme = self.m.get_bin_path('virtme-run', required=True, opt_dirs=[os.path.dirname(sys.executable)])
        argv = [virtme, '--kimg', kernel['image'], '--mods', 'auto' if kernel['modules_root'] else 'none',
                '--memory', '%dM' % vm['memory_mb'], '--cpus', str(vm['cpus']), '--name', vm['name'],
                '--verbose', '--show-boot-console', '--script-sh', init_path]
        if accel == 'tcg':
            argv.append('--disable-kvm')
        # QEMU through setpriv: it gets SIGKILL when virtme-run (its parent) ends, however it ends
        argv += ['--qemu-bin', self.qemu_wrapper()]
        argv += ['--qemu-opt=%s' % a for a in lab_vm.qemu_opts(vm)]
        return argv

    def qemu_wrapper(self):
        qemu = self.m.get_bin_path('qemu-system-x86_64', required=True)
        setpriv = self.m.get_bin_path('setpriv', required=True)
        path = self.path('bin', 'qemu-system-x86_64')
        if not os.path.isdir(self.path('bin')):
            os.makedirs(self.path('bin'), 0o755)
        _write(path, '#!/bin/sh\nexec %s --pdeathsig KILL %s "$@"\n' % (setpriv, qemu), 0o755)
        return path

    def present(self):
        try:
            lab_vm.check_visible(self.dir, 'state_dir')
            plan = lab_vm.plan(self.p['prefix'], self.p['vms'], self.p['links'], self.p['port_base'])
        except lab_vm.VmPlanError as e:
            self.m.fail_json(msg=str(e))
        kernel = self.kernel()
        recs = self.records()
        for name in sorted(set(recs) - set(plan)):
            self.changed = True
            self.stopped.append(name)
            if not self.m.check_mode:
                self.stop(name, recs[name])
        tar = self.python_tar_spec()
        wanted = {}
        for name, vm in plan.items():
            wanted[name] = lab_vm.config_hash({
                'vm': vm, 'kernel': kernel['image_sha256'], 'modules_root': kernel['modules_root'],
                'accel': self.p['accel'],
                'init': lab_vm.guest_init(vm, kernel['modules_root'], tar, self.path('sshd_config'))})
        todo = [n for n in sorted(plan) if not (n in recs and self.running(recs[n])
                                                and recs[n].get('config_hash') == wanted[n])]
        if self.m.check_mode:
            self.started = todo
            self.changed = self.changed or bool(todo)
            return self.result(plan, kernel, recs, None)
        if not os.path.isdir(self.dir):
            os.makedirs(self.dir, 0o755)
        _write(self.path(MARKER), 'made by mptcp.lab.vm_lab; removed with the lab\n')
        os.makedirs(self.path('tmp'), 0o700, exist_ok=True)
        self.keys()
        tar = self.python_tar()
        accel, accel_reason = self.accel(kernel)
        for name in todo:
            if name in recs:
                self.stop(name, recs[name])
        attempts = dict((n, 0) for n in todo)
        boot = {}
        pending = list(todo)
        while pending:
            t0 = {}
            for name in pending:
                attempts[name] += 1
                t0[name] = self.boot(plan[name], kernel, tar, accel, wanted[name], attempts[name])
            retry = []
            deadline = time.time() + self.p['boot_timeout']
            waiting = list(pending)
            while waiting and time.time() < deadline:
                for name in list(waiting):
                    rec = json.loads(_read(self.path(name + '.json')))
                    if ssh_banner(plan[name]['ssh_port']):
                        boot[name] = round(time.time() - t0[name], 1)
                        rec.update({'boot_s': boot[name], 'boot_attempts': attempts[name]})
                        qpid = find_qemu(rec['guardian_pid'])
                        if qpid:
                            rec.update({'qemu_pid': qpid, 'qemu_start': starttime(qpid)})
                        _write(self.path(name + '.json'), json.dumps(rec, indent=1))
                        waiting.remove(name)
                    elif not self.running(rec):
                        waiting.remove(name)
                        retry.append(name)
                time.sleep(0.5)
            retry += waiting
            pending = []
            for name in retry:
                self.stop_keep(name)
                if attempts[name] > self.p['boot_retries']:
                    self.m.fail_json(msg='VM %s did not answer on SSH (port %d) within %d s, %d attempt(s); '
                                     'boot log %s (and .previous), last lines:\n%s'
                                     % (name, plan[name]['ssh_port'], self.p['boot_timeout'], attempts[name],
                                        self.path(name + '.log'), self.log_tail(name)),
                                     started=self.started, attempts=attempts)
                pending.append(name)
            self.started = sorted(set(self.started) | set(todo))
        self.changed = self.changed or bool(todo)
        return self.result(plan, kernel, self.records(), (accel, accel_reason))

    def stop_keep(self, name):
        rec = json.loads(_read(self.path(name + '.json'), '{}') or '{}')
        for key in ('guardian', 'qemu'):
            if alive(rec.get(key + '_pid'), rec.get(key + '_start')):
                os.kill(rec[key + '_pid'], signal.SIGKILL)
        qpid = find_qemu(rec['guardian_pid']) if rec.get('guardian_pid') else None
        if qpid:
            os.kill(qpid, signal.SIGKILL)

    def log_tail(self, name, lines=25):
        return '\n'.join((_read(self.path(name + '.log'), '') or '').splitlines()[-lines:])

    def boot(self, vm, kernel, tar, accel, chash, attempt):
        init = self.path(vm['name'] + '.init.sh')
        _write(init, lab_vm.guest_init(vm, kernel['modules_root'], tar, self.path('sshd_config')), 0o755)
        log = self.path(vm['name'] + '.log')
        # QEMU truncates its console file (the log): keep the previous attempt's beside it
        if os.path.exists(log):
            os.rename(log, log + '.previous')
        with open(log, 'a') as f:
            f.write('==== mptcp.lab.vm_lab: boot attempt %d of %s, %s\n' % (attempt, vm['name'], time.ctime()))
        env = dict(os.environ, LC_ALL='C', TMPDIR=self.path('tmp'), HOME=self.path('tmp'))
        argv = self.argv(vm, kernel, accel, init)
        started = time.time()
        gpid = spawn_guardian(argv, env, log, self.p['owner_pid'])
        rec = {'name': vm['name'], 'guardian_pid': gpid, 'guardian_start': starttime(gpid), 'config_hash': chash,
               'ssh_port': vm['ssh_port'], 'cpus': vm['cpus'], 'memory_mb': vm['memory_mb'], 'accel': accel,
               'nics': vm['nics'], 'kernel_release': kernel['release'], 'image': kernel['image'],
               'image_sha256': kernel['image_sha256'], 'modules_root': kernel['modules_root'],
               'config_file': kernel['config_file'], 'config': kernel['config'], 'argv': argv,
               'owner_pid': self.p['owner_pid'] or None}
        _write(self.path(vm['name'] + '.json'), json.dumps(rec, indent=1))
        return started

    def result(self, plan, kernel, recs, accel):
        vms = {}
        for name in plan:
            rec = recs.get(name, {})
            vms[name] = dict((k, rec.get(k)) for k in (
                'kernel_release', 'image', 'image_sha256', 'config', 'accel', 'cpus', 'memory_mb',
                'boot_s', 'boot_attempts', 'ssh_port'))
            if accel:
                vms[name]['accel_reason'] = accel[1]
        ssh = {'private_key_file': self.path('id_ed25519'), 'known_hosts': self.path('known_hosts'),
               'python': lab_vm.GUEST_PYTHON}
        if not self.m.check_mode and os.path.exists(self.path('ssh_host_ed25519_key.pub')):
            hostkey = ' '.join(_read(self.path('ssh_host_ed25519_key.pub')).split()[:2])
            lines = ['[127.0.0.1]:%d %s\n' % (vm['ssh_port'], hostkey) for vm in plan.values()]
            _write(self.path('known_hosts'), ''.join(lines))
        return {'vms': vms, 'ssh': ssh, 'kernel': dict((k, kernel[k]) for k in ('release', 'image', 'image_sha256'))}


def run_module(module):
    lab = VmLab(module)
    out = lab.absent() if module.params['state'] == 'absent' else lab.present()
    module.exit_json(changed=lab.changed, started=lab.started, stopped=lab.stopped, **out)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            prefix=dict(type='str', required=True),
            state_dir=dict(type='path', required=True),
            kernel=dict(type='dict'),
            vms=dict(type='list', elements='dict', default=[]),
            links=dict(type='list', elements='dict', default=[]),
            port_base=dict(type='int', default=47100),
            accel=dict(type='str', choices=['auto', 'kvm', 'tcg'], default='auto'),
            boot_timeout=dict(type='int', default=600),
            boot_retries=dict(type='int', default=1),
            owner_pid=dict(type='int', default=0),
        ),
        required_if=[('state', 'present', ['kernel'])],
        supports_check_mode=True,
    )
    run_module(module)


if __name__ == '__main__':
    main()
