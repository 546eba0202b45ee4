"""Tables built from cached results: the paper's table and the method comparison.

Plain dicts and lists (JSON as they stand); the CLI prints them, the app draws them.
"""

from __future__ import annotations

import numpy as np

from . import metrics, pipeline
from .config import ExperimentConfig
from .methods import REGISTRY, MethodError, get_spec, resolve_options

#: The numbers the paper reports (its Table; Fig. 3's exact trace is the same 22.40).
PAPER = {
    "exact": {"trace": 22.40, "seconds_trace": 10.18, "max_eigenvalue": 3.31, "seconds_all": 32.26},
    "pyhessian": {"trace": 19.98, "seconds_trace": 7.64, "max_eigenvalue": 3.29, "seconds_all": 20 * 3600.0},
    "hutchinson_samples": 25,
}

COMPARE_COLUMNS = ["method", "approximates", "top1", "top1_rel_error", "max_topk_rel_error",
                   "trace", "trace_rel_error", "w1_spectrum", "matvecs", "backward_passes", "seconds",
                   "peak_memory_mib"]


def format_cell(value, seconds: bool = False) -> str:
    """A table cell for people: 4 significant digits, hours for long times, a dash for n/a."""
    if value is None:
        return "—"
    if isinstance(value, float):
        if seconds and value >= 3600:
            return f"{value / 3600:.1f} h"
        return f"{value:.4g}"
    return str(value)


def formatted_rows(table: dict) -> list[list[str]]:
    """The paper table's rows as display strings (rows whose label has ``[s]`` are times)."""
    return [[row[0], *(format_cell(v, seconds="[s]" in row[0]) for v in row[1:])] for row in table["rows"]]


def default_options(method: str, hutchinson_samples: int | None = None) -> dict:
    """Options a user's sample count sets for a method (Hutch++'s budget rounded to 3s)."""
    if hutchinson_samples is None or "samples" not in get_spec(method).defaults:
        return {}
    if method == "hutchpp":
        return {"samples": max(3, 3 * round(hutchinson_samples / 3))}
    if method == "xtrace":
        return {"samples": max(2, 2 * round(hutchinson_samples / 2))}
    return {"samples": hutchinson_samples}


def info(config: ExperimentConfig, data_dir=None) -> dict:
    return pipeline.describe(config, data_dir)


def paper_table(config: ExperimentConfig, data_dir=None, hutchinson_samples: int = 25, top_k: int = 10,
                progress: bool = False) -> dict:
    """The paper's table on ``config``: exact Hessian vs PyHessian (power iteration + Hutchinson)."""
    steps = [("exact_hessian", {}), ("pyhessian_top_k", {"k": top_k}),
             ("pyhessian_hutchinson", {"samples": hutchinson_samples})]
    results = _run_all(config, steps, data_dir, progress)
    exact, power, hutch = (results[name] for name, _ in steps)
    p = pipeline.num_params(config, data_dir)

    def val(result, getter):
        return getter(result) if result.ok else None

    all_time_pyhessian = None
    if power.ok and power.top is not None:
        all_time_pyhessian = power.seconds / len(power.top) * p  # deflation, one eigenvalue at a time
    rows = [
        ["Tr(H)", val(exact, lambda r: r.trace), val(hutch, lambda r: r.trace), PAPER["exact"]["trace"], PAPER["pyhessian"]["trace"]],
        ["time for Tr(H) [s]", val(exact, lambda r: r.extras["seconds_trace"]), val(hutch, lambda r: r.seconds),
         PAPER["exact"]["seconds_trace"], PAPER["pyhessian"]["seconds_trace"]],
        ["maximum eigenvalue", val(exact, lambda r: r.top[0]), val(power, lambda r: r.top[0]),
         PAPER["exact"]["max_eigenvalue"], PAPER["pyhessian"]["max_eigenvalue"]],
        ["minimum eigenvalue", val(exact, lambda r: r.spectrum[0]), None, None, None],
        [f"time for top-{top_k} [s]", val(exact, lambda r: r.seconds), val(power, lambda r: r.seconds), None, None],
        ["time for all eigenvalues [s]", val(exact, lambda r: r.seconds), all_time_pyhessian,
         PAPER["exact"]["seconds_all"], PAPER["pyhessian"]["seconds_all"]],
        [f"max rel. error top-{top_k} vs exact", 0.0 if exact.ok else None,
         float(np.nanmax(metrics.top_k_errors(power, exact, top_k))) if exact.ok and power.ok else None, None, None],
    ]
    header = ["", "Full Hessian (ours)", f"PyHessian (ours, m={hutchinson_samples})",
              "Full Hessian (paper)", "PyHessian (paper, m=25)"]
    return {"info": info(config, data_dir), "header": header, "rows": rows,
            "errors": {n: r.error for n, r in results.items() if not r.ok},
            "notes": ["PyHessian's 'all eigenvalues' time is extrapolated: top-k time / k x P "
                      "(power iteration with deflation, one eigenvalue at a time)."],
            "results": {n: r.to_dict() for n, r in results.items()}}


def _run_all(config, steps, data_dir, progress) -> dict:
    from tqdm import tqdm

    results = {}
    for name, options in tqdm(steps, desc="methods", unit="method", disable=not progress, leave=False):
        results[name] = pipeline.run(config, name, options, data_dir=data_dir)
    return results


def comparison_row(result, exact, top_k: int = 10) -> dict:
    """One row of the comparison table for ``result`` against the ``exact`` Hessian result."""
    have_exact = exact is not None and exact.ok
    errors = metrics.top_k_errors(result, exact, top_k) if have_exact and result.ok else np.array([])
    return {
        "method": result.method,
        "label": REGISTRY[result.method].label,
        "approximates": REGISTRY[result.method].matrix,
        "top1": float(result.top[0]) if result.ok and result.top is not None and len(result.top) else None,
        "top1_rel_error": float(errors[0]) if len(errors) else None,
        "max_topk_rel_error": float(np.nanmax(errors)) if len(errors) else None,
        "trace": result.trace,
        "trace_rel_error": metrics.trace_error(result, exact) if have_exact and result.ok else None,
        "w1_spectrum": metrics.spectrum_distance(result, exact) if have_exact and result.ok else None,
        "matvecs": result.matvecs,
        "backward_passes": result.backward_passes,
        "seconds": result.seconds,
        "peak_memory_mib": None if result.peak_memory_bytes is None else result.peak_memory_bytes / 2**20,
        "error": result.error,
    }


def compare(config: ExperimentConfig, methods: list[str], options: dict | None = None, data_dir=None,
            top_k: int = 10, progress: bool = False) -> dict:
    """Run ``methods`` (plus the exact Hessian as reference) and compare each with it."""
    options = options or {}
    unknown = set(options) - set(methods)
    if unknown:
        raise MethodError(f"options given for {sorted(unknown)}, which are not among the methods {methods}")
    names = list(dict.fromkeys(["exact_hessian", *methods]))
    for name in names:  # every name and option checked before any work starts
        resolve_options(name, options.get(name))
    results = _run_all(config, [(m, options.get(m, {})) for m in names], data_dir, progress)
    exact = results["exact_hessian"]
    rows = [comparison_row(results[m], exact, top_k) for m in names if m in methods or m != "exact_hessian"]
    return {"info": info(config, data_dir), "top_k": top_k, "rows": rows,
            "results": {n: r.to_dict() for n, r in results.items()}}


def warm_extras(config: ExperimentConfig, data_dir=None, hutchinson_samples: int = 100) -> None:
    """Precompute what the app shows besides method results (block report, trace curves)."""
    try:
        pipeline.hessian_vs_ggn(config, data_dir)
    except Exception:  # over budget: the app shows the refusal, nothing to warm
        pass
    pipeline.trace_study(config, hutchinson_samples, 10, data_dir)
