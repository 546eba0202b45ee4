"""Cost: wall time, products and backward passes per method, and how cost and error grow with width."""

import sys
from pathlib import Path

_dirs = [str(Path(__file__).resolve().parents[i]) for i in (1, 2)]  # app/ and the project
sys.path[:0] = [d for d in _dirs if d not in sys.path]

import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

import charts  # noqa: E402
import controls  # noqa: E402
from core import figures  # noqa: E402

st.set_page_config(page_title="Cost", layout="wide")


def page():
    st.title("What each method costs")
    config, methods, samples, results = controls.setup()
    rows = figures.cost_rows(results)
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
    controls.download_csv(frame, "cost")

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
        sweep = figures.width_sweep(config, widths, methods, samples)
    c1, c2 = st.columns(2)
    c1.altair_chart(charts.sweep_lines(sweep, "seconds", "wall time [s]"), width="stretch")
    c2.altair_chart(charts.sweep_lines(sweep, "max_topk_rel_error", "max top-10 relative error"), width="stretch")
    controls.download_csv(pd.DataFrame(sweep), "width_sweep")


controls.guarded(page)
