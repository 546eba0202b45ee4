"""Exact references: the dense Hessian and the dense GGN with their full spectra.

Both are built from P batched curvature-vector products (see :mod:`core.exact`) after the
resource guard admits them; the trace is read off the diagonal, the spectrum comes from
``eigvalsh``. ``extras`` keeps the diagonal (the ground truth for the diagonal
approximations) and the three timings the paper's table reports.
"""

from __future__ import annotations

import time

import torch

from .. import exact
from ..budget import check_dense
from ..problem import Problem
from ..results import Result
from .registry import register


def _num_layers(problem: Problem) -> int:
    return len({b.layer for b in problem.blocks})


def _dense(problem: Problem, which: str, opts: dict) -> Result:
    check_dense(problem.num_params, problem.batch_size, _num_layers(problem))
    dtype = torch.float64 if opts["float64"] else torch.float32
    start = time.perf_counter()
    found = exact.spectrum(problem, which, dtype)
    seconds = time.perf_counter() - start
    spectrum = found["eigenvalues"]
    return Result(method="", family="", spectrum=spectrum, trace=found["trace"],
                  backward_passes=problem.num_params - found["null_dimension"], seconds=seconds,
                  extras={"diagonal": found["diagonal"], "seconds_trace": found["seconds_trace"],
                          "seconds_eigenvalues": seconds, "exact_zero_eigenvalues": found["null_dimension"],
                          "sum_of_eigenvalues": float(spectrum.sum())})


@register("exact_hessian", "Exact Hessian", "exact", "hessian", {"float64": False},
          dense=True, reference="Pearlmutter (1994), Fast exact multiplication by the Hessian")
def exact_hessian(problem: Problem, opts: dict) -> Result:
    """Dense Hessian from batched Hessian-vector products; all eigenvalues by eigvalsh.

    Inputs constant over the batch contribute exact zero eigenvalues, removed before the
    solver and appended after (:mod:`core.reduction`)."""
    return _dense(problem, "hessian", opts)


@register("exact_ggn", "Exact GGN", "exact", "ggn", {"float64": False}, dense=True,
          reference="Schraudolph (2002), Fast curvature matrix-vector products")
def exact_ggn(problem: Problem, opts: dict) -> Result:
    """Dense generalized Gauss-Newton matrix G = 1/N sum_n J_n^T H_L,n J_n; all eigenvalues.

    Same exact null-space reduction as the Hessian (:mod:`core.reduction`)."""
    return _dense(problem, "ggn", opts)
