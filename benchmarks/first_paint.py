"""Row 7: what a newcomer waits for: import times, and ``streamlit run app/Home.py`` to a drawn
Home in a real Chromium, cold (empty cache) and warm (same cache, new server), offline default
(no MNIST: digits) and real MNIST (the official test split), each timed from the server's start
with the browser already open (as a user's is), and the browser's own launch on its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

from .browser import ARGS, CHROMIUM, running_app, wait_until_drawn
from .common import stats

IMPORTS = {"python": "pass",
           "core (pipeline, studies, claims)": "import core.pipeline, core.studies, core.claims",
           "Home's modules (entry point, sidebar, widgets, claims)":
               "import app.navigation, app.sidebar, app.widgets, core.claims, core.pipeline, core.studies",
           "streamlit": "import streamlit",
           "torch": "import torch"}


def import_seconds(repeats: int = 3) -> dict:
    """Wall time of a fresh interpreter importing each set of modules (best of ``repeats``)."""
    out = {}
    for name, code in IMPORTS.items():
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
            times.append(time.perf_counter() - start)
        out[name] = min(times)
    return out


def seconds_to_drawn_home(browser, cache_dir, data_dir) -> float:
    """From starting the server to Home drawn (downloads shown, no script running) in an open
    Chromium: a user's browser is running before ``streamlit run`` (launching Chromium here
    takes 0.7-0.9 s more; ``first_paint_row`` reports it on its own)."""
    start = time.perf_counter()
    with running_app(cache_dir, data_dir) as url:
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.goto(url)
        wait_until_drawn(page)
        seconds = time.perf_counter() - start
        page.close()
    return seconds


def first_paint_row(mnist_dir) -> dict:
    row = {"imports_s": import_seconds()}
    if not os.path.exists(CHROMIUM):
        row["browser"] = f"skipped: no Chromium at {CHROMIUM}"
        return row
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        start = time.perf_counter()
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        row["browser_launch_s"] = time.perf_counter() - start
        for label, data_dir in (("offline default (digits)", None), ("MNIST default (t10k split)", mnist_dir)):
            if label.startswith("MNIST") and data_dir is None:
                continue
            with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as empty:
                cold = seconds_to_drawn_home(browser, cache, data_dir or empty)
                warm = [seconds_to_drawn_home(browser, cache, data_dir or empty) for _ in range(3)]
            row[label] = {"cold_s": cold, "warm_s": stats(warm)}
        browser.close()
    return row
