"""Exact references: the dense Hessian and the dense GGN with their full spectra.

Both are built from at most P batched curvature-vector products (see :mod:`core.curvature.dense`:
inputs constant over the batch and, in MLPs, units off on the whole batch give rows known
without a product; the linear head's block is written in closed form, :mod:`core.curvature.head`)
after the registry's resource guard admits them (they are registered as dense); the trace is
read off the diagonal, the spectrum and the eigenvectors of the :data:`KEPT_VECTORS` largest
eigenvalues from one tridiagonalisation or, past a few thousand rows, a certified block Krylov
space of the dense matrix (:func:`core.curvature.dense.eigen_ends`). The smallest eigenvalues'
vectors are not computed: no page, table or claim reads them, and past a few thousand rows they
cost more than the top's (a Cholesky factor and a shift-and-invert space); the bottom values are
in the spectrum. The
estimate keeps the diagonal (the ground truth for the diagonal approximations) and the seconds to
the trace, which the paper's table reports.
"""

from __future__ import annotations

import torch

from ..curvature import dense
from ..problem import Problem
from ..results import KEPT_VECTORS, Estimate


def _dense(problem: Problem, which: str, opts: dict) -> Estimate:
    dtype = torch.float64 if opts["float64"] else torch.float32
    found = dense.spectrum(problem, which, dtype, vectors=min(KEPT_VECTORS, problem.num_params), bottom=False)
    null = found["null_dimension"] + found["zero_rows"]
    # with exact zeros appended, the top vectors belong to the top only where its values are above zero
    top = found["top_vectors"] if not null or (found["top_values"] > 0).all() else None
    return Estimate(spectrum=found["eigenvalues"], trace=found["trace"],
                    backward_passes=found["products"],
                    diagonal=found["diagonal"], seconds_trace=found["seconds_trace"],
                    exact_zero_eigenvalues=null, top_vectors=top)


def exact_hessian(problem: Problem, opts: dict) -> Estimate:
    """Dense Hessian from batched Hessian-vector products; all eigenvalues by eigvalsh.

    Inputs constant over the batch and units off on the whole batch (dead ReLUs) contribute
    exact zero eigenvalues, removed before the solver and appended after
    (:mod:`core.curvature.reduction`)."""
    return _dense(problem, "hessian", opts)


def exact_ggn(problem: Problem, opts: dict) -> Estimate:
    """Dense generalized Gauss-Newton matrix G = 1/N sum_n J_n^T H_L,n J_n; all eigenvalues.

    Same exact null-space reduction as the Hessian (:mod:`core.curvature.reduction`)."""
    return _dense(problem, "ggn", opts)
