"""The VM lab's plan: NICs, ports, MACs, the guest's init script (pure logic)."""

import struct
import subprocess

import pytest

from ansible_collections.mptcp.lab.plugins.module_utils.lab import lab_plan
from ansible_collections.mptcp.lab.plugins.module_utils.lab import lab_vm

VMS = [{'name': 'mvm-shaper', 'ssh_port': 47024, 'cpus': 1, 'memory_mb': 512},
       {'name': 'mvm-gen1', 'ssh_port': 47022, 'cpus': 1, 'memory_mb': 512},
       {'name': 'mvm-sink1', 'ssh_port': 47023, 'cpus': 2, 'memory_mb': 1024}]
LINKS = lab_plan.wiring([{'pair': 1, 'generator': 'mvm-gen1', 'sink': 'mvm-sink1'}], 'mvm-shaper', 2,
                        prefix='mvm')['links']
TAR = {'path': '/var/lib/mptcp-lab/mvm/guest-python.tar', 'python': 'python3.11'}


def test_every_link_is_a_dgram_pair_whose_ends_point_at_each_other():
    plan = lab_vm.plan('mvm', VMS, LINKS, 47100)
    assert [n['dev'] for n in plan['mvm-shaper']['nics']] == ['mvm-1g1', 'mvm-1s1', 'mvm-1g2', 'mvm-1s2']
    assert [n['dev'] for n in plan['mvm-gen1']['nics']] == ['mvm-p1', 'mvm-p2']
    ends = {}
    for vm in plan.values():
        for nic in vm['nics']:
            ends[nic['local_port']] = (vm['name'], nic['dev'], nic['remote_port'])
    assert sorted(ends) == list(range(47100, 47108))
    for port, (_unused, _unused2, remote) in ends.items():
        assert ends[remote][2] == port
    # path 1 of the generator faces the shaper's generator-side NIC of path 1
    gen_p1 = plan['mvm-gen1']['nics'][0]
    assert ends[gen_p1['remote_port']][:2] == ('mvm-shaper', 'mvm-1g1')
    assert gen_p1['peer'] == 'mvm-shaper:mvm-1g1'


def test_macs_are_unique_and_locally_administered():
    plan = lab_vm.plan('mvm', VMS, LINKS, 47100)
    macs = [vm['mgmt_mac'] for vm in plan.values()] + [n['mac'] for vm in plan.values() for n in vm['nics']]
    assert len(set(macs)) == len(macs) == 3 + 8
    assert all(int(m.split(':')[0], 16) & 2 for m in macs)


def test_qemu_opts_forward_ssh_on_loopback_only_and_list_every_nic():
    vm = lab_vm.plan('mvm', VMS, LINKS, 47100)['mvm-gen1']
    opts = lab_vm.qemu_opts(vm)
    assert opts[1] == 'user,id=mgmt,restrict=on,hostfwd=tcp:127.0.0.1:47022-:22'
    assert opts.count('-netdev') == 3 and opts.count('-device') == 3
    assert 'local.port=%d,' % vm['nics'][0]['local_port'] in opts[5]
    assert opts[5].endswith('remote.port=%d' % vm['nics'][0]['remote_port'])


@pytest.mark.parametrize('vms, links, base, match', [
    ([dict(VMS[0], name='other-gen1')] + VMS[1:], LINKS, 47100, r'vms\[0\]\.name: must start with "mvm-"'),
    ([VMS[0], dict(VMS[1], ssh_port=47024), VMS[2]], LINKS, 47100, r'vms\[1\]\.ssh_port .*used by another VM'),
    ([VMS[0], dict(VMS[1], cpus=0), VMS[2]], LINKS, 47100, r'vms\[1\]\.cpus \(mvm-gen1\): must be an integer'),
    ([VMS[0], dict(VMS[1], memory_mb='1G'), VMS[2]], LINKS, 47100, r'vms\[1\]\.memory_mb'),
    (VMS[:2], LINKS, 47100, r'links\[1\]\.peer_netns: .mvm-sink1. is not one of the VMs'),
    (VMS, LINKS, 47020, r'port_base: link ports 47022-47023 overlap an ssh_port'),
    (VMS, LINKS, 80, r'port_base: must be an integer in \[1024'),
    (VMS, [dict(LINKS[0], name='mgmt')] + LINKS[1:], 47100, r'links\[0\]\.name: must be an interface name'),
])
def test_bad_input_names_the_field(vms, links, base, match):
    with pytest.raises(lab_vm.VmPlanError, match=match):
        lab_vm.plan('mvm', vms, links, base)


@pytest.mark.parametrize('path', ['/tmp/k/bzImage', '/run/x', '/var/cache/mptcp-lab/k', 'relative/bzImage'])
def test_paths_the_guest_cannot_see_are_refused(path):
    with pytest.raises(lab_vm.VmPlanError, match='kernel.image'):
        lab_vm.check_visible(path, 'kernel.image')


def test_visible_path_is_kept():
    assert lab_vm.check_visible('/var/lib/mptcp-lab/kernels/x/', 'kernel.image') == '/var/lib/mptcp-lab/kernels/x'


def test_guest_init_is_valid_sh_and_quotes_every_value():
    vm = lab_vm.plan('mvm', VMS, LINKS, 47100)['mvm-gen1']
    text = lab_vm.guest_init(vm, "/var/lib/it's here", TAR, '/var/lib/mptcp-lab/mvm/sshd_config')
    assert subprocess.run(['sh', '-n'], input=text.encode(), check=False).returncode == 0
    assert "MODROOT='/var/lib/it'\\''s here'" in text
    assert "'52:54:00:6d:01:01') ip link set dev \"$n\" name 'mvm-p1' ;;" in text
    assert 'for dev in \'mvm-p1\' \'mvm-p2\'; do ip link set dev "$dev" up; done' in text
    assert "tar -C \"$R/py\" -xf '/var/lib/mptcp-lab/mvm/guest-python.tar'" in text
    assert '/py/bin/%s' in text and "\"$R\" \"$R\" \"$R\" 'python3.11' > \"$R/python\"" in text
    assert text.rstrip().endswith("exec /usr/sbin/sshd -D -e -f '/var/lib/mptcp-lab/mvm/sshd_config'")


def _bzimage(version):
    data = bytearray(0x4000)
    data[0x202:0x206] = b'HdrS'
    struct.pack_into('<H', data, 0x20E, 0x3000 - 0x200)
    text = version.encode() + b'\0'
    data[0x3000:0x3000 + len(text)] = text
    return bytes(data)


def test_kernel_release_from_the_setup_header():
    image = _bzimage('6.12.115+deb12-amd64 (debian-kernel@lists.debian.org) #1 SMP')
    assert lab_vm.kernel_release(image) == '6.12.115+deb12-amd64'
    assert lab_vm.kernel_release(b'\0' * 0x300) is None


def test_config_options_keep_the_lab_relevant_ones():
    text = 'CONFIG_MPTCP=y\n# CONFIG_NET_SCH_NETEM is not set\nCONFIG_NET_SCH_TBF=m\nCONFIG_OTHER=y\n'
    found = lab_vm.config_options(text)
    assert found['CONFIG_MPTCP'] == 'y' and found['CONFIG_NET_SCH_TBF'] == 'm'
    assert found['CONFIG_NET_SCH_NETEM'] is None
    assert 'CONFIG_OTHER' not in found
