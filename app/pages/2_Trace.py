"""Trace (paper Fig. 2): one bar per method, the exact trace as a rule, relative errors."""

import sys
from pathlib import Path

_dirs = [str(Path(__file__).resolve().parents[i]) for i in (1, 2)]  # app/ and the project
sys.path[:0] = [d for d in _dirs if d not in sys.path]

import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

import charts  # noqa: E402
import controls  # noqa: E402
from core import figures  # noqa: E402

st.set_page_config(page_title="Trace", layout="wide")


def page():
    st.title("Trace")
    st.markdown("The trace of each approximation against the exact Hessian's (dashed rule; paper Fig. 2). "
                "Diagonal methods carry the exact diagonal, so their trace is exact; Kronecker "
                "factorisations and sampling move it.")
    config, methods, samples, results = controls.setup()
    rows = figures.trace_rows(results)
    exact = results["exact_hessian"]
    st.altair_chart(charts.trace_bars(rows, exact.trace if exact.ok else None), width="stretch")
    frame = pd.DataFrame(rows)
    st.dataframe(frame.style.format({"trace": "{:.5g}", "relative_error": "{:.2%}", "seconds": "{:.3f}"},
                                    na_rep="—"), width="stretch", hide_index=True)
    controls.download_csv(frame, "trace")


controls.guarded(page)
