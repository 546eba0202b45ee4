"""Top eigenvalues (paper Fig. 1): eigenvalue vs rank for the exact Hessian and each method."""

import pandas as pd
import streamlit as st

from app import charts, widgets
from core import tables
from core.methods import yielding
from core.results import KEPT_VECTORS


def render():
    selection = widgets.page_header("Top eigenvalues", "How close does each method come to the largest eigenvalues of the exact Hessian? "
                                     "(paper Fig. 1). Diagonal methods show their largest diagonal entries; Kronecker ones "
                                     "the largest products of factor eigenvalues; PyHessian's power iteration finds the "
                                     "largest |λ| and is ranked and scored by |λ|.")
    found = widgets.results(selection, methods=yielding(selection.methods, "top"))
    chart = st.container()  # the chart first; its controls below it
    c1, c2 = st.columns([1, 3])
    k = c1.slider("k", 1, 50, key="top_k")
    log = c2.toggle("symlog scale", key="top_symlog")
    rows = tables.top_eigenvalue_rows(found, k)
    if not rows:
        st.info("No selected method yields top eigenvalues.")
        return
    chart.altair_chart(charts.top_eigenvalues(rows, log, height=470 if selection.present else 440), width="stretch")
    _, against = tables.reference(found)
    chart.caption(f"Errors are against {against}. A Lanczos value is certified: some eigenvalue of H lies within "
                  "its residual ‖Hy − θy‖ (in the tooltip); a red cross marks one that missed its tolerance.")
    _directions(selection, found)
    frame = pd.DataFrame(rows)
    with widgets.details(selection):
        errors = frame[frame.method != charts.EXACT].pivot_table(index="rank", columns="method",
                                                                 values="relative_error")
        st.subheader("Relative error per rank against the reference")
        st.dataframe(errors.style.format("{:.1e}", na_rep="—"), width="stretch")
        widgets.download_csv(frame, "top_eigenvalues", selection)


def _directions(selection, found) -> None:
    """Do the methods' top eigenvectors point where the reference's do? Overlaps and the overlap matrix."""
    st.subheader("Directions: the top-k eigenspace against the reference's")
    k = st.slider("k (eigenvectors compared)", 1, KEPT_VECTORS, key="directions_k")
    rows = tables.direction_rows(found, k)
    reference, words = tables.direction_reference(found, "hessian")
    if reference is None or not any(r["overlap_hessian"] is not None for r in rows):
        st.info(f"No directions to compare: {words}, or no selected method returns eigenvectors.")
        return
    chart, matrix = st.columns([3, 2]) if not selection.present else (st.container(), st.container())
    chart.altair_chart(charts.subspace_overlaps(rows, "hessian"), width="stretch")
    chart.caption(f"Against the top-{k} eigenvectors of {words}. 1 means the same {k}-dimensional subspace; "
                  f"random directions give about k/P = {k / max(1, reference.top_vectors.shape[1]):.0e}. Diagonal "
                  "methods' eigenvectors are coordinate axes; PyHessian's are its power iterates (largest |λ|).")
    names = [r["name"] for r in rows if r["overlap_hessian"] is not None]
    chosen = matrix.selectbox("overlap matrix of", names, format_func=tables.label, key="directions_method")
    cells = tables.overlap_matrix_rows(found[chosen], reference, k)
    matrix.altair_chart(charts.overlap_heatmap(cells, tables.label(chosen), height=300 if k > 3 else 200),
                        width="stretch")
    ggn = [r for r in rows if r["overlap_ggn"] is not None and r["approximates"] == "ggn"]
    if ggn:
        _, ggn_words = tables.direction_reference(found, "ggn")
        with st.expander(f"GGN approximations against the GGN's own top-{k} eigenvectors ({ggn_words})"):
            st.altair_chart(charts.subspace_overlaps(ggn, "ggn"), width="stretch")
    gaps = [r["gap_hessian"] for r in rows if r["gap_hessian"] is not None]
    if gaps and min(gaps) < 0.01:
        st.caption(f":material/warning: The reference's eigenvalues {k} and {k + 1} are within 1 % of each other: "
                   f"its top-{k} subspace is barely determined; compare another k.")


widgets.guarded(render)
