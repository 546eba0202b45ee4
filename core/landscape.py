r"""The loss along the Hessian's top eigenvectors and along random filter-normalised directions.

For unit directions :math:`d_1, \dots, d_m` and coefficients :math:`c`, the loss
:math:`L(\theta + \sum_i c_i d_i)` is evaluated on the Hessian batch and on as many held-out
examples, against the second-order Taylor model

.. math:: Q(c) = L(\theta) + c^\top D^\top g + \tfrac12 c^\top (D^\top H D)\, c,

with the gradient :math:`g` and the curvatures :math:`D^\top H D` taken by products (for
eigenvectors :math:`d_i^\top H d_j = \lambda_i \delta_{ij}`: the model is
:math:`L + t\, g^\top v + \frac12 \lambda t^2` along a line and
:math:`\frac12 (\lambda_1 a^2 + \lambda_2 b^2)` plus the slope terms in the plane). Its error is
:math:`O(t^3)`. The **radius of the quadratic model** along a line is the largest :math:`|t|`
of a geometric grid (:data:`RADIUS_STEPS` steps of :math:`\sqrt2` down from the line's end, both
sides) up to which :math:`|L - Q| \le 10\,\% \cdot \frac12 |c|\, t^2` on both sides, with
:math:`c = d^\top H d`: the model's curvature term is right to 10 % (the error relative to the
second-order term is :math:`O(|t|)`, so the radius is well defined; relative to the whole
predicted change it is not, where slope and curvature cancel).

Random directions are filter-normalised (Li, Xu, Taylor, Studer & Goldstein, NeurIPS 2018,
"Visualizing the loss landscape of neural nets", Sec. 4): a Gaussian direction whose every
filter (a linear layer's row, a convolution's output channel) is rescaled to the norm of the
same filter of :math:`\theta`, and whose biases and BatchNorm parameters are zero (their
``ignore='biasbn'``), so the picture does not depend on the network's scale invariances.
Coefficients along them run over :math:`\alpha \in [-1, 1]` as in their figures; along
eigenvectors over :math:`|t| \le \sqrt{2 r / \lambda_1}`, where the top eigenvalue's
quadratic model rises by ``rise`` (r) nats.

Every point is one forward pass over a batch (two with the held-out batch); the cost is
estimated and checked against the budget before any work (:func:`estimate`).
"""

from __future__ import annotations

import numpy as np

from .budget import Budget, BudgetExceeded, Cost, per_product_seconds
from .cache import COMPUTE_COUNTS, cached, code_version
from .config import ConfigError, ExperimentConfig
from .pipeline import build_problem, check_trainable, computing, data_key, dataset, direction_source, size

#: the quadratic model holds where its error is at most this share of the change it predicts
MODEL_TOLERANCE = 0.10
#: a forward pass over the batch against the budget's one-product time (benchmark row 13: the page's
#: 1,351 passes took 1.4 s on an idle MNIST default, 0.16 of a product each; rounded up, the
#: estimate an upper bound)
FORWARD_SHARE = 0.5
#: fixed seconds of a landscape (building the problem, the gradient, the curvature products)
OVERHEAD_SECONDS = 1.0
#: how many top eigenvectors get a line, and random directions a line (the plane uses two of each kind)
EIGEN_LINES, RANDOM_LINES = 3, 2
#: the plane's loss levels (its colour bands, where the model's level curves are drawn)
PLANE_LEVELS = 8
#: the radius is searched on t = end * 2^(-j/2), j < RADIUS_STEPS, each side (down to end / 4096)
RADIUS_STEPS = 25
#: bounds on the grids (points per line, per side of the plane) and on the rise
POINTS = (5, 201)
GRID = (5, 61)
RISE = (0.01, 100.0)


def filter_normalised(direction: dict, params: dict) -> dict:
    r"""Li et al.'s filter normalisation: each filter (first index of a weight of two or more
    dimensions) of ``direction`` rescaled to the norm of the same filter of ``params``;
    one-dimensional parameters (biases, BatchNorm) set to zero.

    >>> import torch
    >>> d = filter_normalised({"w": torch.tensor([[3.0, 4.0], [1.0, 0.0]]), "b": torch.ones(2)},
    ...                       {"w": torch.tensor([[0.0, 10.0], [0.0, 2.0]]), "b": torch.ones(2)})
    >>> d["w"].tolist(), d["b"].tolist()
    ([[6.0, 8.0], [2.0, 0.0]], [0.0, 0.0])
    """
    import torch

    found = {}
    for name, d in direction.items():
        theta = params[name]
        if d.dim() <= 1:
            found[name] = torch.zeros_like(d)
            continue
        d_norms = d.reshape(d.shape[0], -1).norm(dim=1)
        theta_norms = theta.reshape(theta.shape[0], -1).norm(dim=1)
        scale = theta_norms / d_norms.clamp_min(1e-30)
        found[name] = d * scale.reshape(-1, *([1] * (d.dim() - 1)))
    return found


def random_directions(problem, count: int, seed: int):
    """``count`` filter-normalised Gaussian directions of the problem's parameters, ``(count, P)``."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    theta = problem.flat_params()
    params = problem.unflatten(theta)
    rows = []
    for _ in range(count):
        gaussian = torch.randn(theta.shape, generator=generator, dtype=theta.dtype).to(theta.device)
        normalised = filter_normalised(problem.unflatten(gaussian), params)
        rows.append(torch.cat([normalised[b.name].reshape(-1) for b in problem.blocks]))
    return torch.stack(rows)


def losses_at(problem, directions, coefficients: np.ndarray, dtype=None) -> np.ndarray:
    """:math:`L(\\theta + c^\\top D)` for every row c of ``coefficients`` (``(n, m)``), ``D`` ``(m, P)``. in ``dtype``
    (default: the model's)."""
    import torch

    theta = problem.flat_params() if dtype is None else problem.flat_params().to(dtype)
    directions = directions.to(theta.dtype)
    steps = torch.as_tensor(np.asarray(coefficients), dtype=theta.dtype, device=theta.device)
    with torch.no_grad():
        return np.array([float(problem.loss_at(theta + step @ directions)) for step in steps])


def taylor_terms(problem, directions) -> tuple[float, np.ndarray, np.ndarray]:
    """:math:`L(\\theta)`, the slopes :math:`D g` and the curvatures :math:`D H D^\\top` (m products),
    all in float64 (the model is then exact to rounding far below float32's, which the radius
    search at small t needs)."""
    import torch

    theta = problem.flat_params().to(torch.float64)
    directions = directions.to(torch.float64)
    with torch.no_grad():
        loss = float(problem.loss_at(theta))
    slopes = (directions @ problem.gradient(theta).double()).cpu().numpy()
    curvatures = (problem.hvp_batch(directions).double() @ directions.T).cpu().numpy()
    return loss, slopes, 0.5 * (curvatures + curvatures.T)


def quadratic_model(loss: float, slopes: np.ndarray, curvatures: np.ndarray, coefficients: np.ndarray) -> np.ndarray:
    """:math:`Q(c) = L + c^\\top s + \\frac12 c^\\top C c` for every row c of ``coefficients``.

    >>> quadratic_model(1.0, np.array([0.5]), np.array([[4.0]]), np.array([[0.0], [1.0]])).tolist()
    [1.0, 3.5]
    """
    c = np.asarray(coefficients, dtype=np.float64)
    return loss + c @ slopes + 0.5 * np.einsum("ni,ij,nj->n", c, curvatures, c)


def model_radius(t: np.ndarray, losses: np.ndarray, model: np.ndarray, curvature: float,
                 tolerance: float = MODEL_TOLERANCE) -> tuple[float, bool]:
    """The largest |t| of the grid up to which the quadratic model's error is within ``tolerance``
    of its second-order term ``curvature t² / 2`` on both sides of 0, and whether it held over
    the whole grid.

    >>> t = np.linspace(-2, 2, 9)
    >>> model_radius(t, 1 + t + t**2 + 0.1 * t**3, 1 + t + t**2, 2.0)
    (1.0, False)
    """
    t, losses, model = (np.asarray(a, dtype=np.float64) for a in (t, losses, model))
    second_order = 0.5 * abs(curvature) * t**2
    floor = 1e3 * np.finfo(np.float64).eps * max(1.0, float(np.abs(model).max()))  # float64 rounding of L
    holds = np.abs(losses - model) <= tolerance * second_order + floor
    radius, whole = np.inf, True
    for side in (t > 0, t < 0):
        order = np.argsort(np.abs(t[side]))
        failed = np.flatnonzero(~holds[side][order])
        if len(failed):
            whole = False
            reach = float(np.abs(t[side][order])[failed[0] - 1]) if failed[0] > 0 else 0.0
        else:
            reach = float(np.abs(t[side]).max()) if side.any() else 0.0
        radius = min(radius, reach)
    return float(radius), whole


def _radius(problem, directions, i: int, extent: float, loss: float, slopes, curvatures) -> tuple[float, bool]:
    """:func:`model_radius` along direction i on the geometric grid of :data:`RADIUS_STEPS` per side,
    the losses in float64."""
    import torch

    half = extent * 2.0 ** (-np.arange(RADIUS_STEPS) / 2)
    t = np.concatenate([-half, half])
    coefficients = np.zeros((len(t), len(directions)))
    coefficients[:, i] = t
    found = losses_at(problem, directions, coefficients, dtype=torch.float64)  # changes far below float32's eps
    return model_radius(t, found, quadratic_model(loss, slopes, curvatures, coefficients), curvatures[i, i])


def model_level_curves(plane: dict, levels, points: int = 120) -> list[dict]:
    r"""The quadratic model's level curves on the plane, as long-form rows ``{level, order, a, b}``.

    With a positive definite curvature :math:`C` the level set :math:`Q(c) = q` is the ellipse
    :math:`c^* + \sqrt{2(q - Q_{\min})}\, C^{-1/2} (\cos\varphi, \sin\varphi)`, centred at
    :math:`c^* = -C^{-1}s` where :math:`Q_{\min} = L - \frac12 s^\top C^{-1} s`; a level below
    :math:`Q_{\min}` has no curve. Not positive definite (a saddle: hyperbolas): no curves.

    >>> plane = {"loss": 0.0, "slopes": [0.0, 0.0], "curvatures": [[2.0, 0.0], [0.0, 8.0]]}
    >>> rows = model_level_curves(plane, [1.0], points=4)
    >>> [(round(r["a"], 6) + 0.0, round(r["b"], 6) + 0.0) for r in rows][:2]
    [(1.0, 0.0), (0.0, 0.5)]
    """
    c = np.asarray(plane["curvatures"], dtype=np.float64)
    s = np.asarray(plane["slopes"], dtype=np.float64)
    values, vectors = np.linalg.eigh(c)
    if values.min() <= 0:
        return []
    centre = -np.linalg.solve(c, s)
    lowest = plane["loss"] - 0.5 * float(s @ np.linalg.solve(c, s))
    phi = np.linspace(0.0, 2 * np.pi, points + 1)
    circle = np.stack([np.cos(phi), np.sin(phi)])
    inverse_root = vectors @ np.diag(values ** -0.5) @ vectors.T
    rows = []
    for level in levels:
        if level <= lowest:
            continue
        curve = centre[:, None] + np.sqrt(2 * (level - lowest)) * (inverse_root @ circle)
        rows += [{"level": float(level), "order": i, "a": float(a), "b": float(b)}
                 for i, (a, b) in enumerate(curve.T)]
    return rows


def passes(points: int, grid: int) -> int:
    """Forward passes over the batch of a landscape: the lines, their radius searches, the plane
    (with the quadratic model's check on each cell left to arithmetic).

    >>> passes(41, 21)
    896
    """
    return (EIGEN_LINES + RANDOM_LINES) * (points + 2 * RADIUS_STEPS) + grid * grid


def estimate(config: ExperimentConfig, points: int, grid: int, held_out: bool = True) -> Cost:
    """Seconds of a landscape: every point a forward pass over the batch (the lines twice with
    held-out data)."""
    problem_size = size(config)
    radius_in_float64 = (EIGEN_LINES + RANDOM_LINES) * 2 * RADIUS_STEPS  # a float64 pass costs about two
    count = passes(points, grid) + radius_in_float64 + ((EIGEN_LINES + RANDOM_LINES) * points if held_out else 0)
    forward = FORWARD_SHARE * per_product_seconds(problem_size)
    seconds = OVERHEAD_SECONDS + count * forward + 2 * (EIGEN_LINES + RANDOM_LINES) * per_product_seconds(problem_size)
    return Cost(problem_size.num_params, problem_size.batch_size, 0.0, seconds)


def _check(config: ExperimentConfig, points: int, grid: int, rise: float, held_out: bool) -> None:
    for name, value, (low, high) in (("points", points, POINTS), ("grid", grid, GRID)):
        if not (isinstance(value, int) and not isinstance(value, bool) and low <= value <= high):
            raise ConfigError(name, value, f"an integer from {low} to {high}")
    if not (isinstance(rise, (int, float)) and RISE[0] <= rise <= RISE[1]):
        raise ConfigError("rise", rise, f"a number from {RISE[0]} to {RISE[1]}")
    check_trainable(config)
    cost = estimate(config, points, grid, held_out)
    budget = Budget()
    if cost.seconds > budget.max_seconds:
        raise BudgetExceeded(f"The loss landscape is refused: about {cost.seconds:.0f} s for "
                             f"{passes(points, grid):,} forward passes over "
                             f"{cost.batch_size:,} examples, over the budget of {budget.max_seconds:g} s. Use fewer "
                             "points or a smaller grid, or raise $HESSIAN_MAX_SECONDS.")


def _precheck(config_dict: dict, points: int, grid: int, rise: float, held_out: bool, seed: int,
              data_key: str, version: str) -> None:
    _check(ExperimentConfig.from_dict(config_dict), points, grid, rise, held_out)


def _eigenvectors(config: ExperimentConfig):
    """The top eigenvectors and values the lines follow (the exact Hessian's where it ran, else the
    certified Lanczos run's: :func:`core.pipeline.direction_source`) and the words that say which."""
    from .tables import direction_reference

    found = direction_source(config, "hessian")
    source, words = direction_reference(found, "hessian")
    if source is None:
        raise BudgetExceeded("No eigenvectors to draw the landscape along: "
                             + "; ".join(str(r.error) for r in found.values()))
    return source, words


def _held_out_problem(config: ExperimentConfig, problem):
    """The same model on as many held-out examples as the Hessian batch has."""
    from .models import model_inputs
    from .problem import Problem

    data = dataset(config)
    n = min(problem.batch_size, len(data.y_test))
    x = model_inputs(config, data.x_test[:n]).to(problem.device)
    return Problem(problem.model, x, data.y_test[:n].to(problem.device), loss=config.loss)


@cached(returns=dict, precheck=_precheck)
def _landscape(config_dict: dict, points: int, grid: int, rise: float, held_out: bool, seed: int,
               data_key: str, version: str) -> dict:
    import torch

    COMPUTE_COUNTS["landscape"] += 1
    config = ExperimentConfig.from_dict(config_dict)
    source, words = _eigenvectors(config)
    problem = build_problem(config)
    other = _held_out_problem(config, problem) if held_out else None
    with computing(config):
        dtype = next(problem.model.parameters()).dtype
        vectors = torch.as_tensor(source.top_vectors[:EIGEN_LINES], dtype=dtype, device=problem.device)
        signs = torch.sign(vectors.gather(1, vectors.abs().argmax(dim=1, keepdim=True)))  # largest entry positive
        vectors = vectors * signs
        values = np.asarray(source.top[: len(vectors)], dtype=np.float64)
        randoms = random_directions(problem, RANDOM_LINES, seed)
        top = max(float(values[0]), 1e-12)
        span = float(np.sqrt(2 * rise / top))
        lines = []
        for kind, directions, extent, names in (
                ("eigenvector", vectors, span, [f"v{i + 1} (λ{i + 1} = {v:.3g})" for i, v in enumerate(values)]),
                ("random", randoms, 1.0, [f"random {i + 1} (filter-normalised)" for i in range(len(randoms))])):
            loss, slopes, curvatures = taylor_terms(problem, directions)
            t = np.linspace(-extent, extent, points)
            for i, name in enumerate(names):
                coefficients = np.zeros((points, len(directions)))
                coefficients[:, i] = t
                batch = losses_at(problem, directions, coefficients)
                model = quadratic_model(loss, slopes, curvatures, coefficients)
                radius, whole = _radius(problem, directions, i, extent, loss, slopes, curvatures)
                lines.append({"direction": name, "kind": kind, "t": t.tolist(), "batch": batch.tolist(),
                              "held_out": None if other is None else losses_at(other, directions, coefficients).tolist(),
                              "model": model.tolist(), "curvature": float(curvatures[i, i]),
                              "eigenvalue": float(values[i]) if kind == "eigenvector" else None,
                              "slope": float(slopes[i]), "radius": radius, "holds_throughout": whole,
                              "radius_floor": extent * 2.0 ** (-(RADIUS_STEPS - 1) / 2)})
        plane = _plane(problem, vectors[:2], values[:2], span, grid) if len(vectors) >= 2 else None
    return {"source": words, "loss": problem.loss(), "held_out_loss": None if other is None else other.loss(),
            "span": span, "rise": rise, "lines": lines, "plane": plane,
            "num_params": problem.num_params, "batch_size": problem.batch_size}


def _plane(problem, vectors, values, span: float, grid: int) -> dict:
    """The loss and its quadratic model on the grid ``a v1 + b v2``, ``|a|, |b| <= span``."""
    loss, slopes, curvatures = taylor_terms(problem, vectors)
    axis = np.linspace(-span, span, grid)
    a, b = np.meshgrid(axis, axis, indexing="ij")
    coefficients = np.stack([a.ravel(), b.ravel()], axis=1)
    batch = losses_at(problem, vectors, coefficients).reshape(grid, grid)
    model = quadratic_model(loss, slopes, curvatures, coefficients).reshape(grid, grid)
    levels = [float(m) for m in np.quantile(batch, np.linspace(0.05, 0.9, PLANE_LEVELS))]
    terms = {"loss": loss, "slopes": slopes.tolist(), "curvatures": curvatures.tolist()}
    return {"axis": axis.tolist(), "batch": batch.tolist(), "model": model.tolist(), "loss": loss,
            "levels": levels, "level_curves": model_level_curves(terms, levels),
            "eigenvalues": [float(v) for v in values], "slopes": slopes.tolist(),
            "curvatures": curvatures.tolist()}


#: what the Loss landscape page starts with (and ``warm`` computes)
DEFAULTS = {"points": 41, "grid": 21, "rise": 1.0, "held_out": True}


def landscape(config: ExperimentConfig, points: int = DEFAULTS["points"], grid: int = DEFAULTS["grid"],
              rise: float = DEFAULTS["rise"], held_out: bool = DEFAULTS["held_out"], seed: int = 0) -> dict:
    """The loss along the top :data:`EIGEN_LINES` Hessian eigenvectors and :data:`RANDOM_LINES`
    filter-normalised random directions (``points`` each), and on the plane of the top two
    (``grid`` x ``grid``), each with its quadratic model and (lines) the model's radius.

    Raises:
        ConfigError: a grid or the rise out of its bounds; BudgetExceeded: over the budget,
        before any work (the exact Hessian's or Lanczos' eigenvectors come from their cache).
    """
    return _landscape(config.to_dict(), points, grid, float(rise), bool(held_out), int(seed), data_key(config),
                      code_version())


def check(config: ExperimentConfig, points: int = 41, grid: int = 21, rise: float = 1.0, held_out: bool = True) -> Cost:
    """The estimate, after the same checks :func:`landscape` makes (raises what it would)."""
    _check(config, points, grid, float(rise), held_out)
    return estimate(config, points, grid, held_out)
