r"""Exact curvature: the dense Hessian and GGN of the mean loss, their spectra, block reports.

The dense matrix is built column-chunk by column-chunk, :math:`H[:, S] = H I[:, S]`, from
batched Hessian-vector products (:meth:`core.problem.Problem.hvp_batch`), then symmetrised
as :math:`(H + H^\top)/2` (the products are exact up to rounding, so this only removes
rounding asymmetry). Eigenvalues come from LAPACK's symmetric solver through
``torch.linalg.eigvalsh`` (MKL's ``syevd``), ascending. The eigenvectors of the ``k`` largest and
smallest come, from :data:`KRYLOV_ENDS_FROM` rows on, from block Krylov subspaces of the dense
matrix (:func:`krylov_ends`: GEMMs for the top end; for the bottom end, shift-and-invert with one
Cholesky factor of :math:`H - \sigma I`, :math:`\sigma` below the smallest eigenvalue), each
Rayleigh-Ritz pair accepted only when its residual :math:`\|Hy - \theta y\|` and its distance to
``eigvalsh``'s own value are both within :data:`KRYLOV_ENDS_TOL` of :math:`\|H\|_2` (Saad,
*Numerical Methods for Large Eigenvalue Problems*, 2011, ch. 4 and 6). Below that size, or when
the Krylov pairs are not certified, from one Householder tridiagonalisation
:math:`H = Q T Q^\top` (LAPACK ``sytrd``): all eigenvalues of T, the ``k`` largest and smallest
eigenvectors of T by bisection and inverse iteration (``stebz``/``stein``, float64, O(Pk)), mapped
back by Q's reflectors (``ormqr``, O(P^2 k)). At P = 9,834 on 2 cores: ``eigvalsh`` 14.5 s, SciPy's
``sytrd`` (memory-bound) 28 s, the full ``eigh`` 84 s.

This replaces the paper's way, one ``torch.autograd.grad`` call per gradient entry then a
float64 solver (kept in :func:`hessian_rowwise` as the baseline the benchmark compares to).
"""

from __future__ import annotations

import numpy as np
import torch

from ..problem import Problem
from ..results import LAYER_TOP


def dense_matrix(problem: Problem, which: str = "hessian", dtype=torch.float32) -> torch.Tensor:
    """The dense symmetric P x P Hessian (``which="hessian"``) or GGN (``"ggn"``)."""
    p = problem.num_params

    def basis(indices: torch.Tensor) -> torch.Tensor:
        rows = torch.zeros(len(indices), p, dtype=dtype)
        rows[torch.arange(len(indices)), indices] = 1.0
        return rows

    return _built(problem, which, p, basis, lambda rows: rows, problem.off_parameters, dtype, _head(problem, dtype))


def _head(problem: Problem, dtype, coordinates=None) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The head's block in closed form (:mod:`core.curvature.head`) with its rows' indices in the
    built matrix (``coordinates`` maps flat indices there), or None without a closed-form head."""
    if problem.closed_form_head is None:
        return None
    from .head import head_block

    flat, block = head_block(problem, dtype)
    return (flat if coordinates is None else coordinates(flat)), block


def _built(problem: Problem, which: str, size: int, basis, project, skipped: torch.Tensor | None,
           dtype, head: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    r"""The symmetric ``size`` x ``size`` matrix :math:`E^\top M E` (M the Hessian or the GGN) from
    batched products: ``basis(S)`` gives the columns S of the basis E as rows, ``project`` maps
    rows :math:`v` to :math:`v E`, and the rows S are ``project`` of the products with ``basis(S)``.

    With ``head`` (the rows R of the network's head and their block :math:`M_{RR}`, the same for
    H and G: :mod:`core.curvature.head`) the rows R take no products: :math:`M_{RR}` is written
    as given and :math:`M_{R,\bar R} = M_{\bar R, R}^\top` from the computed rows.

    Rows flagged in ``skipped`` (a boolean mask; units off on the batch:
    :attr:`~core.problem.Problem.off_parameters`) are not computed but set to zero, once every
    computed row is checked to be zero at them (the same entries, by symmetry); should one not be,
    every row is computed. Then symmetrised, :math:`(A + A^\top)/2` (the products are exact up to
    rounding, so this only removes rounding asymmetry)."""
    apply = {"hessian": problem.hvp_batch, "ggn": problem.ggn_vp_batch}[which]
    device = problem.device
    matrix = torch.zeros(size, size, dtype=dtype, device=device)
    computed = torch.ones(size, dtype=torch.bool) if skipped is None else ~skipped.cpu()
    if head is not None:
        computed[head[0]] = False
    live = torch.nonzero(computed).flatten()
    at_skipped = None if skipped is None else skipped.to(device)
    for start in range(0, len(live), problem.chunk_size):
        indices = live[start:start + problem.chunk_size]
        rows = project(apply(basis(indices).to(device)))
        if at_skipped is not None and bool((rows[:, at_skipped] != 0).any()):
            return _built(problem, which, size, basis, project, None, dtype, head)
        matrix[indices.to(device)] = rows
    if head is not None:
        rows, block = head[0].to(device), head[1].to(device)
        matrix[rows] = matrix[:, rows].T
        matrix[rows[:, None], rows] = block
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
    off = problem.off_parameters
    return _built(problem, which, reduction.reduced_size, lambda indices: reduction.columns(indices, dtype),
                  reduction.project, None if off is None else reduction.within(off), dtype,
                  _head(problem, dtype, reduction.kept_position))


def spectrum(problem: Problem, which: str = "hessian", dtype=torch.float32, vectors: int = 0,
             bottom: bool = True) -> dict:
    """All eigenvalues (ascending), trace and diagonal of the dense H (or G), exactly, and with
    ``vectors > 0`` the eigenvectors of the ``vectors`` largest and (with ``bottom``) smallest
    eigenvalues.

    Inputs constant over the batch give exact zero eigenvalues that are removed before the
    build and appended afterwards (:mod:`core.curvature.reduction`); otherwise the full matrix is
    built. Rows of the built matrix that are exactly zero (a unit off on the whole batch) are
    deflated before the eigensolver likewise (:func:`~core.curvature.reduction.nonzero_rows`).
    Returns ``eigenvalues``, ``trace``, ``diagonal``, ``null_dimension`` (the first kind),
    ``zero_rows`` (the second), the curvature-vector ``products`` the build took, the seconds
    to the trace (``seconds_trace``) and, with vectors, ``top_vectors`` / ``bottom_vectors``
    (``(k, P)`` float32, unit rows, row i for the i-th largest / smallest eigenvalue of the nonzero
    part: with a null space, the exact zeros' directions are not among them) with their values
    ``top_values`` / ``bottom_values`` (the bottom ones only with ``bottom``).
    """
    import time

    from .reduction import constant_input_reduction, nonzero_rows

    start, products = time.perf_counter(), problem.hvp_count
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
    found = {"trace": trace, "diagonal": diagonal, "null_dimension": null, "zero_rows": 0,
             "seconds_trace": seconds_trace, "products": problem.hvp_count - products}
    rows, kept = matrix.shape[0], nonzero_rows(matrix)
    if kept is not None:  # exact zero rows (dead units): deflated before the solve
        found["zero_rows"] = rows - len(kept)
        matrix = matrix[kept.to(matrix.device)][:, kept.to(matrix.device)]
    if vectors:
        ends = eigen_ends(matrix, vectors, bottom)
        values = ends.pop("values")
        for end in ("top", "bottom") if bottom else ("top",):
            lifted = torch.as_tensor(ends[f"{end}_vectors"])
            if kept is not None:
                lifted = torch.zeros(len(lifted), rows, dtype=lifted.dtype).index_copy_(1, kept, lifted)
            if reduction is not None:
                lifted = reduction.lift(lifted)
            found[f"{end}_vectors"] = lifted.float().numpy()
            found[f"{end}_values"] = ends[f"{end}_values"]
    else:
        values = eigenvalues(matrix)
    found["eigenvalues"] = np.sort(np.concatenate([values, np.zeros(null + found["zero_rows"])]))
    return found


def eigen_ends(matrix: torch.Tensor, k: int, bottom: bool = True) -> dict:
    """All eigenvalues of a symmetric matrix (ascending, float64) and the unit eigenvectors of its
    ``k`` largest (``top_vectors``, row i for the i-th largest) and, with ``bottom``, its ``k`` smallest
    (``bottom_vectors``), from block Krylov spaces or one tridiagonalisation (module docstring); ``top_values`` /
    ``bottom_values`` are their eigenvalues. Without ``bottom`` the bottom keys are absent (on
    the MNIST default at width 16, 6,764 rows solved, the bottom end's Cholesky factor and
    shift-and-invert space took 7.3 s, the top end's Krylov space 1.5 s).

    >>> m = torch.diag(torch.tensor([3.0, -1.0, 2.0, 0.5]))
    >>> found = eigen_ends(m, 1)
    >>> found["values"].tolist(), found["top_vectors"].round(6).tolist(), found["bottom_values"].tolist()
    ([-1.0, 0.5, 2.0, 3.0], [[1.0, 0.0, 0.0, 0.0]], [-1.0])
    """
    n = matrix.shape[0]
    k = min(k, n)
    if matrix.is_cuda or n < 3:  # no sytrd on the GPU; tiny matrices need no reflectors
        values, vectors = torch.linalg.eigh(matrix.double())
        values, vectors = values.cpu().numpy(), vectors.cpu().numpy()
        found = {"values": values, "top_values": values[::-1][:k], "top_vectors": vectors[:, ::-1][:, :k].T.copy()}
        if bottom:
            found.update(bottom_values=values[:k], bottom_vectors=vectors[:, :k].T.copy())
        return found
    if n >= KRYLOV_ENDS_FROM:
        found = krylov_ends(matrix, eigenvalues(matrix), k, bottom)
        if found is not None:
            return found
    return tridiagonal_ends(matrix, k, bottom)


#: from this many rows :func:`eigen_ends` tries :func:`krylov_ends` first; below it the
#: tridiagonalisation is as fast or faster (2 cores, eigvalsh + Krylov against sytrd's route:
#: 1.4 / 0.6 s at 3,000 rows, 3.0-3.6 / 2.3-3.4 s at 5,000, 6.4 / 9.2 s at 6,500, 19.4 / 33.9 s at 9,834)
KRYLOV_ENDS_FROM = 6000
#: a Ritz pair is accepted when its residual and its distance to eigvalsh's value are within this
#: fraction of the matrix's norm
KRYLOV_ENDS_TOL = 1e-5
#: the block size of :func:`krylov_ends` (a cluster of up to this many equal eigenvalues is found whole)
KRYLOV_BLOCK = 16
#: block steps at most (and at most a basis of half the rows); the pairs are checked every few steps
KRYLOV_MAX_STEPS = 60
KRYLOV_CHECK_EVERY = 5


def krylov_ends(matrix: torch.Tensor, values: np.ndarray, k: int, bottom: bool = True) -> dict | None:
    r""":func:`eigen_ends`' answer from block Krylov subspaces (module docstring), given all the
    eigenvalues ``values`` (ascending, from ``eigvalsh``); None when a pair is not certified within
    :data:`KRYLOV_MAX_STEPS` (the caller then tridiagonalises) or :math:`H - \sigma I` has no Cholesky
    factor. The matrix is left as it was (its diagonal is shifted for the factor and restored)."""
    scale = float(max(abs(values[0]), abs(values[-1]))) or 1.0
    generator = torch.Generator().manual_seed(0)
    top = _certified_ritz(matrix, lambda block: matrix @ block, values[::-1][:k], True, scale, generator)
    if top is None:
        return None
    if not bottom:
        return {"values": values, "top_values": top[0], "top_vectors": top[1]}
    shift = float(values[0]) - max(float(values[k - 1] - values[0]), 1e-3 * scale)
    diagonal = matrix.diagonal().clone()
    matrix.diagonal().sub_(shift)
    try:
        factor, info = torch.linalg.cholesky_ex(matrix)
    finally:
        matrix.diagonal().copy_(diagonal)
    if int(info) != 0:
        return None
    low = _certified_ritz(matrix, lambda block: torch.cholesky_solve(block, factor), values[:k], False, scale,
                          generator)
    del factor
    if low is None:
        return None
    return {"values": values, "top_values": top[0], "top_vectors": top[1],
            "bottom_values": low[0], "bottom_vectors": low[1]}


def _certified_ritz(matrix: torch.Tensor, apply, wanted: np.ndarray, largest: bool, scale: float, generator):
    """The Ritz pairs of ``matrix`` on a block Krylov space of ``apply`` (full reorthogonalisation)
    nearest one end: ``(values, unit vectors as rows)`` ordered as ``wanted`` (outermost first), or
    None unless every residual and every distance to ``wanted`` is within
    :data:`KRYLOV_ENDS_TOL` ``* scale``."""
    n, k, width = matrix.shape[0], len(wanted), KRYLOV_BLOCK
    steps = max(2, min(KRYLOV_MAX_STEPS, n // (2 * width)))
    if 2 * k > width * steps:
        return None
    basis = torch.empty(n, width * steps, dtype=matrix.dtype, device=matrix.device)
    image = torch.empty_like(basis)  # matrix @ basis, kept for the columns checked so far
    basis[:, :width] = torch.linalg.qr(torch.randn(n, width, generator=generator).to(matrix))[0]
    size, imaged, tol = width, 0, KRYLOV_ENDS_TOL * scale
    for step in range(1, steps):
        done = basis[:, :size]
        block = apply(basis[:, size - width:size])
        for _ in range(2):  # twice is enough (Giraud et al. 2005), once more after the QR
            block -= done @ (done.T @ block)
        block = torch.linalg.qr(block)[0]
        block -= done @ (done.T @ block)
        basis[:, size:size + width] = torch.linalg.qr(block)[0]
        size += width
        if step % KRYLOV_CHECK_EVERY and step != steps - 1:
            continue
        image[:, imaged:size] = matrix @ basis[:, imaged:size]  # each column's image once
        imaged = size
        space, spanned = basis[:, :size].double(), image[:, :size].double()
        projected = space.T @ spanned
        theta, coefficients = torch.linalg.eigh((projected + projected.T) / 2)
        pick = torch.arange(size - 1, size - 1 - k, -1) if largest else torch.arange(k)
        ritz, chosen = theta[pick], coefficients[:, pick]
        vectors, images = space @ chosen, spanned @ chosen
        residuals = (images - vectors * ritz).norm(dim=0)
        if float(residuals.max()) <= tol and float(np.abs(ritz.cpu().numpy() - wanted).max()) <= tol:
            vectors = vectors / vectors.norm(dim=0, keepdim=True)
            return ritz.cpu().numpy().copy(), vectors.T.cpu().numpy().copy()
    return None


def tridiagonal_ends(matrix: torch.Tensor, k: int, bottom: bool = True) -> dict:
    """:func:`eigen_ends`' answer from one tridiagonalisation (module docstring)."""
    from scipy.linalg import eigh_tridiagonal, eigvalsh_tridiagonal

    n = matrix.shape[0]
    # a symmetric C-ordered matrix is its own Fortran-ordered transpose: sytrd works on a copy in place
    reflectors, diagonal, off_diagonal, tau = tridiagonalise(matrix.cpu().numpy().T.copy(order="F"))
    diagonal, off_diagonal = diagonal.astype(np.float64), off_diagonal.astype(np.float64)
    values = eigvalsh_tridiagonal(diagonal, off_diagonal)
    top_values, top = eigh_tridiagonal(diagonal, off_diagonal, select="i", select_range=(n - k, n - 1))
    ends = [top[:, ::-1]]
    if bottom:
        bottom_values, low = eigh_tridiagonal(diagonal, off_diagonal, select="i", select_range=(0, k - 1))
        ends.append(low)
    tridiagonal_vectors = torch.from_numpy(np.concatenate(ends, axis=1).copy())
    # Q = diag(1, Q'), Q' the QR-style product of the reflectors stored below A's subdiagonal
    below = torch.from_numpy(np.ascontiguousarray(reflectors[1:, : n - 1])).double()
    mapped = tridiagonal_vectors.clone()
    mapped[1:] = torch.ormqr(below, torch.from_numpy(tau).double(), tridiagonal_vectors[1:].contiguous())
    mapped = (mapped / mapped.norm(dim=0, keepdim=True)).T.numpy()
    found = {"values": values, "top_values": top_values[::-1].copy(), "top_vectors": mapped[:k].copy()}
    if bottom:
        found.update(bottom_values=bottom_values, bottom_vectors=mapped[k:].copy())
    return found


def tridiagonalise(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """LAPACK ``sytrd`` on the lower triangle of the Fortran-ordered symmetric ``a`` (float32 or
    float64, overwritten by the reflectors): ``(reflectors, diagonal, off_diagonal, tau)``.

    Called through SciPy's Cython LAPACK table with ``ctypes``, which releases the GIL for the
    call (SciPy's own ``lapack.?sytrd`` wrapper holds it: measured 1 heartbeat of a 50 ms thread
    in a 2.3 s solve at P = 3,000, against 39 this way), so the app's progress clock keeps time
    during the solve; SciPy's wrapper is the fallback where the table is not found.

    >>> a = np.asfortranarray(np.array([[2.0, 1.0, 0.0], [1.0, 2.0, 1.0], [0.0, 1.0, 2.0]]))
    >>> _, d, e, _ = tridiagonalise(a)
    >>> np.round(np.sort(np.linalg.eigvalsh(np.diag(d) + np.diag(e, 1) + np.diag(e, -1))), 6).tolist()
    [0.585786, 2.0, 3.414214]
    """
    from scipy.linalg import lapack

    n = a.shape[0]
    single = a.dtype == np.float32
    lwork_query = lapack.ssytrd_lwork if single else lapack.dsytrd_lwork
    lwork = int(lwork_query(n, lower=1)[0])  # the blocked algorithm needs its optimal workspace (else 2.3x slower)
    routine = _gil_free_sytrd("ssytrd" if single else "dsytrd")
    if routine is None:
        found = (lapack.ssytrd if single else lapack.dsytrd)(a, lower=1, overwrite_a=1, lwork=lwork)
        reflectors, diagonal, off_diagonal, tau, info = found
    else:
        import ctypes

        reflectors = a
        diagonal, off_diagonal, tau = (np.empty(m, a.dtype) for m in (n, n - 1, n - 1))
        work, info_out = np.empty(max(1, lwork), a.dtype), ctypes.c_int(0)
        size, lda, length = ctypes.c_int(n), ctypes.c_int(n), ctypes.c_int(lwork)
        routine(b"L", ctypes.byref(size), a.ctypes.data, ctypes.byref(lda), diagonal.ctypes.data,
                off_diagonal.ctypes.data, tau.ctypes.data, work.ctypes.data, ctypes.byref(length),
                ctypes.byref(info_out))
        info = info_out.value
    if info != 0:
        raise np.linalg.LinAlgError(f"LAPACK sytrd failed (info {info})")
    return reflectors, diagonal, off_diagonal, tau


_SYTRD: dict = {}


def _gil_free_sytrd(name: str):
    """``?sytrd`` from ``scipy.linalg.cython_lapack`` as a ``ctypes`` function, or None."""
    if name not in _SYTRD:
        import ctypes

        try:
            from scipy.linalg import cython_lapack

            capsule = cython_lapack.__pyx_capi__[name]
            get_name, get_pointer = ctypes.pythonapi.PyCapsule_GetName, ctypes.pythonapi.PyCapsule_GetPointer
            get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
            get_pointer.restype, get_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
            address = get_pointer(capsule, get_name(capsule))
            pointer = ctypes.c_void_p
            _SYTRD[name] = ctypes.CFUNCTYPE(None, ctypes.c_char_p, *[pointer] * 9)(address)
        except (ImportError, AttributeError, KeyError, ValueError, TypeError):
            _SYTRD[name] = None
    return _SYTRD[name]


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


def layer_block_spectra(problem: Problem, matrix: torch.Tensor, top: int = LAYER_TOP) -> list[dict]:
    """Per layer (weights and biases together): the ``top`` largest eigenvalues and the trace of
    the matrix's diagonal block, in float64 (``eigvalsh`` up to 2,000 rows, else ARPACK's Lanczos
    on the dense block, tol 1e-10: the block's outliers converge in a few dozen products)."""
    from scipy.sparse.linalg import eigsh

    found = []
    for layer in problem.layers:
        block = matrix[layer.slice, layer.slice].double().cpu().numpy()
        size = block.shape[0]
        if size <= 2000 or top >= size - 1:
            values = np.linalg.eigvalsh(block)[::-1][:top]
        else:
            values = np.sort(eigsh(block, k=top, which="LA", tol=1e-10,
                                   v0=np.random.default_rng(0).standard_normal(size))[0])[::-1]
        found.append({"layer": layer.label, "top": values.tolist(), "trace": float(np.trace(block))})
    return found


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
