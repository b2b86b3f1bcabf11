"""The filters around a test's own commands: which end runs what, what failed, what the record gets."""

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.mptcp.lab.plugins.filter import perf_commands as f

ITEM = {'k': 3, 'test': 't', 'rep': 1, 'commands': {
    'pre': [{'host': 'sink', 'argv': ['ip', 'mptcp', 'endpoint', 'show'], 'timeout_s': 60, 'ignore_errors': False},
            {'host': 'all', 'script': '/s/probe.sh', 'args': ['-q'], 'sha256': 'ab', 'timeout_s': 5,
             'ignore_errors': True}],
    'post': [{'host': 'generator', 'argv': ['true'], 'timeout_s': 60, 'ignore_errors': False}]}}


def test_one_by_one_when_a_measurement_has_something_around_it():
    assert not f.perf_items_one_by_one([{'k': 1}, {'k': 2, 'capture': False}])
    assert f.perf_items_one_by_one([{'k': 1}, {'k': 2, 'capture': True}])
    assert f.perf_items_one_by_one([{'k': 1}, ITEM])


def test_each_end_gets_its_commands_and_those_of_all_named_by_phase_and_index():
    assert f.perf_item_commands(ITEM, 'pre', 'sink') == [
        {'name': 'pre[0]', 'argv': ['ip', 'mptcp', 'endpoint', 'show'], 'timeout_s': 60, 'ignore_errors': False},
        {'name': 'pre[1]', 'script': '/s/probe.sh', 'args': ['-q'], 'timeout_s': 5, 'ignore_errors': True}]
    assert [c['name'] for c in f.perf_item_commands(ITEM, 'pre', 'generator')] == ['pre[1]']
    assert [c['name'] for c in f.perf_item_commands(ITEM, 'post', 'generator')] == ['post[0]']
    assert f.perf_item_commands(ITEM, 'post', 'sink') == []
    assert f.perf_item_commands(ITEM, 'pre', 'none') == []
    assert f.perf_item_commands({'k': 1}, 'pre', 'sink') == []
    with pytest.raises(AnsibleFilterError, match='phase must be pre or post'):
        f.perf_item_commands(ITEM, 'during', 'sink')


OK = {'changed': True, 'results': [{'name': 'pre[0]', 'rc': 0, 'ok': True, 'stdout': 'x'}]}
FAILED = {'failed': True, 'msg': "t pre: pre[0] ['false'] exited with 1",
          'results': [{'name': 'pre[0]', 'rc': 1, 'ok': False}]}


def test_errors_of_a_phase_name_the_host():
    assert f.perf_command_errors([{'skipped': True}, OK], ['g', 's']) == []
    assert f.perf_command_errors([FAILED, {'unreachable': True, 'msg': 'gone'}], ['g', 's']) == [
        "g: t pre: pre[0] ['false'] exited with 1", 's: unreachable: gone']
    # a host without a registered result (an Undefined made {}) ran nothing
    assert f.perf_command_errors([{}, OK], ['g', 's']) == []


def test_a_measurement_carries_what_ran_and_fails_with_a_failed_command():
    run = {'item': ITEM, 'ok': True, 'throughput_mbps': 90.0}
    out = f.perf_with_commands(run, ['g', 's'], [{'skipped': True}, OK], [OK, {'skipped': True}])
    ran = [(c['host'], c['phase'], c['name']) for c in out['commands']]
    assert ran == [('s', 'pre', 'pre[0]'), ('g', 'post', 'pre[0]')]
    assert 'commands_error' not in out and out['throughput_mbps'] == 90.0 and 'commands' not in run
    out = f.perf_with_commands(run, ['g', 's'], [OK, OK], [FAILED, {'skipped': True}])
    assert out['commands_error'] == "commands failed: g post: t pre: pre[0] ['false'] exited with 1"
    with pytest.raises(AnsibleFilterError, match='must be a dict'):
        f.perf_with_commands(None, ['g'], [], [])
