r"""Exact curvature: the dense Hessian and GGN of the mean loss, their spectra, block reports.

The dense matrix is built column-chunk by column-chunk, :math:`H[:, S] = H I[:, S]`, from
batched Hessian-vector products (:meth:`core.problem.Problem.hvp_batch`), then symmetrised
as :math:`(H + H^\top)/2` (the products are exact up to rounding, so this only removes
rounding asymmetry). Eigenvalues come from LAPACK's symmetric solver through
``torch.linalg.eigvalsh`` (MKL's ``syevd``), ascending.

This replaces the paper's way, one ``torch.autograd.grad`` call per gradient entry then a
float64 solver (kept in :func:`hessian_rowwise` as the baseline the benchmark compares to).
"""

from __future__ import annotations

import numpy as np
import torch

from ..problem import Problem


def dense_matrix(problem: Problem, which: str = "hessian", dtype=torch.float32) -> torch.Tensor:
    """The dense symmetric P x P Hessian (``which="hessian"``) or GGN (``"ggn"``)."""
    apply = {"hessian": problem.hvp_batch, "ggn": problem.ggn_vp_batch}[which]
    p, chunk = problem.num_params, problem.chunk_size
    matrix = torch.empty(p, p, dtype=dtype, device=problem.device)
    for start in range(0, p, chunk):
        stop = min(p, start + chunk)
        basis = torch.zeros(stop - start, p, dtype=dtype, device=problem.device)
        basis[:, start:stop] = torch.eye(stop - start, dtype=dtype, device=problem.device)
        matrix[start:stop] = apply(basis)
    matrix += matrix.T.clone()
    matrix *= 0.5
    return matrix


#: the exact methods' last dense matrices, kept for the block report in the same process
#: (:func:`full_matrix`): ``(problem key, which) -> (reduction or None, matrix)``
_RECENT: dict[tuple[str, str], tuple] = {}
#: a matrix is kept only up to this size (float32: P' up to about 8,000), two at most (H and G)
RECENT_MAX_BYTES = 256 * 2**20


def _remember(problem: Problem, which: str, reduction, matrix: torch.Tensor) -> None:
    if problem.key is None or matrix.numel() * matrix.element_size() > RECENT_MAX_BYTES:
        return
    for stale in [k for k in _RECENT if k[0] != problem.key]:  # only the latest problem's H and G
        del _RECENT[stale]
    _RECENT[(problem.key, which)] = (reduction, matrix)


def full_matrix(problem: Problem, which: str = "hessian") -> torch.Tensor:
    """The dense P x P H (or G) in float32: rebuilt in O(P^2) from the matrix :func:`spectrum`
    just built for the same problem in this process when there is one (the exact methods run
    before the block report, so Home's H-vs-GGN claims cost no second build: 4.5 s on the MNIST
    default), else built by :func:`dense_matrix`."""
    reduction, matrix = _RECENT.get((problem.key, which), (None, None)) if problem.key else (None, None)
    if matrix is None:
        return dense_matrix(problem, which)
    return matrix.clone() if reduction is None else reduction.full_matrix(matrix)


def reduced_matrix(problem: Problem, reduction, which: str = "hessian", dtype=torch.float32) -> torch.Tensor:
    """:math:`E^\top M E` for the basis E of :mod:`core.curvature.reduction` (P' x P', symmetrised)."""
    apply = {"hessian": problem.hvp_batch, "ggn": problem.ggn_vp_batch}[which]
    size, chunk = reduction.reduced_size, problem.chunk_size
    matrix = torch.empty(size, size, dtype=dtype, device=problem.device)
    for start in range(0, size, chunk):
        stop = min(size, start + chunk)
        matrix[start:stop] = reduction.project(apply(reduction.basis_rows(start, stop, dtype).to(problem.device)))
    matrix += matrix.T.clone()
    matrix *= 0.5
    return matrix


def spectrum(problem: Problem, which: str = "hessian", dtype=torch.float32) -> dict:
    """All eigenvalues (ascending), trace and diagonal of the dense H (or G), exactly.

    Inputs constant over the batch give exact zero eigenvalues that are removed before the
    eigensolver and appended afterwards (:mod:`core.curvature.reduction`); otherwise the full matrix is
    built. Returns ``eigenvalues``, ``trace``, ``diagonal``, ``null_dimension`` and the seconds
    to the trace (``seconds_trace``).
    """
    import time

    from .reduction import constant_input_reduction

    start = time.perf_counter()
    reduction = constant_input_reduction(problem)
    if reduction is None:
        matrix = dense_matrix(problem, which, dtype)
        diagonal = torch.diagonal(matrix).double().cpu().numpy().copy()
        null = 0
    else:
        matrix = reduced_matrix(problem, reduction, which, dtype)
        diagonal = reduction.full_diagonal(matrix)
        null = reduction.null_dimension
    trace = float(torch.diagonal(matrix).double().sum())
    seconds_trace = time.perf_counter() - start
    if dtype == torch.float32:
        _remember(problem, which, reduction, matrix)
    values = np.sort(np.concatenate([eigenvalues(matrix), np.zeros(null)]))
    return {"eigenvalues": values, "trace": trace, "diagonal": diagonal, "null_dimension": null,
            "seconds_trace": seconds_trace}


def eigenvalues(matrix: torch.Tensor) -> np.ndarray:
    """All eigenvalues of a symmetric matrix, ascending, as float64 numpy.

    LAPACK's divide-and-conquer ``syevd`` can fail to converge in float32 on matrices with
    large clusters of equal eigenvalues (seen on squared-error MLPs, whose head bias block is
    exactly :math:`2I/C`); the solve is then repeated in float64, which is exact enough and
    only slower.
    """
    try:
        return torch.linalg.eigvalsh(matrix).double().cpu().numpy()
    except torch.linalg.LinAlgError:
        if matrix.dtype == torch.float64:
            raise
        return torch.linalg.eigvalsh(matrix.double()).cpu().numpy()


def hessian_rowwise(problem: Problem) -> torch.Tensor:
    """The paper's way: differentiate each of the P gradient entries once more (baseline)."""
    theta = problem.flat_params().requires_grad_(True)
    gradient = torch.autograd.grad(problem.loss_at(theta), theta, create_graph=True)[0]
    rows = [torch.autograd.grad(gradient[i], theta, retain_graph=True)[0]
            for i in range(problem.num_params)]
    return torch.stack(rows)


def layer_slices(problem: Problem) -> dict[str, slice]:
    """Each layer's (weight and bias together) slice of the flat parameter vector."""
    return {layer.name: layer.slice for layer in problem.layers}


def block_report(problem: Problem, hessian: torch.Tensor, ggn: torch.Tensor,
                 agree_tol: float = 1e-4) -> list[dict]:
    """Per layer pair (named as people read them, e.g. ``conv1 (Conv2d 1→4, 3×3)``): Frobenius
    norms of H's block and of H - G, and whether they agree.

    Blocks agree when ``||H_ij - G_ij||_F <= agree_tol * ||H||_F``: float32 rounding of the
    two products, not curvature, then explains the difference. Norms are taken in float64.
    """
    scale = float(torch.linalg.matrix_norm(hessian.double())) or 1.0
    slices = layer_slices(problem)
    labels = {layer.name: layer.label for layer in problem.layers}
    report = []
    for row, rs in slices.items():
        for col, cs in slices.items():
            h, g = hessian[rs, cs].double(), ggn[rs, cs].double()
            h_norm, diff_norm = float(torch.linalg.matrix_norm(h)), float(torch.linalg.matrix_norm(h - g))
            report.append({"row": row, "col": col, "row_label": labels[row], "col_label": labels[col],
                           "within_layer": row == col,
                           "hessian_norm": h_norm, "difference_norm": diff_norm,
                           "relative_difference": diff_norm / h_norm if h_norm > 0 else 0.0,
                           "agree": diff_norm <= agree_tol * scale})
    return report
