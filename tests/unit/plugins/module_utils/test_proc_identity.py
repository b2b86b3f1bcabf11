"""module_utils/process/proc_identity: a recorded pid is the same process only while its start time matches."""

import os
import subprocess
import sys
import time

import pytest

from ansible_collections.mptcp.lab.plugins.module_utils.process import proc_identity as procid

# field 2 (comm) holds spaces and parentheses; state S, ppid 1, utime 37, stime 215, starttime 987654
ODD_COMM = '4242 (a) Z 9 (b) c) S 1 4242 4242 0 -1 4194560 120 0 0 0 37 215 0 0 20 0 1 0 987654 1000 100\n'
# a name that makes a cut at the first ')' read a zombie (fits PR_SET_NAME's 15 bytes)
CRAFTED_NAME = 'a) Z 9 (b) c'


def _wait_for(predicate, timeout_s=5.0):
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, 'timed out'
        time.sleep(0.01)


def test_stat_fields_split_after_the_last_parenthesis():
    fields = procid.stat_fields(ODD_COMM)
    assert fields[procid.STATE] == 'S' and fields[procid.PPID] == '1'
    assert (fields[procid.UTIME], fields[procid.STIME], fields[procid.STARTTIME]) == ('37', '215', '987654')
    zombie = procid.stat_fields('1 (init) Z 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 55 0 0')
    assert zombie[procid.STATE] == 'Z' and zombie[procid.STARTTIME] == '55'


@pytest.mark.parametrize('text', ['', 'no command name here', '42 (short) S 1 2 3'])
def test_stat_fields_refuses_what_is_not_a_stat_line(text):
    with pytest.raises(ValueError):
        procid.stat_fields(text)


def test_a_fixture_proc_tree(tmp_path):
    (tmp_path / '4242').mkdir()
    (tmp_path / '4242' / 'stat').write_text(ODD_COMM)
    (tmp_path / '4343').mkdir()
    (tmp_path / '4343' / 'stat').write_text(ODD_COMM.replace(') S 1', ') Z 1'))
    proc = str(tmp_path)
    assert procid.start_time(4242, proc=proc) == 987654 and procid.running(4242, proc)
    assert procid.same_process(4242, 987654, proc) and procid.same_process(4242, '987654', proc)
    assert not procid.same_process(4242, 987655, proc) and not procid.same_process(4242, None, proc)
    assert procid.parent_pid(4242, proc) == 1
    assert procid.cpu_seconds(4242, proc) == pytest.approx(252.0 / os.sysconf('SC_CLK_TCK'))
    # a zombie has ended: no start time unless asked for, never the same process
    assert procid.start_time(4343, proc=proc) is None and not procid.running(4343, proc)
    assert procid.start_time(4343, include_zombie=True, proc=proc) == 987654
    assert not procid.same_process(4343, 987654, proc)
    # gone
    assert procid.read_stat(4444, proc) is None and procid.start_time(4444, include_zombie=True, proc=proc) is None
    assert procid.parent_pid(4444, proc) is None and procid.cpu_seconds(4444, proc) is None


def test_a_real_process_then_its_zombie_then_nothing():
    child = subprocess.Popen(['sleep', '30'])
    try:
        start = procid.start_time(child.pid)
        assert isinstance(start, int) and start >= procid.start_time(os.getpid())
        assert procid.running(child.pid) and procid.parent_pid(child.pid) == os.getpid()
        assert procid.same_process(child.pid, start) and procid.same_process(child.pid, str(start))
        assert not procid.same_process(child.pid, start + 1)           # a recycled pid: another start time
        assert not procid.same_process(child.pid, None)
        child.kill()                                                   # not reaped yet: a zombie
        _wait_for(lambda: procid.read_stat(child.pid)[procid.STATE] == 'Z')
        assert not procid.running(child.pid) and not procid.same_process(child.pid, start)
        assert procid.start_time(child.pid) is None
        assert procid.start_time(child.pid, include_zombie=True) == start
        assert procid.parent_pid(child.pid) == os.getpid() and procid.cpu_seconds(child.pid) is not None
    finally:
        child.kill()
        child.wait()
    assert procid.read_stat(child.pid) is None and procid.start_time(child.pid, include_zombie=True) is None
    assert not procid.running(child.pid) and not procid.same_process(child.pid, start)
    assert procid.parent_pid(child.pid) is None and procid.cpu_seconds(child.pid) is None


def test_a_command_name_with_spaces_and_parentheses():
    script = ('import ctypes, sys\n'
              'sys.stdin.readline()\n'
              'ctypes.CDLL(None).prctl(15, sys.argv[1].encode(), 0, 0, 0)\n'   # PR_SET_NAME
              'print("renamed", flush=True)\n'
              'sys.stdin.readline()\n')
    child = subprocess.Popen([sys.executable, '-c', script, CRAFTED_NAME],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, universal_newlines=True)
    try:
        start = procid.start_time(child.pid)
        child.stdin.write('\n')
        child.stdin.flush()
        assert child.stdout.readline() == 'renamed\n'
        with open('/proc/%d/stat' % child.pid) as f:
            text = f.read()
        assert '(%s)' % CRAFTED_NAME in text and text[text.index(')') + 2:].split()[0] == 'Z'
        assert procid.start_time(child.pid) == start
        assert procid.running(child.pid) and procid.same_process(child.pid, start)
        assert procid.parent_pid(child.pid) == os.getpid()
    finally:
        child.kill()
        child.wait()


def test_boot_id():
    with open('/proc/sys/kernel/random/boot_id') as f:
        assert procid.boot_id() == f.read().strip()
    assert len(procid.boot_id()) == 36
