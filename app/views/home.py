"""Home: what the tool does, the model, the paper's table and the paper-claims check."""

import pandas as pd
import streamlit as st

from app import sidebar, widgets
from core import claims, pipeline, studies


def render():
    st.title("Hessian spectrum explorer")
    st.markdown(
        "Trains a small MLP and computes the **exact** Hessian (and Gauss-Newton) spectrum of its mean "
        "cross-entropy on a fixed batch. It then shows what **PyHessian**, **BackPACK** and better "
        "matrix-free estimators (Lanczos, Hutch++) make of it: top eigenvalues, trace, the whole "
        "spectrum and what each costs. Every result is cached, so changing a control back is instant.")
    selection = sidebar.current()
    config = selection.config
    found = widgets.results(selection, methods=claims.claim_methods(selection.methods))

    info = pipeline.describe(config)
    cols = st.columns(5)
    cols[0].metric("parameters P", f"{info['num_params']:,}")
    cols[1].metric("dataset used", info["dataset_used"])
    cols[2].metric("test accuracy", f"{info['test_accuracy']:.3f}")
    cols[3].metric("train loss", f"{info['train_loss']:.3f}")
    cols[4].metric("training time", f"{info['seconds']:.1f} s")

    st.subheader("The paper's table, on this configuration")
    table = claims.paper_table(config)
    frame = pd.DataFrame(claims.formatted_rows(table), columns=["quantity", *table["header"][1:]])
    st.dataframe(frame.set_index("quantity"), width="stretch")
    st.caption("Exact 'time for Tr(H)' includes building the dense Hessian. " + " ".join(table["notes"]))
    widgets.download_csv(frame, "paper_table")

    st.subheader("Do the paper's claims hold here?")
    with st.spinner("Hutchinson over independent repeats (cached afterwards)…"):
        study = studies.trace_study(config, selection.samples)
    verdicts = claims.paper_claims(config, found, study)
    for claim in verdicts:
        mark = {True: ":green[:material/check_circle: held]", False: ":red[:material/cancel: did not hold]",
                None: ":orange[:material/help: not checked]"}[claim["held"]]
        st.markdown(f"**{mark}** — {claim['claim']}  \n{claim['evidence']}")
    widgets.download_csv(pd.DataFrame(verdicts), "paper_claims")
    widgets.download_json(found)


widgets.guarded(render)
