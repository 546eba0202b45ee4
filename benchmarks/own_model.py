"""Row 15: your own model. The README's ResNet-18 example as a user runs it (its methods, options
and time budget), each method's estimate beside its time; and a module the project does not know
(LayerNorm, a skip, a tied weight; :mod:`examples.own_models`), every method's error and time
against its dense Hessian (or GGN).

``--quick``: the custom module only. ``python -m benchmarks.own_model [--quick]`` runs this row
alone and prints it.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from contextlib import contextmanager

import numpy as np

from core import own_model, workspace
from core.methods import REGISTRY, estimate, resolve_options

#: the README example's methods and options, and its time budget
RESNET_METHODS = {"exact_hessian": {}, "lanczos": {"k": 3}, "hutchinson": {"samples": 20},
                  "hutchpp": {"samples": 30}, "diag_ggn_exact": {}, "kfac": {}}
RESNET_BUDGET_SECONDS = "240"


@contextmanager
def _environment(**values):
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in before.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


def _method_row(problem, name: str, options: dict) -> dict:
    resolved = resolve_options(name, options)
    start = time.perf_counter()
    result = own_model.run(problem, name, options)
    row = {"method": name, "wall_s": time.perf_counter() - start, "ok": result.ok,
           "estimate_s": estimate(name, resolved, problem.size).seconds}
    if not result.ok:
        row["error"] = result.error
        return row
    row.update(top=None if result.top is None else [float(v) for v in result.top[:3]],
               max_residual=None if result.top_residuals is None else float(np.max(result.top_residuals)),
               trace=result.trace, trace_std_error=result.trace_standard_error, stopped=result.stopped,
               matvecs=result.matvecs, peak_gib=(result.peak_memory_bytes or 0) / 2**30)
    return row


def resnet_row() -> dict:
    from examples.resnet18 import build

    with _environment(HESSIAN_MAX_SECONDS=RESNET_BUDGET_SECONDS):
        start = time.perf_counter()
        problem = own_model.problem(*build())
        built = time.perf_counter() - start
        rows = [_method_row(problem, name, options) for name, options in RESNET_METHODS.items()]
    return {"P": problem.num_params, "N": problem.batch_size, "build_s": built,
            "budget_s": float(RESNET_BUDGET_SECONDS), "methods": rows}


def custom_row() -> dict:
    import torch

    from core.curvature import dense
    from examples.own_models import build

    problem = own_model.problem(*build())
    h = dense.dense_matrix(problem, "hessian", dtype=torch.float64).numpy()
    g = dense.dense_matrix(problem, "ggn", dtype=torch.float64).numpy()
    truth = {"hessian": (np.linalg.eigvalsh(h), np.trace(h)), "ggn": (np.linalg.eigvalsh(g), np.trace(g))}
    rows = []
    for name, spec in REGISTRY.items():
        options = {"k": 3} if name in ("lanczos", "ggn_lanczos") else {}
        row = _method_row(problem, name, options)
        result = own_model.run(problem, name, options)
        values, trace = truth[spec.matrix]
        if result.ok and result.top is not None:
            exact_top = values[np.argsort(-np.abs(values))] if spec.finds_largest_magnitude else values[::-1]
            found = sorted(result.top, key=abs, reverse=True) if spec.finds_largest_magnitude else result.top
            row["top1_rel_error"] = float(abs(found[0] - exact_top[0]) / abs(exact_top[0]))
        if result.ok and result.trace is not None:
            row["trace_rel_error"] = float(abs(result.trace - trace) / abs(trace))
        rows.append(row)
    return {"P": problem.num_params, "N": problem.batch_size, "methods": rows}


def own_model_row(quick: bool) -> dict:
    with tempfile.TemporaryDirectory() as store, workspace.using(cache_dir=store):
        row = {"custom": custom_row()}
        if not quick:
            row["resnet18"] = resnet_row()
    return row


def print_row(row: dict) -> None:
    for part, found in row.items():
        print(f"\n{part}: P = {found['P']:,}, N = {found['N']}")
        for m in found["methods"]:
            what = m.get("error") or ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                                               for k, v in m.items() if k not in ("method", "ok", "wall_s", "estimate_s")
                                               and v is not None)
            print(f"  {m['method']:22s} {m['wall_s']:7.2f} s (estimate {m['estimate_s']:.3g} s)  {what[:160]}")


if __name__ == "__main__":
    from core import library_warnings

    library_warnings.quiet()
    found = own_model_row("--quick" in sys.argv)
    print_row(found)
    print(json.dumps(found, indent=1, default=float)[:0])
