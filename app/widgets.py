"""What pages share besides the sidebar: results with progress, notices, downloads, guarding.

Nothing here computes curvature: it asks ``core`` and shows progress while ``core`` works.
"""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from app.sidebar import Selection
from core import library_warnings, pipeline
from core.config import ConfigError
from core.methods import REGISTRY, MethodError
from core.results import Result

library_warnings.quiet()


def results(selection: Selection, methods=None) -> dict[str, Result]:
    """The results of ``methods`` (default: the selection's) plus the exact Hessian.

    Served from the cache when they are there; otherwise computed with a progress bar, then
    cached. The dataset notice and every method that could not run are shown.
    """
    config, samples = selection.config, selection.samples
    methods = selection.methods if methods is None else methods
    if not pipeline.missing(config, methods, samples) and pipeline.is_trained(config):
        found = pipeline.results_for(config, methods, samples)
    else:
        with st.status("Training and computing; results are cached for next time", expanded=True) as status:
            bar = st.progress(0.0)

            def progress(i, n, name):
                bar.progress(i / n, text=f"{REGISTRY[name].label} ({i + 1} of {n})")

            found = pipeline.results_for(config, methods, samples, progress=progress)
            bar.progress(1.0, text="done")
            status.update(label="Results ready (cached)", state="complete", expanded=False)
    notices(selection, found)
    return found


def notices(selection: Selection, found: dict[str, Result]) -> None:
    """The dataset fallback notice and every method that could not run, with why."""
    info = pipeline.describe(selection.config)
    if info.get("notice"):
        st.warning(info["notice"])
    for name, result in found.items():
        if not result.ok:
            st.error(f"{REGISTRY[name].label}: {result.error}")


def download_csv(frame: pd.DataFrame, name: str) -> None:
    st.download_button(f"Download {name}.csv", frame.to_csv(index=False).encode(), f"{name}.csv",
                       "text/csv", key=f"csv_{name}")


def download_json(found: dict[str, Result], name: str = "results") -> None:
    data = {n: r.to_dict() for n, r in found.items()}
    st.download_button("Download all results (JSON)", json.dumps(data).encode(), f"{name}.json",
                       "application/json", key=f"json_{name}")


def guarded(render) -> None:
    """Run a page body; any unexpected error becomes a message, never a traceback."""
    try:
        render()
    except (ConfigError, MethodError) as error:
        st.error(f"Invalid setting: {error}")
    except Exception as error:  # noqa: BLE001 - the page must never show a traceback
        if type(error).__name__ in ("StopException", "RerunException"):
            raise
        st.error(f"Something went wrong: {type(error).__name__}: {error}. "
                 "Try another setting; the cached results are unaffected.")
