"""Spectrum: the whole exact spectrum against the GGN, SLQ densities and the approximations."""

import pandas as pd
import streamlit as st

from app import charts, widgets
from app.text import literal
from core import studies, tables
from core.budget import BudgetExceeded
from core.methods import yielding


def render():
    selection = widgets.page_header("The whole spectrum", "Histogram of all P eigenvalues of each method that has them, one row per method on shared "
                                     "bins and a shared axis labelled in eigenvalues. The symmetric-log axis is linear within the "
                                     "rounding noise floor and logarithmic beyond, so negative and small eigenvalues stay "
                                     "visible. Only the Hessian has negative curvature; the GGN and its "
                                     "approximations are positive semi-definite: eigenvalues within the rounding noise floor "
                                     "P·ε·max|λ| (ε of float32) are counted as zero, not as negative.")
    found = widgets.results(selection, methods=yielding(selection.methods, "spectrum")
                            + yielding(selection.methods, "density"))
    panels = st.container()  # the histograms first; their controls below them
    c1, c2 = st.columns(2)
    log_axis = c1.toggle("symmetric log eigenvalue axis", key="spectrum_log")
    bins = c2.slider("bins", 20, 200, key="spectrum_bins")
    positions = tables.spectrum_positions(found, log_axis)
    methods = list(dict.fromkeys(r["method"] for r in positions["rows"]))
    for method in methods:
        panels.markdown(f"**{method}**")
        panels.altair_chart(charts.spectrum_histogram(positions, method, bins), width="stretch")
    density = tables.density_rows(found)
    if density:
        st.subheader("Spectral density by stochastic Lanczos quadrature")
        st.altair_chart(charts.density_lines(density), width="stretch")
    st.subheader("Hessian against Gauss-Newton, layer by layer")
    try:
        with widgets.working("Dense H and GGN blocks (cached afterwards)…"):
            report = studies.hessian_vs_ggn(selection.config)
    except BudgetExceeded as refusal:
        report = None
        st.info(literal(refusal))
    if report is not None:
        st.altair_chart(charts.block_heatmap(report["blocks"]), width="stretch")
        st.caption(f"Each cell: ‖H − G‖_F / ‖H‖_F for one block (rows and columns: layers, weights and "
                   f"biases together). Whole matrix: {report['relative_difference']:.2g}. The GGN drops the "
                   "terms that carry the loss gradient through the network's second derivatives; blocks that "
                   "agree up to float32 rounding say '= G'.")
    layers = tables.layer_rows(found, None if report is None else report.get("layer_spectra"))
    if layers:
        st.subheader("Layer by layer: each layer's diagonal block")
        l1, l2 = st.columns(2) if not selection.present else (st.container(), st.container())
        l1.altair_chart(charts.layer_tops(layers), width="stretch")
        l2.altair_chart(charts.layer_tops(layers, "trace", "trace of the layer's block"), width="stretch")
        st.caption("Exact blocks from the dense H and GGN above; the diagonal and Kronecker approximations are block "
                   "diagonal by construction, so their layer blocks are their own. Layers are named as in the "
                   "heatmap.")
    with widgets.details(selection):
        if layers:
            widgets.download_csv(pd.DataFrame(layers).drop(columns="top"), "layer_spectra", selection)
        if report is not None:
            widgets.download_csv(pd.DataFrame(report["blocks"]), "hessian_vs_ggn_blocks", selection)
        if methods:
            st.dataframe(pd.DataFrame(tables.spectrum_summary(found)).style.format(
                {"smallest": "{:.4g}", "largest": "{:.4g}", "noise floor": "{:.1e}"}), width="stretch", hide_index=True)
            widgets.download_csv(pd.DataFrame(tables.spectrum_rows(found)), "spectra", selection)
        if density:
            widgets.download_csv(pd.DataFrame(density), "densities", selection)


widgets.guarded(render)
