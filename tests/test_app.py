"""Every page through Streamlit's AppTest (no browser), on a small configuration."""

import re
import pytest
from streamlit.testing.v1 import AppTest

from app.navigation import CONFIGURATION_PAGES, PAGES
from core import cache
from factories import ROOT

SMALL = {"cfg_dataset": "synthetic", "cfg_hidden": "6", "cfg_hessian_batch_size": 64, "cfg_epochs": 3,
         "cfg_samples": 30}


def app(page: str = "views/home.py", **state) -> AppTest:
    """The app with ``state`` in the sidebar, showing ``page``."""
    at = AppTest.from_file(str(ROOT / "app" / "Home.py"), default_timeout=300)
    for key, value in {**SMALL, **state}.items():
        at.session_state[key] = value
    at.run()
    if page != "views/home.py":
        at.switch_page(page).run()
    return at


#: pages that read the run's results (Sweep reads a sweep table: tests/test_sweep.py; Training needs
#: checkpoints: tests/test_trajectory.py; Your model a model named at start-up: below)
RESULT_PAGES = [p.path for p in CONFIGURATION_PAGES if p.url_path not in ("Sweep", "Training")]


@pytest.mark.parametrize("page", RESULT_PAGES)
def test_every_page_runs_without_exception_or_error(page):
    at = app(page)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert shows_a_table(at), "each page shows a table"


def markdown_tables(at) -> list[list[list[str]]]:
    """The Markdown tables on the page (Home's paper table), each as rows of cells, header first."""
    tables = []
    for element in at.markdown:
        lines = [line for line in element.value.splitlines() if line.startswith("|")]
        if len(lines) >= 3 and set(lines[1]) <= set("|:- "):
            tables.append([[cell.strip() for cell in line.strip("|").split(" | ")] for line in [lines[0], *lines[2:]]])
    return tables


def shows_a_table(at) -> bool:
    return bool(at.dataframe) or bool(markdown_tables(at))


def claims_text(at):
    return " ".join(m.value for m in at.markdown)


def test_home_claims_panel_checks_the_paper():
    text = claims_text(app(cfg_methods=["pyhessian_top_k", "diag_hessian", "diag_ggn_exact", "kfac"]))
    for claim in ("PyHessian's top-10", "DiagHessian trace equals the exact trace tr(H)",
                  "DiagGGNExact's trace equals the GGN's trace tr(G)", "Kronecker-factored traces",
                  "Hutchinson's estimate approaches", "independent repeats",
                  "Hessian = GGN' within each layer", "across layers"):
        assert claim in text, claim
    assert "held]** — 'relu: Hessian = GGN' within each layer" in text
    assert "did not hold]** — 'relu: Hessian = GGN' across layers" in text


def test_a_refused_hutchinson_study_leaves_that_verdict_unchecked_and_the_rest_of_home_drawn(monkeypatch):
    from core import studies
    from core.budget import BudgetExceeded

    def refused(*args, **kwargs):
        raise BudgetExceeded("The Hutchinson study (10 repeats, 1,000 products) is refused: over the budget")

    monkeypatch.setattr(studies, "hutchinson_study", refused)
    at = app()
    assert not at.exception and not at.error
    text = claims_text(at)
    assert "not checked]** — Hutchinson's estimate approaches the exact trace" in text
    assert "1,000 products) is refused" in text
    assert "across layers" in text  # the claims after it are still checked


def trace_cell(at):
    """Home's paper table: the exact trace (first row, first number)."""
    return markdown_tables(at)[0][1][1]


def test_changing_width_rerenders_and_changing_back_is_served_from_cache(fresh_cache):
    at = app()
    first = trace_cell(at)
    assert at.metric[0].value == f"{8 * 6 + 6 + 6 * 10 + 10:,}"
    at.sidebar.text_input(key="cfg_hidden").set_value("12").run()
    assert not at.exception and trace_cell(at) != first
    assert at.metric[0].value == f"{8 * 12 + 12 + 12 * 10 + 10:,}"
    computed = sum(cache.COMPUTE_COUNTS.values())
    at.sidebar.text_input(key="cfg_hidden").set_value("6").run()
    assert trace_cell(at) == first and sum(cache.COMPUTE_COUNTS.values()) == computed


def test_choices_survive_moving_between_pages():
    at = app()
    at.sidebar.text_input(key="cfg_hidden").set_value("7").run()
    for page in PAGES[1:3]:
        at.switch_page(page.path).run()
        assert not at.exception
        assert at.sidebar.text_input(key="cfg_hidden").value == "7"


def test_sidebar_defaults_are_the_config_defaults():
    from core.config import ExperimentConfig
    from core.methods import DEFAULT_SAMPLES, DEFAULT_SELECTION

    at = AppTest.from_file(str(ROOT / "app" / "Home.py"))
    at.session_state["cfg_hidden"] = "8,x"  # stop before any work: only the sidebar is drawn
    at.run()
    defaults = ExperimentConfig()
    assert at.sidebar.selectbox(key="cfg_dataset").value == defaults.dataset
    assert at.sidebar.number_input(key="cfg_hessian_batch_size").value == defaults.hessian_batch_size
    assert at.sidebar.slider(key="cfg_samples").value == DEFAULT_SAMPLES
    assert at.sidebar.multiselect(key="cfg_methods").value == list(DEFAULT_SELECTION)


def test_bad_width_shows_a_message_and_no_traceback():
    at = app()
    at.sidebar.text_input(key="cfg_hidden").set_value("8,x").run()
    assert not at.exception
    assert "hidden='8,x' is not allowed" in shown(at.error[0].value)


def test_over_budget_shows_refusal_and_approximations_still_run(fresh_cache, monkeypatch):
    monkeypatch.setenv("HESSIAN_MAX_GIB", "0.00012")  # P = 124: the dense 1.7e-4 GiB is over, the rest fit
    at = app()
    assert not at.exception
    assert any("refused" in shown(e.value) and "GiB" in shown(e.value) for e in at.warning)  # expected: a warning
    assert trace_cell(at) == "—"  # no exact trace
    assert float(markdown_tables(at)[0][1][2]) > 0  # PyHessian's trace still computed
    trace_page = app("views/trace.py")
    assert not trace_page.exception
    assert len(trace_page.dataframe[0].value) >= 5  # every approximation with a trace is listed


def test_warm_then_every_page_computes_nothing(fresh_cache):
    from core import studies
    from core.config import ExperimentConfig
    from core.methods import DEFAULT_SELECTION

    config = ExperimentConfig(dataset="synthetic", hidden=(6,), hessian_batch_size=64, epochs=3)
    for width in (2, 4, 6, 8):  # the configuration and the Cost page's default sweep
        studies.warm(config.replace(hidden=(width,)), DEFAULT_SELECTION, 30)
    computed = dict(cache.COMPUTE_COUNTS)
    for page in RESULT_PAGES:
        at = app(page, cfg_methods=list(DEFAULT_SELECTION))
        assert not at.exception and not at.error, page
    assert dict(cache.COMPUTE_COUNTS) == computed


def test_a_width_admitted_for_nothing_dense_renders_every_page_with_refusals(fresh_cache, monkeypatch):
    import time

    monkeypatch.setenv("HESSIAN_MAX_SECONDS", "20")
    state = {"cfg_dataset": "digits", "cfg_hidden": "1000", "cfg_hessian_batch_size": 200, "cfg_epochs": 1,
             "cfg_methods": ["pyhessian_top_k", "pyhessian_hutchinson", "diag_hessian", "kfac", "lanczos",
                             "hutchpp"]}
    for page in RESULT_PAGES:
        start = time.perf_counter()
        at = app(page, **state)
        assert not at.exception, page
        refusals = " ".join(shown(e.value) for e in at.warning)
        assert "Exact Hessian" in refusals and "refused" in refusals, page
        if page in ("views/top_eigenvalues.py", "views/trace.py"):  # scored against the certified stand-in
            assert any("the exact Hessian is refused" in c.value for c in at.caption), page
        assert time.perf_counter() - start < 60 + 3 * 20, page  # training + the budget, not more


def shown(markdown: str) -> str:
    """What a reader sees of an escaped Markdown body (``app.text.literal``'s backslashes dropped)."""
    return re.sub(r"\\(.)", r"\1", markdown)


def url_app(page: str = "views/home.py", **query) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app" / "Home.py"), default_timeout=300)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    if page != "views/home.py":
        at.switch_page(page).run()
    return at


URL_SMALL = {"dataset": "synthetic", "hidden": "6", "N": "64", "epochs": "3", "samples": "30"}


def test_url_parameters_set_the_controls_and_a_change_is_written_back():
    at = url_app(**URL_SMALL, seed="2")
    assert not at.exception and not at.error
    assert at.sidebar.text_input(key="cfg_hidden").value == "6"
    assert at.sidebar.number_input(key="cfg_seed").value == 2
    assert at.metric[0].value == f"{8 * 6 + 6 + 6 * 10 + 10:,}"
    at.sidebar.number_input(key="cfg_seed").set_value(0).run()
    assert "seed" not in at.query_params  # back at its default: not in the URL
    at.sidebar.text_input(key="cfg_hidden").set_value("7").run()
    assert at.query_params["hidden"] == ["7"] or at.query_params["hidden"] == "7"


def test_a_bad_url_value_gets_one_line_and_the_default():
    at = url_app(**{**URL_SMALL, "N": "lots", "activation": "swish"})
    assert not at.exception
    messages = [shown(e.value) for e in at.error]
    assert any("URL parameter N='lots' is not allowed" in m for m in messages)
    assert any("URL parameter activation='swish' is not allowed" in m for m in messages)
    assert at.sidebar.selectbox(key="cfg_activation").value == "relu"


def test_presentation_mode_folds_tables_and_uses_a_short_selection():
    at = url_app("views/top_eigenvalues.py", **URL_SMALL, present="1")
    assert not at.exception and not at.error
    assert at.sidebar.toggle(key="cfg_present").value is True
    assert at.sidebar.multiselect(key="cfg_methods").value == ["pyhessian_top_k", "diag_hessian", "kfac",
                                                               "lanczos", "hutchpp"]
    assert at.expander and at.expander[0].label == "Tables and downloads"


def test_downloads_carry_the_configuration():
    from app import widgets
    from app.sidebar import Selection
    from core.config import ExperimentConfig
    import pandas as pd

    selection = Selection(ExperimentConfig(dataset="synthetic", hidden=(6,), hessian_batch_size=64, epochs=3),
                          ("kfac",), 30)
    import csv
    import io

    text = widgets.csv_with_header(pd.DataFrame({"trace": [1.5, 2.5]}), selection)
    assert not any(line.startswith("#") for line in text.splitlines())  # one plain table for a spreadsheet
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["trace"] for r in rows] == ["1.5", "2.5"]
    for row in rows:  # every row says what produced it
        assert '"hidden": [6]' in row["configuration"] and row["dataset_used"] == "synthetic"
        assert row["code_version"] and row["hutchinson_samples"] == "30"
    assert widgets.file_label(selection) == "synthetic_h6_relu_N64_s0"


def test_the_cost_page_refuses_an_unbounded_width_sweep_before_any_work(fresh_cache):
    at = app("views/cost.py")
    computed = sum(cache.COMPUTE_COUNTS.values())
    at.text_input(key="cost_sweep_widths").set_value(",".join(str(w) for w in range(1, 40))).run()
    assert not at.exception
    assert any("Widths must be 1 to 8 integers" in shown(e.value) for e in at.error)
    assert sum(cache.COMPUTE_COUNTS.values()) == computed


#: a CNN and a BatchNorm configuration, small enough for every page in seconds
CNN = {"cfg_dataset": "digits", "cfg_architecture": "cnn", "cfg_hidden": "3", "cfg_hessian_batch_size": 48,
       "cfg_epochs": 2, "cfg_num_classes": 4}
BATCHNORM = {"cfg_dataset": "digits", "cfg_batch_norm": True, "cfg_hidden": "5", "cfg_hessian_batch_size": 48,
             "cfg_epochs": 2, "cfg_loss": "mse"}


@pytest.mark.parametrize("page", RESULT_PAGES)
@pytest.mark.parametrize("shape", ["cnn", "batchnorm"])
def test_every_page_runs_on_a_cnn_and_on_a_batchnorm_mlp(page, shape, monkeypatch):
    if shape == "batchnorm":  # the whole page in one run: this MLP's exact spectrum is estimated past
        monkeypatch.setenv("HESSIAN_PROGRESSIVE", "0")  # the first answer's 1 s, and Home's paper table waits for it
    at = app(page, **(CNN if shape == "cnn" else BATCHNORM))
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert shows_a_table(at), "each page shows a table"
    if shape == "batchnorm":  # what BackPACK cannot do is said once, with why; eval mode is said
        notes = " ".join(shown(i.value) for i in at.info)
        if page in ("views/home.py", "views/top_eigenvalues.py"):  # pages that compute KFAC
            assert "Not run on this network" in notes and "no rule for BatchNorm1d layers (bn1)" in notes
        assert any("eval mode" in c.value for c in at.caption)


TRANSFORMER = {"cfg_dataset": "digits", "cfg_architecture": "transformer", "cfg_hidden": "4", "cfg_hessian_batch_size": 48,
               "cfg_epochs": 2}


@pytest.mark.parametrize("page", RESULT_PAGES)
@pytest.mark.parametrize("shape", ["resnet", "transformer"])
def test_every_page_runs_on_a_residual_cnn_and_on_a_transformer(page, shape, monkeypatch):
    # the whole page in one run: the transformer's exact spectrum is estimated past the first
    # answer's 1 s (3.5 s, for 1.7 s measured: its 12 layers' fixed share per column)
    monkeypatch.setenv("HESSIAN_PROGRESSIVE", "0")
    at = app(page, **({**CNN, "cfg_architecture": "resnet", "cfg_hidden": "2"} if shape == "resnet" else TRANSFORMER))
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert shows_a_table(at), "each page shows a table"
    if shape == "transformer" and page in ("views/home.py", "views/top_eigenvalues.py"):  # BackPACK says why not
        assert "converter (torch.fx) cannot translate this model" in " ".join(shown(i.value) for i in at.info)


def test_home_checks_the_shape_claims_and_the_counterparts_on_request():
    at = app(**CNN)
    text = claims_text(at)
    assert "About C outliers for C = 4 classes" in text and "largest among the top 2C + 2" in text
    assert "MSE than under cross-entropy" not in text  # counterparts only on request
    at.toggle(key="home_counterparts").set_value(True).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    text = claims_text(at)
    for claim in ("H is closer to the GGN under MSE than under cross-entropy", "BatchNorm makes the top eigenvalues",
                  "BatchNorm lowers the top eigenvalue and the trace"):
        assert claim in text, claim


RESNET = {**CNN, "cfg_architecture": "resnet", "cfg_hidden": "2"}


def test_a_residual_cnn_has_its_skips_switch_and_home_checks_the_skips_claim_on_request():
    at = app(**RESNET, cfg_methods=["lanczos", "diag_ggn_exact"])
    assert not at.exception and not at.error, [e.value for e in at.error]
    switch = at.sidebar.toggle(key="cfg_no_skips")
    assert not switch.disabled and at.sidebar.text_input(key="cfg_hidden").label.startswith("channels per convolution")
    at.toggle(key="home_counterparts").set_value(True).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "Removing the residual connections raises the top eigenvalue and the trace" in claims_text(at)
    switch.set_value(True).run()
    assert at.query_params["no_skips"] in ("1", ["1"]) and not at.exception
    plain = app(**CNN)
    assert plain.sidebar.toggle(key="cfg_no_skips").disabled  # a net without skips: the switch is not used
    assert "Removing the residual connections" not in claims_text(plain)


def test_the_architecture_controls_are_in_the_url_and_label_the_width_as_channels():
    at = app(**CNN)
    assert at.sidebar.text_input(key="cfg_hidden").label.startswith("channels per convolution")
    assert at.query_params["arch"] in ("cnn", ["cnn"]) and at.query_params["C"] in ("4", ["4"])
    at.sidebar.toggle(key="cfg_batch_norm").set_value(True).run()
    assert at.query_params["bn"] in ("1", ["1"]) and not at.exception
    assert at.metric[0].value == f"{3 * 9 + 2 * 3 + 3 * 16 * 4 + 4:,}"  # conv (no bias) + BatchNorm + head


def test_a_cnn_on_vector_data_is_refused_with_one_line():
    at = app(**{**CNN, "cfg_dataset": "synthetic"})
    assert not at.exception
    assert len(at.error) == 1 and "architecture='cnn' is not allowed" in shown(at.error[0].value)


def test_training_over_the_budget_is_refused_on_the_page(fresh_cache, monkeypatch):
    monkeypatch.setenv("HESSIAN_MAX_SECONDS", "20")
    at = app(cfg_dataset="digits", cfg_hidden="64", cfg_epochs=1000)
    assert not at.exception
    assert any("Training is refused" in shown(e.value) for e in at.error)
    assert cache.COMPUTE_COUNTS["train"] == 0


def test_a_warm_with_counterparts_leaves_the_home_comparison_nothing_to_compute(fresh_cache):
    from core import studies
    from core.config import ExperimentConfig

    config = ExperimentConfig(dataset="digits", architecture="cnn", hidden=(3,), hessian_batch_size=48, epochs=2,
                              num_classes=4)
    studies.warm(config, ["kflr"], 30, counterparts=True)
    computed = dict(cache.COMPUTE_COUNTS)
    at = app(**CNN, cfg_methods=["kflr"], cfg_samples=30)
    at.toggle(key="home_counterparts").set_value(True).run()
    assert not at.exception and not at.error
    assert "BatchNorm lowers the top eigenvalue" in claims_text(at)
    assert dict(cache.COMPUTE_COUNTS) == computed


def test_text_from_the_url_is_shown_as_text_never_as_markdown(fresh_cache):
    """A crafted link cannot put a link, an image or markup in the app's own error boxes."""
    payload = "[Session expired - log in again](https://example.invalid/login) ![x](http://127.0.0.1:9/t.png)"
    at = url_app(**{**URL_SMALL, "hidden": payload, "**bold**": "1"})
    bodies = [e.value.replace("\u200b", "") for e in at.error]  # the zero-width spaces that keep URLs text
    assert any(r"\[Session expired" in b and r"\]\(https\:" in b for b in bodies), bodies
    assert any(r"\*\*bold\*\*" in b for b in bodies), bodies  # an unknown parameter's name, too
    for body in bodies:
        assert "](" not in body.replace(r"\]\(", "") and "![" not in body.replace(r"\!\[", "")


def test_one_method_that_fails_is_its_own_line_and_the_others_are_drawn(fresh_cache, monkeypatch):
    """EKFAC's eigensolver failing (as it did at width 4096) must not blank the page."""
    import torch

    from core.methods import backpack_methods

    def diverges(problem, opts):
        raise torch.linalg.LinAlgError("linalg.eigh: The algorithm failed to converge")

    monkeypatch.setattr(backpack_methods, "ekfac", diverges)
    at = app("views/top_eigenvalues.py", cfg_methods=["ekfac", "lanczos", "kfac"])
    assert not at.exception and not at.error, [shown(e.value) for e in at.error]
    notes = " ".join(shown(i.value) for i in at.info)
    assert "EKFAC (curvlinops)" in notes and "its eigensolver failed" in notes
    assert at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart"), "the other methods' chart is drawn"


def test_charts_carry_the_type_size_of_the_mode_they_are_drawn_in():
    from app import charts

    rows = [{"method": charts.EXACT, "rank": 1, "eigenvalue": 3.0, "relative_error": None, "residual": None,
             "converged": True, "scored_against": "largest λ", "approximates": "hessian"}]
    sizes = {}
    for present in (False, True):
        token = charts.PRESENTING.set(present)
        try:
            sizes[present] = charts.top_eigenvalues(rows, True).to_dict()["config"]["axis"]["labelFontSize"]
        finally:
            charts.PRESENTING.reset(token)
    assert sizes == {False: charts.TYPE_SIZES[False][0], True: charts.TYPE_SIZES[True][0]} and sizes[True] >= 16


def test_every_method_on_the_top_eigenvalues_chart_has_its_own_marker():
    from app import charts
    from core.methods import REGISTRY

    drawn = [spec.label for spec in REGISTRY.values() if "top" in spec.yields]
    assert len({charts.LABEL_MARKERS[label] for label in drawn}) == len(drawn)
    assert charts.LABEL_MARKERS[REGISTRY["pyhessian_top_k"].label] != charts.LABEL_MARKERS[REGISTRY["lanczos"].label]


def test_a_hessian_batch_larger_than_the_classes_hold_is_one_message_and_no_progress_box(fresh_cache):
    at = app("views/top_eigenvalues.py", cfg_dataset="digits", cfg_num_classes=3, cfg_hessian_batch_size=1000)
    assert not at.exception
    messages = [shown(e.value) for e in at.error]
    assert len(messages) == 1 and "lower the Hessian batch size N" in messages[0], messages
    assert "train_subset=" not in messages[0]
    assert not [s for s in at.status], "the progress box is cleared"


def test_page_controls_are_in_the_url_and_survive_a_reload():
    at = url_app("views/top_eigenvalues.py", **URL_SMALL, k="7", symlog="0", dk="3")
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.slider(key="top_k").value == 7 and at.toggle(key="top_symlog").value is False
    assert at.slider(key="directions_k").value == 3
    at.slider(key="top_k").set_value(12).run()
    assert at.query_params["k"] == "12" and at.query_params["dk"] == "3"
    bad = url_app("views/top_eigenvalues.py", **URL_SMALL, k="500")
    assert any("k='500' is not allowed" in shown(e.value) for e in bad.error)
    assert bad.slider(key="top_k").value == 10


def test_the_progress_clock_keeps_time_while_a_step_says_nothing(monkeypatch):
    import time

    from app import widgets

    monkeypatch.setattr(widgets, "CLOCK_AFTER_S", 0.5)

    class Bar:
        texts: list = []

        def progress(self, fraction, text=""):
            self.texts.append(text)

    bar = Bar()
    clock = widgets.ElapsedClock(bar)
    try:
        clock.show(0.5, "Exact Hessian, estimated at most 20 s (3 of 6)", stage=object())
        time.sleep(2.6)  # a LAPACK solve: no ticks from the computation
    finally:
        clock.stop()
    ticking = [t for t in bar.texts if "running for" in t]
    assert ticking and ticking[-1].startswith("Exact Hessian, estimated at most 20 s (3 of 6) · running for ")
    assert int(ticking[-1].rsplit("for ", 1)[1].split()[0]) >= 2 and not clock.thread.is_alive()


OWN_PAGE = "views/own_model.py"


def test_the_model_is_read_from_the_servers_own_arguments_by_its_exact_name():
    from app.own import model_spec

    assert model_spec(["app/Home.py", "--model", "examples.own_models:build"]) == "examples.own_models:build"
    assert model_spec(["app/Home.py", "--server.port", "1", "--model=pkg.mod:fn"]) == "pkg.mod:fn"
    assert model_spec(["app/Home.py", "--mod", "x:y"]) is None  # no abbreviation selects it
    assert model_spec(["app/Home.py"]) is None


def test_without_a_model_at_start_up_the_page_says_how_to_give_one_and_computes_nothing(fresh_cache, monkeypatch):
    monkeypatch.setattr("sys.argv", ["app/Home.py"])
    at = app(OWN_PAGE)
    assert not at.exception and not at.error
    assert "No model was given when this server started" in " ".join(i.value for i in at.info)
    assert "--model examples.own_models:build" in at.code[0].value
    assert not any(key.startswith("own:") for key in cache.COMPUTE_COUNTS)


def test_a_model_given_at_start_up_shows_its_layers_and_methods_and_computes_on_compute(fresh_cache, monkeypatch):
    """The tied-weight, LayerNorm, skip module of the own-model tests: its P, layer table and every
    method's estimate before anything runs; on Compute, Lanczos against the exact Hessian, KFAC's
    refusal naming the shared weight; a rerun (another page and back) is served from the cache."""
    monkeypatch.setattr("sys.argv", ["app/Home.py", "--model", "examples.own_models:build"])
    at = app(OWN_PAGE)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert [m.value for m in at.metric][:4] == ["179", "24", "3", "cross_entropy"]
    layers, methods = at.dataframe[0].value, at.dataframe[1].value
    assert layers["parameters"].sum() == 179
    assert layers.set_index("blocks")["parameters"]["fc4.bias"] == 8  # its weight is fc2's, counted once there
    from core.methods import REGISTRY

    assert list(methods["method"]) == [spec.label for spec in REGISTRY.values()]
    assert not any(key.startswith("own:") for key in cache.COMPUTE_COUNTS), "nothing runs before Compute"
    at.multiselect[-1].set_value(["lanczos", "hutchinson", "kfac"])
    at.button[0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    answers = at.dataframe[-1].value.set_index("method")
    assert answers.loc[REGISTRY["lanczos"].label, "λ₁ rel. error"] < 1e-6
    notices = " ".join(i.value for i in at.info)
    assert "BackPACK KFAC" in notices and "fc4" in notices
    assert "Errors are against the exact Hessian." in [c.value for c in at.caption]
    def own_counts():
        return {key: n for key, n in cache.COMPUTE_COUNTS.items() if key.startswith("own:")}

    computed = own_counts()
    assert computed["own:lanczos"] == 1
    at.switch_page("views/trace.py").run()
    at.switch_page(OWN_PAGE).run()
    assert len(at.dataframe) == 3 and own_counts() == computed
    from core import own_model

    exact = own_model.run(own_model.from_builder("examples.own_models:build"), "exact_hessian")  # the same, cached
    hutchinson = answers.loc[REGISTRY["hutchinson"].label]
    assert abs(hutchinson["trace"] - exact.trace) < 5 * hutchinson["trace ± s.e."]
    assert own_counts() == computed


def test_a_builder_that_is_not_there_is_one_line_and_nothing_else(fresh_cache, monkeypatch):
    monkeypatch.setattr("sys.argv", ["app/Home.py", "--model", "examples.own_models:missing"])
    at = app(OWN_PAGE)
    assert not at.exception
    from app.text import literal

    assert [e.value for e in at.error] == [literal("examples.own_models has no function 'missing' for --model")]
    assert not at.dataframe


def test_the_pages_time_budget_lowers_the_servers_and_decides_what_is_admitted(fresh_cache, monkeypatch, tmp_path):
    """At the page's 5 s every method estimated past 5 s is refused before it starts, the rest are
    admitted (those that spend the budget, when their first answer fits); never past the server's."""
    from core.methods import REGISTRY

    (tmp_path / "wide_builder.py").write_text(
        "import torch\nfrom torch import nn\n\n\ndef build():\n    torch.manual_seed(0)\n"
        "    return nn.Sequential(nn.Linear(60, 90), nn.Tanh(), nn.Linear(90, 10)), torch.randn(256, 60), "
        "torch.randint(0, 10, (256,))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr("sys.argv", ["app/Home.py", "--model", "wide_builder:build"])
    monkeypatch.setenv("HESSIAN_MAX_SECONDS", "200")
    at = app(OWN_PAGE)
    assert not at.exception and not at.error, [e.value for e in at.error]
    budget = at.select_slider(key="own_budget")
    assert budget.value == 200 and budget.options[-1] == "200"  # never past the server's (300 otherwise)
    budget.set_value(5).run()
    table = at.dataframe[1].value
    over = table[(table["estimate (s, at most)"] > 5) & ~table["method"].isin(
        [spec.label for spec in REGISTRY.values() if getattr(spec.cost, "spends_budget", False)])]
    assert len(over) and (over["admitted"] != "yes").all()
    assert (table[table["estimate (s, at most)"] <= 5]["admitted"] == "yes").all()
    assert "over the budget of 12 GiB and 5 s" in " ".join(m.value for m in at.markdown)
