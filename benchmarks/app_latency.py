"""Row 5: cached-result latency, warm-cache render of every page (AppTest), cold default analysis.

Pages come from the app's one list (:data:`app.navigation.PAGES`); the data directory is the
workspace's, which the pages (running in this process) share.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from core import pipeline, workspace
from core.config import ExperimentConfig
from core.methods import DEFAULT_SAMPLES, DEFAULT_SELECTION

from .common import stats, timed

APP = Path(__file__).resolve().parents[1] / "app" / "Home.py"


def render_page(path: str, state: dict) -> None:
    """Render one page of the app with ``state`` in the sidebar; raise on an exception."""
    import sys

    from streamlit.testing.v1 import AppTest

    main = sys.modules["__main__"]
    at = AppTest.from_file(str(APP), default_timeout=600)
    for key, value in state.items():
        at.session_state[key] = value
    try:
        at.run()
        if path != "views/home.py":
            at.switch_page(path).run()
    finally:  # AppTest installs the page as __main__; processes spawned later would re-run it
        sys.modules["__main__"] = main
    if at.exception:
        raise RuntimeError(f"{path}: {at.exception}")


def app_row(config: ExperimentConfig, data_dir, quick: bool) -> dict:
    from streamlit.logger import set_log_level

    from app.navigation import CONFIGURATION_PAGES

    set_log_level("error")  # AppTest runs pages without a browser session; its warnings are noise
    with tempfile.TemporaryDirectory() as store, workspace.using(data_dir=data_dir, cache_dir=store):
        samples = DEFAULT_SAMPLES
        cold, _ = timed(lambda: pipeline.results_for(config, DEFAULT_SELECTION, samples))
        served = [timed(lambda: pipeline.run(config, "exact_hessian"))[0] for _ in range(5)]
        used = pipeline.describe(config)
        state = {"cfg_dataset": config.dataset, "cfg_hidden": ",".join(map(str, config.hidden)),
                 "cfg_hessian_batch_size": config.hessian_batch_size, "cfg_epochs": config.epochs,
                 "cfg_samples": samples}
        pages = {}
        for page in [p for p in CONFIGURATION_PAGES if p.url_path not in ("Sweep", "Training")]:  # those need a table / checkpoints
            render_page(page.path, state)  # the first render warms what the page adds (trace study, sweep)
            pages[page.title] = stats(timed(lambda: render_page(page.path, state))[0] for _ in range(2 if quick else 3))
    return {"cold_default_analysis_s": cold, "cached_result_s": stats(served), "warm_page_render_s": pages,
            "config": f"{config.label()}, dataset used {used['dataset_used']}, P = {used['num_params']:,}"}
