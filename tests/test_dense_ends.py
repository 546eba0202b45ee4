"""The end eigenvectors of a dense matrix by certified block Krylov (core.curvature.dense.krylov_ends)
against eigh, its fallback to the tridiagonalisation, and the matrix left as it was."""

import numpy as np
import pytest
import torch

from core import subspaces
from core.curvature import dense
from factories import tiny_problem

K = 10


def _eigh(matrix):
    values, vectors = torch.linalg.eigh(matrix.double())
    return values.numpy(), vectors.numpy()


def _assert_ends_match_eigh(found, matrix, rtol=1e-4, ends=("top", "bottom")):
    """Every returned pair is an eigenpair of ``matrix`` (residual), its value eigh's k-th from the
    end, and each end's span is eigh's (the ends of these matrices are separated from the rest)."""
    values, vectors = _eigh(matrix)
    m = matrix.double().numpy()
    scale = np.abs(values).max()
    for end, exact_values, exact_vectors in (("top", values[::-1][:K], vectors[:, ::-1][:, :K].T),
                                             ("bottom", values[:K], vectors[:, :K].T)):
        if end not in ends:
            continue
        v = np.asarray(found[f"{end}_vectors"], dtype=np.float64)
        np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-6)
        residuals = np.linalg.norm(v @ m - found[f"{end}_values"][:, None] * v, axis=1)
        assert residuals.max() <= rtol * scale, (end, residuals)
        np.testing.assert_allclose(found[f"{end}_values"], exact_values, atol=rtol * scale)
        assert subspaces.overlap(exact_vectors, v) == pytest.approx(1.0, abs=1e-4), end


def _hessian_like(n, seed=0):
    """Q diag(λ) Q^T with a few large outliers, a bulk near zero and a few negative values: the
    shape of a trained network's Hessian spectrum (float32, as the exact methods build it)."""
    rng = np.random.default_rng(seed)
    outliers = np.linspace(20.0, 2.0, 9)
    negative = -np.linspace(0.3, 0.05, 12)
    bulk = rng.normal(0.0, 0.02, n - 21) * np.abs(rng.standard_normal(n - 21))
    values = np.concatenate([outliers, negative, bulk])
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    matrix = (q * values) @ q.T
    return torch.from_numpy((matrix + matrix.T) / 2).float()


def test_krylov_ends_of_a_hessian_like_matrix_are_eighs_and_leave_the_matrix_as_it_was(monkeypatch):
    monkeypatch.setattr(dense, "KRYLOV_ENDS_FROM", 2400)  # as for a matrix past it, at a test's size
    matrix = _hessian_like(2400)
    before = matrix.clone()
    found = dense.krylov_ends(matrix, dense.eigenvalues(matrix), K)
    assert found is not None  # certified, not the fallback
    assert torch.equal(matrix, before)  # the shifted diagonal restored bit for bit
    _assert_ends_match_eigh(found, matrix)
    chosen = dense.eigen_ends(matrix, K)  # from KRYLOV_ENDS_FROM rows on: this answer
    np.testing.assert_array_equal(chosen["top_vectors"], found["top_vectors"])


def test_krylov_ends_of_a_networks_hessian_and_ggn_are_eighs():
    problem = tiny_problem("tanh", hidden=(40,), inputs=40, n=64, dtype=torch.float32)  # P = 2,050
    for which in ("hessian", "ggn"):
        matrix = dense.dense_matrix(problem, which)
        found = dense.krylov_ends(matrix, dense.eigenvalues(matrix), K)
        assert found is not None, which
        values = _eigh(matrix)[0]
        np.testing.assert_allclose(found["values"], values, atol=1e-5 * np.abs(values).max())
        if which == "hessian":
            _assert_ends_match_eigh(found, matrix)
        else:  # the GGN's bottom is its null space (rank <= N (C - 1) = 576): any unit vectors in it
            _assert_ends_match_eigh(found, matrix, ends=("top",))
            residuals = np.linalg.norm(found["bottom_vectors"] @ matrix.double().numpy(), axis=1)
            assert residuals.max() <= 1e-4 * np.abs(values).max()


def test_uncertified_krylov_pairs_fall_back_to_the_tridiagonalisation(monkeypatch):
    matrix = _hessian_like(2400, seed=1)
    monkeypatch.setattr(dense, "KRYLOV_ENDS_FROM", 2400)  # eigen_ends tries Krylov first
    monkeypatch.setattr(dense, "KRYLOV_MAX_STEPS", 2)  # a 32-vector basis: the bottom end is not certified
    assert dense.krylov_ends(matrix, dense.eigenvalues(matrix), K) is None
    found = dense.eigen_ends(matrix, K)
    _assert_ends_match_eigh(found, matrix)
