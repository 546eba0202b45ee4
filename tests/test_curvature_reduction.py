"""The constant-input reduction against the full matrix."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from factories import product_columns, tiny_problem
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
    live = product_columns(problem)  # units off on the batch and the head's block take no products
    assert problem.hvp_count - before == 2 * live  # only the two reference builds above
    other = tiny_problem("relu", hidden=(5, 4), inputs=6, n=20)  # no key: always built
    before = other.hvp_count
    dense.full_matrix(other, "hessian")
    assert other.hvp_count - before == live


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


@pytest.mark.parametrize("which, constant_inputs", [("hessian", False), ("hessian", True), ("ggn", True)])
def test_a_dead_units_zero_rows_are_deflated_exactly_values_vectors_and_trace(which, constant_inputs):
    """A ReLU unit off on every example has zero Hessian rows at its incoming and outgoing weights:
    removed before the solve, appended as exact zeros; the end vectors are the full matrix's."""
    problem = tiny_problem("relu", hidden=(5, 4), inputs=6, n=20)
    if constant_inputs:
        problem.x[:, 1] = 0.7
    first = next(m for m in problem.model.modules() if isinstance(m, torch.nn.Linear))
    with torch.no_grad():
        first.bias[2] = -100.0  # unit 2 of the first hidden layer is dead on the whole batch
    full = dense.dense_matrix(problem, which, dtype=torch.float64)
    found = dense.spectrum(problem, which, dtype=torch.float64, vectors=3)
    zero_rows_of_full = int((full == 0).all(dim=1).sum())
    if constant_inputs:  # the dead unit's weight on the constant input is in that null space already
        assert 10 <= found["zero_rows"] < zero_rows_of_full
    else:  # at least its 6 incoming weights and bias and its 4 outgoing weights (other units may be off too)
        assert 11 <= found["zero_rows"] == zero_rows_of_full
    assert found["null_dimension"] == (5 if constant_inputs else 0)
    np.testing.assert_allclose(found["eigenvalues"], dense.eigenvalues(full), atol=1e-12, rtol=1e-9)
    assert found["trace"] == pytest.approx(float(torch.trace(full)), rel=1e-12)
    m = full.numpy()
    for end in ("top", "bottom"):
        v, values = found[f"{end}_vectors"].astype(np.float64), found[f"{end}_values"]
        assert v.shape == (3, problem.num_params)
        residuals = np.linalg.norm(v @ m - values[:, None] * v, axis=1)
        assert residuals.max() <= 1e-5 * np.abs(found["eigenvalues"]).max(), (end, residuals)


def test_no_zero_row_means_no_deflation():
    from core.curvature.reduction import nonzero_rows

    problem = tiny_problem("tanh", hidden=(4,), inputs=5, n=12)
    assert nonzero_rows(dense.dense_matrix(problem, "hessian", dtype=torch.float64)) is None
    assert dense.spectrum(problem, "hessian", dtype=torch.float64)["zero_rows"] == 0


def test_a_dead_units_rows_are_not_built_and_a_wrong_skip_is_caught(monkeypatch):
    """The build skips the products of units off on the batch (their rows are zero); a mask that
    flags a unit that is on is caught by the built rows' entries at it, and every row is built."""
    from core.problem import Problem

    problem = tiny_problem("relu", hidden=(5, 4), inputs=6, n=20)
    first = next(m for m in problem.model.modules() if isinstance(m, torch.nn.Linear))
    with torch.no_grad():
        first.bias[2] = -100.0
    reference = torch.func.hessian(problem.loss_at)(problem.flat_params())  # autograd twice
    off = problem.off_parameters
    assert off is not None and bool(off[first.weight.shape[1] * 2:first.weight.shape[1] * 3].all())
    before = problem.hvp_count
    built = dense.dense_matrix(problem, "hessian", dtype=torch.float64)
    assert problem.hvp_count - before == product_columns(problem)
    torch.testing.assert_close(built, reference, rtol=1e-9, atol=1e-12)
    wrong = off.clone()
    wrong[:first.weight.shape[1]] = True  # unit 0's incoming weights: it is on
    monkeypatch.setattr(Problem, "off_parameters", property(lambda self: wrong))
    before = problem.hvp_count
    rebuilt = dense.dense_matrix(problem, "hessian", dtype=torch.float64)
    torch.testing.assert_close(rebuilt, reference, rtol=1e-9, atol=1e-12)
    assert problem.hvp_count - before > problem.num_params - problem.head_params  # the skipped try, then every row
