"""Cost: wall time, products and backward passes per method, and how cost and error grow with width."""

import pandas as pd
import streamlit as st

from app import charts, sidebar, widgets
from core import studies, tables


def render():
    st.title("What each method costs")
    selection = sidebar.current()
    found = widgets.results(selection)
    rows = tables.cost_rows(found)
    ran = [r for r in rows if r["error"] is None]
    c1, c2 = st.columns(2)
    c1.altair_chart(charts.cost_bars(ran), width="stretch")
    c2.altair_chart(charts.cost_bars(ran, "peak_memory_mib", "extra peak resident memory [MiB]"), width="stretch")
    st.caption("Memory: the rise of the process's peak resident set while the method ran (Linux VmHWM); "
               "memory the allocator reuses from earlier work is not counted, while the first method a process "
               "runs also pays one-time library start-up (tens of MiB). Meaningful for large P, where the "
               "dense methods' P x P matrices dominate.")
    frame = pd.DataFrame(rows)
    st.dataframe(frame, width="stretch", hide_index=True)
    widgets.download_csv(frame, "cost")

    st.subheader("Scaling with width")
    text = st.text_input("hidden widths to sweep (one hidden layer each)", "2,4,8")
    try:
        widths = sorted({int(w) for w in text.split(",") if w.strip()})
    except ValueError:
        st.error(f"Widths must be comma-separated integers, got {text!r}.")
        return
    if not widths or min(widths) < 1:
        st.error("Widths must be positive integers.")
        return
    with st.spinner("Sweeping widths (each point cached)…"):
        sweep = studies.width_sweep(selection.config, widths, selection.methods, selection.samples)
    c1, c2 = st.columns(2)
    c1.altair_chart(charts.sweep_lines(sweep, "seconds", "wall time [s]"), width="stretch")
    c2.altair_chart(charts.sweep_lines(sweep, "max_topk_rel_error", "max top-10 relative error"), width="stretch")
    widgets.download_csv(pd.DataFrame(sweep), "width_sweep")


widgets.guarded(render)
