"""Sweep: a finished ``python -m core sweep`` table: error against cost with the Pareto front,
and any metric against any swept field."""

from pathlib import Path

import pandas as pd
import streamlit as st

from app import charts, sidebar, widgets
from app.text import literal
from core import sweep, tables
from core.methods import REFERENCE, REGISTRY

METRICS = {"max top-10 relative error": "max_topk_rel_error", "trace relative error": "trace_rel_error",
           "wall time [s]": "seconds", "products": "matvecs", "peak memory [MiB]": "peak_memory_mib"}


def render():
    selection = sidebar.current()
    widgets.presentation(selection)
    st.title("Sweep: error against cost")
    if not selection.present:
        st.markdown("Load a table written by `python -m core sweep` (one row per configuration, method and options). "
                    "Each point is one cell; the black line joins the cells no other cell beats on both cost and "
                    "error.")
    first = st.container()  # the chart first (presentation mode: in the first viewport), the file below it
    upload = st.file_uploader("sweep table (CSV)", type="csv")
    path = st.text_input("or its path on this machine (relative paths: from the folder the app was started in)",
                         "sweep.csv", key="sweep_path")
    try:
        source = upload if upload is not None else sweep.table_path(path, Path.cwd())
        rows = sweep.read_table(source)
    except sweep.SweepError as error:
        first.info(f"No sweep table yet: {literal(error)}. Run for example: `python -m core sweep --dataset digits "
                   "--grid \"hidden=4;8;16\" --grid \"activation=relu;tanh\" --methods lanczos,hutchpp,kfac "
                   f"--out sweep.csv` in {literal(Path.cwd())}.")
        return
    for row in rows:
        row["label"] = REGISTRY[row["method"]].label if row["method"] in REGISTRY else row["method"]
    done = [r for r in rows if r["status"] == "ok" and r["method"] != REFERENCE]
    c1, c2 = st.columns(2)
    error_name = c1.selectbox("error", [k for k in METRICS if "error" in k])
    cost_name = c2.selectbox("cost", [k for k in METRICS if "error" not in k])
    front = tables.pareto_front(done, METRICS[cost_name], METRICS[error_name])
    if front:
        first.altair_chart(charts.pareto(front, METRICS[cost_name], METRICS[error_name], cost_name, error_name),
                           width="stretch")
    else:
        first.info("No cell has both numbers (errors need the exact Hessian of the same configuration).")
    fields = sweep.swept_fields(rows)
    if fields:
        c1, c2 = st.columns(2)
        field = c1.selectbox("swept field", fields)
        metric_name = c2.selectbox("metric", list(METRICS))
        st.altair_chart(charts.metric_against_field(done, field, METRICS[metric_name], metric_name), width="stretch")
    refused = [r for r in rows if r["status"] != "ok"]
    with widgets.details(selection):
        if refused:
            st.caption(f"{len(refused)} cells were refused or failed; their rows say why.")
        st.dataframe(pd.DataFrame(rows), width="stretch", hide_index=True)


widgets.guarded(render)
