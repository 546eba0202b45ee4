"""The own-model API (core/own_model.py) on modules the project does not know, against ground truth.

Ground truth is computed here, independently of ``core``'s ``torch.func`` products: the Hessian
by ``torch.autograd.functional.hessian`` (double reverse mode) of the loss as a function of the
flat (deduplicated) parameters, the GGN from its definition ``J^T H_L J`` (the Jacobian and the
output Hessian by ``torch.autograd.functional`` too), all in float64. (Not ``torch.func.hessian``:
through ``functional_call`` of a model with a tied weight, torch 2.14's ``jacfwd(jacrev(f))`` and
``jacrev(jacrev(f))`` return a matrix that is not even symmetric, off by 0.03 on
:class:`TiedSkipNet`, while ``jvp(grad(f))``, ``jacrev(grad(f))``, double reverse mode and finite
differences agree to 1e-8.) Every registered method is run on each module and either
checked against it or refused in one line that names what it cannot handle.
"""

import copy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.autograd import functional as autograd
from torch.func import functional_call

from core import cache, own_model
from core.methods import CANNOT_RUN, REGISTRY
from examples.own_models import ResidualNet, TiedSkipNet, batch

ROOT = Path(__file__).resolve().parents[1]


def ground_truth(model, x, y, loss=torch.nn.functional.cross_entropy):
    """Dense H and G (float64) of the mean loss over the model's deduplicated parameters."""
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    theta = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).double()

    def unflat(flat):
        out, start = {}, 0
        for name, shape in zip(names, shapes):
            out[name] = flat[start : start + shape.numel()].view(shape)
            start += shape.numel()
        return out

    model = model.double().eval()
    outputs = lambda flat: functional_call(model, unflat(flat), (x.double(),))
    h = autograd.hessian(lambda flat: loss(outputs(flat), y), theta)
    jac = autograd.jacobian(outputs, theta)  # (N, C, P)
    out = outputs(theta).detach()
    h_out = autograd.hessian(lambda f: loss(f, y), out)  # (N, C, N, C)
    g = torch.einsum("ncp,ncmd,mdq->pq", jac, h_out, jac)
    return h.numpy(), g.numpy()


@pytest.fixture(scope="module")
def tied():
    torch.manual_seed(0)
    model, (x, y) = TiedSkipNet().double(), batch()
    return own_model.problem(model, x, y), ground_truth(copy.deepcopy(model), x, y)


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-12)


def test_the_custom_module_has_its_layers_and_its_shared_parameter_once(tied):
    problem, (h, _) = tied
    assert problem.num_params == h.shape[0] == 179  # fc4.weight is fc2.weight: counted once
    assert [layer.name for layer in problem.layers] == ["fc1", "ln", "fc2", "fc4", "fc3"]
    assert [b.name for b in problem.layers[3].blocks] == ["fc4.bias"]
    assert problem.num_classes == 3


def test_every_method_on_the_custom_module_is_checked_against_the_dense_matrices_or_refused_in_one_line(tied,
                                                                                                       fresh_cache):
    problem, (h, g) = tied
    float64 = {"float64": True}
    found = own_model.results(problem, list(REGISTRY), options={"lanczos": {"k": 3}, "ggn_lanczos": {"k": 3},
                                                                "exact_hessian": float64, "exact_ggn": float64,
                                                                "pyhessian_top_k": {"k": 2, "max_iter": 3000, "tol": 1e-10}})
    h_values, g_values = np.linalg.eigvalsh(h), np.linalg.eigvalsh(g)
    by_magnitude = h_values[np.argsort(-np.abs(h_values))]
    exact = found["exact_hessian"]
    assert np.allclose(exact.spectrum, h_values, atol=1e-9)
    assert rel(exact.trace, np.trace(h)) < 1e-9 and rel(exact.trace, exact.spectrum.sum()) < 1e-9
    assert np.allclose(found["exact_ggn"].spectrum, g_values, atol=1e-9)
    assert np.allclose(found["lanczos"].top, h_values[::-1][:3], atol=1e-6)
    assert np.allclose(found["lanczos"].bottom, h_values[:3], atol=1e-6)
    assert np.allclose(found["ggn_lanczos"].top, g_values[::-1][:3], atol=1e-6)
    power = found["pyhessian_top_k"].top  # the two of largest |λ| (1.68, 1.50: close), in the order it found them
    assert np.allclose(sorted(power, key=abs, reverse=True), by_magnitude[:2], rtol=1e-4)
    for name in ("hutchinson", "pyhessian_hutchinson", "hutchpp", "xtrace"):  # stochastic: within its error
        result = found[name]
        spread = max(result.trace_standard_error or 0.0, 0.05 * abs(np.trace(h)))
        assert abs(result.trace - np.trace(h)) < 5 * spread, name
    slq = found["slq"]  # its extreme Ritz values are the extreme eigenvalues (80 steps, P = 179)
    assert rel(slq.top[0], h_values[-1]) < 1e-6 and rel(slq.bottom[0], h_values[0]) < 1e-6
    assert abs(slq.density.grid[np.argmax(slq.density.values)]) < 2  # its mass within the spectrum's range
    refused = {name: r.error for name, r in found.items() if not r.ok}
    assert set(refused) == {"diag_hessian", "diag_ggn_exact", "diag_ggn_mc", "kfac", "kflr", "kfra", "ekfac"}
    for name, error in refused.items():
        assert CANNOT_RUN in error and "\n" not in error
    for name in ("diag_hessian", "diag_ggn_exact", "kfac"):
        assert "shared between modules (fc4.weight (= fc2.weight))" in refused[name]
    assert "ln (LayerNorm 8)" in refused["ekfac"]
    assert not (set(REGISTRY) - set(found) - set(refused))


def test_backpack_takes_a_residual_module_through_its_converter_and_its_diagonal_is_the_ggns(fresh_cache):
    torch.manual_seed(1)
    model, (x, y) = ResidualNet().double(), batch(seed=1)
    problem = own_model.problem(model, x, y)
    h, g = ground_truth(copy.deepcopy(model), x, y)
    found = own_model.results(problem, ["diag_ggn_exact", "diag_ggn_mc", "kfac", "kflr", "diag_hessian", "ekfac"],
                              options={"diag_ggn_mc": {"mc_samples": 2000}})
    assert np.allclose(found["diag_ggn_exact"].diagonal, np.diag(g), atol=1e-10)
    assert np.abs(found["diag_ggn_mc"].diagonal - np.diag(g)).max() < 0.1 * np.abs(np.diag(g)).max()
    assert found["kfac"].ok and found["kfac"].spectrum.min() > -1e-10  # a Kronecker product of PSD factors
    assert rel(found["ekfac"].trace, np.trace(g)) < 1e-6  # EKFAC's refitted eigenvalues keep the GGN's diagonal in its basis
    assert "skip connection" in found["kflr"].error
    assert "SumModule layers (sum_module0: the additions of skip connections)" in found["diag_hessian"].error


def test_a_loss_function_of_ones_own_has_its_hessian_and_its_autodiff_ggn_and_backpack_says_it_needs_a_named_loss(
        fresh_cache):
    def smoothed_cross_entropy(outputs, targets):
        return torch.nn.functional.cross_entropy(outputs, targets, label_smoothing=0.1)

    torch.manual_seed(2)
    model, (x, y) = ResidualNet().double(), batch(seed=2)
    problem = own_model.problem(model, x, y, loss=smoothed_cross_entropy)
    h, g = ground_truth(copy.deepcopy(model), x, y, loss=smoothed_cross_entropy)
    found = own_model.results(problem, ["exact_hessian", "exact_ggn", "kfac", "pyhessian_hutchinson"],
                              options={"exact_hessian": {"float64": True}, "exact_ggn": {"float64": True}})
    assert np.allclose(found["exact_hessian"].spectrum, np.linalg.eigvalsh(h), atol=1e-9)
    assert np.allclose(found["exact_ggn"].spectrum, np.linalg.eigvalsh(g), atol=1e-9)
    assert "needs the loss as one of cross_entropy, mse" in found["kfac"].error
    assert abs(found["pyhessian_hutchinson"].trace - np.trace(h)) < 0.5 * abs(np.trace(h))
    assert "custom (" in problem.loss_name


def test_the_cache_serves_the_same_parameters_and_batch_again_and_recomputes_a_changed_weight(fresh_cache):
    torch.manual_seed(3)
    model, (x, y) = ResidualNet().double(), batch(seed=3)
    first = own_model.run(own_model.problem(model, x, y), "exact_hessian")
    assert cache.COMPUTE_COUNTS["own:exact_hessian"] == 1
    again = own_model.run(own_model.problem(copy.deepcopy(model), x.clone(), y.clone()), "exact_hessian")
    assert cache.COMPUTE_COUNTS["own:exact_hessian"] == 1 and np.array_equal(again.spectrum, first.spectrum)
    own_model._LIVE.clear()  # a new process: the entry is found by fingerprint alone
    assert own_model.is_cached(own_model.problem(model, x, y), "exact_hessian")
    with torch.no_grad():
        model.fc2.weight[0, 0] += 0.5
    changed = own_model.run(own_model.problem(model, x, y), "exact_hessian")
    assert cache.COMPUTE_COUNTS["own:exact_hessian"] == 2
    assert not np.allclose(changed.spectrum, first.spectrum)
    other_batch = own_model.run(own_model.problem(model, x[:12], y[:12]), "exact_hessian")
    assert cache.COMPUTE_COUNTS["own:exact_hessian"] == 3 and not np.allclose(other_batch.spectrum, changed.spectrum)


def test_the_problem_is_a_copy_later_changes_to_the_model_do_not_reach_it():
    torch.manual_seed(4)
    model, (x, y) = ResidualNet().double(), batch(seed=4)
    problem = own_model.problem(model, x, y)
    before = problem.loss()
    with torch.no_grad():
        model.fc3.bias += 1.0
    model.train()
    assert problem.loss() == before and not problem.model.training


@pytest.mark.parametrize("make, words", [
    (lambda m, x, y: ("not a module", x, y, "cross_entropy"), "must be a torch.nn.Module"),
    (lambda m, x, y: (m, x.long(), y, "cross_entropy"), "floating-point tensor"),
    (lambda m, x, y: (m, x, y[:-1], "cross_entropy"), "one target per example"),
    (lambda m, x, y: (m, x.float(), y, "cross_entropy"), "give both the same"),
    (lambda m, x, y: (m, x, y, "hinge"), "loss must be one of cross_entropy, mse"),
    (lambda m, x, y: (m, x, y.double(), "cross_entropy"), "class labels"),
    (lambda m, x, y: (m, x, y + 5, "cross_entropy"), "the model has 3 outputs"),
    (lambda m, x, y: (torch.nn.Sequential(m, torch.nn.Unflatten(1, (3, 1))), x, y, "cross_entropy"),
     "shape (N, C)"),
    (lambda m, x, y: (m, x[:, :4], y, "cross_entropy"), "does not run on x[:1]"),
])
def test_bad_input_is_one_clear_message_and_makes_no_problem(make, words):
    torch.manual_seed(5)
    model, (x, y) = ResidualNet().double(), batch(seed=5)
    held = len(own_model._LIVE)
    with pytest.raises(own_model.OwnModelError) as refused:
        own_model.problem(*make(model, x, y))
    assert words in str(refused.value) and "\n" not in str(refused.value)
    assert len(own_model._LIVE) == held


def test_describe_gives_the_layer_table_and_refuses_the_dense_methods_past_the_budget_with_their_estimate():
    torch.manual_seed(6)
    wide = torch.nn.Sequential(torch.nn.Linear(6, 400), torch.nn.Tanh(), torch.nn.Linear(400, 400), torch.nn.Tanh(),
                               torch.nn.Linear(400, 3))
    problem = own_model.problem(wide, *batch(seed=6, dtype=torch.float32))
    info = own_model.describe(problem)
    assert info["num_params"] == sum(row["parameters"] for row in info["layers"]) == problem.num_params
    rows = {row["method"]: row for row in info["methods"]}
    assert set(rows) == set(REGISTRY)
    import os

    if os.environ.get("HESSIAN_MAX_SECONDS") is None:
        assert not rows["exact_hessian"]["admitted"] and f"is refused: P = {problem.num_params:,}" in rows["exact_hessian"]["why"]
        assert rows["lanczos"]["admitted"] and rows["hutchinson"]["admitted"]


def test_the_cli_runs_a_builder_and_refuses_a_bad_spec_in_one_line(tmp_path):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "core", "own", *args, "--cache-dir", str(tmp_path / "cache")],
                              cwd=ROOT, capture_output=True, text=True, timeout=600)

    done = cli("--model", "examples.own_models:build", "--methods", "exact_hessian,lanczos,kfac",
               "--option", "lanczos.k=3", "--out", str(tmp_path / "own.json"))
    assert done.returncode == 0, done.stderr
    assert "P = 179" in done.stdout and "ln (LayerNorm 8)" in done.stdout
    assert "kfac: BackPACK KFAC cannot run here: a parameter is shared between modules" in done.stdout
    assert (tmp_path / "own.json").exists() and (tmp_path / "own.csv").exists()
    for spec, words in [("no_colon", "package.module:function"), ("examples.nothing_here:build", "cannot import"),
                        ("examples.own_models:missing", "has no function 'missing'"),
                        ("examples.own_models:batch", "must return (model, x, y)")]:
        refused = cli("--model", spec)
        assert refused.returncode == 2 and words in refused.stderr and len(refused.stderr.strip().splitlines()) == 1


def test_a_model_whose_one_product_would_pass_the_budget_is_refused_before_it_is_timed(monkeypatch):
    monkeypatch.setenv("HESSIAN_MAX_SECONDS", "0.001")
    torch.manual_seed(7)
    model, (x, y) = ResidualNet().double(), batch(seed=7)
    with pytest.raises(own_model.OwnModelError) as refused:
        own_model.problem(model, x, y)
    assert "estimated at" in str(refused.value) and "budget of 0.001 s" in str(refused.value)
