"""path_shaping: the wanted qdiscs and validation (pure logic)."""

import pytest

from ansible_collections.mptcp.lab.plugins.module_utils.lab import lab_netlink as nl
from ansible_collections.mptcp.lab.plugins.modules import path_shaping as ps


def test_default_burst_is_two_frames_or_one_millisecond():
    assert ps.default_burst(1) == 2 * 1514
    assert ps.default_burst(50) == 6250
    assert ps.default_burst(1000) == 125000


def test_tbf_wanted_matches_the_kernel_units():
    want = ps.wanted({'dev': 'x', 'rate_mbit': 50}, 'tbf', None, None)
    assert want['root'] == {'kind': 'tbf', 'rate': 6250000, 'buffer': nl.psched_ticks(6250, 6250000),
                            'limit': 6250000 * 100 // 1000 + 6250}
    assert want['class'] is None and want['leaf'] is None
    custom = ps.wanted({'dev': 'x', 'rate_mbit': 10}, 'tbf', 3028, 5)
    assert custom['root']['limit'] == 1250000 * 5 // 1000 + 3028


def test_htb_wanted_has_a_class_and_a_pfifo_leaf_sized_from_queue_ms():
    want = ps.wanted({'dev': 'x', 'rate_mbit': 50}, 'htb', None, 20)
    assert want['root'] == {'kind': 'htb'}
    assert want['class']['rate'] == want['class']['ceil'] == 6250000
    assert want['leaf'] == {'kind': 'pfifo', 'limit': 83}   # 125000 bytes / 1514


def test_netem_leaf_when_delay_loss_or_queue_limit():
    want = ps.wanted({'dev': 'x', 'rate_mbit': 10, 'delay_ms': 10, 'loss_pct': 1}, 'tbf', None, None)
    assert want['leaf']['kind'] == 'netem'
    assert want['leaf']['limit'] == 1000
    assert want['leaf']['loss'] == nl.tc_common.percent2u32(1)
    assert ps.needs_netem({'queue_limit': 10}) and not ps.needs_netem({'rate_mbit': 1, 'delay_ms': None})


def test_unshaped_wants_the_kernels_default_or_netem_alone_as_the_labs_root():
    want = ps.wanted({'dev': 'x', 'rate_mbit': None}, 'tbf', 6250, 100)
    assert (want['root'], want['class'], want['leaf']) == (None, None, None)
    # the kernel's default root (read_current's None) is what an unshaped interface should carry
    assert ps.same({'root': None, 'class': None, 'leaf': None, 'root_handle': 0}, want)
    lab = ps.wanted({'dev': 'x', 'rate_mbit': 50}, 'tbf', None, None)
    assert not ps.same({'root': lab['root'], 'class': None, 'leaf': None, 'root_handle': ps.ROOT}, want)
    assert ps.describe({'dev': 'x', 'rate_mbit': None}, want, 'tbf') == 'default'
    for qdisc in ('tbf', 'htb'):
        netem = ps.wanted({'dev': 'x', 'rate_mbit': None, 'delay_ms': 10, 'loss_pct': 1}, qdisc, None, None)
        assert netem['root'] == {'kind': 'netem', 'latency': int(nl.tc_common.time2tick(10000)),
                                 'loss': nl.tc_common.percent2u32(1), 'limit': 1000}
        assert netem['class'] is None and netem['leaf'] is None
    assert ps.describe({'dev': 'x', 'rate_mbit': None, 'delay_ms': 10}, netem, 'tbf') == \
        'netem delay 10.0ms loss 0.0% limit 1000 (no rate limit)'
    assert ps.validate([{'dev': 'x', 'rate_mbit': None, 'delay_ms': None, 'loss_pct': None,
                         'queue_limit': None, 'label': None}], None, None) is None


def test_a_netem_root_at_the_labs_handle_is_the_labs(monkeypatch):
    options = {'limit': 1000, 'latency': 12, 'loss': 0}
    monkeypatch.setattr(nl, 'qdiscs', lambda ipr, index: [
        {'kind': 'netem', 'handle': ps.ROOT, 'parent': nl.TC_H_ROOT, 'options': dict(options)}])
    current = ps.read_current(None, 3)
    assert current['root'] == dict(options, kind='netem') and not ps.is_foreign(current)
    monkeypatch.setattr(nl, 'qdiscs', lambda ipr, index: [
        {'kind': 'netem', 'handle': 0x10000, 'parent': nl.TC_H_ROOT, 'options': dict(options)}])
    assert ps.is_foreign(ps.read_current(None, 3))


@pytest.mark.parametrize('devices, burst, queue, match', [
    ([{'dev': 'a', 'rate_mbit': 0}], None, None, r'devices\[0\].rate_mbit must be in'),
    ([{'dev': 'a', 'rate_mbit': 40000}], None, None, 'rate_mbit'),
    ([{'dev': 'a', 'rate_mbit': 'fast'}], None, None,
     r"devices\[0\].rate_mbit must be a number in \(0, 34000\] or null \(no rate limit\), got 'fast'"),
    ([{'dev': 'a', 'rate_mbit': True}], None, None, r'devices\[0\].rate_mbit must be a number'),
    ([{'dev': 'a', 'rate_mbit': float('nan')}], None, None, r'devices\[0\].rate_mbit must be a number'),
    ([{'dev': 'a', 'rate_mbit': 1, 'loss_pct': 120, 'label': 'lab_paths[3]'}], None, None, r'lab_paths\[3\].loss_pct'),
    ([{'dev': 'a', 'rate_mbit': 1}, {'dev': 'a', 'rate_mbit': 2}], None, None, 'listed twice'),
    ([], 1000, None, 'burst_bytes must be at least 1514'),
    ([], None, 0, 'queue_ms'),
])
def test_validate(devices, burst, queue, match):
    for item in devices:
        for key in ('delay_ms', 'loss_pct', 'queue_limit', 'label'):
            item.setdefault(key, None)
    assert ps.validate(devices, burst, queue) is not None
    assert pytest.importorskip('re').search(match, ps.validate(devices, burst, queue))


def test_same_compares_every_level():
    want = ps.wanted({'dev': 'x', 'rate_mbit': 50}, 'tbf', None, None)
    current = {'root': dict(want['root']), 'class': None, 'leaf': None}
    assert ps.same(current, want)
    current['root']['rate'] += 1
    assert not ps.same(current, want)
    assert not ps.same({'root': None, 'class': None, 'leaf': None}, want)


def test_describe():
    want = ps.wanted({'dev': 'x', 'rate_mbit': 50}, 'tbf', None, None)
    assert ps.describe({'rate_mbit': 50}, want, 'tbf') == 'tbf rate 50.0Mbit burst 6250b latency 100.0ms'
    assert ps.describe_current({'root': None}) == 'default'


def kernel_files(tmp_path, config=None, builtin=None, dep=None, loaded=False, modules_disabled=None):
    """A fake root with the files netem_static() reads; None leaves a file out."""
    import gzip
    if config is not None:
        (tmp_path / 'proc').mkdir(exist_ok=True)
        with gzip.open(str(tmp_path / 'proc' / 'config.gz'), 'wt') as handle:
            handle.write(config)
    modules = tmp_path / 'lib' / 'modules' / '6.1.0-test'
    for name, text in (('modules.builtin', builtin), ('modules.dep', dep)):
        if text is not None:
            modules.mkdir(parents=True, exist_ok=True)
            (modules / name).write_text(text)
    if loaded:
        (tmp_path / 'sys' / 'module' / 'sch_netem').mkdir(parents=True)
    if modules_disabled is not None:
        (tmp_path / 'proc' / 'sys' / 'kernel').mkdir(parents=True)
        (tmp_path / 'proc' / 'sys' / 'kernel' / 'modules_disabled').write_text(modules_disabled)
    return str(tmp_path)


DEP = 'kernel/net/sched/sch_netem.ko.xz:\nkernel/net/sched/sch_tbf.ko.xz:\n'


@pytest.mark.parametrize('files, available, certain', [
    (dict(loaded=True), True, True),
    (dict(config='CONFIG_NET_SCH_TBF=y\nCONFIG_NET_SCH_NETEM=y\n'), True, True),
    (dict(config='# CONFIG_NET_SCH_NETEM is not set\n', dep=DEP), False, True),
    (dict(config='CONFIG_NET_SCH_NETEM=m\n', dep=DEP), True, False),
    (dict(config='CONFIG_NET_SCH_NETEM=m\n', dep=DEP, modules_disabled='1\n'), False, True),
    (dict(builtin='kernel/net/sched/sch_netem.ko\n', dep=''), True, True),
    (dict(builtin='kernel/net/sched/sch_tbf.ko\n', dep='kernel/net/sched/sch_htb.ko:\n'), False, True),
    (dict(dep=DEP), True, False),
    (dict(dep='kernel/net/sched/sch_htb.ko:\n'), False, False),     # no modules.builtin: not sure
    (dict(), None, False),
])
def test_netem_static_reads_the_running_kernels_files(tmp_path, files, available, certain):
    got = ps.netem_static(kernel_files(tmp_path, **files), '6.1.0-test')
    assert got[0] is available and got[2] is certain and got[1]


def test_check_mode_never_probes(monkeypatch):
    def probe(*args, **kwargs):
        raise AssertionError('probed in check mode')
    monkeypatch.setattr(ps, 'qdisc_probe', probe)
    monkeypatch.setattr(ps, 'netem_static', lambda: (None, 'neither file is readable', False))
    assert ps.netem_support(True) == {'available': None,
                                      'how': 'unknown: not tried in check mode, neither file is readable'}
    monkeypatch.setattr(ps, 'netem_static', lambda: (True, 'loadable module (x/modules.dep)', False))
    assert ps.netem_support(True) == {'available': True,
                                      'how': 'loadable module (x/modules.dep), not tried in check mode'}


def test_the_run_probes_when_the_files_are_not_sure(monkeypatch):
    calls = []
    monkeypatch.setattr(ps, 'qdisc_probe', lambda kind, **options: calls.append(kind) or False)
    monkeypatch.setattr(ps, 'netem_static', lambda: (True, 'loadable module (x/modules.dep)', False))
    assert ps.netem_support(False)['available'] is False and calls == ['netem']
    monkeypatch.setattr(ps, 'netem_static', lambda: (False, 'CONFIG_NET_SCH_NETEM is not set', True))
    assert ps.netem_support(False) == {'available': False, 'how': 'CONFIG_NET_SCH_NETEM is not set'}
    assert calls == ['netem']


def test_foreign_root_is_described_with_its_handle():
    current = {'root': {'kind': 'fq', 'foreign': True}, 'class': None, 'leaf': None, 'root_handle': 0x80010000}
    assert ps.is_foreign(current) and ps.describe_current(current) == "fq 8001: (not the lab's)"
    assert not ps.is_foreign({'root': None}) and not ps.is_foreign({'root': {'kind': 'tbf', 'rate': 1}})
    assert ps.tc_handle(0x10001) == '1:1' and ps.tc_handle(0) == '0:'
    assert ps.tc_handle(ps.ROOT) == '1ab:' and ps.tc_handle(ps.CLASS) == '1ab:1'
    # the lab's handle is below the kernel's automatic handles (8000: to fffe:), never 1:
    assert ps.ROOT >> 16 < 0x8000 and ps.ROOT != 0x10000
    message = ps.foreign_message([('eth1', 'lab_paths[0]', 'fq 8001:')])
    assert message.startswith("devices: the root qdisc fq 8001: of eth1 (lab_paths[0]) is not the lab's")
    assert 'replace_foreign=true' in message and message.endswith('Nothing was changed.')
