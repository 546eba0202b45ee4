"""The README's test command on a machine without a browser: the browser test skips, saying
how to enable it, unless ``CI`` is set, where it must fail."""

import os
import subprocess
import sys

from factories import ROOT


def run_browser_test(ci: bool) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["HESSIAN_CHROMIUM"] = "/nonexistent/chromium"
    if ci:
        env["CI"] = "true"
    return subprocess.run([sys.executable, "-m", "pytest", "-rs", "-p", "no:cacheprovider",
                           "tests/test_browser.py"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


def test_without_chromium_the_browser_test_is_skipped_with_its_reason():
    proc = run_browser_test(ci=False)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert " skipped" in proc.stdout and "failed" not in proc.stdout and "passed" not in proc.stdout
    assert "Chromium not found at /nonexistent/chromium" in proc.stdout and "apt-get install chromium" in proc.stdout


def test_under_ci_a_missing_chromium_fails():
    proc = run_browser_test(ci=True)
    assert proc.returncode == 1
    assert "required under CI" in proc.stdout
