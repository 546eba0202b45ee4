"""Row 2: top-10 eigenvalues: Lanczos vs PyHessian power iteration (defaults and tol 1e-6)."""

from __future__ import annotations

import numpy as np

from core.methods import compute_result

from .common import stats, top10_error

RUNS = {"lanczos": ("lanczos", {"k": 10, "bottom": False}),
        "pyhessian_default": ("pyhessian_top_k", {"k": 10}),
        "pyhessian_tol1e-6": ("pyhessian_top_k", {"k": 10, "tol": 1e-6, "max_iter": 1000})}


def top_k_row(problem, reference: np.ndarray, repeats: int) -> dict:
    rows = {key: [] for key in RUNS}
    for _ in range(repeats):
        for key, (method, opts) in RUNS.items():
            result = compute_result(method, problem, opts)
            rows[key].append((result.seconds, result.matvecs, top10_error(result.top_k(10), reference)))
    out = {key: {"seconds": stats(v[0] for v in values), "matvecs": values[0][1],
                 "max_rel_error": max(v[2] for v in values)} for key, values in rows.items()}
    out["time_ratio_lanczos_to_pyhessian_default"] = stats(
        a[0] / b[0] for a, b in zip(rows["lanczos"], rows["pyhessian_default"]))
    return out


def lanczos_vs_exact_row(problem, repeats: int) -> dict:
    """What the app runs by default: Lanczos top and bottom 10 (registry defaults) against the
    exact pipeline (``exact_hessian``), both scored against a float64 dense reference:
    top-10 relative error, bottom-10 error relative to the largest |eigenvalue|."""
    import torch

    from core.curvature import dense

    reference = dense.eigenvalues(dense.dense_matrix(problem, dtype=torch.float64))
    top, bottom, scale = reference[::-1][:10], reference[:10], float(abs(reference).max())
    runs = {"lanczos": [], "exact": []}
    for _ in range(repeats):
        for key, method in (("lanczos", "lanczos"), ("exact", "exact_hessian")):
            r = compute_result(method, problem)
            bottom_found = r.bottom[:10] if r.bottom is not None else None
            runs[key].append((r.seconds, r.matvecs, float(np.max(np.abs(r.top_k(10) - top) / np.abs(top))),
                              float(np.max(np.abs(bottom_found - bottom)) / scale)))
    return {key: {"seconds": stats(v[0] for v in values), "matvecs": values[0][1],
                  "top10_max_rel_error": max(v[2] for v in values),
                  "bottom10_max_error_over_max_abs": max(v[3] for v in values)} for key, values in runs.items()} | {
        "time_ratio_lanczos_to_exact": stats(a[0] / b[0] for a, b in zip(runs["lanczos"], runs["exact"]))}
