"""Small problems and configurations shared by the tests."""

from __future__ import annotations

from pathlib import Path

import torch

from core.config import ExperimentConfig
from core.models import build_mlp
from core.problem import Problem

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

#: a trained configuration that takes a few seconds end to end
SMALL = ExperimentConfig(dataset="synthetic", hidden=(6,), epochs=3, train_subset=300,
                         hessian_batch_size=48, synthetic_dim=5)


def tiny_problem(activation="relu", hidden=(5, 4), inputs=4, n=16, seed=0, dtype=torch.float64) -> Problem:
    """A float64 MLP problem small enough for finite differences and dense references."""
    gen = torch.Generator().manual_seed(seed)
    model = build_mlp([inputs, *hidden, 10], activation, seed).to(dtype)
    x = torch.randn(n, inputs, generator=gen, dtype=dtype)
    y = torch.randint(0, 10, (n,), generator=gen)
    return Problem(model, x, y, chunk_size=7)
