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
