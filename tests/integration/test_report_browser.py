"""report.html renders in a real browser: headless Chromium (Debian's package) takes a screenshot.

The screenshot must have the requested size, not be blank, and show the
report's own colours: the header, the red regression badge and the plot
markers (which only appear if the embedded PNG images decoded).
"""

import os
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


def screenshot(html_path, png_path, profile):
    argv = [chromium(), '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
            '--disable-component-update', '--disable-sync', '--no-first-run', '--hide-scrollbars',
            '--user-data-dir=%s' % profile, '--screenshot=%s' % png_path,
            '--window-size=%d,%d' % (WIDTH, HEIGHT), 'file://%s' % html_path]
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
