"""Statistics of the perf verdict, checked against values computed independently."""

import itertools
import random
from fractions import Fraction

import pytest

from ansible_collections.mptcp.lab.plugins.module_utils.perf import perf_stats
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_stats import (
    compare, doubled_midranks, mann_whitney, median, noise_guard_pct, summarize, t_quantile, t_sf,
    wilson_interval)


def brute_force_p(x, y):
    """Two-sided exact p-value by enumerating every relabelling (independent check)."""
    pooled = list(x) + list(y)
    ranks = doubled_midranks(pooled)
    m, big = len(x), len(pooled)
    centre = m * (big + 1)
    observed = abs(sum(ranks[:m]) - centre)
    hits = total = 0
    for subset in itertools.combinations(range(big), m):
        total += 1
        if abs(sum(ranks[i] for i in subset) - centre) >= observed:
            hits += 1
    return Fraction(hits, total)


def test_median_and_summary():
    assert median([3, 1, 2]) == 2.0
    assert median([4, 1, 3, 2]) == 2.5
    s = summarize([10.0, 12.0, 14.0])
    assert s['n'] == 3 and s['median'] == 12.0 and s['mean'] == 12.0
    assert s['min'] == 10.0 and s['max'] == 14.0
    assert s['cv'] == pytest.approx(2.0 / 12.0)      # sample stdev 2 over mean 12
    assert summarize([5.0])['cv'] is None                # no spread to measure in one value
    assert summarize([])['n'] == 0 and summarize([])['median'] is None
    with pytest.raises(ValueError):
        median([])


def test_midranks_share_ties():
    # values 1, 2, 2, 3 -> ranks 1, 2.5, 2.5, 4 -> doubled 2, 5, 5, 8
    assert doubled_midranks([2, 1, 3, 2]) == [5, 2, 8, 5]
    assert doubled_midranks([7, 7, 7]) == [4, 4, 4]


@pytest.mark.parametrize('x, y, u, p', [
    # n1 = n2 = 5, no ties: P(U <= u) = count / C(10, 5) = count / 252, doubled
    ([1, 2, 3, 4, 5], [6, 7, 8, 9, 10], 0, Fraction(2, 252)),
    ([1, 2, 3, 4, 6], [5, 7, 8, 9, 10], 1, Fraction(4, 252)),
    ([1, 2, 3, 5, 6], [4, 7, 8, 9, 10], 2, Fraction(8, 252)),
    ([1, 2, 4, 5, 6], [3, 7, 8, 9, 10], 3, Fraction(14, 252)),
    # n1 = 3, n2 = 4 complete separation: 2 / C(7, 3)
    ([1, 2, 3], [4, 5, 6, 7], 0, Fraction(2, 35)),
    # identical samples: p = 1
    ([5, 5, 5], [5, 5, 5], 4.5, Fraction(1)),
])
def test_mann_whitney_known_values(x, y, u, p):
    result = mann_whitney(x, y)
    assert result['method'] == 'exact'
    assert result['u'] == u
    assert result['p_value'] == pytest.approx(float(p), abs=1e-12)


def test_smallest_p_of_five_against_five_is_0_0079():
    assert mann_whitney([1, 2, 3, 4, 5], [6, 7, 8, 9, 10])['min_p'] == pytest.approx(2 / 252.0)
    # five current values against 25 pooled baseline values: 2 / C(30, 5)
    assert mann_whitney(range(5), range(10, 35))['min_p'] == pytest.approx(2 / 142506.0)


@pytest.mark.parametrize('seed', range(40))
def test_mann_whitney_matches_enumeration_with_ties(seed):
    rng = random.Random(seed)
    m, n = rng.randint(1, 6), rng.randint(1, 7)
    # few distinct values, so ties are frequent
    x = [rng.choice([90, 91, 91.5, 92, 93]) for dummy in range(m)]
    y = [rng.choice([90, 91, 92, 92.5, 93, 94]) for dummy in range(n)]
    assert mann_whitney(x, y)['p_value'] == pytest.approx(float(brute_force_p(x, y)), abs=1e-12)


def test_mann_whitney_is_symmetric():
    first, second = [10.1, 9.8, 10.4, 10.0], [9.1, 9.5, 9.7, 9.9, 10.0, 9.6]
    a, b = mann_whitney(first, second), mann_whitney(second, first)
    assert a['p_value'] == pytest.approx(b['p_value'])
    assert a['u'] + b['u'] == len(first) * len(second)


def test_normal_approximation_is_close_to_exact(monkeypatch):
    rng = random.Random(7)
    x = [rng.gauss(100, 1) for dummy in range(12)]
    y = [rng.gauss(101, 1) for dummy in range(30)]
    exact = mann_whitney(x, y)
    monkeypatch.setattr(perf_stats, 'EXACT_BUDGET', 0)
    approx = mann_whitney(x, y)
    assert approx['method'] == 'normal'
    assert approx['p_value'] == pytest.approx(exact['p_value'], abs=0.01)


def test_mann_whitney_rejects_empty():
    with pytest.raises(ValueError):
        mann_whitney([], [1.0])


BASE = [100.0, 100.4, 99.7, 100.2, 99.9] * 3


def test_compare_flags_a_three_percent_drop():
    v = compare(BASE, [97.1, 96.9, 97.3, 97.0, 96.8])
    assert v['verdict'] == 'regression'
    assert v['change_pct'] == pytest.approx((97.0 - 100.0) / 100.0 * 100)
    assert v['p_value'] < 0.05 and v['n_baseline'] == 15 and v['n_current'] == 5


def test_compare_flags_improvements_as_information():
    assert compare(BASE, [103.0, 103.2, 102.9, 103.1, 103.3])['verdict'] == 'improvement'


def test_compare_ignores_significant_but_tiny_drift():
    # every current value below every baseline value (p tiny) but only -0.8%
    v = compare(BASE, [99.2, 99.3, 99.1, 99.25, 99.15])
    assert v['p_value'] < 0.001
    assert v['verdict'] == 'pass' and 'significant' in v['reason']


def test_compare_ignores_large_but_noisy_change():
    v = compare([100, 80, 120, 95, 110], [90, 70, 115, 100, 85])
    assert abs(v['change_pct']) >= 1.5 and v['p_value'] >= 0.05
    assert v['verdict'] == 'pass'


def test_compare_without_usable_baseline():
    assert compare([], [1.0, 2.0])['verdict'] == 'no-baseline'
    small = compare([100.0, 100.1], [90.0, 90.1, 90.2])
    assert small['verdict'] == 'no-baseline' and 'cannot reach' in small['reason']
    assert compare([1.0], [])['verdict'] == 'invalid'


@pytest.mark.parametrize('kwargs', [{'alpha': 0}, {'alpha': 1}, {'min_effect_pct': -1}])
def test_compare_validates_parameters(kwargs):
    with pytest.raises(ValueError):
        compare(BASE, BASE, **kwargs)


def test_wilson_interval():
    lo, hi = wilson_interval(95, 100)
    assert lo == pytest.approx(0.888, abs=0.001) and hi == pytest.approx(0.978, abs=0.001)
    lo, hi = wilson_interval(0, 20)
    assert lo == 0.0 and hi == pytest.approx(0.161, abs=0.001)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_false_alarm_rate_of_the_rule_is_bounded():
    """Simulated A/A comparisons at CV 1% (no run-to-run noise): false alarms far below 5%."""
    rng = random.Random(11)
    alarms = 0
    trials = 400
    for dummy in range(trials):
        base = [rng.gauss(100, 1) for dummy in range(25)]
        cur = [rng.gauss(100, 1) for dummy in range(5)]
        alarms += compare(base, cur)['verdict'] != 'pass'
    assert alarms / float(trials) <= 0.02


def test_power_of_the_rule_for_a_three_percent_drop():
    """Simulated A/B comparisons at CV 1%: a 3% drop is flagged in >= 95% of trials."""
    rng = random.Random(12)
    hits = 0
    trials = 400
    for dummy in range(trials):
        base = [rng.gauss(100, 1) for dummy in range(25)]
        cur = [rng.gauss(97, 0.97) for dummy in range(5)]
        hits += compare(base, cur)['verdict'] == 'regression'
    assert hits / float(trials) >= 0.95


@pytest.mark.parametrize('p, df, expected', [
    (0.975, 1, 12.7062), (0.975, 2, 4.3027), (0.975, 4, 2.7764), (0.975, 9, 2.2622),
    (0.995, 4, 4.6041), (0.95, 2, 2.9200), (0.975, 30, 2.0423), (0.025, 4, -2.7764)])
def test_t_quantile_matches_tables(p, df, expected):
    assert t_quantile(p, df) == pytest.approx(expected, abs=1e-4)


def test_t_sf():
    assert t_sf(0.0, 3) == pytest.approx(0.5)
    assert t_sf(2.0, 5) == pytest.approx(0.050970, abs=1e-6)
    assert t_sf(-2.0, 5) == pytest.approx(1 - 0.050970, abs=1e-6)


def test_noise_guard():
    assert noise_guard_pct([[100.0, 100.0]], 0.05) is None
    # run medians 99, 100, 101 and no spread within runs: s = 1% of their mean,
    # guard = t(0.975, 2) * 1 * sqrt(1 + 1/3)
    runs = [[99.0] * 5, [100.0] * 5, [101.0] * 5]
    assert noise_guard_pct(runs, 0.05) == pytest.approx(4.3027 * (4 / 3.0) ** 0.5, abs=1e-3)
    # identical medians, but repetitions spread +-1: the within-run floor applies
    flat = [[99.0, 101.0, 100.0, 99.0, 101.0]] * 4
    s_within = (4 / 4.0) ** 0.5             # each run: deviations -1, 1, 0, -1, 1 -> variance 1
    expected = 3.1824 * s_within * (3.14159265 / 10) ** 0.5 * (1 + 1 / 4.0) ** 0.5
    assert noise_guard_pct(flat, 0.05, n_current=5) == pytest.approx(expected, abs=1e-3)
    assert noise_guard_pct([[100.0] * 5] * 5, 0.05) == 0.0


def test_compare_respects_run_to_run_noise():
    current = [97.1, 96.9, 97.3, 97.0, 96.8]
    quiet = [[m + d for d in (-0.1, 0.0, 0.1, -0.05, 0.05)] for m in (100.0, 100.2, 99.9, 100.1, 99.8)]
    verdict = compare([v for r in quiet for v in r], current, baseline_runs=quiet)
    assert verdict['verdict'] == 'regression' and verdict['guard_pct'] < 1.0
    noisy = [[m + d for d in (-0.1, 0.0, 0.1, -0.05, 0.05)] for m in (100.0, 103.0, 97.5, 101.5, 98.0)]
    verdict = compare([v for r in noisy for v in r], current, baseline_runs=noisy)
    assert verdict['verdict'] == 'pass' and 'run-to-run noise' in verdict['reason']
    assert verdict['guard_pct'] > 3.0


def test_false_alarms_stay_bounded_with_run_to_run_noise():
    """Runs that differ by 1% (sd) on top of 1% repetition noise: the guard keeps false alarms <= 5%."""
    rng = random.Random(13)
    alarms = 0
    trials = 400
    for dummy in range(trials):
        runs = []
        for dummy2 in range(10):
            level = 100 * rng.gauss(1, 0.01)
            runs.append([level * rng.gauss(1, 0.01) for dummy3 in range(5)])
        level = 100 * rng.gauss(1, 0.01)
        cur = [level * rng.gauss(1, 0.01) for dummy3 in range(5)]
        base = [v for r in runs for v in r]
        verdict = compare(base, cur, baseline_runs=runs)['verdict']
        alarms += verdict != 'pass'
    assert alarms / float(trials) <= 0.07


def test_noise_guard_on_the_log_scale():
    """For a steady metric the log-scale guard is the linear one; for a skewed one it is the
    multiplicative spread, the same for a run twice as slow as for one half as slow."""
    from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_stats import noise_guard_log
    import math
    steady = [[m + d for d in (-0.2, 0.0, 0.2, -0.1, 0.1)] for m in (100.0, 100.8, 99.5, 100.3, 99.6)]
    linear = noise_guard_pct(steady, 0.05)
    assert 100 * math.expm1(noise_guard_log(steady, 0.05) / 100) == pytest.approx(linear, rel=0.01)
    skewed = [[40.0] * 5, [80.0] * 5, [20.0] * 5, [40.0] * 5]
    guard = noise_guard_log(skewed, 0.05)
    assert guard == pytest.approx(noise_guard_log([[1 / v for v in r] for r in skewed], 0.05))
    assert noise_guard_log([[0.0, 1.0], [1.0, 2.0]], 0.05) is None          # not positive: linear guard
    assert noise_guard_log([[1.0, 2.0]], 0.05) is None
    # compare: a 4x rise of a metric whose runs spread 4x either way is within the noise
    runs = [[v * f for f in (0.98, 1.0, 1.02, 0.99, 1.01)] for v in (40.0, 160.0, 10.0, 40.0, 80.0, 20.0)]
    verdict = compare([v for r in runs for v in r], [160.0, 161.0, 159.0, 158.0, 162.0], baseline_runs=runs,
                      better='lower')
    assert verdict['verdict'] == 'pass' and 'run-to-run noise' in verdict['reason']
