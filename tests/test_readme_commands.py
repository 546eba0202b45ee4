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


def _listening(port: int) -> list[str]:
    """The local addresses (hex, as /proc/net/tcp* writes them) listening on ``port``."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if os.path.exists(table):
            for line in open(table).read().splitlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                    found.append(local.rsplit(":", 1)[0])
    return found


def test_the_app_listens_on_localhost_only_wherever_it_is_started(tmp_path):
    """`streamlit run /path/to/app/Home.py` from another folder reads the config beside the entry point."""
    import socket
    import time

    import pytest

    if not os.path.exists("/proc/net/tcp"):
        pytest.skip("no /proc/net/tcp on this system to read the listening address from")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "HESSIAN_CACHE_DIR": str(tmp_path / "cache")}
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "app" / "Home.py"),
                               "--server.port", str(port)], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not _listening(port) and time.monotonic() < deadline:
            time.sleep(0.3)
        addresses = _listening(port)
    finally:
        server.terminate()
        server.wait(timeout=30)
    loopback = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1 and ::1
    assert addresses and set(addresses) <= loopback, addresses


def test_the_app_does_not_collect_all_garbage_after_every_run():
    """Streamlit's full collection after each run cost 0.4 s of CPU per fragment rerun (a page polling
    its background job spent 40% of a core on it); the app's config turns it off, and the option
    is one this Streamlit has (a rename would leave the setting silently ignored)."""
    import tomllib

    from streamlit import config

    settings = tomllib.loads((ROOT / "app" / ".streamlit" / "config.toml").read_text())
    assert settings["runner"]["postScriptGC"] is False
    assert isinstance(config.get_option("runner.postScriptGC"), bool)
