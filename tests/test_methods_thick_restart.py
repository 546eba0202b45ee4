"""Thick-restart Lanczos: every residual it reports bounds the true error, a run stopped by its
cap or its time budget returns what converged and marks the rest, and the cost per product it
measures on the problem is the cost it then pays."""

import time

import numpy as np
import pytest
import torch

from core.methods import compute_result
from core.methods.thick_restart import thick_restart_lanczos
from factories import shaped_problem, tiny_problem


def _symmetric(n: int, seed: int, uniform: bool = False) -> tuple[torch.Tensor, np.ndarray]:
    """A symmetric matrix with a Hessian-like spectrum (a bulk at zero, outliers, a few negatives),
    or with evenly spaced eigenvalues, which no Krylov method separates quickly."""
    rng = np.random.default_rng(seed)
    values = (np.linspace(-1, 1, n) if uniform else
              np.concatenate([rng.normal(0, 1e-3, n - 12), np.geomspace(0.5, 20, 8), -np.geomspace(0.05, 0.4, 4)]))
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    return torch.tensor((q * values) @ q.T), np.sort(values)


@pytest.mark.parametrize("seed, cap", [(0, 5000), (1, 5000), (2, 36), (3, 80)])
def test_every_residual_bounds_the_distance_to_an_eigenvalue(seed, cap):
    h, values = _symmetric(400, seed, uniform=cap < 5000)
    found = thick_restart_lanczos(lambda rows: rows @ h, 400, 6, 4, tol=1e-9, max_products=cap, seed=seed)
    for theta, residual in zip(np.r_[found.top, found.bottom], np.r_[found.top_residuals, found.bottom_residuals]):
        assert np.abs(values - theta).min() <= residual * (1 + 1e-9) + 1e-12
    if cap == 5000:
        assert found.stopped == "converged" and found.top_converged.all() and found.bottom_converged.all()
        np.testing.assert_allclose(found.top, values[::-1][:6], rtol=1e-9)
        np.testing.assert_allclose(found.bottom, values[:4], atol=1e-8)
    else:
        assert found.products <= cap and not (found.top_converged.all() and found.bottom_converged.all())


def test_a_capped_run_returns_its_converged_values_and_marks_the_rest():
    h, values = _symmetric(600, 4)
    values[-8:] = np.linspace(19.9, 20, 8)  # a tight cluster at the top: it needs restarts
    q = np.linalg.qr(np.random.default_rng(9).normal(size=(600, 600)))[0]
    h = torch.tensor((q * values) @ q.T)
    found = thick_restart_lanczos(lambda rows: rows @ h, 600, 8, 8, tol=1e-10, max_products=70, seed=0)
    assert found.stopped == "product cap" and found.products <= 70
    converged = np.r_[found.top_converged, found.bottom_converged]
    residuals = np.r_[found.top_residuals, found.bottom_residuals]
    assert converged.any() and not converged.all()  # the outliers converge first, the cluster does not
    scale = np.abs(np.r_[found.top, found.bottom]).max()
    assert (residuals[converged] <= 1e-10 * scale).all() and (residuals[~converged] > 1e-10 * scale).all()
    top_ok = found.top[found.top_converged]
    np.testing.assert_allclose(top_ok, values[::-1][: len(top_ok)], rtol=1e-8)


def test_the_time_budget_stops_the_run_with_what_it_has():
    h, _ = _symmetric(300, 5)

    def slow(rows):
        time.sleep(0.01)
        return rows @ h

    start = time.monotonic()
    found = thick_restart_lanczos(slow, 300, 5, 5, tol=1e-14, deadline=start + 0.6, seed=0)
    assert found.stopped == "time budget" and time.monotonic() - start < 1.2
    assert len(found.top) == 5 and np.isfinite(found.top_residuals).all()
    assert 0.005 < found.seconds_per_product < 0.05


def test_lanczos_on_a_problem_certifies_its_values(relu_problem, dense_reference):
    _, _, values = dense_reference
    result = compute_result("lanczos", relu_problem, {"k": 6})
    assert result.certified and result.stopped == "converged"
    for theta, residual in zip(np.r_[result.top, result.bottom], np.r_[result.top_residuals, result.bottom_residuals]):
        assert np.abs(values - theta).min() <= residual + 1e-6 * abs(values).max()


@pytest.mark.parametrize("shape", [dict(architecture="mlp", hidden=(40,), side=8),
                                   dict(architecture="cnn", hidden=(4,), side=8),
                                   dict(architecture="mlp", batch_norm=True, hidden=(30,), side=8),
                                   dict(architecture="mlp", loss="mse", hidden=(30,), side=8),
                                   dict(architecture="mlp", hidden=(400,), side=8)])
def test_the_cost_per_product_measured_on_the_problem_is_the_cost_paid(shape):
    """What the run measures a product (and its re-orthogonalisation) to cost, against products
    timed here one at a time after a warm-up: what its time cap is computed from is what it pays."""
    problem = shaped_problem(**shape, n=200, num_classes=10, dtype=torch.float32)
    vector = torch.randn(1, problem.num_params, dtype=torch.float64)
    problem.hvp_batch(vector)
    ratios = []
    for _ in range(3):  # a process sharing the 2 cores can slow either side for a while: three tries
        result = compute_result("lanczos", problem, {"k": 5, "tol": 1e-12, "max_products": 200})
        times = []
        for _ in range(15):
            start = time.perf_counter()
            problem.hvp_batch(vector)
            times.append(time.perf_counter() - start)
        ratios.append(result.seconds_per_product / float(np.median(times)))
        if 0.5 <= ratios[-1] <= 2.0:
            break
    assert 0.5 <= ratios[-1] <= 2.0, ratios


def test_lanczos_spends_the_time_budget_and_says_so(relu_problem, monkeypatch):
    """Admitted on its first answer, it stops where the budget ends with what it has, each value
    still certified; its upper bound (every product its options allow) alone would be refused."""
    from core.budget import Budget, BudgetExceeded, check
    from core.methods import estimate, get_spec, resolve_options
    from core.shapes import Size

    defaults, big = resolve_options("lanczos"), Size(75_010, 1000)
    tight = Budget(max_gib=12, max_seconds=100)
    assert estimate("lanczos", defaults, big).seconds > 100  # every product its options allow: over
    check(get_spec("lanczos").cost, "Lanczos", defaults, big, tight)  # admitted: its first answer fits
    with pytest.raises(BudgetExceeded, match="even its first answer"):
        check(get_spec("lanczos").cost, "Lanczos", defaults, big, Budget(max_gib=12, max_seconds=1))

    options = resolve_options("lanczos", {"k": 6, "tol": 1e-15})
    original = relu_problem.hvp_batch

    def slow(vectors):
        time.sleep(0.02)
        return original(vectors)

    monkeypatch.setattr(relu_problem, "hvp_batch", slow)
    monkeypatch.setenv("HESSIAN_MAX_SECONDS", "1.5")
    start = time.monotonic()
    result = compute_result("lanczos", relu_problem, options)
    assert result.ok and result.stopped == "time budget" and time.monotonic() - start < 3.0
    assert result.certified and np.isfinite(result.top_residuals).all()


def test_a_result_that_spends_the_budget_is_kept_per_budget(fresh_cache, monkeypatch):
    from core import pipeline
    from factories import SMALL

    pipeline.run(SMALL, "lanczos", {"k": 3})
    assert pipeline.is_cached(SMALL, "lanczos", {"k": 3}) and pipeline.is_cached(SMALL, "hutchinson") is False
    monkeypatch.setenv("HESSIAN_MAX_SECONDS", "300")
    assert not pipeline.is_cached(SMALL, "lanczos", {"k": 3})  # another budget may find more: its own entry
    pipeline.run(SMALL, "hutchinson", {"samples": 10})
    monkeypatch.setenv("HESSIAN_MAX_SECONDS", "200")
    assert pipeline.is_cached(SMALL, "hutchinson", {"samples": 10})  # a method that does not spend it: one entry


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here: the GPU path is checked where one is")
def test_the_gpu_path_gives_the_cpu_numbers():
    problem = tiny_problem("tanh", hidden=(6, 5), inputs=4, n=32)
    on_gpu = tiny_problem("tanh", hidden=(6, 5), inputs=4, n=32)
    on_gpu.model.cuda()
    on_gpu.x, on_gpu.labels, on_gpu.targets = on_gpu.x.cuda(), on_gpu.labels.cuda(), on_gpu.targets.cuda()
    for name in ("exact_hessian", "lanczos"):
        cpu, gpu = compute_result(name, problem, {"k": 4} if name == "lanczos" else {}), compute_result(
            name, on_gpu, {"k": 4} if name == "lanczos" else {})
        np.testing.assert_allclose(gpu.top[:4], cpu.top[:4], rtol=1e-8)
