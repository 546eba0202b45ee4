"""Cost: wall time, products and backward passes per method, and how cost and error grow with width."""

import pandas as pd
import streamlit as st

from app import charts, sidebar, widgets
from app.text import literal
from core import studies, tables
from core.methods import FAMILIES, REFERENCE, REGISTRY

#: the most widths one sweep on this page may ask for (each trains and computes every method)
MAX_WIDTHS = 8


def render():
    selection = sidebar.current()
    widgets.presentation(selection)
    st.title("What each method costs")
    found = widgets.results(selection)
    rows = tables.cost_rows(found)
    ran = [r for r in rows if r["error"] is None]
    c1, c2 = st.columns(2)
    c1.altair_chart(charts.cost_bars(ran, title="wall time [s], one cold run each"), width="stretch")
    c2.altair_chart(charts.cost_bars(ran, "peak_memory_mib", "extra peak resident memory [MiB]"), width="stretch")
    st.caption("Each method's time is one run, taken when it was computed (a cached result keeps it) and on whatever "
               "else the machine was doing then; Lanczos and PyHessian run until their values converge or the time "
               "budget ends. Medians over repeats, measured side by side, are in the README's benchmark table.")
    with widgets.details(selection):
        st.caption("Memory: the rise of the process's peak resident set while the method ran (Linux VmHWM, after "
                   "handing free allocator memory back); the first method a process runs also pays one-time "
                   "library start-up (tens of MiB). Meaningful for large P, where the dense methods' P x P "
                   "matrices dominate.")
        frame = pd.DataFrame(rows)
        st.dataframe(frame, width="stretch", hide_index=True)
        widgets.download_csv(frame, "cost", selection)

    st.subheader("Scaling with width")
    label = ("channel counts to sweep (one convolution block each)" if selection.config.architecture != "mlp"
             else "hidden widths to sweep (one hidden layer each)")
    text = st.text_input(label, "2,4,8", key="cost_sweep_widths")
    try:
        widths = sorted({int(w) for w in text.split(",") if w.strip()})
    except ValueError:
        st.error(f"Widths must be comma-separated integers, got {literal(repr(text))}.")
        return
    if not widths or min(widths) < 1 or max(widths) > 4096 or len(widths) > MAX_WIDTHS:
        st.error(f"Widths must be 1 to {MAX_WIDTHS} integers from 1 to 4096 (each point trains a network).")
        return
    with widgets.working("Sweeping widths (each point cached)…"):
        sweep = studies.width_sweep(selection.config, widths, selection.methods, selection.samples)
    families = list(dict.fromkeys(REGISTRY[r["method"]].family for r in sweep if r["method"] != REFERENCE))
    metric = st.radio("show", ["wall time [s]", "max top-10 relative error"], horizontal=True)
    field = "seconds" if metric.startswith("wall") else "max_topk_rel_error"
    columns = st.columns(2)
    for i, family in enumerate(families):  # one legible panel per family, the exact Hessian in each
        panel = [r for r in sweep if r["method"] == REFERENCE or REGISTRY[r["method"]].family == family]
        with columns[i % 2]:
            st.markdown(f"**{FAMILIES[family].label}**")
            st.altair_chart(charts.sweep_lines(panel, field, metric), width="stretch")
    with widgets.details(selection):
        widgets.download_csv(pd.DataFrame(sweep), "width_sweep", selection)


widgets.guarded(render)
