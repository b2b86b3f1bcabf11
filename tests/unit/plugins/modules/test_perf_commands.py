"""perf_commands: argument lists and scripts run for real, never through a shell; timeouts, failures, output."""

import os
import time

from ansible_collections.mptcp.lab.plugins.modules import perf_commands as pc


def params(commands, scripts=None, env=None, label='t pre', output_limit=65536):
    filled = []
    for i, cmd in enumerate(commands):
        c = {'name': 'pre[%d]' % i, 'argv': None, 'script': None, 'args': [], 'timeout_s': 60,
             'ignore_errors': False}
        c.update(cmd)
        filled.append(c)
    return {'commands': filled, 'scripts': scripts or {}, 'env': env or {}, 'label': label,
            'output_limit': output_limit}


def test_an_argument_list_is_not_a_shell_string(tmp_path):
    marker = tmp_path / 'ran'
    res = pc.run(params([{'argv': ['echo', 'a; touch %s' % marker, '$HOME']}]), False)
    assert res['changed'] and not res.get('failed')
    (entry,) = res['results']
    assert entry['rc'] == 0 and entry['ok'] and not entry['timed_out']
    # the shell's characters are plain text in one argument
    assert entry['stdout'] == 'a; touch %s $HOME\n' % marker and not marker.exists()
    assert entry['argv'] == ['echo', 'a; touch %s' % marker, '$HOME']


def test_a_script_runs_as_its_own_program_with_args_and_the_lab_environment():
    text = '#!/bin/sh\necho "$MPTCP_LAB_TEST $MPTCP_LAB_PHASE $1 $2"\nexit 0\n'
    res = pc.run(params([{'script': '/suites/probe.sh', 'args': ['x y', 'z']}], scripts={'/suites/probe.sh': text},
                        env={'MPTCP_LAB_TEST': 'mptcp-up', 'MPTCP_LAB_PHASE': 'pre'}), False)
    (entry,) = res['results']
    assert entry['stdout'] == 'mptcp-up pre x y z\n'
    assert entry['argv'] == ['script:/suites/probe.sh', 'x y', 'z']
    # the private copy is gone
    assert not [d for d in os.listdir('/tmp') if d.startswith('mptcp-lab-commands.') and
                os.path.exists(os.path.join('/tmp', d, 'script-0'))]


def test_a_failure_stops_the_commands_after_it_and_names_it():
    res = pc.run(params([{'argv': ['sh', '-c', 'echo oops >&2; exit 3']}, {'argv': ['true']}]), False)
    assert res['failed'] and len(res['results']) == 1
    assert res['results'][0]['rc'] == 3 and not res['results'][0]['ok']
    assert res['msg'] == "t pre: pre[0] ['sh', '-c', 'echo oops >&2; exit 3'] exited with 3: oops"
    # ignore_errors: recorded, the next one runs, the module succeeds
    res = pc.run(params([{'argv': ['false'], 'ignore_errors': True}, {'argv': ['true']}]), False)
    assert not res.get('failed')
    assert [(e['ok'], e['ignored']) for e in res['results']] == [(False, True), (True, False)]
    # a program that does not exist
    res = pc.run(params([{'argv': ['/nonexistent/mptcp-lab-tool']}]), False)
    assert res['failed'] and res['results'][0]['rc'] is None and 'could not start' in res['msg']


def test_a_command_past_its_timeout_is_killed_with_its_children():
    started = time.monotonic()
    res = pc.run(params([{'argv': ['sh', '-c', 'sleep 30 & sleep 30'], 'timeout_s': 1}]), False)
    assert time.monotonic() - started < 10
    assert res['failed'] and res['results'][0]['timed_out'] and res['results'][0]['rc'] is None
    assert 'ran longer than its timeout_s (killed)' in res['msg']


def test_check_mode_runs_nothing_and_predicts_a_change(tmp_path):
    marker = tmp_path / 'ran'
    res = pc.run(params([{'argv': ['touch', str(marker)]}]), True)
    assert res['changed'] and res['results'] == [] and not marker.exists()
    assert res['diff'] == {'before': {'ran': []}, 'after': {'ran': [['touch', str(marker)]]}}


def test_long_output_keeps_its_start_and_end():
    res = pc.run(params([{'argv': ['sh', '-c', 'printf "A%.0s" $(seq 3000); printf "Z"']}], output_limit=1000), False)
    out = res['results'][0]['stdout']
    assert out.startswith('A' * 500) and out.endswith('Z') and 'bytes cut' in out and len(out) < 1100


def test_bad_input_is_named_and_nothing_runs():
    assert pc.check(params([{'argv': ['ls'], 'script': '/x'}])) == \
        'commands[0] must have exactly one of argv (non-empty) and script'
    assert pc.check(params([{'script': '/x'}])) == 'commands[0].script: /x has no text in scripts'
    assert pc.check(params([{'argv': ['ls'], 'timeout_s': 0}])) == 'commands[0].timeout_s must be 1..86400, got 0'
    assert pc.check(params([{'argv': ['ls']}], env={'PATH': '/x'})).startswith("env: 'PATH' is not allowed")
    assert pc.check(params([{'argv': ['ls']}], env={'MPTCP_LAB_TEST': 'x'})) is None
