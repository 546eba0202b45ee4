"""The constant-input reduction against the full matrix."""

import numpy as np
import pytest
import torch

from factories import tiny_problem
from core.curvature import dense

ACTIVATIONS = ["relu", "tanh", "sigmoid", "gelu", "leaky_relu", "softplus"]


@pytest.mark.parametrize("which, activation", [("hessian", "relu"), ("hessian", "tanh"), ("ggn", "relu")])
def test_constant_input_reduction_gives_the_full_spectrum_trace_and_diagonal(which, activation):
    problem = tiny_problem(activation, hidden=(5, 4), inputs=6, n=20)
    problem.x[:, 1] = 0.7  # two inputs constant over the batch, like MNIST's border pixels
    problem.x[:, 4] = -1.3
    full = dense.dense_matrix(problem, which, dtype=torch.float64)
    found = dense.spectrum(problem, which, dtype=torch.float64)
    assert found["null_dimension"] == 5 * 2
    np.testing.assert_allclose(found["eigenvalues"], dense.eigenvalues(full), atol=1e-12, rtol=1e-9)
    assert found["trace"] == pytest.approx(float(torch.trace(full)), rel=1e-12)
    np.testing.assert_allclose(found["diagonal"], torch.diagonal(full).numpy(), atol=1e-14, rtol=1e-10)


def test_no_constant_input_means_no_reduction():
    from core.curvature.reduction import constant_input_reduction

    assert constant_input_reduction(tiny_problem("relu")) is None


@pytest.mark.parametrize("which, activation", [("hessian", "tanh"), ("ggn", "relu")])
def test_the_full_matrix_is_rebuilt_exactly_from_the_reduced_one(which, activation):
    from core.curvature.reduction import constant_input_reduction

    problem = tiny_problem(activation, hidden=(5, 4), inputs=6, n=20)
    problem.x[:, 1] = 0.7
    problem.x[:, 4] = -1.3
    reduction = constant_input_reduction(problem)
    full = dense.dense_matrix(problem, which, dtype=torch.float64)
    reduced = dense.reduced_matrix(problem, reduction, which, dtype=torch.float64)
    torch.testing.assert_close(reduction.full_matrix(reduced), full, rtol=1e-9, atol=1e-12)
    vectors = torch.randn(3, reduction.reduced_size, dtype=torch.float64)
    torch.testing.assert_close(reduction.project(reduction.lift(vectors)), vectors)  # E^T E = I


def test_the_block_report_reuses_the_exact_methods_matrices_in_the_same_process():
    problem = tiny_problem("relu", hidden=(5, 4), inputs=6, n=20)
    problem.x[:, 1] = 0.7
    problem.key = "a problem"
    found = {which: dense.spectrum(problem, which) for which in ("hessian", "ggn")}
    assert found["hessian"]["null_dimension"] == 5  # one constant input, 5 first-layer units
    before = problem.hvp_count
    for which in ("hessian", "ggn"):
        rebuilt = dense.full_matrix(problem, which)
        torch.testing.assert_close(rebuilt, dense.dense_matrix(problem, which), rtol=1e-4, atol=1e-5)
    assert problem.hvp_count - before == 2 * problem.num_params  # only the two reference builds above
    other = tiny_problem("relu", hidden=(5, 4), inputs=6, n=20)  # no key: always built
    before = other.hvp_count
    dense.full_matrix(other, "hessian")
    assert other.hvp_count - before == other.num_params
