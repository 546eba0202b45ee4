"""A real browser: Debian's Chromium driven by Playwright visits every page of the running app.

Playwright comes from requirements.txt; the browser does not (``playwright install`` cannot
download one offline). Without Chromium at ``$HESSIAN_CHROMIUM`` (default
``/usr/bin/chromium``) this test is skipped with the reason and how to enable it, except when
``CI`` is set: there it is required and ``.ci/run`` installs Chromium first. Screenshots go
to ``screenshots/`` (git-ignored) for a person to look at.
"""

import os

import pytest

from app.navigation import CONFIGURATION_PAGES
from app.navigation import PAGES as APP_PAGES
from benchmarks.browser import ARGS, CHART, CHROMIUM, ROOT, running_app, wait_until_drawn

# a deep link first: a bookmarked page must work in a fresh server, not only after Home
PAGES = sorted((p.url_path for p in APP_PAGES), key=lambda path: path != "Trace")
#: the pages that draw the sidebar's configuration (charts of it), in the same order
FIGURE_PAGES = [path for path in PAGES if path in {p.url_path for p in CONFIGURATION_PAGES}]


def chromium_or_skip() -> str:
    """The browser's path; skip (outside CI) or fail (under CI) when it is missing."""
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    reason = (f"Chromium not found at {CHROMIUM}: install it (Debian: apt-get install chromium) or point "
              "$HESSIAN_CHROMIUM at a Chromium binary to run the real-browser test")
    if os.environ.get("CI"):
        pytest.fail(reason + " (required under CI)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    chromium_or_skip()
    with running_app(tmp_path_factory.mktemp("cache"), tmp_path_factory.mktemp("no-mnist")) as url:
        yield url


def test_every_page_renders_in_chromium_without_exception(server):
    from playwright.sync_api import sync_playwright

    shots = ROOT / "screenshots"
    shots.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        for name in PAGES:
            page.goto(f"{server}/{name}")
            empty_state = {"Sweep": "No sweep table yet", "Training": "keeps no checkpoints",
                           "Your_model": "No model was given when this server started"}
            if name in empty_state:  # without a sweep table / checkpoints / a model the page says how to get them
                page.get_by_text(empty_state[name]).first.wait_for(timeout=120_000)
                page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
                assert page.locator("[data-testid=stException]").count() == 0
                continue
            wait_until_drawn(page, 240_000)
            page.wait_for_timeout(1500)
            page.screenshot(path=str(shots / f"{name or 'Home'}.png"), full_page=True)
            assert page.locator("[data-testid=stException]").count() == 0, name
            assert "Traceback" not in page.content(), name
            if name:  # figure pages: at least one Vega chart actually drawn
                drawn = page.locator(CHART)
                assert drawn.count() >= 1, name
            else:  # Home on the offline default: the fallback is said on screen
                assert page.get_by_text("digits are used instead").count() >= 1
        browser.close()


def assert_charts_fit(charts, where) -> None:
    """Every visible chart's drawn canvas ends within its container (tables' charts folded away skipped)."""
    for i in range(charts.count()):
        if not charts.nth(i).is_visible():  # folded away in "Tables and downloads"
            continue
        charts.nth(i).scroll_into_view_if_needed()
        box = charts.nth(i).bounding_box()
        drawn = charts.nth(i).locator("canvas, svg").first.bounding_box(timeout=60_000)
        assert drawn["x"] + drawn["width"] <= box["x"] + box["width"] + 2, (where, i, box, drawn)


def test_presentation_mode_at_projector_size_puts_the_chart_first_and_nothing_overflows(server):
    """1280 x 720, ``?present=1``: each page's first chart lies in the first viewport and no
    chart is wider than its container. Screenshots: ``screenshots/present_<page>.png``."""
    from playwright.sync_api import sync_playwright

    shots = ROOT / "screenshots"
    shots.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        for name in [path for path in FIGURE_PAGES if path and path not in ("Sweep", "Training")]:
            page.goto(f"{server}/{name}?present=1")
            page.wait_for_selector(CHART,
                                   timeout=240_000)
            page.wait_for_function("!document.querySelector('[data-testid=stStatusWidget]')", timeout=240_000)
            page.wait_for_timeout(1500)
            page.screenshot(path=str(shots / f"present_{name}.png"))
            charts = page.locator("[data-testid=stVegaLiteChart]")
            first = charts.first.bounding_box()
            assert first is not None and first["y"] >= 0 and first["y"] + min(first["height"], 300) <= 720, \
                (name, first)
            assert_charts_fit(charts, name)
        browser.close()


#: the Training page with checkpoints (3 of a short digits run), so its charts are drawn
TRAINING = "dataset=digits&hidden=6&N=64&epochs=3&checkpoints=3"


@pytest.mark.parametrize("present", [False, True], ids=["normal", "presentation"])
@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080)], ids=["1280x720", "1920x1080"])
def test_no_chart_is_wider_than_its_container_on_any_page(server, present, size):
    """Every chart of every page (Training with checkpoints), in both modes at both sizes: the drawn
    canvas ends within its container."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": size[0], "height": size[1]})
        for name in [path for path in FIGURE_PAGES if path and path != "Sweep"]:
            query = "&".join(q for q in (TRAINING if name == "Training" else "", "present=1" if present else "") if q)
            page.goto(f"{server}/{name}?{query}")
            page.wait_for_selector(CHART,
                                   timeout=240_000)
            page.wait_for_function("!document.querySelector('[data-testid=stStatusWidget]')", timeout=240_000)
            page.wait_for_timeout(1500)
            charts = page.locator("[data-testid=stVegaLiteChart]")
            assert charts.count() >= 1, name
            assert_charts_fit(charts, (name, size, present))
        browser.close()


#: a CNN and a BatchNorm MLP with squared error, by URL (each page a fresh session)
SHAPES = {"cnn": "dataset=digits&arch=cnn&hidden=3&N=48&epochs=2&C=4",
          "batchnorm": "dataset=digits&bn=1&loss=mse&hidden=5&N=48&epochs=2"}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_every_result_page_renders_a_cnn_and_a_batchnorm_network(server, shape):
    """Screenshots: ``screenshots/<shape>_<page>.png``."""
    from playwright.sync_api import sync_playwright

    shots = ROOT / "screenshots"
    shots.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        for name in [path for path in FIGURE_PAGES if path not in ("Sweep", "Training")]:
            page.goto(f"{server}/{name}?{SHAPES[shape]}")
            wait_until_drawn(page, 240_000)
            page.wait_for_timeout(1500)
            page.screenshot(path=str(shots / f"{shape}_{name or 'Home'}.png"), full_page=True)
            assert page.locator("[data-testid=stException]").count() == 0, name
            assert "Traceback" not in page.content(), name
            drawn = page.locator(CHART)
            assert name == "" or drawn.count() >= 1, name
            if shape == "batchnorm" and name in ("", "Top_eigenvalues"):
                assert page.get_by_text("Not run on this network").count() >= 1, name
                assert page.get_by_text("eval mode").count() >= 1, name
        browser.close()


#: Lanczos at P = 75,010 (8x8 digits, one hidden layer of 1000): about a minute of products, admitted by
#: the budget, while the exact Hessian is refused at once
LONG = "Top_eigenvalues?dataset=digits&hidden=1000&methods=lanczos"


def test_a_long_computation_stops_from_the_page_and_a_changed_control_abandons_it(tmp_path):
    """Streamlit's Stop (top right) ends a method mid-way; a changed control does not wait for the
    old setting's computation; neither leaves anything half-done in the cache."""
    import time

    from playwright.sync_api import sync_playwright

    from core import pipeline, workspace
    from core.config import ExperimentConfig
    from core.methods import DEFAULT_SAMPLES, options_for

    chromium_or_skip()
    cache_dir, data_dir = tmp_path / "cache", tmp_path / "no-mnist"
    data_dir.mkdir()
    with running_app(cache_dir, data_dir) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/{LONG}")
        page.get_by_text("products so far").first.wait_for(timeout=120_000)  # inside Lanczos
        start = time.monotonic()
        page.get_by_role("button", name="Stop").click()
        page.wait_for_selector("[data-testid=stStatusWidget]", state="detached", timeout=30_000)
        stopped_after = time.monotonic() - start

        page.goto(f"{url}/{LONG}")  # nothing was kept, so Lanczos starts again
        page.get_by_text("products so far").first.wait_for(timeout=120_000)
        start = time.monotonic()
        widths = page.get_by_role("textbox", name="hidden widths (comma separated)")
        widths.fill("7")
        widths.press("Enter")
        wait_until_drawn(page, 120_000)
        redrawn_after = time.monotonic() - start
        page.screenshot(path=str(ROOT / "screenshots" / "after_changed_control.png"), full_page=True)
        assert "hidden=7" in page.url
        browser.close()
    assert stopped_after < 15, stopped_after
    assert redrawn_after < 60, redrawn_after  # the old Lanczos alone would take minutes
    with workspace.using(cache_dir=cache_dir, data_dir=data_dir):
        big = ExperimentConfig(dataset="digits", hidden=(1000,))
        options = options_for("lanczos", DEFAULT_SAMPLES)
        assert pipeline.is_trained(big) and not pipeline.is_cached(big, "lanczos", options)
        assert pipeline.is_cached(big.replace(hidden=(7,)), "lanczos", options)
    assert not list(cache_dir.rglob("*.tmp"))


def test_a_markdown_payload_in_the_url_shows_as_text_and_fetches_nothing(server):
    """A link someone sends cannot put a link or an image in the app's own boxes: the values show
    as literal text, and the browser asks for nothing they name."""
    from urllib.parse import quote

    from playwright.sync_api import sync_playwright

    payload = "[Session expired - log in again](https://example.invalid/login) ![x](http://127.0.0.1:9/track.png)"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        asked = []
        page.on("request", lambda request: asked.append(request.url))
        page.goto(f"{server}/Trace?hidden={quote(payload)}&{quote('[y](https://example.invalid)')}=1")
        page.get_by_text("[Session expired - log in again](").first.wait_for(timeout=120_000)
        page.wait_for_timeout(1500)
        elsewhere = [u for u in asked if not u.startswith(server)]  # the app's own page carries the payload
        assert not [u for u in elsewhere if "track.png" in u or "example.invalid" in u], elsewhere
        errors = page.locator("[data-testid=stAlertContentError]")
        assert errors.count() >= 1
        assert errors.locator("a").count() == 0 and errors.locator("img").count() == 0
        text = page.content().replace("\u200b", "")  # the zero-width spaces that keep bare URLs text
        assert "[Session expired - log in again](https://example.invalid/login)" in text
        assert "[y](https://example.invalid)" in text  # the unknown parameter's name, as text too
        browser.close()


def test_during_a_recompute_the_previous_configurations_results_are_not_shown(server):
    """A changed control on a cold configuration: while the progress box shows, nothing the previous
    run drew (another configuration's chart and numbers, greyed by Streamlit) is visible."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{server}/Trace?dataset=digits&hidden=5&N=200&epochs=2")
        wait_until_drawn(page, 240_000)
        page.wait_for_selector(CHART, timeout=60_000)
        widths = page.get_by_role("textbox", name="hidden widths (comma separated)")
        widths.fill("301")  # P = 22,000: seconds of training and methods
        widths.press("Enter")
        page.get_by_text("Training and computing").first.wait_for(timeout=60_000)
        snapshots = []  # each taken at once in the page: the box still there, and what else is visible
        for _ in range(20):
            snapshots.append(page.evaluate(SHOWN_WHILE_COMPUTING))
            if not snapshots[-1]["computing"]:
                break
            page.wait_for_timeout(100)
        during = [shot for shot in snapshots if shot["computing"]]
        assert during and all(shot["charts"] == 0 and shot["stale"] == 0 for shot in during), snapshots
        browser.close()


#: one look at the page: whether the progress box shows, and how many charts and stale elements are visible
SHOWN_WHILE_COMPUTING = """() => {
  const visible = e => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0
                         && getComputedStyle(e).visibility !== 'hidden'; };
  const count = selector => [...document.querySelectorAll(selector)].filter(visible).length;
  return {computing: document.body.innerText.includes('Training and computing'),
          charts: count('[data-testid=stVegaLiteChart]'), stale: count('[data-stale="true"]')};
}"""


def test_a_method_that_crashes_is_its_own_line_and_the_other_methods_are_drawn(tmp_path):
    """One method raising mid-run (as EKFAC's eigensolver did on a wide net) leaves the page whole:
    that method's line says it failed, every other method's chart is drawn."""
    from playwright.sync_api import sync_playwright

    chromium_or_skip()
    env = {"HESSIAN_TEST_CRASHING_METHOD": "kfac",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "tests" / "failing_method"), str(ROOT)])}
    with running_app(tmp_path / "cache", tmp_path / "no-mnist", env=env) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{url}/Top_eigenvalues?dataset=digits&hidden=5&N=200&epochs=2&methods=kfac,lanczos,diag_hessian")
        wait_until_drawn(page, 240_000)
        body = page.inner_text("body")
        assert "BackPACK KFAC: it failed on this problem (RuntimeError: linalg.eigh" in body
        assert "Something went wrong" not in body and "Traceback" not in body
        page.wait_for_selector(CHART, timeout=60_000)  # a chart's code loads after the page's last element
        assert "Lanczos" in body and "DiagHessian" in body
        page.screenshot(path=str(ROOT / "screenshots" / "a_method_crashed.png"), full_page=True)
        browser.close()


def test_a_changed_width_shows_a_first_answer_before_the_exact_spectrum_and_then_the_exact(server):
    """Cold width 8 -> 64 on digits (P = 4,874: the exact spectrum takes seconds, Lanczos less): the
    page draws the first answer with the exact Hessian pending (errors against certified Lanczos),
    then redraws itself with the exact Hessian when the background process lands it."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{server}/Top_eigenvalues?dataset=digits&hidden=8&N=500&epochs=2&methods=lanczos,kfac")
        wait_until_drawn(page, 240_000)
        assert "Errors are against the exact Hessian" in page.inner_text("body")
        widths = page.get_by_role("textbox", name="hidden widths (comma separated)")
        widths.fill("64")
        widths.press("Enter")
        page.get_by_text("Still computing in the background").first.wait_for(timeout=120_000)
        page.get_by_text("the exact Hessian is still computing").first.wait_for(timeout=60_000)  # drawn below it
        body = page.inner_text("body")
        assert "Lanczos top/bottom-k, certified" in body
        page.wait_for_selector(CHART, timeout=60_000)  # the first answer, drawn
        page.get_by_text("Errors are against the exact Hessian").first.wait_for(timeout=300_000)
        assert "Still computing in the background" not in page.inner_text("body")
        assert page.locator("[data-testid=stException]").count() == 0
        browser.close()


def test_a_model_given_at_start_up_is_described_and_compared_in_chromium(tmp_path):
    """``streamlit run app/Home.py -- --model examples.own_models:build``: the page shows the
    model's layers and every method's estimate, and on Compute the answers and their charts."""
    from playwright.sync_api import sync_playwright

    chromium_or_skip()
    with running_app(tmp_path / "cache", tmp_path / "no-mnist", script_args=("--model", "examples.own_models:build")) \
            as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/Your_model")
        page.get_by_text("What each method can do with it").first.wait_for(timeout=240_000)
        page.get_by_text("179", exact=True).first.wait_for(timeout=60_000)  # P, in its metric
        page.get_by_role("button", name="Compute", exact=True).click()
        wait_until_drawn(page, 240_000)
        page.wait_for_selector(CHART, timeout=60_000)
        body = page.inner_text("body")
        assert "Errors are against the exact Hessian" in body and "fc4.weight" in body
        assert page.locator("[data-testid=stException]").count() == 0 and "Something went wrong" not in body
        page.screenshot(path=str(ROOT / "screenshots" / "Your_model.png"), full_page=True)
        browser.close()
