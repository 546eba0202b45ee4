"""The constant-input reduction against the full matrix."""

from dataclasses import replace

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


def test_the_cost_model_knows_the_null_space_the_reduction_removes(fresh_cache):
    """The budget's P' (before any training, from the data alone) is the reduction's, and the dense
    estimate builds and solves P' rows, not P: a cheaper estimate than the full matrix's."""
    from core import pipeline
    from core.budget import estimate_dense
    from core.config import ExperimentConfig
    from core.curvature.reduction import constant_input_reduction

    config = ExperimentConfig(dataset="digits", hidden=(8,), epochs=1, hessian_batch_size=200)
    before_training = pipeline.size(config)
    problem = pipeline.build_problem(config)
    reduction = constant_input_reduction(problem)
    assert reduction is not None and reduction.null_dimension > 0  # digits: blank border pixels
    assert before_training.known_null == problem.size.known_null == reduction.null_dimension
    pipeline._size.cache_clear()
    assert pipeline.size(config).known_null == reduction.null_dimension  # from the training record's data
    assert before_training.solved_params == reduction.reduced_size
    full = replace(before_training, known_null=0)
    assert estimate_dense(before_training).seconds < estimate_dense(full).seconds
    assert estimate_dense(before_training).gib == estimate_dense(full).gib  # the full matrix can be asked for
    batch_norm = config.replace(batch_norm=True)
    assert pipeline.size(batch_norm).known_null == 0 == pipeline.build_problem(batch_norm).size.known_null
