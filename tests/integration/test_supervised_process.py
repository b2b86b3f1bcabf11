"""mptcp.lab.supervised_process against real processes in throwaway namespaces."""

import json
import os
import subprocess
import textwrap

import pytest

from conftest import ansible_playbook, run_module, unique_name


@pytest.fixture
def run_dir(tmp_path):
    return str(tmp_path / 'run')


def _server(name, run_dir, port, extra=()):
    return dict(name=name, run_dir=run_dir, wait_for_port=port,
                argv=['mptcpize', 'run', 'iperf3', '--server', '--port', str(port)] + list(extra))


def _listeners(ns, port):
    out = ns.run('ss', '-Hltn', 'sport = :%d' % port).stdout
    return [line for line in out.splitlines() if line.strip()]


def test_start_is_ready_idempotent_and_stops(netns, run_dir):
    args = _server('srv', run_dir, 5201)
    first = run_module(netns, 'supervised_process', args, diff=True)
    assert first['rc'] == 0, first
    assert first['changed'] and first['running'] and first['reason'] == 'not running'
    pid = first['pid']
    # Ready means listening: no wait between the module returning and this check.
    assert _listeners(netns, 5201)
    assert first['diff']['before']['running'] is False
    assert first['diff']['after']['pid'] == pid
    with open(os.path.join(run_dir, 'srv.pid')) as f:
        assert int(f.read()) == pid
    # the process lives in the namespace, not in the root one
    assert os.readlink('/proc/%d/ns/net' % pid) != os.readlink('/proc/self/ns/net')

    again = run_module(netns, 'supervised_process', args)
    assert not again['changed'] and again['pid'] == pid

    status = run_module(netns, 'supervised_process', dict(name='srv', run_dir=run_dir, state='status',
                                                          wait_for_port=5201))
    assert not status['changed'] and status['running'] and status['listening'] and status['pid'] == pid

    stop_check = run_module(netns, 'supervised_process', dict(name='srv', run_dir=run_dir, state='stopped'),
                            check_mode=True)
    assert stop_check['changed'] and not stop_check['running']
    assert os.path.exists('/proc/%d' % pid) and _listeners(netns, 5201)

    stop = run_module(netns, 'supervised_process', dict(name='srv', run_dir=run_dir, state='stopped'))
    assert stop['changed'] and not stop['running']
    assert not _listeners(netns, 5201)
    assert not os.path.exists(os.path.join(run_dir, 'srv.pid'))
    assert not run_module(netns, 'supervised_process', dict(name='srv', run_dir=run_dir, state='stopped'))['changed']


def test_restart_on_argv_or_checksum_change_and_check_mode(netns, run_dir):
    args = _server('srv', run_dir, 5202)
    pid = run_module(netns, 'supervised_process', args)['pid']
    changed_args = _server('srv', run_dir, 5202, extra=['--bind', '127.0.0.1'])
    predicted = run_module(netns, 'supervised_process', changed_args, check_mode=True)
    assert predicted['changed'] and predicted['reason'] == 'argv changed'
    assert run_module(netns, 'supervised_process', args)['pid'] == pid          # check mode changed nothing

    restarted = run_module(netns, 'supervised_process', changed_args)
    assert restarted['changed'] and restarted['pid'] != pid
    assert not os.path.exists('/proc/%d' % pid) or open('/proc/%d/stat' % pid).read().split()[2] == 'Z'
    assert '127.0.0.1:5202' in _listeners(netns, 5202)[0]

    with_sum = dict(changed_args, config_checksum='abc')
    pid2 = run_module(netns, 'supervised_process', with_sum)['pid']
    assert pid2 != restarted['pid']
    assert run_module(netns, 'supervised_process', with_sum)['pid'] == pid2
    forced = run_module(netns, 'supervised_process', dict(with_sum, state='restarted'))
    assert forced['changed'] and forced['pid'] != pid2
    run_module(netns, 'supervised_process', dict(name='srv', run_dir=run_dir, state='stopped'))


def test_early_exit_fails_with_log_tail(netns, run_dir):
    # The port is taken by another server: ours cannot bind and exits.
    run_module(netns, 'supervised_process', _server('first', run_dir, 5203))
    res = run_module(netns, 'supervised_process', _server('second', run_dir, 5203))
    assert res['rc'] != 0 and res['failed']
    assert 'exited with code' in res['msg']
    assert 'in use' in res['log_tail'] or 'unable' in res['log_tail']
    assert not os.path.exists(os.path.join(run_dir, 'second.pid'))
    run_module(netns, 'supervised_process', dict(name='first', run_dir=run_dir, state='stopped'))


def test_never_listening_times_out_and_leaves_nothing(netns, run_dir):
    res = run_module(netns, 'supervised_process', dict(name='mute', run_dir=run_dir, argv=['tail', '-f', '/dev/null'],
                                                       wait_for_port=5204, timeout=0.5))
    assert res['rc'] != 0 and 'did not listen on TCP port 5204' in res['msg']
    status = run_module(netns, 'supervised_process', dict(name='mute', run_dir=run_dir, state='status'))
    assert not status['running']


def test_stale_or_recycled_pid_is_not_trusted(netns, run_dir):
    os.makedirs(run_dir)
    # A state file naming a live process (this test) with a different start time.
    with open(os.path.join(run_dir, 'ghost.json'), 'w') as f:
        f.write('{"pid": %d, "starttime": "1", "argv": ["x"]}' % os.getpid())
    status = run_module(netns, 'supervised_process', dict(name='ghost', run_dir=run_dir, state='status'))
    assert not status['running']
    stop = run_module(netns, 'supervised_process', dict(name='ghost', run_dir=run_dir, state='stopped'))
    assert not stop['changed']          # and we are still alive to assert it


def test_refuses_a_name_running_in_another_namespace(netns_factory, run_dir):
    a, b = netns_factory(), netns_factory()
    run_module(a, 'supervised_process', _server('shared', run_dir, 5205))
    res = run_module(b, 'supervised_process', dict(name='shared', run_dir=run_dir, state='stopped'))
    assert res['rc'] != 0 and 'another network namespace' in res['msg']
    assert _listeners(a, 5205)
    assert not run_module(a, 'supervised_process', dict(name='shared', run_dir=run_dir, state='stopped'))['rc']


def test_stops_the_whole_process_group(netns, run_dir):
    # A wrapper shell whose child does the listening: both must go.
    argv = ['sh', '-c', 'iperf3 --server --port 5206; true']
    res = run_module(netns, 'supervised_process', dict(name='wrapped', run_dir=run_dir, argv=argv, wait_for_port=5206))
    assert res['rc'] == 0 and res['running']
    run_module(netns, 'supervised_process', dict(name='wrapped', run_dir=run_dir, state='stopped'))
    assert not _listeners(netns, 5206)
    left = subprocess.run(['ip', 'netns', 'pids', netns.name], capture_output=True, text=True,
                          check=True).stdout.split()
    alive = [p for p in left if os.path.exists('/proc/%s/stat' % p)
             and open('/proc/%s/stat' % p).read().rsplit(')', 1)[1].split()[0] != 'Z']
    assert alive == []


def _status(pid):
    with open('/proc/%d/status' % pid) as f:
        return dict(line.split(':', 1) for line in f.read().splitlines() if ':' in line)


def test_runs_as_an_unprivileged_user_with_root_owned_bookkeeping(netns, run_dir):
    args = dict(_server('priv', run_dir, 5207), user='nobody', group='nogroup')
    first = run_module(netns, 'supervised_process', args, diff=True)
    assert first['rc'] == 0, first
    assert (first['user'], first['group']) == ('nobody', 'nogroup')
    assert first['diff']['after']['user'] == 'nobody'
    pid = first['pid']
    status = _status(pid)
    uids, gids = status['Uid'].split(), status['Gid'].split()
    assert uids == ['65534'] * 4 and gids == ['65534'] * 4      # real, effective, saved, fs: not 0
    assert status['Groups'].split() == []
    assert int(status['CapEff'], 16) == int(status['CapPrm'], 16) == int(status['CapBnd'], 16) == 0
    assert status['NoNewPrivs'].strip() == '1'
    # mptcpize's LD_PRELOAD works unprivileged: the listener is an MPTCP one.
    assert any(line.startswith('mptcp') and ':5207 ' in line
               for line in netns.run('ss', '-HMltn').stdout.splitlines())
    # pid, state and log files stay the module's (root's)
    for suffix in ('.pid', '.json', '.log'):
        assert os.stat(os.path.join(run_dir, 'priv' + suffix)).st_uid == 0

    again = run_module(netns, 'supervised_process', dict(args, user='65534'))      # same user by uid: no restart
    assert not again['changed'] and again['pid'] == pid

    as_root = dict(args, user=None, group=None)
    predicted = run_module(netns, 'supervised_process', as_root, check_mode=True, diff=True)
    assert predicted['changed'] and predicted['reason'] == 'user changed'
    assert predicted['diff']['before']['user'] == 'nobody' and predicted['diff']['after']['user'] is None
    assert _status(pid)['Uid'].split()[0] == '65534'                   # check mode changed nothing
    with_cap = dict(args, capabilities=['net_admin'])
    kept = run_module(netns, 'supervised_process', with_cap)
    assert kept['changed'] and kept['reason'] == 'capabilities changed'
    status = _status(kept['pid'])
    assert status['Uid'].split()[0] == '65534' and status['NoNewPrivs'].strip() == '1'
    for field in ('CapEff', 'CapPrm', 'CapInh', 'CapAmb', 'CapBnd'):
        assert int(status[field], 16) == 1 << 12, field          # CAP_NET_ADMIN only
    pid = kept['pid']
    assert not run_module(netns, 'supervised_process', with_cap)['changed']

    restarted = run_module(netns, 'supervised_process', as_root)
    assert restarted['changed'] and restarted['pid'] != pid and restarted['user'] is None
    assert _status(restarted['pid'])['Uid'].split()[0] == '0'
    run_module(netns, 'supervised_process', dict(name='priv', run_dir=run_dir, state='stopped'))


def test_unprivileged_exec_of_an_unreadable_program_fails_with_the_reason(netns, tmp_path):
    # tmp_path is root's 0700 directory: nobody may not run a program in it.
    prog = tmp_path / 'server'
    prog.write_text('#!/bin/sh\nexec iperf3 --server --port 5208\n')
    prog.chmod(0o755)
    os.chmod(str(tmp_path), 0o700)
    run_dir = str(tmp_path / 'run')
    res = run_module(netns, 'supervised_process', dict(name='denied', run_dir=run_dir, argv=[str(prog)],
                                                       user='nobody', wait_for_port=5208))
    assert res['rc'] != 0 and 'exited with code 127' in res['msg']
    assert 'Permission denied' in res['log_tail']
    assert not os.path.exists(os.path.join(run_dir, 'denied.pid'))


def test_a_symlink_planted_in_the_run_dir_is_never_followed(netns, run_dir, tmp_path):
    os.makedirs(run_dir, 0o755)
    victim = tmp_path / 'victim'
    victim.write_text('precious\n')
    # the log: start refuses to append to it
    os.symlink(str(victim), os.path.join(run_dir, 'planted.log'))
    res = run_module(netns, 'supervised_process', _server('planted', run_dir, 5209))
    assert res['rc'] != 0 and 'planted.log: is a symlink' in res['msg'], res
    assert not _listeners(netns, 5209) and victim.read_text() == 'precious\n'
    os.unlink(os.path.join(run_dir, 'planted.log'))
    # the state file: refused in check mode and for real, before anything starts
    os.symlink(str(victim), os.path.join(run_dir, 'planted.json'))
    for check in (True, False):
        res = run_module(netns, 'supervised_process', _server('planted', run_dir, 5209), check_mode=check)
        assert res['rc'] != 0 and res['msg'].startswith('run_dir: ') and 'planted.json: is a symlink' in res['msg']
    assert not _listeners(netns, 5209) and victim.read_text() == 'precious\n'
    os.unlink(os.path.join(run_dir, 'planted.json'))
    # the pidfile: replaced by a file of our own, the target untouched
    os.symlink(str(victim), os.path.join(run_dir, 'planted.pid'))
    res = run_module(netns, 'supervised_process', _server('planted', run_dir, 5209))
    assert res['rc'] == 0, res
    assert not os.path.islink(os.path.join(run_dir, 'planted.pid')) and victim.read_text() == 'precious\n'
    assert sorted(os.listdir(run_dir)) == ['planted.json', 'planted.log', 'planted.pid']   # no temporary left
    run_module(netns, 'supervised_process', dict(name='planted', run_dir=run_dir, state='stopped'))


@pytest.mark.parametrize('mode, owner, rule', [
    (0o777, 0, 'writable by its group or by everyone (mode 0777)'),
    (0o1777, 0, 'writable by its group or by everyone (mode 1777)'),
    (0o755, 65534, 'owned by uid 65534, not root'),
])
def test_a_directory_others_can_change_is_refused(netns, run_dir, mode, owner, rule):
    os.makedirs(run_dir)
    os.chmod(run_dir, mode)
    os.chown(run_dir, owner, owner)
    for check in (True, False):
        res = run_module(netns, 'supervised_process', _server('unsafe', run_dir, 5210), check_mode=check)
        assert res['rc'] != 0 and res['msg'].startswith('run_dir: %s: ' % run_dir) and rule in res['msg'], res
    assert not _listeners(netns, 5210) and os.listdir(run_dir) == []
    # a log file elsewhere: its directory is checked the same way
    os.chmod(run_dir, 0o755)
    os.chown(run_dir, 0, 0)
    log_dir = os.path.join(os.path.dirname(run_dir), 'logs')
    os.makedirs(log_dir)
    os.chmod(log_dir, 0o777)
    res = run_module(netns, 'supervised_process',
                     dict(_server('unsafe', run_dir, 5210), log_file=os.path.join(log_dir, 'x.log')))
    assert res['rc'] != 0 and res['msg'].startswith('log_file: %s: ' % log_dir), res
    assert not _listeners(netns, 5210)


def test_an_unprivileged_process_gets_a_minimal_environment(netns, run_dir):
    res = run_module(netns, 'supervised_process', dict(name='env', run_dir=run_dir, user='nobody', env=dict(EXTRA='1'),
                                                       argv=['sleep', '30']))
    assert res['rc'] == 0, res
    with open('/proc/%d/environ' % res['pid'], 'rb') as f:
        environ = dict(item.split(b'=', 1) for item in f.read().split(b'\0') if item)
    run_module(netns, 'supervised_process', dict(name='env', run_dir=run_dir, state='stopped'))
    assert environ == {b'PATH': b'/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', b'LC_ALL': b'C',
                       b'HOME': b'/nonexistent', b'USER': b'nobody', b'LOGNAME': b'nobody', b'EXTRA': b'1'}


OLD_NAME_PLAYBOOK = textwrap.dedent('''
    - hosts: all
      gather_facts: false
      tasks:
        - name: A task written for the module's old name
          mptcp.lab.daemon:
            name: "{{ daemon_name }}"
            run_dir: "{{ daemon_run_dir }}"
            argv: [iperf3, --server, --port, "5211"]
            wait_for_port: 5211
          register: started
        - name: Report what it returned
          ansible.builtin.copy:
            content: "{{ started | to_json }}"
            dest: "{{ report }}"
            mode: "0644"
          delegate_to: localhost
''')


def test_the_old_name_still_runs_the_module_with_a_deprecation_warning(netns, run_dir, tmp_path):
    """mptcp.lab.daemon in a playbook is redirected (meta/runtime.yml) to mptcp.lab.supervised_process."""
    name = unique_name('mltd')
    playbook, inventory, report = tmp_path / 'old-name.yml', tmp_path / 'inventory.json', tmp_path / 'report.json'
    playbook.write_text(OLD_NAME_PLAYBOOK)
    inventory.write_text(json.dumps({'all': {'hosts': {netns.name: {}}, 'vars': {
        'ansible_connection': 'mptcp.lab.netns', 'ansible_python_interpreter': '{{ ansible_playbook_python }}'}}}))
    extra = dict(daemon_name=name, daemon_run_dir=run_dir, report=str(report))
    try:
        proc = ansible_playbook(str(playbook), '-i', str(inventory), '-e', json.dumps(extra), check=False,
                                env=dict(ANSIBLE_DEPRECATION_WARNINGS='True', ANSIBLE_NOCOLOR='1'))
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
        started = json.loads(report.read_text())
        assert started['changed'] and started['running'] and started['reason'] == 'not running', started
        pid = started['pid']
        # the process runs, in the namespace, listening; recorded where the new name finds it
        assert os.readlink('/proc/%d/ns/net' % pid) != os.readlink('/proc/self/ns/net')
        assert _listeners(netns, 5211)
        with open(os.path.join(run_dir, name + '.pid')) as f:
            assert int(f.read()) == pid
        status = run_module(netns, 'supervised_process', dict(name=name, run_dir=run_dir, state='status'))
        assert status['running'] and status['pid'] == pid
        output = ' '.join((proc.stdout + proc.stderr).split())
        assert 'mptcp.lab.daemon has been deprecated' in output, output[-4000:]
        assert 'mptcp.lab.daemon is renamed mptcp.lab.supervised_process' in output
    finally:
        run_module(netns, 'supervised_process', dict(name=name, run_dir=run_dir, state='stopped'))
    assert not _listeners(netns, 5211)
