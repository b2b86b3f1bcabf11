"""scripts/lab-inventory.py: inventories of N pairs that reuse the virtual inventory's group_vars."""

import importlib.util
import json
import os

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
spec = importlib.util.spec_from_file_location('lab_inventory', os.path.join(ROOT, 'scripts', 'lab-inventory.py'))
lab_inventory = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lab_inventory)


def test_hosts_of_three_pairs():
    lab = lab_inventory.hosts('mlx', 3)['all']['children']['lab']
    groups = lab['children']
    assert sorted(groups['generators']['hosts']) == ['mlx-gen1', 'mlx-gen2', 'mlx-gen3']
    assert groups['generators']['hosts']['mlx-gen2'] == {'lab_pair': 2, 'lab_peer': 'mlx-sink2'}
    assert groups['sinks']['hosts']['mlx-sink3'] == {'lab_pair': 3}
    assert list(groups['shapers']['hosts']) == ['mlx-shaper']
    assert lab['vars']['ansible_connection'] == 'mptcp.lab.netns'


def test_write_copies_group_vars_and_sets_prefix_and_rates(tmp_path):
    out = lab_inventory.write(str(tmp_path / 'inv'), 'mlx', 2, [30, 10.5])
    with open(os.path.join(out, 'hosts.yml')) as handle:
        assert len(yaml.safe_load(handle)['all']['children']['lab']['children']['sinks']['hosts']) == 2
    assert os.path.isfile(os.path.join(out, 'group_vars', 'generators.yml'))
    with open(os.path.join(out, 'group_vars', 'all', 'zz-generated.yml')) as handle:
        extra = json.loads(handle.read().split('\n', 1)[1])
    assert extra == {'lab_prefix': 'mlx', 'lab_paths': [{'rate_mbit': 30}, {'rate_mbit': 10.5}]}


@pytest.mark.parametrize('prefix, pairs', [('m-x', 1), ('MLX', 1), ('mlx', 0)])
def test_bad_arguments(tmp_path, prefix, pairs):
    with pytest.raises(ValueError):
        lab_inventory.write(str(tmp_path / 'inv'), prefix, pairs)
