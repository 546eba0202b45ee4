"""The loss landscape: the quadratic model to third order, filter normalisation by its definition,
the page's computation bounded, cached and refused before work."""

import numpy as np
import pytest
import torch

from factories import SMALL, shaped_problem, tiny_problem
from core import cache, landscape
from core.budget import BudgetExceeded
from core.config import ConfigError


def _top_eigenvector(problem):
    from core.curvature import dense

    h = dense.dense_matrix(problem, "hessian", dtype=torch.float64)
    values, vectors = torch.linalg.eigh(h)
    return float(values[-1]), vectors[:, -1]


def test_loss_along_an_eigenvector_meets_its_quadratic_model_to_third_order():
    """|L(θ + t v) - Q(t)| = O(t³): halving t divides the error by about 8 (finite differences)."""
    problem = tiny_problem("tanh", hidden=(5,), inputs=4, n=16)
    value, vector = _top_eigenvector(problem)
    loss, slopes, curvatures = landscape.taylor_terms(problem, vector[None, :])
    assert curvatures[0, 0] == pytest.approx(value, rel=1e-10)  # vᵀHv = λ for the eigenvector
    t = np.array([0.08, 0.04, 0.02, 0.01])
    coefficients = t[:, None]
    errors = np.abs(landscape.losses_at(problem, vector[None, :], coefficients)
                    - landscape.quadratic_model(loss, slopes, curvatures, coefficients))
    ratios = errors[:-1] / errors[1:]
    assert np.all((ratios > 6.0) & (ratios < 10.0)), ratios


def test_slopes_are_the_gradient_along_each_direction():
    problem = tiny_problem("tanh", hidden=(5,), inputs=4, n=16)
    directions = torch.randn(2, problem.num_params, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    loss, slopes, _ = landscape.taylor_terms(problem, directions)
    h = 1e-6
    for i in range(2):
        step = np.zeros((2, 2))
        step[:, i] = [h, -h]
        up, down = landscape.losses_at(problem, directions, step)
        assert slopes[i] == pytest.approx((up - down) / (2 * h), rel=1e-6)


def test_filter_normalisation_matches_its_definition_on_a_cnn():
    problem = shaped_problem("cnn", side=6, n=3, hidden=(3,), num_classes=3)
    theta = problem.unflatten(problem.flat_params())
    direction = landscape.random_directions(problem, 1, seed=0)[0]
    blocks = problem.unflatten(direction)
    for name, d in blocks.items():
        if d.dim() <= 1:
            assert torch.count_nonzero(d) == 0, name  # biases and BatchNorm: left out
            continue
        for f in range(d.shape[0]):  # each output filter has the norm of θ's same filter
            assert float(d[f].norm()) == pytest.approx(float(theta[name][f].norm()), rel=1e-10), (name, f)


def test_model_radius_finds_where_the_cubic_term_reaches_ten_percent():
    t = np.linspace(-1, 1, 201)
    losses = 2.0 + 0.5 * t**2 + 0.02 * t**3
    radius, whole = landscape.model_radius(t, losses, 2.0 + 0.5 * t**2, 1.0)
    assert whole and radius == 1.0  # |0.02 t³| <= 0.1 * 0.5 t² up to |t| = 2.5: the whole line
    radius, whole = landscape.model_radius(t, 2.0 + 0.5 * t**2 + 0.2 * t**3, 2.0 + 0.5 * t**2, 1.0)
    assert not whole and radius == pytest.approx(0.25, abs=0.011)


def test_level_curves_lie_on_the_quadratic_model():
    plane = {"loss": 1.0, "slopes": [0.3, -0.2], "curvatures": [[4.0, 0.5], [0.5, 1.0]]}
    rows = landscape.model_level_curves(plane, [1.5, 2.0], points=30)
    assert {r["level"] for r in rows} == {1.5, 2.0}
    for r in rows:
        c = np.array([[r["a"], r["b"]]])
        q = landscape.quadratic_model(1.0, np.array(plane["slopes"]), np.array(plane["curvatures"]), c)[0]
        assert q == pytest.approx(r["level"], rel=1e-10)
    assert landscape.model_level_curves({**plane, "curvatures": [[1.0, 0.0], [0.0, -1.0]]}, [1.5]) == []


def test_landscape_is_cached_and_bounded(fresh_cache):
    found = landscape.landscape(SMALL, points=21, grid=11)
    assert found["source"] == "the exact Hessian"
    assert [line["kind"] for line in found["lines"]] == ["eigenvector"] * 3 + ["random"] * 2
    for line in found["lines"]:
        assert len(line["t"]) == len(line["batch"]) == len(line["held_out"]) == 21
        middle = len(line["t"]) // 2
        assert line["batch"][middle] == pytest.approx(found["loss"], rel=1e-5)  # t = 0 is θ
        assert 0 <= line["radius"] <= max(abs(v) for v in line["t"])
    assert np.array(found["plane"]["batch"]).shape == (11, 11)
    assert cache.COMPUTE_COUNTS["landscape"] == 1
    landscape.landscape(SMALL, points=21, grid=11)
    assert cache.COMPUTE_COUNTS["landscape"] == 1


@pytest.mark.parametrize("changes", [{"points": 4}, {"points": 10_000}, {"grid": 0}, {"grid": True},
                                     {"rise": 0.0}, {"rise": float("nan")}])
def test_bad_landscape_inputs_are_refused_before_any_work(fresh_cache, changes):
    with pytest.raises(ConfigError):
        landscape.landscape(SMALL, **changes)
    assert cache.COMPUTE_COUNTS["landscape"] == 0 and cache.COMPUTE_COUNTS.get("train", 0) == 0


def test_an_over_budget_landscape_is_refused_with_its_estimate(fresh_cache, monkeypatch):
    landscape.check(SMALL)  # within the default budget
    monkeypatch.setattr(landscape, "FORWARD_SHARE", 1e6)
    with pytest.raises(BudgetExceeded, match="forward passes"):
        landscape.landscape(SMALL)
    assert cache.COMPUTE_COUNTS["landscape"] == 0
