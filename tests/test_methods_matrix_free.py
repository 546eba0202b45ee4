"""Lanczos, Hutchinson, Hutch++, XTrace and SLQ against the exact spectrum and trace."""

import numpy as np
import pytest
import torch

from factories import SMALL
from core import pipeline
from core.curvature import dense
from core.methods import compute_result
from core.methods.matrix_free import hutchinson_samples


def test_lanczos_top_and_bottom_equal_eigvalsh(relu_problem, dense_reference):
    _, _, values = dense_reference
    result = compute_result("lanczos", relu_problem, {"k": 6})
    np.testing.assert_allclose(result.top, values[::-1][:6], rtol=1e-6)
    np.testing.assert_allclose(result.bottom, values[:6], rtol=1e-6, atol=1e-6 * abs(values).max())
    assert result.bottom[0] < 0  # negative curvature is found


def test_hutchinson_and_hutchpp_are_unbiased_and_hutchpp_has_lower_error():
    # a trained classifier has a few outlier eigenvalues over a bulk (a decaying spectrum):
    # Hutch++ spends a third of its products capturing them exactly
    config = SMALL.replace(dataset="digits", hidden=(4,), train_subset=1000, hessian_batch_size=200)
    problem = pipeline.build_problem(config)
    exact_trace = float(torch.trace(dense.dense_matrix(problem, dtype=torch.float64)))
    budget, seeds = 30, 60
    hutch = np.array([hutchinson_samples(problem, budget, s).mean() for s in range(seeds)])
    hpp = np.array([compute_result("hutchpp", problem, {"samples": budget, "seed": s}).trace for s in range(seeds)])
    for estimates in (hutch, hpp):
        stderr = estimates.std(ddof=1) / np.sqrt(seeds)
        assert abs(estimates.mean() - exact_trace) < 3 * stderr + 1e-6 * abs(exact_trace)
    rmse = lambda e: np.sqrt(np.mean((e - exact_trace) ** 2))
    assert rmse(hpp) < rmse(hutch)


def test_slq_density_integrates_to_one_and_has_mean_trace_over_p(relu_problem, dense_reference):
    h, _, values = dense_reference
    result = compute_result("slq", relu_problem, {"iterations": 40, "runs": 30})
    grid, density = result.density.grid, result.density.values
    assert np.trapezoid(density, grid) == pytest.approx(1.0, abs=1e-6)
    mean = np.trapezoid(grid * density, grid)
    exact_mean = values.mean()
    assert mean == pytest.approx(exact_mean, rel=0.15)
    assert result.top[0] == pytest.approx(values[-1], rel=1e-6)  # extreme Ritz value converged


def test_trace_estimators_agree_with_exact_at_many_samples(relu_problem, dense_reference):
    h, _, _ = dense_reference
    t = float(torch.trace(h))
    assert compute_result("xtrace", relu_problem, {"samples": 60}).trace == pytest.approx(t, rel=0.2)
    assert compute_result("pyhessian_hutchinson", relu_problem, {"samples": 60}).samples.shape == (60,)


def test_ggn_lanczos_top_equals_eigvalsh_of_the_dense_ggn(relu_problem):
    ggn = dense.dense_matrix(relu_problem, "ggn", dtype=torch.float64)
    values = torch.linalg.eigvalsh(ggn).numpy()
    result = compute_result("ggn_lanczos", relu_problem, {"k": 4})
    assert result.ok and result.matrix == "ggn" and result.bottom is None
    np.testing.assert_allclose(result.top, values[::-1][:4], rtol=1e-6)
    assert result.matvecs > 0 and result.top[0] > 0
