"""Top eigenvalues (paper Fig. 1): eigenvalue vs rank for the exact Hessian and each method."""

import sys
from pathlib import Path

_dirs = [str(Path(__file__).resolve().parents[i]) for i in (1, 2)]  # app/ and the project
sys.path[:0] = [d for d in _dirs if d not in sys.path]

import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

import charts  # noqa: E402
import controls  # noqa: E402
from core import figures  # noqa: E402

st.set_page_config(page_title="Top eigenvalues", layout="wide")


def page():
    st.title("Top eigenvalues")
    st.markdown("How close does each method come to the largest eigenvalues of the exact Hessian? "
                "(paper Fig. 1). Diagonal methods show their largest diagonal entries; Kronecker ones "
                "the largest products of factor eigenvalues; PyHessian finds the largest |λ|.")
    config, methods, samples, results = controls.setup()
    c1, c2 = st.columns([1, 3])
    k = c1.slider("k", 1, 50, 10)
    log = c2.toggle("symlog scale", value=True)
    rows = figures.top_eigenvalue_rows(results, k)
    if not rows:
        st.info("No selected method yields top eigenvalues.")
        return
    st.altair_chart(charts.top_eigenvalues(rows, log), width="stretch")
    frame = pd.DataFrame(rows)
    errors = frame.pivot_table(index="rank", columns="method", values="relative_error")
    st.subheader("Relative error per rank against the exact Hessian")
    st.dataframe(errors.style.format("{:.2e}"), width="stretch")
    controls.download_csv(frame, "top_eigenvalues")


controls.guarded(page)
