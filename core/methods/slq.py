r"""Stochastic Lanczos quadrature (SLQ) for the spectral density, and Lanczos itself.

For a unit vector :math:`v`, ``m`` steps of Lanczos give a tridiagonal :math:`T_m` with
eigenpairs :math:`(\theta_j, u_j)`; the Gauss quadrature
:math:`v^\top f(H) v \approx \sum_j \tau_j^2 f(\theta_j)`, :math:`\tau_j = u_j[0]`,
turns the nodes :math:`\theta_j` and weights :math:`\tau_j^2` into a discrete measure whose
average over random :math:`v` estimates the spectral density
:math:`\phi(t) = \frac1P \sum_i \delta(t - \lambda_i)` (Lin, Saad & Yang 2016;
Ubaru, Chen & Saad 2017; Ghorbani, Krishnan & Xiao 2019). Smoothing with a Gaussian of
width :math:`\sigma` gives a plottable density that integrates to one.

Written here rather than taken from PyHessian because PyHessian's version re-orthogonalises
with Python lists and calls the removed ``torch.eig``; ours does full re-orthogonalisation
in one matrix product per step and runs in float64.
"""

from __future__ import annotations

import numpy as np
import torch

from ..problem import Problem
from ..results import Density, Estimate


def lanczos_tridiagonal(matvec, start: torch.Tensor, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """``steps`` Lanczos steps from ``start`` with full re-orthogonalisation: (alpha, beta)."""
    p = start.numel()
    steps = min(steps, p)
    basis = torch.zeros(steps, p, dtype=start.dtype, device=start.device)
    alpha, beta = np.zeros(steps), np.zeros(max(steps - 1, 0))
    v = start / start.norm()
    for j in range(steps):
        basis[j] = v
        w = matvec(v)
        alpha[j] = float(w @ v)
        w = w - basis[: j + 1].T @ (basis[: j + 1] @ w)  # full re-orthogonalisation
        w = w - basis[: j + 1].T @ (basis[: j + 1] @ w)  # twice is enough (Parlett)
        if j + 1 < steps:
            norm = float(w.norm())
            if norm < 1e-12:  # invariant subspace: the quadrature is already exact
                return alpha[: j + 1], beta[:j]
            beta[j] = norm
            v = w / norm
    return alpha, beta


def gauss_quadrature(alpha: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nodes (Ritz values) and weights (first eigenvector components squared) of T."""
    t = np.diag(alpha) + np.diag(beta, 1) + np.diag(beta, -1)
    nodes, vectors = np.linalg.eigh(t)
    return nodes, vectors[0] ** 2


def smoothed_density(nodes: np.ndarray, weights: np.ndarray, grid_points: int = 400,
                     sigma_fraction: float = 0.01) -> Density:
    """A Gaussian-smoothed density on a grid from per-run nodes/weights, as plain data.

    ``nodes`` and ``weights`` are ``(runs, m)``; ``sigma`` is ``sigma_fraction`` of the
    spectral range. The returned density integrates to one on the grid (trapezoid rule).
    """
    nodes, weights = np.atleast_2d(nodes), np.atleast_2d(weights)
    weights = weights / weights.sum(1, keepdims=True)
    low, high = nodes.min(), nodes.max()
    span = max(high - low, 1e-12)
    sigma = sigma_fraction * span
    grid = np.linspace(low - 5 * sigma, high + 5 * sigma, grid_points)
    kernel = np.exp(-0.5 * ((grid[None, None, :] - nodes[..., None]) / sigma) ** 2)
    kernel /= sigma * np.sqrt(2 * np.pi)
    per_run = (weights[..., None] * kernel).sum(1)
    per_run /= np.trapezoid(per_run, grid)[:, None]
    density = per_run.mean(0)
    spread = per_run.std(0, ddof=1) if len(per_run) > 1 else np.zeros_like(density)
    return Density(grid=grid, values=density, nodes=nodes, weights=weights, sigma=float(sigma), spread=spread)


def slq(problem: Problem, opts: dict) -> Estimate:
    """Spectral density by stochastic Lanczos quadrature, float64, full re-orthogonalisation; the
    density's spread over the probe vectors and the trace's standard error over them.

    The Lanczos vectors are float64; the products are taken in the model's float type (a product
    then costs about a gradient)."""
    generator = torch.Generator().manual_seed(opts["seed"])
    dtype = next(problem.model.parameters()).dtype
    matvec = lambda v: problem.hvp_batch(v[None].to(dtype))[0].double()
    all_nodes, all_weights = [], []
    for _ in range(opts["runs"]):
        start = (torch.randint(0, 2, (problem.num_params,), generator=generator).double() * 2 - 1).to(problem.device)
        nodes, weights = gauss_quadrature(*lanczos_tridiagonal(matvec, start, opts["iterations"]))
        pad = opts["iterations"] - len(nodes)  # early exit on an invariant subspace
        all_nodes.append(np.pad(nodes, (0, max(pad, 0)), constant_values=nodes[-1]))
        all_weights.append(np.pad(weights, (0, max(pad, 0))))
    nodes, weights = np.array(all_nodes), np.array(all_weights)
    traces = problem.num_params * (nodes * weights).sum(1)
    from .matrix_free import standard_error

    return Estimate(trace=float(traces.mean()), trace_standard_error=standard_error(traces),
                    top=np.array([nodes.max()]), bottom=np.array([nodes.min()]), density=smoothed_density(nodes, weights))
