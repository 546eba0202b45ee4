"""Row 6: time and peak memory of the exact pipeline against P (each point in a fresh
process), the fitted exponent, and the largest P the default budget admits."""

from __future__ import annotations

import multiprocessing
import tempfile

import numpy as np

from core import pipeline, workspace
from core.budget import Budget, estimate_dense, largest_admitted
from core.config import ExperimentConfig
from core.curvature import dense
from core.memory import process_peak_gib

from .common import timed


def _point(args):
    config_dict, data_dir = args
    config = ExperimentConfig.from_dict(config_dict)
    with tempfile.TemporaryDirectory() as store, workspace.using(data_dir=data_dir, cache_dir=store):
        problem = pipeline.build_problem(config)
        seconds, _ = timed(lambda: dense.spectrum(problem))
    return problem.num_params, seconds, process_peak_gib()


def scaling_row(config: ExperimentConfig, widths, data_dir) -> dict:
    context = multiprocessing.get_context("spawn")
    points = []
    for width in widths:
        with context.Pool(1) as pool:
            p, seconds, gib = pool.apply(_point, ((config.replace(hidden=(width,)).to_dict(), data_dir),))
        points.append({"width": width, "P": p, "seconds": seconds, "peak_rss_gib": gib})
    ps, ts = np.log([pt["P"] for pt in points]), np.log([pt["seconds"] for pt in points])
    exponent = float(np.polyfit(ps, ts, 1)[0]) if len(points) > 1 else None
    return {"points": points, "time_exponent": exponent,
            "largest_p_default_budget": largest_admitted(estimate_dense, pipeline.size(config), Budget())}
