r"""Comparison metrics of an approximation against the exact Hessian.

* per-rank relative error of the top-k: :math:`|\hat\lambda_i - \lambda_i| / |\lambda_i|`;
* trace relative error :math:`|\hat t - t| / |t|`;
* Wasserstein-1 distance between the two spectra seen as uniform distributions over their
  eigenvalues (``scipy.stats.wasserstein_distance``), where both have all P eigenvalues;
* for stochastic trace estimators: error against sample count, mean and spread over repeats.
"""

from __future__ import annotations

import numpy as np

from .results import Result


def relative_errors(estimate: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """Per-entry relative error over the common length (``nan`` where the exact value is 0)."""
    k = min(len(estimate), len(exact))
    exact_k = np.asarray(exact[:k], dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.abs(np.asarray(estimate[:k], dtype=np.float64) - exact_k) / np.abs(exact_k)


def largest_magnitude(values: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` entries of largest absolute value, by decreasing absolute value.

    >>> largest_magnitude(np.array([3.0, -5.0, 1.0]), 2).tolist()
    [-5.0, 3.0]
    """
    values = np.asarray(values, dtype=np.float64)
    return values[np.argsort(-np.abs(values), kind="stable")][:k]


def top_k_errors(result: Result, reference: Result, k: int, by_magnitude: bool = False) -> np.ndarray:
    """Per-rank relative errors of ``result``'s top-k against ``reference``'s.

    With ``by_magnitude`` (power iteration converges to the largest |λ|, negative ones included),
    both sides are ranked by |λ| and compared with the reference's largest-|λ| eigenvalues: from
    its full spectrum, or from both ends it has (a Lanczos reference's top and bottom).
    """
    if result.top is None or reference.top is None:
        return np.array([])
    if by_magnitude:
        ends = reference.spectrum if reference.spectrum is not None else np.concatenate(
            [reference.top, reference.bottom if reference.bottom is not None else []])
        return relative_errors(largest_magnitude(result.top, k), largest_magnitude(ends, k))
    return relative_errors(result.top_k(k), reference.top_k(k))


def trace_error(result: Result, reference: Result) -> float | None:
    if result.trace is None or reference.trace is None or reference.trace == 0:
        return None
    return abs(result.trace - reference.trace) / abs(reference.trace)


def spectrum_distance(result: Result, reference: Result) -> float | None:
    """Wasserstein-1 distance between full spectra, or None if either lacks one."""
    from scipy.stats import wasserstein_distance  # imported when used: scipy.stats is slow to import

    if result.spectrum is None or reference.spectrum is None:
        return None
    return float(wasserstein_distance(result.spectrum, reference.spectrum))


def running_means(samples: np.ndarray) -> np.ndarray:
    """Estimate after 1, 2, ..., m samples."""
    samples = np.asarray(samples, dtype=np.float64)
    return np.cumsum(samples) / np.arange(1, len(samples) + 1)


def sample_curve(repeats: list[np.ndarray], counts: list[int]) -> list[dict]:
    """Estimate vs sample count: mean, std and 10 % / 90 % quantiles over repeats of the running means."""
    means = np.array([running_means(r) for r in repeats])  # (repeats, m)
    rows = []
    for m in counts:
        values = means[:, m - 1]
        rows.append({"samples": int(m), "mean": float(values.mean()),
                     "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                     "q10": float(np.quantile(values, 0.1)), "q90": float(np.quantile(values, 0.9))})
    return rows


def relative_rmse(mean: float, std: float, exact: float) -> float:
    r"""Root mean squared error of an estimator relative to the exact value, from the mean and
    spread of its estimates: :math:`\sqrt{\sigma^2 + (\bar t - t)^2} / |t|` (variance plus bias squared).

    >>> relative_rmse(11.0, 0.0, 10.0), relative_rmse(10.0, 2.0, 10.0)
    (0.1, 0.2)
    """
    return float(np.sqrt(std**2 + (mean - exact) ** 2) / abs(exact))


#: the densities the block-heterogeneity distance compares: points on the symlog axis, and the
#: Gaussian smoothing width on it (in decades)
DENSITY_POINTS, DENSITY_SIGMA = 400, 0.15


def block_spectrum_distances(spectra: list[np.ndarray]) -> np.ndarray:
    r"""Pairwise Jensen-Shannon distances between the spectral densities of Hessian blocks
    (Zhang et al. 2024, "Why Transformers Need Adam: A Hessian Perspective", Sec. 3): each
    block's eigenvalues on a symmetric log axis :math:`s(\lambda) = \mathrm{sign}(\lambda)
    \log_{10}(1 + |\lambda| / c)` (c: :math:`10^{-6}` of the largest :math:`|\lambda|` over all
    blocks, so magnitudes, which is where blocks differ, are compared in decades), smoothed by a
    Gaussian of :data:`DENSITY_SIGMA` decades on a common grid, then
    :math:`\sqrt{\mathrm{JS}(p, q)}` in bits (0: the same density, 1: disjoint).

    >>> d = block_spectrum_distances([np.array([1.0, 2.0]), np.array([1.0, 2.0]), np.array([1e4, 2e4])])
    >>> float(d[0, 1]) < 1e-12, float(d[0, 2]) > 0.9
    (True, True)
    """
    from scipy.spatial.distance import jensenshannon

    largest = max(float(np.max(np.abs(s))) for s in spectra) or 1.0
    scale = 1e-6 * largest
    axis = [np.sign(s) * np.log10(1 + np.abs(s) / scale) for s in spectra]
    low, high = min(a.min() for a in axis) - 3 * DENSITY_SIGMA, max(a.max() for a in axis) + 3 * DENSITY_SIGMA
    grid = np.linspace(low, high, DENSITY_POINTS)
    densities = [np.exp(-0.5 * ((grid[:, None] - a[None, :]) / DENSITY_SIGMA) ** 2).sum(axis=1) for a in axis]
    count = len(spectra)
    distances = np.zeros((count, count))
    for i in range(count):
        for j in range(i + 1, count):
            distances[i, j] = distances[j, i] = jensenshannon(densities[i], densities[j], base=2)
    return distances
