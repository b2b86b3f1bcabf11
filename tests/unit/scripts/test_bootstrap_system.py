"""scripts/bootstrap-system.sh against stand-in dpkg-query, apt-get and systemctl.

What it must do on a fresh Debian machine: install only the missing packages,
start no service while installing (policy-rc.d), and leave the units of the
packages it installed disabled; not as root, list what is missing and fail.
"""

import os
import stat
import subprocess

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
SCRIPT = os.path.join(ROOT, 'scripts', 'bootstrap-system.sh')

DPKG_QUERY = """#!/bin/sh
# -W -f=... PKG: installed when listed in $STATE/installed; -L PKG: its files
if [ "$1" = "-L" ]; then cat "$STATE/files-$2" 2>/dev/null; exit 0; fi
for last; do :; done
grep -qx "$last" "$STATE/installed" && printf 'install ok installed' && exit 0
exit 1
"""
APT_GET = """#!/bin/sh
echo "apt-get $*" >>"$STATE/log"
[ "$1" = "install" ] || exit 0
# a postinst would ask policy-rc.d before starting a service
if [ -x "$POLICY" ]; then "$POLICY" x start; echo "policy-rc.d says $?" >>"$STATE/log"; fi
for arg; do case "$arg" in -*|install) ;; *) echo "$arg" >>"$STATE/installed" ;; esac; done
"""
SYSTEMCTL = """#!/bin/sh
echo "systemctl $*" >>"$STATE/log"
"""


def _exe(path, text):
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def machine(tmp_path):
    bin_dir, state = tmp_path / 'bin', tmp_path / 'state'
    bin_dir.mkdir()
    state.mkdir()
    (tmp_path / 'systemd').mkdir()
    _exe(bin_dir / 'dpkg-query', DPKG_QUERY)
    _exe(bin_dir / 'apt-get', APT_GET)
    _exe(bin_dir / 'systemctl', SYSTEMCTL)
    (state / 'installed').write_text('iproute2\n')
    (state / 'files-mptcpd').write_text('/usr/libexec/mptcpd\n/lib/systemd/system/mptcp.service\n')
    (state / 'files-openssh-server').write_text(
        '/lib/systemd/system/ssh.service\n/lib/systemd/system/ssh@.service\n/lib/systemd/system/ssh.socket\n')
    env = dict(os.environ, STATE=str(state), POLICY=str(tmp_path / 'policy-rc.d'),
               PATH='%s:%s' % (bin_dir, os.environ['PATH']), MPTCP_LAB_UID='0',
               MPTCP_LAB_POLICY_RC_D=str(tmp_path / 'policy-rc.d'),
               MPTCP_LAB_SYSTEMD_RUN=str(tmp_path / 'systemd'))
    return tmp_path, state, env


def run(env, *packages):
    return subprocess.run(['bash', SCRIPT] + list(packages), env=env, capture_output=True, text=True, check=False)


def test_installs_only_missing_packages_without_starting_services(machine):
    tmp_path, state, env = machine
    proc = run(env, 'iproute2', 'mptcpd', 'openssh-server')
    assert proc.returncode == 0, proc.stderr
    log = (state / 'log').read_text().splitlines()
    install = [line for line in log if line.startswith('apt-get install')]
    assert install == ['apt-get install -y -q --no-install-recommends mptcpd openssh-server']
    assert 'policy-rc.d says 101' in log                      # no service started during the install
    assert not (tmp_path / 'policy-rc.d').exists()            # and the policy is gone afterwards
    disabled = sorted(line.split()[-1] for line in log if line.startswith('systemctl disable --now'))
    assert disabled == ['mptcp.service', 'ssh.service', 'ssh.socket']   # no template unit
    # a second run installs nothing and touches nothing
    (state / 'log').write_text('')
    assert run(env, 'iproute2', 'mptcpd', 'openssh-server').returncode == 0
    assert (state / 'log').read_text() == ''


def test_keeps_the_machines_own_policy(machine):
    tmp_path, state, env = machine
    (tmp_path / 'policy-rc.d').write_text('#!/bin/sh\nexit 0\n')
    (tmp_path / 'policy-rc.d').chmod(0o755)
    assert run(env, 'mptcpd').returncode == 0
    assert (tmp_path / 'policy-rc.d').read_text() == '#!/bin/sh\nexit 0\n'
    assert 'policy-rc.d says 0' in (state / 'log').read_text()


def test_without_systemd_nothing_is_disabled(machine):
    tmp_path, state, env = machine
    (tmp_path / 'systemd').rmdir()
    assert run(env, 'mptcpd').returncode == 0
    assert 'systemctl' not in (state / 'log').read_text()


def test_not_root_lists_the_missing_packages_and_fails(machine):
    _tmp_path, state, env = machine
    env['MPTCP_LAB_UID'] = '1000'
    proc = run(env, 'iproute2', 'iperf3', 'mptcpize')
    assert proc.returncode == 1
    assert 'iperf3 mptcpize' in proc.stderr and 'iproute2' not in proc.stderr.split('\n')[1]
    assert not (state / 'log').exists()
