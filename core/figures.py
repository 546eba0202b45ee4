"""Data behind each figure and the paper-claims check, as long-form rows (lists of dicts).

The app's pages draw these with Altair and the CLI could print them; nothing here draws.
Every function takes results already computed (``results_for``) so a page never computes.
"""

from __future__ import annotations

import numpy as np

from . import metrics, pipeline
from .config import ExperimentConfig
from .methods import REGISTRY
from .report import PAPER, comparison_row, default_options
from .results import Result

#: methods selected in the app unless the user changes it: every registered method
DEFAULT_METHODS = tuple(REGISTRY)


def results_for(config: ExperimentConfig, methods, samples: int, data_dir=None, progress=None) -> dict[str, Result]:
    """Cached results of ``methods`` plus the exact Hessian; ``progress(i, n, name)`` before each."""
    names = list(dict.fromkeys(["exact_hessian", *methods]))
    results = {}
    for i, name in enumerate(names):
        if progress is not None:
            progress(i, len(names), name)
        results[name] = pipeline.run(config, name, default_options(name, samples), data_dir=data_dir)
    return results


def label(name: str) -> str:
    return REGISTRY[name].label


def top_eigenvalue_rows(results: dict[str, Result], k: int = 10) -> list[dict]:
    """Eigenvalue vs rank for every method with top eigenvalues, with the per-rank error."""
    exact = results.get("exact_hessian")
    reference = exact.top_k(k) if exact is not None and exact.ok else np.array([])
    rows = []
    for name, result in results.items():
        if not result.ok or result.top is None:
            continue
        for rank, value in enumerate(result.top_k(k), start=1):
            error = abs(value - reference[rank - 1]) / abs(reference[rank - 1]) if rank <= len(reference) else None
            rows.append({"method": label(name), "rank": rank, "eigenvalue": float(value),
                         "relative_error": None if error is None else float(error),
                         "approximates": REGISTRY[name].matrix})
    return rows


def trace_rows(results: dict[str, Result]) -> list[dict]:
    """One row per method with a trace: value, relative error against the exact one, cost."""
    exact = results.get("exact_hessian")
    rows = []
    for name, result in results.items():
        if result.ok and result.trace is not None:
            error = metrics.trace_error(result, exact) if exact is not None and exact.ok else None
            rows.append({"method": label(name), "family": result.family, "approximates": result.matrix,
                         "trace": float(result.trace), "relative_error": error,
                         "matvecs": result.matvecs, "seconds": result.seconds})
    return rows


def spectrum_rows(results: dict[str, Result]) -> list[dict]:
    """All eigenvalues of every method that has a full spectrum (long form)."""
    rows = []
    for name, result in results.items():
        if result.ok and result.spectrum is not None:
            rows += [{"method": label(name), "eigenvalue": float(v)} for v in result.spectrum]
    return rows


def density_rows(results: dict[str, Result]) -> list[dict]:
    """Smoothed SLQ densities (grid, density) of the methods that estimate one."""
    rows = []
    for name, result in results.items():
        if result.ok and "density" in result.extras:
            rows += [{"method": label(name), "eigenvalue": float(x), "density": float(d)}
                     for x, d in zip(result.extras["grid"], result.extras["density"])]
    return rows


def cost_rows(results: dict[str, Result], k: int = 10) -> list[dict]:
    """Wall time, products and backward passes per method with its headline errors."""
    exact = results.get("exact_hessian")
    return [{**comparison_row(r, exact, k), "label": label(n)} for n, r in results.items()]


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
            row["relative_rmse"] = float(np.sqrt(row["std"] ** 2 + (row["mean"] - exact_trace) ** 2) / abs(exact_trace))
    return rows


def width_sweep(config: ExperimentConfig, widths, methods, samples: int, data_dir=None) -> list[dict]:
    """Cost and error of each method as the (single) hidden width grows; every point cached."""
    rows = []
    for width in widths:
        cfg = config.replace(hidden=(int(width),))
        results = results_for(cfg, methods, samples, data_dir)
        p = pipeline.num_params(cfg, data_dir)
        for row in cost_rows(results):
            rows.append({"width": int(width), "P": p, **row})
    return rows


def paper_claims(config: ExperimentConfig, results: dict[str, Result], samples: int, data_dir=None) -> list[dict]:
    """Each claim of the paper checked on this configuration: held / did not hold, with numbers."""
    exact = results.get("exact_hessian")
    claims = []

    def add(claim, held, evidence):
        claims.append({"claim": claim, "held": held, "evidence": evidence})

    if exact is None or not exact.ok:
        add("All claims need the exact Hessian", None, exact.error if exact is not None else "not computed")
        return claims
    power = results.get("pyhessian_top_k")
    if power is not None and power.ok:
        errors = metrics.top_k_errors(power, exact, 10)
        worst = float(np.nanmax(errors))
        add("PyHessian's top-10 eigenvalues equal the exact ones", worst < 1e-2,
            f"largest relative error over ranks 1-{len(errors)}: {worst:.1e} (power iteration, tol 1e-3; "
            "'equal' taken as below 1 %)")
    diagonal = [n for n in ("diag_hessian", "diag_ggn_exact", "diag_ggn_mc") if n in results and results[n].ok]
    if diagonal:
        errors = {label(n): metrics.trace_error(results[n], exact) for n in diagonal}
        exact_ones = [e for n, e in errors.items() if "MC" not in n]
        add("BackPACK's diagonal traces equal the exact trace", all(e < 1e-4 for e in exact_ones),
            "; ".join(f"{n}: {e:.1e}" for n, e in errors.items()) + " (relative error; MC is a sampled estimate)")
    kron = [n for n in ("kfac", "kflr", "kfra") if n in results and results[n].ok]
    if kron:
        errors = {label(n): metrics.trace_error(results[n], exact) for n in kron}
        add("Kronecker-factored traces differ from the exact trace", all(e > 1e-4 for e in errors.values()),
            "; ".join(f"{n}: {e:.1%}" for n, e in errors.items()))
    hutch = results.get("hutchinson")
    if hutch is not None and hutch.ok and "samples" in hutch.extras:
        running = metrics.running_means(hutch.extras["samples"])
        first = abs(running[min(len(running), PAPER["hutchinson_samples"]) - 1] - exact.trace) / abs(exact.trace)
        last = abs(running[-1] - exact.trace) / abs(exact.trace)
        add("Hutchinson's estimate approaches the exact trace as samples grow", last <= max(first, 0.05),
            f"relative error {first:.1%} after {min(len(running), 25)} samples, {last:.1%} after {len(running)}")
    try:
        blocks = pipeline.hessian_vs_ggn(config, data_dir)
    except Exception as refusal:  # over budget: say so instead of guessing
        add("ReLU: Hessian = GGN", None, str(refusal))
        return claims
    within = [b for b in blocks["blocks"] if b["within_layer"]]
    across = [b for b in blocks["blocks"] if not b["within_layer"]]
    held_within = all(b["agree"] for b in within)
    held_across = all(b["agree"] for b in across)
    add(f"'{config.activation}: Hessian = GGN' within each layer", held_within,
        "largest relative block difference within layers: "
        f"{max(b['relative_difference'] for b in within):.1e}")
    if across:
        add(f"'{config.activation}: Hessian = GGN' across layers", held_across,
            f"largest relative block difference across layers: {max(b['relative_difference'] for b in across):.2f}; "
            f"smallest eigenvalue of H {blocks['hessian_min_eigenvalue']:.3g} vs GGN {blocks['ggn_min_eigenvalue']:.1e}")
    return claims
