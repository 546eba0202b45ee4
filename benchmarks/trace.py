"""Row 3: trace: Hutchinson throughput vs PyHessian's ``trace()``; RMSE of Hutchinson, Hutch++
and XTrace at equal products over repeats."""

from __future__ import annotations

import numpy as np

from core.methods import compute_result
from core.methods.matrix_free import hutchinson_samples

from .common import stats, timed


def trace_row(problem, exact_trace: float, samples: int, repeats: int, rmse_repeats: int) -> dict:
    ours, theirs = [], []
    for seed in range(repeats):
        t_ours, _ = timed(lambda: hutchinson_samples(problem, samples, seed))
        t_theirs, _ = timed(lambda: compute_result("pyhessian_hutchinson", problem, {"samples": samples, "seed": seed}))
        ours.append(samples / t_ours), theirs.append(samples / t_theirs)
    budget = samples - samples % 6  # a multiple of Hutch++'s 3 and XTrace's 2
    estimates = {"hutchinson": [], "hutchpp": [], "xtrace": []}
    for seed in range(rmse_repeats):
        estimates["hutchinson"].append(hutchinson_samples(problem, budget, 1000 + seed).mean())
        for method in ("hutchpp", "xtrace"):
            estimates[method].append(compute_result(method, problem, {"samples": budget, "seed": seed}).trace)
    rmse = {k: float(np.sqrt(np.mean((np.array(v) - exact_trace) ** 2))) for k, v in estimates.items()}
    return {"samples": samples, "ours_samples_per_s": stats(ours), "pyhessian_samples_per_s": stats(theirs),
            "throughput_ratio": stats(o / t for o, t in zip(ours, theirs)),
            "equal_matvecs": budget, "rmse_over_repeats": rmse_repeats,
            "relative_rmse": {k: v / abs(exact_trace) for k, v in rmse.items()}}
