"""The exact methods through the registry: spectrum, trace, products, memory."""

import pytest
import torch

from factories import product_columns, tiny_problem
from core.methods import compute_result

ACTIVATIONS = ["relu", "tanh", "sigmoid", "gelu", "leaky_relu", "softplus"]


def test_exact_methods_report_trace_and_spectrum():
    problem = tiny_problem("relu", dtype=torch.float32)
    result = compute_result("exact_hessian", problem)
    assert result.ok and len(result.spectrum) == problem.num_params
    assert result.trace == pytest.approx(result.spectrum.sum(), rel=1e-5)
    assert result.matvecs == product_columns(problem)  # a unit off on the batch, the head's block: no products
    ggn = compute_result("exact_ggn", problem)
    assert ggn.matrix == "ggn" and ggn.spectrum[0] > -1e-6


def test_exact_method_reports_its_dense_matrix_in_peak_memory():
    problem = tiny_problem("relu", hidden=(32,), inputs=100, n=50, dtype=torch.float32)
    result = compute_result("exact_hessian", problem)
    p = problem.num_params
    assert result.peak_memory_bytes is not None and result.peak_memory_bytes >= 4 * p * p
    assert result.peak_memory_bytes < 8 * 4 * p * p
