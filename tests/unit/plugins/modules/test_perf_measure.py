"""perf_measure's one retry of a measurement that failed before iperf3 measured anything."""

import json
import shutil
import socket
import subprocess
import threading

import pytest

from ansible_collections.mptcp.lab.plugins.module_utils.perf import perf_parse as pp
from ansible_collections.mptcp.lab.plugins.modules import perf_measure


def result(ok, error=None, report=None):
    return {'ok': ok, 'error': error, 'raw': {'iperf3': report}}


STARTUP = {'start': {'connected': []}, 'intervals': [], 'end': {},
           'error': 'control socket has closed unexpectedly'}
MIDWAY = {'start': {'connected': [{'local_port': 40000}]}, 'intervals': [{'sum': {}}], 'end': {},
          'error': 'control socket has closed unexpectedly'}


@pytest.mark.parametrize('res, expected', [
    (result(False, 'iperf3: control socket has closed unexpectedly', STARTUP), True),
    (result(False, 'iperf3: control socket has closed unexpectedly', MIDWAY), False),
    # no report at all: iperf3 crashed or was killed
    (result(False, 'iperf3 did not finish within 40s and was killed', None), False),
    # iperf3 measured; the gate refused the run (fallback, subflows)
    (result(False, 'invalid: fell back to TCP', {'intervals': [{}], 'end': {}}), False),
    (result(True, None, {'intervals': [{}], 'end': {}}), False),
])
def test_which_failures_count_as_failed_before_measuring(res, expected):
    assert pp.failed_before_measuring(res) is expected


def fake_measure(results):
    calls = []

    def measure_once(module, p):
        calls.append(p)
        return dict(results[len(calls) - 1])
    return measure_once, calls


def test_a_failure_before_measuring_is_made_again_once_and_the_first_error_kept():
    measure_once, calls = fake_measure([
        result(False, 'iperf3: control socket has closed unexpectedly', STARTUP),
        result(True, None, {'intervals': [{}], 'end': {}}),
    ])
    out = perf_measure.measure_with_retry(None, {'port': 5201}, measure_once, pause=0)
    assert len(calls) == 2
    assert out['ok'] is True and out['attempts'] == 2
    assert out['retried_error'] == 'iperf3: control socket has closed unexpectedly'


def test_a_second_failure_is_kept_and_not_retried_again():
    measure_once, calls = fake_measure([
        result(False, 'iperf3: first', STARTUP),
        result(False, 'iperf3: second', STARTUP),
        result(True),
    ])
    out = perf_measure.measure_with_retry(None, {}, measure_once, pause=0)
    assert len(calls) == 2
    assert out['ok'] is False and out['error'] == 'iperf3: second'
    assert out['attempts'] == 2 and out['retried_error'] == 'iperf3: first'


@pytest.mark.parametrize('first', [
    result(True, None, {'intervals': [{}], 'end': {}}),
    result(False, 'iperf3: control socket has closed unexpectedly', MIDWAY),
    result(False, 'invalid: 1 subflow(s) for 2 path(s)', {'intervals': [{}], 'end': {}}),
])
def test_success_and_other_failures_run_once(first):
    measure_once, calls = fake_measure([first, result(True)])
    out = perf_measure.measure_with_retry(None, {}, measure_once, pause=0)
    assert len(calls) == 1
    assert out['attempts'] == 1 and out['retried_error'] is None
    assert out['ok'] is first['ok']


@pytest.mark.skipif(shutil.which('iperf3') is None, reason='iperf3 is not installed')
def test_real_iperf3_against_a_server_that_drops_the_control_connection_counts_as_before_measuring():
    """The premise, checked on the tool: a dropped control connection gives an error and no interval."""
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(1)
    port = listener.getsockname()[1]

    def drop_one():
        conn, _addr = listener.accept()
        conn.recv(64)  # the client's cookie
        conn.close()
    thread = threading.Thread(target=drop_one)
    thread.start()
    try:
        proc = subprocess.run(['iperf3', '--client', '127.0.0.1', '--port', str(port), '--json', '--time', '1'],
                              capture_output=True, text=True, timeout=30, check=False)
    finally:
        thread.join(10)
        listener.close()
    report = json.loads(proc.stdout)
    summary = pp.summarize_iperf3(report, 'upload')
    # the error a flaky start gives in a run (iperf3 3.12 exits 0 with --json even then)
    assert summary['ok'] is False and summary['error'] == 'iperf3: control socket has closed unexpectedly'
    assert pp.failed_before_measuring(result(False, summary['error'], report)) is True
