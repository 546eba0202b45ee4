"""Row 11: past the exact limit. At P about 75k and about 1M (quick: two small widths), side by
side in one process on the same problem: our Lanczos top-10 (thick restart, registry defaults but
the top end only), PyHessian's top-10 at its defaults and at a tolerance that matches ours, and
curvlinops' Hessian operator with ``scipy.sparse.linalg.eigsh``, each with time, products and the
largest residual ‖Hv − θv‖ (computed the same way for all, with our products); one Hessian-vector
product against one gradient of the same model (target: at most 3x); and the app's default
selection cold, end to end (training included), on the P about 75k network.

``python -m benchmarks.scale [--quick]`` runs this row alone and prints it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile

import numpy as np

from core import pipeline, workspace
from core.config import ExperimentConfig
from core.methods import DEFAULT_SAMPLES, DEFAULT_SELECTION, compute_result

from .common import stats, timed

#: digits MLPs (64 inputs): one hidden layer of 1000 (P = 75,010) and two of 1000 (P = 1,076,010)
FULL = {"75k": (1000,), "1M": (1000, 1000)}
QUICK = {"5k": (80,), "20k": (300,)}


def _residuals(problem, values, vectors) -> float:
    """The largest ‖Hv − θv‖ over unit ``vectors`` (rows), by our batched product in float64."""
    import torch

    v = torch.as_tensor(np.asarray(vectors), dtype=torch.float64)
    v = v / v.norm(dim=1, keepdim=True)
    theta = torch.as_tensor(np.asarray(values), dtype=torch.float64)
    return float((problem.hvp_batch(v).double() - theta[:, None] * v).norm(dim=1).max())


def _curvlinops_eigsh(problem, k: int, tol: float):
    """Top-k by curvlinops' HessianLinearOperator (its own products) and SciPy's ARPACK."""
    from curvlinops import HessianLinearOperator
    from scipy.sparse.linalg import eigsh

    params = [p for p in problem.model.parameters() if p.requires_grad]
    operator = HessianLinearOperator(problem.model, problem.loss_module(), params, [(problem.x, problem.targets)],
                                     check_deterministic=False).to_scipy()
    counted = {"products": 0}

    def matvec(v):
        counted["products"] += 1
        return operator @ v

    from scipy.sparse.linalg import LinearOperator

    wrapped = LinearOperator(operator.shape, matvec=matvec, dtype=operator.dtype)
    values, vectors = eigsh(wrapped, k=k, which="LA", tol=tol, v0=np.random.default_rng(0).standard_normal(
        operator.shape[0]).astype(operator.dtype))
    return values, vectors.T, counted["products"]


#: the time budget PyHessian's tolerance-matched run is given (its options' upper bound is over the default)
RAISED_SECONDS = 7200


@contextlib.contextmanager
def raised_budget(seconds: float | None):
    """``$HESSIAN_MAX_SECONDS`` set to ``seconds`` in the body (unchanged for None)."""
    before = os.environ.get("HESSIAN_MAX_SECONDS")
    if seconds is not None:
        os.environ["HESSIAN_MAX_SECONDS"] = str(seconds)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("HESSIAN_MAX_SECONDS", None)
        else:
            os.environ["HESSIAN_MAX_SECONDS"] = before


def gradient_vs_product(problem, repeats: int = 5) -> dict:
    """Seconds of one gradient and of one Hessian-vector product (one vector, in the model's float
    type, as Lanczos takes it), medians."""
    import torch

    theta = problem.flat_params()
    v = torch.randn(1, problem.num_params, dtype=theta.dtype)
    problem.gradient(theta), problem.hvp_batch(v)  # warm
    gradient = stats(timed(lambda: problem.gradient(theta))[0] for _ in range(repeats))
    product = stats(timed(lambda: problem.hvp_batch(v))[0] for _ in range(repeats))
    return {"gradient_s": gradient, "product_s": product, "ratio": product["median"] / gradient["median"]}


def one_size(config: ExperimentConfig, k: int = 10) -> dict:
    problem = pipeline.build_problem(config)
    out = {"P": problem.num_params, "label": config.label(), "product_vs_gradient": gradient_vs_product(problem)}
    ours = compute_result("lanczos", problem, {"k": k, "bottom": False})
    out["lanczos"] = {"seconds": ours.seconds, "products": ours.matvecs, "max_residual": ours.max_residual(),
                      "top1": float(ours.top[0]), "stopped": ours.stopped,
                      "residual_over_top": ours.max_residual() / abs(float(ours.top[0]))}
    for key, opts in (("pyhessian_default", {"k": k}), ("pyhessian_tol1e-6", {"k": k, "tol": 1e-6, "max_iter": 1000})):
        # its upper bound (k x max_iter products) is over the default budget: raised here so it runs to its end
        with raised_budget(RAISED_SECONDS if "tol" in opts else None):
            found = compute_result("pyhessian_top_k", problem, opts)
        out[key] = {"seconds": found.seconds, "products": found.matvecs, "max_residual": found.max_residual(),
                    "top1": float(found.top[0]) if found.ok else None, "error": found.error,
                    "budget_s": RAISED_SECONDS if "tol" in opts else None}
    seconds, (values, vectors, products) = timed(lambda: _curvlinops_eigsh(problem, k, 1e-6))
    out["curvlinops_eigsh"] = {"seconds": seconds, "products": products, "max_residual": _residuals(problem, values,
                                                                                                     vectors),
                               "top1": float(values.max())}
    return out


def app_default_cold(config: ExperimentConfig) -> dict:
    """The app's default selection on ``config``, from an empty store: training and every method."""
    with tempfile.TemporaryDirectory() as store, workspace.using(cache_dir=store):
        seconds, found = timed(lambda: pipeline.results_for(config, list(DEFAULT_SELECTION), DEFAULT_SAMPLES))
    return {"seconds": seconds, "methods": {name: ("ok" if r.ok else r.error.split(":")[0]) for name, r in found.items()},
            "lanczos": {"products": found["lanczos"].matvecs, "stopped": found["lanczos"].stopped,
                        "max_residual": found["lanczos"].max_residual()} if found["lanczos"].ok else None}


def on_gpu(config: ExperimentConfig, k: int = 10) -> dict:
    """Our Lanczos top-10 on ``cuda`` when there is one (the same problem, the products on the GPU)."""
    from core.device import cuda_available

    if not cuda_available():
        return {"device": "no GPU here"}
    result = pipeline.run(config.replace(device="cuda"), "lanczos", {"k": k, "bottom": False})
    return {"device": "cuda", "seconds": result.seconds, "products": result.matvecs,
            "max_residual": result.max_residual()}


def scale_row(quick: bool) -> dict:
    sizes = QUICK if quick else FULL
    base = ExperimentConfig(dataset="digits", hessian_batch_size=1000, epochs=3 if quick else 10)
    report = {name: one_size(base.replace(hidden=hidden)) for name, hidden in sizes.items()}
    first, last = next(iter(sizes.values())), list(sizes.values())[-1]
    report["app_default_cold"] = app_default_cold(base.replace(hidden=first))
    report["gpu"] = on_gpu(base.replace(hidden=last))
    return report


if __name__ == "__main__":
    from core import library_warnings

    library_warnings.quiet()
    print(json.dumps(scale_row("--quick" in sys.argv), indent=2, default=float))
