"""mptcp.lab.netns connection plugin: name checks, option handling, failures before any exec."""

import os

import pytest
import yaml

from ansible import constants as C

from ansible.errors import AnsibleConnectionFailure
from ansible.playbook.play_context import PlayContext

from ansible_collections.mptcp.lab.plugins.connection import netns

NAME = 'mptcp.lab.netns'


def make(name='mlab-gen1', **options):
    """A Connection with its documented options registered, as the plugin loader would do."""
    C.config.initialize_plugin_configuration_definitions(
        'connection', NAME, yaml.safe_load(netns.DOCUMENTATION)['options'])
    conn = netns.Connection(PlayContext(), None)
    conn._load_name = NAME
    conn.set_options(var_options=dict({'inventory_hostname': name}, **options))
    return conn


@pytest.mark.parametrize('name', ['', '.', '..', 'a/b', 'x\0y', None])
def test_bad_names_are_refused(name):
    with pytest.raises(AnsibleConnectionFailure, match='invalid network namespace name'):
        netns.check_netns_name(name)


def resolved(conn):
    return netns.resolve_netns_name(conn.get_option('netns_name'), conn.get_option('remote_addr'),
                                    conn._play_context.remote_addr)


def test_name_defaults_to_inventory_hostname_and_can_be_overridden():
    assert resolved(make('mlab-gen1')) == 'mlab-gen1'
    assert resolved(make('gen', ansible_netns_name='mlab-gen1')) == 'mlab-gen1'
    assert resolved(make('gen', ansible_host='mlab-gen1')) == 'mlab-gen1'
    assert resolved(make('gen', ansible_host='mlab-x', ansible_netns_name='mlab-gen1')) == 'mlab-gen1'


def test_delegated_host_wins_over_the_original_inventory_hostname():
    """Under delegate_to the variables are the delegated host's, except inventory_hostname, which
    Ansible keeps as the original host's; it gives the delegated host an ansible_host (its name)."""
    assert resolved(make('mlab-gen1', ansible_host='mlab-sink1')) == 'mlab-sink1'
    assert resolved(make('mlab-gen1', ansible_host='sink', ansible_netns_name='mlab-sink1')) == 'mlab-sink1'


@pytest.mark.parametrize('args, expected', [
    (('ns-a', 'ns-b', 'ns-c'), 'ns-a'),
    ((None, 'ns-b', 'ns-c'), 'ns-b'),
    (('', None, 'ns-c'), 'ns-c'),
])
def test_resolution_order(args, expected):
    assert netns.resolve_netns_name(*args) == expected


def test_no_name_at_all_is_refused():
    with pytest.raises(AnsibleConnectionFailure, match='invalid network namespace name'):
        netns.resolve_netns_name(None, '', None)
    with pytest.raises(AnsibleConnectionFailure, match='invalid network namespace name'):
        netns.resolve_netns_name('a/b', 'ok', 'ok')


def test_plugin_flags():
    conn = make()
    assert conn.has_pipelining is True
    assert conn.transport == 'mptcp.lab.netns'


def test_missing_namespace_is_a_connection_failure_naming_it():
    conn = make('mlab-does-not-exist-%d' % os.getpid())
    if os.geteuid() != 0:
        with pytest.raises(AnsibleConnectionFailure, match='needs root'):
            conn._connect()
        return
    with pytest.raises(AnsibleConnectionFailure, match='network namespace mlab-does-not-exist-.* does not exist'):
        conn._connect()


def test_find_ip():
    assert os.path.basename(netns.find_ip()) == 'ip'
    with pytest.raises(AnsibleConnectionFailure, match='not an executable'):
        netns.find_ip('/nonexistent/ip')
