"""Without Chromium the browser tests are skipped, and the run says so loudly instead of passing quietly."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT


def test_a_run_without_chromium_ends_with_a_loud_notice(tmp_path):
    env = {**os.environ, "GUARD_TEST_CHROMIUM": str(tmp_path / "no-chromium")}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "tests/web/console/test_browser.py::test_the_export_streams_from_the_real_server"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "BROWSER TESTS SKIPPED" in run.stdout
    assert "1 console browser test(s) did not run: Skipped: needs Debian's chromium" in run.stdout
    assert "apt-get install chromium" in run.stdout
