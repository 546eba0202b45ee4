"""Trace (paper Fig. 2): one bar per method, the exact trace as a rule, relative errors."""

import pandas as pd
import streamlit as st

from app import charts, sidebar, widgets
from core import tables
from core.methods import yielding


def render():
    st.title("Trace")
    st.markdown("The trace of each approximation against the exact Hessian's (dashed rule; paper Fig. 2). "
                "Diagonal methods carry the exact diagonal, so their trace is exact; Kronecker "
                "factorisations and sampling move it.")
    selection = sidebar.current()
    found = widgets.results(selection, methods=yielding(selection.methods, "trace"))
    rows = tables.trace_rows(found)
    exact = found["exact_hessian"]
    st.altair_chart(charts.trace_bars(rows, exact.trace if exact.ok else None), width="stretch")
    frame = pd.DataFrame(rows)
    st.dataframe(frame.style.format({"trace": "{:.5g}", "relative_error": "{:.2%}", "seconds": "{:.3f}"},
                                    na_rep="—"), width="stretch", hide_index=True)
    widgets.download_csv(frame, "trace")


widgets.guarded(render)
