"""Row 12: the budget's honesty. Every method's cost estimate (what the guard checks before it
starts; for a method that spends the budget, its upper bound capped at the budget) against the
time it then took, on ten configurations of every shape the tool builds (MLPs of three widths and
two depths, tanh, MSE, a BatchNorm MLP, two CNNs, three classes). An estimate is honest when it
is not below the actual time (it is an upper bound) and not far above it.

``python -m benchmarks.honesty [--quick]`` runs this row alone and prints it.
"""

from __future__ import annotations

import json
import sys
import tempfile

import numpy as np

from core import pipeline, workspace
from core.budget import Budget
from core.config import ExperimentConfig
from core.methods import REGISTRY, DEFAULT_SAMPLES, estimate, get_spec, options_for

BASE = ExperimentConfig(dataset="digits", epochs=3, hessian_batch_size=500)
CONFIGS = [BASE.replace(hidden=(8,)), BASE.replace(hidden=(32,)), BASE.replace(hidden=(128,)),
           BASE.replace(hidden=(16, 16)), BASE.replace(hidden=(16,), activation="tanh"),
           BASE.replace(hidden=(16,), loss="mse"), BASE.replace(hidden=(16,), batch_norm=True),
           BASE.replace(architecture="cnn", hidden=(4,)), BASE.replace(architecture="cnn", hidden=(8, 8)),
           BASE.replace(hidden=(16,), num_classes=3, hessian_batch_size=300)]


def honesty_row(quick: bool) -> dict:
    configs = CONFIGS[:3] if quick else CONFIGS
    budget = Budget().max_seconds
    rows = []
    with tempfile.TemporaryDirectory() as store, workspace.using(cache_dir=store):
        for config in configs:
            size = pipeline.size(config)
            for name in REGISTRY:
                options = pipeline.validate(config, name, options_for(name, DEFAULT_SAMPLES))
                cost = estimate(name, options, size).seconds
                if getattr(get_spec(name).cost, "spends_budget", False):
                    cost = min(cost, budget)
                result = pipeline.run(config, name, options)
                if not result.ok:
                    rows.append({"config": config.label(), "method": name, "estimate_s": cost, "actual_s": None,
                                 "error": result.error.split(":")[0]})
                    continue
                rows.append({"config": config.label(), "method": name, "P": size.num_params, "estimate_s": cost,
                             "actual_s": result.seconds, "ratio": cost / max(result.seconds, 1e-9)})
    by_method = {}
    for name in REGISTRY:
        ratios = [r["ratio"] for r in rows if r["method"] == name and r.get("ratio")]
        if ratios:
            by_method[name] = {"min": float(np.min(ratios)), "median": float(np.median(ratios)),
                               "max": float(np.max(ratios)), "configurations": len(ratios),
                               "under": sum(1 for r in ratios if r < 1)}
    return {"rows": rows, "by_method": by_method, "configurations": len(configs)}


if __name__ == "__main__":
    from core import library_warnings

    library_warnings.quiet()
    report = honesty_row("--quick" in sys.argv)
    print(json.dumps(report["by_method"], indent=2))
    print(json.dumps([r for r in report["rows"] if r.get("ratio") is not None and r["ratio"] < 1], indent=1))
