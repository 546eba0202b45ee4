"""Fixtures: an empty store for one test (counts of real computations start from zero)."""

import os

import pytest

from core import cache, workspace

# nothing is computed ahead of the user (core.ahead) unless a test turns it on
os.environ["HESSIAN_AHEAD"] = "0"


@pytest.fixture
def fresh_cache(tmp_path):
    with workspace.using(cache_dir=tmp_path / "cache"):
        cache.COMPUTE_COUNTS.clear()
        yield tmp_path / "cache"


@pytest.fixture(scope="module")
def relu_problem():
    import torch

    from factories import tiny_problem

    return tiny_problem("relu", hidden=(6,), inputs=5, n=24, dtype=torch.float32)


@pytest.fixture(scope="module")
def dense_reference(relu_problem):
    """The relu problem's dense H, G (float64) and H's eigenvalues."""
    import torch

    from core.curvature import dense as dense_module

    h = dense_module.dense_matrix(relu_problem, "hessian", dtype=torch.float64)
    g = dense_module.dense_matrix(relu_problem, "ggn", dtype=torch.float64)
    return h, g, dense_module.eigenvalues(h)
