"""PyHessian (Yao et al. 2020, "PyHessian: Neural networks through the lens of the Hessian").

The library itself, as the paper used it: ``pyhessian.hessian(model, criterion, data=(x, y),
cuda=False)`` on a private copy of the model (its constructor leaves a create-graph gradient
on the parameters). Its Hessian-vector product reuses the double-backward graph.

* top-k eigenvalues: power iteration with deflation, stopping when the relative change of
  the Rayleigh quotient drops below ``tol`` (PyHessian's defaults: maxIter 100, tol 1e-3).
* trace: Hutchinson with Rademacher vectors; we pass ``tol=-inf`` so exactly ``samples``
  vectors are drawn, and keep every :math:`v^\\top H v` so the sample-size curve and its
  spread come from one run.
* density: stochastic Lanczos quadrature. PyHessian 0.1's ``density()`` calls ``torch.eig``,
  removed from PyTorch; :func:`torch_eig_shim` is the one place this is handled (see there).
"""

from __future__ import annotations

import contextlib
import copy

import numpy as np
import torch

from .. import progress
from ..problem import Problem
from ..results import Estimate


@contextlib.contextmanager
def torch_eig_shim():
    """Provide the removed ``torch.eig`` while PyHessian's ``density()`` runs, then remove it.

    ``density()`` calls ``torch.eig(T, eigenvectors=True)`` on the symmetric tridiagonal
    Lanczos matrix ``T`` and reads ``a_[:, 0]`` (real parts) and ``b_`` (eigenvectors as
    columns). For symmetric ``T`` the eigenpairs are real, so ``torch.linalg.eigh`` gives
    exactly what the old call returned: we return its eigenvalues in an ``(n, 2)`` tensor with
    zero imaginary parts. Nothing in site-packages is edited, and ``torch.eig`` is restored
    (to absent) on exit, even on error.
    """

    def eig(matrix, eigenvectors=False):
        values, vectors = torch.linalg.eigh(matrix)
        pairs = torch.stack([values, torch.zeros_like(values)], dim=1)
        return pairs, (vectors if eigenvectors else torch.empty(0))

    had = hasattr(torch, "eig")
    previous = getattr(torch, "eig", None)
    torch.eig = eig
    try:
        yield
    finally:
        if had:
            torch.eig = previous
        else:
            del torch.eig


def _pyhessian(problem: Problem):
    from pyhessian import hessian

    model = copy.deepcopy(problem.model)
    return hessian(model, problem.criterion(), data=(problem.x, problem.targets), cuda=False)


class _Counter:
    """Counts PyHessian's Hessian-vector products by wrapping the function it calls."""

    def __init__(self):
        self.count = 0

    @contextlib.contextmanager
    def counting(self):
        import sys

        import pyhessian  # noqa: F401  (the package re-exports the class under the module's name)

        module = sys.modules["pyhessian.hessian"]

        original = module.hessian_vector_product

        def counted(*args, **kwargs):
            self.count += 1
            progress.tick()
            return original(*args, **kwargs)

        module.hessian_vector_product = counted
        try:
            yield self
        finally:
            module.hessian_vector_product = original


def pyhessian_top_k(problem: Problem, opts: dict) -> Estimate:
    r"""Top-k eigenvalues by power iteration with deflation (pyhessian.hessian.eigenvalues).

    It spends the time budget rather than being refused on its upper bound (``k x max_iter``
    products): two of PyHessian's products are timed on this problem first (the faster counts:
    the first also pays one-time set-up), and ``max_iter`` is
    lowered to what the budget left affords (:func:`core.budget.deadline`), which ``stopped`` says.
    Each value gets the certificate its iterate gives, :math:`\lVert Hv - \theta v\rVert` for the
    unit vector PyHessian returns (one batched product of ours for all k, not counted among
    PyHessian's products): some eigenvalue lies within it. The iterates are kept as its
    eigenvectors (``top_vectors``, in PyHessian's order: by |λ|, deflated one after another).
    """
    import sys
    import time

    from ..budget import deadline

    torch.manual_seed(opts["seed"])
    h = _pyhessian(problem)
    max_iter, stopped, per_product = opts["max_iter"], "converged or max_iter", None
    end = deadline()
    if end is not None:
        module = sys.modules["pyhessian.hessian"]
        probe = [torch.randn(p.size()) for p in h.params]
        timings = []
        for _ in range(2):  # the first product also pays one-time set-up: the faster of two
            start = time.monotonic()
            module.hessian_vector_product(h.gradsH, h.params, probe)
            timings.append(time.monotonic() - start)
        per_product = min(timings)
        affordable = int((end - time.monotonic()) / (per_product * opts["k"] * 1.2))
        if affordable < max_iter:
            max_iter, stopped = max(affordable, 2), "time budget"
    torch.manual_seed(opts["seed"])
    with _Counter().counting() as counter:
        values, vectors = h.eigenvalues(maxIter=max_iter, tol=opts["tol"], top_n=opts["k"])
    flat = torch.stack([torch.cat([t.detach().reshape(-1) for t in vector]) for vector in vectors]).double()
    flat = flat / flat.norm(dim=1, keepdim=True)
    theta = torch.tensor(values, dtype=torch.float64)
    residuals = (problem.hvp_batch(flat.to(problem.device)).double().cpu() - theta[:, None] * flat).norm(dim=1)
    problem.hvp_count -= len(flat)  # the certificate's products are ours, not PyHessian's
    return Estimate(top=np.array(values), top_residuals=residuals.numpy(), matvecs=counter.count,
                    backward_passes=counter.count, order_as_returned=list(map(float, values)), stopped=stopped,
                    seconds_per_product=per_product, top_vectors=flat.float().numpy())


def pyhessian_hutchinson(problem: Problem, opts: dict) -> Estimate:
    """Hutchinson trace with Rademacher vectors (pyhessian.hessian.trace), every sample kept."""
    torch.manual_seed(opts["seed"])
    h = _pyhessian(problem)
    with _Counter().counting() as counter:
        samples = h.trace(maxIter=opts["samples"], tol=float("-inf"))
    samples = np.asarray(samples, dtype=np.float64)
    from .matrix_free import standard_error

    return Estimate(trace=float(samples.mean()), matvecs=counter.count, backward_passes=counter.count,
                    samples=samples, trace_standard_error=standard_error(samples))


def pyhessian_density(problem: Problem, opts: dict) -> Estimate:
    """Spectral density by stochastic Lanczos quadrature (pyhessian.hessian.density + eig shim)."""
    torch.manual_seed(opts["seed"])
    h = _pyhessian(problem)
    iterations = min(opts["iterations"], problem.num_params)
    with _Counter().counting() as counter, torch_eig_shim():
        nodes, weights = h.density(iter=iterations, n_v=opts["runs"])
    nodes, weights = np.asarray(nodes, dtype=np.float64), np.asarray(weights, dtype=np.float64)
    from .slq import smoothed_density

    return Estimate(trace=float(problem.num_params * (nodes * weights).sum(1).mean()),
                    top=np.array([nodes.max()]), matvecs=counter.count, backward_passes=counter.count,
                    density=smoothed_density(nodes, weights))
