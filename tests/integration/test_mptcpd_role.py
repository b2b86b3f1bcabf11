"""The mptcpd role for real: one supervised mptcpd per network namespace.

Throwaway namespaces become inventory hosts through mptcp.lab.netns, exactly
like the virtual lab's. Every assertion is on real state: processes (their
namespace, uid and capabilities), kernel endpoints (mptcp.lab.mptcp_info),
files. The systemd branch cannot run here (PID 1 is not systemd); it is
exercised with a recording stand-in for systemctl, see the last tests.
"""

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time

import pytest
import yaml

from conftest import ansible_playbook, recap, run_module

RUN_DIR = '/run/mptcp-lab'
SUFFIXES = ('conf', 'pid', 'json', 'log')


def instance_file(ns, suffix):
    return os.path.join(RUN_DIR, '%s-mptcpd.%s' % (ns.name, suffix))


def record_file(ns):
    return os.path.join(RUN_DIR, '%s-mptcpd-endpoints.json' % ns.name)


def instance_files(ns):
    files = [instance_file(ns, x) for x in SUFFIXES] + [record_file(ns)]
    return [path for path in files if os.path.exists(path)]


CAP_NET_ADMIN = 1 << 12

PLAY = textwrap.dedent('''\
    - hosts: all
      roles:
        - role: mptcp.lab.mptcpd
    ''')
STOP = textwrap.dedent('''\
    - hosts: all
      tasks:
        - ansible.builtin.include_role:
            name: mptcp.lab.mptcpd
            tasks_from: stop
    ''')


def wait_for(predicate, timeout=10.0, what='condition'):
    """Poll predicate until it returns a truthy value (returned) or fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError('timed out after %ss waiting for %s' % (timeout, what))
        time.sleep(0.05)


def endpoints(ns):
    res = run_module(ns, 'mptcp_info', {})
    assert res['rc'] == 0, res
    return res['ansible_facts']['mptcp']


def process(ns):
    """pid, uid, capabilities and netns inode of the instance's mptcpd (None if not running)."""
    try:
        pid = int(open(instance_file(ns, 'pid')).read())
        status = open('/proc/%d/status' % pid).read()
        comm = open('/proc/%d/comm' % pid).read().strip()
        netns_ino = os.stat('/proc/%d/ns/net' % pid).st_ino
    except (IOError, OSError, ValueError):
        return None
    fields = dict(line.split(':', 1) for line in status.splitlines() if ':' in line)
    return dict(pid=pid, comm=comm, netns=netns_ino,
                uid=int(fields['Uid'].split()[0]), gid=int(fields['Gid'].split()[0]),
                cap_eff=int(fields['CapEff'], 16), cap_bnd=int(fields['CapBnd'], 16),
                cap_amb=int(fields['CapAmb'], 16), groups=fields['Groups'].split())


class Lab:
    """Namespaces as inventory hosts, with a playbook runner; cleans up mptcpd."""

    def __init__(self, tmp_path, netns_factory):
        self.tmp = tmp_path
        self.factory = netns_factory
        self.hosts = {}
        (tmp_path / 'play.yml').write_text(PLAY)
        (tmp_path / 'stop.yml').write_text(STOP)

    def add(self, addresses, **hostvars):
        ns = self.factory()
        ns.add_veth(ns.name[-8:] + 'a', peer_name=ns.name[-8:] + 'b')
        devs = [ns.name[-8:] + 'a', ns.name[-8:] + 'b']
        for dev, address in zip(devs, addresses):
            ns.run('ip', 'addr', 'add', address + '/24', 'dev', dev)
        ns.devs = devs
        ns.addresses = list(addresses)
        hv = dict(mptcpd_verify_addresses=list(addresses))
        hv.update(hostvars)
        self.hosts[ns.name] = (ns, hv)
        return ns

    def inventory(self):
        inv = {'all': {'vars': {'ansible_connection': 'mptcp.lab.netns',
                                'ansible_python_interpreter': sys.executable},
                       'hosts': dict((name, hv) for name, (_ns, hv) in self.hosts.items())}}
        path = self.tmp / 'inventory.yml'
        path.write_text(yaml.safe_dump(inv))
        return str(path)

    def play(self, *args, playbook='play.yml', check=True):
        proc = ansible_playbook(str(self.tmp / playbook), '-i', self.inventory(), *args, check=check)
        return proc, recap(proc)

    def cleanup(self):
        for name, (ns, _hv) in self.hosts.items():
            pids = subprocess.run(['ip', 'netns', 'pids', name], capture_output=True, text=True,
                                  check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except OSError:
                    pass
            for path in instance_files(ns):
                os.unlink(path)


@pytest.fixture
def lab(tmp_path, netns_factory):
    lab = Lab(tmp_path, netns_factory)
    yield lab
    lab.cleanup()


def assert_endpoints(ns, addresses, flags):
    facts = endpoints(ns)
    got = dict((e['address'], sorted(e['flags'])) for e in facts['endpoints'])
    assert got == dict((a, sorted(flags)) for a in addresses), facts['endpoints']
    return facts


def test_one_supervised_mptcpd_per_namespace(lab):
    a = lab.add(['10.231.1.2', '10.231.2.2'])                               # defaults: subflow
    b = lab.add(['10.232.1.2', '10.232.2.2'], mptcpd_addr_flags=['signal'],
                mptcpd_notify_flags=['existing', 'skip_loopback'])
    proc, rc = lab.play()
    assert rc[a.name]['failed'] == 0 and rc[a.name]['changed'] >= 2, proc.stdout[-3000:]

    # the real effect, seen through mptcp_info: endpoints with the configured flags, daemon reported running
    facts = assert_endpoints(a, a.addresses, ['subflow'])
    assert facts['tools']['mptcpd']['running'] and facts['tools']['mptcpd']['version'] == '0.12'
    # b does not skip link-local addresses: its IPv6 link-local addresses are announced too
    eps_b = endpoints(b)['endpoints']
    assert dict((e['address'], e['flags']) for e in eps_b if ':' not in e['address']) == \
        dict((x, ['signal']) for x in b.addresses)
    assert [e for e in eps_b if e['address'].startswith('fe80:')], eps_b
    assert not [e for e in endpoints(a)['endpoints'] if ':' in e['address']]

    # one process per namespace, in that namespace, unprivileged but for CAP_NET_ADMIN
    pa, pb = process(a), process(b)
    assert pa and pb and pa['pid'] != pb['pid']
    assert pa['netns'] == os.stat('/run/netns/' + a.name).st_ino
    assert pb['netns'] == os.stat('/run/netns/' + b.name).st_ino
    for p in (pa, pb):
        assert p['comm'] == 'mptcpd'
        assert (p['uid'], p['gid'], p['groups']) == (65534, 65534, [])
        assert p['cap_eff'] == p['cap_bnd'] == p['cap_amb'] == CAP_NET_ADMIN

    # each its own configuration file
    assert 'addr-flags=subflow' in open(instance_file(a, 'conf')).read()
    text_b = open(instance_file(b, 'conf')).read()
    assert 'addr-flags=signal' in text_b and 'notify-flags=existing,skip_loopback\n' in text_b

    # idempotent: nothing changes, nothing restarts
    proc, rc = lab.play()
    assert rc[a.name]['changed'] == 0 and rc[b.name]['changed'] == 0, proc.stdout[-3000:]
    assert process(a)['pid'] == pa['pid'] and process(b)['pid'] == pb['pid']


def test_address_changes_follow_and_config_changes_restart(lab):
    ns = lab.add(['10.233.1.2', '10.233.2.2'])
    lab.play()
    pid = process(ns)['pid']

    # removing an address removes its endpoint; a new address gets one
    ns.run('ip', 'addr', 'del', '10.233.2.2/24', 'dev', ns.devs[1])
    wait_for(lambda: [e['address'] for e in endpoints(ns)['endpoints']] == ['10.233.1.2'],
             what='the endpoint of 10.233.2.2 to go')
    ns.run('ip', 'addr', 'add', '10.233.3.2/24', 'dev', ns.devs[1])
    wait_for(lambda: '10.233.3.2' in [e['address'] for e in endpoints(ns)['endpoints']],
             what='an endpoint for 10.233.3.2')
    ns.run('ip', 'addr', 'del', '10.233.3.2/24', 'dev', ns.devs[1])
    ns.run('ip', 'addr', 'add', '10.233.2.2/24', 'dev', ns.devs[1])
    wait_for(lambda: len(endpoints(ns)['endpoints']) == 2, what='two endpoints again')

    # check mode predicts the change and changes nothing
    conf = instance_file(ns, 'conf')
    before = open(conf).read()
    change = ['-e', json.dumps({'mptcpd_addr_flags': ['signal', 'backup']})]
    proc, rc = lab.play('--check', *change)
    assert rc[ns.name]['changed'] >= 2 and rc[ns.name]['failed'] == 0, proc.stdout[-3000:]
    assert open(conf).read() == before and process(ns)['pid'] == pid
    assert_endpoints(ns, ns.addresses, ['subflow'])

    # the real change restarts mptcpd, and the endpoints carry the new flags
    proc, rc = lab.play(*change)
    assert rc[ns.name]['failed'] == 0, proc.stdout[-3000:]
    assert process(ns)['pid'] != pid
    assert_endpoints(ns, ns.addresses, ['signal', 'backup'])
    proc, rc = lab.play(*change)
    assert rc[ns.name]['changed'] == 0, proc.stdout[-3000:]


def test_only_the_endpoints_mptcpd_added_are_ever_removed(lab):
    """A foreign endpoint (the host's, with mptcpd's flags even) survives a flags change and the stop."""
    ns = lab.add(['10.236.1.2', '10.236.2.2'])
    ns.run('ip', 'addr', 'add', '10.236.9.9/32', 'dev', 'lo')
    ns.run('ip', 'mptcp', 'endpoint', 'add', '10.236.9.9', 'id', '77', 'subflow')    # the host's own
    foreign = ns.run('ip', 'mptcp', 'endpoint', 'show', 'id', '77').stdout
    assert '10.236.9.9' in foreign
    lab.play()
    record = json.loads(open(record_file(ns)).read())
    assert [e['id'] for e in record['before']] == [77]
    assert sorted(e['address'] for e in record['endpoints']) == ns.addresses
    # mptcpd adds an endpoint for an address that appears: it is mptcpd's too (its flags, not there before)
    ns.run('ip', 'addr', 'add', '10.236.3.2/24', 'dev', ns.devs[1])
    wait_for(lambda: '10.236.3.2' in [e['address'] for e in endpoints(ns)['endpoints']],
             what='an endpoint for 10.236.3.2')
    # someone adds an endpoint with other flags while mptcpd runs: not mptcpd's
    ns.run('ip', 'addr', 'add', '10.236.8.8/32', 'dev', 'lo')
    ns.run('ip', 'mptcp', 'endpoint', 'add', '10.236.8.8', 'id', '88', 'signal')
    others = foreign + ns.run('ip', 'mptcp', 'endpoint', 'show', 'id', '88').stdout
    change = ['-e', json.dumps({'mptcpd_addr_flags': ['signal', 'backup'],
                                'mptcpd_verify_addresses': ns.addresses + ['10.236.3.2']})]
    proc, rc = lab.play(*change)
    assert rc[ns.name]['failed'] == 0, proc.stdout[-3000:]
    got = dict((e['address'], sorted(e['flags'])) for e in endpoints(ns)['endpoints'])
    assert got == {'10.236.1.2': ['backup', 'signal'], '10.236.2.2': ['backup', 'signal'],
                   '10.236.3.2': ['backup', 'signal'], '10.236.9.9': ['subflow'], '10.236.8.8': ['signal']}
    assert ns.run('ip', 'mptcp', 'endpoint', 'show', 'id', '77').stdout + \
        ns.run('ip', 'mptcp', 'endpoint', 'show', 'id', '88').stdout == others
    proc, rc = lab.play(*change)
    assert rc[ns.name]['changed'] == 0, proc.stdout[-3000:]
    # stop removes mptcpd's endpoints and its record, and nothing else
    proc, rc = lab.play(playbook='stop.yml')
    assert rc[ns.name]['failed'] == 0, proc.stdout[-3000:]
    assert sorted(e['address'] for e in endpoints(ns)['endpoints']) == ['10.236.8.8', '10.236.9.9']
    assert ns.run('ip', 'mptcp', 'endpoint', 'show').stdout == others
    assert not os.path.exists(record_file(ns))


def test_stop_is_idempotent_and_removes_the_instance(lab):
    ns = lab.add(['10.234.1.2', '10.234.2.2'])
    lab.play()
    pid = process(ns)['pid']
    proc, rc = lab.play('--check', playbook='stop.yml')
    assert rc[ns.name]['changed'] >= 1 and process(ns)['pid'] == pid
    proc, rc = lab.play(playbook='stop.yml')
    assert rc[ns.name]['changed'] >= 1 and rc[ns.name]['failed'] == 0
    assert not os.path.exists('/proc/%d' % pid) or open('/proc/%d/stat' % pid).read().split()[2] == 'Z'
    assert instance_files(ns) == []
    assert not endpoints(ns)['tools']['mptcpd']['running']
    proc, rc = lab.play(playbook='stop.yml')
    assert rc[ns.name]['changed'] == 0 and rc[ns.name]['failed'] == 0
    # and it starts again; endpoints of the first run are reused as they are
    proc, rc = lab.play()
    assert rc[ns.name]['failed'] == 0 and process(ns)
    assert_endpoints(ns, ns.addresses, ['subflow'])
    # a forced restart is a restart, and nothing else changes
    pid = process(ns)['pid']
    proc, rc = lab.play('-e', 'mptcpd_state=restarted')
    assert rc[ns.name]['changed'] == 1 and process(ns)['pid'] != pid, proc.stdout[-3000:]
    assert_endpoints(ns, ns.addresses, ['subflow'])


@pytest.mark.parametrize('extra, messages', [
    # argument_specs: all violations in one report
    ({'mptcpd_addr_flags': ['turbo'], 'mptcpd_service_manager': 'upstart', 'mptcpd_install_method': 'pip',
      'mptcpd_networkmanager_policy': 'fight'},
     ['mptcpd_addr_flags', 'mptcpd_service_manager', 'mptcpd_install_method', 'mptcpd_networkmanager_policy']),
    # mptcpd's own rules, checked against the installed version before anything changes
    ({'mptcpd_addr_flags': ['signal', 'fullmesh'], 'mptcpd_path_manager': 'nosuch', 'mptcpd_load_plugins': ['sspi']},
     ['addr_flags: signal and fullmesh are mutually exclusive', "path_manager: plugin 'nosuch' is not in",
      "path_manager: 'nosuch' must also be listed in load_plugins"]),
], ids=['argument_specs', 'mptcpd_rules'])
def test_bad_input_fails_early_and_changes_nothing(lab, extra, messages):
    ns = lab.add(['10.235.1.2', '10.235.2.2'])
    proc, rc = lab.play('-e', json.dumps(extra), check=False)
    assert proc.returncode != 0 and rc[ns.name]['failed'] == 1
    for message in messages:
        assert message in proc.stdout + proc.stderr, proc.stdout[-3000:]
    assert rc[ns.name]['changed'] == 0
    assert instance_files(ns) == [] and process(ns) is None
    assert endpoints(ns)['endpoints'] == []


def test_check_route_is_refused_by_an_old_mptcpd(lab, tmp_path):
    """Version rules use the installed binary: a stand-in reporting 0.8 refuses check_route."""
    fake = tmp_path / 'mptcpd-0.8'
    fake.write_text('#!/bin/sh\necho "mptcpd 0.8"\n')
    fake.chmod(0o755)
    ns = lab.add(['10.236.1.2', '10.236.2.2'])
    extra = {'mptcpd_install_method': 'none', '__mptcpd_package_binary': str(fake),
             'mptcpd_notify_flags': ['existing', 'check_route']}
    proc, rc = lab.play('-e', json.dumps(extra), check=False)
    assert rc[ns.name]['failed'] == 1
    assert "notify_flags 'check_route': needs mptcpd >= 0.9, the installed version is 0.8" in proc.stdout
    assert instance_files(ns) == []


FAKE_SYSTEMCTL = textwrap.dedent('''\
    #!{python}
    """Records systemctl calls; answers like systemd 252 for one unit (state in $FAKE_SYSTEMCTL_STATE)."""
    import json, os, sys
    path = os.environ['FAKE_SYSTEMCTL_STATE']
    st = json.load(open(path))
    args = [a for a in sys.argv[1:] if a not in ('--no-block', '--no-pager')]
    st['calls'].append(args)
    verb = args[0] if args else ''
    if verb == 'show':
        print('Id=mptcp.service')
        print('LoadState=loaded')
        print('ActiveState=%s' % ('active' if st['active'] else 'inactive'))
        print('SubState=%s' % ('running' if st['active'] else 'dead'))
        print('UnitFileState=%s' % ('enabled' if st['enabled'] else 'disabled'))
    elif verb == 'is-enabled':
        print('enabled' if st['enabled'] else 'disabled')
        json.dump(st, open(path, 'w'))
        sys.exit(0 if st['enabled'] else 1)
    elif verb == 'is-active':
        print('active' if st['active'] else 'inactive')
        json.dump(st, open(path, 'w'))
        sys.exit(0 if st['active'] else 3)
    elif verb == 'enable':
        st['enabled'] = True
    elif verb == 'disable':
        st['enabled'] = False
    elif verb in ('start', 'restart'):
        st['active'] = True
        st.setdefault('starts', 0)
        st['starts'] += 1
    elif verb == 'stop':
        st['active'] = False
    json.dump(st, open(path, 'w'))
''')


@pytest.fixture
def systemd_host(tmp_path):
    """localhost as a systemd host: a recording systemctl, and every path under tmp_path.

    The configuration goes to a source-style prefix under tmp_path (sysconfdir
    tmp/etc) whose mptcpd is this machine's 0.12 (so nothing is built), and the
    unit drop-in to tmp_path, so the machine's own files are never touched.
    """
    prefix = tmp_path / 'prefix'
    (prefix / 'libexec').mkdir(parents=True)
    os.symlink('/usr/libexec/mptcpd', str(prefix / 'libexec' / 'mptcpd'))
    (prefix / 'etc' / 'mptcpd').mkdir(parents=True)
    bindir = tmp_path / 'bin'
    bindir.mkdir()
    systemctl = bindir / 'systemctl'
    systemctl.write_text(FAKE_SYSTEMCTL.format(python=sys.executable))
    systemctl.chmod(systemctl.stat().st_mode | stat.S_IXUSR)
    state = tmp_path / 'systemctl.json'
    state.write_text(json.dumps(dict(calls=[], active=False, enabled=False)))
    dropin_dir = tmp_path / 'mptcp.service.d'
    (tmp_path / 'play.yml').write_text(textwrap.dedent('''\
        - hosts: localhost
          gather_facts: false
          roles:
            - role: mptcp.lab.mptcpd
        '''))
    extra = {
        'mptcpd_service_manager': 'systemd', 'mptcpd_install_method': 'source',
        'mptcpd_source_version': '0.12', 'mptcpd_source_prefix': str(prefix),
        'mptcpd_verify': False, 'mptcpd_networkmanager_policy': 'ignore',
        '__mptcpd_dropin_dir': str(dropin_dir), '__mptcpd_dropin': str(dropin_dir / '50-mptcp-lab.conf'),
        'mptcpd_state_dir': str(tmp_path / 'state'),
    }
    (tmp_path / 'stop.yml').write_text(textwrap.dedent('''\
        - hosts: localhost
          gather_facts: false
          tasks:
            - ansible.builtin.include_role:
                name: mptcp.lab.mptcpd
                tasks_from: stop
        '''))
    env = {'PATH': '%s%s%s' % (bindir, os.pathsep, os.environ['PATH']), 'FAKE_SYSTEMCTL_STATE': str(state)}

    def play(*args, check=True, playbook='play.yml'):
        proc = ansible_playbook(str(tmp_path / playbook), '-e', json.dumps(extra), *args, env=env, check=check)
        return proc, recap(proc).get('localhost')

    def unit(**change):
        """The stand-in's unit state ({active, enabled}), after applying ``change``."""
        st = json.loads(state.read_text())
        st.update(change)
        state.write_text(json.dumps(st))
        return dict(active=st['active'], enabled=st['enabled'])

    def calls():
        queries = ('show', 'is-enabled', 'is-active')
        return [c for c in json.loads(state.read_text())['calls'] if c and c[0] not in queries]

    return dict(play=play, calls=calls, unit=unit, conf=prefix / 'etc' / 'mptcpd' / 'mptcpd.conf',
                dropin=dropin_dir / '50-mptcp-lab.conf', prefix=prefix, state_dir=tmp_path / 'state',
                env=env, bindir=bindir, tmp=tmp_path)


def test_systemd_branch_enables_starts_and_restarts_only_on_change(systemd_host):
    h = systemd_host
    proc, rc = h['play']('--check')
    assert rc['failed'] == 0 and rc['changed'] >= 2, proc.stdout[-3000:]
    assert h['calls']() == [] and not h['conf'].exists()

    proc, rc = h['play']()
    assert rc['failed'] == 0, proc.stdout[-3000:]
    assert 'addr-flags=subflow' in h['conf'].read_text()
    dropin = h['dropin'].read_text()
    assert 'ExecStart=\nExecStart=%s\n' % (h['prefix'] / 'libexec' / 'mptcpd') in dropin
    calls = h['calls']()
    assert ['daemon-reload'] in calls and ['enable', 'mptcp.service'] in calls and ['start', 'mptcp.service'] in calls
    # first run: the handler restarts once more after the configuration was written (usual handler semantics)
    assert calls.count(['restart', 'mptcp.service']) <= 1

    before = len(h['calls']())
    proc, rc = h['play']()
    assert rc['changed'] == 0 and h['calls']()[before:] == [], proc.stdout[-3000:]

    proc, rc = h['play']('-e', json.dumps({'mptcpd_notify_flags': ['existing']}))
    assert rc['changed'] >= 1
    assert h['calls']()[before:] == [['daemon-reload'], ['restart', 'mptcp.service']]
    assert 'notify-flags=existing\n' in h['conf'].read_text()


def test_systemd_stop_gives_back_the_hosts_unit_and_configuration(systemd_host):
    """mptcp.service was enabled and running with the host's own mptcpd.conf: stop puts all of it back."""
    h = systemd_host
    own = '# the administrator\'s own\n[core]\nlog=journal\naddr-flags=signal\n'
    h['conf'].write_text(own)
    h['conf'].chmod(0o640)
    h['unit'](active=True, enabled=True)
    proc, rc = h['play']()
    assert rc['failed'] == 0, proc.stdout[-3000:]
    assert 'addr-flags=subflow' in h['conf'].read_text() and h['dropin'].exists()
    saved = json.loads((h['state_dir'] / 'mptcpd-systemd.json').read_text())
    assert saved['unit'] == {'name': 'mptcp.service', 'found': True, 'unit_file_state': 'enabled', 'active': True}
    assert saved['config'] == {'path': str(h['conf']), 'existed': True,
                               'backup': str(h['state_dir'] / 'mptcpd.conf.orig')}
    assert (h['state_dir'] / 'mptcpd.conf.orig').read_text() == own
    # a re-run (and a changed configuration) never records the role's own state
    proc, rc = h['play']('-e', json.dumps({'mptcpd_notify_flags': ['existing']}))
    assert rc['failed'] == 0 and (h['state_dir'] / 'mptcpd.conf.orig').read_text() == own

    # check mode predicts the undo and changes nothing
    before = len(h['calls']())
    proc, rc = h['play']('--check', playbook='stop.yml')
    assert rc['failed'] == 0 and rc['changed'] >= 3, proc.stdout[-3000:]
    assert h['dropin'].exists() and 'notify-flags=existing\n' in h['conf'].read_text()
    assert h['calls']()[before:] == [] and (h['state_dir'] / 'mptcpd-systemd.json').exists()

    proc, rc = h['play'](playbook='stop.yml')
    assert rc['failed'] == 0, proc.stdout[-3000:]
    assert not h['dropin'].exists() and not h['dropin'].parent.exists()
    assert h['conf'].read_text() == own and oct(h['conf'].stat().st_mode & 0o777) == '0o640'
    # enabled and running as before, restarted so that it reads its own unit and file again
    assert h['unit']() == {'active': True, 'enabled': True}
    assert h['calls']()[before:] == [['daemon-reload'], ['restart', 'mptcp.service']]
    assert os.listdir(str(h['state_dir'])) == []

    before = len(h['calls']())
    proc, rc = h['play'](playbook='stop.yml')
    assert rc['changed'] == 0 and h['calls']()[before:] == [], proc.stdout[-3000:]
    assert h['conf'].read_text() == own and h['unit']() == {'active': True, 'enabled': True}


def test_systemd_stop_removes_what_the_role_created(systemd_host):
    """No mptcpd.conf and a disabled, stopped unit before: stop removes the file and stops and disables."""
    h = systemd_host
    proc, rc = h['play']()
    assert rc['failed'] == 0 and h['unit']() == {'active': True, 'enabled': True}, proc.stdout[-3000:]
    saved = json.loads((h['state_dir'] / 'mptcpd-systemd.json').read_text())
    assert saved['unit']['active'] is False and saved['unit']['unit_file_state'] == 'disabled'
    assert saved['config']['existed'] is False and saved['config']['backup'] is None
    # something of the administrator's in the drop-in directory stays, and so does the directory
    other = h['dropin'].parent / '10-local.conf'
    other.write_text('[Service]\nNice=5\n')
    proc, rc = h['play'](playbook='stop.yml')
    assert rc['failed'] == 0, proc.stdout[-3000:]
    assert not h['conf'].exists() and not h['dropin'].exists() and other.exists()
    assert h['unit']() == {'active': False, 'enabled': False}
    assert os.listdir(str(h['state_dir'])) == []
    proc, rc = h['play'](playbook='stop.yml')
    assert rc['changed'] == 0, proc.stdout[-3000:]
    # and it starts again from a fresh record
    proc, rc = h['play']()
    assert rc['failed'] == 0 and json.loads((h['state_dir'] / 'mptcpd-systemd.json').read_text())['unit']['active'] is False


def test_networkmanager_disabled_by_the_role_is_reverted_by_stop(systemd_host):
    """policy disable: NetworkManager's drop-in and the profiles the role changed are put back by stop."""
    from test_mptcpd_networkmanager import FAKE_NMCLI, DROP_IN
    h = systemd_host
    nmcli = h['bindir'] / 'nmcli'
    nmcli.write_text(FAKE_NMCLI.format(python=sys.executable))
    nmcli.chmod(0o755)
    nm_state = h['tmp'] / 'nmcli.json'
    connections = [dict(uuid='5f0c-wired', name='Wired', device='eth0', active=True, flags=0),
                   dict(uuid='77aa-spare', name='Spare', device=None, active=False, flags=0x22)]
    nm_state.write_text(json.dumps(dict(running=True, version='1.42.4', connections=connections)))
    h['env']['FAKE_NMCLI_STATE'] = str(nm_state)
    root = h['tmp'] / 'nmroot'
    root.mkdir()
    extra = ['-e', json.dumps({'mptcpd_networkmanager_policy': 'disable', '__mptcpd_nm_config_root': str(root)})]

    proc, rc = h['play'](*extra)
    assert rc['failed'] == 0, proc.stdout[-3000:]
    assert (root / DROP_IN).exists()
    assert [c['flags'] for c in json.loads(nm_state.read_text())['connections']] == [0, 1]
    assert json.loads((h['state_dir'] / 'mptcpd-networkmanager.json').read_text())['connections'] == \
        [{'uuid': '77aa-spare', 'name': 'Spare', 'flags': 0x22}]
    proc, rc = h['play'](*extra)
    assert rc['changed'] == 0, proc.stdout[-3000:]

    proc, rc = h['play']('--check', *extra, playbook='stop.yml')
    assert rc['failed'] == 0 and rc['changed'] >= 4 and (root / DROP_IN).exists(), proc.stdout[-3000:]
    assert [c['flags'] for c in json.loads(nm_state.read_text())['connections']] == [0, 1]
    proc, rc = h['play'](*extra, playbook='stop.yml')
    assert rc['failed'] == 0, proc.stdout[-3000:]
    assert not (root / DROP_IN).exists()
    assert [c['flags'] for c in json.loads(nm_state.read_text())['connections']] == [0, 0x22]
    assert os.listdir(str(h['state_dir'])) == []
    proc, rc = h['play'](*extra, playbook='stop.yml')
    assert rc['changed'] == 0, proc.stdout[-3000:]
