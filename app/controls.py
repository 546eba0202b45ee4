"""Shared sidebar controls, progress, downloads and error handling for every page.

Values live in ``st.session_state`` under permanent keys (``cfg_*``) and are copied into each
page's widgets before drawing, so a choice survives moving between pages (Streamlit drops the
state of widgets that a page does not draw). Pages call :func:`sidebar` and
:func:`compute`, then draw; nothing here computes curvature: it asks ``core``.
"""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from core import figures, pipeline
from core.cli import quiet_library_warnings
from core.config import ACTIVATIONS, DATASETS, MNIST_INPUT_SIZES, ConfigError, ExperimentConfig, parse_hidden
from core.methods import REGISTRY, MethodError

quiet_library_warnings()

DEFAULTS = {"dataset": "mnist", "input_size": 28, "hidden": "8", "activation": "relu",
            "hessian_batch_size": 1000, "epochs": 10, "seed": 0,
            "methods": list(figures.DEFAULT_METHODS), "samples": 100}


def _widget(kind, name: str, label: str, **kwargs):
    """Draw a widget whose value lives under the permanent key ``cfg_<name>``.

    Streamlit's documented pattern for state across pages: copy the permanent value into the
    widget's key before drawing, and copy the widget's value back in its ``on_change`` callback
    (which runs before the rerun), so a page that never drew the widget cannot reset it.
    """
    permanent, widget_key = f"cfg_{name}", f"w_{name}"
    st.session_state.setdefault(permanent, DEFAULTS[name])
    st.session_state[widget_key] = st.session_state[permanent]

    def keep():
        st.session_state[permanent] = st.session_state[widget_key]

    return kind(label, key=widget_key, on_change=keep, **kwargs)


def sidebar() -> tuple[ExperimentConfig, list[str], int]:
    """The shared controls; returns the validated config, the methods and the sample count.

    A bad value shows one clear message and stops the page: nothing is recomputed.
    """
    with st.sidebar:
        st.header("Experiment")
        dataset = _widget(st.selectbox, "dataset", "dataset", options=DATASETS,
                          help="mnist falls back to scikit-learn's 8x8 digits when MNIST is not available")
        input_size = _widget(st.selectbox, "input_size", "MNIST input size (pixels a side)", options=MNIST_INPUT_SIZES,
                             help="average pooling; fewer pixels, fewer first-layer parameters")
        hidden = _widget(st.text_input, "hidden", "hidden widths (comma separated)", help="e.g. 16 or 16,8")
        activation = _widget(st.selectbox, "activation", "activation", options=ACTIVATIONS)
        batch = _widget(st.number_input, "hessian_batch_size", "Hessian batch size N", min_value=1, max_value=60_000,
                        help="the fixed batch whose mean-loss Hessian is studied")
        epochs = _widget(st.number_input, "epochs", "training epochs", min_value=0, max_value=200)
        seed = _widget(st.number_input, "seed", "seed", min_value=0, max_value=2**31 - 1)
        st.header("Methods")
        methods = _widget(st.multiselect, "methods", "methods to compare", options=list(REGISTRY),
                          format_func=lambda n: REGISTRY[n].label)
        samples = _widget(st.slider, "samples", "Hutchinson sample count", min_value=3, max_value=500,
                          help="also the product budget of Hutch++ and XTrace")
    try:
        config = ExperimentConfig(dataset=dataset, input_size=int(input_size), hidden=parse_hidden(hidden),
                                  activation=activation, hessian_batch_size=int(batch), epochs=int(epochs),
                                  seed=int(seed))
    except ConfigError as error:
        st.error(f"Invalid setting: {error}. Nothing was recomputed.")
        st.stop()
    return config, list(methods), int(samples)


def compute(config: ExperimentConfig, methods: list[str], samples: int) -> dict:
    """All selected results, from the cache when they are there, with progress otherwise."""
    missing = [m for m in ["exact_hessian", *methods]
               if not pipeline.is_cached(config, m, figures.default_options(m, samples))]
    if not missing and pipeline.is_trained(config):
        return figures.results_for(config, methods, samples)
    with st.status("Training and computing; results are cached for next time", expanded=True) as status:
        bar = st.progress(0.0)

        def progress(i, n, name):
            bar.progress(i / n, text=f"{REGISTRY[name].label} ({i + 1} of {n})")

        results = figures.results_for(config, methods, samples, progress=progress)
        bar.progress(1.0, text="done")
        status.update(label="Results ready (cached)", state="complete", expanded=False)
    return results


def setup(only_methods: list[str] | None = None) -> tuple[ExperimentConfig, list[str], int, dict]:
    """What every page starts with: the sidebar, the (cached) results, the notices.

    ``only_methods`` computes just those (plus the exact Hessian) instead of the selection.
    """
    config, methods, samples = sidebar()
    results = compute(config, methods if only_methods is None else only_methods, samples)
    notices(config, results)
    return config, methods, samples, results


def notices(config: ExperimentConfig, results: dict) -> None:
    """The dataset fallback notice and every method that could not run, with why."""
    info = pipeline.describe(config)
    if info.get("notice"):
        st.warning(info["notice"])
    for name, result in results.items():
        if not result.ok:
            st.error(f"{REGISTRY[name].label}: {result.error}")


def download_csv(frame: pd.DataFrame, name: str) -> None:
    st.download_button(f"Download {name}.csv", frame.to_csv(index=False).encode(), f"{name}.csv",
                       "text/csv", key=f"csv_{name}")


def download_json(results: dict, name: str = "results") -> None:
    data = {n: r.to_dict() for n, r in results.items()}
    st.download_button("Download all results (JSON)", json.dumps(data).encode(), f"{name}.json",
                       "application/json", key=f"json_{name}")


def guarded(page) -> None:
    """Run a page body; any unexpected error becomes a message, never a traceback."""
    try:
        page()
    except (ConfigError, MethodError) as error:
        st.error(f"Invalid setting: {error}")
    except Exception as error:  # noqa: BLE001 - the page must never show a traceback
        if type(error).__name__ in ("StopException", "RerunException"):
            raise
        st.error(f"Something went wrong: {type(error).__name__}: {error}. "
                 "Try another setting; the cached results are unaffected.")
