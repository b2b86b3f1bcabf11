"""netns_wiring for real: create, idempotence, check mode, reconcile, ownership, teardown with processes."""

import os
import subprocess
import uuid

import pytest

from conftest import run_module


@pytest.fixture
def prefix():
    """A unique lab prefix; whatever carries it is removed at the end."""
    if os.geteuid() != 0:
        pytest.skip('needs root')
    name = 'mlw%s' % uuid.uuid4().hex[:6]
    yield name
    run_module(None, 'netns_wiring', {'prefix': name, 'state': 'absent', 'run_dir': '/run/mptcp-lab-test'})
    leftovers = [n for n in os.listdir('/run/netns') if n.startswith(name + '-')]
    assert leftovers == []


def lab(prefix, paths=2, pairs=1):
    namespaces = ['%s-sh' % prefix]
    links = []
    for pair in range(1, pairs + 1):
        gen, sink = '%s-g%d' % (prefix, pair), '%s-s%d' % (prefix, pair)
        namespaces += [gen, sink]
        for path in range(1, paths + 1):
            links.append({'netns': namespaces[0], 'name': '%s-%dg%d' % (prefix, pair, path),
                          'peer_netns': gen, 'peer_name': '%s-p%d' % (prefix, path)})
            links.append({'netns': namespaces[0], 'name': '%s-%ds%d' % (prefix, pair, path),
                          'peer_netns': sink, 'peer_name': '%s-p%d' % (prefix, path)})
    return {'prefix': prefix, 'namespaces': namespaces, 'links': links, 'run_dir': '/run/mptcp-lab-test'}


def ip_links(ns):
    out = subprocess.run(['ip', '-n', ns, '-o', 'link', 'show'], capture_output=True, text=True, check=True).stdout
    return dict((line.split(':')[1].strip().split('@')[0], 'state UP' in line or 'LOWER_UP' in line)
                for line in out.splitlines())


def lab_netns(prefix):
    return sorted(n.split()[0] for n in os.listdir('/run/netns') if n.startswith(prefix + '-'))


def test_create_idempotent_check_mode_and_diff(prefix):
    args = lab(prefix)
    predicted = run_module(None, 'netns_wiring', args, check_mode=True, diff=True)
    assert predicted['changed'] and predicted['rc'] == 0
    assert lab_netns(prefix) == []  # check mode created nothing
    created = run_module(None, 'netns_wiring', args, diff=True)
    assert created['changed'] and created['actions'] == predicted['actions']
    assert created['diff']['after']['namespaces'] == sorted(args['namespaces'])
    assert lab_netns(prefix) == sorted(args['namespaces'])
    shaper = ip_links('%s-sh' % prefix)
    assert sorted(k for k in shaper if k.startswith(prefix)) == sorted(link['name'] for link in args['links'])
    assert all(shaper[link['name']] for link in args['links'])
    assert ip_links('%s-g1' % prefix)['lo']
    again = run_module(None, 'netns_wiring', args)
    assert not again['changed'] and again['actions'] == []
    assert not run_module(None, 'netns_wiring', args, check_mode=True)['changed']


def test_reconcile_paths_and_pairs_and_repair(prefix):
    run_module(None, 'netns_wiring', lab(prefix, paths=2, pairs=2))
    # one path less, one pair less
    smaller = lab(prefix, paths=1, pairs=1)
    result = run_module(None, 'netns_wiring', smaller)
    assert result['changed']
    assert 'remove namespace %s-g2' % prefix in result['actions']
    assert lab_netns(prefix) == sorted(smaller['namespaces'])
    shaper_links = sorted(k for k in ip_links('%s-sh' % prefix) if k.startswith(prefix))
    assert shaper_links == ['%s-1g1' % prefix, '%s-1s1' % prefix]
    assert sorted(ip_links('%s-g1' % prefix)) == ['lo', '%s-p1' % prefix]
    # a link deleted behind the lab's back is recreated, a downed one set up
    subprocess.run(['ip', '-n', '%s-sh' % prefix, 'link', 'del', '%s-1s1' % prefix], check=True)
    subprocess.run(['ip', '-n', '%s-sh' % prefix, 'link', 'set', '%s-1g1' % prefix, 'down'], check=True)
    repaired = run_module(None, 'netns_wiring', smaller)
    assert repaired['actions'] == ['create link %s' % '%s-sh/%s-1s1=%s-s1/%s-p1' % ((prefix,) * 4),
                                   'set up %s-sh/%s-1g1=%s-g1/%s-p1' % ((prefix,) * 4)]
    assert ip_links('%s-sh' % prefix)['%s-1g1' % prefix]
    assert not run_module(None, 'netns_wiring', smaller)['changed']


def test_objects_without_the_prefix_are_never_touched(prefix, netns_factory):
    args = lab(prefix, paths=1)
    run_module(None, 'netns_wiring', args)
    foreign_ns = netns_factory()          # another lab's namespace (prefix mlt)
    subprocess.run(['ip', '-n', '%s-sh' % prefix, 'link', 'add', 'keepme', 'type', 'veth', 'peer', 'keepme2'],
                   check=True)
    # a device of the lab's name that is not a veth is another module's (the shaper's ifb bottleneck)
    subprocess.run(['ip', '-n', '%s-sh' % prefix, 'link', 'add', '%s-bs' % prefix, 'type', 'ifb'], check=True)
    result = run_module(None, 'netns_wiring', args)
    assert not result['changed']
    assert 'keepme' in ip_links('%s-sh' % prefix) and '%s-bs' % prefix in ip_links('%s-sh' % prefix)
    absent = run_module(None, 'netns_wiring', {'prefix': prefix, 'state': 'absent'})
    assert absent['changed'] and lab_netns(prefix) == []
    assert os.path.exists('/run/netns/%s' % foreign_ns.name)


def test_absent_stops_processes_and_removes_the_labs_run_files(prefix, tmp_path):
    args = lab(prefix, paths=1)
    run_module(None, 'netns_wiring', args)
    proc = subprocess.Popen(['ip', 'netns', 'exec', '%s-s1' % prefix, 'sleep', '300'])
    run_dir = str(tmp_path / 'run')
    os.makedirs(run_dir)
    pidfile = os.path.join(run_dir, '%s-s1-sleeper.pid' % prefix)
    lab_files = [pidfile] + [os.path.join(run_dir, prefix + suffix) for suffix in (
        '-s1-sleeper.json', '-s1-sleeper.log', '-g1-mptcpd.conf', '-g1-mptcpd.log', '-gone-stats.log')]
    others = [os.path.join(run_dir, name) for name in ('someone-else.pid', prefix + 'x-s1-stats.log', 'stats.py')]
    for path in lab_files + others:
        with open(path, 'w') as handle:
            handle.write('%d\n' % proc.pid)
    os.mkdir(os.path.join(run_dir, prefix + '-dir'))
    os.symlink(others[0], os.path.join(run_dir, prefix + '-link'))
    absent = {'prefix': prefix, 'state': 'absent', 'run_dir': run_dir}
    try:
        check = run_module(None, 'netns_wiring', absent, check_mode=True, diff=True)
        assert check['changed'] and proc.poll() is None and lab_netns(prefix)
        assert sorted(a for a in check['actions'] if a.startswith('remove /')) == sorted(
            'remove %s' % path for path in lab_files)
        assert check['diff']['before']['run_files'] == sorted(os.path.basename(path) for path in lab_files)
        assert check['diff']['after']['run_files'] == []
        assert all(os.path.exists(path) for path in lab_files)
        result = run_module(None, 'netns_wiring', absent, diff=True)
        assert proc.pid in result['killed']
        assert proc.wait(timeout=10) is not None
        assert [a for a in result['actions'] if a.startswith('remove /')] == \
            [a for a in check['actions'] if a.startswith('remove /')]
        assert result['diff'] == check['diff']
        assert not any(os.path.exists(path) for path in lab_files)
        assert sorted(os.listdir(run_dir)) == sorted(['someone-else.pid', prefix + 'x-s1-stats.log', 'stats.py',
                                                      prefix + '-dir', prefix + '-link'])
        assert os.path.isfile(others[0])
        assert lab_netns(prefix) == []
        again = run_module(None, 'netns_wiring', absent)
        assert not again['changed']
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_namespace_removed_by_reconcile_takes_its_run_files_along(prefix, tmp_path):
    args = lab(prefix, paths=1, pairs=2)
    args['run_dir'] = run_dir = str(tmp_path)
    run_module(None, 'netns_wiring', args)
    names = ['%s-g2-mptcpd.conf' % prefix, '%s-g2-mptcpd.log' % prefix, '%s-g1-mptcpd.conf' % prefix]
    for name in names:
        (tmp_path / name).write_text('x')
    smaller = lab(prefix, paths=1, pairs=1)
    smaller['run_dir'] = run_dir
    check = run_module(None, 'netns_wiring', smaller, check_mode=True, diff=True)
    assert check['diff']['after']['run_files'] == [names[2]] and len(os.listdir(run_dir)) == 3
    result = run_module(None, 'netns_wiring', smaller)
    assert result['actions'][-2:] == ['remove %s/%s' % (run_dir, n) for n in names[:2]]
    assert sorted(os.listdir(run_dir)) == [names[2]]
    assert not run_module(None, 'netns_wiring', smaller)['changed']


@pytest.mark.parametrize('mutate, message', [
    (lambda a: a['namespaces'].append('other-ns'), "namespaces: 'other-ns' must start with"),
    (lambda a: a['links'][0].update(peer_netns='%s-nowhere' % a['prefix']), 'links[0].peer_netns'),
    (lambda a: a['links'][0].update(name=a['prefix'] + '-waytoolongname'), 'at most 15 characters'),
    (lambda a: a.update(prefix='Bad-Prefix'), 'prefix: lab_prefix'),
])
def test_bad_input_fails_early_and_changes_nothing(prefix, mutate, message):
    args = lab(prefix)
    mutate(args)
    result = run_module(None, 'netns_wiring', args)
    assert result.get('failed') and message in result['msg']
    assert lab_netns(prefix) == []


def is_netns(path):
    """True when path is a network namespace (the same check as ``ip netns exec`` needs)."""
    return subprocess.run(['nsenter', '--net=%s' % path, 'true'], capture_output=True, check=False).returncode == 0


@pytest.fixture
def stale(prefix):
    """make(suffix): an empty plain file /run/netns/<prefix>-<suffix>, as a killed ``ip netns add`` leaves it.

    Whatever is left under the names at the end (file, directory or namespace) is removed.
    """
    made = []

    def make(suffix, directory=False):
        path = '/run/netns/%s-%s' % (prefix, suffix)
        if directory:
            os.mkdir(path)
        else:
            os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
        made.append(path)
        return path

    yield make
    for path in made:
        if os.path.isdir(path):
            os.rmdir(path)
        elif os.path.exists(path):
            subprocess.run(['umount', '-l', path], capture_output=True, check=False)
            os.unlink(path)


def test_a_stale_entry_is_recreated_by_present_and_removed_by_absent(prefix, stale):
    path = stale('x')
    assert not is_netns(path)
    args = {'prefix': prefix, 'namespaces': ['%s-x' % prefix], 'run_dir': '/run/mptcp-lab-test'}
    expected = ['remove stale entry %s (not a namespace)' % path, 'create namespace %s-x' % prefix]
    check = run_module(None, 'netns_wiring', args, check_mode=True, diff=True)
    assert check['rc'] == 0 and check['changed'] and check['actions'] == expected
    assert check['diff']['before']['stale_entries'] == ['%s-x' % prefix]
    assert check['diff']['before']['namespaces'] == [] and check['diff']['after']['stale_entries'] == []
    assert os.path.isfile(path) and not is_netns(path)            # check mode changed nothing
    result = run_module(None, 'netns_wiring', args, diff=True)
    assert result['rc'] == 0 and result['actions'] == expected and result['diff'] == check['diff']
    assert is_netns(path) and ip_links('%s-x' % prefix)['lo']
    assert not run_module(None, 'netns_wiring', args)['changed']
    # a stale entry nobody wants goes with present; every one goes with absent
    other = stale('y')
    result = run_module(None, 'netns_wiring', args)
    assert result['changed'] and result['actions'] == ['remove stale entry %s (not a namespace)' % other]
    assert not os.path.exists(other) and is_netns(path)
    stale('y')
    absent = {'prefix': prefix, 'state': 'absent', 'run_dir': '/run/mptcp-lab-test'}
    check = run_module(None, 'netns_wiring', absent, check_mode=True)
    assert check['actions'] == ['remove stale entry %s (not a namespace)' % other, 'remove namespace %s-x' % prefix]
    assert os.path.exists(other)
    result = run_module(None, 'netns_wiring', absent)
    assert result['rc'] == 0 and result['actions'] == check['actions']
    assert lab_netns(prefix) == []
    assert not run_module(None, 'netns_wiring', absent)['changed']


def test_an_entry_that_cannot_be_removed_fails_naming_it(prefix, stale):
    path = stale('d', directory=True)
    for state in ('present', 'absent'):
        result = run_module(None, 'netns_wiring', {'prefix': prefix, 'state': state, 'run_dir': '/run/mptcp-lab-test',
                                                   'namespaces': ['%s-a' % prefix] if state == 'present' else []})
        assert result['failed'] and result['rc'] == 1
        assert result['msg'] == 'netns_wiring (lab %s): remove namespace %s-d (%s): Is a directory' % (
            prefix, prefix, path)
        assert result['actions'][0] == 'remove stale entry %s (not a namespace)' % path
        assert os.path.isdir(path) and lab_netns(prefix) == ['%s-d' % prefix]    # nothing else was done
