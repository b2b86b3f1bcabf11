#!/usr/bin/env python
"""Detection power and false-alarm rate of the perf verdict, measured on the real lab.

What it does (as root, from the repository root):

  1. builds a throwaway virtual lab with its own prefix (mrp<random>) and its
     own inventory, two 50 Mbit/s paths (the default lab_paths);
  2. runs playbooks/perf.yml for real, again and again, with a small suite
     (TCP over path 1 and MPTCP over both paths, upload, cubic like the
     default suite, R <= 5 repetitions each): W warm-up runs of condition A,
     then B and A alternately, where B
     is the lab with every path's rate x 0.97 (an injected 3% slowdown);
  3. judges every run after the warm-up the way the verdict does by default
     (mptcp.lab's perf_stats.compare on the pooled values of the last N valid
     A runs, with their run medians for the run-to-run noise guard):
       - an A run against the A runs before it is an A/A trial: any flag
         (regression or improvement) is a false alarm;
       - a B run against the A runs before it is an A/B trial: a regression
         flag is a detection;
  4. prints the detection power and the false-alarm rate, per test and
     overall, with 95% Wilson intervals, plus the noise it saw (CV within runs,
     spread of run medians) and the machine's load; writes them to
     <out>/bench.json;
  5. tears the lab down, whatever happens (also on Ctrl-C or a time-out).

Its run time is bounded: --max-minutes (default 100) stops starting new runs
when the next one would not fit, and every playbook has a time-out.

    .venv/bin/python tests/benchmarks/bench_regression_power.py            # ~95 min
    .venv/bin/python tests/benchmarks/bench_regression_power.py --out DIR --warmup 0   # add trials to DIR
    .venv/bin/python tests/benchmarks/bench_regression_power.py --analyze /tmp/mrp.../results
    .venv/bin/python tests/benchmarks/bench_regression_power.py --simulate

--analyze only re-judges the runs of an earlier benchmark (no lab needed);
--simulate runs the decision rule on synthetic data for a grid of noise levels.
A/B runs have another test identity than A runs (their shaping differs), so
the history never mixes them: the production verdict of every A run in the
run records is the same A/A comparison, which the analysis cross-checks.
"""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, '.collections'))
sys.path.insert(0, os.path.join(ROOT, 'scripts'))

# pylint: disable=wrong-import-position
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_baseline import MIN_BASELINE_RUNS  # noqa: E402
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_record import (  # noqa: E402
    load_summary, normalize, parse_time)
from ansible_collections.mptcp.lab.plugins.module_utils.perf.perf_stats import (  # noqa: E402
    compare, median, wilson_interval)

VENV_BIN = os.path.dirname(sys.executable)
RATE = 50.0
SUITE = """---
name: power
description: regression power benchmark (TCP over path 1, MPTCP over both paths, upload)
defaults:
  duration_s: {duration}
  omit_s: 1
  repetitions: {repetitions}
  streams: 1
  congestion: {congestion}
tests:
  - name: tcp-up
    protocol: tcp
    paths: 1
    direction: upload
  - name: mptcp-up
    protocol: mptcp
    paths: all
    direction: upload
"""


class Stop(Exception):
    """Stop starting runs (time budget, signal)."""


def log(msg):
    sys.stdout.write('[%s] %s\n' % (time.strftime('%H:%M:%S'), msg))
    sys.stdout.flush()


def loadavg():
    with open('/proc/loadavg') as handle:
        return float(handle.read().split()[0])


def lab_paths(factor):
    return [{'rate_mbit': round(RATE * factor, 3)}, {'rate_mbit': round(RATE * factor, 3)}]


def playbook(inventory, name, extra, timeout):
    argv = [os.path.join(VENV_BIN, 'ansible-playbook'), '-i', inventory,
            os.path.join(ROOT, 'playbooks', name), '-e', json.dumps(extra)]
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'),
               PATH=VENV_BIN + os.pathsep + os.environ.get('PATH', ''))
    # Its own process group: on a signal or a timeout the whole playbook stops,
    # forked workers included, not only the ansible-playbook parent.
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except BaseException:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
                proc.wait(timeout=30)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
        proc.wait()
        raise
    return subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)


# ---------------------------------------------------------------- analysis

def load_runs(results_dir):
    """Every run record under results_dir, oldest first, with its condition."""
    runs = []
    loads = {}
    loads_file = os.path.join(os.path.dirname(os.path.abspath(results_dir)), 'loads.json')
    if os.path.exists(loads_file):
        with open(loads_file) as handle:
            loads = json.load(handle)
    for name in sorted(os.listdir(results_dir)):
        path = os.path.join(results_dir, name, 'summary.json')
        if name == 'latest' or not os.path.isfile(path):
            continue
        summary = load_summary(path)
        rate = (summary.get('lab_paths') or [{}])[0].get('rate_mbit')
        record = normalize(summary)
        runs.append({'run_id': summary['run_id'], 'started': parse_time(summary['started']),
                     'condition': 'A' if abs(float(rate) - RATE) < 1e-6 else 'B', 'rate': rate,
                     'summary': summary, 'record': record, 'load': loads.get(summary['run_id'])})
    runs.sort(key=lambda r: r['started'])
    return runs


def analyze(results_dir, baseline_runs=10, alpha=0.05, min_effect_pct=1.5, warmup=None):
    runs = load_runs(results_dir)
    warmup = baseline_runs if warmup is None else warmup
    trials = {}         # test -> {'AA': [flags], 'AB': [flags]}
    details = []
    mismatches = []
    a_runs = []
    for run in runs:
        by_name = dict((r['identity']['name'], r) for r in run['record']['results'])
        if len(a_runs) >= max(warmup, MIN_BASELINE_RUNS):
            for name, res in by_name.items():
                chosen = [(a['run_id'], dict((r['identity']['name'], r) for r in a['record']['results']).get(name))
                          for a in a_runs]
                chosen = [(rid, b) for rid, b in chosen if b is not None and b['valid']][-baseline_runs:]
                base = [b for dummy, b in chosen]
                if not res['valid'] or len(base) < MIN_BASELINE_RUNS:
                    continue
                values = [v for b in base for v in b['values']]
                verdict = compare(values, res['values'], alpha=alpha, min_effect_pct=min_effect_pct,
                                  baseline_runs=[b['values'] for b in base])
                kind = 'AA' if run['condition'] == 'A' else 'AB'
                flag = (verdict['verdict'] in ('regression', 'improvement') if kind == 'AA'
                        else verdict['verdict'] == 'regression')
                trials.setdefault(name, {'AA': [], 'AB': []})[kind].append(flag)
                details.append({'run_id': run['run_id'], 'test': name, 'kind': kind,
                                'verdict': verdict['verdict'], 'change_pct': verdict['change_pct'],
                                'p_value': verdict['p_value'], 'guard_pct': verdict['guard_pct'],
                                'cv': res['cv'], 'load': run['load']})
                if kind == 'AA':
                    # perf.yml's own verdict judged the same comparison when its baseline
                    # was the same runs (it is not when the history's identity of the test changed)
                    prod = [t for t in run['summary']['tests'] if t['name'] == name][0]
                    same = sorted((prod.get('baseline') or {}).get('runs') or []) == sorted(r for r, dummy in chosen)
                    if same and prod.get('verdict') != verdict['verdict']:
                        mismatches.append((run['run_id'], name, prod.get('verdict'), verdict['verdict']))
        if run['condition'] == 'A':
            a_runs.append(run)
    return runs, trials, details, mismatches


def rate_line(flags):
    k, n = sum(flags), len(flags)
    if not n:
        return 'no trial'
    lo, hi = wilson_interval(k, n)
    return '%d/%d = %.1f%% (95%% CI %.1f-%.1f%%)' % (k, n, 100.0 * k / n, 100 * lo, 100 * hi)


def noise(runs, name):
    rows = []
    for run in runs:
        for res in run['record']['results']:
            if res['identity']['name'] == name and res['valid']:
                rows.append((run['condition'], res))
    out = {}
    for cond in ('A', 'B'):
        meds = [r['median'] for c, r in rows if c == cond]
        cvs = [r['cv'] for c, r in rows if c == cond and r['cv'] is not None]
        if meds:
            centre = sum(meds) / len(meds)
            spread = (sum((m - centre) ** 2 for m in meds) / (len(meds) - 1)) ** 0.5 if len(meds) > 1 else 0.0
            out[cond] = {'runs': len(meds), 'median_of_medians': median(meds),
                         'median_cv_pct': 100 * median(cvs) if cvs else None,
                         'run_to_run_sd_pct': 100 * spread / centre if centre else None}
    if 'A' in out and 'B' in out:
        out['B_over_A'] = out['B']['median_of_medians'] / out['A']['median_of_medians']
    return out


def report(results_dir, out_json=None, **kwargs):
    runs, trials, details, mismatches = analyze(results_dir, **kwargs)
    loads = [r['load'] for r in runs if r['load']]
    print('\n=== regression power benchmark: %s' % results_dir)
    print('runs: %d (A %d, B %d); trials after the warm-up' % (
        len(runs), sum(r['condition'] == 'A' for r in runs), sum(r['condition'] == 'B' for r in runs)))
    if loads:
        print('machine load average during runs: min %.2f, median %.2f, max %.2f (2 cores)'
              % (min(l[0] for l in loads), median([l[0] for l in loads]), max(l[1] for l in loads)))
    summary = {'results_dir': results_dir, 'tests': {}, 'all': {}}
    all_aa, all_ab = [], []
    for name in sorted(trials):
        t = trials[name]
        all_aa += t['AA']
        all_ab += t['AB']
        n = noise(runs, name)
        print('\n%s' % name)
        for cond in ('A', 'B'):
            if cond in n:
                print('  %s: %d runs, median %.2f Mbit/s, median CV within a run %.2f%%, '
                      'run-to-run sd of medians %.2f%%' % (
                          cond, n[cond]['runs'], n[cond]['median_of_medians'], n[cond]['median_cv_pct'] or 0,
                          n[cond]['run_to_run_sd_pct'] or 0))
        if 'B_over_A' in n:
            print('  B / A throughput: %.4f (injected %.2f)' % (n['B_over_A'], 0.97))
        print('  detection power (3%% drop flagged as regression): %s' % rate_line(t['AB']))
        print('  false alarms (A/A flagged either way):          %s' % rate_line(t['AA']))
        summary['tests'][name] = {'noise': n, 'power': [sum(t['AB']), len(t['AB'])],
                                  'false_alarms': [sum(t['AA']), len(t['AA'])]}
    print('\nall tests: power %s; false alarms %s' % (rate_line(all_ab), rate_line(all_aa)))
    summary['all'] = {'power': [sum(all_ab), len(all_ab)], 'false_alarms': [sum(all_aa), len(all_aa)]}
    if mismatches:
        print('WARNING: production verdicts differ from the re-judged A/A trials: %s' % mismatches)
    summary['details'] = details
    summary['production_mismatches'] = mismatches
    if out_json:
        with open(out_json, 'w') as handle:
            json.dump(summary, handle, indent=1)
        print('details: %s' % out_json)
    return summary


def simulate(trials=1500, baseline_runs=10, repetitions=5, seed=1):
    """The rule on synthetic normal data: false alarms and power per noise level.

    Each run's level varies by ``between`` (sd, run-to-run noise), each
    repetition by ``cv`` around it (within-run noise).
    """
    import random  # pylint: disable=import-outside-toplevel
    print('simulation: %d trials per cell, baseline of %d runs x %d repetitions, %d current'
          % (trials, baseline_runs, repetitions, repetitions))
    print('%-9s %-7s %-12s %-12s %-12s' % ('between', 'cv', 'A/A alarms', 'power -3%', 'power -2.3%'))
    for between, cv in ((0, 0.002), (0, 0.005), (0, 0.01), (0, 0.015), (0.005, 0.005),
                        (0.005, 0.01), (0.01, 0.005), (0.01, 0.01)):
        cells = []
        for drop in (0.0, 0.03, 0.023):
            rng = random.Random(seed)
            flags = 0
            for dummy in range(trials):
                runs = []
                for dummy2 in range(baseline_runs):
                    level = 100 * (1 + rng.gauss(0, between))
                    runs.append([level * (1 + rng.gauss(0, cv)) for dummy3 in range(repetitions)])
                level = 100 * (1 - drop) * (1 + rng.gauss(0, between))
                cur = [level * (1 + rng.gauss(0, cv)) for dummy3 in range(repetitions)]
                verdict = compare([v for r in runs for v in r], cur, baseline_runs=runs)['verdict']
                flags += (verdict != 'pass') if not drop else (verdict == 'regression')
            cells.append('%.1f%%' % (100.0 * flags / trials))
        print('%-9s %-7s %-12s %-12s %-12s' % ('%.1f%%' % (100 * between), '%.1f%%' % (100 * cv),
                                               cells[0], cells[1], cells[2]))


# ---------------------------------------------------------------- the lab

def make_inventory(out, prefix):
    import importlib.util  # pylint: disable=import-outside-toplevel
    spec = importlib.util.spec_from_file_location('lab_inventory', os.path.join(ROOT, 'scripts', 'lab-inventory.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    inventory = os.path.join(out, 'inventory')
    module.write(inventory, prefix, 1, rates=[RATE, RATE])
    return inventory


def leftovers(prefix):
    proc = subprocess.run(['ip', 'netns', 'list'], capture_output=True, text=True, check=False)
    return [line.split()[0] for line in proc.stdout.splitlines() if line.startswith(prefix + '-')]


def run_benchmark(args):
    if os.geteuid() != 0:
        sys.exit('run as root: the lab is made of network namespaces')
    prefix = args.prefix or 'mrp' + uuid.uuid4().hex[:6]
    out = args.out or tempfile.mkdtemp(prefix='%s-' % prefix)
    results = os.path.join(out, 'results')
    os.makedirs(results, exist_ok=True)
    inventory = make_inventory(out, prefix)
    suite = os.path.join(out, 'suite.yml')
    with open(suite, 'w') as handle:
        handle.write(SUITE.format(duration=args.duration, repetitions=args.repetitions,
                                  congestion=args.congestion))
    deadline = time.time() + 60 * args.max_minutes
    log('lab %s, results in %s, budget %d min' % (prefix, results, args.max_minutes))

    def on_signal(signum, frame):
        raise Stop('signal %d' % signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    schedule = ['A'] * args.warmup + ['B', 'A'] * args.trials
    shaped = None
    durations = []
    loads = {}
    if os.path.exists(os.path.join(out, 'loads.json')):      # resuming in the same --out
        with open(os.path.join(out, 'loads.json')) as handle:
            loads = json.load(handle)
    try:
        for i, cond in enumerate(schedule):
            estimate = (sum(durations) / len(durations)) if durations else 0
            if time.time() + estimate > deadline:
                raise Stop('time budget of %d min reached' % args.max_minutes)
            factor = 1.0 if cond == 'A' else 1 - args.drop
            paths = lab_paths(factor)
            started = time.time()
            if shaped != factor:
                proc = playbook(inventory, 'provision.yml', {'lab_paths': paths}, timeout=900)
                if proc.returncode:
                    raise RuntimeError('provision failed:\n%s\n%s' % (proc.stdout[-4000:], proc.stderr[-2000:]))
                shaped = factor
            load_before = loadavg()
            proc = playbook(inventory, 'perf.yml', {
                'lab_paths': paths, 'perf_provision': False, 'perf_suite': suite,
                'perf_results_dir': results, 'perf_repetitions': args.repetitions,
                'perf_duration_s': args.duration}, timeout=1800)
            load_after = loadavg()
            if proc.returncode:
                log('run %d (%s) failed, kept as a record if one was written:\n%s'
                    % (i + 1, cond, proc.stdout[-3000:]))
            latest = os.path.join(results, 'latest')
            if os.path.islink(latest):
                loads[os.readlink(latest)] = [load_before, load_after]
                with open(os.path.join(out, 'loads.json'), 'w') as handle:
                    json.dump(loads, handle)
            durations.append(time.time() - started)
            medians = re.findall(r'(\w+-up): (\w[\w-]*), throughput_mbps', proc.stdout)
            log('run %d/%d (%s, rate x%.2f) took %.0f s, load %.1f -> %.1f, verdicts %s'
                % (i + 1, len(schedule), cond, factor, durations[-1], load_before, load_after,
                   dict(medians)))
    except Stop as exc:
        log('stopping: %s' % exc)
    finally:
        log('tearing the lab down')
        proc = playbook(inventory, 'teardown.yml', {}, timeout=600)
        if proc.returncode:
            log('teardown failed:\n%s' % proc.stdout[-3000:])
        left = leftovers(prefix)
        if left:
            log('WARNING: namespaces left behind: %s' % left)
    return report(results, out_json=os.path.join(out, 'bench.json'), baseline_runs=args.baseline_runs,
                  warmup=args.warmup)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--trials', type=int, default=15, help='A/B and A/A trials (one B and one A run each)')
    parser.add_argument('--warmup', type=int, default=10, help='A runs before the first trial')
    parser.add_argument('--baseline-runs', type=int, default=10, help='N of the default baseline')
    parser.add_argument('--repetitions', type=int, default=5, help='repetitions per test and run (<= 5)')
    parser.add_argument('--duration', type=int, default=10, help='seconds of traffic per repetition')
    parser.add_argument('--drop', type=float, default=0.03, help='injected rate drop of the B runs')
    parser.add_argument('--congestion', default='cubic',
                        help='congestion control of every test (the default suite states cubic)')
    parser.add_argument('--max-minutes', type=int, default=100, help='time budget')
    parser.add_argument('--prefix', help='lab prefix (default mrp<random>)')
    parser.add_argument('--out', help='working directory (default a new one under /tmp)')
    parser.add_argument('--analyze', metavar='RESULTS_DIR', help='only judge the runs of an earlier benchmark')
    parser.add_argument('--simulate', action='store_true',
                        help='only run the rule on synthetic data (no lab): the table of docs/statistics.md')
    args = parser.parse_args()
    if args.repetitions > 5:
        parser.error('--repetitions: at most 5 per side')
    if args.simulate:
        simulate(baseline_runs=args.baseline_runs, repetitions=args.repetitions)
    elif args.analyze:
        report(args.analyze, baseline_runs=args.baseline_runs, warmup=args.warmup)
    else:
        run_benchmark(args)


if __name__ == '__main__':
    main()
