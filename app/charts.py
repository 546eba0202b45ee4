"""Altair chart builders: long-form rows in, interactive charts out (tooltips, clickable legends).

One visual language on every page: the exact reference black and solid, drawn on top and in
every legend; the approximations coloured by family in hues from the Okabe-Ito colour-blind
safe palette (PyHessian orange, BackPACK diagonals blue, BackPACK Kronecker green, curvlinops
purple, our matrix-free estimators vermillion/brown), each method the same colour everywhere;
dashed reference lines labelled. Streamlit's chart menu saves any chart as PNG or SVG.
"""

from __future__ import annotations

import contextvars
import functools

import altair as alt
import pandas as pd

from core.methods import REFERENCE, REGISTRY

#: method label -> colour, the same on every page (each method's catalogue line: its family's hue)
LABEL_COLOURS = {spec.label: spec.colour for spec in REGISTRY.values()}
EXACT = REGISTRY[REFERENCE].label
#: the training loss (a quantity, not a method: vermillion, off the black of the curvature)
LOSS_COLOUR = "#D55E00"
#: the trace study's two estimators, in their methods' colours
ESTIMATOR_COLORS = alt.Scale(domain=["Hutchinson", "Hutch++"],
                             range=[REGISTRY["hutchinson"].colour, REGISTRY["hutchpp"].colour])


#: whether this script run draws for a projector (set by ``app.widgets.presentation``; per run: a
#: context variable, so two sessions in two modes do not see each other's)
PRESENTING = contextvars.ContextVar("presenting", default=False)
#: chart type sizes in px, (axis and legend labels, their titles): normal, presentation mode
TYPE_SIZES = {False: (12, 13), True: (16, 17)}


def readable(builder):
    """A chart builder whose chart carries the type sizes of the mode it is drawn in."""

    @functools.wraps(builder)
    def build(*args, **kwargs):
        labels, titles = TYPE_SIZES[PRESENTING.get()]
        return (builder(*args, **kwargs)
                .configure_axis(labelFontSize=labels, titleFontSize=titles)
                .configure_legend(labelFontSize=labels, titleFontSize=titles, symbolSize=120 if labels > 12 else 80))

    return build


def _legend_selection(field: str = "method"):
    return alt.selection_point(fields=[field], bind="legend")


#: the method legends' title: short enough for presentation mode's type (a legend title stops at 180 px)
METHOD_LEGEND = "method (click one)"


def _method_color(frame: pd.DataFrame, title: str = METHOD_LEGEND, field: str = "method"):
    """The fixed method colours, exact first, legend restricted to the methods in ``frame``."""
    present = [label for label in LABEL_COLOURS if label in set(frame[field])]
    scale = alt.Scale(domain=present, range=[LABEL_COLOURS[label] for label in present])
    return alt.Color(f"{field}:N", scale=scale, sort=present, legend=alt.Legend(title=title, labelLimit=260))


#: each method's marker, the same everywhere (with its colour: two methods of one hue differ in shape)
MARKERS = ("circle", "square", "diamond", "triangle-up", "triangle-down", "triangle-right", "triangle-left", "cross",
           "M0,-1L0.24,-0.33L0.95,-0.31L0.38,0.12L0.59,0.81L0,0.4L-0.59,0.81L-0.38,0.12L-0.95,-0.31L-0.24,-0.33Z",  # star
           "M0,-1L0.87,-0.5L0.87,0.5L0,1L-0.87,0.5L-0.87,-0.5Z",  # hexagon
           "M-1,-0.6L-0.6,-1L0,-0.4L0.6,-1L1,-0.6L0.4,0L1,0.6L0.6,1L0,0.4L-0.6,1L-1,0.6L-0.4,0Z",  # x
           "M0,-1L0.95,-0.31L0.59,0.81L-0.59,0.81L-0.95,-0.31Z")  # pentagon
#: the methods drawn with markers (those with top eigenvalues) each get one of their own
LABEL_MARKERS = {spec.label: MARKERS[i % len(MARKERS)]
                 for i, spec in enumerate(s for s in REGISTRY.values() if "top" in s.yields)}


def _method_shape(frame: pd.DataFrame, field: str = "method"):
    """The fixed method markers, legend merged with the colour legend (same title and order)."""
    present = [label for label in LABEL_COLOURS if label in set(frame[field])]
    return alt.Shape(f"{field}:N", scale=alt.Scale(domain=present, range=[LABEL_MARKERS.get(m, "circle")
                                                                          for m in present]),
                     sort=present, legend=alt.Legend(title=METHOD_LEGEND, labelLimit=260))


def rows_height(rows: int, per_row: int = 34) -> int:
    """The height of a chart with one bar a row: Streamlit sizes the whole chart (axes and
    titles included, about 90 px) to this, so few rows need the overhead added or their labels
    collide (three methods in presentation mode drew 20 px rows and lost a label). Rows are
    half as tall again in presentation mode (its larger type), and never so few that the chart
    is a strip."""
    per_row = int(per_row * 1.5) if PRESENTING.get() else per_row
    return max(per_row * rows + 90, 260 if PRESENTING.get() else 200)


def _reference_rule(value: float, text: str, axis: str = "y") -> alt.LayerChart:
    """A dashed black line at ``value`` with its label written beside it."""
    frame = pd.DataFrame({"value": [value], "text": [text]})
    rule = alt.Chart(frame).mark_rule(color="black", strokeDash=[6, 3], size=2).encode(
        **{axis: "value:Q"}, tooltip=[alt.Tooltip("value:Q", title=text, format=".5g")])
    label = alt.Chart(frame).mark_text(align="left", dx=4, dy=-8 if axis == "y" else 0, fontWeight="bold").encode(
        **{axis: "value:Q"}, text="text:N", **({"x": alt.value(4)} if axis == "y" else {"y": alt.value(-10)}))
    return rule + label


@readable
def top_eigenvalues(rows: list[dict], log_scale: bool, height: int = 440) -> alt.Chart:
    """Eigenvalue against rank per method; the exact Hessian black, solid and on top."""
    frame = pd.DataFrame(rows)
    pick = _legend_selection()
    scale = alt.Scale(type="symlog") if log_scale else alt.Scale(zero=False)
    encoding = dict(
        x=alt.X("rank:O", title="rank", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("eigenvalue:Q", scale=scale, title="eigenvalue"),
        color=_method_color(frame), shape=_method_shape(frame),
        tooltip=["method", "rank", alt.Tooltip("eigenvalue:Q", format=".5g"),
                 alt.Tooltip("relative_error:Q", format=".2e"), "scored_against",
                 *([alt.Tooltip("residual:Q", format=".1e", title="certificate ‖Hy − θy‖")]
                   if "residual" in frame else [])])
    # approximations: lines with open rings, so one that equals the exact value rings its black dot
    others = alt.Chart(frame[frame.method != EXACT]).mark_line(
        point=alt.OverlayMarkDef(filled=False, size=150, strokeWidth=2.5), strokeWidth=2).encode(
        **encoding, opacity=alt.condition(pick, alt.value(1.0), alt.value(0.12))).add_params(pick)
    exact = alt.Chart(frame[frame.method == EXACT]).mark_line(
        point=alt.OverlayMarkDef(size=70, filled=True), strokeWidth=3).encode(**encoding)
    layers = [others, exact]
    if "converged" in frame and not frame["converged"].all():  # values that missed their tolerance: a red cross
        layers.append(alt.Chart(frame[~frame["converged"].astype(bool)]).mark_point(
            shape="cross", size=220, filled=True, color="#C00000").encode(
            x="rank:O", y=alt.Y("eigenvalue:Q", scale=scale),
            tooltip=["method", "rank", alt.Tooltip("eigenvalue:Q", format=".5g"),
                     alt.Tooltip("residual:Q", format=".1e", title="residual (not converged)")]))
    return alt.layer(*layers).properties(height=height)


@readable
def trace_errors(rows: list[dict], height: int | None = None) -> alt.Chart:
    """Signed relative error of each method's trace; the exact trace is the labelled zero line."""
    frame = pd.DataFrame(rows)
    pick = _legend_selection()
    bars = alt.Chart(frame).mark_bar().encode(
        y=alt.Y("method:N", sort=alt.EncodingSortField("signed_relative_error", order="descending"), title=None,
                axis=alt.Axis(labelLimit=260, labelOverlap=False)),
        x=alt.X("signed_relative_error:Q", title="trace relative to the exact trace (signed)",
                axis=alt.Axis(format="+.1%")),
        color=_method_color(frame),
        opacity=alt.condition(pick, alt.value(1.0), alt.value(0.2)),
        tooltip=["method", alt.Tooltip("trace:Q", format=".5g"), alt.Tooltip("exact_trace:Q", format=".5g"),
                 alt.Tooltip("signed_relative_error:Q", format="+.3%"), "matvecs", alt.Tooltip("seconds:Q", format=".3f")],
    ).add_params(pick)
    return (bars + _reference_rule(0.0, "exact trace", axis="x")).properties(height=height or rows_height(len(frame)))


@readable
def trace_bars(rows: list[dict]) -> alt.Chart:
    """Each method's trace (used when there is no exact trace to compare with)."""
    frame = pd.DataFrame(rows)
    return alt.Chart(frame).mark_bar().encode(
        y=alt.Y("method:N", sort="-x", title=None, axis=alt.Axis(labelLimit=260, labelOverlap=False)),
        x=alt.X("trace:Q", title="trace", scale=alt.Scale(zero=False)),
        color=_method_color(frame),
        tooltip=["method", alt.Tooltip("trace:Q", format=".5g"), "matvecs"],
    ).properties(height=rows_height(len(frame)))


@readable
def hutchinson_curve(rows: list[dict], exact_trace: float | None, height: int = 420) -> alt.Chart:
    frame = pd.DataFrame(rows)
    pick = _legend_selection("estimator")
    base = alt.Chart(frame).encode(x=alt.X("samples:Q", scale=alt.Scale(type="log"), title="Hessian-vector products"),
                                   color=alt.Color("estimator:N", scale=ESTIMATOR_COLORS,
                                                   legend=alt.Legend(title="estimator (click)")))
    band = base.mark_area(opacity=0.2).encode(
        y="low:Q", y2="high:Q", opacity=alt.condition(pick, alt.value(0.25), alt.value(0.03)),
        color=alt.Color("estimator:N", scale=ESTIMATOR_COLORS, legend=None))  # the legend shows the lines' colours
    line = base.mark_line(point=True).encode(
        y=alt.Y("mean:Q", title="trace estimate (mean, 10-90 % band)", scale=alt.Scale(zero=False)),
        opacity=alt.condition(pick, alt.value(1.0), alt.value(0.15)),
        tooltip=["estimator", "samples", alt.Tooltip("mean:Q", format=".5g"), alt.Tooltip("std:Q", format=".3g"),
                 alt.Tooltip("relative_rmse:Q", format=".2%")] if "relative_rmse" in frame else
        ["estimator", "samples", alt.Tooltip("mean:Q", format=".5g")]).add_params(pick)
    layers = [band, line]
    if exact_trace is not None:
        layers.append(_reference_rule(exact_trace, f"exact trace {exact_trace:.4g}"))
    return alt.layer(*layers).properties(height=height)


@readable
def spectrum_histogram(positions: dict, method: str, bins: int, height: int = 170) -> alt.Chart:
    """One method's eigenvalue histogram on bins and an axis shared by every method.

    Bins are equal on the (symmetric-log) axis; tick labels are turned back into eigenvalues.
    (Streamlit counts the axes in ``height``: below about 150 px the plot itself vanishes.)"""
    frame = pd.DataFrame([r for r in positions["rows"] if r["method"] == method])
    low, high = positions["domain"]
    step = (high - low) / bins or 1.0
    c = positions["constant"]
    label = (f"format((datum.value < 0 ? -1 : 1) * {c!r} * (pow(10, abs(datum.value)) - 1), '.2~g')"
             if positions["log_axis"] else "format(datum.value, '.2~g')")
    return alt.Chart(frame).mark_bar(color=LABEL_COLOURS.get(method, "#444"), binSpacing=0).encode(
        x=alt.X("position:Q", bin=alt.Bin(extent=[low, high + step], step=step),
                scale=alt.Scale(domain=[low, high + step], nice=False),
                title="eigenvalue" + (" (symmetric log axis)" if positions["log_axis"] else ""),
                axis=alt.Axis(labelExpr=label, tickCount=12)),
        y=alt.Y("count():Q", scale=alt.Scale(type="symlog"), title="count", axis=alt.Axis(tickCount=3)),
        tooltip=[alt.Tooltip("count():Q", title="eigenvalues")],
    ).properties(height=height)


@readable
def density_lines(rows: list[dict], height: int = 300) -> alt.Chart:
    """SLQ densities on a log density axis (the bulk near zero and the outliers both visible), each
    with a band of one standard deviation over its probe vectors where it has several."""
    frame = pd.DataFrame(rows)
    frame = frame[frame.density > frame.density.max() * 1e-8].copy()
    floor = frame.density.max() * 1e-8
    if "spread" not in frame:
        frame["spread"] = 0.0
    frame["low"] = (frame.density - frame.spread).clip(lower=floor)
    frame["high"] = frame.density + frame.spread
    pick = _legend_selection()
    base = alt.Chart(frame).encode(x=alt.X("eigenvalue:Q"), color=_method_color(frame))
    band = base.mark_area(opacity=0.15).encode(y=alt.Y("low:Q", scale=alt.Scale(type="log")), y2="high:Q")
    line = base.mark_line().encode(
        y=alt.Y("density:Q", scale=alt.Scale(type="log"), title="density (log; band: ±1 std over probe vectors)"),
        opacity=alt.condition(pick, alt.value(1.0), alt.value(0.15)),
        tooltip=["method", alt.Tooltip("eigenvalue:Q", format=".4g"), alt.Tooltip("density:Q", format=".3g"),
                 alt.Tooltip("spread:Q", format=".2g", title="std over probes")],
    ).add_params(pick)
    return (band + line).properties(height=height)


@readable
def cost_bars(rows: list[dict], field: str = "seconds",
              title: str = "wall time [s] (computing, not loading from the cache)") -> alt.Chart:
    frame = pd.DataFrame(rows).dropna(subset=[field])
    return (alt.Chart(frame).mark_bar().encode(
        y=alt.Y("label:N", sort="-x", title=None, axis=alt.Axis(labelLimit=260, labelOverlap=False)),
        x=alt.X(f"{field}:Q", title=title),
        color=_method_color(frame, "method", field="label").legend(None),  # the axis names each bar
        tooltip=["label", alt.Tooltip("seconds:Q", format=".3f"), alt.Tooltip("peak_memory_mib:Q", format=".1f"),
                 "matvecs", "backward_passes"],
    ).properties(height=rows_height(len(frame), per_row=26)))


@readable
def sweep_lines(rows: list[dict], y: str, title: str, log: bool = True, height: int = 260) -> alt.Chart:
    frame = pd.DataFrame(rows).dropna(subset=[y])
    frame = frame[frame[y] > 0] if log else frame
    pick = _legend_selection("label")
    return (alt.Chart(frame).mark_line(point=True).encode(
        x=alt.X("P:Q", scale=alt.Scale(type="log"), title="parameters P"),
        y=alt.Y(f"{y}:Q", scale=alt.Scale(type="log") if log else alt.Scale(), title=title),
        color=_method_color(frame, "method (click)", field="label"),
        opacity=alt.condition(pick, alt.value(1.0), alt.value(0.12)),
        tooltip=["label", "width", "P", alt.Tooltip(f"{y}:Q", format=".3g")],
    ).add_params(pick).properties(height=height))


@readable
def hutchinson_error(rows: list[dict], height: int = 300) -> alt.Chart:
    """Relative RMSE against the exact trace vs products, log-log: the slope is the convergence rate."""
    frame = pd.DataFrame(rows)
    return (alt.Chart(frame).mark_line(point=True).encode(
        x=alt.X("samples:Q", scale=alt.Scale(type="log"), title="Hessian-vector products"),
        y=alt.Y("relative_rmse:Q", scale=alt.Scale(type="log"), title="relative RMSE vs exact trace"),
        color=alt.Color("estimator:N", scale=ESTIMATOR_COLORS),
        tooltip=["estimator", "samples", alt.Tooltip("relative_rmse:Q", format=".2%")],
    ).properties(height=height))


@readable
def pareto(rows: list[dict], cost: str, error: str, cost_title: str, error_title: str, height: int = 420) -> alt.Chart:
    """Error against cost, one point per sweep cell, the Pareto front as a black step line."""
    frame = pd.DataFrame(rows)
    frame = frame[(frame[cost] > 0) & (frame[error] > 0)]
    pick = _legend_selection("label")
    points = alt.Chart(frame).mark_point(filled=True, size=70).encode(
        x=alt.X(f"{cost}:Q", scale=alt.Scale(type="log"), title=cost_title),
        y=alt.Y(f"{error}:Q", scale=alt.Scale(type="log"), title=error_title),
        color=_method_color(frame, field="label"), shape=alt.Shape("on_front:N", title="on the front"),
        opacity=alt.condition(pick, alt.value(0.9), alt.value(0.1)),
        tooltip=["label", "hidden", "activation", "seed", "options", alt.Tooltip(f"{cost}:Q", format=".3g"),
                 alt.Tooltip(f"{error}:Q", format=".2e")],
    ).add_params(pick)
    front = alt.Chart(frame[frame.on_front].sort_values(cost)).mark_line(color="black", interpolate="step-after").encode(
        x=f"{cost}:Q", y=f"{error}:Q")
    return (front + points).properties(height=height)


@readable
def metric_against_field(rows: list[dict], field: str, metric: str, title: str, height: int = 320) -> alt.Chart:
    """A metric against a swept configuration field, one line per method (mean over the other fields)."""
    frame = pd.DataFrame(rows).dropna(subset=[metric])
    frame[field] = frame[field].astype(str)
    pick = _legend_selection("label")
    return alt.Chart(frame).mark_line(point=True).encode(
        x=alt.X(f"{field}:N", title=field, sort=None),
        y=alt.Y(f"mean({metric}):Q", title=f"{title} (mean over the other fields)"),
        color=_method_color(frame, field="label"),
        opacity=alt.condition(pick, alt.value(1.0), alt.value(0.12)),
        tooltip=["label", f"{field}:N", alt.Tooltip(f"mean({metric}):Q", format=".3g")],
    ).add_params(pick).properties(height=height)


@readable
def sharpness(rows: list[dict], height: int = 260) -> alt.LayerChart:
    """Top eigenvalue against step with the dashed 2/lr line (full-batch GD); :func:`training_loss`
    goes below it on the same step axis (two charts, not a concatenation: Streamlit stretches a
    single chart to its container, a concatenation it does not). Under full-batch GD the black line is the top eigenvalue of the
    objective it steps on (all training examples) and the grey one the Hessian batch's; otherwise
    the black line is the Hessian batch's."""
    frame = pd.DataFrame(rows)
    x = _step_axis()
    whole = "objective_top" in frame and frame["objective_top"].notna().any()
    names = {"objective_top": "the objective GD steps on (all training examples)", "top": "the Hessian batch"}
    fields = ["objective_top", "top"] if whole else ["top"]
    long = frame.melt(id_vars=["step", "train_loss"], value_vars=fields, var_name="matrix", value_name="lambda_max")
    long["matrix"] = long["matrix"].map(names)
    shown = [names[f] for f in fields]
    top = alt.Chart(long).mark_line(point=True).encode(
        x=x, y=alt.Y("lambda_max:Q", title="top eigenvalue λ_max"),
        color=alt.Color("matrix:N", scale=alt.Scale(domain=shown, range=["#000000", "#9a9a9a"][: len(shown)]),
                        legend=alt.Legend(title="λ_max of", orient="top", labelLimit=400)),
        tooltip=["step", "matrix", alt.Tooltip("lambda_max:Q", format=".4g"), alt.Tooltip("train_loss:Q", format=".4g")])
    layers = [top]
    if frame["two_over_lr"].notna().any():
        layers.append(_reference_rule(float(frame["two_over_lr"].dropna().iloc[0]),
                                      f"2/lr = {float(frame['two_over_lr'].dropna().iloc[0]):.3g}"))
    return alt.layer(*layers).properties(height=height)


def _step_axis():
    return alt.X("step:Q", scale=alt.Scale(type="symlog"), title="training step (symmetric log)",
                 axis=alt.Axis(labelOverlap="greedy", labelSeparation=6))


@readable
def training_loss(rows: list[dict], height: int = 190) -> alt.Chart:
    """The training loss against the step (log), on the step axis of :func:`sharpness`."""
    frame = pd.DataFrame(rows)
    return alt.Chart(frame).mark_line(point=alt.OverlayMarkDef(color=LOSS_COLOUR), color=LOSS_COLOUR).encode(
        x=_step_axis(), y=alt.Y("train_loss:Q", title="training loss", scale=alt.Scale(type="log")),
        tooltip=["step", alt.Tooltip("train_loss:Q", format=".4g"), alt.Tooltip("train_accuracy:Q", format=".3f")],
    ).properties(height=height)


@readable
def along_training(rows: list[dict], field: str, title: str, height: int = 260) -> alt.Chart:
    """One quantity against the training step (the exact value and, for the trace and top-1,
    the approximations followed by the trajectory)."""
    frame = pd.DataFrame(rows)
    series = {"exact" if field in ("trace", "top") else title: field}
    if field in ("trace", "top"):
        suffix = "_trace" if field == "trace" else "_top1"
        series.update({REGISTRY[c[: -len(suffix)]].label: c for c in frame.columns
                       if c.endswith(suffix) and c[: -len(suffix)] in REGISTRY})
    long = pd.concat([pd.DataFrame({"step": frame.step, "value": frame[c], "method": name})
                      for name, c in series.items()]).dropna()
    long["method"] = long["method"].replace({"exact": EXACT})
    return alt.Chart(long).mark_line(point=True).encode(
        x=alt.X("step:Q", scale=alt.Scale(type="symlog"), title="training step"),
        y=alt.Y("value:Q", title=title), color=_method_color(long) if set(long.method) <= set(LABEL_COLOURS)
        else alt.value("black"),
        tooltip=["method", "step", alt.Tooltip("value:Q", format=".4g")],
    ).properties(height=height)


@readable
def block_heatmap(blocks: list[dict], height: int | None = None) -> alt.LayerChart:
    """H against the GGN per layer pair: each cell ||H_ij - G_ij||_F / ||H_ij||_F, written in the
    cell; cells where the two agree up to float32 rounding are marked '= G'."""
    frame = pd.DataFrame(blocks)
    order = list(dict.fromkeys(frame["row_label"]))
    frame["shown"] = frame["relative_difference"].clip(lower=1e-8)
    frame["text"] = [("= G" if agree else f"{value:.2g}") for agree, value in
                     zip(frame["agree"], frame["relative_difference"])]
    size = height or max(160, 56 * len(order))
    base = alt.Chart(frame).encode(
        x=alt.X("col_label:N", sort=order, title=None, axis=alt.Axis(labelAngle=-20, labelLimit=220)),
        y=alt.Y("row_label:N", sort=order, title=None, axis=alt.Axis(labelLimit=220)))
    cells = base.mark_rect(stroke="white").encode(
        color=alt.Color("shown:Q", scale=alt.Scale(type="log", scheme="oranges", domain=[1e-6, 1]),
                        legend=alt.Legend(title="‖H−G‖/‖H‖ per block", format=".0e")),
        tooltip=[alt.Tooltip("row_label:N", title="rows"), alt.Tooltip("col_label:N", title="columns"),
                 alt.Tooltip("hessian_norm:Q", title="‖H block‖_F", format=".3g"),
                 alt.Tooltip("difference_norm:Q", title="‖H − G‖_F", format=".3g"),
                 alt.Tooltip("relative_difference:Q", title="relative", format=".3g")])
    text = base.mark_text(fontSize=14, fontWeight="bold").encode(
        text="text:N", color=alt.condition("datum.shown > 0.05", alt.value("white"), alt.value("black")))
    return (cells + text).properties(height=size)


@readable
def subspace_overlaps(rows: list[dict], matrix: str = "hessian", height: int | None = None) -> alt.LayerChart:
    """One bar per method: its top-k subspace overlap with the reference's (1 = the same
    directions), the value written at the bar's end; random directions would give about k/P."""
    frame = pd.DataFrame([r for r in rows if r.get(f"overlap_{matrix}") is not None])
    frame["overlap"] = frame[f"overlap_{matrix}"]
    frame["angle"] = frame[f"largest_angle_{matrix}"]
    frame["text"] = [f"{v:.2f}" for v in frame["overlap"]]
    order = list(frame.sort_values("overlap", ascending=False)["method"])
    base = alt.Chart(frame).encode(
        y=alt.Y("method:N", sort=order, title=None, axis=alt.Axis(labelLimit=260, labelFontSize=13)),
        x=alt.X("overlap:Q", scale=alt.Scale(domain=[0, 1.08]), title="top-k subspace overlap ‖UᵀV‖²_F / k",
                axis=alt.Axis(values=[0, 0.25, 0.5, 0.75, 1.0], format=".2~f", labelFontSize=13, titleFontSize=14)))
    bars = base.mark_bar().encode(
        color=_method_color(frame, title="method").legend(None),
        tooltip=[alt.Tooltip("method:N"), alt.Tooltip("overlap:Q", format=".4f"),
                 alt.Tooltip("angle:Q", title="largest principal angle [°]", format=".1f"),
                 alt.Tooltip(f"k_{matrix}:Q", title="k")])
    text = base.mark_text(align="left", dx=4, fontWeight="bold", fontSize=13).encode(text="text:N")
    return (bars + text).properties(height=height or rows_height(len(frame)))


@readable
def overlap_heatmap(rows: list[dict], method: str, height: int = 300) -> alt.LayerChart:
    """The k x k overlap matrix |u_iᵀ v_j|: reference rank down, the method's rank across; a dark
    diagonal means rank for rank the same directions, off-diagonal cells show swapped ranks."""
    frame = pd.DataFrame(rows)
    frame["text"] = [f"{v:.2f}" if v >= 0.05 else "" for v in frame["overlap"]]
    k = int(frame["reference_rank"].max())
    base = alt.Chart(frame).encode(
        x=alt.X("method_rank:O", title=f"{method}: eigenvector rank", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("reference_rank:O", title="reference eigenvector rank"))
    cells = base.mark_rect(stroke="white").encode(
        color=alt.Color("overlap:Q", scale=alt.Scale(scheme="greys", domain=[0, 1]),
                        legend=alt.Legend(title="|uᵢᵀvⱼ|")),
        tooltip=[alt.Tooltip("reference_rank:O", title="reference rank"),
                 alt.Tooltip("method_rank:O", title="method rank"), alt.Tooltip("overlap:Q", format=".3f")])
    text = base.mark_text(fontSize=13 if k <= 10 else 10).encode(
        text="text:N", color=alt.condition("datum.overlap > 0.5", alt.value("white"), alt.value("black")))
    return (cells + text).properties(height=height)


#: the landscape's lines: each direction its own colour (Okabe-Ito, off the methods' families), the
#: quadratic model dashed in the same colour, held-out data dotted
DIRECTION_COLOURS = ("#000000", "#0072B2", "#009E73", "#CC79A7", "#E69F00")


@readable
def landscape_lines(rows: list[dict], x_title: str, height: int = 360) -> alt.Chart:
    """Loss against the step along each direction: measured (solid), its quadratic model
    (dashed), on held-out data (dotted); a rule at each direction's model radius."""
    frame = pd.DataFrame(rows)
    directions = list(dict.fromkeys(frame["direction"]))
    colour = alt.Color("direction:N", sort=directions,
                       scale=alt.Scale(domain=directions, range=list(DIRECTION_COLOURS[: len(directions)])),
                       legend=alt.Legend(title="direction", orient="bottom", columns=2, labelLimit=320))
    dash = alt.StrokeDash("curve:N", sort=["loss (Hessian batch)", "quadratic model", "loss (held-out)"],
                          scale=alt.Scale(domain=["loss (Hessian batch)", "quadratic model", "loss (held-out)"],
                                          range=[[1, 0], [7, 4], [2, 3]]),
                          legend=alt.Legend(title=None, orient="bottom"))
    lower, upper = frame.loc[frame.curve != "quadratic model", "loss"].min(), frame["loss"].max()
    top = lower + 1.15 * (frame.loc[frame.curve != "quadratic model", "loss"].max() - lower)  # the model may soar
    lines = alt.Chart(frame).mark_line(strokeWidth=2.5, clip=True).encode(
        x=alt.X("t:Q", title=x_title), y=alt.Y("loss:Q", title="loss", scale=alt.Scale(domain=[lower, min(upper, top)])),
        color=colour, strokeDash=dash,
        tooltip=[alt.Tooltip("direction:N"), alt.Tooltip("curve:N"), alt.Tooltip("t:Q", format=".3g"),
                 alt.Tooltip("loss:Q", format=".5g")])
    return lines.properties(height=height)


@readable
def landscape_plane(cells: list[dict], curves: list[dict], levels: list[float], height: int = 420) -> alt.LayerChart:
    """The loss on the plane of the top two eigenvectors (colour, banded like a contour map) with
    the quadratic model's level curves drawn over it (white lines, the same levels as the bands)."""
    frame = pd.DataFrame(cells)
    steps = sorted(set(frame["a"]))
    half = (steps[1] - steps[0]) / 2 if len(steps) > 1 else 0.5
    frame["a1"], frame["a2"] = frame["a"] - half, frame["a"] + half
    frame["b1"], frame["b2"] = frame["b"] - half, frame["b"] + half
    bands = sorted(set(levels))
    extent = [float(frame["a1"].min()), float(frame["a2"].max())]
    cells_chart = alt.Chart(frame).mark_rect().encode(
        x=alt.X("a1:Q", title="a (along v1)", scale=alt.Scale(domain=extent, nice=False)), x2="a2:Q",
        y=alt.Y("b1:Q", title="b (along v2)", scale=alt.Scale(domain=extent, nice=False)), y2="b2:Q",
        color=alt.Color("loss:Q", scale=alt.Scale(type="threshold", domain=bands, scheme="viridis") if bands
                        else alt.Scale(scheme="viridis"), legend=alt.Legend(title="loss", format=".3g")),
        tooltip=[alt.Tooltip("a:Q", format=".3g"), alt.Tooltip("b:Q", format=".3g"),
                 alt.Tooltip("loss:Q", format=".5g"), alt.Tooltip("model:Q", title="quadratic model", format=".5g")])
    chart = cells_chart
    if curves:
        lines = alt.Chart(pd.DataFrame(curves)).mark_line(color="white", strokeWidth=2, clip=True).encode(
            x="a:Q", y="b:Q", detail="level:N", order="order:Q",
            tooltip=[alt.Tooltip("level:Q", title="quadratic model level", format=".4g")])
        chart = cells_chart + lines
    return chart.properties(height=height)


@readable
def layer_tops(rows: list[dict], field: str = "top1", title: str = "largest eigenvalue of the layer's block",
               height: int | None = None) -> alt.Chart:
    """Per layer (rows), each method's value as a dot on a log axis: the exact Hessian's black
    and large, the GGN's dark grey, the approximations in their colours."""
    frame = pd.DataFrame([r for r in rows if r.get(field) is not None and r[field] > 0])
    layers = list(dict.fromkeys(frame["layer"]))
    pick = _legend_selection()
    return alt.Chart(frame).mark_point(filled=True, size=140, opacity=0.9).encode(
        y=alt.Y("layer:N", sort=layers, title=None, axis=alt.Axis(labelLimit=260)),
        x=alt.X(f"{field}:Q", scale=alt.Scale(type="log"), title=title),
        color=_method_color(frame), shape=alt.Shape("approximates:N", title="approximates"),
        opacity=alt.condition(pick, alt.value(0.95), alt.value(0.15)),
        tooltip=[alt.Tooltip("layer:N"), alt.Tooltip("method:N"), alt.Tooltip(f"{field}:Q", format=".4g"),
                 alt.Tooltip("trace:Q", format=".4g")],
    ).add_params(pick).properties(height=height or max(160, 70 * len(layers) + 60))
