"""Hutchinson (paper Fig. 3): estimate vs sample count, spread over repeats, Hutch++ beside it."""

import pandas as pd
import streamlit as st

from app import charts, widgets
from core import studies, tables
from core.methods import REFERENCE


def render():
    selection = widgets.page_header("Hutchinson trace estimate vs sample count", "Mean and 10-90 % band over independent repeats, against the exact trace (paper Fig. 3). "
                                     "Hutch++ at the same number of Hessian-vector products spends a third of them on the "
                                     "top eigen-directions and estimates only the rest.")
    found = widgets.results(selection, methods=[REFERENCE], progressive=False)  # its errors are against H itself
    repeats = st.slider("repeats", 2, 50, key="hutchinson_repeats")
    with widgets.working("Sampling (cached afterwards)…"):
        study = studies.trace_study(selection.config, selection.samples, repeats)
    exact = found[REFERENCE]
    rows = tables.hutchinson_rows(study, exact.trace if exact.ok else None)
    curve, error = st.columns([3, 2]) if exact.ok else (st.container(), None)
    curve.altair_chart(charts.hutchinson_curve(rows, exact.trace if exact.ok else None,
                                               height=400 if selection.present else 420), width="stretch")
    if error is not None:  # the proof: the error's slope on log-log axes, beside the estimates in both modes
        error.altair_chart(charts.hutchinson_error(rows, height=400 if selection.present else 340), width="stretch")
        error.caption("Relative RMSE against the exact trace: Hutchinson's falls like 1/sqrt(m); Hutch++'s like 1/m "
                      "once its sketch holds the outlying eigenvalues (Meyer et al. 2021).")
    with widgets.details(selection):
        frame = pd.DataFrame(rows)
        st.dataframe(frame, width="stretch", hide_index=True)
        widgets.download_csv(frame, "hutchinson", selection)


widgets.guarded(render)
