"""The exit code of a perf run (README.md, "Exit codes")."""

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.mptcp.lab.plugins.filter.perf_exit import perf_exit_status

REGRESSION = {'test': 'mptcp-up', 'metric': 'throughput_mbps', 'baseline_median': 90.0, 'current_median': 80.0,
              'change_pct': -11.1, 'p_value': 0.004}


def record(*tests):
    return {'run_id': 'R', 'tests': list(tests)}


def test_passed_and_no_baseline_give_0():
    summary = record({'name': 'a', 'valid': True, 'verdict': 'pass'}, {'name': 'b', 'verdict': 'no-baseline'})
    assert perf_exit_status(summary, [], True) == {'code': 0, 'invalid': [], 'regressions': 0, 'message': ''}


def test_a_regression_gives_42_only_with_fail_on_regression():
    summary = record({'name': 'mptcp-up', 'valid': True, 'verdict': 'ok'})
    assert perf_exit_status(summary, [REGRESSION], False)['code'] == 0
    out = perf_exit_status(summary, [REGRESSION], True)
    assert out['code'] == 42 and out['regressions'] == 1
    assert out['message'] == 'run R: 1 regression(s): mptcp-up'
    assert perf_exit_status(summary, [REGRESSION], True, 'the verdict says so')['message'] == 'run R: the verdict says so'


@pytest.mark.parametrize('test', [{'name': 'x', 'valid': False}, {'name': 'x', 'verdict': 'invalid'},
                                  {'name': 'x', 'validity': 'invalid'}])
def test_an_invalid_test_gives_42(test):
    out = perf_exit_status(record({'name': 'ok', 'valid': True}, test))
    assert out['code'] == 42 and out['invalid'] == ['x']
    assert out['message'] == 'run R: 1 invalid test(s): x (see the table above)'


def test_not_a_record():
    with pytest.raises(AnsibleFilterError, match='must be a dict'):
        perf_exit_status(['not', 'a', 'record'])
