"""netns_wiring: validation and the reconcile plan from a given state (pure logic)."""

import os

import pytest

from ansible_collections.mptcp.lab.plugins.modules import netns_wiring as nw

NS = ['mlab-shaper', 'mlab-gen1', 'mlab-sink1']
LINKS = [{'netns': 'mlab-shaper', 'name': 'mlab-1g1', 'peer_netns': 'mlab-gen1', 'peer_name': 'mlab-p1'},
         {'netns': 'mlab-shaper', 'name': 'mlab-1s1', 'peer_netns': 'mlab-sink1', 'peer_name': 'mlab-p1'}]


def veth(index, peer_index, nsid=0, up=True):
    return {'index': index, 'kind': 'veth', 'peer_index': peer_index, 'peer_nsid': nsid, 'up': up, 'mtu': 1500}


class FakeWiring(nw.Wiring):
    """A Wiring whose kernel state is given, and whose namespace ids are all 0 (gen1) or 1 (sink1)."""

    def __init__(self, have_ns, have_links, links=None, namespaces=None):
        super(FakeWiring, self).__init__('mlab', NS if namespaces is None else namespaces,
                                         LINKS if links is None else links)
        self.have_ns = have_ns
        self.have_links = have_links

    def _nsids(self):
        return {('mlab-shaper', 'mlab-gen1'): 0, ('mlab-shaper', 'mlab-sink1'): 1}


def wired_state():
    return {'mlab-shaper': {'mlab-1g1': veth(2, 2, 0), 'mlab-1s1': veth(3, 2, 1)},
            'mlab-gen1': {'mlab-p1': veth(2, 2)}, 'mlab-sink1': {'mlab-p1': veth(2, 3)}}


def test_validate():
    assert nw.validate('mlab', NS, LINKS) is None
    assert 'must start with' in nw.validate('mlab', ['other'], [])
    assert 'prefix' in nw.validate('ml-ab', NS, LINKS)
    assert 'listed twice' in nw.validate('mlab', NS + ['mlab-gen1'], [])
    assert 'is not in namespaces' in nw.validate('mlab', NS[:2], LINKS)
    long_name = dict(LINKS[0], name='mlab-0123456789a')
    assert 'at most 15' in nw.validate('mlab', NS, [long_name])
    assert 'used by two links' in nw.validate('mlab', NS, [LINKS[0], dict(LINKS[1], name='mlab-1g1')])


def test_nothing_to_do_when_wired():
    plan = FakeWiring(sorted(NS), wired_state()).plan()
    assert nw.Wiring.actions(plan) == []


def test_everything_to_create_from_scratch():
    plan = FakeWiring([], {}).plan()
    assert nw.Wiring.actions(plan) == [
        'create namespace mlab-shaper', 'create namespace mlab-gen1', 'create namespace mlab-sink1',
        'create link mlab-shaper/mlab-1g1=mlab-gen1/mlab-p1', 'create link mlab-shaper/mlab-1s1=mlab-sink1/mlab-p1']


def test_miswired_link_is_recreated_and_stray_links_removed():
    state = wired_state()
    state['mlab-shaper']['mlab-1s1'] = veth(3, 2, 0)        # peer in the wrong namespace (gen1's nsid)
    state['mlab-shaper']['mlab-1g9'] = veth(9, 9, 0)        # a path no longer wanted
    state['mlab-gen1']['mlab-p1']['up'] = False
    plan = FakeWiring(sorted(NS), state).plan()
    assert nw.Wiring.actions(plan) == [
        'remove link mlab-shaper/mlab-1g9', 'remove link mlab-shaper/mlab-1s1', 'remove link mlab-sink1/mlab-p1',
        'create link mlab-shaper/mlab-1s1=mlab-sink1/mlab-p1', 'set up mlab-shaper/mlab-1g1=mlab-gen1/mlab-p1']


def test_unwanted_namespace_is_removed_with_its_links():
    state = wired_state()
    state['mlab-gen2'] = {'mlab-p1': veth(2, 4, 0)}
    plan = FakeWiring(sorted(NS + ['mlab-gen2']), state).plan()
    assert nw.Wiring.actions(plan) == ['remove namespace mlab-gen2']


def test_absent_removes_every_lab_namespace():
    plan = FakeWiring(sorted(NS), wired_state(), links=[], namespaces=[]).plan()
    assert nw.Wiring.actions(plan) == ['remove namespace mlab-gen1', 'remove namespace mlab-shaper',
                                       'remove namespace mlab-sink1']


FILES = ['mlab-gen1-mptcpd.conf', 'mlab-gen1-mptcpd.log', 'mlab-gen1-x-mptcpd.pid', 'mlab-gen10-stats.log',
         'mlab-sink1-iperf3-mptcp-5201.log', 'mlab-old-stats.json', 'mlab2-gen1-stats.log']


def test_absent_removes_every_file_of_the_lab_prefix():
    assert nw.run_files_to_remove(FILES, 'mlab', [], [], absent=True) == [
        'mlab-gen1-mptcpd.conf', 'mlab-gen1-mptcpd.log', 'mlab-gen1-x-mptcpd.pid', 'mlab-gen10-stats.log',
        'mlab-sink1-iperf3-mptcp-5201.log', 'mlab-old-stats.json']


def test_present_removes_the_files_of_removed_namespaces_only():
    known = ['mlab-gen1', 'mlab-gen1-x', 'mlab-gen10', 'mlab-sink1']
    assert nw.run_files_to_remove(FILES, 'mlab', ['mlab-gen1'], known, absent=False) == [
        'mlab-gen1-mptcpd.conf', 'mlab-gen1-mptcpd.log']
    assert nw.run_files_to_remove(FILES, 'mlab', ['mlab-gen1-x'], known, absent=False) == ['mlab-gen1-x-mptcpd.pid']
    assert nw.run_files_to_remove(FILES, 'mlab', [], known, absent=False) == []


def test_lab_run_files_are_regular_files_with_the_prefix(tmp_path):
    for name in ('mlab-a.log', 'mlab2-a.log', 'other.pid'):
        (tmp_path / name).write_text('x')
    (tmp_path / 'mlab-dir').mkdir()
    (tmp_path / 'mlab-link').symlink_to(tmp_path / 'other.pid')
    assert nw.lab_run_files(str(tmp_path), 'mlab') == ['mlab-a.log']
    assert nw.lab_run_files(str(tmp_path / 'missing'), 'mlab') == []
    assert nw.remove_run_files(str(tmp_path), ['mlab-a.log', 'mlab-gone.log', 'mlab-link']) == [
        str(tmp_path / 'mlab-a.log')]
    assert sorted(os.listdir(tmp_path)) == ['mlab-dir', 'mlab-link', 'mlab2-a.log', 'other.pid']


class Failed(Exception):
    pass


class FakeModule(object):
    def __init__(self, **params):
        self.params = dict({'namespaces': [], 'links': [], 'state': 'present', 'run_dir': '/nonexistent',
                            'kill_timeout': 1.0}, **params)
        self.check_mode = False
        self._diff = False

    def fail_json(self, **kwargs):
        raise Failed(kwargs)


def netlink_error(code, text):
    from pyroute2.netlink.exceptions import NetlinkError
    return NetlinkError(code, text)


def test_a_netlink_error_while_reading_fails_naming_the_namespace(monkeypatch):
    pytest.importorskip('pyroute2')

    class Broken(object):
        def __init__(self, name=None):
            pass

        def __enter__(self):
            raise netlink_error(13, 'Permission denied')

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(nw.os, 'geteuid', lambda: 0)
    monkeypatch.setattr(nw.nl, 'list_netns', lambda: ['mlab-gen1', 'other'])
    monkeypatch.setattr(nw.nl, 'netns_is_live', lambda name: True)
    monkeypatch.setattr(nw.nl, 'open_netns', Broken)
    with pytest.raises(Failed) as failed:
        nw.run(FakeModule(prefix='mlab', state='absent'))
    assert failed.value.args[0]['msg'] == (
        'netns_wiring (lab mlab): read the links of namespace mlab-gen1: Permission denied')


def test_a_netlink_error_while_creating_fails_with_the_actions_planned(monkeypatch):
    pytest.importorskip('pyroute2')

    def create(name):
        raise netlink_error(17, 'File exists')

    monkeypatch.setattr(nw.os, 'geteuid', lambda: 0)
    monkeypatch.setattr(nw.nl, 'list_netns', lambda: [])
    monkeypatch.setattr(nw.nl, 'create_netns', create)
    with pytest.raises(Failed) as failed:
        nw.run(FakeModule(prefix='mlab', namespaces=['mlab-gen1']))
    assert failed.value.args[0]['msg'] == 'netns_wiring (lab mlab): create namespace mlab-gen1: File exists'
    assert failed.value.args[0]['actions'] == ['create namespace mlab-gen1']


def test_stale_entries_are_removed_first_and_wanted_ones_created_again():
    wiring = FakeWiring(['mlab-shaper', 'mlab-sink1'], {'mlab-shaper': {}, 'mlab-sink1': {}}, links=[])
    wiring.stale = ['mlab-gen1', 'mlab-old']
    assert nw.Wiring.actions(wiring.plan()) == [
        'remove stale entry /run/netns/mlab-gen1 (not a namespace)',
        'remove stale entry /run/netns/mlab-old (not a namespace)', 'create namespace mlab-gen1']
