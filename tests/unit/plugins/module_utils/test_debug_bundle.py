"""The debug bundle's pure parts: commands, what may leave a host, layout, manifest, summary, archive."""

import json
import os
import struct
import tarfile

import pytest

from ansible_collections.mptcp.lab.plugins.module_utils.process import debug_bundle as db
from ansible_collections.mptcp.lab.plugins.module_utils.process import guarded_process as gp
from ansible_collections.mptcp.lab.plugins.module_utils.process import packet_capture as pc


def test_host_commands_are_mptcp_get_debugs_then_the_labs():
    cmds = db.host_commands(tables=[102, 101, 101], interfaces=['p2', 'p1'], mptcpd_binary='/usr/libexec/mptcpd',
                            systemd=True)
    names = [name for name, _argv, _env in cmds]
    assert names[:7] == ['uname', 'sysctl_mptcp', 'mptcp_endpoints', 'mptcp_limits', 'ss_mptcp', 'nstat',
                         'nstat_absolute']
    argv = dict((name, argv) for name, argv, _env in cmds)
    assert argv['ss_mptcp'] == ['ss', '-ManiH']
    # nstat never updates its history outside the reproduce mode's reset
    assert '-s' in argv['nstat'] and '-s' in argv['nstat_absolute']
    assert [n for n in names if n.startswith('routes_table_')] == ['routes_table_101', 'routes_table_102']
    assert argv['offloads_p1'] == ['ethtool', '-k', 'p1']
    assert argv['mptcpd_version'] == ['/usr/libexec/mptcpd', '--version']
    assert 'mptcpd_journal' in names
    assert all(isinstance(a, list) and all(isinstance(x, str) for x in a) for a in argv.values())
    assert 'mptcpd_journal' not in [n for n, _a, _e in db.host_commands()]


@pytest.mark.parametrize('path,secret', [
    ('/root/.ssh/id_rsa', True), ('/root/.ssh/id_ed25519', True), ('/root/.ssh/id_rsa.pub', False),
    ('/etc/ssl/private/lab.key', True), ('/etc/shadow', True), ('/etc/mptcpd/mptcpd.conf', False),
    ('/run/mptcp-lab/mlab-sink1-mptcpd.log', False),
])
def test_secret_paths_are_refused(path, secret):
    assert db.secret_path(path) is secret


def test_a_text_holding_a_private_key_is_replaced():
    text, redacted = db.redact('x\n-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n')
    assert redacted and 'PRIVATE KEY-----' not in text
    assert db.redact('plain log\n') == ('plain log\n', False)


def test_clip_keeps_the_tail():
    assert db.clip('abcdef', 4) == ('cdef', True)
    assert db.clip('abc', 4) == ('abc', False)
    assert db.clip(None, 4) == ('', False)


def test_kconfig_lines_keep_mptcp_and_qdiscs():
    text = 'CONFIG_MPTCP=y\nCONFIG_MPTCP_IPV6=y\n# CONFIG_NET_SCH_NETEM is not set\nCONFIG_NET_SCH_TBF=m\nCONFIG_USB=y\n'
    assert db.kconfig_lines(text) == ('CONFIG_MPTCP=y\nCONFIG_MPTCP_IPV6=y\n# CONFIG_NET_SCH_NETEM is not set\n'
                                      'CONFIG_NET_SCH_TBF=m\n')


def test_file_item_names_are_unique():
    used = {'file_x.log'}
    assert db.file_item_name('/a/x.log', used) == 'file_x.log_2'
    assert db.file_item_name('/a/we ird', set()) == 'file_we_ird'


def _item(name, output='', rc=0, argv=None, error=None):
    return {'name': name, 'argv': argv or [name], 'path': None, 'rc': rc, 'output': output, 'error': error,
            'truncated': False, 'seconds': 0.01}


HOSTS = {
    'lab-gen1': {
        'collect': [{'phase': None, 'items': [
            _item('uname', 'Linux gen 6.18.0 #1 SMP x86_64 GNU/Linux\n'),
            _item('os_release', 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n'),
            _item('ss_mptcp', 'ESTAB 0 0 10.0.0.2:40000 10.0.1.2:5201\n\t mptcp flags:Mec\n'),
            _item('nstat', '#kernel\nMPTcpExtMPCapableSYNTX 3 0.0\nMPTcpExtMPJoinSynTx 2 0.0\nTcpExtX 9 0\n'),
            _item('routes6', '', rc=2, error=None),
        ]}],
        'facts': {'settings': {'enabled': True, 'path_manager': 'kernel', 'scheduler': 'default',
                               'checksum_enabled': False},
                  'limits': {'subflows': 2, 'add_addr_accepted': 1},
                  'endpoints': [{'address': '10.0.0.2', 'id': 1, 'flags': ['subflow'], 'dev': 'p1'}]},
        'networkmanager': {'installed': False},
    },
    'lab-sink1': {'error': 'unreachable'},
}


def test_layout_and_manifest_list_every_item_with_its_file():
    files, manifest = db.layout('B1', HOSTS)
    paths = dict(files)
    assert manifest['mode'] == 'collect' and sorted(manifest['hosts']) == ['lab-gen1', 'lab-sink1']
    gen = manifest['hosts']['lab-gen1']['items']
    assert [i['name'] for i in gen] == ['uname', 'os_release', 'ss_mptcp', 'nstat', 'routes6', 'mptcp_info',
                                        'networkmanager']
    for item in gen:
        assert item['file'] in paths
    assert paths['B1/lab-gen1/uname.txt'].startswith('Linux gen')
    assert json.loads(paths['B1/lab-gen1/mptcp_info.json'])['limits']['subflows'] == 2
    assert manifest['hosts']['lab-sink1'] == {'error': 'unreachable', 'items': []}


def test_layout_in_reproduce_mode_separates_before_after_and_the_monitor():
    hosts = {'h1': {'collect': [{'phase': 'before', 'items': [_item('nstat', 'a')]},
                                {'phase': 'after', 'items': [_item('nstat', 'b')]}],
                    'monitor': {'output': '[CREATED] token=1\n', 'events': 1, 'argv': ['ip', 'mptcp', 'monitor'],
                                'stopped_by': 'stopped', 'exit_status': -15}}}
    files, manifest = db.layout('B2', hosts, reproduce=True)
    paths = dict(files)
    assert paths['B2/h1/before/nstat.txt'] == 'a' and paths['B2/h1/after/nstat.txt'] == 'b'
    assert paths['B2/h1/ip_mptcp_monitor.txt'].startswith('[CREATED]')
    monitor = [i for i in manifest['hosts']['h1']['items'] if i['name'] == 'ip_mptcp_monitor'][0]
    assert monitor['events'] == 1 and monitor['stopped_by'] == 'stopped'


@pytest.mark.parametrize('bad', ['../x', 'a/b', '', '.', '-x'])
def test_unsafe_names_are_refused(bad):
    with pytest.raises(db.BundleError, match='must be 1-253'):
        db.layout(bad, {})
    with pytest.raises(db.BundleError, match='hosts: must be 1-253'):
        db.layout('ok', {bad: {}})


def test_summary_is_one_page_with_the_facts_of_the_bug_form():
    files, manifest = db.layout('B1', HOSTS)
    text = db.summary('B1', HOSTS, manifest, '2026-12-06T00:00:00Z')
    assert 'kernel:    Linux gen 6.18.0' in text
    assert 'os:        Debian GNU/Linux 12 (bookworm)' in text
    assert 'path_manager=kernel' in text and 'limits:    subflows 2, add_addr_accepted 1' in text
    assert 'endpoints: 10.0.0.2 id 1 subflow dev p1' in text
    assert 'ss -M:     1 MPTCP socket(s)' in text
    assert 'MPTcpExt:  MPCapableSYNTX=3 MPJoinSynTx=2' in text
    assert 'not collected: routes6 (rc 2)' in text
    assert '== lab-sink1\n   no data: unreachable' in text
    assert len(text.splitlines()) < 40


def test_write_archive_is_atomic_and_readable(tmp_path):
    dest = str(tmp_path / 'b.tar.gz')
    size = db.write_archive(dest, [('B/a.txt', 'hello'), ('B/manifest.json', '{}')], mtime=0)
    assert size == os.path.getsize(dest)
    assert sorted(os.listdir(str(tmp_path))) == ['b.tar.gz']
    with tarfile.open(dest) as tar:
        assert tar.getnames() == ['B/a.txt', 'B/manifest.json']
        assert tar.extractfile('B/a.txt').read() == b'hello'


def test_guard_is_visible_only_for_a_live_process_of_this_boot_and_pid_namespace():
    me = gp.guard_of(os.getpid())
    assert gp.guard_visible(me)
    assert not gp.guard_visible(dict(me, boot_id='another-boot'))
    assert not gp.guard_visible(dict(me, pid_ns='pid:[1]'))
    assert not gp.guard_visible(dict(me, starttime=me['starttime'] + 1))  # the pid was reused
    assert not gp.guard_visible({}) and not gp.guard_visible(None)


def test_tcpdump_argv_and_stats():
    assert pc.tcpdump_argv('/usr/bin/tcpdump', 'p1', '/x/a.pcap') == [
        '/usr/bin/tcpdump', '-i', 'p1', '-s', '150', '-n', '--immediate-mode', '-Z', 'root', '-w', '/x/a.pcap', 'tcp']
    assert pc.file_name('001-mptcp-rep1', 'sink', 'mlab-p1') == '001-mptcp-rep1.sink.mlab-p1.pcap'
    assert pc.file_name('a/b', 'x y', '../p') == 'a_b.x_y..._p.pcap'  # never a path
    stats = pc.parse_stats('tcpdump: listening on p1\n120 packets captured\n130 packets received by filter\n'
                           '4 packets dropped by kernel\n')
    assert stats == {'captured': 120, 'received': 130, 'dropped': 4}
    assert pc.parse_stats('') == {'captured': None, 'received': None, 'dropped': None}


def _pcap(frames, linktype=1):
    out = struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 150, linktype)
    for frame in frames:
        out += struct.pack('<IIII', 0, 0, len(frame), len(frame)) + frame
    return out


def _tcp_frame(flags, options):
    opts = options + b'\x00' * (-len(options) % 4)
    tcp = struct.pack('!HHIIBBHHH', 40000, 5201, 1, 0, (5 + len(opts) // 4) << 4, flags, 65535, 0, 0) + opts
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(tcp), 0, 0, 64, 6, 0, b'\x0a\x00\x00\x02',
                     b'\x0a\x00\x01\x02')
    return b'\x00' * 12 + b'\x08\x00' + ip + tcp


def test_pcap_reader_counts_mptcp_options(tmp_path):
    mp_capable = b'\x1e\x04\x01\x01'            # kind 30, len 4, subtype 0 (MP_CAPABLE), version 1
    mp_join = b'\x1e\x0c\x10\x01' + b'\x00' * 8   # subtype 1 (MP_JOIN)
    dss = b'\x1e\x04\x20\x00'                    # subtype 2 (DSS)
    path = tmp_path / 'x.pcap'
    path.write_bytes(_pcap([_tcp_frame(0x02, b'\x02\x04\x05\xb4' + mp_capable),  # SYN, MSS, MP_CAPABLE
                            _tcp_frame(0x02, b'\x01\x01' + mp_join),               # SYN, NOPs, MP_JOIN
                            _tcp_frame(0x10, dss), _tcp_frame(0x10, b'')]))
    counts = pc.mptcp_options(str(path))
    assert counts['packets'] == 4 and counts['tcp'] == 4
    assert counts['options'] == {'MP_CAPABLE': 1, 'MP_JOIN': 1, 'DSS': 1}
    assert counts['syn_mp_capable'] == 1 and counts['syn_mp_join'] == 1
    assert counts['ports'] == [(40000, 5201)]
    bad = tmp_path / 'bad.pcap'
    bad.write_bytes(b'not a pcap file at all, no')
    with pytest.raises(ValueError, match='not a pcap file'):
        pc.mptcp_options(str(bad))
