"""The mptcpd role's source install, for real: build 0.13 against Debian 12's ELL and run it.

Opt-in (it downloads a source package and builds for about a minute, and
installs autotools and libell-dev on this machine when missing):

    MPTCP_LAB_TEST_SOURCE_BUILD=1 .venv/bin/python -m pytest tests/integration/test_mptcpd_source.py

Upstream's release tarball is not reachable from here; Debian's source
package is (through apt, with a temporary deb-src list that does not touch the
system's). Its ``mptcpd_0.13.orig.tar.gz`` is upstream's git snapshot (no
generated ``configure``), so this also covers the bootstrap path. Set
MPTCP_LAB_MPTCPD_ARCHIVE to use an archive you already have. The build is
installed under a temporary prefix, so the system's mptcpd is untouched.
"""

import glob
import json
import os
import pathlib
import shutil
import subprocess
import tempfile

import pytest

from test_mptcpd_role import Lab, endpoints, instance_file, process

pytestmark = pytest.mark.skipif(os.environ.get('MPTCP_LAB_TEST_SOURCE_BUILD') != '1',
                                reason='opt-in: set MPTCP_LAB_TEST_SOURCE_BUILD=1 (downloads and builds mptcpd)')

VERSION = '0.13'
DEB_SRC = 'deb-src http://deb.debian.org/debian trixie main\n'


@pytest.fixture(scope='module')
def archive(tmp_path_factory):
    given = os.environ.get('MPTCP_LAB_MPTCPD_ARCHIVE')
    if given:
        return given
    work = tmp_path_factory.mktemp('mptcpd-src')
    (work / 'sources.list').write_text(DEB_SRC)
    (work / 'lists' / 'partial').mkdir(parents=True)
    opts = ['-o', 'Dir::Etc::SourceList=%s' % (work / 'sources.list'), '-o', 'Dir::Etc::SourceParts=/dev/null',
            '-o', 'Dir::State::Lists=%s' % (work / 'lists'), '-o', 'APT::Get::List-Cleanup=0']
    subprocess.run(['apt-get'] + opts + ['update'], check=True, capture_output=True)
    # Only the orig tarball is needed; apt verifies it against the signed Sources index.
    subprocess.run(['apt-get'] + opts + ['source', '--download-only', 'mptcpd=%s-2' % VERSION],
                   cwd=str(work), capture_output=True, check=False)
    found = glob.glob(str(work / ('mptcpd_%s.orig.tar.*' % VERSION)))
    if not found:
        pytest.fail('could not download mptcpd_%s.orig.tar.* from Debian (apt-get source)' % VERSION)
    return found[0]


def test_build_install_run_and_skip_the_second_time(tmp_path, netns_factory, archive):
    lab = Lab(tmp_path, netns_factory)
    # Not under tmp_path (mode 0700): the daemon runs as nobody and must read
    # its libraries and plugins, as it would under /usr/local.
    prefix = pathlib.Path(tempfile.mkdtemp(prefix='mlt-mptcpd-prefix-'))
    prefix.chmod(0o755)
    try:
        ns = lab.add(['10.237.1.2', '10.237.2.2'])
        extra = ['-e', json.dumps({'mptcpd_install_method': 'source', 'mptcpd_source_version': VERSION,
                                   'mptcpd_source_archive': archive, 'mptcpd_source_prefix': str(prefix),
                                   'mptcpd_addr_flags': ['signal']})]
        proc, rc = lab.play(*extra)
        assert rc[ns.name]['failed'] == 0, proc.stdout[-4000:]

        binary = prefix / 'bin' / 'mptcpd'       # no systemd: configure puts the daemon in bindir
        out = subprocess.run([str(binary), '--version'], capture_output=True, text=True, check=True).stdout
        assert out.strip() == 'mptcpd %s' % VERSION
        assert (prefix / 'etc' / 'mptcpd' / 'mptcpd.conf').exists()
        assert (prefix / 'lib' / 'mptcpd' / 'addr_adv.so').exists()
        assert (prefix / 'bin' / 'mptcpize').exists()

        # the running daemon is the one just built, with its own configuration and plugins
        p = process(ns)
        assert p and os.readlink('/proc/%d/exe' % p['pid']) == str(binary)
        assert 'addr-flags=signal' in open(instance_file(ns, 'conf')).read()
        eps = dict((e['address'], e['flags']) for e in endpoints(ns)['endpoints'])
        assert eps == {'10.237.1.2': ['signal'], '10.237.2.2': ['signal']}

        # second run: the prefix has the version, nothing is built or changed
        proc, rc = lab.play(*extra)
        assert rc[ns.name]['changed'] == 0, proc.stdout[-4000:]
        assert 'Compile' not in proc.stdout
        assert process(ns)['pid'] == p['pid']
    finally:
        lab.cleanup()
        shutil.rmtree(str(prefix), ignore_errors=True)


def test_url_download_checks_the_checksum_before_building(tmp_path, netns_factory, archive):
    """The URL path (get_url) with a wrong checksum fails before anything is built or installed."""
    lab = Lab(tmp_path, netns_factory)
    prefix = pathlib.Path(tempfile.mkdtemp(prefix='mlt-mptcpd-prefix-'))
    try:
        ns = lab.add(['10.238.1.2', '10.238.2.2'])
        extra = ['-e', json.dumps({'mptcpd_install_method': 'source', 'mptcpd_source_version': VERSION,
                                   'mptcpd_source_url': 'file://' + os.path.abspath(archive),
                                   'mptcpd_source_checksum': 'sha256:' + '0' * 64,
                                   'mptcpd_source_prefix': str(prefix / 'p')})]
        proc, rc = lab.play(*extra, check=False)
        assert rc[ns.name]['failed'] == 1
        assert 'checksum' in proc.stdout.lower(), proc.stdout[-3000:]
        assert not (prefix / 'p').exists() and process(ns) is None
        assert not glob.glob('/tmp/mptcp-lab-mptcpd-build.*')   # the build directory was removed
    finally:
        lab.cleanup()
        shutil.rmtree(str(prefix), ignore_errors=True)
