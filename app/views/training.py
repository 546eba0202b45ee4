"""Training: the spectrum along training (top eigenvalue against 2/lr, loss, trace, the gradient in
the top eigenspace), the checkpoint the other pages analyse, and sharpness under rescaling."""

import pandas as pd
import streamlit as st

from app import charts, sidebar, widgets
from core import trajectory

DEMO = {"cfg_optimizer": "gd", "cfg_lr": 0.5, "cfg_epochs": 400, "cfg_checkpoints": 20, "cfg_activation": "tanh",
        "cfg_hidden": "16", "cfg_architecture": "mlp", "cfg_batch_norm": False}


def use_demo():
    st.session_state.update(DEMO)
    st.session_state["cfg_checkpoint"] = -1


def move_to(step_by_checkpoint):
    st.session_state["cfg_checkpoint"] = step_by_checkpoint[st.session_state["training_step"]]


#: while checkpoints are computed, the chart of those done is redrawn at most this often
REDRAW_S = 1.0


def so_far_drawer():
    """A callback for :func:`core.trajectory.trajectory` that draws, inside the progress box, the top
    eigenvalue against 2/lr over the checkpoints done so far (at most every :data:`REDRAW_S` s, so a
    trajectory served from the cache draws it not at all)."""
    import time

    slot, last = st.empty(), [time.monotonic()]

    def draw(rows, total):
        if time.monotonic() - last[0] < REDRAW_S:
            return
        last[0] = time.monotonic()
        with slot.container():
            st.caption(f"So far: {len(rows)} of {total} checkpoints (the rest fill in between).")
            st.altair_chart(charts.sharpness(rows), width="stretch")

    return draw


def render():
    selection = sidebar.current()
    widgets.presentation(selection)
    config = selection.config
    st.title("The spectrum along training")
    if config.checkpoints == 0:
        st.info("This configuration keeps no checkpoints: set 'checkpoints kept' in the sidebar's training schedule, "
                "or try the edge of stability (Cohen et al. 2021): full-batch gradient descent, lr 0.5, 400 steps, "
                "20 checkpoints, a tanh MLP of width 16.")
        st.button("Use the edge-of-stability setup", on_click=use_demo)
        return
    with widgets.progress_box("Following training, checkpoint by checkpoint (each cached): every fourth first, "
                              "then the ones between…", "Training the network"):
        rows = trajectory.trajectory(config, on_rows=so_far_drawer())
    st.altair_chart(charts.sharpness(rows), width="stretch")
    st.altair_chart(charts.training_loss(rows), width="stretch")
    summary = trajectory.edge_of_stability(rows)
    if summary:
        near = (f"within {summary['within']:.0%} of it from step {summary['steps_within'][0]} to "
                f"{summary['steps_within'][1]} ({summary['count']} checkpoints)" if summary["steps_within"]
                else f"never within {summary['within']:.0%} of it")
        batch = (f" (the {config.hessian_batch_size:,}-example Hessian batch's peaks at {summary['batch_peak']:.3g})"
                 if summary.get("batch_peak") is not None else "")
        st.markdown(f"**Edge of stability** (Cohen et al. 2021): the top eigenvalue of {summary['matrix']} peaks at "
                    f"{summary['peak']:.3g} = {summary['peak_ratio']:.2f} × 2/lr = {summary['two_over_lr']:.3g}; {near}"
                    f"{batch}.")
    last = rows[-1]
    if last.get("top_k_gradient_fraction") is not None:
        st.markdown(f"**Gradient in the top eigenspace** (Gur-Ari et al. 2018): at the last checkpoint "
                    f"{last['top_k_gradient_fraction']:.1%} of ‖g‖² lies in the span of the top 10 eigenvectors "
                    f"(first checkpoint: {rows[0]['top_k_gradient_fraction']:.1%}).")
    steps = {f"step {r['step']}": r["checkpoint"] for r in rows}
    st.select_slider("analyse the other pages at", options=list(steps), key="training_step",
                     value=next((k for k, v in steps.items() if v == config.checkpoint), list(steps)[-1]),
                     on_change=move_to, args=(steps,))
    c1, c2 = st.columns(2)
    c1.altair_chart(charts.along_training(rows, "trace", "trace"), width="stretch")
    c2.altair_chart(charts.along_training(rows, "top_k_gradient_fraction", "gradient fraction in the top-10 space"),
                    width="stretch")
    if any(r.get("top_k_overlap_final") is not None for r in rows):
        d1, d2 = st.columns(2)
        d1.altair_chart(charts.along_training(rows, "top_k_overlap_previous",
                                              "top-10 eigenspace overlap with the previous checkpoint's"),
                        width="stretch")
        d2.altair_chart(charts.along_training(rows, "top_k_overlap_final",
                                              "top-10 eigenspace overlap with the final checkpoint's"),
                        width="stretch")
        st.caption("How fast the top eigenspace turns during training: 1 means the same top-10 directions "
                   "(‖UᵀV‖²_F / 10; random directions would give about 10 / P).")
    if config.activation in ("relu", "leaky_relu") and config.architecture == "mlp" and not config.batch_norm:
        study = trajectory.rescaling(config, 10.0)
        if "top" in study["original"] and "top" in study["rescaled"]:
            st.markdown(f"**Sharpness is not invariant** (Dinh et al. 2017): scaling layer 1 by 10 and layer 2 by 1/10 "
                        f"changes the outputs by at most {study['max_output_difference']:.1e} (accuracy "
                        f"{study['accuracy'][0]:.3f} both), while the top eigenvalue goes from "
                        f"{study['original']['top']:.4g} to {study['rescaled']['top']:.4g} and the trace from "
                        f"{study['original']['trace']:.4g} to {study['rescaled']['trace']:.4g}.")
    with widgets.details(selection):
        frame = pd.DataFrame(rows)
        st.dataframe(frame, width="stretch", hide_index=True)
        widgets.download_csv(frame, "trajectory", selection)


widgets.guarded(render)
