"""Row 2: top-10 eigenvalues: Lanczos vs PyHessian power iteration (defaults and tol 1e-6)."""

from __future__ import annotations

import numpy as np

from core.methods import run_method

from .common import stats, top10_error

RUNS = {"lanczos": ("lanczos", {"k": 10, "bottom": False}),
        "pyhessian_default": ("pyhessian_top_k", {"k": 10}),
        "pyhessian_tol1e-6": ("pyhessian_top_k", {"k": 10, "tol": 1e-6, "max_iter": 1000})}


def top_k_row(problem, reference: np.ndarray, repeats: int) -> dict:
    rows = {key: [] for key in RUNS}
    for _ in range(repeats):
        for key, (method, opts) in RUNS.items():
            result = run_method(method, problem, opts)
            rows[key].append((result.seconds, result.matvecs, top10_error(result.top_k(10), reference)))
    out = {key: {"seconds": stats(v[0] for v in values), "matvecs": values[0][1],
                 "max_rel_error": max(v[2] for v in values)} for key, values in rows.items()}
    out["time_ratio_lanczos_to_pyhessian_default"] = stats(
        a[0] / b[0] for a, b in zip(rows["lanczos"], rows["pyhessian_default"]))
    return out
