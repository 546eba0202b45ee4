"""Shared fixtures: a private joblib store per test session and tiny problems."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED_DATA = ROOT.parent / "shared" / "data"

from core import cache  # noqa: E402
from core.config import ExperimentConfig  # noqa: E402
from core.model import build_mlp  # noqa: E402
from core.problem import Problem  # noqa: E402

warnings.filterwarnings("ignore", category=FutureWarning)
warnings.filterwarnings("ignore", message=".*create_graph=True.*")


@pytest.fixture(autouse=True, scope="session")
def private_cache(tmp_path_factory):
    cache.set_cache_dir(tmp_path_factory.mktemp("cache"))
    yield
    cache.set_cache_dir(None)


@pytest.fixture
def fresh_cache(tmp_path):
    """An empty store for one test (counts of real computations start from zero)."""
    cache.set_cache_dir(tmp_path / "cache")
    cache.COMPUTE_COUNTS.clear()
    yield tmp_path / "cache"


SMALL = ExperimentConfig(dataset="synthetic", hidden=(6,), epochs=3, train_subset=300,
                         hessian_batch_size=48, synthetic_dim=5)


def tiny_problem(activation="relu", hidden=(5, 4), inputs=4, n=16, seed=0, dtype=torch.float64) -> Problem:
    """A float64 MLP problem small enough for finite differences and dense references."""
    gen = torch.Generator().manual_seed(seed)
    model = build_mlp([inputs, *hidden, 10], activation, seed).to(dtype)
    x = torch.randn(n, inputs, generator=gen, dtype=dtype)
    y = torch.randint(0, 10, (n,), generator=gen)
    return Problem(model, x, y, chunk_size=7)
