"""Pure logic of mptcp_limits: validation and the change."""

import pytest

from ansible_collections.mptcp.lab.plugins.modules import mptcp_limits as limits


def test_limits_validate_and_compute():
    assert limits.validate({'subflows': 0, 'add_addr_accepted': 8}) == {'subflows': 0, 'add_addr_accepted': 8}
    assert limits.validate({'subflows': 3, 'add_addr_accepted': None}) == {'subflows': 3}
    current = {'subflows': 2, 'add_addr_accepted': 0}
    assert limits.compute(current, {'subflows': 2}) == (current, False)
    assert limits.compute(current, {'add_addr_accepted': 1}) == ({'subflows': 2, 'add_addr_accepted': 1}, True)


@pytest.mark.parametrize('params, message', [
    ({'subflows': 9}, 'subflows: must be between 0 and 8 (got 9)'),
    ({'add_addr_accepted': -1}, 'add_addr_accepted: must be between 0 and 8 (got -1)'),
    ({}, 'one of subflows or add_addr_accepted is required'),
])
def test_limits_bad(params, message):
    with pytest.raises(limits.ValidationError) as err:
        limits.validate(params)
    assert str(err.value) == message
