"""Row 12: the budget's honesty. Every method's cost estimate (what the guard checks before it
starts; for a method that spends the budget, its upper bound capped at the budget) against the
time it then took, on ten configurations of every shape the tool builds (MLPs of three widths and
two depths, tanh, MSE, a BatchNorm MLP, two CNNs, three classes), and the exact methods on the
MNIST default at widths 8 and 16 (P = 6,370 and 12,730, where the dense solve dominates and the
known null space of MNIST's blank border pixels makes it P' = 4,922 and 9,834 rows) when the real
MNIST files are at hand. An estimate is honest when it is not below the actual time (it is an
upper bound) and not far above it.

``python -m benchmarks.honesty [--quick] [--data-dir D]`` runs this row alone and prints it.
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


#: the exact methods at the sizes where their dense solve dominates (MNIST default, widths 8 and 16)
MNIST_EXACT = [ExperimentConfig(hidden=(8,)), ExperimentConfig(hidden=(16,))]
EXACT_METHODS = ("exact_hessian", "exact_ggn")


def honesty_row(quick: bool, data_dir=None) -> dict:
    configs = [(config, list(REGISTRY)) for config in (CONFIGS[:3] if quick else CONFIGS)]
    if data_dir is not None and not quick:
        configs += [(config, list(EXACT_METHODS)) for config in MNIST_EXACT]
    budget = Budget().max_seconds
    rows = []
    with tempfile.TemporaryDirectory() as store, workspace.using(data_dir=data_dir, cache_dir=store):
        for config, names in configs:
            size = pipeline.size(config)
            for name in names:
                options = pipeline.validate(config, name, options_for(name, DEFAULT_SAMPLES))
                cost = estimate(name, options, size).seconds
                if getattr(get_spec(name).cost, "spends_budget", False):
                    cost = min(cost, budget)
                result = pipeline.run(config, name, options)
                if not result.ok:
                    rows.append({"config": config.label(), "method": name, "estimate_s": cost, "actual_s": None,
                                 "error": result.error.split(":")[0]})
                    continue
                rows.append({"config": config.label(), "method": name, "P": size.num_params,
                             "P_solved": size.solved_params, "estimate_s": cost,
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
    data = sys.argv[sys.argv.index("--data-dir") + 1] if "--data-dir" in sys.argv else None
    report = honesty_row("--quick" in sys.argv, data)
    print(json.dumps(report["by_method"], indent=2))
    print("under their time:", json.dumps([r for r in report["rows"] if r.get("ratio") is not None and r["ratio"] < 1],
                                         indent=1))
    print("with a known null space:", json.dumps([r for r in report["rows"] if r.get("P_solved", 0) < r.get("P", 0)],
                                                indent=1))
