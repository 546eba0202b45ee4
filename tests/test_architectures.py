"""Ground truth on every new shape: CNN, residual CNN (with and without its skips), transformer,
BatchNorm (eval mode), squared error, C classes.

Each tiny float64 problem's exact Hessian (our batched products) is checked against
``torch.func.hessian`` (double reverse mode where there is a LayerNorm: torch 2.14's
``torch.func.hessian`` is wrong through it) and central finite differences of the gradient, its GGN against the
definition :math:`\\sum_n J_n^\\top H_{L,n} J_n`, and BackPACK against both where BackPACK
supports the layers.
"""

from __future__ import annotations

import pytest
import torch
from torch.func import functional_call, hessian, jacrev

from core.curvature import dense
from core.methods import compute_result
from core.methods.backpack_methods import backpack_quantities
from factories import shaped_problem

SHAPES = {  # name -> shaped_problem arguments
    "cnn": dict(architecture="cnn"),
    "cnn+bn": dict(architecture="cnn", batch_norm=True),
    "cnn mse": dict(architecture="cnn", loss="mse"),
    "mlp+bn": dict(architecture="mlp", batch_norm=True, hidden=(4,), side=3),
    "mlp+bn mse": dict(architecture="mlp", batch_norm=True, loss="mse", hidden=(4,), side=3),
    "mlp mse": dict(architecture="mlp", loss="mse", hidden=(4,), side=3),
    "cnn two blocks relu": dict(architecture="cnn", hidden=(2, 2), side=4, activation="relu", num_classes=3),
    "resnet": dict(architecture="resnet", side=4, num_classes=3),
    "resnet no skips": dict(architecture="resnet", side=4, num_classes=3, no_skips=True),
    "resnet+bn relu": dict(architecture="resnet", batch_norm=True, side=4, num_classes=3, activation="relu"),
    "transformer": dict(architecture="transformer", hidden=(3,), side=3, num_classes=3),
    "transformer two blocks mse": dict(architecture="transformer", hidden=(2, 2), side=3, num_classes=3, loss="mse"),
}


def finite_difference_hessian(problem, eps=1e-5):
    theta = problem.flat_params()
    columns = []
    for i in range(problem.num_params):
        step = torch.zeros_like(theta)
        step[i] = eps
        columns.append((problem.gradient(theta + step) - problem.gradient(theta - step)) / (2 * eps))
    return torch.stack(columns, dim=1)


def ggn_by_definition(problem):
    """:math:`\\sum_n J_n^\\top H_{L,n} J_n` with J from ``jacrev`` and H_L from ``hessian``."""
    theta = problem.flat_params()
    outputs_of = lambda flat: functional_call(problem.model, problem.unflatten(flat), (problem.x,))
    outputs = outputs_of(theta)
    jacobian = jacrev(outputs_of)(theta)  # (N, C, P)
    loss_of_outputs = lambda f: problem._loss_function(f, problem.targets)
    output_hessian = hessian(loss_of_outputs)(outputs)  # (N, C, N, C)
    n, c = outputs.shape
    flat_j = jacobian.reshape(n * c, -1)
    return flat_j.T @ output_hessian.reshape(n * c, n * c) @ flat_j


@pytest.fixture(scope="module", params=list(SHAPES))
def shape(request):
    problem = shaped_problem(**SHAPES[request.param])
    h = dense.dense_matrix(problem, "hessian", dtype=torch.float64)
    g = dense.dense_matrix(problem, "ggn", dtype=torch.float64)
    return request.param, problem, h, g


def test_exact_hessian_equals_torch_func_hessian_and_finite_differences(shape):
    name, problem, h, _ = shape
    if any(layer.kind == "layernorm" for layer in problem.layers):
        # torch 2.14's torch.func.hessian (jacfwd of jacrev) through layer_norm returns a matrix that
        # is not even symmetric (off by 0.23 here); double reverse mode and finite differences agree
        reference = torch.autograd.functional.hessian(problem.loss_at, problem.flat_params())
    else:
        reference = hessian(problem.loss_at)(problem.flat_params())
    torch.testing.assert_close(h, reference, rtol=1e-9, atol=1e-11)
    fd = finite_difference_hessian(problem)
    scale = h.abs().max()
    assert (h - 0.5 * (fd + fd.T)).abs().max() <= 1e-6 * scale


def test_ggn_equals_its_definition_and_is_psd(shape):
    _, problem, _, g = shape
    torch.testing.assert_close(g, ggn_by_definition(problem), rtol=1e-9, atol=1e-11)
    assert torch.linalg.eigvalsh(g).min() >= -1e-10 * g.abs().max()


def test_exact_method_trace_is_the_sum_of_its_eigenvalues_and_diag_matches(shape):
    _, problem, h, _ = shape
    result = compute_result("exact_hessian", problem)
    assert result.ok and len(result.spectrum) == problem.num_params
    assert abs(result.trace - result.spectrum.sum()) <= 1e-5 * abs(result.spectrum).sum()
    assert abs(result.trace - float(torch.trace(h))) <= 1e-5 * float(h.diagonal().abs().sum())


def test_mse_output_hessian_is_constant_two_over_nc():
    """Squared error's loss Hessian in the outputs is 2 I / (N C) wherever it is taken."""
    problem = shaped_problem(architecture="cnn", loss="mse", num_classes=3, n=4)
    loss_of_outputs = lambda f: problem._loss_function(f, problem.targets)
    for seed in (0, 1):
        outputs = torch.randn(4, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        h_l = hessian(loss_of_outputs)(outputs).reshape(12, 12)
        torch.testing.assert_close(h_l, 2 / 12 * torch.eye(12, dtype=torch.float64))


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
@pytest.mark.parametrize("classes", [2, 3, 7])
def test_c_class_head_bias_block(loss, classes):
    """The head's bias block: MSE gives exactly 2 I / C; cross-entropy is PSD with exactly one zero
    eigenvalue (softmax does not change when every output moves by the same amount)."""
    problem = shaped_problem(architecture="cnn", loss=loss, num_classes=classes, n=6)
    assert problem.num_classes == classes and problem.model(problem.x).shape == (6, classes)
    h = dense.dense_matrix(problem, "hessian", dtype=torch.float64)
    bias = problem.blocks[-1]
    assert bias.name == "fc.bias" and bias.shape == (classes,)
    block = h[bias.start:bias.stop, bias.start:bias.stop]
    if loss == "mse":
        torch.testing.assert_close(block, 2 / classes * torch.eye(classes, dtype=torch.float64))
    else:
        values = torch.linalg.eigvalsh(block)
        assert abs(values[0]) <= 1e-12 and values[1] > 1e-6


@pytest.mark.parametrize("name", ["cnn", "cnn mse", "mlp mse", "cnn two blocks relu", "resnet no skips"])
def test_backpack_diagonals_equal_the_dense_diagonals(name):
    problem = shaped_problem(**SHAPES[name])
    h = dense.dense_matrix(problem, "hessian", dtype=torch.float64)
    g = dense.dense_matrix(problem, "ggn", dtype=torch.float64)
    for extension, matrix in (("DiagHessian", h), ("DiagGGNExact", g)):
        diagonal = torch.cat([d.reshape(-1) for d in backpack_quantities(problem, extension)])
        torch.testing.assert_close(diagonal, matrix.diagonal(), rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("name", ["cnn+bn", "mlp+bn", "mlp+bn mse"])
def test_batchnorm_ggn_diagonal_is_exact_and_unsupported_methods_say_why(name):
    problem = shaped_problem(**SHAPES[name])
    g = dense.dense_matrix(problem, "ggn", dtype=torch.float64)
    diagonal = torch.cat([d.reshape(-1) for d in backpack_quantities(problem, "DiagGGNExact")])
    torch.testing.assert_close(diagonal, g.diagonal(), rtol=1e-8, atol=1e-12)
    for method in ("diag_hessian", "kflr"):
        result = compute_result(method, problem)
        assert not result.ok and "cannot run here" in result.error and "BatchNorm" in result.error


def kron_blocks(problem, extension):
    out = []
    for factors in backpack_quantities(problem, extension):
        block = factors[0].double()
        for factor in factors[1:]:
            block = torch.kron(block, factor.double())
        out.append(block)
    return out


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_kflr_conv_bias_block_is_the_exact_ggn_block(loss):
    """BackPACK's KFLR for a convolution: the output factor is the exact GGN of the bias (the
    backpropagated GGN square root summed over the spatial positions), for any batch."""
    problem = shaped_problem(architecture="cnn", loss=loss, n=4)
    g = dense.dense_matrix(problem, "ggn", dtype=torch.float64)
    blocks = kron_blocks(problem, "KFLR")
    conv_bias = problem.blocks[1]
    assert conv_bias.name == "conv1.bias"
    exact = g[conv_bias.start:conv_bias.stop, conv_bias.start:conv_bias.stop]
    torch.testing.assert_close(blocks[1], exact, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_kflr_conv_weight_block_with_batch_one_and_one_output_position_is_exact(loss):
    """With one example and one output position, a convolution is a linear layer on its unfolded
    patch, and KFLR's G (x) A equals the exact GGN block, as for linear layers. With more output
    positions it is an approximation: BackPACK's A sums the patches' outer products over the
    positions (divided by N) and G is the bias GGN, so the weight block is not exact even at N = 1."""
    from core.problem import Problem

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3), torch.nn.Tanh(), torch.nn.Flatten(),
                                torch.nn.Linear(3, 4)).double()
    for side, exact_expected in ((3, True), (4, False)):
        x = torch.randn(1, 1, side, side, dtype=torch.float64)
        if side == 4:
            model[3] = torch.nn.Linear(12, 4).double()
        problem = Problem(model, x, torch.tensor([2]), loss=loss)
        g = dense.dense_matrix(problem, "ggn", dtype=torch.float64)
        weight = problem.blocks[0]
        exact = g[weight.start:weight.stop, weight.start:weight.stop]
        approx = kron_blocks(problem, "KFLR")[0]
        assert torch.allclose(approx, exact, rtol=1e-8, atol=1e-12) == exact_expected
        # BackPACK's convention at every size: G = the exact GGN block of the bias, A = the
        # unfolded 3x3 patches' outer products summed over the T output positions, over N
        bias = problem.blocks[1]
        g_bias = g[bias.start:bias.stop, bias.start:bias.stop]
        patches = torch.nn.functional.unfold(x, 3)  # (N, 9, T)
        a_expected = torch.einsum("nit,njt->ij", patches, patches) / len(x)
        torch.testing.assert_close(approx, torch.kron(g_bias, a_expected), rtol=1e-8, atol=1e-12)


def test_fast_products_cover_mse_mlps_and_agree_with_torch_func():
    problem = shaped_problem(architecture="mlp", loss="mse", hidden=(4, 3), side=3, activation="gelu")
    assert problem.product_path == "fast"
    vectors = torch.randn(5, problem.num_params, dtype=torch.float64)
    reference = torch.stack([problem.hvp_autodiff(v) for v in vectors])
    torch.testing.assert_close(problem.hvp_batch(vectors), reference, rtol=1e-10, atol=1e-12)
    ggn_reference = torch.stack([problem.ggn_vp_autodiff(v) for v in vectors])
    torch.testing.assert_close(problem.ggn_vp_batch(vectors), ggn_reference, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["cnn", "cnn+bn", "mlp+bn"])
def test_generic_products_are_used_for_cnn_and_batchnorm(name):
    assert shaped_problem(**SHAPES[name]).product_path != "fast"


def test_layers_have_names_people_recognise():
    problem = shaped_problem(architecture="cnn", batch_norm=True, hidden=(2, 3), side=8)
    assert [layer.label for layer in problem.layers] == [
        "conv1 (Conv2d 1→2, 3×3)", "bn1 (BatchNorm2d 2)", "conv2 (Conv2d 2→3, 3×3)", "bn2 (BatchNorm2d 3)",
        "fc (Linear 12→4)"]


def test_block_report_covers_conv_and_batchnorm_layers():
    problem = shaped_problem(architecture="cnn", batch_norm=True)
    h = dense.dense_matrix(problem, "hessian", dtype=torch.float64)
    g = dense.dense_matrix(problem, "ggn", dtype=torch.float64)
    report = dense.block_report(problem, h, g)
    names = {row["row"] for row in report}
    assert names == {"conv1", "bn1", "fc"} and len(report) == 9
    # the head's own block is the GGN's (the loss is the only non-linearity after it)
    head = next(r for r in report if r["row"] == r["col"] == "fc")
    assert head["agree"]
    # a tanh network's first layer block carries second-derivative terms the GGN drops
    first = next(r for r in report if r["row"] == r["col"] == "conv1")
    assert not first["agree"]


@pytest.mark.parametrize("name", ["cnn+bn", "mlp+bn mse"])
def test_single_vector_products_by_reverse_over_reverse_match_forward_over_reverse(name):
    """Few vectors go through a kept gradient graph; many through ``vmap(jvp(grad))``: both are H."""
    problem = shaped_problem(**SHAPES[name])
    vectors = torch.randn(7, problem.num_params, dtype=torch.float64)
    reference = torch.stack([problem.hvp_autodiff(v) for v in vectors])
    few = torch.cat([problem.hvp_batch(vectors[i:i + 1]) for i in range(7)])
    torch.testing.assert_close(few, reference, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(problem.hvp_batch(vectors), reference, rtol=1e-10, atol=1e-12)
    # float32 vectors on the float64 model: computed in float32, still H
    torch.testing.assert_close(problem.hvp_batch(vectors[:2].float()).double(), reference[:2], rtol=1e-4, atol=1e-5)
    # the GGN the same two ways
    ggn_reference = torch.stack([problem.ggn_vp_autodiff(v) for v in vectors])
    few = torch.cat([problem.ggn_vp_batch(vectors[i:i + 1]) for i in range(7)])
    torch.testing.assert_close(few, ggn_reference, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(problem.ggn_vp_batch(vectors), ggn_reference, rtol=1e-10, atol=1e-12)


def test_what_the_registry_says_each_method_handles_is_what_happens_on_batchnorm_and_conv():
    """``handles`` (shown by ``python -m core methods``) matches the runs: methods that say
    'not BatchNorm' say 'cannot run here' on a BatchNorm network, every other one runs; and every
    method runs on a plain CNN."""
    from core.methods import REGISTRY

    batchnorm = shaped_problem(architecture="mlp", batch_norm=True, hidden=(4,), side=3, dtype=torch.float32)
    cnn = shaped_problem(architecture="cnn", dtype=torch.float32)
    small = {"lanczos": {"k": 2, "max_products": 400}, "pyhessian_top_k": {"k": 2, "max_iter": 10},
             "hutchpp": {"samples": 9}, "xtrace": {"samples": 8}, "hutchinson": {"samples": 5},
             "slq": {"iterations": 10, "runs": 1}, "pyhessian_density": {"iterations": 10},
             "pyhessian_hutchinson": {"samples": 5}}
    for name, spec in REGISTRY.items():
        on_bn = compute_result(name, batchnorm, small.get(name))
        assert on_bn.ok == ("not BatchNorm" not in spec.handles), (name, on_bn.error)
        if not on_bn.ok:
            assert "cannot run here" in on_bn.error and "BatchNorm1d" in on_bn.error
        on_cnn = compute_result(name, cnn, small.get(name))
        assert on_cnn.ok, (name, on_cnn.error)


def test_the_single_path_reports_progress_every_few_vectors_and_still_gives_h():
    """On the one-vector-at-a-time path a chunk could take seconds: it reports (and can be stopped)
    every ``SINGLE_PATH_REPORT`` vectors instead."""
    from core import progress
    from core.problem import SINGLE_PATH_REPORT

    problem = shaped_problem(**SHAPES["cnn+bn"])
    problem.chunk_size = 64
    problem.product_path = "single"
    vectors = torch.randn(SINGLE_PATH_REPORT * 2 + 3, problem.num_params, dtype=torch.float64)
    reports = []
    with progress.listening(lambda counts: reports.append(counts["products"]), interval=0.0):
        found = problem.hvp_batch(vectors)
    assert reports == [SINGLE_PATH_REPORT, 2 * SINGLE_PATH_REPORT, len(vectors)]
    reference = torch.stack([problem.hvp_autodiff(v) for v in vectors])
    torch.testing.assert_close(found, reference, rtol=1e-10, atol=1e-12)


def test_backpack_takes_the_residual_cnn_through_its_converter_where_it_has_rules_and_says_why_where_not():
    """With its skips the residual CNN is not a sequence: BackPACK's converter (torch.fx) makes the
    addition a module; its GGN diagonal is then exact, and the methods without a rule for that
    addition say so in one line."""
    problem = shaped_problem(**SHAPES["resnet"])
    g = dense.dense_matrix(problem, "ggn", dtype=torch.float64)
    diagonal = torch.cat([d.reshape(-1) for d in backpack_quantities(problem, "DiagGGNExact")])
    torch.testing.assert_close(diagonal, g.diagonal(), rtol=1e-8, atol=1e-12)
    for method, words in (("diag_hessian", "SumModule layers (sum_module0: the additions of skip connections)"),
                          ("kflr", "two branches (a skip connection)")):
        result = compute_result(method, problem)
        assert not result.ok and "cannot run here" in result.error and words in result.error
    kfac = compute_result("kfac", problem, {"mc_samples": 1})
    assert kfac.ok and kfac.spectrum.min() > -1e-12  # Kronecker products of PSD factors


def test_the_skips_change_the_function_and_not_the_parameters():
    with_skips, without = shaped_problem(**SHAPES["resnet"]), shaped_problem(**SHAPES["resnet no skips"])
    assert with_skips.num_params == without.num_params
    torch.testing.assert_close(with_skips.flat_params(), without.flat_params())  # the same initialisation
    assert not torch.allclose(with_skips.model(with_skips.x), without.model(without.x))


def test_backpack_says_in_one_line_why_it_cannot_take_the_transformer_and_the_matrix_free_methods_run():
    problem = shaped_problem(**SHAPES["transformer"])
    h = dense.dense_matrix(problem, "hessian", dtype=torch.float64)
    values = torch.linalg.eigvalsh(h)
    for method in ("diag_hessian", "diag_ggn_exact", "kfac", "ekfac"):
        result = compute_result(method, problem)
        assert not result.ok and "cannot run here" in result.error and "\n" not in result.error
    lanczos = compute_result("lanczos", problem, {"k": 2})
    torch.testing.assert_close(torch.tensor(lanczos.top, dtype=torch.float64), values.flip(0)[:2], rtol=1e-6, atol=1e-9)
    assert [layer.kind for layer in problem.layers].count("linear") == 1 + 6 + 1  # embed, q k v out mlp1 mlp2, fc
