"""The quick report renders in headless Chromium: every image decodes, no console errors.

Needs Debian's ``chromium`` package at ``/usr/bin/chromium`` (CI installs it).
With ``GANDYN_UPDATE_FIGURES=1`` the screenshot of the page's top is also
written to ``docs/figures/report.png``.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "figures" / "report.png"


def _chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess:
    if not CHROMIUM.exists():
        pytest.fail("headless Chromium is needed at /usr/bin/chromium: install Debian's chromium "
                    "package (apt-get install -y chromium)")
    profile.mkdir()
    return subprocess.run([str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *args,
                           page.resolve().as_uri()],
                          capture_output=True, text=True, timeout=180)


def _body_counts(dom: str) -> tuple[int, int]:
    body = re.search(r"<body\b[^>]*>", dom)
    assert body, dom[:500]
    ok = re.search(r'data-images-ok="(\d+)"', body.group(0))
    total = re.search(r'data-images-total="(\d+)"', body.group(0))
    assert ok and total, body.group(0)
    return int(ok.group(1)), int(total.group(1))


def _console_errors(log: str) -> list[str]:
    """Lines of Chromium's log from the page's console: uncaught errors and console messages.

    Chromium logs every console message as ``INFO:CONSOLE`` whatever its level,
    so any console line counts: the report's script never writes to the console.
    """
    return [line for line in log.splitlines()
            if "Uncaught" in line or "ERROR:CONSOLE" in line or ":CONSOLE" in line
            or "console" in line.lower() and "error" in line.lower()]


@pytest.fixture
def report_page(quick_report) -> Path:
    proc, out = quick_report
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out / "report.html"


def test_every_image_decodes_in_chromium(report_page, tmp_path):
    proc = _chromium(report_page, tmp_path / "profile", "--dump-dom", "--virtual-time-budget=5000")
    assert proc.returncode == 0, proc.stderr[-2000:]
    ok, total = _body_counts(proc.stdout)
    assert total > 0 and ok == total


def test_no_console_errors(report_page, tmp_path):
    proc = _chromium(report_page, tmp_path / "profile", "--enable-logging=stderr", "--v=0",
                     "--dump-dom", "--virtual-time-budget=5000")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _console_errors(proc.stderr) == []
    assert _body_counts(proc.stdout)[1] > 0


def test_console_error_check_sees_errors(tmp_path):
    """The check above would catch a page that throws (a control, on a tiny broken page)."""
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><body><script>console.error('broken page');"
                    "missingFunction();</script></body></html>")
    proc = _chromium(page, tmp_path / "profile", "--enable-logging=stderr", "--v=0",
                     "--dump-dom", "--virtual-time-budget=5000")
    errors = _console_errors(proc.stderr)
    assert any("broken page" in line for line in errors), proc.stderr[-2000:]
    assert any("Uncaught ReferenceError" in line for line in errors), proc.stderr[-2000:]


def test_screenshot_of_the_whole_page(report_page, tmp_path):
    """The whole page renders: one tall screenshot holds it all, with content down to its end.

    With ``GANDYN_UPDATE_FIGURES=1`` the top of it becomes docs/figures/report.png.
    """
    import numpy as np
    from PIL import Image

    shot = tmp_path / "report.png"
    height = 30_000
    proc = _chromium(report_page, tmp_path / "profile", f"--screenshot={shot}",
                     f"--window-size=1280,{height}", "--virtual-time-budget=5000",
                     "--hide-scrollbars")
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = shot.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 10_000
    pixels = np.asarray(Image.open(shot).convert("L"))
    drawn = np.flatnonzero((pixels < 250).any(axis=1))
    assert drawn.size and drawn[-1] < height - 50, "the page is taller than the screenshot"
    assert drawn[-1] > 5_000  # every section is there, not only the top
    if os.environ.get("GANDYN_UPDATE_FIGURES") == "1":
        Image.open(shot).crop((0, 0, 1280, 900)).save(SCREENSHOT)
