"""Unit tests for mptcp.lab.supervised_process's input validation (no process is started)."""

import json

import pytest

from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes

from ansible_collections.mptcp.lab.plugins.modules import supervised_process


def _run(monkeypatch, capsys, args):
    monkeypatch.setattr(basic, '_ANSIBLE_ARGS', to_bytes(json.dumps({'ANSIBLE_MODULE_ARGS': args})))
    monkeypatch.setattr(basic, '_ANSIBLE_PROFILE', 'legacy', raising=False)
    with pytest.raises(SystemExit):
        supervised_process.main()
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize('args, needle', [
    (dict(name='a/b', state='status'), 'name:'),
    (dict(name='x', state='started'), 'argv: required'),
    (dict(name='x', argv=['true'], wait_for_port=70000), 'wait_for_port: must be 1..65535'),
    (dict(name='x', argv=['true'], timeout=0), 'timeout: must be > 0'),
    (dict(name='x', argv=['true'], user='mptcp-lab-no-such-user'), "user: no user 'mptcp-lab-no-such-user'"),
    (dict(name='x', argv=['true'], user='4294967294'), "user: no user '4294967294'"),
    (dict(name='x', argv=['true'], user='nobody', group='mptcp-lab-no-such-group'), 'group: no group'),
    (dict(name='x', argv=['true'], group='nogroup'), 'group: needs user'),
    (dict(name='x', argv=['true'], capabilities=['net_admin']), 'capabilities: needs user'),
])
def test_bad_input_fails_early(monkeypatch, capsys, tmp_path, args, needle):
    args['run_dir'] = str(tmp_path)
    out = _run(monkeypatch, capsys, args)
    assert out['failed'] and needle in out['msg']
    assert list(tmp_path.iterdir()) == []


def test_user_is_ignored_when_stopping(monkeypatch, capsys, tmp_path):
    # Teardown must work even after the user was removed.
    out = _run(monkeypatch, capsys, dict(name='x', state='stopped', user='mptcp-lab-no-such-user',
                                         run_dir=str(tmp_path)))
    assert not out.get('failed') and not out['changed']
