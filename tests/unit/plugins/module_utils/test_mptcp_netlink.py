"""Pure parts of the netlink helper: flags, kernel versions, error text."""

import pytest

from ansible_collections.mptcp.lab.plugins.module_utils.mptcp import mptcp_netlink as nl


def test_flags_roundtrip():
    assert nl.names_to_flags(['signal', 'backup']) == 5
    assert nl.flags_to_names(5) == ['signal', 'backup']
    assert nl.flags_to_names(0x22) == ['subflow', 'laminar']
    assert nl.flags_to_names(0x10 | 0x80) == ['implicit', '0x80']
    assert nl.sort_flags(['backup', 'subflow', 'backup']) == ['subflow', 'backup']


@pytest.mark.parametrize('release, version, laminar', [
    ('6.18.44-fc-v769', (6, 18), True),
    ('6.1.0-18-amd64', (6, 1), False),
    ('7.0-rc1', (7, 0), True),
    ('5.15.0', (5, 15), False),
    ('weird', (0, 0), False),
])
def test_kernel_version(release, version, laminar):
    assert nl.kernel_version(release) == version
    assert nl.kernel_supports_laminar(release) is laminar


def test_error_text():
    err = nl.MptcpError('endpoint add 10.0.0.1', 22, "flags mustn't have both signal and fullmesh")
    assert str(err) == ("kernel rejected endpoint add 10.0.0.1: flags mustn't have both signal and fullmesh "
                        "(Invalid argument)")
    assert str(nl.MptcpError('limits set', 22, 'Invalid argument')) == 'kernel rejected limits set: Invalid argument'


def test_ifindex_decoding():
    assert nl._ifindex_from_hex('02:00:00:00') == 2
    assert nl._ifindex_from_hex(None) == 0
    assert nl._ifindex_from_hex('00:01:00:00') == 256
