r"""Matrix-free estimators over the fast Hessian-vector product (:meth:`Problem.hvp_batch`).

* ``lanczos``: top-k and bottom-k eigenvalues from one Krylov space by thick-restart Lanczos
  (Wu & Simon 2000; :mod:`core.methods.thick_restart`), in float64, each with its residual
  certificate, within the time budget. Lanczos keeps the whole Krylov space that power
  iteration throws away, so it converges far faster for the same number of products, and its
  bottom end shows negative curvature; ``ggn_lanczos``: the same on GGN-vector products (G is
  PSD: its top end only).
* ``hutchinson``: :math:`\mathrm{tr}(H) \approx \frac1m \sum_i v_i^\top H v_i`, Rademacher
  :math:`v_i` (Hutchinson 1989; Avron & Toledo 2011), all m products in batched calls;
  every sample is kept.
* ``hutchpp``: Hutch++ (Meyer, Musco, Musco & Woodruff 2021): exact trace on a sketched
  top subspace plus Hutchinson on the rest, error :math:`O(1/m)` instead of
  :math:`O(1/\sqrt m)`; ``xtrace``: XTrace (Epperly, Tropp & Webber 2024), the exchangeable
  version. Both from curvlinops, over our operator.
"""

from __future__ import annotations

import numpy as np
import torch

from ..problem import Problem
from ..results import Estimate


def scipy_operator(problem: Problem, dtype=np.float64, matrix: str = "hessian"):
    """H (or, with ``matrix="ggn"``, G) as a SciPy ``LinearOperator`` (float64 products by
    default). SciPy is imported here, not with the module: Hutchinson, which the app's first
    page needs, does not use it."""
    from scipy.sparse.linalg import LinearOperator

    torch_dtype = torch.float64 if dtype == np.float64 else torch.float32
    apply = problem.hvp_batch if matrix == "hessian" else problem.ggn_vp_batch

    def matmat(block):
        vectors = torch.as_tensor(np.ascontiguousarray(np.asarray(block).T), dtype=torch_dtype, device=problem.device)
        return apply(vectors).T.cpu().numpy()

    p = problem.num_params
    return LinearOperator((p, p), matvec=lambda v: matmat(np.reshape(v, (-1, 1)))[:, 0],
                          matmat=matmat, dtype=dtype)


def lanczos_subspace(k: int, num_params: int) -> int:
    """ARPACK's Lanczos basis size (the trajectory's gradient overlap uses ``eigsh``): ``4k`` vectors
    (at least ``2k + 1``, at most P).

    ARPACK's default (``max(2k + 1, 20)``) restarts so often that top and bottom 10 on the
    MNIST default took 1,779 products at tol 1e-6; with ``4k = 40`` vectors they took 367 at
    the same accuracy (measured side by side, see the README's benchmark), for ``4k P`` floats.
    """
    return min(num_params, max(2 * k + 1, 4 * k))


def lanczos(problem: Problem, opts: dict) -> Estimate:
    """Top-k and bottom-k eigenvalues from one Krylov space, by thick-restart Lanczos, each with
    its residual certificate (:mod:`core.methods.thick_restart`).

    ``tol``: a value has converged when its residual is at most ``tol`` times the largest |θ|.
    The basis and the Rayleigh-Ritz step are float64; the iteration's products are taken in the
    model's float type (float32 here: a product costs about a gradient), the certificates' in
    float64, so each holds for H itself.
    It runs until every wanted value has converged, ``max_products`` are spent, or the time
    budget is (:func:`core.budget.deadline`), and returns every value with its residual and
    whether it converged.
    """
    return _lanczos(problem, opts, problem.hvp_batch, opts["k"] if opts["bottom"] else 0)


def ggn_lanczos(problem: Problem, opts: dict) -> Estimate:
    """Top-k eigenvalues of the GGN by thick-restart Lanczos on GGN-vector products, certified.

    G is positive semi-definite, so its top end is the whole story of its outliers; ``tol`` and
    ``max_products`` as for :func:`lanczos`. The GGN's top eigenvalues without its P x P matrix.
    """
    return _lanczos(problem, opts, problem.ggn_vp_batch, 0)


#: a float64 curvature product's time in float32 products' (the certificates of a float32 model's
#: Lanczos run): measured 2.0 on the ResNet-18 example (six batched float64 products 18.4 s, one
#: float32 product 1.5 s, 2 cores), where reserving one float32 product per certificate overshot a
#: 240 s deadline by 29 s
FLOAT64_PRODUCT_COST = 2.0


def _lanczos(problem: Problem, opts: dict, apply, k_bottom: int) -> Estimate:
    from ..budget import deadline
    from .thick_restart import thick_restart_lanczos

    k = min(opts["k"], problem.num_params - 1)
    k_bottom = min(k_bottom, problem.num_params - 1 - k)
    dtype = next(problem.model.parameters()).dtype  # products in the model's float type: the float64
    found = thick_restart_lanczos(lambda rows: apply(rows.to(dtype)).double(),  # basis keeps its orthogonality
                                  problem.num_params, k, k_bottom, tol=opts["tol"],
                                  max_products=opts["max_products"], deadline=deadline(), seed=opts["seed"],
                                  device=problem.device, certify=apply,  # certificates: float64 products
                                  certify_cost=1.0 if dtype == torch.float64 else FLOAT64_PRODUCT_COST)
    bottom = dict(bottom=found.bottom, bottom_residuals=found.bottom_residuals,
                  bottom_converged=found.bottom_converged, bottom_vectors=found.bottom_vectors) if k_bottom else {}
    return Estimate(top=found.top, top_residuals=found.top_residuals, top_converged=found.top_converged, **bottom,
                    stopped=found.stopped, seconds_per_product=found.seconds_per_product,
                    top_vectors=found.top_vectors)


#: offset of our Hutchinson probes' seeds, so they never coincide with PyHessian's at one seed
HUTCHINSON_STREAM = 7_919_000_003 % 2**32  # below 2**32: torch keeps 32 bits of a CPU seed


def rademacher(count: int, dim: int, generator: torch.Generator, dtype=torch.float32) -> torch.Tensor:
    return torch.randint(0, 2, (count, dim), generator=generator).to(dtype) * 2 - 1


def hutchinson_samples(problem: Problem, count: int, seed: int) -> np.ndarray:
    """``count`` values :math:`v^\\top H v` for seeded Rademacher ``v`` (batched products).

    The stream is ours (seed offset by :data:`HUTCHINSON_STREAM`): PyHessian's ``trace()`` draws from torch's
    global generator, and at the same seed the two would share their probe vectors.
    """
    generator = torch.Generator().manual_seed(HUTCHINSON_STREAM + seed)
    vectors = rademacher(count, problem.num_params, generator).to(problem.device)
    products = problem.hvp_batch(vectors)
    return (vectors.double() * products.double()).sum(1).cpu().numpy()


def hutchinson(problem: Problem, opts: dict) -> Estimate:
    """Hutchinson trace estimate with Rademacher vectors, all products batched, samples kept."""
    samples = hutchinson_samples(problem, opts["samples"], opts["seed"])
    return Estimate(trace=float(samples.mean()), samples=samples, trace_standard_error=standard_error(samples))


def standard_error(samples: np.ndarray) -> float | None:
    """The standard error of the mean of ``samples``: their standard deviation (ddof 1) over sqrt(m).

    >>> standard_error(np.array([1.0, 3.0]))
    1.0
    """
    return float(np.std(samples, ddof=1) / np.sqrt(len(samples))) if len(samples) > 1 else None


class ProblemOperator:
    """H as a curvlinops ``PyTorchLinearOperator`` backed by the batched product."""

    def __new__(cls, problem: Problem):
        from curvlinops._torch_base import PyTorchLinearOperator

        class _Operator(PyTorchLinearOperator):
            SELF_ADJOINT = True

            def __init__(self):
                super().__init__([(problem.num_params,)], [(problem.num_params,)])

            def _matmat(self, X):
                return [problem.hvp_batch(X[0].T.contiguous()).T]

            @property
            def device(self):
                return torch.device("cpu")

            @property
            def dtype(self):
                return torch.float32

        return _Operator()


def curvlinops_trace(estimator, problem: Problem, matvecs: int, seed: int) -> float:
    torch.manual_seed(seed)
    return float(estimator(ProblemOperator(problem), num_matvecs=matvecs))


def _below_dimension(budget: int, problem: Problem) -> int:
    """The product budget (already a multiple the registry enforces), if fewer than P."""
    if budget >= problem.num_params:
        raise NotImplementedError(f"{budget} products are not fewer than P = {problem.num_params}; "
                                  "the exact trace is cheaper")
    return budget


def hutchpp(problem: Problem, opts: dict) -> Estimate:
    """Hutch++ trace estimate (curvlinops.hutchpp_trace) with ``samples`` products (a multiple of 3)."""
    from curvlinops import hutchpp_trace

    budget = _below_dimension(opts["samples"], problem)
    return Estimate(trace=curvlinops_trace(hutchpp_trace, problem, budget, opts["seed"]), matvec_budget=budget)


def xtrace(problem: Problem, opts: dict) -> Estimate:
    """XTrace trace estimate (curvlinops.xtrace) with ``samples`` products (an even number)."""
    from curvlinops import xtrace as curvlinops_xtrace

    budget = _below_dimension(opts["samples"], problem)
    return Estimate(trace=curvlinops_trace(curvlinops_xtrace, problem, budget, opts["seed"]), matvec_budget=budget)
