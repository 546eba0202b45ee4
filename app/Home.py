"""Home: what the tool does, training status, the paper's table and the paper-claims check.

Thin page: every number comes from ``core`` (cached by joblib); nothing is computed here.
"""

import sys
from pathlib import Path

_dirs = [str(Path(__file__).resolve().parents[i]) for i in (0, 1)]  # app/ and the project
sys.path[:0] = [d for d in _dirs if d not in sys.path]

import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

import controls  # noqa: E402
from core import figures, pipeline, report  # noqa: E402

st.set_page_config(page_title="Hessian spectrum explorer", page_icon="📈", layout="wide")


def page():
    st.title("Hessian spectrum explorer")
    st.markdown(
        "Trains a small MLP and computes the **exact** Hessian (and Gauss-Newton) spectrum of its mean "
        "cross-entropy on a fixed batch. It then shows what **PyHessian**, **BackPACK** and better "
        "matrix-free estimators (Lanczos, Hutch++) make of it: top eigenvalues, trace, the whole "
        "spectrum and what each costs. Every result is cached, so changing a control back is instant.")
    config, methods, samples, results = controls.setup()

    info = pipeline.describe(config)
    cols = st.columns(5)
    cols[0].metric("parameters P", f"{info['num_params']:,}")
    cols[1].metric("dataset used", info["dataset_used"])
    cols[2].metric("test accuracy", f"{info['test_accuracy']:.3f}")
    cols[3].metric("train loss", f"{info['train_loss']:.3f}")
    cols[4].metric("training time", f"{info['seconds']:.1f} s")

    st.subheader("The paper's table, on this configuration")
    table = report.paper_table(config, hutchinson_samples=report.PAPER["hutchinson_samples"])
    frame = pd.DataFrame(report.formatted_rows(table), columns=["quantity", *table["header"][1:]])
    st.dataframe(frame.set_index("quantity"), width="stretch")
    st.caption("Exact 'time for Tr(H)' includes building the dense Hessian. " + " ".join(table["notes"]))
    controls.download_csv(frame, "paper_table")

    st.subheader("Do the paper's claims hold here?")
    claims = figures.paper_claims(config, results, samples)
    for claim in claims:
        mark = {True: ":green[:material/check_circle: held]", False: ":red[:material/cancel: did not hold]",
                None: ":orange[:material/help: not checked]"}[claim["held"]]
        st.markdown(f"**{mark}** — {claim['claim']}  \n{claim['evidence']}")
    controls.download_csv(pd.DataFrame(claims), "paper_claims")
    controls.download_json(results)


controls.guarded(page)
