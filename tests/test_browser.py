"""A real browser: Debian's Chromium driven by Playwright visits every page of the running app.

Playwright comes from requirements.txt; the browser does not (``playwright install`` cannot
download one offline). Without Chromium at ``$HESSIAN_CHROMIUM`` (default
``/usr/bin/chromium``) this test is skipped with the reason and how to enable it, except when
``CI`` is set: there it is required and ``.ci/run`` installs Chromium first. Screenshots go
to ``screenshots/`` (git-ignored) for a person to look at.
"""

import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from app.navigation import PAGES as APP_PAGES
from factories import ROOT

CHROMIUM = os.environ.get("HESSIAN_CHROMIUM", "/usr/bin/chromium")
# a deep link first: a bookmarked page must work in a fresh server, not only after Home
PAGES = sorted((p.url_path for p in APP_PAGES), key=lambda path: path != "Trace")


def chromium_or_skip() -> str:
    """The browser's path; skip (outside CI) or fail (under CI) when it is missing."""
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    reason = (f"Chromium not found at {CHROMIUM}: install it (Debian: apt-get install chromium) or point "
              "$HESSIAN_CHROMIUM at a Chromium binary to run the real-browser test")
    if os.environ.get("CI"):
        pytest.fail(reason + " (required under CI)")
    pytest.skip(reason)
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    chromium_or_skip()
    port = free_port()
    env = {**os.environ, "HESSIAN_CACHE_DIR": str(tmp_path_factory.mktemp("cache")),
           "HESSIAN_DATA_DIR": str(tmp_path_factory.mktemp("no-mnist"))}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app/Home.py", "--server.headless", "true",
                             "--server.port", str(port), "--server.address", "127.0.0.1",
                             "--browser.gatherUsageStats", "false"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(url + "/_stcore/health", timeout=1)
            break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        raise RuntimeError("streamlit did not start: " + proc.stdout.read()[-2000:])
    yield url
    proc.terminate()
    proc.wait(timeout=30)


def test_every_page_renders_in_chromium_without_exception(server):
    from playwright.sync_api import sync_playwright

    shots = ROOT / "screenshots"
    shots.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        for name in PAGES:
            page.goto(f"{server}/{name}")
            page.wait_for_selector("[data-testid=stDataFrame]", timeout=240_000)
            page.wait_for_function("!document.querySelector('[data-testid=stStatusWidget]')", timeout=240_000)
            page.wait_for_timeout(1500)
            page.screenshot(path=str(shots / f"{name or 'Home'}.png"), full_page=True)
            assert page.locator("[data-testid=stException]").count() == 0, name
            assert "Traceback" not in page.content(), name
            if name:  # figure pages: at least one Vega chart actually drawn
                drawn = page.locator("[data-testid=stVegaLiteChart] canvas, [data-testid=stVegaLiteChart] svg")
                assert drawn.count() >= 1, name
            else:  # Home on the offline default: the fallback is said on screen
                assert page.get_by_text("digits are used instead").count() >= 1
        browser.close()
