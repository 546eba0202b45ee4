"""Benchmark suite: side-by-side ratios measured in one process run (``python -m core bench``).

Competitors are interleaved within each repeat so machine noise hits both alike; every timed
row reports min/median/max over repeats. No timed tests exist anywhere: these machines are
noisy, so speed is judged here, by ratios measured together.

Rows (full mode: MNIST 28x28 from ``../shared/data``'s test split, N = 1,000; ``--quick``: the
same rows on small digits problems, to prove in CI that every row still produces a number):

1. exact full spectrum: ours (batched R-op products, exact zero eigenvalues of inputs constant
   over the batch removed before the solve (:mod:`core.reduction`), float32 eigvalsh) vs the paper's way
   (one ``autograd.grad`` per gradient entry + float64 eigvalsh) vs
   ``torch.autograd.functional.hessian`` (+ float64 eigvalsh), and ours vs the bare float32
   eigvalsh of the full P x P matrix (the floor of any method that solves it whole);
   top-10 agreement; widths 4, 8, 16.
2. top-10: Lanczos vs PyHessian power iteration at its defaults and at tol 1e-6.
3. trace: Hutchinson throughput vs PyHessian's ``trace()``; RMSE of Hutchinson, Hutch++ and
   XTrace at equal products over 20 repeats.
4. BackPACK extensions: time as a multiple of one plain backward pass.
5. cache and app: time to serve a cached result; warm-cache render time of each page
   (AppTest); cold default analysis (train + every default method, empty cache).
6. scaling: time and peak memory of the exact pipeline against P, fitted exponent, and the
   largest P the default budget admits.
"""

from __future__ import annotations

import copy
import json
import os
import multiprocessing
import platform
import resource
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import cache, exact, pipeline
from .budget import Budget, largest_admitted_params
from .config import ExperimentConfig
from .methods import run_method
from .methods.matrix_free import hutchinson_samples

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
README_START, README_END = "<!-- bench:start -->", "<!-- bench:end -->"


def _timed(func):
    start = time.perf_counter()
    value = func()
    return time.perf_counter() - start, value


def _stats(values) -> dict:
    values = list(values)
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def _top10_error(values: np.ndarray, reference: np.ndarray) -> float:
    top, ref = np.sort(values)[::-1][:10], np.sort(reference)[::-1][:10]
    return float(np.max(np.abs(top - ref) / np.abs(ref)))


# ----------------------------------------------------------------------------- row 1
def _functional_hessian(problem) -> torch.Tensor:
    return torch.autograd.functional.hessian(problem.loss_at, problem.flat_params())


def exact_row(problem, repeats: int, competitors: bool = True) -> dict:
    """Ours vs the paper's way vs autograd.functional.hessian vs the eigvalsh floor."""
    times = {"ours": [], "paper": [], "functional": [], "floor": []}
    errors = []
    for _ in range(repeats):
        t, found = _timed(lambda: exact.spectrum(problem))
        ours = found["eigenvalues"]
        times["ours"].append(t)
        hessian = exact.dense_matrix(problem)
        times["floor"].append(_timed(lambda: torch.linalg.eigvalsh(hessian))[0])
        del hessian
        if competitors:
            t, paper = _timed(lambda: torch.linalg.eigvalsh(exact.hessian_rowwise(problem).double()).numpy())
            times["paper"].append(t)
            times["functional"].append(
                _timed(lambda: torch.linalg.eigvalsh(_functional_hessian(problem).double()))[0])
            errors.append(_top10_error(ours, paper))
    row = {"P": problem.num_params, "N": problem.batch_size, "repeats": repeats,
           "exact_zero_eigenvalues_removed": found["null_dimension"],
           "seconds": {k: _stats(v) for k, v in times.items() if v},
           "ratio_to_floor": _stats(o / f for o, f in zip(times["ours"], times["floor"]))}
    if competitors:
        row["speedup_vs_paper"] = _stats(p / o for p, o in zip(times["paper"], times["ours"]))
        row["speedup_vs_functional"] = _stats(p / o for p, o in zip(times["functional"], times["ours"]))
        row["top10_max_rel_error_vs_paper"] = max(errors)
    return row


# ----------------------------------------------------------------------------- row 2
def top_k_row(problem, reference: np.ndarray, repeats: int) -> dict:
    runs = {"lanczos": ("lanczos", {"k": 10, "bottom": False}),
            "pyhessian_default": ("pyhessian_top_k", {"k": 10}),
            "pyhessian_tol1e-6": ("pyhessian_top_k", {"k": 10, "tol": 1e-6, "max_iter": 1000})}
    rows = {key: [] for key in runs}
    for _ in range(repeats):
        for key, (method, opts) in runs.items():
            result = run_method(method, problem, opts)
            rows[key].append((result.seconds, result.matvecs, _top10_error(result.top_k(10), reference)))
    out = {key: {"seconds": _stats(v[0] for v in values), "matvecs": values[0][1],
                 "max_rel_error": max(v[2] for v in values)} for key, values in rows.items()}
    out["time_ratio_lanczos_to_pyhessian_default"] = _stats(
        a[0] / b[0] for a, b in zip(rows["lanczos"], rows["pyhessian_default"]))
    return out


# ----------------------------------------------------------------------------- row 3
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
            "throughput_ratio": _stats(o / t for o, t in zip(ours, theirs)),
            "equal_matvecs": budget, "rmse_over_repeats": rmse_repeats,
            "relative_rmse": {k: v / abs(exact_trace) for k, v in rmse.items()}}


# ----------------------------------------------------------------------------- row 4
def backpack_row(problem, repeats: int) -> dict:
    """Each extension's backward pass as a multiple of a plain backward pass (interleaved)."""
    import backpack
    from backpack import extensions

    model = backpack.extend(copy.deepcopy(problem.model))
    loss_function = backpack.extend(nn.CrossEntropyLoss())
    kinds = {"DiagHessian": {}, "DiagGGNExact": {}, "DiagGGNMC": {}, "KFAC": {}, "KFLR": {}, "KFRA": {}}
    ratios = {k: [] for k in kinds}

    def plain():
        model.zero_grad()
        loss_function(model(problem.x), problem.y).backward()

    def with_extension(name):
        model.zero_grad()
        with backpack.backpack(getattr(extensions, name)()):
            loss_function(model(problem.x), problem.y).backward()

    plain()  # warm-up
    for _ in range(max(repeats, 3)):
        for name in kinds:
            base = min(_timed(plain)[0] for _ in range(3))
            ratios[name].append(_timed(lambda: with_extension(name))[0] / base)
    return {name: _stats(v) for name, v in ratios.items()}


# ----------------------------------------------------------------------------- row 5
def cache_and_app_row(config: ExperimentConfig, data_dir, quick: bool) -> dict:
    """Cached-result latency, warm page renders (AppTest), cold default analysis (empty cache).

    ``data_dir`` is exported as ``$HESSIAN_DATA_DIR`` for the duration so the pages (which know
    no data directory) see the same data as the analysis.
    """
    from .data import DATA_DIR_ENV

    previous = os.environ.get(DATA_DIR_ENV)
    if data_dir is not None:
        os.environ[DATA_DIR_ENV] = str(data_dir)
    try:
        return _cache_and_app_row(config, quick)
    finally:
        if previous is None:
            os.environ.pop(DATA_DIR_ENV, None)
        else:
            os.environ[DATA_DIR_ENV] = previous


def _cache_and_app_row(config: ExperimentConfig, quick: bool) -> dict:
    from streamlit.logger import set_log_level
    from streamlit.testing.v1 import AppTest

    set_log_level("error")  # AppTest runs pages without a browser session; its warnings are noise

    from .figures import DEFAULT_METHODS, results_for

    with tempfile.TemporaryDirectory() as store:
        cache.set_cache_dir(store)
        try:
            samples = 100
            cold, _ = _timed(lambda: results_for(config, DEFAULT_METHODS, samples))
            served = [_timed(lambda: pipeline.run(config, "exact_hessian"))[0] for _ in range(5)]
            used = pipeline.describe(config)
            state = {"cfg_dataset": config.dataset, "cfg_hidden": ",".join(map(str, config.hidden)),
                     "cfg_hessian_batch_size": config.hessian_batch_size, "cfg_epochs": config.epochs,
                     "cfg_samples": samples}
            pages = {}
            for page in ["Home.py", *sorted(p.name for p in (ROOT / "app" / "pages").glob("*.py"))]:
                path = ROOT / "app" / (page if page == "Home.py" else f"pages/{page}")

                def render():
                    at = AppTest.from_file(str(path), default_timeout=600)
                    for key, value in state.items():
                        at.session_state[key] = value
                    at.run()
                    if at.exception:
                        raise RuntimeError(f"{page}: {at.exception}")

                render()  # first render warms what the page adds (trace study, width sweep)
                pages[page.removesuffix(".py")] = _stats(_timed(render)[0] for _ in range(2 if quick else 3))
        finally:
            cache.set_cache_dir(None)
    return {"cold_default_analysis_s": cold, "cached_result_s": _stats(served), "warm_page_render_s": pages,
            "config": f"{config.label()}, dataset used {used['dataset_used']}, P = {used['num_params']:,}"}


# ----------------------------------------------------------------------------- row 6
def _scaling_point(args):
    config_dict, data_dir = args
    config = ExperimentConfig.from_dict(config_dict)
    with tempfile.TemporaryDirectory() as store:
        cache.set_cache_dir(store)
        problem = pipeline.build_problem(config, data_dir)
        seconds, _ = _timed(lambda: exact.spectrum(problem))
    return problem.num_params, seconds, _peak_rss_gib()


def _peak_rss_gib() -> float:
    """This process's peak resident memory (VmHWM; ru_maxrss would carry the parent's over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def scaling_row(config: ExperimentConfig, widths, data_dir) -> dict:
    """Exact pipeline time and peak memory (each point in a fresh process) against P."""
    context = multiprocessing.get_context("spawn")
    points = []
    for width in widths:
        with context.Pool(1) as pool:
            p, seconds, gib = pool.apply(_scaling_point, ((config.replace(hidden=(width,)).to_dict(), data_dir),))
        points.append({"width": width, "P": p, "seconds": seconds, "peak_rss_gib": gib})
    ps, ts = np.log([pt["P"] for pt in points]), np.log([pt["seconds"] for pt in points])
    exponent = float(np.polyfit(ps, ts, 1)[0]) if len(points) > 1 else None
    return {"points": points, "time_exponent": exponent,
            "largest_p_default_budget": largest_admitted_params(config.hessian_batch_size, Budget())}


# ----------------------------------------------------------------------------- driver
def main(quick: bool = False, out: str | None = None, data_dir=None, repeats: int | None = None,
         update_readme: bool = False) -> int:
    torch.manual_seed(0)
    repeats = repeats or (1 if quick else 3)
    data_dir = data_dir or (SHARED_DATA if SHARED_DATA.exists() else None)
    if quick:
        base = ExperimentConfig(dataset="digits", hidden=(8,), hessian_batch_size=300, epochs=3)
        widths, sweep = (4, 8), (4, 8)
    else:
        base = ExperimentConfig(dataset="mnist", input_size=28, hidden=(8,), hessian_batch_size=1000,
                                train_subset=8000, epochs=5)
        widths, sweep = (4, 8, 16), (2, 4, 8, 16)
    problem = pipeline.build_problem(base, data_dir)
    trained = pipeline.train(base, data_dir)
    report = {"main_width": str(base.hidden[0]), "date": date.today().isoformat(), "machine": platform.machine(), "threads": torch.get_num_threads(),
              "cpu_count": os.cpu_count(),
              "torch": torch.__version__, "mode": "quick" if quick else "full", "repeats": repeats,
              "config": base.label(), "dataset_used": trained.dataset_used, "P": problem.num_params}
    say = lambda name: print(f"[{time.strftime('%H:%M:%S')}] {name}", flush=True)
    print(f"benchmark ({report['mode']}): {base.label()}, dataset used {trained.dataset_used}, "
          f"P = {problem.num_params:,}, {report['threads']} threads", flush=True)

    say("1. exact spectrum")
    report["exact"] = {}
    for width in widths:
        p = pipeline.build_problem(base.replace(hidden=(width,)), data_dir)
        report["exact"][str(width)] = exact_row(p, repeats if width == base.hidden[0] else 1)
    say("2. top-10")
    reference = exact.eigenvalues(exact.dense_matrix(problem, dtype=torch.float64))
    report["top_k"] = top_k_row(problem, reference, repeats)
    say("3. trace")
    report["trace"] = trace_row(problem, float(reference.sum()), 25 if quick else 100, repeats, 5 if quick else 20)
    say("4. BackPACK")
    report["backpack"] = backpack_row(problem, repeats)
    say("5. cache and app")
    app_config = ExperimentConfig(dataset="digits", hidden=(4,), hessian_batch_size=200, epochs=3) if quick \
        else ExperimentConfig()
    report["cache_app"] = cache_and_app_row(app_config, None if quick else data_dir, quick)
    say("6. scaling")
    report["scaling"] = scaling_row(base, sweep, data_dir)

    path = Path(out or f"bench-{report['mode']}.json")
    path.write_text(json.dumps(report, indent=2))
    table = markdown_table(report)
    print(f"\nwrote {path}\n\n{table}")
    if update_readme:
        readme = ROOT / "README.md"
        text = readme.read_text()
        start, end = text.index(README_START) + len(README_START), text.index(README_END)
        readme.write_text(text[:start] + "\n" + table + "\n" + text[end:])
        print(f"updated {readme}")
    return 0


def _span(s: dict, fmt: str = "{:.2f}", unit: str = "") -> str:
    return f"{fmt.format(s['median'])}{unit} ({fmt.format(s['min'])}-{fmt.format(s['max'])})"


def markdown_table(report: dict) -> str:
    """The README's benchmark table (medians, min-max in brackets) with the targets beside them."""
    rows = []
    main_width = report["main_width"]
    for width, e in report["exact"].items():
        tag = f"width {width}, P = {e['P']:,}"
        s = e["seconds"]
        target = width == main_width
        if "speedup_vs_paper" in e:
            rows.append((f"exact spectrum vs paper's way, {tag}", _span(e["speedup_vs_paper"], unit="x") + " faster",
                         ">= 2.5x" if target else ""))
            rows.append((f"exact spectrum vs autograd.functional.hessian, {tag}",
                         _span(e["speedup_vs_functional"], unit="x") + " faster", ""))
            rows.append((f"exact top-10 max rel. error vs paper's way, {tag}",
                         f"{e['top10_max_rel_error_vs_paper']:.1e}", "<= 1e-5" if target else ""))
        rows.append((f"exact spectrum / float32 eigvalsh of the full matrix, {tag} "
                     f"({e['exact_zero_eigenvalues_removed']:,} exact zeros removed first)",
                     _span(e["ratio_to_floor"], unit="x"),
                     "<= 1.5x" if target else ""))
        times = ", ".join(f"{k} {v['median']:.1f}" for k, v in s.items())
        rows.append((f"exact spectrum seconds (median), {tag}", times, ""))
    k = report["top_k"]
    rows += [
        ("top-10 Lanczos: max rel. error / HVPs", f"{k['lanczos']['max_rel_error']:.1e} / {k['lanczos']['matvecs']}", "<= 1e-6"),
        ("top-10 time, Lanczos / PyHessian default", _span(k["time_ratio_lanczos_to_pyhessian_default"], unit="x"), "<= 1x"),
        ("top-10 PyHessian default: max rel. error / HVPs",
         f"{k['pyhessian_default']['max_rel_error']:.1e} / {k['pyhessian_default']['matvecs']}", ""),
        ("top-10 PyHessian tol 1e-6: max rel. error / HVPs",
         f"{k['pyhessian_tol1e-6']['max_rel_error']:.1e} / {k['pyhessian_tol1e-6']['matvecs']}", ""),
    ]
    t = report["trace"]
    rows += [
        ("Hutchinson throughput, ours / PyHessian trace()", _span(t["throughput_ratio"], unit="x"), ">= 2x"),
        (f"trace rel. RMSE at {t['equal_matvecs']} HVPs over {t['rmse_over_repeats']} repeats: "
         "Hutchinson / Hutch++ / XTrace",
         " / ".join(f"{t['relative_rmse'][m]:.2%}" for m in ("hutchinson", "hutchpp", "xtrace")), ""),
    ]
    rows.append(("BackPACK time / plain backward: " + ", ".join(report["backpack"]),
                 ", ".join(f"{v['median']:.1f}x" for v in report["backpack"].values()), ""))
    c = report["cache_app"]
    rows.append(("serve a cached exact result [s]", _span(c["cached_result_s"], fmt="{:.3f}"), ""))
    rows.append((f"warm-cache page render (AppTest) [s], {c['config']}",
                 ", ".join(f"{name.split('_', 1)[-1]} {v['median']:.2f}" for name, v in c["warm_page_render_s"].items()),
                 "<= 1 s each"))
    rows.append((f"cold default analysis [s], {c['config']}", f"{c['cold_default_analysis_s']:.1f}", "<= 60 s"))
    sc = report["scaling"]
    rows.append(("exact pipeline vs P: seconds / peak GiB",
                 ", ".join(f"P={pt['P']:,}: {pt['seconds']:.1f} s / {pt['peak_rss_gib']:.2f}" for pt in sc["points"]), ""))
    rows.append(("fitted time exponent (t ~ P^a)", f"{sc['time_exponent']:.2f}" if sc["time_exponent"] else "-", ""))
    rows.append(("largest P admitted by the default budget (12 GiB, 600 s)", f"{sc['largest_p_default_budget']:,}", ""))
    cpus = f"{report['cpu_count']} CPUs, " if "cpu_count" in report else ""
    head = (f"{report['date']}, {report['machine']}, {cpus}{report['threads']} torch threads, torch {report['torch']}, "
            f"{report['config']} (dataset used: {report['dataset_used']}), {report['repeats']} repeats on the "
            "main row; median (min-max)\n\n")
    return head + "\n".join(["| row | measured | target |", "|---|---|---|"] + [f"| {a} | {b} | {c} |" for a, b, c in rows])
