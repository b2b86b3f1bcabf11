"""mptcp_endpoints against the real kernel, in throwaway namespaces.

The kernel's view is read back with ``ip -j mptcp endpoint show`` (JSON),
independently of the module's own netlink code.
"""

import contextlib
import json
import os
import subprocess
import sys
import time

import pytest

from conftest import run_module

FLAG_NAMES = ('signal', 'subflow', 'backup', 'fullmesh', 'implicit')


def kernel_endpoints(ns):
    """Endpoints as the kernel reports them through iproute2, in module format."""
    out = ns.run('ip', '-j', 'mptcp', 'endpoint', 'show').stdout.strip()
    result = []
    for item in json.loads(out or '[]'):
        flags = [f for f in FLAG_NAMES if item.get(f)]
        raw = int(item.get('rawflags', '0'), 16)  # iproute2 6.1 prints flags it does not know as rawflags
        if raw & 0x10:
            flags.append('implicit')
        if raw & 0x20:
            flags.append('laminar')
        result.append({'address': item['address'], 'id': item['id'], 'port': item.get('port'),
                       'dev': item.get('dev'), 'flags': sorted(flags)})
    return sorted(result, key=lambda e: e['id'])


def normalized(endpoints):
    return sorted(({'address': e['address'], 'id': e['id'], 'port': e['port'], 'dev': e['dev'],
                    'flags': sorted(e['flags'])} for e in endpoints), key=lambda e: e['id'])


def without_ids(endpoints):
    return sorted((dict(e, id=None, flags=sorted(e['flags'])) for e in endpoints),
                  key=lambda e: (e['address'], e['port'] or 0))


@pytest.fixture
def host(netns):
    """A namespace with two interfaces: e0 (10.1.0.1, fd01::1) and e1 (10.2.0.1, fd02::1)."""
    netns.add_veth('e0', peer_name='e0p')
    netns.add_veth('e1', peer_name='e1p')
    for dev, v4, v6 in (('e0', '10.1.0.1/24', 'fd01::1/64'), ('e1', '10.2.0.1/24', 'fd02::1/64')):
        netns.run('ip', 'addr', 'add', v4, 'dev', dev)
        netns.run('ip', 'addr', 'add', v6, 'dev', dev, 'nodad')
    return netns


def endpoints(ns, config, state='merged', check_mode=False, diff=False):
    return run_module(ns, 'mptcp_endpoints', {'config': config, 'state': state}, check_mode=check_mode, diff=diff)


def assert_ok(result):
    assert result['rc'] == 0 and not result.get('failed'), result.get('msg', result)


BASE = [
    {'address': '10.1.0.1', 'dev': 'e0', 'flags': ['subflow']},
    {'address': '10.2.0.1', 'dev': 'e1', 'flags': ['signal', 'backup']},
    {'address': 'fd02::1', 'dev': 'e1', 'flags': ['subflow', 'fullmesh']},
]


def test_merged_check_mode_apply_idempotent_diff(host):
    predicted = endpoints(host, BASE, check_mode=True, diff=True)
    assert_ok(predicted)
    assert predicted['changed'] is True
    assert kernel_endpoints(host) == []  # check mode changed nothing
    assert [a['action'] for a in predicted['actions']] == ['add'] * 3
    assert predicted['diff']['before'] == {'endpoints': []}

    applied = endpoints(host, BASE, diff=True)
    assert_ok(applied)
    assert applied['changed'] is True
    now = kernel_endpoints(host)
    assert normalized(applied['after']) == now
    # the prediction was right except for the ids the kernel chose
    assert without_ids(predicted['after']) == without_ids(now)
    assert all(e['id'] is None for e in predicted['after'])
    assert applied['diff']['after'] == {'endpoints': applied['after']}
    assert sorted(e['address'] for e in now) == ['10.1.0.1', '10.2.0.1', 'fd02::1']

    again = endpoints(host, BASE, diff=True)
    assert_ok(again)
    assert again['changed'] is False and again['actions'] == []
    assert again['before'] == again['after'] == applied['after']
    check_again = endpoints(host, BASE, check_mode=True)
    assert check_again['changed'] is False


def test_flag_change_keeps_id(host):
    assert_ok(endpoints(host, BASE))
    ids = dict((e['address'], e['id']) for e in kernel_endpoints(host))
    change = [{'address': '10.1.0.1', 'flags': ['subflow', 'backup', 'fullmesh']},
              {'address': '10.2.0.1', 'flags': ['signal']},
              {'address': 'fd02::1', 'flags': ['subflow']}]
    check = endpoints(host, change, check_mode=True)
    assert [a['action'] for a in check['actions']] == ['set_flags'] * 3
    assert dict((e['address'], e['id']) for e in check['after']) == ids
    result = endpoints(host, change)
    assert_ok(result)
    assert [a['action'] for a in result['actions']] == ['set_flags'] * 3
    now = kernel_endpoints(host)
    assert dict((e['address'], e['id']) for e in now) == ids
    assert dict((e['address'], e['flags']) for e in now) == {
        '10.1.0.1': ['backup', 'fullmesh', 'subflow'], '10.2.0.1': ['signal'], 'fd02::1': ['subflow']}
    assert dict((e['address'], e['dev']) for e in now) == {'10.1.0.1': 'e0', '10.2.0.1': 'e1', 'fd02::1': 'e1'}
    assert normalized(check['after']) == now  # check mode predicted it exactly
    assert endpoints(host, change)['changed'] is False


def test_non_toggle_change_is_replace_with_same_id(host):
    assert_ok(endpoints(host, BASE))
    before = dict((e['address'], e['id']) for e in kernel_endpoints(host))
    result = endpoints(host, [{'address': '10.1.0.1', 'flags': ['signal']},
                              {'address': 'fd02::1', 'dev': 'e0'}])
    assert_ok(result)
    assert [(a['action'], a['endpoint']['address']) for a in result['actions']] == [
        ('replace', '10.1.0.1'), ('replace', 'fd02::1')]
    now = dict((e['address'], e) for e in kernel_endpoints(host))
    assert now['10.1.0.1']['id'] == before['10.1.0.1'] and now['10.1.0.1']['flags'] == ['signal']
    assert now['10.1.0.1']['dev'] == 'e0'  # merged kept the dev
    assert now['fd02::1']['id'] == before['fd02::1'] and now['fd02::1']['dev'] == 'e0'
    assert now['fd02::1']['flags'] == ['fullmesh', 'subflow']


def test_explicit_id_and_id_change(host):
    result = endpoints(host, [{'address': '10.1.0.1', 'id': 200, 'flags': ['subflow']}])
    assert_ok(result)
    assert kernel_endpoints(host)[0]['id'] == 200
    assert endpoints(host, [{'address': '10.1.0.1', 'id': 200, 'flags': ['subflow']}])['changed'] is False
    # id omitted: the kernel's id stays
    assert endpoints(host, [{'address': '10.1.0.1', 'flags': ['subflow']}], state='replaced')['changed'] is False
    moved = endpoints(host, [{'address': '10.1.0.1', 'id': 255, 'flags': ['subflow']}])
    assert [a['action'] for a in moved['actions']] == ['replace']
    assert kernel_endpoints(host)[0]['id'] == 255


def test_replaced_resets_unlisted_attributes_only_on_listed(host):
    assert_ok(endpoints(host, BASE))
    result = endpoints(host, [{'address': '10.2.0.1', 'flags': ['signal']}], state='replaced', diff=True)
    assert_ok(result)
    now = dict((e['address'], e) for e in kernel_endpoints(host))
    assert now['10.2.0.1']['dev'] is None and now['10.2.0.1']['flags'] == ['signal']
    assert now['10.1.0.1']['dev'] == 'e0' and now['fd02::1']['flags'] == ['fullmesh', 'subflow']
    assert endpoints(host, [{'address': '10.2.0.1', 'flags': ['signal']}], state='replaced')['changed'] is False


def test_overridden(host):
    assert_ok(endpoints(host, BASE))
    wanted = [{'address': '10.2.0.1', 'dev': 'e1', 'flags': ['signal', 'backup']},
              {'address': 'fd01::1', 'dev': 'e0', 'flags': ['subflow']}]
    check = endpoints(host, wanted, state='overridden', check_mode=True)
    assert check['changed'] is True
    assert len(kernel_endpoints(host)) == 3
    result = endpoints(host, wanted, state='overridden')
    assert_ok(result)
    assert sorted((a['action'], a['endpoint']['address']) for a in result['actions']) == [
        ('add', 'fd01::1'), ('delete', '10.1.0.1'), ('delete', 'fd02::1')]
    now = kernel_endpoints(host)
    assert without_ids(now) == without_ids(check['after'])
    assert sorted(e['address'] for e in now) == ['10.2.0.1', 'fd01::1']
    assert endpoints(host, wanted, state='overridden')['changed'] is False
    assert_ok(endpoints(host, [], state='overridden'))
    assert kernel_endpoints(host) == []


def test_deleted(host):
    config = BASE + [{'address': '10.1.0.1', 'port': 10100, 'flags': ['signal']},
                     {'address': '10.1.0.1', 'port': 10101, 'flags': ['signal']}]
    assert_ok(endpoints(host, config))
    assert len(kernel_endpoints(host)) == 5
    check = endpoints(host, [{'address': '10.1.0.1', 'port': 10100}], state='deleted', check_mode=True)
    assert check['changed'] and len(kernel_endpoints(host)) == 5
    result = endpoints(host, [{'address': '10.1.0.1', 'port': 10100}], state='deleted')
    assert [a['endpoint']['port'] for a in result['actions']] == [10100]
    assert len(kernel_endpoints(host)) == 4
    # no port: every endpoint on that address
    result = endpoints(host, [{'address': '10.1.0.1'}], state='deleted')
    assert sorted(a['endpoint']['port'] or 0 for a in result['actions']) == [0, 10101]
    assert endpoints(host, [{'address': '10.1.0.1'}], state='deleted')['changed'] is False
    target = [e for e in kernel_endpoints(host) if e['address'] == 'fd02::1'][0]
    result = endpoints(host, [{'id': target['id']}], state='deleted')
    assert [a['endpoint']['address'] for a in result['actions']] == ['fd02::1']
    assert_ok(endpoints(host, None, state='deleted'))
    assert kernel_endpoints(host) == []
    assert endpoints(host, None, state='deleted')['changed'] is False
    # that was a flush: the kernel numbers from 1 again
    assert_ok(endpoints(host, [{'address': '10.1.0.1', 'flags': ['subflow']}]))
    assert kernel_endpoints(host)[0]['id'] == 1


def test_gathered_changes_nothing(host):
    assert_ok(endpoints(host, BASE))
    before = kernel_endpoints(host)
    result = run_module(host, 'mptcp_endpoints', {'state': 'gathered'})
    assert_ok(result)
    assert result['changed'] is False
    assert normalized(result['gathered']) == before == kernel_endpoints(host)


def test_every_flag_ipv4_ipv6_and_ports(host):
    config = [
        {'address': '10.1.0.1', 'dev': 'e0', 'flags': ['subflow', 'laminar']},
        {'address': 'fd01::1', 'dev': 'e0', 'flags': ['subflow', 'backup', 'fullmesh']},
        {'address': '10.2.0.1', 'dev': 'e1', 'flags': ['signal', 'backup']},
        {'address': '10.2.0.1', 'port': 10200, 'flags': ['signal']},
        {'address': 'fd02::1', 'port': 10201, 'dev': 'e1', 'flags': ['signal', 'laminar']},
        {'address': 'fd02::1', 'flags': []},
    ]
    result = endpoints(host, config)
    assert_ok(result)
    now = kernel_endpoints(host)
    want = without_ids(dict(c, port=c.get('port'), dev=c.get('dev')) for c in config)
    assert without_ids(now) == want
    assert endpoints(host, config)['changed'] is False
    # laminar off on the v4 endpoint: not changeable in place, so a replace with the same id
    v4 = [e for e in now if e['address'] == '10.1.0.1'][0]
    result = endpoints(host, [{'address': '10.1.0.1', 'flags': ['subflow']}])
    assert [a['action'] for a in result['actions']] == ['replace']
    assert [e for e in kernel_endpoints(host) if e['address'] == '10.1.0.1'][0] == dict(v4, flags=['subflow'])


def test_eight_endpoint_cap(host):
    config = [{'address': '10.1.0.%d' % (i + 10), 'flags': ['subflow']} for i in range(8)]
    assert_ok(endpoints(host, config))
    assert len(kernel_endpoints(host)) == 8
    before = kernel_endpoints(host)
    result = endpoints(host, [{'address': '10.1.0.99', 'flags': ['subflow']}])
    assert result['failed'] and result['msg'] == (
        'config: 9 endpoints after the change, the kernel allows at most 8')
    assert kernel_endpoints(host) == before
    # overridden to 8 others: allowed, since the old ones go first
    other = [{'address': '10.2.0.%d' % (i + 10), 'flags': ['subflow']} for i in range(8)]
    assert_ok(endpoints(host, other, state='overridden'))
    assert sorted(e['address'] for e in kernel_endpoints(host)) == sorted(c['address'] for c in other)


# (state, config, message); every case starts from one endpoint 10.9.0.1 id 1.
BAD_INPUTS = [
    ('overridden', [{'address': '10.1.0.1', 'flags': ['signal', 'fullmesh']}],
     'config[0].flags: signal and fullmesh are mutually exclusive'),
    ('overridden', [{'address': '10.1.0.1', 'port': 10300, 'flags': ['subflow']}],
     'config[0].port: a port needs the signal flag'),
    ('overridden', [{'address': '10.1.0.1', 'port': 10300, 'flags': ['signal', 'subflow']}],
     'config[0].port: a port excludes the subflow flag'),
    ('merged', [{'address': '10.9.0.1', 'flags': ['subflow', 'implicit']}],
     'config[0].flags: implicit is set by the kernel only and cannot be requested'),
    ('overridden', [{'address': '10.1.0.1', 'flags': ['sub-flow']}],
     "config[0].flags: unknown flag 'sub-flow' (allowed: signal, subflow, backup, fullmesh, laminar)"),
    ('overridden', [{'address': '10.1.0.1', 'id': 0}], 'config[0].id: must be between 1 and 255 (got 0)'),
    ('merged', [{'address': '10.1.0.1', 'id': 256}], 'config[0].id: must be between 1 and 255 (got 256)'),
    ('overridden', [{'address': '10.1.0.7', 'id': 9}, {'address': '10.1.0.8', 'id': 9}],
     'config[1].id: id 9 is also given to config[0]; ids must be unique'),
    ('merged', [{'address': '10.1.0.7', 'id': 1}],
     'config[0].id: id 1 is already used by endpoint 10.9.0.1, which stays'),
    ('replaced', [{'address': '10.1.0.7'}, {'address': '10.1.0.7', 'flags': ['signal']}],
     'config[1].address: 10.1.0.7 is listed twice (also config[0])'),
    ('merged', [{'address': '10.1.0.1', 'dev': 'eth7'}],
     "config[0].dev: no interface named 'eth7' in this network namespace"),
    ('merged', [{'address': 'not-an-ip'}], "config[0].address: 'not-an-ip' is not an IPv4 or IPv6 address"),
    ('merged', [{'address': '10.1.0.1', 'port': 70000, 'flags': ['signal']}],
     'config[0].port: must be between 1 and 65535'),
    ('overridden', [{'address': '10.7.7.7', 'port': 10300, 'flags': ['signal']}],
     'config[0].address: an endpoint with a port needs 10.7.7.7 assigned to a local interface'),
    ('merged', [{'address': '10.1.0.%d' % i} for i in range(10, 18)],
     'config: 9 endpoints after the change, the kernel allows at most 8'),
]


@pytest.mark.parametrize('state, config, message', BAD_INPUTS,
                         ids=['%02d-%s' % (i, case[2].split(':')[0]) for i, case in enumerate(BAD_INPUTS)])
def test_bad_input_fails_cleanly_and_changes_nothing(host, state, config, message):
    assert_ok(endpoints(host, [{'address': '10.9.0.1', 'id': 1, 'flags': ['subflow', 'backup']}]))
    before = kernel_endpoints(host)
    result = endpoints(host, config, state=state)
    assert result['rc'] == 1 and result['failed'] is True
    assert message in result['msg']
    assert 'Traceback' not in result['msg'] and 'exception' not in result
    assert kernel_endpoints(host) == before


def test_wrong_type_fails_without_traceback(host):
    result = endpoints(host, [{'address': '10.1.0.1', 'id': 'seven'}])
    assert result['failed'] and 'id' in result['msg'] and 'Traceback' not in result['msg']
    result = run_module(host, 'mptcp_endpoints', {'state': 'gathered', 'config': [{'address': '10.1.0.1'}]})
    assert result['failed'] and result['msg'] == 'config: must be empty with state=gathered'


def test_kernel_refusal_is_rolled_back(host):
    """A refusal no check can foresee (port already taken) reports the kernel's text and undoes the call."""
    assert_ok(endpoints(host, BASE))
    before = kernel_endpoints(host)
    # occupy 10.2.0.1:10400 inside the namespace
    holder = subprocess.Popen(
        ['ip', 'netns', 'exec', host.name, sys.executable, '-c',
         'import socket,sys; s=socket.socket(); '
         's.bind(("10.2.0.1", 10400)); s.listen(); print("ready", flush=True); sys.stdin.read()'],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'ready'
        wanted = [{'address': '10.1.0.1', 'dev': 'e0', 'flags': ['signal']},     # replace
                  {'address': 'fd01::1', 'flags': ['subflow']},                  # add
                  {'address': '10.2.0.1', 'port': 10400, 'flags': ['signal']}]   # add, refused
        result = endpoints(host, wanted, state='overridden')
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)
    assert result['failed'] and result['msg'].startswith('kernel rejected endpoint add 10.2.0.1: ')
    assert 'listen socket' in result['msg'] or 'in use' in result['msg']
    assert 'could not all be restored' not in result['msg']
    assert kernel_endpoints(host) == before


# ------------------------------------------------------- live connection

SERVER = r'''
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("", 5201)); s.listen()   # joins to announced addresses need a wildcard listener
print("ready", flush=True)
c, _a = s.accept()
c.recv(5)
sys.stdin.read()
'''

CLIENT = r'''
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262)
s.connect(("10.1.0.2", 5201))
s.sendall(b"hello")   # data makes the connection fully established, so the server announces
def subflows():
    return s.getsockopt(284, 1, 256)[0]   # SOL_MPTCP, MPTCP_INFO: mptcpi_subflows
deadline = time.monotonic() + 10
while subflows() < 1 and time.monotonic() < deadline:
    time.sleep(0.02)
print("joined %d" % subflows(), flush=True)
for line in sys.stdin:
    print("subflows %d" % subflows(), flush=True)
'''


def netstat(ns, name):
    text = ns.run('cat', '/proc/net/netstat').stdout.splitlines()
    for head, values in zip(text[::2], text[1::2]):
        keys, vals = head.split()[1:], values.split()[1:]
        if head.startswith('MPTcpExt:'):
            return int(dict(zip(keys, vals)).get(name, 0))
    return 0


@pytest.fixture
def pair(netns_factory):
    """Client c (10.1.0.1, 10.2.0.1) and server s (10.1.0.2, 10.2.0.2) on two direct links."""
    client, server = netns_factory(), netns_factory()
    for index in (1, 2):
        client.add_veth('p%d' % index, peer_ns=server, peer_name='p%d' % index)
        client.run('ip', 'addr', 'add', '10.%d.0.1/24' % index, 'dev', 'p%d' % index)
        server.run('ip', 'addr', 'add', '10.%d.0.2/24' % index, 'dev', 'p%d' % index)
    return client, server


@contextlib.contextmanager
def mptcp_connection(pair):
    """A live MPTCP connection from the client to the server, with a subflow joined on path 2.

    The server announces 10.2.0.2; the client joins it from 10.2.0.1, which has
    no endpoint, so the kernel records that address as an implicit endpoint.
    Yields the client process (a line on its stdin prints its subflow count).
    """
    client, server = pair
    assert_ok(run_module(client, 'mptcp_limits', {'subflows': 2, 'add_addr_accepted': 2}))
    assert_ok(run_module(server, 'mptcp_limits', {'subflows': 2, 'add_addr_accepted': 2}))
    assert_ok(endpoints(server, [{'address': '10.2.0.2', 'dev': 'p2', 'flags': ['signal']}]))
    env = dict(os.environ)
    srv = subprocess.Popen(['ip', 'netns', 'exec', server.name, sys.executable, '-c', SERVER],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    cli = None
    try:
        assert srv.stdout.readline().strip() == 'ready'
        cli = subprocess.Popen(['ip', 'netns', 'exec', client.name, sys.executable, '-c', CLIENT],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        assert cli.stdout.readline().strip() == 'joined 1'
        yield cli
    finally:
        for proc in (cli, srv):
            if proc is not None:
                proc.stdin.close()
                proc.kill()
                proc.wait(timeout=10)


def test_set_flags_keeps_live_subflows(pair):
    client, server = pair
    with mptcp_connection(pair) as cli:
        # the kernel recorded the client's second address as an implicit endpoint
        implicit = kernel_endpoints(client)
        assert [(e['address'], e['flags']) for e in implicit] == [('10.2.0.1', ['implicit'])]

        def subflows():
            cli.stdin.write('?\n')
            cli.stdin.flush()
            return int(cli.stdout.readline().split()[1])

        rm_before = netstat(client, 'RmAddr')
        prio_before = netstat(client, 'MPPrioRx')
        result = endpoints(server, [{'address': '10.2.0.2', 'flags': ['signal', 'backup']}])
        assert [a['action'] for a in result['actions']] == ['set_flags']
        # the peer saw MP_PRIO (the change is live) and no RM_ADDR; the subflow is still there
        deadline = time.monotonic() + 5
        while netstat(client, 'MPPrioRx') == prio_before and time.monotonic() < deadline:
            time.sleep(0.02)
        assert netstat(client, 'MPPrioRx') > prio_before
        assert netstat(client, 'RmAddr') == rm_before
        assert subflows() == 1

        # contrast: a change that needs a replace does remove the address from the connection
        result = endpoints(server, [{'address': '10.2.0.2', 'dev': 'p1'}])
        assert [a['action'] for a in result['actions']] == ['replace']
        deadline = time.monotonic() + 5
        while netstat(client, 'RmAddr') == rm_before and time.monotonic() < deadline:
            time.sleep(0.02)
        assert netstat(client, 'RmAddr') > rm_before

        # listing the implicit endpoint makes it an ordinary one, with the same id
        result = endpoints(client, [{'address': '10.2.0.1', 'flags': ['subflow']}])
        assert_ok(result)
        assert [a['action'] for a in result['actions']] == ['replace']
        assert kernel_endpoints(client) == [dict(implicit[0], flags=['subflow'])]
        assert endpoints(client, [{'address': '10.2.0.1', 'flags': ['subflow']}])['changed'] is False


def test_implicit_endpoints_kept_by_default_removed_on_request(pair):
    client, _server = pair
    with mptcp_connection(pair):
        implicit = kernel_endpoints(client)
        assert [(e['address'], e['flags']) for e in implicit] == [('10.2.0.1', ['implicit'])]

        # keep (the default): overridden and deleted without config leave it, and report it
        for args in ({'state': 'overridden', 'config': []}, {'state': 'deleted'},
                     {'state': 'overridden', 'config': [], 'implicit': 'keep'}):
            for check_mode in (True, False):
                result = run_module(client, 'mptcp_endpoints', args, check_mode=check_mode, diff=True)
                assert_ok(result)
                assert result['changed'] is False and result['actions'] == [], (args, result)
                assert normalized(result['before']) == normalized(result['after']) == implicit
                assert result['diff']['after'] == {'endpoints': result['after']}
        assert kernel_endpoints(client) == implicit

        # ordinary endpoints around it go; it stays
        assert_ok(endpoints(client, [{'address': '10.9.0.1', 'flags': []}]))
        result = endpoints(client, [{'address': '10.9.0.2', 'flags': []}], state='overridden')
        assert [(a['action'], a['endpoint']['address']) for a in result['actions']] == [
            ('delete', '10.9.0.1'), ('add', '10.9.0.2')]
        assert [e['address'] for e in kernel_endpoints(client)] == ['10.2.0.1', '10.9.0.2']
        result = run_module(client, 'mptcp_endpoints', {'state': 'deleted'})
        assert [a['endpoint']['address'] for a in result['actions']] == ['10.9.0.2']
        assert kernel_endpoints(client) == implicit

        # the kept one counts toward the cap of 8, and its id is taken
        eight = [{'address': '10.9.0.%d' % i, 'flags': []} for i in range(1, 9)]
        result = endpoints(client, eight, state='overridden')
        assert result['failed'] and result['msg'] == (
            'config: 9 endpoints after the change, the kernel allows at most 8 '
            '(1 of them implicit, kept with implicit=keep)')
        result = endpoints(client, [{'address': '10.9.0.1', 'id': implicit[0]['id']}], state='overridden')
        assert result['failed'] and 'which stays (an implicit endpoint, kept with implicit=keep)' in result['msg']
        assert kernel_endpoints(client) == implicit

        # remove: predicted in check mode, then done; eight ordinary ones now fit
        args = {'state': 'overridden', 'config': eight, 'implicit': 'remove'}
        check = run_module(client, 'mptcp_endpoints', args, check_mode=True)
        assert_ok(check)
        assert [a['action'] for a in check['actions']] == ['delete'] + ['add'] * 8
        assert check['actions'][0]['endpoint'] == implicit[0]
        assert kernel_endpoints(client) == implicit
        result = run_module(client, 'mptcp_endpoints', args)
        assert_ok(result)
        assert without_ids(kernel_endpoints(client)) == without_ids(check['after'])
        assert '10.2.0.1' not in [e['address'] for e in kernel_endpoints(client)]
        assert run_module(client, 'mptcp_endpoints', args)['changed'] is False
        assert_ok(run_module(client, 'mptcp_endpoints', {'state': 'deleted', 'implicit': 'remove'}))
        assert kernel_endpoints(client) == []


def test_missing_pyroute2_is_reported(tmp_path):
    """Without pyroute2 the modules fail with Ansible's missing-library message, no traceback in msg."""
    blocker = tmp_path / 'pyroute2'
    blocker.mkdir()
    (blocker / '__init__.py').write_text('raise ImportError("No module named pyroute2 (blocked for this test)")\n')
    collections = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                               '.collections')
    env = dict(os.environ, PYTHONPATH='%s:%s' % (tmp_path, collections), LC_ALL='C')
    for module, args in (('mptcp_endpoints', {'state': 'gathered'}), ('mptcp_limits', {'subflows': 1}),
                         ('mptcp_info', {})):
        proc = subprocess.run([sys.executable, '-m', 'ansible_collections.mptcp.lab.plugins.modules.' + module],
                              input=json.dumps({'ANSIBLE_MODULE_ARGS': args}), capture_output=True, text=True,
                              env=env, check=False)
        result = json.loads(proc.stdout)
        assert proc.returncode == 1 and result['failed'] is True
        assert result['msg'].startswith('Failed to import the required Python library (pyroute2)'), result['msg']
