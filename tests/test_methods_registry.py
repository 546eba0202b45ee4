"""The registry's contract: options checked before work, budgets, the Result it builds."""

import pytest

from core.methods import REGISTRY, MethodError, resolve_options, compute_result


def test_bad_options_are_refused():
    with pytest.raises(MethodError, match="unknown option 'kk'"):
        resolve_options("lanczos", {"kk": 3})
    with pytest.raises(MethodError, match="must be a int"):
        resolve_options("lanczos", {"k": "ten"})
    with pytest.raises(MethodError, match="unknown method"):
        resolve_options("power", {})


def test_product_budget_rule_lives_in_the_registry():
    assert resolve_options("hutchpp", {"samples": 100})["samples"] == 99
    assert resolve_options("hutchpp", {"samples": 1})["samples"] == 3
    assert resolve_options("xtrace", {"samples": 99})["samples"] == 100
    assert resolve_options("hutchinson", {"samples": 99})["samples"] == 99
    from core.methods import options_for

    assert options_for("hutchpp", 100) == {"samples": 99} and options_for("lanczos", 100) == {}


def test_registry_is_listed_without_importing_torch():
    import subprocess
    import sys

    code = ("import sys; from core.methods import REGISTRY; assert 'lanczos' in REGISTRY and 'kfac' in REGISTRY; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_run_method_builds_the_result_and_refuses_dense_work_over_budget(relu_problem, monkeypatch):
    result = compute_result("hutchinson", relu_problem, {"samples": 12})
    assert (result.method, result.family, result.matrix) == ("hutchinson", "matrix-free", "hessian")
    assert result.matvecs == 12 and result.samples.shape == (12,) and result.seconds > 0
    assert result.options == {"samples": 12, "seed": 0}
    monkeypatch.setenv("HESSIAN_MAX_GIB", "0.0001")  # P = 106: the dense 1.3e-4 GiB is over, Lanczos fits
    refused = compute_result("exact_hessian", relu_problem)
    assert not refused.ok and "refused" in refused.error and refused.spectrum is None
    assert compute_result("lanczos", relu_problem, {"k": 2}).ok  # approximations still run


def test_every_method_has_a_cost_estimate_and_a_refusal_with_the_largest_size(relu_problem, monkeypatch):
    from core.budget import BudgetExceeded
    from core.methods import estimate
    from core.shapes import Size

    for name in REGISTRY:
        e = estimate(name, resolve_options(name), Size(6370, 1000))
        assert e.seconds > 0 and e.gib > 0, name
    monkeypatch.setenv("HESSIAN_MAX_SECONDS", "1e-12")
    for name in REGISTRY:
        refused = compute_result(name, relu_problem)
        assert not refused.ok and "refused" in refused.error and "largest P admitted" in refused.error, name
    monkeypatch.setenv("HESSIAN_MAX_SECONDS", "nan")
    with pytest.raises(BudgetExceeded, match="HESSIAN_MAX_SECONDS='nan' is not allowed"):
        from core.budget import Budget

        Budget()


def test_memory_estimate_follows_the_dtype_and_the_block_report():
    from core.budget import estimate_dense
    from core.methods import estimate
    from core.shapes import Size

    f32 = estimate("exact_hessian", {"float64": False}, Size(6370, 1000))
    f64 = estimate("exact_hessian", {"float64": True}, Size(6370, 1000))
    assert f64.gib == 2 * f32.gib
    assert estimate_dense(Size(6370, 1000), matrices=4).gib == 4 / 3 * f32.gib


def test_a_solver_that_fails_becomes_that_methods_line_and_a_bug_still_propagates(relu_problem, monkeypatch):
    import torch

    from core.methods import matrix_free

    def diverges(problem, opts):
        raise torch.linalg.LinAlgError("linalg.eigh: The algorithm failed to converge")

    monkeypatch.setattr(matrix_free, "hutchpp", diverges)
    failed = compute_result("hutchpp", relu_problem, {"samples": 12})
    assert not failed.ok and "Hutch++ cannot run here: its eigensolver failed" in failed.error
    assert "LinAlgError" in failed.error and compute_result("hutchinson", relu_problem, {"samples": 12}).ok

    def buggy(problem, opts):
        raise KeyError("a bug")

    monkeypatch.setattr(matrix_free, "hutchpp", buggy)
    with pytest.raises(KeyError):
        compute_result("hutchpp", relu_problem, {"samples": 12})
