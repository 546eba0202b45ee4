"""Row 10: the app's default methods on one configuration, serially and in 2 worker processes.

Cold (a fresh store, the network trained before the clock starts), as a first request to a
fresh server: the workers' start (import torch, load the data) is inside the parallel time.
The exact Hessian runs in the calling process in both (:mod:`core.parallel`).
"""

from __future__ import annotations

import tempfile
import time

from core import pipeline, workspace
from core.methods import DEFAULT_SAMPLES, DEFAULT_SELECTION


def parallel_row(config, data_dir) -> dict:
    row = {"methods": len(pipeline.selection(DEFAULT_SELECTION))}
    for label, workers in (("serial", 1), ("2 workers", 2)):
        with tempfile.TemporaryDirectory() as cache, workspace.using(data_dir=data_dir, cache_dir=cache):
            pipeline.train(config)
            start = time.perf_counter()
            found = pipeline.results_for(config, list(DEFAULT_SELECTION), DEFAULT_SAMPLES, workers=workers)
            row[label] = time.perf_counter() - start
            row[f"{label} ok"] = sum(r.ok for r in found.values())
    row["ratio"] = row["2 workers"] / row["serial"]
    return row
