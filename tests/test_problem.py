"""Problem: the fast batched products against torch.func, generic GGN, layers and loss."""

import numpy as np
import pytest
import torch

from factories import tiny_problem
from core.curvature import dense

ACTIVATIONS = ["relu", "tanh", "sigmoid", "gelu", "leaky_relu", "softplus"]


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_fast_products_equal_torch_func(activation):
    problem = tiny_problem(activation)
    gen = torch.Generator().manual_seed(1)
    vectors = torch.randn(3, problem.num_params, generator=gen, dtype=torch.float64)
    fast_h, fast_g = problem.hvp_batch(vectors), problem.ggn_vp_batch(vectors)
    for v, h, g in zip(vectors, fast_h, fast_g):
        torch.testing.assert_close(h, problem.hvp_autodiff(v), rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(g, problem.ggn_vp_autodiff(v), rtol=1e-10, atol=1e-12)


def test_hessian_symmetric_trace_is_sum_of_eigenvalues_and_hvp_is_matrix_product():
    problem = tiny_problem("tanh")
    raw = torch.cat([problem.hvp_batch(torch.eye(problem.num_params, dtype=torch.float64)[i:i + 1])
                     for i in range(problem.num_params)])
    assert torch.allclose(raw, raw.T, atol=1e-12)
    hessian = dense.dense_matrix(problem, dtype=torch.float64)
    values = dense.eigenvalues(hessian)
    assert np.all(np.diff(values) >= 0)
    assert float(torch.trace(hessian)) == pytest.approx(values.sum(), rel=1e-10, abs=1e-12)
    v = torch.randn(problem.num_params, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(problem.hvp(v), hessian @ v, rtol=1e-9, atol=1e-12)


def test_generic_ggn_product_equals_the_softmax_formula():
    problem = tiny_problem("tanh")
    problem.product_path = "batched"  # the torch.func path, which differentiates the loss for H_L
    v = torch.randn(problem.num_params, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    from torch.func import functional_call, jvp, vjp

    theta = problem.flat_params()
    forward = lambda flat: functional_call(problem.model, problem.unflatten(flat), (problem.x,))
    logits, jv = jvp(forward, (theta,), (v,))
    p = torch.softmax(logits, dim=1)
    by_formula = vjp(forward, theta)[1]((p * jv - p * (p * jv).sum(1, keepdim=True)) / problem.batch_size)[0]
    torch.testing.assert_close(problem.ggn_vp_batch(v[None])[0], by_formula, rtol=1e-10, atol=1e-12)


def test_layers_in_forward_order_with_their_blocks():
    problem = tiny_problem("relu", hidden=(5, 4), inputs=4)
    assert [layer.name for layer in problem.layers] == ["fc1", "fc2", "fc3"]
    assert all(layer.kind == "linear" for layer in problem.layers)
    assert problem.layers[0].slice == slice(0, 4 * 5 + 5)
    assert problem.layers[-1].slice.stop == problem.num_params
    assert type(problem.loss_module()).__name__ == "CrossEntropyLoss"
