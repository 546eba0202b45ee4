"""Home: what the tool does, the model, the paper's table and the paper-claims check."""

import streamlit as st

from app import sidebar, widgets
from core import background, claims, comparison, pipeline, studies
from core.methods import REFERENCE
from core.budget import BudgetExceeded


def render():
    selection = sidebar.current()
    widgets.presentation(selection)
    config = selection.config
    st.title("Hessian spectrum explorer")
    if not selection.present:
        st.markdown(
            "Trains a small network (an MLP or a small CNN, with or without BatchNorm, on C classes) and computes "
            "the **exact** Hessian (and Gauss-Newton) spectrum of its mean loss (cross-entropy or squared error) "
            "on a fixed batch. It then shows what **PyHessian**, **BackPACK** and better "
            "matrix-free estimators (Lanczos, Hutch++) make of it: top eigenvalues, trace, the whole "
            "spectrum and what each costs. Every result is cached, so changing a control back is instant.")
    found = widgets.results(selection, methods=claims.claim_methods(selection.methods))

    info = pipeline.describe(config)
    # presentation mode's larger numbers: two rows, so no value is cut ("mnist-t…")
    cols = st.columns(5) if not selection.present else [*st.columns(3), *st.columns(3)][:5]
    cols[0].metric("parameters P", f"{info['num_params']:,}")
    cols[1].metric("dataset used", info["dataset_used"])
    cols[2].metric("test accuracy", f"{info['test_accuracy']:.3f}")
    cols[3].metric("train loss", f"{info['train_loss']:.3f}")
    cols[4].metric("training time", f"{info['seconds']:.1f} s")

    if background.is_pending(found.get(REFERENCE)):  # the table and the verdicts are about the exact Hessian
        st.subheader("The paper's table and the claims")
        st.info("Both are computed on this run's exact Hessian, which is still computing in the background "
                "(the line above): they fill in when it lands.", icon=":material/hourglass_top:")
        return
    st.subheader("The paper's table, on this configuration")
    with widgets.working("The paper's table: PyHessian's Hutchinson trace with the paper's m (cached afterwards)…"):
        table = comparison.paper_table(config)
    header = table["header"][1:]
    same_data = info["dataset_used"] in comparison.PAPER_DATASETS
    if not same_data:
        st.info(f"This run uses **{info['dataset_used']}**, not MNIST: the paper's columns are its MNIST figures, "
                "so compare them with ours for shape (which is larger, by how much), not value.")
    widgets.markdown_table(["quantity", *header], comparison.formatted_rows(table))
    st.caption("Exact 'time for Tr(H)' includes building the dense Hessian. " + " ".join(table["notes"][:2]))
    numbers = [dict(zip(["quantity", *header], row)) for row in table["rows"]]  # numbers, not display strings

    st.subheader(claims.GROUPS["paper"])
    try:
        with widgets.working("Hutchinson over independent repeats (cached afterwards)…"):
            study = studies.hutchinson_study(config, selection.samples)
    except BudgetExceeded as refusal:  # that verdict says why it was not checked; the others still show
        study = str(refusal)
    verdicts = claims.check("paper", config, found, study)
    show_verdicts(verdicts)
    st.caption("Each verdict is computed on this run against its exact Hessian (and GGN), never taken from "
               "the paper" + ("." if same_data else "; only the paper table's numbers are MNIST's."))

    st.subheader(claims.GROUPS["shape"])
    fields = studies.counterpart_fields(config)
    compare = st.toggle("also compare with counterpart runs: " + ", ".join(studies.COUNTERPART_WORDS[f] for f in fields),
                        key="home_counterparts",
                        help=f"trains {len(fields)} more networks with the same schedule and seed and computes their "
                             "exact Hessian and GGN (cached afterwards)")
    counterparts = {}
    if compare:
        with widgets.working("Training and analysing the counterpart networks (cached afterwards)…"):
            counterparts = {field: studies.counterpart_study(config, field) for field in fields}
    shape_verdicts = claims.check("shape", config, found, counterparts=counterparts)
    show_verdicts(shape_verdicts)

    st.subheader(claims.GROUPS["directions"])
    with widgets.working("The gradient's directions against the top eigenvectors (cached afterwards)…"):
        direction_verdicts = claims.check("directions", config, found)
    show_verdicts(direction_verdicts)
    st.caption("Overlaps are ‖UᵀV‖²_F / k of unit eigenvector bases (1: the same subspace); the Top eigenvalues "
               "page shows every method's and the overlap matrix.")
    with widgets.details(selection):
        widgets.download_csv(numbers, "paper_table", selection)
        widgets.download_csv(verdicts + shape_verdicts + direction_verdicts, "claims", selection)
        widgets.download_json(found, selection)


def show_verdicts(verdicts: list[dict]) -> None:
    for claim in verdicts:
        mark = {True: ":green[:material/check_circle: held]", False: ":red[:material/cancel: did not hold]",
                None: ":orange[:material/help: not checked]"}[claim["held"]]
        st.markdown(f"**{mark}** — {claim['claim']}  \n{claim['evidence']}")


widgets.guarded(render)
