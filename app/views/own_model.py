"""Your model: a model of one's own (named when the server starts: :mod:`app.own`), its layer
table, P and what each method can do with it, then the chosen methods' answers against the
exact Hessian, or past the exact limit against the certified Lanczos values."""

import json

import pandas as pd
import streamlit as st

from app import charts, own, widgets
from app.text import literal
from core import budget, own_model, tables
from core.methods import REFERENCE, REGISTRY

#: where the page keeps the last "Compute" request: (fingerprint, methods, Hutchinson samples, time
#: budget); reruns redraw it, and a changed sample count or budget waits for the next "Compute"
REQUEST_KEY = "_own_model_request"
#: the page's time budget per method, in seconds (:func:`_time_budget`)
BUDGET_KEY = "own_budget"
KEPT_BUDGET_KEY = "_own_budget_kept"
#: 300 s: on the ResNet-18 example (2 cores) Lanczos' first certified top and bottom values are
#: estimated at about 170 s and PyHessian's first power iteration at about 255 s
DEFAULT_BUDGET = 300
BUDGET_CHOICES = (5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600)

INTRO = ("Any `torch.nn.Module` with a loss and a batch, through the same methods, budget, cache and "
         "certificates as the built-in nets. The model is named by whoever starts the server, never by the page "
         "or its URL.")

COLUMNS = {"label": "method", "approximates": "approximates", "top1": "λ₁", "top1_rel_error": "λ₁ rel. error",
           "max_residual": "max residual", "topk_overlap": "top-k overlap", "trace": "trace",
           "trace_std_error": "trace ± s.e.", "trace_rel_error": "trace rel. error", "matvecs": "products",
           "seconds": "seconds"}


def render():
    selection = widgets.page_header("Your model", INTRO)
    spec = own.model_spec()
    if spec is None:
        st.info("No model was given when this server started. Start it with a builder: a function that returns "
                "`(model, x, y)` or `(model, x, y, loss)` (loss `\"cross_entropy\"`, `\"mse\"` or a function "
                "`(outputs, targets) -> mean loss`), imported from the folder the server starts in:",
                icon=":material/info:")
        st.code(own.EXAMPLE, language="bash")
        st.markdown("`examples/own_models.py` (a LayerNorm, a skip and a shared weight) and `examples/resnet18.py` "
                    "(torchvision's ResNet-18 on a CIFAR-shaped batch) are builders to copy. The same from a "
                    "terminal: `python -m core own --model examples.own_models:build`.")
        return
    try:
        with st.spinner(f"Building {spec} and timing one curvature product on it…"):
            problem = own.loaded(spec)
    except own_model.OwnModelError as error:
        st.error(literal(error))
        return
    head = st.container()
    seconds = _time_budget()
    with budget.seconds_at_most(seconds):  # every estimate, refusal and iterative method on this page
        info = own_model.describe(problem, selection.samples)
        _model(head, spec, info)
        methods = _request(problem, info, selection.methods, selection.samples, seconds)
        if methods is None:
            return
        with widgets.progress_box("Computing on your model; results are cached for next time (the same parameters "
                                  "and batch). Stop (top right) interrupts it.", "Starting"):
            found = own_model.results(problem, [REFERENCE, *methods], selection.samples)
        _answers(selection, spec, problem, found, methods)  # its download's estimates: this page's budget too


def _time_budget() -> float:
    """The page's time budget per method: at most the server's (``$HESSIAN_MAX_SECONDS``),
    :data:`DEFAULT_BUDGET` unless changed, so a large model answers in minutes, not the server's
    ten (an iterative method spends it and says what converged), and a longer run is one choice away."""
    server = budget.Budget().max_seconds
    choices = sorted({c for c in BUDGET_CHOICES if c <= server} | {server})
    if BUDGET_KEY not in st.session_state:  # a widget's value is dropped while its page is not shown: kept here
        st.session_state[BUDGET_KEY] = st.session_state.get(KEPT_BUDGET_KEY, min(choices, key=lambda c: abs(c - DEFAULT_BUDGET)))
    if st.session_state[BUDGET_KEY] not in choices:
        st.session_state[BUDGET_KEY] = choices[-1]
    st.session_state[KEPT_BUDGET_KEY] = st.select_slider(
        "time budget per method (s)", choices, key=BUDGET_KEY, format_func=lambda c: f"{c:g}",
        help="each method is estimated against it before it starts and an iterative one stops when it is spent; "
             f"at most the server's budget ({server:g} s, $HESSIAN_MAX_SECONDS)")
    return st.session_state[KEPT_BUDGET_KEY]


def _model(head, spec: str, info: dict) -> None:
    """The model's numbers (in ``head``, above the budget), its layers and each method's estimate on it."""
    cols = head.columns(4)
    cols[0].metric("parameters P", f"{info['num_params']:,}")
    cols[1].metric("batch N", f"{info['batch_size']:,}")
    cols[2].metric("outputs C", f"{info['num_classes']:,}")
    cols[3].metric("loss", info["loss"])
    head.caption(f"{literal(spec)} → {literal(info['model'])}, fingerprint {info['fingerprint'][:12]} (its parameters, "
               "buffers, code and batch: a changed weight is a new model).")
    layers, methods = st.columns([2, 3])
    with layers:
        st.subheader("Layers")
        frame = pd.DataFrame([{**row, "blocks": ", ".join(row["blocks"])} for row in info["layers"]])
        st.dataframe(frame, width="stretch", hide_index=True, height=min(420, 38 + 35 * len(frame)))
    with methods:
        st.subheader("What each method can do with it")
        frame = pd.DataFrame([{"method": row["label"], "estimate (s, at most)": row["seconds"],
                               "admitted": "yes" if row["admitted"] else "no, refused before it starts"}
                              for row in info["methods"]])
        st.dataframe(frame.style.format({"estimate (s, at most)": "{:.3g}"}, na_rep="—"), width="stretch", hide_index=True,
                     height=38 + 35 * len(frame))  # every method in view, no scrolling
    refused = [row for row in info["methods"] if not row["admitted"]]
    if refused:
        with st.expander(f"Why {len(refused)} of them are refused (each estimate against the budget)"):
            st.markdown("\n".join(f"- **{row['label']}**: {literal(row['why'])}" for row in refused))
    st.caption("An admitted method may still refuse a module when it runs (BackPACK without a rule for it, a weight "
               "shared between layers): its line below then says which. Estimates take at least 1.5x the product "
               "timed on this model when it was built.")


def _request(problem, info: dict, sidebar_methods, samples: int, seconds: float) -> list[str] | None:
    """The methods to compute: chosen in a form (default: the sidebar's that the budget admits here),
    computed on "Compute" and redrawn on every rerun until the choice or the sample count changes
    (nothing on this model starts without the button: a method may take the whole budget)."""
    admitted = [row["method"] for row in info["methods"] if row["admitted"]]
    default = [m for m in sidebar_methods if m in admitted] or admitted[:3]
    with st.form("own_model_methods"):
        chosen = st.multiselect("methods to compute on your model", list(REGISTRY), default=default,
                                format_func=lambda n: REGISTRY[n].label,
                                help="each method is checked against the budget before it starts; an iterative one "
                                     "spends at most the budget and says what converged")
        submitted = st.form_submit_button("Compute", type="primary")
    st.caption(f"Hutchinson sample count: {samples} (the sidebar's). The sidebar's experiment controls are for the "
               "built-in nets; they do not change this model.")
    if submitted:
        st.session_state[REQUEST_KEY] = (problem.key, tuple(chosen), samples, seconds)
    request = st.session_state.get(REQUEST_KEY)
    if request is None or request[0] != problem.key or request[2:] != (samples, seconds) or not request[1]:
        st.info("Choose methods and press **Compute**: the estimates above say what each would take.")
        return None
    return list(request[1])


def _answers(selection, spec: str, problem, found: dict, methods: list[str]) -> None:
    """The comparison table, the top eigenvalues and the traces of ``found``."""
    report = own_model.report(problem, found, methods)
    st.subheader("Answers")
    widgets.method_notices({m: found[m] for m in [REFERENCE, *methods] if m in found})
    rows = [row for row in report["rows"] if row["error"] is None]
    st.caption(f"Errors are against {report['reference']}.")
    if rows:
        frame = pd.DataFrame(rows)[list(COLUMNS)].rename(columns=COLUMNS)
        numeric = [c for c in frame.columns if c not in ("method", "approximates")]
        frame[numeric] = frame[numeric].apply(pd.to_numeric)  # a missing number is NaN, drawn as "—"
        st.dataframe(frame.style.format({c: "{:.4g}" for c in ("λ₁", "trace", "trace ± s.e.", "seconds")}
                                        | {c: "{:.1e}" for c in ("λ₁ rel. error", "max residual", "trace rel. error")}
                                        | {"top-k overlap": "{:.3f}"}, na_rep="—"),
                     width="stretch", hide_index=True)
    top = tables.top_eigenvalue_rows(found, 10)
    if top:
        st.altair_chart(charts.top_eigenvalues(top, log_scale=False, height=380), width="stretch")
    errors = tables.trace_error_rows(found)
    if errors:
        st.altair_chart(charts.trace_errors(errors), width="stretch")
    elif tables.trace_rows(found):
        st.altair_chart(charts.trace_bars(tables.trace_rows(found)), width="stretch")
    data = {"model": spec, **{k: report[k] for k in ("info", "reference", "rows", "results")},
            "hutchinson_samples": selection.samples}
    st.download_button("Download the comparison (JSON)", json.dumps(data, default=str).encode(),
                       f"own_model_{problem.key[:12]}.json", "application/json", key="json_own_model")


widgets.guarded(render)
