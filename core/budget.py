"""Resource guard: estimate every method's cost before it starts and refuse what is over budget.

A method's cost model is a field of its catalogue line (:mod:`core.methods.catalogue`): a
:class:`DenseCost` for the methods that build P x P matrices, a :class:`ProductCost` for those
whose time is their curvature-vector products. Both estimate a :class:`Cost` (memory and wall
time) from the method's resolved options and the problem's :class:`~core.shapes.Size`, known
before any training.

Dense curvature needs about ``P**2`` floats per matrix and two costs dominate its time:
building it from ``P'`` batched Hessian-vector products, O(N P P') for an MLP, and the
symmetric eigensolver, O(P'^3), where ``P' = P - known null`` (:attr:`~core.shapes.Size.solved_params`:
the first layer's weights on inputs constant over the batch span exact zero eigenvalues that the
build and the solve skip, :mod:`core.curvature.reduction`; on MNIST width 16, P' = 9,834 of
P = 12,730, whose cube is 0.46x P's). The head's columns take no products: its block is written
in closed form, O(N head^2) (:mod:`core.curvature.head`; 1,290 of the 1,370 columns of a digits CNN).
The constants below were measured on this project's
reference machine (2 cores, 24 GiB; MNIST 28x28, width 8, N = 1000, P = 6,370: 2.1 s to build
H, 6.5 s for float32 ``eigvalsh``) and are deliberately rounded up. The default budget fits
that machine: 12 GiB and 10 minutes. Override with ``$HESSIAN_MAX_GIB`` and
``$HESSIAN_MAX_SECONDS`` or by passing a :class:`Budget`.

Matrix-free methods are estimated as (curvature-vector products) x (seconds per product,
proportional to N P) x (the method's factor) plus the memory of the vectors they keep, with
the products an upper bound from their options (Lanczos stops at ``max_products``). An
iterative method that **spends the budget** (its cost model names the products of its first
useful answer, ``minimum``) is admitted when that first answer fits, runs with the deadline
:func:`spending` sets, and stops there with what has converged (:func:`deadline`). Measured
here on the MNIST default (N = 1,000, P = 6,370): 2.9 ms per single-vector product
(4.5e-10 s per N P) inside Lanczos; the constants below are rounded up.

Other architectures: a product costs in proportion to N times the multiply-adds of one forward
pass per example (for an MLP that is about P), times a factor for how the products are taken
(:data:`PATH_FACTORS`, measured on this machine with N = 1,000: a BatchNorm MLP on 28x28 MNIST,
P = 4,786, and a one-convolution CNN with 8 channels on 14x14 MNIST, P = 4,010, against the
plain MLP of the default).
"""

from __future__ import annotations

import contextvars
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable

from .shapes import Size

#: seconds per (N * P^2) for one dense curvature build (measured 5.2e-11, rounded up)
BUILD_SECONDS_PER_NP2 = 7e-11
#: seconds per (N * head^2) for the head's block in closed form (:mod:`core.curvature.head`, C GEMMs):
#: measured 2.3e-11 to 5.3e-11 (cross-entropy; a third of that for the squared error), rounded up
HEAD_SECONDS_PER_NH2 = 8e-11
#: seconds per P^3 for float32 eigvalsh (measured 2.5e-11, rounded up)
EIGH_SECONDS_PER_P3 = 3e-11
#: the eigensolve with the end eigenvectors against eigvalsh alone (MKL's): one tridiagonalisation
#: in SciPy's LAPACK then inverse iteration, measured 1.0-1.7 (1.67 at P = 6,370); from 6,000 rows
#: certified block Krylov, 1.5 at P' = 9,834 (:mod:`core.curvature.dense`); rounded up
EIGEN_ENDS_FACTOR = 1.8
#: live P x P float32 matrices at peak: H, G, and the solver's working copy
DENSE_MATRICES_AT_PEAK = 3
#: seconds per (N * P) for one curvature-vector product applied alone (measured 4.5e-10)
PRODUCT_SECONDS_PER_NP = 1e-9
#: a library's own product (PyHessian's double backward, BackPACK's extended backward) against ours
LIBRARY_PRODUCT_FACTOR = 4.0
#: our batched products (many vectors in one call) against one product applied alone
BATCHED_PRODUCT_FACTOR = 0.25
#: seconds per (P x Lanczos step) of full re-orthogonalisation, per step (SLQ)
REORTHOGONALISATION_SECONDS_PER_P = 2e-9

#: product path -> (factor on one product, factor on one column of a dense build), against the
#: hand-written MLP R-operator per (N x forward multiply-adds). The batched path's factors cover
#: the small CNNs whose products are dominated by what vmap moves, not by their multiply-adds
#: (a digits CNN with 4 channels, N = 500: a dense build 8x its multiply-add estimate). Measured: single products
#: 2.7e-10 s (fast MLP), 4.0e-10 (BatchNorm MLP, torch.func), 7.6e-10 (CNN, reverse-over-reverse),
#: so 1.5x and 2.9x; PRODUCT_SECONDS_PER_NP already holds 3.7x headroom over the fast 2.7e-10,
#: so 1.5 and 2 keep at least 2.6x. Dense build per column 5.4e-11, 1.1e-10 (vmap) and 1.6e-11 x
#: N x macs on the CNN (63.5 s for P = 4,010, N = 1,000, 21,168 multiply-adds), rounded up; the batched
#: product factor 8 (not 6) for the smallest CNNs (a digits CNN with 4 channels: Hutchinson 0.40 s
#: where 6 said 0.37).
PATH_FACTORS = {"fast": (1.0, 1.0), "batched": (8.0, 15.0), "single": (2.0, 15.0)}
#: seconds every call pays whatever its size (imports, graphs built once, the solver's set-up):
#: measured 0.1-0.27 s for the dense methods, SLQ, EKFAC and PyHessian's density on P ~ 1,000
#: problems (``python -m benchmarks.honesty``), 5-20 ms for our batched estimators; rounded up
DENSE_OVERHEAD_SECONDS, PRODUCT_OVERHEAD_SECONDS, LIBRARY_OVERHEAD_SECONDS = 0.5, 0.1, 0.5
#: seconds every parameterised layer adds to one product whatever its width (the autograd graph's
#: per-module work): measured 1.6e-4 s a layer for single products on digits MLPs of width 8 and
#: depth 1-100 (16 ms a product at depth 100, where the multiply-add term alone says 1.6 ms), rounded up
PRODUCT_SECONDS_PER_LAYER = 2e-4
#: a product timed once on the problem against the products a method then takes: measured 1.1 s
#: timed and 1.26-1.3 s a product in Hutchinson and Hutch++ (ResNet-18, 8 CIFAR-sized images), so 1.5
MEASURED_PRODUCT_HEADROOM = 1.5
class BudgetExceeded(RuntimeError):
    """Work that would not fit the budget; the message says what to change."""


def _budget_value(name: str, default: float) -> float:
    text = os.environ.get(name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (value > 0 and value != float("inf")):
        raise BudgetExceeded(f"${name}={text!r} is not allowed: a positive finite number")
    return value


#: a lower time budget in force for the current context (:func:`seconds_at_most`), or None
_SECONDS_CAP: contextvars.ContextVar[float | None] = contextvars.ContextVar("core_seconds_cap", default=None)


def _max_seconds() -> float:
    seconds = _budget_value("HESSIAN_MAX_SECONDS", 600)
    cap = _SECONDS_CAP.get()
    return seconds if cap is None else min(seconds, cap)


@contextmanager
def seconds_at_most(seconds: float):
    """Within the body, every :class:`Budget` made without arguments has at most ``seconds`` of
    wall time (never more than ``$HESSIAN_MAX_SECONDS``: a caller may only lower the budget).

    >>> with seconds_at_most(5):
    ...     Budget().max_seconds <= 5
    True
    """
    if not (isinstance(seconds, (int, float)) and 0 < seconds < float("inf")):
        raise BudgetExceeded(f"a time budget must be a positive finite number of seconds, not {seconds!r}")
    token = _SECONDS_CAP.set(float(seconds))
    try:
        yield
    finally:
        _SECONDS_CAP.reset(token)


@dataclass(frozen=True)
class Budget:
    """The resource budget: memory in GiB and wall time in seconds (from the environment, the
    time lowered within :func:`seconds_at_most`)."""

    max_gib: float = field(default_factory=lambda: _budget_value("HESSIAN_MAX_GIB", 12))
    max_seconds: float = field(default_factory=_max_seconds)



@dataclass(frozen=True)
class Cost:
    """What a computation is estimated to take: memory in GiB and wall time in seconds."""

    num_params: int
    batch_size: int
    gib: float
    seconds: float

    def describe(self) -> str:
        """In words a person reads at once: memory with thousands separators, time in the largest
        unit that keeps it above one (the seconds after it when it is not seconds).

        >>> Cost(75010, 1000, 118505.42, 1036615190.0).describe()
        'P = 75,010: about 118,505 GiB and 33 years (1,036,615,190 s)'
        >>> Cost(6370, 1000, 0.4528, 11.1).describe()
        'P = 6,370: about 0.45 GiB and 11 s'
        """
        return f"P = {self.num_params:,}: about {readable_gib(self.gib)} and {readable_seconds(self.seconds)}"

    def fits(self, budget: Budget) -> bool:
        return self.gib <= budget.max_gib and self.seconds <= budget.max_seconds


def readable_gib(gib: float) -> str:
    """``0.45 GiB``, ``12.3 GiB``, ``118,505 GiB``."""
    return f"{gib:.2f} GiB" if gib < 10 else f"{gib:,.1f} GiB" if gib < 1000 else f"{gib:,.0f} GiB"


def readable_seconds(seconds: float) -> str:
    """``11 s``; ``14 min (840 s)``; ``5.2 h (18,720 s)``; ``3.1 days (...)``; ``33 years (...)``."""
    for unit, size in (("years", 365.25 * 86400), ("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= 2 * size:
            value = seconds / size
            return f"{value:.2g} {unit} ({seconds:,.0f} s)" if value < 10 else f"{value:,.0f} {unit} ({seconds:,.0f} s)"
    return f"{seconds:.0f} s"


def per_product_seconds(size: Size) -> float:
    """Seconds of one curvature-vector product applied alone on a problem of ``size``: its
    multiply-adds (N x forward multiply-adds, times the product path's factor) plus a fixed
    share per parameterised layer (:data:`PRODUCT_SECONDS_PER_LAYER`); where one product was
    timed on the problem itself (the caller's own model), the larger of the two.

    >>> f"{per_product_seconds(Size(6370, 1000)):.2e}"
    '6.77e-03'
    """
    modelled = (PRODUCT_SECONDS_PER_NP * size.batch_size * size.forward_macs * PATH_FACTORS[size.path][0]
                + PRODUCT_SECONDS_PER_LAYER * size.num_layers)
    if size.measured_product_seconds is None:
        return modelled
    return max(modelled, MEASURED_PRODUCT_HEADROOM * size.measured_product_seconds)


def estimate_dense(size: Size, bytes_per_entry: int = 4, matrices: int = DENSE_MATRICES_AT_PEAK,
                   eigen_factor: float = 1.0) -> Cost:
    """Memory and time of building dense P x P curvature matrices and a spectrum.

    Args:
        bytes_per_entry: 4 for float32, 8 for float64.
        matrices: P x P matrices alive at the peak (3 for a spectrum; 4 for the H-vs-GGN
            block report, which holds H, G and float64 copies of blocks).
        eigen_factor: the eigensolve's cost against ``eigvalsh`` alone (:data:`EIGEN_ENDS_FACTOR`
            with the end eigenvectors).

    >>> round(estimate_dense(Size(6370, 1000)).seconds, 1)
    12.4
    """
    p = float(size.num_params)
    solved = float(size.solved_params)  # the rows solved: P minus the known null space
    columns = float(size.built_columns)  # the columns taking products: those less the head's
    gib = matrices * bytes_per_entry * p * p / 2**30
    per_column = size.forward_macs * PATH_FACTORS[size.path][1]
    build = BUILD_SECONDS_PER_NP2 * size.batch_size * columns * per_column * max(1, size.num_layers - 1)
    # each column also pays every layer's fixed share of a product, half a single product's (what
    # dominates small CNNs: a digits CNN with 4 channels, P = 690, N = 500, took 2.1-2.4 s where the
    # multiply-adds say 1.3)
    build += columns * size.num_layers * PRODUCT_SECONDS_PER_LAYER * 0.5 * PATH_FACTORS[size.path][0]
    build += HEAD_SECONDS_PER_NH2 * size.batch_size * float(size.head_params) ** 2
    return Cost(size.num_params, size.batch_size, gib,
                DENSE_OVERHEAD_SECONDS + build + eigen_factor * EIGH_SECONDS_PER_P3 * solved**3)


def largest_admitted(estimate: Callable[[Size], Cost], size: Size, budget: Budget, high: int = 100_000_000) -> int:
    """The largest P that ``estimate`` admits under ``budget``, for a network shaped like ``size``
    (its depth and product path kept, its forward cost scaled with P): one bisection for every
    "largest P admitted" a refusal states.

    >>> largest_admitted(estimate_dense, Size(6370, 1000), Budget(max_gib=12, max_seconds=600))
    26301
    """
    low = 1
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if estimate(size.scaled(mid)).fits(budget) else (low, mid - 1)
    return low


@dataclass(frozen=True)
class DenseCost:
    """The cost model of a method that builds P x P matrices and solves for their spectrum
    (:func:`estimate_dense`), with its end eigenvectors (``eigen_factor``); float64 when its
    ``float64`` option is set."""

    matrices: int = DENSE_MATRICES_AT_PEAK
    eigen_factor: float = EIGEN_ENDS_FACTOR

    def estimate(self, opts: dict, size: Size) -> Cost:
        return estimate_dense(size, 8 if opts.get("float64") else 4, self.matrices, self.eigen_factor)

    def refusal(self, label: str, cost: Cost, budget: Budget, largest: int) -> str:
        return (f"{label} is refused: {cost.describe()}, over the budget of {budget.max_gib:g} GiB and "
                f"{budget.max_seconds:g} s (largest P admitted: about {largest:,}). Make the network smaller (narrower, "
                "fewer channels; for a built-in net also a smaller MNIST input size, 14 or 7 pixels a side) or the "
                "Hessian batch smaller; or "
                "raise the budget with $HESSIAN_MAX_GIB / $HESSIAN_MAX_SECONDS. The approximations still run.")


def _no_seconds(opts: dict, num_params: int) -> float:
    return 0.0


_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("core_deadline", default=None)


@contextmanager
def spending(seconds: float):
    """Within the body, :func:`deadline` is ``seconds`` from now: what a method that spends the
    budget may use (the registry sets it around every method)."""
    token = _DEADLINE.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def deadline() -> float | None:
    """The ``time.monotonic()`` by which a budget-spending method must return, or None (no limit set)."""
    return _DEADLINE.get()


@dataclass(frozen=True)
class ProductCost:
    """The cost model of a method whose time is its curvature-vector products.

    Attributes:
        products: ``(options, P) -> products``, an upper bound (an iteration cap counts at the cap).
        vectors: ``(options, P) -> float32 P-vectors`` the method keeps at its peak (a float64
            vector counts twice).
        factor: one of its products against one of ours applied alone
            (:data:`BATCHED_PRODUCT_FACTOR`, :data:`LIBRARY_PRODUCT_FACTOR`).
        extra_seconds: ``(options, P) -> seconds`` beyond the products (re-orthogonalisation).
        minimum: ``(options, P) -> products`` of its first useful answer, for a method that spends
            the budget (it is admitted when that fits, and stops at :func:`deadline`); None for a
            method that runs to its products' end.
        overhead: seconds a call pays whatever its size.
    """

    products: Callable[[dict, int], float]
    vectors: Callable[[dict, int], float]
    factor: float = 1.0
    extra_seconds: Callable[[dict, int], float] = _no_seconds
    minimum: Callable[[dict, int], float] | None = None
    overhead: float = PRODUCT_OVERHEAD_SECONDS

    @property
    def spends_budget(self) -> bool:
        return self.minimum is not None

    def estimate(self, opts: dict, size: Size) -> Cost:
        """The upper bound: all the products its options allow."""
        return self._cost(self.products(opts, size.num_params), opts, size)

    def admission(self, opts: dict, size: Size) -> Cost:
        """What must fit the budget for it to start: its first answer when it spends the budget."""
        return self.estimate(opts, size) if self.minimum is None else self._cost(self.minimum(opts, size.num_params),
                                                                                   opts, size)

    def _cost(self, products: float, opts: dict, size: Size) -> Cost:
        p = size.num_params
        # batched products gain only where a chunk of vectors is one call (the fast and vmap paths);
        # on the single path each vector is its own backward pass
        factor = max(self.factor, 1.0) if size.path == "single" else self.factor
        seconds = self.overhead + products * per_product_seconds(size) * factor + self.extra_seconds(opts, p)
        return Cost(p, size.batch_size, self.vectors(opts, p) * 4 * p / 2**30, seconds)

    def refusal(self, label: str, cost: Cost, budget: Budget, largest: int) -> str:
        if self.spends_budget:
            return (f"{label} is refused: even its first answer needs {cost.describe()}, over the budget of "
                    f"{budget.max_gib:g} GiB and {budget.max_seconds:g} s (largest P admitted: about {largest:,}). Use a "
                    "smaller network or Hessian batch, or a smaller k; or raise the budget with $HESSIAN_MAX_GIB / "
                    "$HESSIAN_MAX_SECONDS. Within the budget it runs until its values converge or the budget is spent.")
        return (f"{label} is refused: {cost.describe()} (an upper bound from its options), over the budget of "
                f"{budget.max_gib:g} GiB and {budget.max_seconds:g} s (largest P admitted with these options: "
                f"about {largest:,}). Use a smaller network or Hessian batch, fewer samples or products; or raise "
                "the budget with $HESSIAN_MAX_GIB / $HESSIAN_MAX_SECONDS.")


def check(model: "DenseCost | ProductCost", label: str, opts: dict, size: Size, budget: Budget | None = None) -> Cost:
    """What must fit for ``model`` to start with ``opts`` on ``size`` (its whole estimate, or the
    first answer of a method that spends the budget), or :class:`BudgetExceeded` saying what to
    change (with the largest P the budget admits)."""
    budget = budget or Budget()
    admission = getattr(model, "admission", model.estimate)
    cost = admission(opts, size)
    if not cost.fits(budget):
        largest = largest_admitted(lambda s: admission(opts, s), size, budget)
        raise BudgetExceeded(model.refusal(label, cost, budget, largest))
    return cost


def check_dense(size: Size, bytes_per_entry: int = 4, matrices: int = DENSE_MATRICES_AT_PEAK,
                budget: Budget | None = None, label: str = "The exact Hessian") -> Cost:
    """:func:`estimate_dense`'s estimate, or :class:`BudgetExceeded` (the block report, the trajectory's eigh)."""
    return check(DenseCost(matrices), label, {"float64": bytes_per_entry == 8}, size, budget)


#: seconds per (epoch x training example x forward multiply-adds) of training with its per-epoch
#: evaluation; measured 4e-10 to 1e-9 (MLP 28x28 widths 8-64, BatchNorm MLP, CNNs on 14x14 and
#: 28x28 MNIST, 8,000 examples), rounded up
TRAIN_SECONDS_PER_MAC = 2e-9
#: seconds of overhead per optimizer step (measured 1.2-1.3 ms on small models), rounded up
TRAIN_SECONDS_PER_STEP = 3e-3
#: seconds per optimizer step and parameterised layer (forward, backward and the update of one more
#: module): measured 1.2e-4 on digits MLPs of width 8 and depth 1-200, rounded up
TRAIN_SECONDS_PER_LAYER_STEP = 2.5e-4


def estimate_training(epochs: int, examples: int, macs: float, steps: int, snapshots: int = 0,
                      layers: int = 2) -> Cost:
    """Time of training: every epoch passes each example forward and backward and evaluates the
    training set once, every step pays a fixed overhead and one per parameterised layer, every kept
    snapshot evaluates the training set again. Memory is small next to the curvature (weights, one
    batch's activations).

    >>> round(estimate_training(10, 8000, 6360, 1250).seconds, 1)
    5.4
    """
    seconds = (TRAIN_SECONDS_PER_MAC * macs * examples * (epochs + snapshots / 3)
               + (TRAIN_SECONDS_PER_STEP + TRAIN_SECONDS_PER_LAYER_STEP * layers) * steps)
    return Cost(0, examples, 0.0, seconds)


def check_training(epochs: int, examples: int, macs: float, steps: int, snapshots: int = 0,
                   budget: Budget | None = None, layers: int = 2) -> Cost:
    """Return :func:`estimate_training`'s estimate, or raise :class:`BudgetExceeded` saying what to change."""
    budget = budget or Budget()
    e = estimate_training(epochs, examples, macs, steps, snapshots, layers)
    if e.seconds > budget.max_seconds:
        raise BudgetExceeded(
            f"Training is refused: about {e.seconds:.0f} s for {epochs} epochs over {examples:,} examples "
            f"({macs:,.0f} multiply-adds each, {steps:,} steps), over the budget of {budget.max_seconds:g} s. Train "
            "fewer epochs, on a smaller training subset, a larger mini-batch or a smaller network; or raise the "
            "budget with $HESSIAN_MAX_SECONDS.")
    return e
