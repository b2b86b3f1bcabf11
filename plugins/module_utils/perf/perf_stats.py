# -*- coding: utf-8 -*-
# Copyright: mptcp.lab developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Statistics for the perf verdict, in pure Python (no scipy).

The regression test is an exact two-sided Wilcoxon-Mann-Whitney rank-sum
test between the current run's repetition values and the pooled repetition
values of the baseline, combined with a minimum effect size on the change of
the medians and a guard against the run-to-run noise of the baseline (a
Student-t prediction interval of a new run's median). docs/statistics.md
explains the choice.

The exact null distribution is computed by dynamic programming over the
(mid)ranks, so it is exact with ties too (the permutation distribution of the
rank sum conditional on the tie pattern), and costs O(m * N * S) integer
operations rather than enumerating C(N, m) subsets.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math

# Above this many DP cell updates the normal approximation is used instead
# (never reached with the lab's sizes: 5 current vs <= 50 baseline values).
EXACT_BUDGET = 20000000

VERDICTS = ('pass', 'regression', 'improvement', 'no-baseline', 'invalid')


def median(values):
    """Median of a non-empty sequence of numbers."""
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        raise ValueError('median of an empty sequence')
    mid = n // 2
    if n % 2:
        return float(ordered[mid])
    return (ordered[mid - 1] + ordered[mid]) / 2.0


def summarize(values):
    """The DESIGN contract's summary of repetition values.

    Returns {values, median, mean, min, max, cv, n}; cv is the sample standard
    deviation over the mean, as a fraction, None when there is no spread to
    measure (fewer than 2 values) or the mean is 0. Empty input gives n=0 and None.
    """
    values = [float(v) for v in values]
    n = len(values)
    if n == 0:
        return {'values': [], 'median': None, 'mean': None, 'min': None,
                'max': None, 'cv': None, 'n': 0}
    mean = sum(values) / n
    cv = None
    if n > 1 and mean:
        cv = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) / mean
    return {'values': values, 'median': median(values), 'mean': mean,
            'min': min(values), 'max': max(values), 'cv': cv, 'n': n}


def doubled_midranks(values):
    """Twice the midrank of each value (integers, ties share their midrank)."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0] * len(values)
    i = 0
    n = len(values)
    while i < n:
        j = i
        while j + 1 < n and values[order[j + 1]] == values[order[i]]:
            j += 1
        # positions i..j (0-based) share ranks i+1..j+1; twice the mean is i+j+2
        for k in range(i, j + 1):
            ranks[order[k]] = i + j + 2
        i = j + 1
    return ranks


_NO_TIES = {}


def _rank_sum_distribution(ranks, m):
    """counts[s]: number of m-subsets of ``ranks`` whose sum is s."""
    total = sum(sorted(ranks, reverse=True)[:m])
    # table[k][s]: subsets of size k seen so far with sum s
    table = [[0] * (total + 1) for dummy in range(m + 1)]
    table[0][0] = 1
    seen = 0
    for r in ranks:
        seen += 1
        for k in range(min(seen, m), 0, -1):
            row, prev = table[k], table[k - 1]
            for s in range(total, r - 1, -1):
                c = prev[s - r]
                if c:
                    row[s] += c
    return table[m]


def _normal_sf(z):
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def mann_whitney(x, y):
    """Two-sided Wilcoxon-Mann-Whitney test of samples x and y.

    Returns a dict: u (the U statistic of x: how many (xi, yj) pairs have
    xi > yj, ties counting one half), p_value (two-sided), method ('exact' or
    'normal'), min_p (the smallest two-sided p-value these sample sizes and tie
    pattern can produce: if it exceeds alpha, no difference can ever be
    significant).
    """
    x = [float(v) for v in x]
    y = [float(v) for v in y]
    m, n = len(x), len(y)
    if m == 0 or n == 0:
        raise ValueError('mann_whitney needs two non-empty samples')
    ranks = doubled_midranks(x + y)
    big = len(ranks)
    # test on the smaller sample: the two-sided p-value is the same
    if m <= n:
        small_ranks, k = ranks[:m], m
    else:
        small_ranks, k = ranks[m:], n
    w2 = sum(ranks[:m])
    u = w2 / 2.0 - m * (m + 1) / 2.0
    w2_small = sum(small_ranks)
    centre2 = k * (big + 1)          # twice the mean rank sum
    dev = abs(w2_small - centre2)
    if k * big * (k * (big + 1)) <= EXACT_BUDGET:
        if len(set(ranks)) == big:
            # no ties: the distribution depends on the sizes alone (computed once per size)
            key = (big, k)
            if key not in _NO_TIES:
                _NO_TIES[key] = _rank_sum_distribution([2 * (i + 1) for i in range(big)], k)
            counts = _NO_TIES[key]
        else:
            counts = _rank_sum_distribution(ranks, k)
        total = math.comb(big, k) if hasattr(math, 'comb') else _comb(big, k)
        tail = 0
        extreme = 0
        max_dev = 0
        for s, c in enumerate(counts):
            if c:
                d = abs(s - centre2)
                if d >= dev:
                    tail += c
                if d > max_dev:
                    max_dev, extreme = d, c
                elif d == max_dev:
                    extreme += c
        return {'u': u, 'p_value': min(1.0, tail / total), 'method': 'exact',
                'min_p': min(1.0, extreme / total)}
    # normal approximation with tie correction (no continuity correction)
    mean_u = m * n / 2.0
    groups = {}
    for r in ranks:
        groups[r] = groups.get(r, 0) + 1
    tie_term = sum(t ** 3 - t for t in groups.values())
    var_u = m * n / 12.0 * ((big + 1) - tie_term / float(big * (big - 1)))
    if var_u <= 0:
        return {'u': u, 'p_value': 1.0, 'method': 'normal', 'min_p': 1.0}
    z = abs(u - mean_u) / math.sqrt(var_u)
    zmax = (m * n / 2.0) / math.sqrt(var_u)
    return {'u': u, 'p_value': min(1.0, 2 * _normal_sf(z)), 'method': 'normal',
            'min_p': min(1.0, 2 * _normal_sf(zmax))}


def _comb(n, k):
    if k < 0 or k > n:
        return 0
    k = min(k, n - k)
    result = 1
    for i in range(1, k + 1):
        result = result * (n - k + i) // i
    return result


def _betacf(a, b, x):
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-14:
            break
    return h


def _betainc(a, b, x):
    """Regularized incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                     + a * math.log(x) + b * math.log(1.0 - x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_sf(t, df):
    """Upper tail P(T > t) of Student's t with ``df`` degrees of freedom."""
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))
    return tail if t >= 0 else 1.0 - tail


_T_QUANTILES = {}


def t_quantile(p, df):
    """The p-quantile of Student's t (bisection on t_sf; 0 < p < 1; remembered)."""
    if not 0 < p < 1:
        raise ValueError('p must be between 0 and 1, got %r' % (p,))
    if (p, df) not in _T_QUANTILES:
        _T_QUANTILES[(p, df)] = _t_quantile(p, df)
    return _T_QUANTILES[(p, df)]


def _t_quantile(p, df):
    if p < 0.5:
        return -t_quantile(1 - p, df)
    lo, hi = 0.0, 1.0
    while t_sf(hi, df) > 1 - p:
        hi *= 2.0
    for dummy in range(200):
        mid = (lo + hi) / 2.0
        if t_sf(mid, df) > 1 - p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, hi):
            break
    return (lo + hi) / 2.0


def noise_guard_pct(runs, alpha, n_current=5):
    """Half-width (percent) of the prediction interval of a new run's median.

    ``runs`` are the repetition values of each baseline run. A new run with no
    real change has its median within +- t(1 - alpha/2, k - 1) * s *
    sqrt(1 + 1/k) of the mean of the k baseline run medians with probability
    1 - alpha, where s (in percent of that mean) is the larger of
      - the standard deviation of the k run medians: the lab's run-to-run
        noise, repetition noise included;
      - the floor the repetitions imply for the median of ``n_current``
        values, sqrt(pi / (2 n)) times their pooled within-run standard
        deviation: with few runs, their medians can agree by chance.
    None with fewer than 2 runs.
    """
    runs = [[float(v) for v in r] for r in runs if r]
    k = len(runs)
    if k < 2:
        return None
    medians = [median(r) for r in runs]
    centre = sum(medians) / float(k)
    if not centre:
        return None
    pct = [m / centre * 100.0 for m in medians]
    mean = sum(pct) / k
    s_between = math.sqrt(sum((v - mean) ** 2 for v in pct) / (k - 1))
    squares = 0.0
    dof = 0
    for r in runs:
        if len(r) > 1:
            m = sum(r) / len(r)
            squares += sum((v / centre * 100.0 - m / centre * 100.0) ** 2 for v in r)
            dof += len(r) - 1
    s_within = math.sqrt(squares / dof) if dof else 0.0
    floor = s_within * math.sqrt(math.pi / (2.0 * max(1, n_current)))
    return t_quantile(1 - alpha / 2.0, k - 1) * max(s_between, floor) * math.sqrt(1 + 1.0 / k)


def noise_guard_log(runs, alpha, n_current=5):
    """noise_guard_pct on the logarithm of the values: the guard in log-percent (100 x ln).

    Relative changes are what the verdict weighs, and on the log scale a run
    twice as slow and one half as slow are equally far from the centre, so a
    skewed metric (a latency tail, a CPU cost under other load) gets a guard
    as wide as its multiplicative spread. For a steady metric (a spread of a
    few percent) it is the linear guard to within a hundredth of itself. None
    with fewer than 2 runs or a value that is not positive (then the linear
    guard applies).
    """
    runs = [[float(v) for v in r] for r in runs if r]
    if len(runs) < 2 or any(v <= 0 for r in runs for v in r):
        return None
    logs = [[100.0 * math.log(v) for v in r] for r in runs]
    k = len(logs)
    medians = [median(r) for r in logs]
    mean = sum(medians) / k
    s_between = math.sqrt(sum((m - mean) ** 2 for m in medians) / (k - 1))
    squares = 0.0
    dof = 0
    for r in logs:
        if len(r) > 1:
            m = sum(r) / len(r)
            squares += sum((v - m) ** 2 for v in r)
            dof += len(r) - 1
    s_within = math.sqrt(squares / dof) if dof else 0.0
    floor = s_within * math.sqrt(math.pi / (2.0 * max(1, n_current)))
    return t_quantile(1 - alpha / 2.0, k - 1) * max(s_between, floor) * math.sqrt(1 + 1.0 / k)


def change_pct(baseline_median, current_median):
    """Relative change of the medians in percent (negative = lower; for throughput, slower)."""
    if not baseline_median:
        return None
    return (current_median - baseline_median) / baseline_median * 100.0


def predict_single(baseline, value):
    """Two-sided p of one new ``value`` against the ``baseline`` values (one per earlier run):
    Student's t of the prediction interval of a new observation,
    t = (value - mean) / (s sqrt(1 + 1/n)) with n - 1 degrees of freedom.

    Unlike a one-sample t-test of the baseline's mean against the value
    (whose standard error s / sqrt(n) shrinks with more runs, so that a
    change well inside the run-to-run noise becomes "significant"), this
    asks whether the value is one more run like the others. None when
    n < 2; p = 0 when every baseline value is equal and the value differs.
    """
    n = len(baseline)
    if n < 2:
        return None
    mean = sum(baseline) / float(n)
    s = math.sqrt(sum((v - mean) ** 2 for v in baseline) / (n - 1))
    if s == 0:
        return 1.0 if value == mean else 0.0
    t = (value - mean) / (s * math.sqrt(1 + 1.0 / n))
    return min(1.0, 2.0 * t_sf(abs(t), n - 1))


def _compare_single(result, baseline, value, alpha, min_effect_pct, better):
    """compare() of one current value against one value per earlier run (the prediction interval)."""
    p = predict_single(baseline, value)
    if p is None:
        result.update(verdict='no-baseline', reason='one current value needs at least 2 earlier runs to '
                                                    'judge it against (%d)' % len(baseline))
        return result
    n = len(baseline)
    mean = sum(baseline) / float(n)
    s = math.sqrt(sum((v - mean) ** 2 for v in baseline) / (n - 1))
    guard = (t_quantile(1 - alpha / 2.0, n - 1) * s * math.sqrt(1 + 1.0 / n) / abs(mean) * 100.0) if mean else None
    result.update(p_value=p, min_p=0.0, method='prediction-t', guard_pct=guard)
    change = result['change_pct']
    significant = p < alpha
    large = change is not None and abs(change) >= min_effect_pct
    if significant and large:
        worse = change < 0 if better == 'higher' else change > 0
        result['verdict'] = 'regression' if worse else 'improvement'
        result['reason'] = ('p = %.3g < %g (outside the %g%% prediction interval of %d earlier runs), '
                            '|change| = %.2f%% >= %g%%' % (p, alpha, 100 * (1 - alpha), n, abs(change), min_effect_pct))
    else:
        result['verdict'] = 'pass'
        if not significant:
            result['reason'] = 'within the %g%% prediction interval of %d earlier runs (p = %.3g)' % (
                100 * (1 - alpha), n, p)
        else:
            result['reason'] = 'significant (p = %.3g) but |change| = %.2f%% < %g%%' % (
                p, abs(change or 0.0), min_effect_pct)
    return result


def compare(baseline, current, alpha=0.05, min_effect_pct=1.5, baseline_runs=None, better='higher',
            single=False):
    """The verdict of ``current`` repetition values against ``baseline`` ones.

    A change is flagged only when it is
      1. significant against the repetition noise: exact two-sided
         Mann-Whitney U on the values, p < alpha;
      2. large enough to matter: |change of medians| >= min_effect_pct;
      3. beyond the run-to-run noise of the baseline, when ``baseline_runs``
         (the values of each baseline run, two runs or more) are given:
         |change| >= noise_guard_pct(baseline_runs, alpha, len(current)).
    Then it is a 'regression' when the metric moved the wrong way (down when
    ``better`` is 'higher', as throughput; up when it is 'lower', as CPU cost
    or latency), an 'improvement' when it moved the right way; otherwise
    'pass'. 'no-baseline' when there is no baseline or it is too small for
    any result to reach alpha. Every value of both sides equal is a 'pass'
    (no change, whatever the sample sizes).

    With ``single`` (a metric measured once per run, as an upstream-format
    suite's), one current value is judged against one value per earlier run
    by the prediction interval instead (predict_single), where the rank test
    could not reach alpha with fewer than 2/alpha - 1 earlier runs.

    Returns a dict: verdict, reason, baseline_median, current_median,
    change_pct, p_value, n_baseline, n_current, min_p, method, guard_pct.
    """
    if not 0 < alpha < 1:
        raise ValueError('alpha must be between 0 and 1 (exclusive), got %r' % (alpha,))
    if min_effect_pct < 0:
        raise ValueError('min_effect_pct must be >= 0, got %r' % (min_effect_pct,))
    if better not in ('higher', 'lower'):
        raise ValueError("better must be 'higher' or 'lower', got %r" % (better,))
    baseline = [float(v) for v in baseline]
    current = [float(v) for v in current]
    result = {'verdict': None, 'reason': '', 'baseline_median': None,
              'current_median': median(current) if current else None,
              'change_pct': None, 'p_value': None, 'n_baseline': len(baseline),
              'n_current': len(current), 'min_p': None, 'method': None, 'guard_pct': None}
    if not current:
        result.update(verdict='invalid', reason='no valid repetition in the current run')
        return result
    if not baseline:
        result.update(verdict='no-baseline', reason='no valid earlier run of this test')
        return result
    result['baseline_median'] = median(baseline)
    result['change_pct'] = change_pct(result['baseline_median'], result['current_median'])
    if len(set(baseline + current)) == 1:
        result.update(verdict='pass', reason='no change: every value is %g' % current[0], p_value=1.0,
                      method='exact', min_p=1.0)
        return result
    if single and len(current) == 1:
        return _compare_single(result, baseline, current[0], alpha, min_effect_pct, better)
    test = mann_whitney(current, baseline)
    result.update(p_value=test['p_value'], min_p=test['min_p'], method=test['method'])
    if test['min_p'] >= alpha:
        result.update(verdict='no-baseline',
                      reason='%d current vs %d baseline values cannot reach p < %g '
                             '(smallest possible p = %.4f); add repetitions or baseline runs'
                      % (len(current), len(baseline), alpha, test['min_p']))
        return result
    change = result['change_pct']
    guard_log = noise_guard_log(baseline_runs or [], alpha, len(current))
    if guard_log is not None and result['baseline_median'] > 0 and result['current_median'] > 0:
        # the run-to-run noise on the log scale: the change, as a ratio, against it;
        # shown as the rise in percent it allows
        guard = 100.0 * math.expm1(guard_log / 100.0)
        beyond = abs(100.0 * math.log(result['current_median'] / result['baseline_median'])) >= guard_log
    else:
        guard = noise_guard_pct(baseline_runs or [], alpha, len(current))
        beyond = guard is None or (change is not None and abs(change) >= guard)
    result['guard_pct'] = guard
    significant = test['p_value'] < alpha
    large = change is not None and abs(change) >= min_effect_pct
    if significant and large and beyond:
        worse = change < 0 if better == 'higher' else change > 0
        result['verdict'] = 'regression' if worse else 'improvement'
        result['reason'] = 'p = %.3g < %g, |change| = %.2f%% >= %g%%' % (
            test['p_value'], alpha, abs(change), min_effect_pct)
        if guard is not None:
            result['reason'] += ' and >= run-to-run noise %.2f%%' % guard
    else:
        result['verdict'] = 'pass'
        if not significant:
            result['reason'] = 'not significant (p = %.3g >= %g)' % (test['p_value'], alpha)
        elif not large:
            result['reason'] = 'significant (p = %.3g) but |change| = %.2f%% < %g%%' % (
                test['p_value'], abs(change or 0.0), min_effect_pct)
        else:
            result['reason'] = ('|change| = %.2f%% is within the run-to-run noise of the baseline '
                                '(%.2f%%)' % (abs(change), guard))
    return result


def wilson_interval(successes, trials, z=1.959963984540054):
    """Wilson score interval (95% by default) for a binomial proportion."""
    if trials <= 0:
        return (0.0, 1.0)
    p = successes / float(trials)
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4.0 * trials * trials)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))
