"""Row 13: what directions cost. Each method's eigenvectors beside its values, measured on one
problem in one process (time, and the vectors' memory: k x P float32), and the Loss landscape
page's cold computation against its estimate, on the app's MNIST default (``--quick``: digits).

* exact: ``eigvalsh`` of the dense H against one tridiagonalisation with the top and bottom 10
  eigenvectors (:func:`core.curvature.dense.eigen_ends`), on the same matrix;
* Kronecker (KFLR): the factors' ``eigvalsh`` against their ``eigh`` and the top-10 products;
* EKFAC: its spectrum against its top-10 eigenvectors by Lanczos on its operator;
* Lanczos and PyHessian: their vectors are the Ritz vectors and iterates they have anyway.

``python -m benchmarks.directions [--quick]`` runs this row alone and prints it.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time

import torch

from core import landscape, pipeline, workspace
from core.config import ExperimentConfig
from core.results import KEPT_VECTORS

QUICK = ExperimentConfig(dataset="digits", hidden=(8,), hessian_batch_size=300, epochs=3)


def _timed(function, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def directions_row(quick: bool, data_dir=None) -> dict:
    from core.curvature import dense
    from core.methods import backpack_methods

    config = QUICK if quick else ExperimentConfig()
    with tempfile.TemporaryDirectory() as store, workspace.using(data_dir=data_dir, cache_dir=store):
        problem = pipeline.build_problem(config)
        p = problem.num_params
        matrix = dense.dense_matrix(problem, "hessian")
        row = {"config": config.label(), "P": p, "vectors_mib": 2 * KEPT_VECTORS * p * 4 / 2**20}
        repeats = 1 if quick else 2
        row["exact"] = {"values_s": _timed(lambda: dense.eigenvalues(matrix), repeats),
                        "values_and_vectors_s": _timed(lambda: dense.eigen_ends(matrix, KEPT_VECTORS), repeats)}
        factors = backpack_methods.backpack_quantities(problem, "KFLR")
        row["kflr"] = {"values_s": _timed(lambda: backpack_methods.kronecker_spectrum(factors)),
                       "values_and_vectors_s": _timed(lambda: backpack_methods.kronecker_spectrum(
                           factors, vectors=KEPT_VECTORS))}
        start = time.perf_counter()
        ekfac = pipeline.run(config, "ekfac")
        row["ekfac"] = {"with_vectors_s": time.perf_counter() - start, "ok": ekfac.ok}
        pipeline.run(config, "exact_hessian")  # the landscape's eigenvectors, cached first
        cost = landscape.check(config)
        start = time.perf_counter()
        found = landscape.landscape(config)
        row["landscape"] = {"estimate_s": cost.seconds, "actual_s": time.perf_counter() - start,
                            "passes": landscape.passes(41, 21),
                            "radii": {line["direction"]: line["radius"] for line in found["lines"]}}
    for name in ("exact", "kflr"):
        row[name]["ratio"] = row[name]["values_and_vectors_s"] / max(row[name]["values_s"], 1e-9)
    return row


if __name__ == "__main__":
    print(json.dumps(directions_row("--quick" in sys.argv[1:]), indent=2))
