"""SSH "machines" for testing the bare-metal lab on one host.

Each machine is a network namespace running its own sshd, reachable from the
controller only over SSH on a management network; its path NICs are veths
that run through a shaper machine. The controller (ansible-playbook) runs in
a management namespace holding the management bridge, so nothing is added to
the root namespace. Everything is torn down by :meth:`BareMetalLab.destroy`,
whatever state the build reached: the processes of every namespace (sshd, its
sessions, the traffic sink, Ansible's SSH control masters), the namespaces
and the temporary directory with the keys.

Topology (two paths)::

    mgmt ns: br0 10.251.0.1/24 (controller) -- eth0 of every machine (.10 shaper, .11 gen, .12 sink)

    gen eth1 198.18.1.2 -- eth1 198.18.1.1  shaper  eth3 198.18.2.1 -- eth1 198.18.2.2 sink
    gen eth2 198.18.3.2 -- eth2 198.18.3.1          eth4 198.18.4.1 -- eth2 198.18.4.2

The machines share the controller's file system, so every file an sshd uses
(config, host key, pidfile, log) lives under the lab's temporary directory,
per inventory hostname.

Ansible logs in as an unprivileged user with passwordless sudo, as on a real
lab, so that a task lacking ``become`` where it needs it fails here. The user
exists only for the sshds: each one runs in the private mount namespace that
``ip netns exec`` gives it, where copies of /etc/passwd, /etc/group,
/etc/shadow and /etc/sudoers with the user added are bind-mounted. The
controller's Python installation and venv may sit below a directory only
root can traverse (/root, a checkout in a 0700 directory): each such
directory is a machine-local tmpfs holding only them, at their own paths
(``_reach_interpreter``), and the build checks that the user can run the
interpreter before any playbook runs. This file's ``--bind/--tmpfs ... --
argv`` mode does the mounts; the controller's own files are never touched.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.dirname(sys.executable)
SSHD = '/usr/sbin/sshd'
MGMT_NET = '10.251.0'
MGMT_CONTROLLER = MGMT_NET + '.1'
PRIVSEP_DIR = '/run/sshd'
USER = 'mltbm'
SINK_USER = 'mltbmsink'

SSHD_CONFIG = """\
# sshd of one test machine ({host}); key-only root login on the management address only.
ListenAddress {address}
Port 22
HostKey {dir}/ssh_host_ed25519_key
PidFile {dir}/sshd.pid
AuthorizedKeysFile {keys}
AllowUsers {user}
PermitRootLogin no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PrintMotd no
Subsystem sftp internal-sftp
"""


def run(argv, ns=None, check=True, **kwargs):
    if ns:
        argv = ['ip', 'netns', 'exec', ns] + list(argv)
    return subprocess.run(argv, check=check, capture_output=True, text=True, **kwargs)


def ns_pids(ns):
    out = run(['ip', 'netns', 'pids', ns], check=False).stdout
    return [int(p) for p in out.split() if p.isdigit()]


def kill_ns_processes(ns, timeout=5.0):
    """SIGTERM then SIGKILL every process of namespace ``ns``; waits until none is left."""
    deadline = time.monotonic() + timeout
    sig = signal.SIGTERM
    while True:
        pids = [p for p in ns_pids(ns) if p != os.getpid()]
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        if time.monotonic() > deadline:
            sig = signal.SIGKILL
        time.sleep(0.05)


def untraversable_ancestor(path):
    """The topmost directory above ``path`` that other users cannot traverse (no o+x), or None."""
    current = '/'
    for part in os.path.dirname(path).strip('/').split('/'):
        if not part:
            break
        current = os.path.join(current, part)
        if not os.stat(current).st_mode & 0o001:
            return current
    return None


def wait_listening(ns, address, port, timeout=10.0):
    """Wait until a TCP socket listens on address:port inside namespace ``ns``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = run(['ss', '-Hltn', 'src', '%s:%d' % (address, port)], ns=ns, check=False).stdout
        if out.strip():
            return
        time.sleep(0.05)
    raise AssertionError('nothing listens on %s:%d in %s after %.0f s' % (address, port, ns, timeout))


class Machine(object):
    def __init__(self, name, ns, mgmt_address):
        self.name = name          # inventory hostname
        self.ns = ns              # network namespace
        self.mgmt_address = mgmt_address

    def run(self, *argv, check=True):
        return run(list(argv), ns=self.ns, check=check)


class BareMetalLab(object):
    """Builds the machines; ``destroy()`` removes all of it (safe to call at any point)."""

    PATHS = 2

    def __init__(self, rate_mbit=50):
        tag = uuid.uuid4().hex[:6]
        self.tag = tag
        self.rate_mbit = rate_mbit
        self.dir = tempfile.mkdtemp(prefix='mltbm-%s-' % tag)
        self.mgmt_ns = 'mltbm%sm' % tag
        self.namespaces = []
        self.machines = {}
        self.created_privsep = False
        self.uid = None
        self.inventory = os.path.join(self.dir, 'inventory')
        self.timings = []         # (playbook and arguments, seconds), for the test's report
        self.results = os.path.join(self.dir, 'results')

    # ------------------------------------------------------------ build
    def _netns(self, name):
        run(['ip', 'netns', 'add', name])
        self.namespaces.append(name)
        run(['ip', 'link', 'set', 'lo', 'up'], ns=name)
        return name

    def _veth(self, ns, name, peer_ns, peer_name):
        run(['ip', 'link', 'add', name, 'netns', ns, 'type', 'veth', 'peer', 'name', peer_name, 'netns', peer_ns])
        run(['ip', 'link', 'set', name, 'up'], ns=ns)
        run(['ip', 'link', 'set', peer_name, 'up'], ns=peer_ns)

    def build(self):
        self._netns(self.mgmt_ns)
        run(['ip', 'link', 'add', 'br0', 'type', 'bridge'], ns=self.mgmt_ns)
        run(['ip', 'address', 'add', MGMT_CONTROLLER + '/24', 'dev', 'br0'], ns=self.mgmt_ns)
        run(['ip', 'link', 'set', 'br0', 'up'], ns=self.mgmt_ns)
        for name, letter, octet in (('shaper1', 'r', 10), ('gen1', 'g', 11), ('sink1', 's', 12)):
            ns = self._netns('mltbm%s%s' % (self.tag, letter))
            machine = Machine(name, ns, '%s.%d' % (MGMT_NET, octet))
            self.machines[name] = machine
            # the management NIC: eth0 on the machine, a bridge port in the management namespace
            self._veth(ns, 'eth0', self.mgmt_ns, 'm%s' % letter)
            run(['ip', 'link', 'set', 'm%s' % letter, 'master', 'br0'], ns=self.mgmt_ns)
            machine.run('ip', 'address', 'add', machine.mgmt_address + '/24', 'dev', 'eth0')
        gen, sink, shaper = self.machines['gen1'].ns, self.machines['sink1'].ns, self.machines['shaper1'].ns
        for path in range(1, self.PATHS + 1):
            # path NICs: ethN on the end hosts; eth<path> (generator side) and
            # eth<path + PATHS> (sink side) on the shaper; no addresses yet
            self._veth(gen, 'eth%d' % path, shaper, 'eth%d' % path)
            self._veth(sink, 'eth%d' % path, shaper, 'eth%d' % (path + self.PATHS))
        self._ssh_keys()
        self._user()
        for machine in self.machines.values():
            self._start_sshd(machine)
        self.check_interpreter()
        self._write_inventory()
        return self

    def _ssh_keys(self):
        self.client_key = os.path.join(self.dir, 'id_ed25519')
        run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'mptcp.lab test', '-f', self.client_key])
        shutil.copyfile(self.client_key + '.pub', os.path.join(self.dir, 'authorized_keys'))
        self.known_hosts = os.path.join(self.dir, 'known_hosts')
        with open(self.known_hosts, 'w') as out:
            for machine in self.machines.values():
                mdir = os.path.join(self.dir, machine.name)
                os.makedirs(mdir, 0o700)
                key = os.path.join(mdir, 'ssh_host_ed25519_key')
                run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', machine.name, '-f', key])
                with open(key + '.pub') as pub:
                    kind, blob = pub.read().split()[:2]
                out.write('%s %s %s\n' % (machine.mgmt_address, kind, blob))

    def _user(self):
        """Copies of the account files with an unprivileged sudoer added, to bind-mount for the sshds."""
        import pwd
        used = set(p.pw_uid for p in pwd.getpwall())
        self.uid = next(uid for uid in range(64100, 65000) if uid not in used)
        # the traffic sink's user exists on the machines (useradd would rewrite the
        # bind-mounted account files); the role is told not to create it
        self.sink_uid = next(uid for uid in range(self.uid + 1, 65000) if uid not in used)
        home = os.path.join(self.dir, 'home')
        os.makedirs(home, 0o700)
        os.chown(home, self.uid, self.uid)
        # the user reads the authorized keys (sshd drops to the user for that) and nothing else here
        os.chmod(self.dir, 0o711)
        os.chmod(os.path.join(self.dir, 'authorized_keys'), 0o644)
        extra = {
            'passwd': '%s:x:%d:%d:mptcp.lab test:%s:/bin/sh\n%s:x:%d:%d:mptcp.lab sink:/nonexistent:/usr/sbin/nologin\n'
                      % (USER, self.uid, self.uid, home, SINK_USER, self.sink_uid, self.sink_uid),
            'group': '%s:x:%d:\n%s:x:%d:\n' % (USER, self.uid, SINK_USER, self.sink_uid),
            'shadow': '%s:*:19000:0:99999:7:::\n%s:*:19000:0:99999:7:::\n' % (USER, SINK_USER),
            'sudoers': '%s ALL=(ALL:ALL) NOPASSWD: ALL\n' % USER,
        }
        self.binds = []
        etc = os.path.join(self.dir, 'etc')
        os.makedirs(etc, 0o755)
        for name, line in sorted(extra.items()):
            with open('/etc/' + name) as handle:
                text = handle.read()
            copy = os.path.join(etc, name)
            with open(copy, 'w') as out:
                out.write(text if text.endswith('\n') else text + '\n')
                out.write(line)
            st = os.stat('/etc/' + name)
            os.chown(copy, st.st_uid, st.st_gid)
            os.chmod(copy, st.st_mode & 0o7777)
            self.binds += ['--bind', copy, '/etc/' + name]
        os.chmod(etc, 0o755)
        self._reach_interpreter()

    def _reach_interpreter(self):
        """Let the user run the controller's interpreter (the venv and its Python installation).

        Both may sit below a directory only root can traverse: the checkout in a
        0700 directory (``mktemp -d``, a home directory), the venv's base Python
        under /root (pyenv). For each such topmost directory, the sshds' private
        mount namespace gets a tmpfs (mode 0755) over it, with the venv and the
        installation bind-mounted back at their own paths, so the interpreter
        path in the inventory stays the controller's, and nothing else below it
        (the rest of the checkout, root's home) is visible to the user.
        """
        wanted = sorted(set([os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix), sys.prefix]))
        wanted = [d for d in wanted if not any(d != o and d.startswith(o + '/') for o in wanted)]
        hidden = []
        for path in wanted:
            top = untraversable_ancestor(path)
            if top and top not in hidden:
                hidden.append(top)
        hidden = [h for h in hidden if not any(h != o and h.startswith(o + '/') for o in hidden)]
        keep = [d for d in wanted if any(d.startswith(h + '/') for h in hidden)]
        stages = [os.path.join(self.dir, 'stage-%d' % i) for i in range(len(keep))]
        for src, stage in zip(keep, stages):
            os.makedirs(stage, 0o755)
            self.binds += ['--bind', src, stage]
        for top in hidden:
            self.binds += ['--tmpfs', top]
        for src, stage in zip(keep, stages):
            self.binds += ['--bind', stage, src]
        self.hidden = hidden

    def check_interpreter(self):
        """Fail early, saying what to change, when the user cannot run the interpreter with pyroute2."""
        launcher = [sys.executable, os.path.abspath(__file__)] + self.binds + ['--']
        probe = [shutil.which('setpriv') or '/usr/bin/setpriv', '--reuid', str(self.uid), '--regid', str(self.uid),
                 '--clear-groups',
                 sys.executable, '-c', 'import pyroute2, ansible']
        proc = run(launcher + probe, ns=self.machines['sink1'].ns, check=False)
        if proc.returncode != 0:
            raise AssertionError(
                'the SSH machines\' user (uid %d) cannot run the controller\'s interpreter %s with pyroute2 '
                '(rc %d: %s). Its directories must be traversable by others (chmod o+x), or the venv and its '
                'Python installation must live in a directory others can reach (e.g. /opt)'
                % (self.uid, sys.executable, proc.returncode, (proc.stderr or proc.stdout).strip()[-500:]))

    def _start_sshd(self, machine):
        if not os.path.isdir(PRIVSEP_DIR):
            os.makedirs(PRIVSEP_DIR, 0o755)
            self.created_privsep = True
        mdir = os.path.join(self.dir, machine.name)
        config = os.path.join(mdir, 'sshd_config')
        with open(config, 'w') as out:
            out.write(SSHD_CONFIG.format(host=machine.name, address=machine.mgmt_address, dir=mdir, user=USER,
                                         keys=os.path.join(self.dir, 'authorized_keys')))
        # -t checks the config, with the user known (it would warn about AllowUsers otherwise)
        launcher = [sys.executable, os.path.abspath(__file__)] + self.binds + ['--']
        run(launcher + [SSHD, '-t', '-f', config], ns=machine.ns)
        run(launcher + [SSHD, '-f', config, '-E', os.path.join(mdir, 'sshd.log')], ns=machine.ns)
        wait_listening(machine.ns, machine.mgmt_address, 22)

    def _write_inventory(self):
        """The lab in the format of inventories/bare-metal, with this lab's real values."""
        python = sys.executable
        ssh_args = ('-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes '
                    '-o ControlPersist=30s' % self.known_hosts)
        gen_links, sink_links, shaper_links = [], [], []
        for path in range(1, self.PATHS + 1):
            gnet, snet = '198.18.%d' % (2 * path - 1), '198.18.%d' % (2 * path)
            gen_links.append({'path': path, 'dev': 'eth%d' % path, 'address': gnet + '.2', 'prefix': 24,
                              'peer_address': snet + '.2', 'gateway': gnet + '.1', 'table': 100 + path})
            sink_links.append({'path': path, 'dev': 'eth%d' % path, 'address': snet + '.2', 'prefix': 24,
                               'peer_address': gnet + '.2', 'gateway': snet + '.1', 'table': 100 + path})
            shaper_links.append({'path': path, 'dev': 'eth%d' % path, 'address': gnet + '.1', 'prefix': 24})
            shaper_links.append({'path': path, 'dev': 'eth%d' % (path + self.PATHS), 'address': snet + '.1',
                                 'prefix': 24})
        m = self.machines
        hosts = {'all': {'children': {'lab': {
            'vars': {
                'ansible_connection': 'ssh',
                'ansible_user': USER,
                'ansible_python_interpreter': python,
                'ansible_ssh_private_key_file': self.client_key,
                'ansible_ssh_common_args': ssh_args,
                # an unprivileged sudoer, as on a real lab: a task that needs root and
                # lacks become fails (sudo also keeps Ansible's pipelining, su would not)
                'ansible_become_method': 'sudo',
            },
            'children': {
                'generators': {'hosts': {'gen1': {
                    'ansible_host': m['gen1'].mgmt_address, 'lab_peer': 'sink1',
                    'lab_path_links': gen_links, 'lab_process_cpus': '0'}}},
                'sinks': {'hosts': {'sink1': {
                    'ansible_host': m['sink1'].mgmt_address,
                    'lab_path_links': sink_links, 'lab_process_cpus': '1'}}},
                'shapers': {'hosts': {'shaper1': {
                    'ansible_host': m['shaper1'].mgmt_address, 'lab_shaper_links': shaper_links}}},
            }}}}}
        lab = {
            'lab_kind': 'bare_metal',
            'lab_become': True,
            'lab_prefix': 'mltbm',
            'lab_paths': [{'rate_mbit': self.rate_mbit}] * self.PATHS,
            # keep GSO and TSO as the driver has them, turn GRO on (veths start with it off);
            # teardown must put it back
            'host_prep_offloads': {'gro': True},
            'host_prep_cpu_governor': None,      # no cpufreq on this VM
            'host_prep_irq_cpus': None,          # veths have no IRQs
            'host_prep_stop_irqbalance': True,   # not installed here: the role must cope
            'host_prep_install_packages': False,
            # the machines share the controller's /var/lib: keep the saved state with the lab
            'host_prep_state_dir': os.path.join(self.dir, 'state'),
            'traffic_sink_user': SINK_USER,
            'traffic_sink_user_create': False,
        }
        os.makedirs(os.path.join(self.inventory, 'group_vars', 'all'))
        with open(os.path.join(self.inventory, 'hosts.yml'), 'w') as out:
            yaml.safe_dump(hosts, out, default_flow_style=False, sort_keys=False)
        with open(os.path.join(self.inventory, 'group_vars', 'all', 'lab.yml'), 'w') as out:
            yaml.safe_dump(lab, out, default_flow_style=False, sort_keys=False)
        # the example's shaper vars, as they are
        shutil.copyfile(os.path.join(ROOT, 'inventories', 'bare-metal', 'group_vars', 'shapers.yml'),
                        os.path.join(self.inventory, 'group_vars', 'shapers.yml'))

    # ------------------------------------------------------------ use
    def playbook(self, playbook, *args, check=True):
        """ansible-playbook from the management namespace (the controller), over real SSH."""
        env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'),
                   ANSIBLE_HOST_KEY_CHECKING='True',
                   ANSIBLE_SSH_CONTROL_PATH_DIR=os.path.join(self.dir, 'cp'),
                   PATH=VENV_BIN + os.pathsep + os.environ.get('PATH', ''))
        argv = ['ip', 'netns', 'exec', self.mgmt_ns, os.path.join(VENV_BIN, 'ansible-playbook'),
                os.path.join(ROOT, 'playbooks', playbook), '-i', self.inventory] + list(args)
        start = time.monotonic()
        proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, env=env, check=False)
        self.timings.append((' '.join([playbook] + list(args)), round(time.monotonic() - start, 1)))
        if check and proc.returncode != 0:
            raise AssertionError('ansible-playbook %s failed (rc=%d)\n%s\n%s'
                                 % (playbook, proc.returncode, proc.stdout[-8000:], proc.stderr[-3000:]))
        return proc

    def summary(self):
        with open(os.path.join(self.results, 'latest', 'summary.json')) as handle:
            return json.load(handle)

    def route_from_controller(self, address):
        """The controller's route to ``address`` (a route lookup, no traffic), or None when unreachable."""
        proc = run(['ip', '-j', 'route', 'get', address], ns=self.mgmt_ns, check=False)
        return json.loads(proc.stdout)[0] if proc.returncode == 0 else None

    # ------------------------------------------------------------ teardown
    def destroy(self):
        errors = []
        for ns in list(self.namespaces):
            try:
                kill_ns_processes(ns)
            except Exception as exc:  # keep going: everything must go
                errors.append('%s: %s' % (ns, exc))
        for ns in reversed(self.namespaces):
            proc = run(['ip', 'netns', 'del', ns], check=False)
            if proc.returncode != 0:
                errors.append('ip netns del %s: %s' % (ns, proc.stderr.strip()))
        self.namespaces = []
        shutil.rmtree(self.dir, ignore_errors=True)
        if self.created_privsep:
            try:
                os.rmdir(PRIVSEP_DIR)
            except OSError:
                pass
        if errors:
            raise AssertionError('bare-metal lab teardown: ' + '; '.join(errors))


def main(argv):
    """``[--bind SRC DST | --tmpfs DST]... -- COMMAND...``: mount in order, then exec COMMAND.

    Meant to run under ``ip netns exec``, whose private mount namespace (a
    slave of the host's) keeps the mounts away from the rest of the machine.
    """
    split = argv.index('--')
    mounts, command = argv[:split], argv[split + 1:]
    while mounts:
        if mounts[0] == '--tmpfs':
            subprocess.run(['mount', '-t', 'tmpfs', '-o', 'mode=0755,size=16m', 'tmpfs', mounts[1]], check=True)
            mounts = mounts[2:]
            continue
        flag, src, dst = mounts[:3]
        assert flag == '--bind', flag
        if not os.path.exists(dst):
            os.makedirs(dst)
        subprocess.run(['mount', '--bind', src, dst], check=True)
        mounts = mounts[3:]
    os.execv(command[0], command)


if __name__ == '__main__':
    main(sys.argv[1:])
