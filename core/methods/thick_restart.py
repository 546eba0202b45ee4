r"""Thick-restart Lanczos for both ends of a symmetric spectrum, with certificates and a budget.

Wu & Simon (2000), "Thick-restart Lanczos method for large symmetric eigenvalue problems";
Stathopoulos & Saad (1998) for keeping Ritz vectors at both ends. One Krylov space serves the
top-k and the bottom-k at once (ARPACK's ``eigsh`` needs a run for each end), and the run can
stop where its budget ends with what it has: written here because no library we use offers
either (``scipy.sparse.linalg.eigsh`` stops only on convergence or a restart count, and keeps no
state when interrupted).

With the basis :math:`V_j` (rows orthonormal, fully re-orthogonalised twice: "twice is
enough", Parlett) and :math:`T_j = V_j H V_j^\top` built column by column, every step keeps
:math:`H V_j^\top = V_j^\top T_j + \beta_j v_{j+1} e_j^\top`. A Ritz pair
:math:`(\theta_i, y_i = V_j^\top s_i)` of :math:`T_j` has the residual
:math:`\lVert H y_i - \theta_i y_i\rVert = \beta_j |s_{j,i}|`, which decides convergence and
which pairs to keep at a restart: the ``k + extra`` largest and smallest, so
:math:`T` becomes an arrow (Ritz values on the diagonal, the couplings
:math:`\beta_j s_{j,i}` in one row) and the expansion goes on from :math:`v_{j+1}`.

**Certificates.** The returned residuals are computed explicitly at the end, one batched product
of the Ritz vectors: :math:`r_i = \lVert H y_i - \theta_i y_i\rVert_2` with :math:`\lVert
y_i\rVert = 1`. For a symmetric :math:`H` some eigenvalue :math:`\lambda` satisfies
:math:`|\lambda - \theta_i| \le r_i` (Parlett, The Symmetric Eigenvalue Problem, Thm. 4.5.1),
so every value is certified by its residual whether or not it converged.

>>> import torch
>>> h = torch.diag(torch.arange(1.0, 51.0, dtype=torch.float64))
>>> found = thick_restart_lanczos(lambda rows: rows @ h, 50, 3, 2, tol=1e-10, seed=0)
>>> [round(v, 6) for v in found.top.tolist()], [round(v, 6) for v in found.bottom.tolist()]
([50.0, 49.0, 48.0], [1.0, 2.0])
>>> bool(found.top_converged.all()) and float(found.top_residuals.max()) < 1e-8
True
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass
class LanczosOutcome:
    """What a run found: values (top descending, bottom ascending), their explicit residuals, which
    converged (residual at most ``tol`` times the largest |θ|, or within twice what the
    iteration's own products are off from exact ones: no iteration on them can do better), the
    products used, why it stopped (``converged``, ``product cap``, ``time budget``, ``invariant
    subspace``, or ``rounding floor``: converged as far as the iteration's cheaper products allow,
    the certificates, taken with exact products, above ``tol``) and the measured
    seconds of one step (a product and its re-orthogonalisation; the median over the run, the
    first product left out: it also builds what later ones reuse), what the time cap is computed from;
    ``top_vectors`` / ``bottom_vectors`` are the unit Ritz vectors, ``(k, n)`` float32, row i with
    value i: each is within its residual's reach of an eigenvector only where the gap to the rest of
    the spectrum is large (Davis-Kahan: sin of the angle at most residual / gap)."""

    top: np.ndarray
    bottom: np.ndarray
    top_residuals: np.ndarray
    bottom_residuals: np.ndarray
    top_converged: np.ndarray
    bottom_converged: np.ndarray
    products: int
    stopped: str
    seconds_per_product: float
    restarts: int
    top_vectors: np.ndarray | None = None
    bottom_vectors: np.ndarray | None = None


def basis_size(k_top: int, k_bottom: int, n: int) -> int:
    """The Krylov basis kept between restarts: room for both ends' wanted pairs and as many again.

    >>> basis_size(10, 10, 10_000), basis_size(10, 0, 10_000), basis_size(3, 3, 8)
    (60, 30, 8)
    """
    wanted = k_top + k_bottom
    return int(min(n, max(3 * wanted, wanted + 20)))


def thick_restart_lanczos(apply: Callable, n: int, k_top: int, k_bottom: int,
                          tol: float = 1e-5, max_products: int = 5000, deadline: float | None = None,
                          seed: int = 0, device=None, certify: Callable | None = None,
                          certify_cost: float = 1.0) -> LanczosOutcome:
    """The ``k_top`` largest and ``k_bottom`` smallest eigenpairs of the symmetric operator ``apply``.

    Args:
        apply: rows of a ``(c, n)`` float64 tensor mapped to rows of ``(H @ rows.T).T``.
        n: the dimension; ``k_top + k_bottom`` must be below it.
        tol: a pair has converged when its residual is at most ``tol`` times the largest |θ|.
        max_products: the most products to apply (the final residual check included).
        deadline: a ``time.monotonic()`` after which no product starts; the run then returns
            what it has (the explicit residual check's products are reserved first).
        seed: the start vector's seed (Gaussian).
        certify: the products the final residuals are computed with (default ``apply``): exact
            float64 ones, when ``apply`` is a cheaper float32 one, so the certificates hold for H
            itself.
        certify_cost: what one of ``certify``'s products costs in ``apply``'s: the time the final
            check takes after the iteration (``certify``'s products and, when given, ``apply``'s on
            the same vectors for the rounding floor) is reserved before the deadline.
    """
    import torch

    if not 0 < k_top + k_bottom < n:
        raise ValueError(f"k_top + k_bottom = {k_top + k_bottom} must be between 1 and n - 1 = {n - 1}")
    wanted = k_top + k_bottom
    m = basis_size(k_top, k_bottom, n)
    extra = max(0, (m - wanted) // 3)
    kept_top, kept_bottom = min(k_top + extra, m // 2), min(k_bottom + extra, m // 2) if k_bottom else 0
    generator = torch.Generator().manual_seed(seed)
    start = torch.randn(n, generator=generator, dtype=torch.float64).to(device)
    basis = torch.zeros(m + 1, n, dtype=torch.float64, device=device)
    basis[0] = start / start.norm()
    projected = torch.zeros(m + 1, m + 1, dtype=torch.float64)
    j, products, restarts, beta = 0, 0, 0, 0.0
    per_product, after_first = 0.0, None
    reserved = 1 + wanted * ((certify_cost + 1) if certify is not None else 1)  # products after the iteration
    stopped = "product cap"
    while True:
        while j < m:
            if products + wanted >= max_products:
                break
            # once a typical product is timed (the first also builds what later ones reuse)
            if deadline is not None and after_first and time.monotonic() + per_product * reserved > deadline:
                stopped = "time budget"
                break
            began = time.monotonic()
            w = apply(basis[j : j + 1])[0].to(torch.float64)
            products += 1
            h = basis[: j + 1] @ w
            w = w - basis[: j + 1].T @ h
            correction = basis[: j + 1] @ w  # twice is enough
            w = w - basis[: j + 1].T @ correction
            h = (h + correction).cpu()
            projected[: j + 1, j] = h
            projected[j, : j + 1] = h
            beta = float(w.norm())
            step = time.monotonic() - began  # a product and its re-orthogonalisation
            if after_first is None:  # the first product also builds what later ones reuse: not typical
                after_first, per_product = [], step
            else:
                after_first.append(step)
                per_product = float(np.median(after_first[-16:]))
            if beta <= 1e-12 * max(1.0, float(projected[: j + 1, : j + 1].abs().max())):
                j += 1
                stopped = "invariant subspace"
                break
            basis[j + 1] = w / beta
            projected[j + 1, j] = projected[j, j + 1] = beta
            j += 1
        theta, vectors = torch.linalg.eigh(projected[:j, :j])
        estimates = beta * vectors[j - 1].abs() if stopped != "invariant subspace" else torch.zeros(j, dtype=torch.float64)
        scale = float(theta.abs().max()) if j else 1.0
        ends = _ends(j, k_top, k_bottom)
        if stopped == "invariant subspace" or bool((estimates[ends] <= tol * scale).all()):
            stopped = "converged" if stopped != "invariant subspace" else stopped
            break
        if j < m:  # stopped by the cap or the deadline
            break
        keep = _ends(j, kept_top, kept_bottom)
        coupling = beta * vectors[j - 1, keep]
        rotated = vectors[:, keep].T.to(basis.device) @ basis[:j]
        following = basis[j].clone()
        basis.zero_()
        basis[: len(keep)] = rotated
        basis[len(keep)] = following
        projected.zero_()
        projected[: len(keep), : len(keep)] = torch.diag(theta[keep])
        projected[len(keep), : len(keep)] = coupling
        projected[: len(keep), len(keep)] = coupling
        j = len(keep)
        restarts += 1
    ritz = vectors[:, ends].T.to(basis.device) @ basis[:j]
    ritz = ritz / ritz.norm(dim=1, keepdim=True)
    values = theta[ends].to(basis.device)
    exact = (certify or apply)(ritz).to(torch.float64)
    residuals = (exact - values[:, None] * ritz).norm(dim=1).cpu().numpy()
    products += len(ends)
    floor = np.zeros_like(residuals)
    if certify is not None:  # how far the iteration's own products are from exact ones, vector by vector
        floor = (apply(ritz).to(torch.float64) - exact).norm(dim=1).cpu().numpy()
        products += len(ends)
    values = values.cpu().numpy()
    converged = residuals <= tol * max(scale, 1e-300) + 2 * floor
    if stopped == "converged" and (residuals > tol * max(scale, 1e-300)).any():
        stopped = "rounding floor"
    top = list(range(len(ends)))[::-1][:k_top]  # descending
    bottom = list(range(len(ends)))[:k_bottom]
    return LanczosOutcome(top=values[top], bottom=values[bottom], top_residuals=residuals[top],
                          bottom_residuals=residuals[bottom], top_converged=converged[top],
                          bottom_converged=converged[bottom],
                          products=products, stopped=stopped,
                          seconds_per_product=float(np.median(after_first)) if after_first else per_product,
                          restarts=restarts, top_vectors=ritz[top].float().cpu().numpy(),
                          bottom_vectors=ritz[bottom].float().cpu().numpy())


def _ends(size: int, top: int, bottom: int) -> list[int]:
    """Indices of the ``bottom`` smallest and ``top`` largest of ``size`` ascending values (no repeats).

    >>> _ends(10, 3, 2), _ends(4, 3, 3)
    ([0, 1, 7, 8, 9], [0, 1, 2, 3])
    """
    bottom_part = list(range(min(bottom, size)))
    top_part = list(range(max(size - top, 0), size))
    return sorted(set(bottom_part) | set(top_part))
