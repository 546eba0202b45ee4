"""Trace (paper Fig. 2): each method's trace relative to the exact Hessian's."""

import pandas as pd
import streamlit as st

from app import charts, widgets
from core import tables
from core.methods import yielding


def render():
    selection = widgets.page_header("Trace", "Each approximation's trace relative to the exact Hessian's (paper Fig. 2): zero is exact. "
                                     "Diagonal methods carry the exact diagonal of the matrix they approximate, so the "
                                     "Hessian's is exact and the GGN's differs by the GGN's own trace; Kronecker "
                                     "factorisations and sampling move it.")
    found = widgets.results(selection, methods=yielding(selection.methods, "trace"))
    errors = tables.trace_error_rows(found)
    _, against = tables.reference(found)
    if errors:
        st.altair_chart(charts.trace_errors(errors), width="stretch")
        st.caption(f"Against {against}.")
    else:
        st.info("No exact trace to compare with; the traces themselves:")
        st.altair_chart(charts.trace_bars(tables.trace_rows(found)), width="stretch")
    frame = pd.DataFrame(tables.trace_rows(found))
    with widgets.details(selection):
        st.dataframe(frame.style.format({"trace": "{:.5g}", "standard_error": "{:.2g}", "relative_error": "{:.2%}",
                                         "seconds": "{:.3f}"},
                                        na_rep="—"), width="stretch", hide_index=True)
        widgets.download_csv(frame, "trace", selection)


widgets.guarded(render)
