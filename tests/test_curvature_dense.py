"""Dense H and G against ground truth: finite differences, identities, the block report."""

import pytest
import torch

from factories import tiny_problem
from core.curvature import dense

ACTIVATIONS = ["relu", "tanh", "sigmoid", "gelu", "leaky_relu", "softplus"]


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_dense_hessian_matches_central_finite_differences(activation):
    problem = tiny_problem(activation, hidden=(4,), inputs=3, n=8)
    hessian = dense.dense_matrix(problem, dtype=torch.float64)
    theta = problem.flat_params()
    eps = 1e-6
    fd = torch.empty_like(hessian)
    for i in range(problem.num_params):
        e = torch.zeros_like(theta)
        e[i] = eps
        fd[:, i] = (problem.gradient(theta + e) - problem.gradient(theta - e)) / (2 * eps)
    assert torch.allclose(hessian, fd, atol=1e-6 * float(hessian.abs().max()) + 1e-9)
    assert float(hessian.abs().max()) > 1e-3  # not trivially zero


@pytest.mark.parametrize("activation", ["relu", "tanh", "gelu"])
def test_ggn_is_positive_semidefinite(activation):
    problem = tiny_problem(activation)
    values = dense.eigenvalues(dense.dense_matrix(problem, "ggn", dtype=torch.float64))
    assert values.min() > -1e-10 * values.max()


def _blocks(activation):
    problem = tiny_problem(activation, hidden=(5, 4))
    h = dense.dense_matrix(problem, "hessian", dtype=torch.float64)
    g = dense.dense_matrix(problem, "ggn", dtype=torch.float64)
    return {(b["row"], b["col"]): b for b in dense.block_report(problem, h, g, agree_tol=1e-9)}, h, g


def test_relu_hessian_equals_ggn_within_layers_but_not_across():
    blocks, h, g = _blocks("relu")
    within = [b for b in blocks.values() if b["within_layer"]]
    adjacent = [blocks[("fc1", "fc2")], blocks[("fc2", "fc3")]]
    assert len(within) == 3 and all(b["agree"] for b in within)
    assert all(not b["agree"] and b["relative_difference"] > 1e-3 for b in adjacent)
    assert dense.eigenvalues(h)[0] < -1e-6  # the Hessian has negative curvature, the GGN cannot
    assert dense.eigenvalues(g)[0] > -1e-10


def test_tanh_hessian_differs_from_ggn_within_hidden_layers():
    blocks, _, _ = _blocks("tanh")
    assert not blocks[("fc1", "fc1")]["agree"] and not blocks[("fc2", "fc2")]["agree"]
    assert blocks[("fc3", "fc3")]["agree"]  # the output layer is linear in its own weights
