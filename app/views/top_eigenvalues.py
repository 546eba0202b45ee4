"""Top eigenvalues (paper Fig. 1): eigenvalue vs rank for the exact Hessian and each method."""

import pandas as pd
import streamlit as st

from app import charts, widgets
from core import tables
from core.methods import yielding


def render():
    selection = widgets.page_header("Top eigenvalues", "How close does each method come to the largest eigenvalues of the exact Hessian? "
                                     "(paper Fig. 1). Diagonal methods show their largest diagonal entries; Kronecker ones "
                                     "the largest products of factor eigenvalues; PyHessian's power iteration finds the "
                                     "largest |λ| and is ranked and scored by |λ|.")
    found = widgets.results(selection, methods=yielding(selection.methods, "top"))
    chart = st.container()  # the chart first; its controls below it
    c1, c2 = st.columns([1, 3])
    k = c1.slider("k", 1, 50, 10)
    log = c2.toggle("symlog scale", value=True)
    rows = tables.top_eigenvalue_rows(found, k)
    if not rows:
        st.info("No selected method yields top eigenvalues.")
        return
    chart.altair_chart(charts.top_eigenvalues(rows, log, height=470 if selection.present else 440), width="stretch")
    _, against = tables.reference(found)
    chart.caption(f"Errors are against {against}. A Lanczos value is certified: some eigenvalue of H lies within "
                  "its residual ‖Hy − θy‖ (in the tooltip); a red cross marks one that missed its tolerance.")
    frame = pd.DataFrame(rows)
    with widgets.details(selection):
        errors = frame[frame.method != charts.EXACT].pivot_table(index="rank", columns="method",
                                                                 values="relative_error")
        st.subheader("Relative error per rank against the reference")
        st.dataframe(errors.style.format("{:.1e}", na_rep="—"), width="stretch")
        widgets.download_csv(frame, "top_eigenvalues", selection)


widgets.guarded(render)
