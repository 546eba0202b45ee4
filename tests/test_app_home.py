"""The Home page through Streamlit's AppTest (no browser)."""

from conftest import ROOT
from streamlit.testing.v1 import AppTest

from core import cache


def home():
    at = AppTest.from_file(str(ROOT / "app" / "Home.py"), default_timeout=300)
    at.run()
    at.sidebar.selectbox(key="dataset").set_value("synthetic")
    at.sidebar.text_input(key="hidden").set_value("6")
    at.sidebar.number_input(key="hessian_batch_size").set_value(64)
    return at.run()


def trace_cell(at):
    return at.dataframe[0].value.iloc[0, 0]


def test_home_runs_and_changing_width_rerenders_from_cache(fresh_cache):
    at = home()
    assert not at.exception and not at.error
    first = trace_cell(at)
    assert at.metric[0].value == f"{8 * 6 + 6 + 6 * 10 + 10:,}"
    at.sidebar.text_input(key="hidden").set_value("12").run()
    assert not at.exception and trace_cell(at) != first
    computed = sum(cache.COMPUTE_COUNTS.values())
    at.sidebar.text_input(key="hidden").set_value("6").run()  # back: served from the cache
    assert trace_cell(at) == first and sum(cache.COMPUTE_COUNTS.values()) == computed


def test_bad_width_shows_a_message_and_no_traceback(fresh_cache):
    at = home()
    at.sidebar.text_input(key="hidden").set_value("8,x").run()
    assert not at.exception
    assert "hidden='8,x' is not allowed" in at.error[0].value


def test_over_budget_shows_refusal_and_pyhessian_still_runs(fresh_cache, monkeypatch):
    monkeypatch.setenv("HESSIAN_MAX_GIB", "0.000001")
    at = home()
    assert not at.exception
    assert any("refused" in e.value for e in at.error)
    assert at.dataframe[0].value.iloc[0, 0] == "—"  # no exact trace
    assert float(at.dataframe[0].value.iloc[0, 1]) > 0  # PyHessian's trace still computed
