"""Progress lines and ETA of the perf_progress callback."""

from ansible_collections.mptcp.lab.plugins.callback import perf_progress as cb


class Clock(object):
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def plan(n=4, planned=10):
    return [{'k': k, 'test': 't%d' % (k % 2), 'rep': (k + 1) // 2, 'reps': 2, 'planned_s': planned}
            for k in range(1, n + 1)]


def test_format_eta():
    assert cb.format_eta(0) == '00:00'
    assert cb.format_eta(59.6) == '01:00'
    assert cb.format_eta(754) == '12:34'
    assert cb.format_eta(3725) == '1:02:05'
    assert cb.format_eta(-3) == '00:00'


def test_first_line_uses_the_plan_then_the_measured_pace():
    clock = Clock()
    p = cb.Progress(plan(), clock=clock)
    # before anything ran: 40 s planned + 1 s overhead guess per measurement
    assert p.line(1) == '[1/4] t1 rep 1/2 \u2014 ETA 00:44'
    clock.now += 12.0                       # the first 10 s measurement took 12 s
    assert p.finished({'k': 1}) == 2
    assert p.line(2) == '[2/4] t0 rep 1/2 \u2014 ETA 00:36'      # 30 s planned x 1.2
    clock.now += 11.0
    assert p.finished({'k': 2}) == 3
    assert p.eta(3) == 20 * (23.0 / 20)
    clock.now += 10.0
    p.finished({'k': 3})
    assert p.finished({'k': 4}) is None


def test_measure_actions():
    assert 'mptcp.lab.perf_measure' in cb.MEASURE_ACTIONS


class FakeDisplay(object):
    def __init__(self):
        self.lines = []

    def display(self, msg, **kwargs):
        self.lines.append(msg)


class FakeTask(object):
    action = 'mptcp.lab.perf_measure'


class FakeResult(object):
    def __init__(self, result, task=None):
        self._result = result
        self._task = task or FakeTask()


def test_callback_prints_before_each_measurement_and_ignores_skips():
    module = cb.CallbackModule()
    module._display = FakeDisplay()
    items = plan(3, planned=5)
    for i, item in enumerate(items):
        item['seg_last'] = i == len(items) - 1
    module.v2_runner_on_ok(FakeResult({'perf_plan': items}))
    module.v2_playbook_on_task_start(FakeTask(), False)
    assert module._display.lines == ['[1/3] t1 rep 1/2 \u2014 ETA 00:18']
    # the sink skips every item of the loop: no progress from that
    for item in items:
        module.v2_runner_item_on_skipped(FakeResult({'item': item, 'ansible_loop_var': 'item'}))
    assert len(module._display.lines) == 1
    module.v2_runner_item_on_ok(FakeResult({'item': items[0], 'ansible_loop_var': 'item'}))
    assert module._display.lines[-1].startswith('[2/3] t0 rep 1/2')
    module.v2_runner_item_on_failed(FakeResult({'item': items[1], 'ansible_loop_var': 'item'}))
    assert module._display.lines[-1].startswith('[3/3] t1 rep 2/2')
    module.v2_runner_item_on_ok(FakeResult({'item': items[2], 'ansible_loop_var': 'item'}))
    assert len(module._display.lines) == 3          # nothing after the last one


def test_exit_status_42_only_when_the_verdict_is_the_one_failure():
    status = cb.ExitStatus()
    assert status.code() is None
    status.saw_outcome({'code': 42, 'message': 'm'})
    assert status.code() is None                      # no failure: the playbook did not fail it
    status.failed('ansible.builtin.fail')
    assert status.code() == 42
    status.failed('mptcp.lab.lab_lease')              # something else failed too: an error
    assert status.code() is None


def test_exit_status_keeps_an_earlier_error():
    status = cb.ExitStatus()
    status.failed('mptcp.lab.perf_results')
    status.saw_outcome({'code': 42})
    status.failed('ansible.builtin.fail')
    assert status.code() is None
    zero = cb.ExitStatus()
    zero.saw_outcome({'code': 0})
    zero.failed('ansible.builtin.fail')
    assert zero.code() is None
