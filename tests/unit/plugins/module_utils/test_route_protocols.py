"""route_protocols: rt_protos parsing and the choice of the lab's route protocol (pure logic)."""

import os

from ansible_collections.mptcp.lab.plugins.module_utils.lab import route_protocols as rp

DEBIAN = """#
# Reserved protocols.
#
0\tunspec
1\tredirect
2\tkernel
3\tboot
4\tstatic
8\tgated
0x10 dhcp   # hex, as iproute2 reads it
bad line
300 toolarge
42
99\topenr
"""


def test_parse_rt_protos():
    found = rp.parse_rt_protos(DEBIAN)
    assert found == {0: 'unspec', 1: 'redirect', 2: 'kernel', 3: 'boot', 4: 'static', 8: 'gated', 16: 'dhcp',
                     99: 'openr'}


def test_read_rt_protos_reads_both_places_and_the_conf_dirs(tmp_path):
    etc, share = tmp_path / 'etc', tmp_path / 'share'
    (etc / 'rt_protos.d').mkdir(parents=True)
    (share / 'rt_protos.d').mkdir(parents=True)
    (etc / 'rt_protos').write_text('2 kernel\n')
    (share / 'rt_protos').write_text('2 kernel-share\n12 bird\n')
    (etc / 'rt_protos.d' / 'frr.conf').write_text('186 bgp\n')
    (etc / 'rt_protos.d' / 'ignored.txt').write_text('77 nope\n')
    (share / 'rt_protos.d' / 'mine.conf').write_text('200 mine\n')
    found = rp.read_rt_protos((str(etc), str(share)))
    assert found == {2: ('kernel', str(etc / 'rt_protos')), 12: ('bird', str(share / 'rt_protos')),
                     186: ('bgp', str(etc / 'rt_protos.d' / 'frr.conf')),
                     200: ('mine', str(share / 'rt_protos.d' / 'mine.conf'))}
    assert rp.read_rt_protos((str(tmp_path / 'none'),)) == {}


KNOWN = {3: ('boot', '/etc/iproute2/rt_protos'), 12: ('bird', '/etc/iproute2/rt_protos'),
         200: ('mine', '/etc/iproute2/rt_protos.d/mine.conf')}


def test_check_protocol_accepts_free_numbers():
    assert rp.check_protocol(211, 'lab_route_protocol', KNOWN) == (211, None)
    assert rp.check_protocol('211', 'lab_route_protocol', KNOWN) == (211, None)
    assert rp.check_protocol(5, 'lab_route_protocol', KNOWN) == (5, None)
    assert rp.check_protocol(255, 'lab_route_protocol', {}) == (255, None)


def test_check_protocol_refuses_with_the_variable_the_rule_and_the_value():
    cases = {
        2: 'lab_host_route_protocol: 2 is route protocol "kernel", which the system uses',
        '3': 'lab_host_route_protocol: 3 is route protocol "boot", which the system uses',
        0: 'lab_host_route_protocol: 0 is route protocol "unspec", which the system uses',
        'boot': "lab_host_route_protocol: 'boot' is the name of route protocol 3, which the system uses",
        'kernel': "lab_host_route_protocol: 'kernel' is the name of route protocol 2, which the system uses",
        'bird': "lab_host_route_protocol: 'bird' is the name of route protocol 12, which another program uses "
                "(/etc/iproute2/rt_protos)",
        12: 'lab_host_route_protocol: 12 is route protocol "bird" in /etc/iproute2/rt_protos, which another '
            'program uses',
        200: 'lab_host_route_protocol: 200 is route protocol "mine" in /etc/iproute2/rt_protos.d/mine.conf',
        256: 'lab_host_route_protocol must be a number in [5, 255]',
        -1: 'lab_host_route_protocol must be a number in [5, 255]',
        'nope': 'lab_host_route_protocol must be a number in [5, 255]',
        '': 'lab_host_route_protocol must be a number in [5, 255]',
        None: 'lab_host_route_protocol must be a number in [5, 255]',
        True: 'lab_host_route_protocol must be a number in [5, 255]',
        2.5: 'lab_host_route_protocol must be a number in [5, 255]',
    }
    for value, start in cases.items():
        number, error = rp.check_protocol(value, 'lab_host_route_protocol', KNOWN)
        assert number is None and error.startswith(start), (value, error)
        assert 'default 211' in error
    assert repr('nope') in rp.check_protocol('nope', 'x', KNOWN)[1]


def test_this_hosts_rt_protos_name_the_systems_numbers():
    if not os.path.exists('/etc/iproute2/rt_protos') and not os.path.exists('/usr/share/iproute2/rt_protos'):
        return
    found = rp.read_rt_protos()
    assert found[2][0] == 'kernel' and found[3][0] == 'boot'
    assert 211 not in found
