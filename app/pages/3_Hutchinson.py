"""Hutchinson (paper Fig. 3): estimate vs sample count, spread over repeats, Hutch++ beside it."""

import sys
from pathlib import Path

_dirs = [str(Path(__file__).resolve().parents[i]) for i in (1, 2)]  # app/ and the project
sys.path[:0] = [d for d in _dirs if d not in sys.path]

import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

import charts  # noqa: E402
import controls  # noqa: E402
from core import figures, pipeline  # noqa: E402

st.set_page_config(page_title="Hutchinson", layout="wide")


def page():
    st.title("Hutchinson trace estimate vs sample count")
    st.markdown("Mean and 10-90 % band over independent repeats, against the exact trace (paper Fig. 3). "
                "Hutch++ at the same number of Hessian-vector products spends a third of them on the "
                "top eigen-directions and estimates only the rest.")
    config, methods, samples, results = controls.setup(only_methods=["exact_hessian"])
    repeats = st.slider("repeats", 2, 50, 10)
    with st.spinner("Sampling (cached afterwards)…"):
        study = pipeline.trace_study(config, samples, repeats)
    exact = results["exact_hessian"]
    rows = figures.hutchinson_rows(study, exact.trace if exact.ok else None)
    st.altair_chart(charts.hutchinson_curve(rows, exact.trace if exact.ok else None), width="stretch")
    if exact.ok:
        st.subheader("Error against the exact trace")
        st.altair_chart(charts.hutchinson_error(rows), width="stretch")
        st.caption("Hutchinson's error falls like 1/sqrt(m); Hutch++'s like 1/m once its sketch holds the "
                   "outlying eigenvalues (Meyer et al. 2021).")
    frame = pd.DataFrame(rows)
    st.dataframe(frame, width="stretch", hide_index=True)
    controls.download_csv(frame, "hutchinson")


controls.guarded(page)
