r"""The spectrum along training, and sharpness under reparametrisation.

* :func:`trajectory`: at every checkpoint of a training run (``ExperimentConfig.checkpoints``),
  the training loss and accuracy, the top and bottom eigenvalue and trace (exact where the dense
  matrix is cheap, :data:`TRAJECTORY_EXACT_SECONDS`; certified Lanczos and Hutchinson otherwise,
  ``exact`` in the row says which), and the fraction of the gradient in the top-k eigenspace,
  :math:`\|V_k^\top g\|^2 / \|g\|^2` (Gur-Ari, Roberts & Dyer 2018), from the same top eigenvectors. Each
  checkpoint is a configuration of its own (``checkpoint=i``), so every method runs on it and is
  cached per checkpoint: a stopped study resumes from the checkpoints it has. Under full-batch
  gradient descent with step :math:`\eta` the claim (Cohen et al. 2021, the edge of stability) is
  about the Hessian of the loss the optimizer steps on, the mean over the whole training subset,
  not the N-example Hessian batch: each row then also holds that objective's top eigenvalue and
  trace (``objective_top``, ``objective_trace``: the exact Hessian of a problem whose batch is the
  whole subset where the budget admits it, Lanczos and Hutchinson otherwise), and the verdict is
  computed on it. ``matrices`` in every row says which matrix each number is of.
* :func:`rescaling`: Dinh et al. (2017). For a ReLU network, scaling the first layer by
  :math:`a > 0` and the second layer's weights by :math:`1/a` leaves every output unchanged,
  while at the rescaled point :math:`H' = D^{-1} H D^{-1}` with :math:`D` the diagonal rescaling
  of the parameters, so the top eigenvalue and the trace change.
"""

from __future__ import annotations

from . import progress
from .cache import COMPUTE_COUNTS, cached, code_version
from .config import ConfigError, ExperimentConfig
from .methods import REFERENCE
from .pipeline import build_problem, computing, data_key, run, train
from .results import KEPT_VECTORS


#: ARPACK restarts allowed for the gradient's top-k subspace (each a basis of 4k products)
OVERLAP_MAX_RESTARTS = 50


def gradient_overlap(problem, k: int, vectors=None) -> float:
    r""":math:`\|V_k^\top g\|^2 / \|g\|^2` for the top-k (largest) eigenvectors :math:`V_k` of H.

    From ``vectors`` (rows: H's top eigenvectors, largest first, e.g. a cached exact or certified
    Lanczos result's) when they hold at least ``k``: no second solve. Otherwise dense ``eigh``
    (float64) when the budget admits the dense Hessian or ``k`` is close to P, else ARPACK Lanczos
    with at most :data:`OVERLAP_MAX_RESTARTS` restarts, and NaN (not a guess) when it does not
    converge there (clustered top eigenvalues, as squared-error losses give, can stall it).
    """
    import numpy as np
    import torch

    from .budget import BudgetExceeded, check_dense

    if not problem.finite:
        return float("nan")
    g = problem.gradient().double().cpu().numpy()
    norm = float(g @ g)
    if norm == 0.0:
        return float("nan")
    if vectors is not None and len(vectors) >= k:
        basis, _ = np.linalg.qr(np.asarray(vectors[:k], dtype=np.float64).T)  # orthonormal to float64 rounding
        projected = basis.T @ g
        return float(projected @ projected / norm)
    p = problem.num_params
    try:
        check_dense(problem.size, bytes_per_entry=8)
        dense_ok = True
    except BudgetExceeded:
        dense_ok = k >= p - 1
    if dense_ok:
        from .curvature import dense

        hessian = dense.dense_matrix(problem, dtype=torch.float64).cpu().numpy()
        _, vectors = np.linalg.eigh(hessian)
        top = vectors[:, -min(k, p):]
    else:
        from scipy.sparse.linalg import ArpackNoConvergence, eigsh

        from .methods.matrix_free import lanczos_subspace, scipy_operator

        try:
            _, top = eigsh(scipy_operator(problem), k=k, which="LA", tol=1e-8, ncv=lanczos_subspace(k, p),
                           maxiter=OVERLAP_MAX_RESTARTS, v0=np.random.default_rng(0).standard_normal(p))
        except ArpackNoConvergence:
            return float("nan")
    projected = top.T @ g
    return float(projected @ projected / norm)


@cached(returns=dict)
def _checkpoint_point(config_dict: dict, k: int, data_key: str, version: str) -> dict:
    COMPUTE_COUNTS["trajectory_point"] += 1
    config = ExperimentConfig.from_dict(config_dict)
    problem = build_problem(config)
    with computing(config):
        return {"gradient_norm": float(problem.gradient().norm()),
                "top_k_gradient_fraction": gradient_overlap(problem, k, _top_vectors(config))}


#: the approximations the trajectory follows unless asked otherwise
TRAJECTORY_METHODS = ("pyhessian_top_k", "kfac", "diag_hessian")


#: the checkpoints computed first: every COARSE_EVERY-th and the last (:func:`coarse_first`)
COARSE_EVERY = 4


def coarse_first(count: int, every: int = COARSE_EVERY) -> list[int]:
    """The order a trajectory's ``count`` checkpoints are computed in: every ``every``-th and the
    last first (the whole run's shape in about a quarter of the time), then the rest in order.

    >>> coarse_first(10)
    [0, 4, 8, 9, 1, 2, 3, 5, 6, 7]
    """
    first = sorted(set(range(0, count, every)) | {count - 1})
    return first + [i for i in range(count) if i not in first]


def trajectory(config: ExperimentConfig, k: int = 10, methods=TRAJECTORY_METHODS, on_rows=None) -> list[dict]:
    """One row per checkpoint of ``config``'s training (see the module docstring).

    Args:
        config: a configuration with ``checkpoints > 0``.
        k: the top eigenspace's dimension for the gradient fraction (default: 10 classes).
        methods: approximations whose top-1 and trace are followed.
        on_rows: called after each checkpoint with the rows so far, in step order (without the
            subspace-turning columns, which need every checkpoint), and how many there will be:
            a page draws them as they come.
    The checkpoints are computed in :func:`coarse_first`'s order, each a stage of :mod:`core.progress`.
    Returns:
        ``[{checkpoint, step, train_loss, train_accuracy, top, bottom, trace, exact, <method>_top1,
        <method>_trace, top_k_gradient_fraction, gradient_norm, two_over_lr, top_k_overlap_final,
        top_k_overlap_previous}]``: the last two how far the top-k eigenspace (k at most
        :data:`core.results.KEPT_VECTORS`) is from the final checkpoint's and the previous one's.
    """
    if config.checkpoints < 1:
        raise ConfigError("checkpoints", config.checkpoints, "at least 1 for a trajectory (e.g. 20)")
    if not 1 <= k <= 1000:
        raise ConfigError("k", k, "an integer from 1 to 1000")
    trained = train(config)
    count = len(trained.checkpoints)
    rows, bases = {}, {}
    for position, i in enumerate(coarse_first(count)):
        snapshot = trained.checkpoints[i]
        progress.stage(f"the checkpoint at step {snapshot['step']}", position, count)
        at = config.replace(checkpoint=i)
        row = {"checkpoint": i, "step": snapshot["step"], "train_loss": snapshot["train_loss"],
               "train_accuracy": snapshot["train_accuracy"],
               "two_over_lr": 2.0 / config.lr if config.optimizer == "gd" else None}
        row.update(_curvature(at))
        row["matrices"] = {"top, bottom, trace": f"the Hessian of the mean loss on the N = {config.hessian_batch_size:,}"
                                                 "-example Hessian batch"}
        if config.optimizer == "gd":
            whole = objective_config(at)
            objective = _curvature(whole)
            row.update(objective_top=objective["top"], objective_trace=objective["trace"],
                       objective_exact=objective["exact"])
            row["matrices"]["objective_top, objective_trace"] = (
                f"the Hessian of the objective gradient descent steps on: the mean loss on all "
                f"{whole.hessian_batch_size:,} training examples")
        for name in methods:
            found = run(at, name)
            row[f"{name}_top1"] = float(found.top[0]) if found.ok and found.top is not None else None
            row[f"{name}_trace"] = found.trace if found.ok else None
        row.update(_checkpoint_point(at.to_dict(), int(k), data_key(at), code_version()))
        rows[i], bases[i] = row, _top_vectors(at)
        if on_rows is not None:
            on_rows([rows[j] for j in sorted(rows)], count)
    ordered = [rows[j] for j in range(count)]
    _subspace_turning(ordered, [bases[j] for j in range(count)], min(k, KEPT_VECTORS))
    return ordered


def _top_vectors(config: ExperimentConfig):
    """The top eigenvectors of ``config``'s Hessian the curvature above came from (cached results):
    :func:`core.pipeline.direction_source`'s; None without any."""
    from .pipeline import direction_source

    last = list(direction_source(config, "hessian", dense=_exact_is_quick(config)).values())[-1]
    return last.top_vectors if last.ok else None


def _subspace_turning(rows: list[dict], bases: list, k: int) -> None:
    """How fast the top-k eigenspace turns: each checkpoint's overlap (:func:`core.subspaces.overlap`)
    with the final checkpoint's and with the previous one's (None where either has no vectors)."""
    from .subspaces import overlap

    final = bases[-1] if bases else None
    for i, row in enumerate(rows):
        here = bases[i]
        row["top_k_overlap_final"] = None if here is None or final is None else overlap(final[:k], here[:k])
        previous = bases[i - 1] if i else None
        row["top_k_overlap_previous"] = None if here is None or previous is None else overlap(previous[:k], here[:k])


def objective_config(config: ExperimentConfig) -> ExperimentConfig:
    """``config`` with its Hessian batch the whole training subset: the objective full-batch gradient
    descent steps on (its training is the same: the batch size is not part of the training key)."""
    from .pipeline import dataset

    return config.replace(hessian_batch_size=len(dataset(config).x_train))


#: a checkpoint's exact Hessian is computed when it is estimated at most this long (or cached);
#: past it the trajectory follows certified Lanczos and Hutchinson, so twenty checkpoints stay a
#: matter of minutes (on MNIST a width-16 MLP's exact spectrum takes about a minute a checkpoint)
TRAJECTORY_EXACT_SECONDS = 10.0


def _exact_is_quick(config: ExperimentConfig) -> bool:
    """Whether the trajectory takes ``config``'s exact Hessian: cached, or estimated within
    :data:`TRAJECTORY_EXACT_SECONDS`."""
    from .methods import estimate, resolve_options
    from .pipeline import is_cached, size

    return is_cached(config, REFERENCE) or estimate(REFERENCE, resolve_options(REFERENCE),
                                                    size(config)).seconds <= TRAJECTORY_EXACT_SECONDS


def _curvature(config: ExperimentConfig) -> dict:
    """Top and bottom eigenvalue and trace of ``config``'s Hessian: exact where :func:`_exact_is_quick`,
    else Lanczos' (certified) and Hutchinson's."""
    exact = run(config, REFERENCE) if _exact_is_quick(config) else None
    if exact is not None and exact.ok:
        return {"top": float(exact.top[0]), "bottom": float(exact.bottom[0]), "trace": float(exact.trace), "exact": True}
    lanczos, hutchinson = run(config, "lanczos"), run(config, "hutchinson")
    return {"top": float(lanczos.top[0]) if lanczos.ok else None,
            "bottom": float(lanczos.bottom[0]) if lanczos.ok and lanczos.bottom is not None else None,
            "trace": hutchinson.trace if hutchinson.ok else None, "exact": False}


def edge_of_stability(rows: list[dict], within: float = 0.1) -> dict | None:
    """How near the top eigenvalue comes to 2/lr and over which steps (full-batch GD only).

    Computed on the objective's top eigenvalue (``objective_top``: the Hessian of the loss gradient
    descent steps on), which the claim is about.

    Returns:
        ``{"two_over_lr", "peak", "peak_ratio", "steps_within": [first, last], "count", "matrix",
        "batch_peak"}`` where ``steps_within`` spans the checkpoints with
        ``|λ_max / (2/lr) - 1| <= within``, ``batch_peak`` is the Hessian batch's peak beside it,
        or None when the run is not full-batch gradient descent.
    """
    rows = [r for r in rows if r.get("two_over_lr") and r.get("objective_top") is not None]
    if not rows:
        return None
    limit = rows[0]["two_over_lr"]
    near = [r["step"] for r in rows if abs(r["objective_top"] / limit - 1) <= within]
    peak = max(r["objective_top"] for r in rows)
    batch = [r["top"] for r in rows if r.get("top") is not None]
    return {"two_over_lr": limit, "peak": peak, "peak_ratio": peak / limit,
            "steps_within": [min(near), max(near)] if near else None, "count": len(near), "within": within,
            "matrix": rows[0]["matrices"]["objective_top, objective_trace"],
            "batch_peak": max(batch) if batch else None}


def rescale(model, scale: float):
    """A copy of a ReLU ``Sequential`` MLP with layer 1 (weight, bias) times ``scale`` and layer 2's
    weight divided by it; returns the copy and the diagonal ``D`` (flat, parameter order)."""
    import copy

    import torch

    from .curvature.mlp_rop import supports

    if not supports(model):
        raise ConfigError("architecture", "cnn or batch_norm", "a plain mlp without BatchNorm (the rescaling "
                          "moves weight between two consecutive linear layers)")
    if len(model) < 3 or type(model[1]).__name__ not in ("ReLU", "LeakyReLU"):
        raise ConfigError("activation", type(model[1]).__name__ if len(model) > 1 else None,
                          "relu or leaky_relu with at least one hidden layer (positive homogeneity)")
    copied = copy.deepcopy(model)
    factors = []
    with torch.no_grad():
        first, second = copied[0], copied[2]
        first.weight.mul_(scale), first.bias.mul_(scale), second.weight.div_(scale)
        for name, param in copied.named_parameters():
            value = scale if name.startswith("fc1.") else (1 / scale if name == "fc2.weight" else 1.0)
            factors.append(torch.full((param.numel(),), value, dtype=torch.float64))
    return copied, torch.cat(factors)


@cached(returns=dict)
def _rescaling(config_dict: dict, scale: float, data_key: str, version: str) -> dict:
    import torch

    from .methods import compute_result
    from .problem import Problem

    COMPUTE_COUNTS["rescaling"] += 1
    config = ExperimentConfig.from_dict(config_dict)
    problem = build_problem(config)
    model, _ = rescale(problem.model, scale)
    rescaled = Problem(model, problem.x, problem.labels, loss=problem.loss_name)
    with torch.no_grad():
        same = float((problem.model(problem.x) - rescaled.model(rescaled.x)).abs().max())
        accuracy = [float((m(problem.x).argmax(1) == problem.labels).float().mean()) for m in (problem.model, model)]
    before, after = compute_result(REFERENCE, problem), compute_result(REFERENCE, rescaled)
    out = {"scale": scale, "max_output_difference": same, "accuracy": accuracy}
    for key, result in (("original", before), ("rescaled", after)):
        out[key] = {"top": float(result.top[0]), "trace": float(result.trace)} if result.ok else {"error": result.error}
    return out


def rescaling(config: ExperimentConfig, scale: float = 10.0) -> dict:
    """Dinh et al.'s demonstration on ``config``: outputs and accuracy before and after the
    rescaling, and the exact top eigenvalue and trace at both points."""
    if not 1e-3 <= scale <= 1e3:
        raise ConfigError("scale", scale, "a number from 0.001 to 1000")
    return _rescaling(config.to_dict(), float(scale), data_key(config), code_version())
