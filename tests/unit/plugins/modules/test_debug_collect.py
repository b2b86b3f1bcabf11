"""mptcp.lab.debug_collect: the lab's nstat history file and the options that name and forget it."""

import pytest

from ansible_collections.mptcp.lab.plugins.modules import debug_collect


class Failed(Exception):
    pass


class FakeModule(object):
    def __init__(self, **params):
        self.params = dict({'max_item_bytes': 65536, 'timeout': 10, 'tables': [], 'files': [], 'phase': None,
                            'reset_nstat': False, 'forget_nstat': False, 'state_dir': '/nonexistent',
                            'history_name': None}, **params)
        self.check_mode = False

    def fail_json(self, **kwargs):
        raise Failed(kwargs['msg'])


def test_the_history_is_named_by_the_host_when_asked():
    assert debug_collect.nstat_history('/run/mptcp-lab', 'mlab-gen1') == '/run/mptcp-lab/mlab-gen1-nstat.hist'
    # otherwise by the network namespace's inode
    assert debug_collect.nstat_history('/d').startswith('/d/nstat-net')


@pytest.mark.parametrize('name', ['', '../x', 'a/b', '.hidden', 'x' * 201])
def test_a_bad_history_name_fails_naming_the_field(name):
    with pytest.raises(Failed, match='history_name: must be a file name part'):
        debug_collect.run(FakeModule(history_name=name))


def test_reset_and_forget_together_are_refused():
    with pytest.raises(Failed, match='reset_nstat and forget_nstat'):
        debug_collect.run(FakeModule(reset_nstat=True, forget_nstat=True))
