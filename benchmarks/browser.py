"""The app as a user starts it (``streamlit run app/Home.py``) and a real Chromium looking at it.

Shared by the browser test and the first-paint benchmark row.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("HESSIAN_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
#: Streamlit's widget shown while a script runs
RUNNING = "[data-testid=stStatusWidget]"
#: a drawn Vega-Lite chart (its code loads lazily: it appears a moment after the page's last element)
CHART = "[data-testid=stVegaLiteChart] canvas, [data-testid=stVegaLiteChart] svg"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_app(cache_dir, data_dir, timeout: float = 60, port: int | None = None, env: dict | None = None,
                script_args: tuple[str, ...] = ()):
    """Start the app on ``port`` (default: a free one) of localhost with this cache and data
    directory (``env`` added to the environment, ``script_args`` after ``--``: the app's own, e.g.
    ``("--model", "package.module:function")``); yield its URL."""
    port = port or free_port()
    env = {**os.environ, "HESSIAN_CACHE_DIR": str(cache_dir), "HESSIAN_DATA_DIR": str(data_dir), **(env or {})}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app/Home.py", "--server.headless", "true",
                             "--server.port", str(port), "--server.address", "127.0.0.1",
                             "--browser.gatherUsageStats", "false", *(("--", *script_args) if script_args else ())],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(url + "/_stcore/health", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    proc.kill()
                    raise RuntimeError("streamlit did not start: " + proc.stdout.read()[-2000:])
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


#: what every result page draws last, after all its numbers: its downloads (keyed ``csv_<name>``
#: or ``json_<name>``; the key is a class of the element's container, there as soon as the
#: element is, while the button itself appears 0.05-0.4 s later, when its code has loaded)
DRAWN = "[class*=st-key-csv_], [class*=st-key-json_]"


def wait_until_drawn(page, timeout_ms: int = 600_000) -> None:
    """Wait until a page has drawn everything down to its downloads and no script runs."""
    page.wait_for_selector(DRAWN, state="attached", timeout=timeout_ms)
    page.wait_for_function(f"!document.querySelector('{RUNNING}')", timeout=timeout_ms)
