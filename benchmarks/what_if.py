"""Row 14: what-if in seconds. From a drawn page, one control changed to a value not yet cached:
the seconds to the first answer on the page (drawn down to its downloads, no script running) and
to the full picture (no background job alive, the page's errors against the exact Hessian), in Chromium, on the Top
eigenvalues page with the app's default methods, for the MNIST default and the offline default.

Each control is changed as a user does: a width in its text box, the architecture and the loss
in the sidebar's select boxes (``("query", "?...")`` would load the page's address instead, a new
session). Each server
starts with an empty cache; the starting configuration is drawn first (and left to finish).

The last change is the first one again with the app computing ahead of the user
(:mod:`core.ahead`): the starting page is left idle until that job has ended (its seconds are
printed), then the width is changed; every other change is cold (computing ahead off).

``python -m benchmarks.what_if [--data-dir DIR] [--only TEXT]`` runs this row (or the change
labelled TEXT, else those whose label contains it) alone and prints it.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from .browser import ARGS, CHART, CHROMIUM, RUNNING, running_app, wait_until_drawn

PENDING = "Still computing in the background"
PAGE = "Top_eigenvalues"
#: (label, data, starting query, how the change is made: ("width", value), ("select", label, choice,
#: its URL parameter, its value) or ("query", query),
#: whether the app computes ahead: core.ahead; off, the change is cold)
CHANGES = [
    ("MNIST default, width 8 -> 16", "mnist", "", ("width", "16"), False),
    ("offline default, MLP -> CNN", "offline", "", ("select", "architecture", "CNN (LeNet-style)", "arch", "cnn"), False),
    ("offline default, width 8 -> 16", "offline", "", ("width", "16"), False),
    ("offline default, width 16 -> 32", "offline", "?hidden=16", ("width", "32"), False),
    ("offline default, loss -> MSE", "offline", "", ("select", "loss", "MSE (squared error)", "loss", "mse"), False),
    ("MNIST default, width 8 -> 16, after computing ahead", "mnist", "", ("width", "16"), True),
]


def background_running(pattern: str = r"core\.background$") -> bool:
    """Whether a background job of the app is alive: the page's own (``python -m core.background``),
    or with the pattern ``core\\.background ahead`` the one computing ahead of the user."""
    import subprocess

    return subprocess.run(["pgrep", "-f", pattern], capture_output=True).returncode == 0


def idle_until_computed_ahead(timeout_s: float = 1800) -> float:
    """Seconds the page is left alone until the job computing ahead (started once the page has
    everything) has ended."""
    started = time.monotonic()
    deadline = started + 30
    while not background_running(r"core\.background ahead") and time.monotonic() < deadline:
        time.sleep(0.25)
    while background_running(r"core\.background ahead") and time.monotonic() < started + timeout_s:
        time.sleep(0.5)
    return time.monotonic() - started


def settled(page, timeout_s: float = 900) -> None:
    """Wait until nothing is left computing: no background job alive, the page drawn with the exact
    Hessian as its reference, no script running, twice 1 s apart."""
    end = time.monotonic() + timeout_s
    done = "Errors are against the exact Hessian"
    while time.monotonic() < end:
        if not background_running() and not page.locator(RUNNING).count() and done in page.inner_text("body"):
            page.wait_for_timeout(1000)
            if not background_running() and not page.locator(RUNNING).count() and done in page.inner_text("body"):
                return
        page.wait_for_timeout(250)
    raise TimeoutError("the page did not settle")


def pick(page, label: str, choice: str, tries: int = 5) -> float:
    """Choose ``choice`` in the select box ``label`` and return the moment of the click on it (the
    user's act; opening the list is not part of the change). The list is opened again should a
    rerun of the page have closed it before the choice could be clicked."""
    for _ in range(tries - 1):
        try:
            return _click_choice(page, label, choice)
        except Exception:  # noqa: BLE001 - playwright's TimeoutError: the list closed; open it again
            page.keyboard.press("Escape")
    return _click_choice(page, label, choice)


def _click_choice(page, label: str, choice: str) -> float:
    page.get_by_role("combobox", name=label).click()
    option = page.get_by_role("option", name=choice, exact=True)
    option.wait_for(timeout=2_000)
    clicked = time.monotonic()
    option.click(timeout=2_000)
    return clicked


def measure(page, url: str, start_query: str, change, ahead: bool = False) -> dict:
    page.goto(f"{url}/{PAGE}{start_query}")
    wait_until_drawn(page)
    settled(page)
    idle = idle_until_computed_ahead() if ahead else None
    started = time.monotonic()
    kind, *how = change
    if kind == "width":
        box = page.get_by_role("textbox", name="hidden widths (comma separated)")
        box.fill(how[0])
        box.press("Enter")
        parameter, value = "hidden", how[0]
    elif kind == "select":  # the sidebar's select box, as a user picks a choice
        label, choice, parameter, value = how
        started = pick(page, label, choice)
    else:
        page.goto(f"{url}/{PAGE}{how[0]}")
    if kind != "query":
        # the run for the new value has begun once the address holds it (a cached run may end
        # before Streamlit shows its running indicator)
        page.wait_for_function(f"new URLSearchParams(location.search).get('{parameter}') === '{value}'",
                               timeout=30_000)
    wait_until_drawn(page)
    page.wait_for_function("!document.querySelector('[data-stale=\"true\"]')", timeout=900_000)  # the new run's page
    wait_until_drawn(page)
    first = time.monotonic() - started
    body = page.inner_text("body")
    if "URL parameter" in body:  # an address the app did not take measures the unchanged page
        raise RuntimeError(f"the change {change} was refused: " + body[body.index("URL parameter"):][:200])
    pending = PENDING in body
    settled(page)
    return {"first_answer_s": first, "full_picture_s": time.monotonic() - started - 1.0, "had_pending": pending,
            "idle_before_s": idle}


def what_if_row(data_dir, only: str = "") -> dict:
    """Every change of :data:`CHANGES` (the one labelled ``only``, else those whose label contains it), each in a fresh
    server and cache: cold, or after the page was left idle until what the app computes ahead
    had landed."""
    from playwright.sync_api import sync_playwright

    rows = {}
    exact = any(label == only for label, *_ in CHANGES)  # a whole label names that change alone
    if not any(only in label for label, *_ in CHANGES):
        raise SystemExit(f"no change is labelled {only!r}: " + "; ".join(label for label, *_ in CHANGES))
    with sync_playwright() as p, tempfile.TemporaryDirectory() as work:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for i, (label, data, start, change, ahead) in enumerate(CHANGES):
            if (label != only) if exact else (only not in label):
                continue
            folder = Path(data_dir) if data == "mnist" else Path(work) / "no-mnist"
            folder.mkdir(exist_ok=True)
            with running_app(Path(work) / f"cache{i}", folder, env={"HESSIAN_AHEAD": "1" if ahead else "0"}) as url:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                rows[label] = measure(page, url, start, change, ahead)
                page.close()
            idle = rows[label]["idle_before_s"]
            print(f"  {label}: first answer {rows[label]['first_answer_s']:.1f} s, full picture "
                  f"{rows[label]['full_picture_s']:.1f} s" + ("" if idle is None else f" (idle {idle:.0f} s before)"),
                  flush=True)
        browser.close()
    return rows


EOS_BUTTON = "Use the edge-of-stability setup"


def measure_edge_of_stability(page, url: str) -> dict:
    """From the Training page of a configuration without checkpoints: the seconds from the click on
    the edge-of-stability button to the first chart on the page (drawn while the checkpoints are
    still computed) and to the whole page (its verdict and downloads, no script running)."""
    page.goto(f"{url}/Training")
    page.get_by_role("button", name=EOS_BUTTON).wait_for(timeout=120_000)
    wait_for_idle = f"!document.querySelector('{RUNNING}')"
    page.wait_for_function(wait_for_idle, timeout=120_000)
    started = time.monotonic()
    page.get_by_role("button", name=EOS_BUTTON).click()
    page.wait_for_selector(CHART, timeout=900_000)
    first = time.monotonic() - started
    page.get_by_text("Edge of stability").first.wait_for(timeout=1_800_000)
    wait_until_drawn(page, 1_800_000)
    return {"first_chart_s": first, "whole_page_s": time.monotonic() - started}


def edge_of_stability_row(data_dir) -> dict:
    """The edge-of-stability setup from the Training page, cold, on the MNIST default and the offline
    default, each in a fresh server and cache (computing ahead off)."""
    from playwright.sync_api import sync_playwright

    rows = {}
    with sync_playwright() as p, tempfile.TemporaryDirectory() as work:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for label, data in (("MNIST default", "mnist"), ("offline default", "offline")):
            folder = Path(data_dir) if data == "mnist" else Path(work) / "no-mnist"
            folder.mkdir(exist_ok=True)
            with running_app(Path(work) / f"eos-{data}", folder, env={"HESSIAN_AHEAD": "0"}) as url:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                rows[label] = measure_edge_of_stability(page, url)
                page.close()
            print(f"  {label}, edge-of-stability setup: first chart {rows[label]['first_chart_s']:.1f} s, whole page "
                  f"{rows[label]['whole_page_s']:.1f} s", flush=True)
        browser.close()
    return rows


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks.what_if")
    parser.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--only", default="", help="only the change with this label, else those whose label contains it")
    parser.add_argument("--edge-of-stability", action="store_true",
                        help="the edge-of-stability setup's first chart and whole page instead")
    args = parser.parse_args(sys.argv[1:])
    if args.edge_of_stability:
        edge_of_stability_row(args.data_dir)
    else:
        what_if_row(args.data_dir, args.only)
