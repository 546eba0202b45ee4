"""Small problems and configurations shared by the tests."""

from __future__ import annotations

from pathlib import Path

import torch

from core.config import ExperimentConfig
from core.models import build_model
from core.problem import Problem

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

#: a trained configuration that takes a few seconds end to end
SMALL = ExperimentConfig(dataset="synthetic", hidden=(6,), epochs=3, train_subset=300,
                         hessian_batch_size=48, synthetic_dim=5)


def tiny_problem(activation="relu", hidden=(5, 4), inputs=4, n=16, seed=0, dtype=torch.float64) -> Problem:
    """A float64 MLP problem small enough for finite differences and dense references."""
    gen = torch.Generator().manual_seed(seed)
    config = ExperimentConfig(dataset="synthetic", synthetic_dim=inputs, hidden=tuple(hidden), activation=activation,
                              seed=seed)
    model = build_model(config, inputs, 10).to(dtype)
    x = torch.randn(n, inputs, generator=gen, dtype=dtype)
    y = torch.randint(0, 10, (n,), generator=gen)
    return Problem(model, x, y, chunk_size=7)


def shaped_problem(architecture="cnn", batch_norm=False, loss="cross_entropy", num_classes=4, hidden=(2,),
                   side=6, n=5, seed=0, activation="tanh", dtype=torch.float64, no_skips=False) -> Problem:
    """A float64 problem of any architecture of :mod:`core.shapes` on random ``side`` x ``side``
    images (flattened for an mlp), small enough for finite differences.

    BatchNorm's running statistics and affine parameters are drawn at random, so eval mode
    is not the identity map it is at initialisation.
    """
    from core.models import build_model, model_inputs

    config = ExperimentConfig(architecture=architecture, dataset="digits", hidden=hidden, batch_norm=batch_norm,
                              loss=loss, num_classes=num_classes, activation=activation, seed=seed,
                              no_skips=no_skips)
    gen = torch.Generator().manual_seed(seed)
    model = build_model(config, side * side, num_classes).to(dtype)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                size = module.num_features
                module.running_mean.copy_(torch.randn(size, generator=gen, dtype=dtype))
                module.running_var.copy_(0.5 + torch.rand(size, generator=gen, dtype=dtype))
                module.weight.copy_(1 + 0.3 * torch.randn(size, generator=gen, dtype=dtype))
                module.bias.copy_(0.3 * torch.randn(size, generator=gen, dtype=dtype))
    x = model_inputs(config, torch.randn(n, side * side, generator=gen, dtype=dtype))
    y = torch.randint(0, num_classes, (n,), generator=gen)
    return Problem(model, x, y, loss=loss, chunk_size=11)


def product_columns(problem: Problem) -> int:
    """The columns of a dense build of ``problem`` that take products: neither the parameters of a
    unit off on the batch (their rows are zero) nor the head's (its block is in closed form)."""
    live = torch.ones(problem.num_params, dtype=torch.bool) if problem.off_parameters is None else ~problem.off_parameters
    if problem.closed_form_head is not None:
        live[problem.closed_form_head.slice] = False
    return int(live.sum())
