"""Results to rows: long-form rows (lists of dicts) for every figure and table, and cells.

The app's pages draw these with Altair, the CLI prints them; nothing here computes curvature
or draws: every function takes results already computed (:func:`core.pipeline.results_for`).
"""

from __future__ import annotations

import numpy as np

from . import metrics, subspaces
from .methods import DIRECTION_REFERENCES, GGN_REFERENCE, REFERENCE, REGISTRY, STAND_INS
from .results import KEPT_VECTORS, Result

#: the columns of the comparison table (CLI ``compare``, the Cost page)
COMPARE_COLUMNS = ["method", "approximates", "top1", "top1_rel_error", "max_topk_rel_error", "max_residual",
                   "topk_overlap", "trace", "trace_std_error", "trace_rel_error", "w1_spectrum", "matvecs", "backward_passes",
                   "seconds", "peak_memory_mib"]



def reference(results: dict[str, Result]) -> tuple[Result | None, str]:
    """What approximations are scored against, and how it is labelled.

    The exact Hessian when it ran. Past the exact limit, the best certified values there are:
    the first of :data:`core.methods.STAND_INS` that ran: Lanczos' top and bottom eigenvalues
    (each within its residual of an eigenvalue of H: its certificate) and a stochastic trace with
    its standard error; None when neither ran.
    """
    from .background import is_pending

    exact = results.get(REFERENCE)
    if exact is not None and exact.ok:
        return exact, "the exact Hessian"
    why = "is still computing" if is_pending(exact) else "is refused"
    values = next((results[n] for n in STAND_INS["eigenvalues"] if n in results and results[n].certified), None)
    trace = next((results[n] for n in STAND_INS["trace"] if n in results and results[n].ok), None)
    if values is None and trace is None:
        return None, f"no reference: the exact Hessian {why} and no certified method ran"
    words = []
    if values is not None:
        converged = int(np.sum(values.top_converged)) + int(np.sum(values.bottom_converged) if
                                                            values.bottom_converged is not None else 0)
        count = len(values.top) + (len(values.bottom) if values.bottom is not None else 0)
        words.append(f"{label(values.method)}, certified to residual ≤ {values.max_residual():.1e} "
                     f"({converged} of {count} values converged)")
    if trace is not None:
        error = f" ± {trace.trace_standard_error:.2g} (standard error)" if trace.trace_standard_error else ""
        words.append(f"trace from {label(trace.method)}{error}")
    stand_in = Result("reference", "reference", top=None if values is None else values.top,
                      bottom=None if values is None else values.bottom,
                      top_vectors=None if values is None else values.top_vectors,
                      top_residuals=None if values is None else values.top_residuals,
                      trace=None if trace is None else trace.trace,
                      trace_standard_error=None if trace is None else trace.trace_standard_error,
                      options={"sources": [r.method for r in (values, trace) if r is not None]})
    return stand_in, f"reference (the exact Hessian {why}): " + "; ".join(words)


def format_cell(value, seconds: bool = False) -> str:
    """A table cell for people: 4 significant digits, a time with its unit (hours for long ones),
    a dash for n/a.

    >>> format_cell(None), format_cell(3.14159), format_cell(72000.0, seconds=True), format_cell(7)
    ('—', '3.142', '20.0 h', '7')
    >>> format_cell(10.18, seconds=True)
    '10.18 s'
    """
    if value is None:
        return "—"
    if isinstance(value, float):
        if seconds:
            return f"{value / 3600:.1f} h" if value >= 3600 else f"{value:.4g} s"
        return f"{value:.4g}"
    return str(value)


def label(name: str) -> str:
    """The registry label people read, e.g. ``"Exact Hessian"``."""
    return REGISTRY[name].label


def _scored(result: Result, reference_result: Result | None) -> bool:
    """Whether ``result`` is scored against ``reference_result`` (not itself, nor one of its sources)."""
    return (reference_result is not None and reference_result.ok and reference_result is not result
            and result.method not in reference_result.options.get("sources", ()))


def comparison_row(result: Result, exact: Result | None, top_k: int = 10) -> dict:
    """One row of the comparison table for ``result`` against ``exact`` (the exact Hessian's result,
    or the certified stand-in of :func:`reference`), with the result's own certificates."""
    have_exact = _scored(result, exact)
    by_magnitude = REGISTRY[result.method].finds_largest_magnitude
    errors = metrics.top_k_errors(result, exact, top_k, by_magnitude) if have_exact and result.ok else np.array([])
    agreement = subspaces.agreement(result, exact, top_k) if have_exact and result.ok else None
    return {
        "method": result.method,
        "label": label(result.method),
        "approximates": REGISTRY[result.method].matrix,
        "top1": float(result.top[0]) if result.ok and result.top is not None and len(result.top) else None,
        "top1_rel_error": float(errors[0]) if len(errors) else None,
        "max_topk_rel_error": float(np.nanmax(errors)) if len(errors) else None,
        "max_residual": result.max_residual() if result.ok else None,
        "topk_overlap": None if agreement is None else agreement["overlap"],
        "stopped": result.stopped,
        "trace": result.trace,
        "trace_std_error": result.trace_standard_error,
        "trace_rel_error": metrics.trace_error(result, exact) if have_exact and result.ok else None,
        "w1_spectrum": metrics.spectrum_distance(result, exact) if have_exact and result.ok else None,
        "matvecs": result.matvecs,
        "backward_passes": result.backward_passes,
        "seconds": result.seconds,
        "peak_memory_mib": None if result.peak_memory_bytes is None else result.peak_memory_bytes / 2**20,
        "error": result.error,
    }


def top_eigenvalue_rows(results: dict[str, Result], k: int = 10) -> list[dict]:
    """Eigenvalue vs rank for every method with top eigenvalues, with the per-rank error.

    A method that finds the largest |λ| (PyHessian's power iteration) is ranked by |λ| and
    scored against the exact eigenvalues of largest magnitude (``scored_against`` says which).
    """
    exact, _ = reference(results)
    rows = []
    for name, result in results.items():
        if not result.ok or result.top is None:
            continue
        by_magnitude = REGISTRY[name].finds_largest_magnitude
        values = metrics.largest_magnitude(result.top, k) if by_magnitude else result.top_k(k)
        errors = metrics.top_k_errors(result, exact, k, by_magnitude) if exact is not None else np.array([])
        residuals = result.top_residuals if not by_magnitude else None
        for rank, value in enumerate(values, start=1):
            error = errors[rank - 1] if rank <= len(errors) and _scored(result, exact) else None
            certified = residuals is not None and rank <= len(residuals)
            rows.append({"method": label(name), "rank": rank, "eigenvalue": float(value),
                         "relative_error": None if error is None else float(error),
                         "residual": float(residuals[rank - 1]) if certified else None,
                         "converged": bool(result.top_converged[rank - 1]) if certified else True,
                         "scored_against": "largest |λ|" if by_magnitude else "largest λ",
                         "approximates": REGISTRY[name].matrix})
    return rows


def direction_reference(results: dict[str, Result], matrix: str = "hessian") -> tuple[Result | None, str]:
    """Whose top eigenvectors directions of ``matrix`` (``hessian`` or ``ggn``) are compared with:
    the first of :data:`core.methods.DIRECTION_REFERENCES` that ran with vectors, and its words."""
    for name in DIRECTION_REFERENCES[matrix]:
        found = results.get(name)
        if found is not None and found.ok and found.top_vectors is not None:
            words = f"the exact {'Hessian' if matrix == 'hessian' else 'GGN'}" if REGISTRY[name].dense else (
                f"{label(name)} (certified, residual ≤ {found.max_residual():.1e})")
            return found, words
    return None, f"no reference for the {matrix.upper() if matrix == 'ggn' else matrix}'s directions ran"


def direction_rows(results: dict[str, Result], k: int = KEPT_VECTORS) -> list[dict]:
    """Per method with eigenvectors: the top-k subspace overlap (mean squared cosine of the
    principal angles, :mod:`core.subspaces`) and the largest principal angle against the
    Hessian's top-k eigenvectors, and for a GGN approximation also against the GGN's; the
    reference's relative gap at k (near zero: the top-k subspace itself is not determined)."""
    references = {matrix: direction_reference(results, matrix)[0] for matrix in DIRECTION_REFERENCES}
    rows = []
    for name, result in results.items():
        if not result.ok or result.top_vectors is None:
            continue
        row = {"method": label(name), "name": name, "approximates": REGISTRY[name].matrix}
        for matrix, reference_result in references.items():
            found = None if reference_result is None else subspaces.agreement(result, reference_result, k)
            row[f"overlap_{matrix}"] = None if found is None else found["overlap"]
            row[f"largest_angle_{matrix}"] = None if found is None else found["largest_angle"]
            row[f"k_{matrix}"] = None if found is None else found["k"]
            row[f"gap_{matrix}"] = None if found is None else found["reference_gap"]
        rows.append(row)
    return rows


def overlap_matrix_rows(result: Result, reference_result: Result, k: int = KEPT_VECTORS) -> list[dict]:
    """Long-form rows of the k x k overlap matrix |u_iᵀ v_j| (reference rank i, method rank j)."""
    found = subspaces.agreement(result, reference_result, k)
    if found is None:
        return []
    matrix = found["overlap_matrix"]
    return [{"reference_rank": i + 1, "method_rank": j + 1, "overlap": float(matrix[i, j])}
            for i in range(matrix.shape[0]) for j in range(matrix.shape[1])]


def trace_rows(results: dict[str, Result]) -> list[dict]:
    """One row per method with a trace: value, standard error (stochastic ones), relative error
    against the reference (:func:`reference`), cost."""
    exact, _ = reference(results)
    rows = []
    for name, result in results.items():
        if result.ok and result.trace is not None:
            error = metrics.trace_error(result, exact) if _scored(result, exact) and exact.trace is not None else None
            rows.append({"method": label(name), "family": result.family, "approximates": result.matrix,
                         "trace": float(result.trace), "standard_error": result.trace_standard_error,
                         "relative_error": error, "matvecs": result.matvecs, "seconds": result.seconds})
    return rows


def spectrum_rows(results: dict[str, Result]) -> list[dict]:
    """All eigenvalues of every method that has a full spectrum (long form)."""
    rows = []
    for name, result in results.items():
        if result.ok and result.spectrum is not None:
            rows += [{"method": label(name), "eigenvalue": float(v)} for v in result.spectrum]
    return rows


def density_rows(results: dict[str, Result]) -> list[dict]:
    """Smoothed SLQ densities (grid, density, and its spread over the probe vectors) of the methods
    that estimate one."""
    rows = []
    for name, result in results.items():
        if result.ok and result.density is not None:
            spread = result.density.spread if result.density.spread is not None else np.zeros_like(result.density.values)
            rows += [{"method": label(name), "eigenvalue": float(x), "density": float(d), "spread": float(s)}
                     for x, d, s in zip(result.density.grid, result.density.values, spread)]
    return rows


def cost_rows(results: dict[str, Result], k: int = 10) -> list[dict]:
    """Wall time, products and backward passes per method with its headline errors (against :func:`reference`)."""
    exact, _ = reference(results)
    return [comparison_row(r, exact, k) for r in results.values()]


def hutchinson_rows(study: dict, exact_trace: float | None) -> list[dict]:
    """Estimate vs sample count: Hutchinson mean/quantiles and Hutch++ at equal products."""
    rows = []
    for row in study["hutchinson_curve"]:
        rows.append({"estimator": "Hutchinson", "samples": row["samples"], "mean": row["mean"],
                     "low": row["q10"], "high": row["q90"], "std": row["std"]})
    for row in study["hutchpp"]:
        values = np.array(row["estimates"])
        rows.append({"estimator": "Hutch++", "samples": row["samples"], "mean": float(values.mean()),
                     "low": float(np.quantile(values, 0.1)), "high": float(np.quantile(values, 0.9)),
                     "std": float(values.std(ddof=1))})
    if exact_trace is not None:
        for row in rows:
            row["relative_rmse"] = metrics.relative_rmse(row["mean"], row["std"], exact_trace)
    return rows


#: float32's machine epsilon: the exact spectra are computed in float32
FLOAT32_EPS = float(np.finfo(np.float32).eps)


def noise_floor(spectrum: np.ndarray, eps: float = FLOAT32_EPS) -> float:
    """|λ| below ``P · eps · max|λ|`` is rounding, not curvature: counted as zero.

    (The backward error of a symmetric eigensolver is about ``P eps ||H||``; Golub & Van Loan,
    Matrix Computations, 8.1.) A PSD matrix (the GGN) then has no negative eigenvalues.

    >>> noise_floor(np.array([-1e-9, 2.0]))  # 2 * eps * 2
    4.76837158203125e-07
    """
    spectrum = np.asarray(spectrum)
    return float(len(spectrum) * eps * np.abs(spectrum).max()) if len(spectrum) else 0.0


def spectrum_summary(results: dict[str, Result]) -> list[dict]:
    """Per method with a full spectrum: smallest, largest, and how many eigenvalues are negative,
    zero and positive beyond the rounding noise floor (:func:`noise_floor`, stated per row)."""
    rows = []
    for name, r in results.items():
        if r.ok and r.spectrum is not None:
            floor = noise_floor(r.spectrum)
            rows.append({"method": label(name), "smallest": float(r.spectrum[0]), "largest": float(r.spectrum[-1]),
                         "negative": int((r.spectrum < -floor).sum()), "zero (|λ| ≤ floor)": int((np.abs(r.spectrum) <= floor).sum()),
                         "positive": int((r.spectrum > floor).sum()), "noise floor": floor, "count": len(r.spectrum)})
    return rows


def symlog(values: np.ndarray, constant: float) -> np.ndarray:
    """``sign(x) log10(1 + |x| / c)``, the symmetric log Vega-Lite's ``symlog`` scale uses (base 10)."""
    return np.sign(values) * np.log10(1 + np.abs(values) / constant)


def spectrum_positions(results: dict[str, Result], log_axis: bool = True) -> dict:
    """Every eigenvalue of every full spectrum at its position on a shared axis, for histograms.

    Returns:
        ``{"rows": [{method, eigenvalue, position}], "constant": c, "domain": [lo, hi], "log_axis"}``:
        ``position`` is :func:`symlog` of the eigenvalue when ``log_axis``, else the eigenvalue
        itself; ``c``, the axis' linear range, is the exact Hessian's rounding noise floor
        (:func:`noise_floor`), so what cannot be told from zero sits in the linear middle and
        every decade above it is resolved. A chart bins positions with equal widths and labels
        the axis in eigenvalues.
    """
    spectra = {label(n): r.spectrum for n, r in results.items() if r.ok and r.spectrum is not None}
    if not spectra:
        return {"rows": [], "constant": 1.0, "domain": [0.0, 1.0], "log_axis": log_axis}
    reference = results.get(REFERENCE)
    base = reference.spectrum if reference is not None and reference.ok else np.concatenate(list(spectra.values()))
    constant = max(noise_floor(base), 1e-12)
    position = (lambda v: symlog(v, constant)) if log_axis else (lambda v: v)
    rows = [{"method": method, "eigenvalue": float(v), "position": float(x)}
            for method, values in spectra.items() for v, x in zip(values, position(values))]
    positions = [r["position"] for r in rows]
    return {"rows": rows, "constant": constant, "domain": [min(positions), max(positions)], "log_axis": log_axis}


def trace_error_rows(results: dict[str, Result]) -> list[dict]:
    """Signed relative error of each method's trace against the reference's (:func:`reference`;
    empty without a reference trace)."""
    exact, _ = reference(results)
    if exact is None or not exact.trace:
        return []
    return [{"method": label(name), "family": r.family, "signed_relative_error": (r.trace - exact.trace) / abs(exact.trace),
             "trace": float(r.trace), "exact_trace": float(exact.trace), "matvecs": r.matvecs, "seconds": r.seconds}
            for name, r in results.items() if r.ok and r.trace is not None and _scored(r, exact)]


def pareto_front(rows: list[dict], cost: str, error: str) -> list[dict]:
    """Rows with a field ``on_front``: no other row is at most as costly and strictly more accurate
    (or strictly cheaper and at most as wrong). Rows missing either number are left off.

    >>> [r["on_front"] for r in pareto_front([{"c": 1, "e": 3}, {"c": 2, "e": 1}, {"c": 3, "e": 2}], "c", "e")]
    [True, True, False]
    """
    usable = [r for r in rows if r.get(cost) is not None and r.get(error) is not None
              and np.isfinite(r[cost]) and np.isfinite(r[error])]
    out = []
    for r in usable:
        dominated = any((o[cost] <= r[cost] and o[error] < r[error]) or (o[cost] < r[cost] and o[error] <= r[error])
                        for o in usable)
        out.append({**r, "on_front": not dominated})
    return out


def landscape_line_rows(found: dict, kind: str, held_out: bool = True) -> list[dict]:
    """Long-form rows of :func:`core.landscape.landscape`'s lines of ``kind`` (``eigenvector`` or
    ``random``): ``{direction, curve, t, loss}``, the curve the loss on the Hessian batch, its
    quadratic model or (``held_out``) the loss on held-out data."""
    rows = []
    for line in found["lines"]:
        if line["kind"] != kind:
            continue
        curves = {"loss (Hessian batch)": line["batch"], "quadratic model": line["model"]}
        if held_out and line["held_out"] is not None:
            curves["loss (held-out)"] = line["held_out"]
        for curve, losses in curves.items():
            rows += [{"direction": line["direction"], "curve": curve, "t": t, "loss": value}
                     for t, value in zip(line["t"], losses)]
    return rows


def landscape_summary(found: dict) -> list[dict]:
    """Per line: the curvature dᵀHd, the slope gᵀd and the radius of the quadratic model."""
    return [{"direction": line["direction"], "curvature dᵀHd": line["curvature"], "slope gᵀd": line["slope"],
             "model radius (10 %)": line["radius"], "holds over the whole line": line["holds_throughout"]}
            for line in found["lines"]]


def landscape_plane_rows(found: dict) -> tuple[list[dict], list[dict], list[float]]:
    """The plane's cells ``{a, b, loss, model}``, the quadratic model's level curves (rows
    ``{level, order, a, b}``, drawn clipped to the plane) and the loss levels they are drawn at
    (the bands of the colour scale), as :func:`core.landscape.landscape` computed them."""
    plane = found.get("plane")
    if not plane:
        return [], [], []
    axis = plane["axis"]
    cells = [{"a": a, "b": b, "loss": plane["batch"][i][j], "model": plane["model"][i][j]}
             for i, a in enumerate(axis) for j, b in enumerate(axis)]
    return cells, plane["level_curves"], plane["levels"]


def layer_rows(results: dict[str, Result], exact_layers: dict | None = None) -> list[dict]:
    """Per layer and method: the largest eigenvalue and the trace of the layer's diagonal block,
    exact (``exact_layers``: the block report's ``layer_spectra``, Hessian and GGN) and by every
    method whose matrix is block diagonal by construction (:attr:`Result.layers`)."""
    rows = []
    for matrix, name in (("hessian", REFERENCE), ("ggn", GGN_REFERENCE)):
        for layer in (exact_layers or {}).get(matrix, []):
            rows.append({"layer": layer["layer"], "method": label(name), "approximates": matrix,
                         "top1": layer["top"][0] if layer["top"] else None, "trace": layer["trace"],
                         "top": layer["top"]})
    for name, result in results.items():
        if result.ok and result.layers:
            rows += [{"layer": layer["layer"], "method": label(name), "approximates": REGISTRY[name].matrix,
                      "top1": layer["top"][0] if layer["top"] else None, "trace": layer["trace"], "top": layer["top"]}
                     for layer in result.layers]
    return rows
