"""Loss landscape: the loss along the Hessian's top eigenvectors and random filter-normalised
directions, and on the plane of the top two, each against its quadratic model."""

import pandas as pd
import streamlit as st

from app import charts, widgets
from app.url_state import PAGE_CONTROLS
from core import landscape, tables

CHOICES = {name: PAGE_CONTROLS[name].choices for name in ("rise", "points", "grid")}


def render():
    selection = widgets.page_header(
        "Loss landscape", "The loss along the top Hessian eigenvectors, against the quadratic model "
        "L + t gᵀv + ½ λ t² their eigenvalues give (dashed): where they part, the Hessian stops describing "
        "the loss. The radius is how far the model's curvature term is right to 10 %. Random directions are "
        "filter-normalised (Li et al., NeurIPS 2018), the 2-D view is the plane of the top two eigenvectors.")
    first = st.container()  # the eigenvector chart first; its controls below it
    c1, c2, c3, c4 = st.columns(4)
    rise = c1.select_slider("range: the top model rises by [nats]", CHOICES["rise"], key="landscape_rise")
    points = c2.select_slider("points per line", CHOICES["points"], key="landscape_points")
    grid = c3.select_slider("plane grid (a side)", CHOICES["grid"], key="landscape_grid")
    held_out = c4.toggle("held-out loss", key="landscape_held_out")
    widgets.results(selection, methods=[], progressive=False)  # the exact Hessian (its eigenvectors), with progress when cold
    cost = landscape.check(selection.config, points, grid, rise, held_out)
    with widgets.working(f"Evaluating the loss at {landscape.passes(points, grid):,} points (about {cost.seconds:.0f} s)"):
        found = landscape.landscape(selection.config, points, grid, rise, held_out)
    eigen = tables.landscape_line_rows(found, "eigenvector", held_out)
    height = 420 if selection.present else 360
    first.altair_chart(charts.landscape_lines(eigen, "t along the top eigenvectors (unit vectors, parameter units)",
                                              height), width="stretch")
    m1, m2, m3 = st.columns(3)
    m1.metric("loss at θ (Hessian batch)", f"{found['loss']:.4g}")
    m2.metric("held-out loss at θ", "—" if found["held_out_loss"] is None else f"{found['held_out_loss']:.4g}")
    m3.metric("range |t|", f"{found['span']:.3g}")
    radii = ", ".join(f"{line['direction'].split(' ')[0]}: "
                      + (f"{line['radius']:.2g}" if line["radius"] > 0 else f"below {line['radius_floor']:.1g}")
                      + (" (the whole line)" if line["holds_throughout"] else "")
                      for line in found["lines"] if line["kind"] == "eigenvector")
    first.caption(f"Eigenvectors of {found['source']}. The quadratic model holds to 10 % up to |t| = {radii}.")
    cells, curves, levels = tables.landscape_plane_rows(found)
    left, right = st.columns(2) if not selection.present else (st.container(), st.container())
    if cells:
        left.subheader("The plane of v1 and v2")
        left.altair_chart(charts.landscape_plane(cells, curves, levels, height=420), width="stretch")
        left.caption("Colour: the loss, banded at the levels the white curves are drawn at; white: the quadratic "
                     "model's level curves (ellipses while λ1, λ2 > 0). Where a band's edge leaves its curve, the "
                     "loss is no longer quadratic.")
    right.subheader("Along random filter-normalised directions")
    random = tables.landscape_line_rows(found, "random", held_out)
    right.altair_chart(charts.landscape_lines(random, "α (filter-normalised direction)", 420 if cells else height),
                       width="stretch")
    right.caption("Each filter of a Gaussian direction scaled to the norm of the same filter of θ, biases and "
                  "BatchNorm parameters left out (Li et al. 2018); α = 1 moves every filter by its own norm.")
    frame = pd.DataFrame(tables.landscape_summary(found))
    with widgets.details(selection):
        st.dataframe(frame.style.format({"curvature dᵀHd": "{:.5g}", "slope gᵀd": "{:.3g}",
                                         "model radius (10 %)": "{:.3g}"}), width="stretch", hide_index=True)
        widgets.download_csv(pd.DataFrame(eigen + random), "landscape", selection)


widgets.guarded(render)
