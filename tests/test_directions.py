"""Eigenvectors of every method that has them, against eigh of the dense matrix they approximate,
and the subspace measures against their definitions."""

import numpy as np
import pytest
import torch

from factories import tiny_problem
from core import subspaces
from core.curvature import dense
from core.methods import REGISTRY, compute_result
from core.methods.backpack_methods import backpack_quantities
from core.results import KEPT_VECTORS, Result


def _eigh(matrix):
    values, vectors = torch.linalg.eigh(matrix.double())
    return values.numpy()[::-1], vectors.numpy()[:, ::-1].T


def _separated(values, k, gap=1e-3):
    """The ranks i < k whose eigenvalue is apart from both neighbours (their vectors are defined)."""
    scale = np.abs(values).max()
    return [i for i in range(k) if (i == 0 or values[i - 1] - values[i] > gap * scale)
            and values[i] - values[i + 1] > gap * scale]


def _assert_eigenvectors(vectors, values, matrix, rtol=1e-4):
    """Each row is a unit eigenvector of ``matrix`` (float64) with its value: ||Mv - λv|| small."""
    m = matrix.double().numpy()
    v = np.asarray(vectors, dtype=np.float64)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    residuals = np.linalg.norm(v @ m - values[: len(v), None] * v, axis=1)
    assert residuals.max() <= rtol * np.abs(np.linalg.eigvalsh(m)).max(), residuals


@pytest.mark.parametrize("name, which", [("exact_hessian", "hessian"), ("exact_ggn", "ggn")])
def test_exact_vectors_are_eigh_vectors_up_to_sign(relu_problem, dense_reference, name, which):
    h, g, _ = dense_reference
    matrix = h if which == "hessian" else g
    result = compute_result(name, relu_problem)
    values, vectors = _eigh(matrix)
    assert result.top_vectors.shape == (KEPT_VECTORS, relu_problem.num_params)
    _assert_eigenvectors(result.top_vectors, result.top, matrix)
    for i in _separated(values, KEPT_VECTORS):
        assert abs(float(result.top_vectors[i] @ vectors[i])) == pytest.approx(1.0, abs=1e-4), i
    assert subspaces.overlap(vectors[:3], result.top_vectors[:3]) == pytest.approx(1.0, abs=1e-5)
    assert result.bottom_vectors is None  # no page reads them: not computed
    asked = dense.spectrum(relu_problem, which, vectors=KEPT_VECTORS, bottom=True)  # the API's bottom end
    _assert_eigenvectors(asked["bottom_vectors"], asked["bottom_values"], matrix)
    np.testing.assert_allclose(asked["bottom_values"], values[::-1][:KEPT_VECTORS], rtol=1e-4, atol=1e-6)


def test_exact_vectors_through_the_null_space_reduction():
    """An MLP whose inputs have constant features: vectors of the reduced matrix lifted back to P."""
    problem = tiny_problem("tanh", hidden=(4,), inputs=6, n=12)
    with torch.no_grad():
        problem.x[:, :2] = 0.5  # constant features: exact zero eigenvalues
    h = dense.dense_matrix(problem, "hessian", dtype=torch.float64)
    result = compute_result("exact_hessian", problem, {"float64": True})
    assert result.exact_zero_eigenvalues > 0
    _assert_eigenvectors(result.top_vectors, result.top, h, rtol=1e-6)  # float32 vectors


@pytest.mark.parametrize("name", ["diag_hessian", "diag_ggn_exact"])
def test_diagonal_vectors_are_the_axes_of_the_largest_entries(relu_problem, name):
    result = compute_result(name, relu_problem)
    order = np.argsort(-result.diagonal)[:KEPT_VECTORS]
    assert (np.argmax(result.top_vectors, axis=1) == order).all()
    assert (result.top_vectors.sum(axis=1) == 1.0).all()


def _explicit_kronecker(problem, extension):
    """The block-diagonal matrix of Kronecker products BackPACK's factors stand for (float64)."""
    blocks = []
    for factors in backpack_quantities(problem, extension):
        block = factors[0].double().contiguous()
        for f in factors[1:]:
            block = torch.kron(block, f.double().contiguous())
        blocks.append(0.5 * (block + block.T))
    return torch.block_diag(*blocks)


@pytest.mark.parametrize("name, extension", [("kflr", "KFLR"), ("kfra", "KFRA"), ("kfac", "KFAC")])
def test_kronecker_vectors_are_eigenvectors_of_the_explicit_product(relu_problem, name, extension):
    result = compute_result(name, relu_problem)
    torch.manual_seed(result.options.get("seed", 0))  # KFAC's factors are sampled: the same draw
    explicit = _explicit_kronecker(relu_problem, extension)
    values, vectors = _eigh(explicit)
    _assert_eigenvectors(result.top_vectors, result.top, explicit, rtol=1e-6)
    np.testing.assert_allclose(result.top[:KEPT_VECTORS], values[:KEPT_VECTORS], rtol=1e-5)
    assert subspaces.overlap(vectors[:3], result.top_vectors[:3]) == pytest.approx(1.0, abs=1e-4)


def test_kflr_vectors_equal_the_exact_ggn_vectors_for_one_example_and_one_layer():
    """One example through a single linear layer: KFLR is the exact GGN, so are its directions
    (this fixes the layout: a weight block's output index is outer)."""
    from core.problem import Problem

    gen = torch.Generator().manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 4, bias=False))  # one block: no weight-bias coupling
    problem = Problem(model, torch.randn(1, 5, generator=gen), torch.tensor([2]), chunk_size=7)
    kflr = compute_result("kflr", problem)
    exact = compute_result("exact_ggn", problem, {"float64": True})
    top = [i for i in range(4) if exact.top[i] > 1e-6 and exact.top[i] - exact.top[i + 1] > 1e-4 * exact.top[0]]
    assert top, exact.top[:5]
    for i in top:
        assert abs(float(kflr.top_vectors[i] @ exact.top_vectors[i])) == pytest.approx(1.0, abs=1e-4)


def test_ekfac_vectors_are_eigenvectors_of_its_operator(relu_problem):
    from curvlinops import EKFACLinearOperator
    import copy

    result = compute_result("ekfac", relu_problem)
    torch.manual_seed(0)
    model = copy.deepcopy(relu_problem.model)
    operator = EKFACLinearOperator(model, relu_problem.loss_module(), list(model.parameters()),
                                   [(relu_problem.x, relu_problem.targets)], fisher_type="type-2",
                                   check_deterministic=False)
    explicit = (operator @ torch.eye(relu_problem.num_params)).double()
    explicit = 0.5 * (explicit + explicit.T)
    values, vectors = _eigh(explicit)
    np.testing.assert_allclose(result.top[:KEPT_VECTORS], values[:KEPT_VECTORS], rtol=1e-4)
    _assert_eigenvectors(result.top_vectors, values, explicit, rtol=1e-4)


@pytest.mark.parametrize("name", ["lanczos", "pyhessian_top_k"])
def test_iterative_vectors_span_the_exact_top_subspace(relu_problem, dense_reference, name):
    h, _, _ = dense_reference
    values, vectors = _eigh(h)
    options = {"k": 4, "tol": 1e-8} if name == "lanczos" else {"k": 3, "max_iter": 500, "tol": 1e-8}
    result = compute_result(name, relu_problem, options)
    k = len(result.top_vectors)
    reference = vectors[:k] if name == "lanczos" else vectors[np.argsort(-np.abs(values))[:k]]
    assert subspaces.overlap(reference, result.top_vectors) == pytest.approx(1.0, abs=1e-3)
    if name == "lanczos":
        _assert_eigenvectors(result.top_vectors, result.top, h, rtol=1e-5)
        _assert_eigenvectors(result.bottom_vectors, result.bottom, h, rtol=1e-5)


def test_ggn_lanczos_vectors_span_the_exact_ggn_top_subspace(relu_problem, dense_reference):
    _, g, _ = dense_reference
    _, vectors = _eigh(g)
    result = compute_result("ggn_lanczos", relu_problem, {"k": 3, "tol": 1e-9})
    assert subspaces.overlap(vectors[:3], result.top_vectors) == pytest.approx(1.0, abs=1e-4)


def test_every_method_that_yields_vectors_returns_them(relu_problem):
    for name, spec in REGISTRY.items():
        if "vectors" not in spec.yields:
            continue
        result = compute_result(name, relu_problem)
        assert result.ok, (name, result.error)
        assert result.top_vectors is not None and result.top_vectors.shape[1] == relu_problem.num_params, name


def test_vectors_travel_with_their_values_when_a_result_sorts_them():
    vectors = np.eye(3, dtype=np.float32)
    result = Result("demo", "exact", top=np.array([1.0, 3.0, 2.0]), top_vectors=vectors)
    assert result.top.tolist() == [3.0, 2.0, 1.0]
    assert np.argmax(result.top_vectors, axis=1).tolist() == [1, 2, 0]
    assert result.to_dict()["top_vectors_shape"] == [3, 3] and "top_vectors" not in result.to_dict()


def test_subspace_measures_match_their_definitions():
    rng = np.random.default_rng(0)
    basis, _ = np.linalg.qr(rng.standard_normal((20, 20)))
    u = basis[:, :3].T
    angle = np.radians(25.0)
    v = u.copy()
    v[2] = np.cos(angle) * u[2] + np.sin(angle) * basis[:, 5]  # one direction turned by 25 degrees
    np.testing.assert_allclose(subspaces.principal_angles(u, v), [0.0, 0.0, 25.0], atol=1e-8)
    assert subspaces.overlap(u, v) == pytest.approx((2 + np.cos(angle) ** 2) / 3)
    mixed = np.array([[3.0, 1.0], [1.0, 3.0]]) @ u[:2]  # same span, not orthonormal: overlap 1
    assert subspaces.overlap(u[:2], mixed) == pytest.approx(1.0)
    np.testing.assert_allclose(subspaces.overlap_matrix(u, u[[1, 0, 2]]), np.eye(3)[[1, 0, 2]], atol=1e-12)
    random = rng.standard_normal((3, 20000))  # a random 3-subspace of R^P: overlap near k / P
    big = np.linalg.qr(rng.standard_normal((20000, 3)))[0].T
    assert subspaces.overlap(big, random) < 0.01


def _result(name, vectors, values):
    return Result(name, "exact", top=np.asarray(values, dtype=np.float64), top_vectors=np.asarray(vectors))


def test_the_hessian_ggn_direction_claim_fails_when_the_ggn_points_elsewhere():
    from core import claims
    from core.config import ExperimentConfig

    config = ExperimentConfig(num_classes=2)
    basis = np.eye(6, dtype=np.float32)
    values = [5.0, 4.0, 1.0, 0.5, 0.2, 0.1]
    hessian = _result("exact_hessian", basis[:4], values[:4])
    for ggn_rows, held in ((basis[[1, 0, 2]], True), (basis[[2, 3, 4]], False)):
        found = {"exact_hessian": hessian, "exact_ggn": _result("exact_ggn", ggn_rows, values[:3])}
        (said,) = claims._hessian_ggn_align(claims.Evidence(config, found))
        assert said["held"] is held, said


def test_the_ekfac_direction_claim_compares_both_with_the_ggn():
    from core import claims
    from core.config import ExperimentConfig

    config = ExperimentConfig(num_classes=2)
    basis = np.eye(6, dtype=np.float32)
    found = {"exact_hessian": _result("exact_hessian", basis[:2], [3.0, 2.0]),
             "exact_ggn": _result("exact_ggn", basis[:2], [3.0, 2.0]),
             "kfac": _result("kfac", basis[[0, 4]], [3.0, 2.0]), "ekfac": _result("ekfac", basis[[4, 5]], [3.0, 2.0])}
    (said,) = claims._kronecker_directions(claims.Evidence(config, found))
    assert said["held"] is False and "0.500" in said["evidence"]


def test_the_gradient_share_matches_a_dense_float64_eigh(fresh_cache):
    from factories import SMALL
    from core import pipeline, studies
    from core.trajectory import gradient_overlap

    study = studies.gradient_directions(SMALL)
    independent = gradient_overlap(pipeline.build_problem(SMALL), SMALL.num_classes)
    assert study["gradient_share"] == pytest.approx(independent, rel=1e-4)
    assert 0.0 <= study["class_means_overlap"] <= 1.0 and study["classes"] == SMALL.num_classes


def test_layer_block_spectra_equal_eigvalsh_of_the_dense_blocks(relu_problem, dense_reference, monkeypatch):
    h, _, _ = dense_reference
    found = dense.layer_block_spectra(relu_problem, h, top=3)
    assert [f["layer"] for f in found] == [layer.label for layer in relu_problem.layers]
    for layer, row in zip(relu_problem.layers, found):
        block = h[layer.slice, layer.slice].numpy()
        np.testing.assert_allclose(row["top"], np.linalg.eigvalsh(block)[::-1][:3], rtol=1e-10, atol=1e-12)
        assert row["trace"] == pytest.approx(float(np.trace(block)))
    big = tiny_problem("tanh", hidden=(40,), inputs=60, n=30)  # a 2,440-row first block: the Lanczos path
    h_big = dense.dense_matrix(big, "hessian", dtype=torch.float64)
    first = big.layers[0]
    row = dense.layer_block_spectra(big, h_big, top=3)[0]
    np.testing.assert_allclose(row["top"], np.linalg.eigvalsh(h_big[first.slice, first.slice].numpy())[::-1][:3],
                               rtol=1e-8)


@pytest.mark.parametrize("name, extension", [("kflr", "KFLR"), ("diag_ggn_exact", None)])
def test_approximations_layer_blocks_are_their_own_blocks(relu_problem, name, extension):
    result = compute_result(name, relu_problem)
    matrix = (_explicit_kronecker(relu_problem, extension) if extension
              else torch.diag(torch.as_tensor(result.diagonal)))
    for layer, row in zip(relu_problem.layers, result.layers):
        block = matrix[layer.slice, layer.slice].numpy()
        np.testing.assert_allclose(row["top"], np.linalg.eigvalsh(block)[::-1][:len(row["top"])], rtol=1e-6,
                                   atol=1e-10)
        assert row["trace"] == pytest.approx(float(np.trace(block)), rel=1e-6)
