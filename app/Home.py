"""Home: the paper's table on the chosen configuration (exact Hessian vs PyHessian).

Thin page: every number comes from ``core.report`` (cached by joblib); nothing is computed here.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core import report  # noqa: E402
from core.cli import quiet_library_warnings  # noqa: E402
from core.config import ACTIVATIONS, ConfigError, ExperimentConfig, MNIST_INPUT_SIZES, parse_hidden  # noqa: E402

quiet_library_warnings()
st.set_page_config(page_title="Hessian spectrum explorer", layout="wide")
st.title("Hessian spectrum explorer")
st.markdown(
    "Trains a small MLP and computes the **exact** Hessian spectrum of its mean cross-entropy on a "
    "fixed batch, then shows what **PyHessian**, **BackPACK** and matrix-free estimators make of it. "
    "This page reproduces the paper's table on your configuration; every result is cached, so "
    "changing a control back is instant.")

with st.sidebar:
    st.header("Experiment")
    dataset = st.selectbox("dataset", ["mnist", "digits", "synthetic"], key="dataset")
    input_size = st.selectbox("MNIST input size (pixels a side)", MNIST_INPUT_SIZES, key="input_size")
    hidden_text = st.text_input("hidden widths (comma separated)", "8", key="hidden")
    activation = st.selectbox("activation", ACTIVATIONS, key="activation")
    batch = st.number_input("Hessian batch size N", 1, 60_000, 1000, key="hessian_batch_size")
    epochs = st.number_input("training epochs", 0, 200, 10, key="epochs")
    seed = st.number_input("seed", 0, 2**31 - 1, 0, key="seed")
    samples = st.slider("Hutchinson samples", 5, 500, 25, key="samples")

try:
    config = ExperimentConfig(dataset=dataset, input_size=int(input_size), hidden=parse_hidden(hidden_text),
                              activation=activation, hessian_batch_size=int(batch), epochs=int(epochs),
                              seed=int(seed))
except ConfigError as error:
    st.error(f"Invalid setting: {error}. Nothing was recomputed.")
    st.stop()

try:
    with st.status("Training and computing (cached after the first time)…", expanded=False) as status:
        table = report.paper_table(config, hutchinson_samples=int(samples))
        status.update(label="Results ready", state="complete")
except ConfigError as error:
    st.error(f"Invalid setting: {error}. Nothing was recomputed.")
    st.stop()

info = table["info"]
if info.get("notice"):
    st.warning(info["notice"])
cols = st.columns(4)
cols[0].metric("parameters P", f"{info['num_params']:,}")
cols[1].metric("dataset used", info["dataset_used"])
cols[2].metric("test accuracy", f"{info['test_accuracy']:.3f}")
cols[3].metric("train accuracy", f"{info['train_accuracy']:.3f}")

for name, error in table["errors"].items():
    st.error(f"{name}: {error}")

frame = pd.DataFrame(report.formatted_rows(table),
                     columns=["quantity", *table["header"][1:]]).set_index("quantity")
st.subheader("The paper's table, on this configuration")
st.dataframe(frame, width="stretch")
st.caption(" ".join(table["notes"]))
st.download_button("Download table (CSV)", frame.to_csv().encode(), "paper_table.csv", "text/csv")
