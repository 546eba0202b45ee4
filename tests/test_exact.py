"""The exact Hessian and GGN against ground truth: finite differences, torch.func, identities."""

import numpy as np
import pytest
import torch

from conftest import tiny_problem
from core import exact
from core.methods import run_method

ACTIVATIONS = ["relu", "tanh", "sigmoid", "gelu", "leaky_relu", "softplus"]


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_fast_products_equal_torch_func(activation):
    problem = tiny_problem(activation)
    gen = torch.Generator().manual_seed(1)
    vectors = torch.randn(3, problem.num_params, generator=gen, dtype=torch.float64)
    fast_h, fast_g = problem.hvp_batch(vectors), problem.ggn_vp_batch(vectors)
    for v, h, g in zip(vectors, fast_h, fast_g):
        torch.testing.assert_close(h, problem.hvp_autodiff(v), rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(g, problem.ggn_vp_autodiff(v), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_dense_hessian_matches_central_finite_differences(activation):
    problem = tiny_problem(activation, hidden=(4,), inputs=3, n=8)
    hessian = exact.dense_matrix(problem, dtype=torch.float64)
    theta = problem.flat_params()
    eps = 1e-6
    fd = torch.empty_like(hessian)
    for i in range(problem.num_params):
        e = torch.zeros_like(theta)
        e[i] = eps
        fd[:, i] = (problem.gradient(theta + e) - problem.gradient(theta - e)) / (2 * eps)
    assert torch.allclose(hessian, fd, atol=1e-6 * float(hessian.abs().max()) + 1e-9)
    assert float(hessian.abs().max()) > 1e-3  # not trivially zero


def test_hessian_symmetric_trace_is_sum_of_eigenvalues_and_hvp_is_matrix_product():
    problem = tiny_problem("tanh")
    raw = torch.cat([problem.hvp_batch(torch.eye(problem.num_params, dtype=torch.float64)[i:i + 1])
                     for i in range(problem.num_params)])
    assert torch.allclose(raw, raw.T, atol=1e-12)
    hessian = exact.dense_matrix(problem, dtype=torch.float64)
    values = exact.eigenvalues(hessian)
    assert np.all(np.diff(values) >= 0)
    assert float(torch.trace(hessian)) == pytest.approx(values.sum(), rel=1e-10, abs=1e-12)
    v = torch.randn(problem.num_params, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(problem.hvp(v), hessian @ v, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("activation", ["relu", "tanh", "gelu"])
def test_ggn_is_positive_semidefinite(activation):
    problem = tiny_problem(activation)
    values = exact.eigenvalues(exact.dense_matrix(problem, "ggn", dtype=torch.float64))
    assert values.min() > -1e-10 * values.max()


def _blocks(activation):
    problem = tiny_problem(activation, hidden=(5, 4))
    h = exact.dense_matrix(problem, "hessian", dtype=torch.float64)
    g = exact.dense_matrix(problem, "ggn", dtype=torch.float64)
    return {(b["row"], b["col"]): b for b in exact.block_report(problem, h, g, agree_tol=1e-9)}, h, g


def test_relu_hessian_equals_ggn_within_layers_but_not_across():
    blocks, h, g = _blocks("relu")
    within = [b for b in blocks.values() if b["within_layer"]]
    adjacent = [blocks[("fc1", "fc2")], blocks[("fc2", "fc3")]]
    assert len(within) == 3 and all(b["agree"] for b in within)
    assert all(not b["agree"] and b["relative_difference"] > 1e-3 for b in adjacent)
    assert exact.eigenvalues(h)[0] < -1e-6  # the Hessian has negative curvature, the GGN cannot
    assert exact.eigenvalues(g)[0] > -1e-10


def test_tanh_hessian_differs_from_ggn_within_hidden_layers():
    blocks, _, _ = _blocks("tanh")
    assert not blocks[("fc1", "fc1")]["agree"] and not blocks[("fc2", "fc2")]["agree"]
    assert blocks[("fc3", "fc3")]["agree"]  # the output layer is linear in its own weights


def test_exact_methods_report_trace_and_spectrum():
    problem = tiny_problem("relu", dtype=torch.float32)
    result = run_method("exact_hessian", problem)
    assert result.ok and len(result.spectrum) == problem.num_params
    assert result.trace == pytest.approx(result.spectrum.sum(), rel=1e-5)
    assert result.matvecs == problem.num_params
    ggn = run_method("exact_ggn", problem)
    assert ggn.matrix == "ggn" and ggn.spectrum[0] > -1e-6


@pytest.mark.parametrize("which, activation", [("hessian", "relu"), ("hessian", "tanh"), ("ggn", "relu")])
def test_constant_input_reduction_gives_the_full_spectrum_trace_and_diagonal(which, activation):
    problem = tiny_problem(activation, hidden=(5, 4), inputs=6, n=20)
    problem.x[:, 1] = 0.7  # two inputs constant over the batch, like MNIST's border pixels
    problem.x[:, 4] = -1.3
    full = exact.dense_matrix(problem, which, dtype=torch.float64)
    found = exact.spectrum(problem, which, dtype=torch.float64)
    assert found["null_dimension"] == 5 * 2
    np.testing.assert_allclose(found["eigenvalues"], exact.eigenvalues(full), atol=1e-12, rtol=1e-9)
    assert found["trace"] == pytest.approx(float(torch.trace(full)), rel=1e-12)
    np.testing.assert_allclose(found["diagonal"], torch.diagonal(full).numpy(), atol=1e-14, rtol=1e-10)


def test_no_constant_input_means_no_reduction():
    from core.reduction import constant_input_reduction

    assert constant_input_reduction(tiny_problem("relu")) is None


def test_exact_method_reports_its_dense_matrix_in_peak_memory():
    problem = tiny_problem("relu", hidden=(32,), inputs=100, n=50, dtype=torch.float32)
    result = run_method("exact_hessian", problem)
    p = problem.num_params
    assert result.peak_memory_bytes is not None and result.peak_memory_bytes >= 4 * p * p
    assert result.peak_memory_bytes < 8 * 4 * p * p
