"""lab_reshape_devices: the shaper's own interfaces, each shaped for its path by a test's shaping."""

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.mptcp.lab.plugins.filter.lab_reshape import lab_reshape_devices
from ansible_collections.mptcp.lab.plugins.module_utils.lab import lab_plan

LAB = [{'rate_mbit': 50}, {'rate_mbit': 50}]
DEVICES = lab_plan.shaper_devices(LAB, [1], prefix='mlt')
LINKS = lab_plan.shaper_links(LAB, [1], prefix='mlt')


def test_every_interface_of_a_path_gets_that_paths_shaping():
    paths = [{'rate_mbit': None}, {'rate_mbit': 10, 'delay_ms': 20, 'loss_pct': None}]
    out = lab_reshape_devices(DEVICES, LINKS, paths, "tests[1] 'x': shaping")
    assert [d['dev'] for d in out] == [d['dev'] for d in DEVICES]      # the same interfaces, in order
    by_path = dict((link['dev'], link['path']) for link in LINKS)
    for item in out:
        if by_path[item['dev']] == 1:
            assert item == {'dev': item['dev'], 'rate_mbit': None, 'label': "tests[1] 'x': shaping[0]"}
        else:
            assert item == {'dev': item['dev'], 'rate_mbit': 10, 'delay_ms': 20, 'label': "tests[1] 'x': shaping[1]"}
    assert len(out) == 4


def test_null_paths_is_the_labs_own_shaping_and_foreign_devices_keep_theirs():
    assert lab_reshape_devices(DEVICES, LINKS, None) == DEVICES
    extra = DEVICES + [{'dev': 'eth9', 'rate_mbit': 5, 'label': 'mine'}]
    out = lab_reshape_devices(extra, LINKS, [{'rate_mbit': 1}, {'rate_mbit': 2}])
    assert out[-1] == {'dev': 'eth9', 'rate_mbit': 5, 'label': 'mine'}
    assert out[0]['label'] == 'shaping[0]'


@pytest.mark.parametrize('paths, message', [
    ('none', 'shaping must be a list of'),
    ([{'rate_mbit': 1}], 'shaping has 1 entries, but mlt-1g2 carries path 2'),
    ([{'rate_mbit': 1}, {'delay_ms': 5}], r'shaping[1].rate_mbit is required (null for no rate limit)'),
    ([{'rate_mbit': 1}, {'rate_mbit': 1, 'jitter': 1}], 'shaping[1] has unknown key(s) jitter'),
])
def test_bad_paths(paths, message):
    with pytest.raises(AnsibleFilterError) as exc:
        lab_reshape_devices(DEVICES, LINKS, paths)
    assert message in str(exc.value)


def test_bad_links():
    with pytest.raises(AnsibleFilterError, match=r'lab_shaper_links\[0\].path must be a path number'):
        lab_reshape_devices(DEVICES, [{'dev': 'x', 'path': 0}], LAB)
    with pytest.raises(AnsibleFilterError, match=r'lab_shaper_links\[0\] must be a dict with path and dev'):
        lab_reshape_devices(DEVICES, ['x'], LAB)
