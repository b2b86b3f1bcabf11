"""report.html renders in a real browser: headless Chromium (Debian's package) takes a screenshot.

The screenshot must have the requested size, not be blank, and show the
report's own colours: the header, the red regression badge and the plot
markers (which only appear if the embedded PNG images decoded).
"""

import base64
import io
import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import run_module

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import perf_fixtures  # noqa: E402  pylint: disable=wrong-import-position

Image = pytest.importorskip('PIL.Image')
ImageStat = pytest.importorskip('PIL.ImageStat')

WIDTH, HEIGHT = 1280, 2400
HEADER = (0x26, 0x32, 0x38)       # header background
RED = (0xC6, 0x28, 0x28)          # regression badge / marker
MPTCP = (0xDD, 0x84, 0x52)        # MPTCP markers in the plots
PATH1 = (0x55, 0xA8, 0x68)        # path 1 bars of the per-path split


def chromium():
    for name in ('chromium', 'chromium-browser'):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail('headless Chromium is needed (Debian package "chromium"; `make test` installs it)')
    return None


def screenshot(html_path, png_path, profile, height=HEIGHT):
    argv = [chromium(), '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
            '--disable-component-update', '--disable-sync', '--no-first-run', '--hide-scrollbars',
            '--user-data-dir=%s' % profile, '--screenshot=%s' % png_path,
            '--window-size=%d,%d' % (WIDTH, height), 'file://%s' % html_path]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=180, check=False,
                          env=dict(os.environ, LC_ALL='C'))
    assert proc.returncode == 0, proc.stderr[-3000:]


def count(image, colour, tolerance=2):
    return sum(n for n, px in image.getcolors(WIDTH * HEIGHT)
               if all(abs(a - b) <= tolerance for a, b in zip(px, colour)))


def test_report_renders_in_headless_chromium(tmp_path):
    results = str(tmp_path / 'results')
    tests = perf_fixtures.DEFAULT_TESTS + [
        {'name': 'mptcp-2paths-flaky', 'protocol': 'mptcp', 'paths': 2, 'mbps': 80, 'fail': [3]}]
    perf_fixtures.write_history(results, 10, scale_last={'mptcp-2paths-up': 0.96}, tests=tests)
    assert run_module(None, 'perf_history', {'results_dir': results, 'backfill': True})['rc'] == 0
    verdict = run_module(None, 'perf_verdict', {'results_dir': results})
    assert verdict['counts']['regression'] == 1 and verdict['counts']['invalid'] == 1
    report = run_module(None, 'perf_report', {'results_dir': results})
    assert report['rc'] == 0, report

    png = str(tmp_path / 'report.png')
    screenshot(report['path'], png, str(tmp_path / 'chromium-profile'))
    assert os.path.getsize(png) > 10000
    image = Image.open(png).convert('RGB')
    assert image.size == (WIDTH, HEIGHT)
    stat = ImageStat.Stat(image)
    assert min(stat.stddev) > 20, 'the screenshot is (nearly) blank'
    assert image.getpixel((5, 5)) == HEADER
    assert count(image, RED) > 50
    assert count(image, MPTCP) > 50
    assert count(image, PATH1) > 1000


def _shown(screen, png, tolerance=3):
    """Whether the PNG ``png`` (bytes) is shown pixel for pixel somewhere in the screenshot:
    three of its rows, a sixth of its height apart, found at the same place."""
    np = pytest.importorskip('numpy')
    figure = np.asarray(Image.open(io.BytesIO(png)).convert('RGB')).astype(int)
    shot = np.asarray(screen).astype(int)
    height, width = figure.shape[:2]
    if width > shot.shape[1] or height > shot.shape[0]:
        return False
    probes = [height // 3, height // 2, 2 * height // 3]
    columns = np.linspace(0, width - 1, 32).astype(int)
    first = figure[probes[0]]
    for x in range(shot.shape[1] - width + 1):
        # a few columns of the first probe row, every row of the page at once
        rows = shot[probes[0]:shot.shape[0] - height + probes[0] + 1, x + columns]
        for y in np.nonzero(np.abs(rows - first[columns]).max(axis=(1, 2)) <= tolerance)[0]:
            if all(np.abs(shot[y + p, x:x + width] - figure[p]).max() <= tolerance for p in probes):
                return True
    return False


def test_every_metric_and_the_time_series_render_in_headless_chromium(tmp_path):
    """A run of shaped, unshaped and request/response tests: the verdict table has a row per test
    and metric, with red badges on the CPU cost and p99 latency regressions, and every plot,
    the time series of each MPTCP test included, is on the page as rendered."""
    results = str(tmp_path / 'results')
    tests = perf_fixtures.DEFAULT_TESTS[:1] + perf_fixtures.METRIC_TESTS
    for i in range(6):
        scale = ({'mptcp-unshaped-up': {'cpu_s_per_gb': 1.15}, 'mptcp-rr': {'latency_p99_us': 1.4}}
                 if i == 5 else None)
        summary = perf_fixtures.make_summary(perf_fixtures.run_id_for(i), perf_fixtures.started_for(i),
                                             tests=tests, scale=scale)
        perf_fixtures.write_run(results, summary)
        perf_fixtures.write_timeseries(results, summary)
    assert run_module(None, 'perf_history', {'results_dir': results, 'backfill': True})['rc'] == 0
    verdict = run_module(None, 'perf_verdict', {'results_dir': results, 'baseline_runs': 5})
    assert sorted((r['test'], r['metric']) for r in verdict['regressions']) == [
        ('mptcp-rr', 'latency_p99_us'), ('mptcp-unshaped-up', 'cpu_s_per_gb')]
    report = run_module(None, 'perf_report', {'results_dir': results})
    assert report['rc'] == 0, report
    with open(report['path']) as handle:
        html = handle.read()
    found = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="([^"]*)"', html)
    images = [base64.b64decode(data) for data, dummy in found]
    alts = [alt for dummy, alt in found]
    series = [png for png, alt in zip(images, alts) if alt.startswith('Time series of')]
    assert len(series) == 2 and any(alt.startswith('CPU cost') for alt in alts)

    height = 7200
    png = str(tmp_path / 'report.png')
    screenshot(report['path'], png, str(tmp_path / 'chromium-profile'), height=height)
    image = Image.open(png).convert('RGB')
    assert image.size == (WIDTH, height)
    assert count(image, RED) > 200          # two regression badges and the history's markers
    # every plot is on the page as rendered: the time series of both MPTCP tests, the other
    # metrics, the throughput and the history
    for data, alt in zip(images, alts):
        assert _shown(image, data), 'not on the page: %s' % alt
    # and the check can fail: the same plot upside down is nowhere on the page
    flipped = io.BytesIO()
    Image.open(io.BytesIO(series[0])).transpose(Image.Transpose.FLIP_TOP_BOTTOM).save(flipped, format='PNG')
    assert not _shown(image, flipped.getvalue())
