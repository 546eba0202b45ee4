"""Spectrum: the whole exact spectrum against the GGN, SLQ densities and the approximations."""

import pandas as pd
import streamlit as st

from app import charts, sidebar, widgets
from core import tables
from core.methods import yielding


def render():
    st.title("The whole spectrum")
    st.markdown("Histogram of all P eigenvalues of each method that has them (the exact Hessian and GGN, "
                "the diagonal and Kronecker approximations), one row per method on a shared axis. The "
                "symlog axis keeps negative and tiny eigenvalues visible: only the Hessian has negative "
                "curvature; the GGN and its approximations are positive semi-definite (up to rounding).")
    selection = sidebar.current()
    found = widgets.results(selection, methods=yielding(selection.methods, "spectrum") + yielding(selection.methods, "density"))
    c1, c2 = st.columns(2)
    symlog = c1.toggle("symlog eigenvalue axis", value=True)
    bins = c2.slider("bins", 20, 200, 80)
    rows = tables.spectrum_rows(found)
    if rows:
        st.altair_chart(charts.spectrum_histogram(rows, symlog, bins), width="stretch")
        st.dataframe(pd.DataFrame(tables.spectrum_summary(found)), width="stretch", hide_index=True)
        widgets.download_csv(pd.DataFrame(rows), "spectra")
    density = tables.density_rows(found)
    if density:
        st.subheader("Spectral density by stochastic Lanczos quadrature")
        st.altair_chart(charts.density_lines(density), width="stretch")
        widgets.download_csv(pd.DataFrame(density), "densities")


widgets.guarded(render)
