"""Benchmarks: side-by-side ratios measured in one process run (``python -m core bench``).

Competitors are interleaved within each repeat so machine noise hits both; every row reports
min/median/max over repeats. Timed tests are not used anywhere: these machines are noisy.

Rows (full mode; ``--quick`` runs each on a small problem to prove it still runs):

1. exact full spectrum, MNIST 28x28 width 8 batch 1,000: ours (batched R-op products,
   float32 eigvalsh) vs the paper's way (one ``autograd.grad`` per gradient entry, float64
   eigvalsh) vs the bare float32 eigvalsh floor of the same matrix; top-10 agreement, peak RSS.
2. top-10: Lanczos vs PyHessian power iteration at its defaults: products, time, max error.
3. trace: Hutchinson throughput (batched) vs PyHessian's ``trace()`` at the same sample count;
   RMSE of Hutchinson, Hutch++ and XTrace at equal products over 20 repeats.
"""

from __future__ import annotations

import json
import platform
import resource
import statistics
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

from . import exact, pipeline
from .config import ExperimentConfig
from .methods import run_method
from .methods.matrix_free import hutchinson_samples

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _timed(func):
    start = time.perf_counter()
    value = func()
    return time.perf_counter() - start, value


def _stats(values):
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def _peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def exact_row(problem, repeats: int) -> dict:
    ours, paper, floor, errors = [], [], [], []
    for _ in range(repeats):
        t_ours, ours_values = _timed(lambda: exact.eigenvalues(exact.dense_matrix(problem)))
        t_build, hessian = _timed(lambda: exact.dense_matrix(problem))
        t_floor, _ = _timed(lambda: torch.linalg.eigvalsh(hessian))
        del hessian
        t_paper, paper_values = _timed(
            lambda: torch.linalg.eigvalsh(exact.hessian_rowwise(problem).double()).numpy())
        ours.append(t_ours), paper.append(t_paper), floor.append(t_floor)
        top_ours, top_paper = ours_values[::-1][:10], paper_values[::-1][:10]
        errors.append(float(np.max(np.abs(top_ours - top_paper) / np.abs(top_paper))))
    return {"P": problem.num_params, "N": problem.batch_size,
            "ours_s": _stats(ours), "paper_s": _stats(paper), "eigh_floor_s": _stats(floor),
            "speedup_vs_paper": _stats([p / o for p, o in zip(paper, ours)]),
            "ratio_to_floor": _stats([o / f for o, f in zip(ours, floor)]),
            "top10_max_rel_error_vs_paper": max(errors), "peak_rss_gib": _peak_rss_gib(),
            "targets": {"speedup_vs_paper": ">= 2.5", "ratio_to_floor": "<= 1.5", "top10": "<= 1e-5"}}


def top_k_row(problem, reference: np.ndarray, repeats: int) -> dict:
    rows = {"lanczos": [], "pyhessian_default": [], "pyhessian_tol1e-6": []}
    runs = {"lanczos": ("lanczos", {"k": 10, "bottom": False}),
            "pyhessian_default": ("pyhessian_top_k", {"k": 10}),
            "pyhessian_tol1e-6": ("pyhessian_top_k", {"k": 10, "tol": 1e-6, "max_iter": 1000})}
    for _ in range(repeats):
        for key, (method, opts) in runs.items():
            result = run_method(method, problem, opts)
            err = float(np.max(np.abs(result.top_k(10) - reference[:10]) / np.abs(reference[:10])))
            rows[key].append({"seconds": result.seconds, "matvecs": result.matvecs, "max_rel_error": err})
    out = {}
    for key, values in rows.items():
        out[key] = {"seconds": _stats([v["seconds"] for v in values]),
                    "matvecs": values[0]["matvecs"], "max_rel_error": max(v["max_rel_error"] for v in values)}
    out["time_ratio_lanczos_to_pyhessian_default"] = (
        out["lanczos"]["seconds"]["median"] / out["pyhessian_default"]["seconds"]["median"])
    out["targets"] = {"lanczos_max_rel_error": "<= 1e-6", "time_ratio": "<= 1"}
    return out


def trace_row(problem, exact_trace: float, samples: int, repeats: int, rmse_repeats: int) -> dict:
    ours, theirs = [], []
    for seed in range(repeats):
        t_ours, _ = _timed(lambda: hutchinson_samples(problem, samples, seed))
        t_theirs, _ = _timed(lambda: run_method("pyhessian_hutchinson", problem, {"samples": samples, "seed": seed}))
        ours.append(samples / t_ours), theirs.append(samples / t_theirs)
    budget = samples - samples % 6
    estimates = {"hutchinson": [], "hutchpp": [], "xtrace": []}
    for seed in range(rmse_repeats):
        estimates["hutchinson"].append(hutchinson_samples(problem, budget, 1000 + seed).mean())
        for method in ("hutchpp", "xtrace"):
            estimates[method].append(run_method(method, problem, {"samples": budget, "seed": seed}).trace)
    rmse = {k: float(np.sqrt(np.mean((np.array(v) - exact_trace) ** 2))) for k, v in estimates.items()}
    return {"samples": samples, "ours_samples_per_s": _stats(ours), "pyhessian_samples_per_s": _stats(theirs),
            "throughput_ratio": _stats([o / t for o, t in zip(ours, theirs)]),
            "equal_matvecs": budget, "rmse_over_repeats": rmse_repeats, "rmse": rmse,
            "relative_rmse": {k: v / abs(exact_trace) for k, v in rmse.items()},
            "targets": {"throughput_ratio": ">= 2"}}


def main(quick: bool = False, out: str | None = None, data_dir=None, repeats: int | None = None) -> int:
    torch.manual_seed(0)
    repeats = repeats or (1 if quick else 3)
    data_dir = data_dir or (SHARED_DATA if SHARED_DATA.exists() else None)
    if quick:
        config = ExperimentConfig(dataset="digits", hidden=(8,), hessian_batch_size=300, epochs=3)
    else:
        config = ExperimentConfig(dataset="mnist", input_size=28, hidden=(8,), hessian_batch_size=1000,
                                  train_subset=8000, epochs=5)
    trained = pipeline.train(config, data_dir)
    problem = pipeline.build_problem(config, data_dir)
    report = {"date": date.today().isoformat(), "machine": platform.machine(), "cpu_count": torch.get_num_threads(),
              "processor": platform.processor() or platform.machine(), "torch": torch.__version__,
              "mode": "quick" if quick else "full", "repeats": repeats,
              "config": config.label(), "dataset_used": trained.dataset_used, "P": problem.num_params}
    print(f"benchmark ({report['mode']}): {config.label()}, dataset used {trained.dataset_used}, "
          f"P = {problem.num_params:,}, {report['cpu_count']} threads", flush=True)

    report["exact"] = exact_row(problem, repeats)
    print(json.dumps(report["exact"], indent=1), flush=True)
    reference = exact.eigenvalues(exact.dense_matrix(problem, dtype=torch.float64))
    exact_trace = float(reference.sum())
    report["top_k"] = top_k_row(problem, reference[::-1], repeats)
    print(json.dumps(report["top_k"], indent=1), flush=True)
    report["trace"] = trace_row(problem, exact_trace, 25 if quick else 100, repeats, 5 if quick else 20)
    print(json.dumps(report["trace"], indent=1), flush=True)
    path = Path(out or f"bench-{report['mode']}.json")
    path.write_text(json.dumps(report, indent=2))
    print(f"wrote {path}\n")
    print(markdown_table(report))
    return 0


def markdown_table(report: dict) -> str:
    """The README's benchmark table from a report (medians, with min-max in brackets)."""
    def span(s, fmt="{:.2f}"):
        return f"{fmt.format(s['median'])} ({fmt.format(s['min'])}-{fmt.format(s['max'])})"

    e, k, t = report["exact"], report["top_k"], report["trace"]
    rows = [
        ("exact spectrum: ours vs paper's way (speed-up)", span(e["speedup_vs_paper"]) + "x", ">= 2.5x"),
        ("exact spectrum: ours / float32 eigvalsh floor", span(e["ratio_to_floor"]) + "x", "<= 1.5x"),
        ("exact spectrum: ours, paper's way, floor [s]",
         f"{e['ours_s']['median']:.1f}, {e['paper_s']['median']:.1f}, {e['eigh_floor_s']['median']:.1f}", ""),
        ("exact top-10 max rel. error vs paper's way", f"{e['top10_max_rel_error_vs_paper']:.1e}", "<= 1e-5"),
        ("peak memory of the process [GiB]", f"{e['peak_rss_gib']:.2f}", ""),
        ("top-10 Lanczos: max rel. error / HVPs", f"{k['lanczos']['max_rel_error']:.1e} / {k['lanczos']['matvecs']}", "<= 1e-6"),
        ("top-10 PyHessian default: max rel. error / HVPs",
         f"{k['pyhessian_default']['max_rel_error']:.1e} / {k['pyhessian_default']['matvecs']}", ""),
        ("top-10 PyHessian tol 1e-6: max rel. error / HVPs",
         f"{k['pyhessian_tol1e-6']['max_rel_error']:.1e} / {k['pyhessian_tol1e-6']['matvecs']}", ""),
        ("top-10 time, Lanczos / PyHessian default", f"{k['time_ratio_lanczos_to_pyhessian_default']:.2f}x", "<= 1x"),
        ("Hutchinson throughput, ours / PyHessian trace()", span(t["throughput_ratio"]) + "x", ">= 2x"),
        (f"trace rel. RMSE at {t['equal_matvecs']} HVPs, {t['rmse_over_repeats']} repeats: "
         "Hutchinson / Hutch++ / XTrace",
         " / ".join(f"{t['relative_rmse'][m]:.2%}" for m in ("hutchinson", "hutchpp", "xtrace")), ""),
    ]
    head = (f"{report['date']}, {report['processor']}, {report['cpu_count']} threads, torch {report['torch']}, "
            f"{report['config']} (dataset used: {report['dataset_used']}, P = {report['P']:,}), "
            f"{report['repeats']} repeats; median (min-max)\n\n")
    lines = ["| row | measured | target |", "|---|---|---|"] + [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return head + "\n".join(lines)
