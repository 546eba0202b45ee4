"""Altair chart builders: long-form rows in, interactive charts out (tooltips, clickable legends).

Streamlit's chart menu saves any of them as PNG or SVG.
"""

from __future__ import annotations

import math

import altair as alt
import pandas as pd


from core.methods import REGISTRY

# One colour per method on every page: the exact Hessian black, the exact GGN grey, the rest
# from Tableau 20 (13+ methods would repeat a 10-colour palette).
_TABLEAU20 = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
              "#9c755f", "#bab0ac", "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#17becf"]
_LABELS = [spec.label for spec in REGISTRY.values()]
_SPECIAL = {REGISTRY["exact_hessian"].label: "#000000", REGISTRY["exact_ggn"].label: "#7f7f7f"}
_OTHERS = [lab for lab in _LABELS if lab not in _SPECIAL]
METHOD_COLORS = alt.Scale(domain=list(_SPECIAL) + _OTHERS,
                          range=list(_SPECIAL.values()) + _TABLEAU20[: len(_OTHERS)])
ESTIMATOR_COLORS = alt.Scale(domain=["Hutchinson", "Hutch++"], range=["#f28e2b", "#4e79a7"])
EXACT = REGISTRY["exact_hessian"].label


def _legend_selection(field: str = "method"):
    return alt.selection_point(fields=[field], bind="legend")


def _method_color(frame: pd.DataFrame, title: str = "method (click to highlight)", field: str = "method"):
    """The fixed method colours, with the legend restricted to the methods in ``frame``."""
    present = set(frame[field])
    pairs = [(d, r) for d, r in zip(METHOD_COLORS.domain, METHOD_COLORS.range) if d in present]
    scale = alt.Scale(domain=[d for d, _ in pairs], range=[r for _, r in pairs])
    return alt.Color(f"{field}:N", scale=scale, legend=alt.Legend(title=title, labelLimit=260))


def top_eigenvalues(rows: list[dict], log_scale: bool) -> alt.Chart:
    frame = pd.DataFrame(rows)
    pick = _legend_selection()
    scale = alt.Scale(type="symlog") if log_scale else alt.Scale(zero=False)
    encoding = dict(
        x=alt.X("rank:O", title="rank"),
        y=alt.Y("eigenvalue:Q", scale=scale, title="eigenvalue"),
        color=_method_color(frame),
        tooltip=["method", "rank", alt.Tooltip("eigenvalue:Q", format=".5g"),
                 alt.Tooltip("relative_error:Q", format=".2e")])
    exact = alt.Chart(frame[frame.method == EXACT]).mark_line(point=alt.OverlayMarkDef(size=90), strokeWidth=6,
                                                              opacity=0.5).encode(**encoding)
    others = alt.Chart(frame).mark_line(point=True, strokeWidth=1.8).encode(
        **encoding, opacity=alt.condition(pick, alt.value(1.0), alt.value(0.1))).add_params(pick)
    return (exact + others).properties(height=440)


def trace_bars(rows: list[dict], exact_trace: float | None) -> alt.Chart:
    frame = pd.DataFrame(rows)
    pick = _legend_selection("family")
    bars = alt.Chart(frame).mark_bar().encode(
        y=alt.Y("method:N", sort="-x", title=None, axis=alt.Axis(labelLimit=260)),
        x=alt.X("trace:Q", title="trace"),
        color=alt.Color("family:N", legend=alt.Legend(title="family (click)"), scale=alt.Scale(scheme="tableau10")),
        opacity=alt.condition(pick, alt.value(1.0), alt.value(0.2)),
        tooltip=["method", alt.Tooltip("trace:Q", format=".5g"), alt.Tooltip("relative_error:Q", format=".2%"),
                 "matvecs", alt.Tooltip("seconds:Q", format=".3f")],
    ).add_params(pick)
    if exact_trace is None:
        return bars.properties(height=30 * len(frame) + 40)
    rule = alt.Chart(pd.DataFrame({"exact": [exact_trace]})).mark_rule(color="black", strokeDash=[6, 3], size=2).encode(
        x="exact:Q", tooltip=[alt.Tooltip("exact:Q", title="exact trace", format=".5g")])
    return (bars + rule).properties(height=30 * len(frame) + 40)


def hutchinson_curve(rows: list[dict], exact_trace: float | None) -> alt.Chart:
    frame = pd.DataFrame(rows)
    pick = _legend_selection("estimator")
    base = alt.Chart(frame).encode(x=alt.X("samples:Q", scale=alt.Scale(type="log"), title="Hessian-vector products"),
                                   color=alt.Color("estimator:N", scale=ESTIMATOR_COLORS,
                                                   legend=alt.Legend(title="estimator (click)")))
    band = base.mark_area(opacity=0.2).encode(y="low:Q", y2="high:Q",
                                              opacity=alt.condition(pick, alt.value(0.25), alt.value(0.03)))
    line = base.mark_line(point=True).encode(
        y=alt.Y("mean:Q", title="trace estimate (mean, 10-90 % band over repeats)", scale=alt.Scale(zero=False)),
        opacity=alt.condition(pick, alt.value(1.0), alt.value(0.15)),
        tooltip=["estimator", "samples", alt.Tooltip("mean:Q", format=".5g"), alt.Tooltip("std:Q", format=".3g"),
                 alt.Tooltip("relative_rmse:Q", format=".2%")] if "relative_rmse" in frame else
        ["estimator", "samples", alt.Tooltip("mean:Q", format=".5g")]).add_params(pick)
    layers = [band, line]
    if exact_trace is not None:
        layers.append(alt.Chart(pd.DataFrame({"exact": [exact_trace]})).mark_rule(color="black", strokeDash=[6, 3])
                      .encode(y="exact:Q", tooltip=[alt.Tooltip("exact:Q", title="exact trace", format=".5g")]))
    return alt.layer(*layers).properties(height=420)


def spectrum_histogram(rows: list[dict], symlog: bool, bins: int) -> alt.Chart:
    frame = pd.DataFrame(rows)
    value = "eigenvalue"
    if symlog:  # sign(x) log10(1 + |x| / c): negative and tiny eigenvalues stay visible
        c = max(float(frame[value].abs().quantile(0.5)), 1e-12)
        frame["transformed"] = frame[value].apply(lambda x: (1 if x >= 0 else -1) * math.log10(1 + abs(x) / c))
        value, title = "transformed", f"sign(λ)·log10(1 + |λ| / {c:.2g})"
    else:
        title = "eigenvalue"
    low, high = float(frame[value].min()), float(frame[value].max())
    step = (high - low) / bins or 1.0
    return (alt.Chart(frame).mark_bar(binSpacing=0).encode(
        x=alt.X(f"{value}:Q", bin=alt.Bin(extent=[low, high + step], step=step), title=title),
        y=alt.Y("count():Q", scale=alt.Scale(type="symlog"), title=None, axis=alt.Axis(tickCount=3)),
        color=_method_color(frame, "method"),
        tooltip=["method", alt.Tooltip(f"{value}:Q", bin=True, title="bin"), alt.Tooltip("count():Q", title="eigenvalues")],
    ).properties(height=70, width=760).facet(
        row=alt.Row("method:N", title=None, header=alt.Header(labelAngle=0, labelAlign="left", labelLimit=260),
                    sort=[EXACT, REGISTRY["exact_ggn"].label]),
    ).resolve_scale(y="independent").properties(title="eigenvalue count per bin (symlog counts), one row per method"))


def density_lines(rows: list[dict]) -> alt.Chart:
    frame = pd.DataFrame(rows)
    pick = _legend_selection()
    return (alt.Chart(frame).mark_line().encode(
        x=alt.X("eigenvalue:Q"), y=alt.Y("density:Q", scale=alt.Scale(type="symlog")),
        color=_method_color(frame), opacity=alt.condition(pick, alt.value(1.0), alt.value(0.15)),
        tooltip=["method", alt.Tooltip("eigenvalue:Q", format=".4g"), alt.Tooltip("density:Q", format=".3g")],
    ).add_params(pick).properties(height=300))


def cost_bars(rows: list[dict], field: str = "seconds",
              title: str = "wall time [s] (computing, not loading from the cache)") -> alt.Chart:
    frame = pd.DataFrame(rows).dropna(subset=[field])
    return (alt.Chart(frame).mark_bar().encode(
        y=alt.Y("label:N", sort="-x", title=None, axis=alt.Axis(labelLimit=260)),
        x=alt.X(f"{field}:Q", title=title),
        color=alt.Color("approximates:N"),
        tooltip=["label", alt.Tooltip("seconds:Q", format=".3f"), alt.Tooltip("peak_memory_mib:Q", format=".1f"),
                 "matvecs", "backward_passes"],
    ).properties(height=26 * len(frame) + 40))


def sweep_lines(rows: list[dict], y: str, title: str, log: bool = True) -> alt.Chart:
    frame = pd.DataFrame(rows).dropna(subset=[y])
    frame = frame[frame[y] > 0] if log else frame
    pick = _legend_selection("label")
    return (alt.Chart(frame).mark_line(point=True).encode(
        x=alt.X("P:Q", scale=alt.Scale(type="log"), title="parameters P"),
        y=alt.Y(f"{y}:Q", scale=alt.Scale(type="log") if log else alt.Scale(), title=title),
        color=_method_color(frame, "method (click)", field="label"),
        opacity=alt.condition(pick, alt.value(1.0), alt.value(0.12)),
        tooltip=["label", "width", "P", alt.Tooltip(f"{y}:Q", format=".3g")],
    ).add_params(pick).properties(height=320))


def hutchinson_error(rows: list[dict]) -> alt.Chart:
    """Relative RMSE against the exact trace vs products, log-log: the slope is the convergence rate."""
    frame = pd.DataFrame(rows)
    return (alt.Chart(frame).mark_line(point=True).encode(
        x=alt.X("samples:Q", scale=alt.Scale(type="log"), title="Hessian-vector products"),
        y=alt.Y("relative_rmse:Q", scale=alt.Scale(type="log"), title="relative RMSE vs exact trace"),
        color=alt.Color("estimator:N", scale=ESTIMATOR_COLORS),
        tooltip=["estimator", "samples", alt.Tooltip("relative_rmse:Q", format=".2%")],
    ).properties(height=300))
