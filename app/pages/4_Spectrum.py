"""Spectrum: the whole exact spectrum against the GGN, SLQ densities and the approximations."""

import sys
from pathlib import Path

_dirs = [str(Path(__file__).resolve().parents[i]) for i in (1, 2)]  # app/ and the project
sys.path[:0] = [d for d in _dirs if d not in sys.path]

import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

import charts  # noqa: E402
import controls  # noqa: E402
from core import figures  # noqa: E402

st.set_page_config(page_title="Spectrum", layout="wide")


def page():
    st.title("The whole spectrum")
    st.markdown("Histogram of all P eigenvalues of each method that has them (the exact Hessian and GGN, "
                "the diagonal and Kronecker approximations), one row per method on a shared axis. The "
                "symlog axis keeps negative and tiny eigenvalues visible: only the Hessian has negative "
                "curvature; the GGN and its approximations are positive semi-definite (up to rounding).")
    config, methods, samples, results = controls.setup()
    c1, c2 = st.columns(2)
    symlog = c1.toggle("symlog eigenvalue axis", value=True)
    bins = c2.slider("bins", 20, 200, 80)
    rows = figures.spectrum_rows(results)
    if rows:
        st.altair_chart(charts.spectrum_histogram(rows, symlog, bins), width="stretch")
        frame = pd.DataFrame(rows)
        summary = frame.groupby("method")["eigenvalue"].agg(
            smallest="min", largest="max", negative=lambda v: int((v < 0).sum()), count="count").reset_index()
        st.dataframe(summary, width="stretch", hide_index=True)
        controls.download_csv(frame, "spectra")
    density = figures.density_rows(results)
    if density:
        st.subheader("Spectral density by stochastic Lanczos quadrature")
        st.altair_chart(charts.density_lines(density), width="stretch")
        controls.download_csv(pd.DataFrame(density), "densities")


controls.guarded(page)
