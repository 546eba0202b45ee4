"""Resource guard: estimate every method's cost before it starts and refuse what is over budget.

Dense curvature needs about ``P**2`` floats per matrix and two costs dominate its time:
building it from ``P`` batched Hessian-vector products, O(N P^2) for an MLP, and the
symmetric eigensolver, O(P^3). The constants below were measured on this project's
reference machine (2 cores, 24 GiB; MNIST 28x28, width 8, N = 1000, P = 6,370: 2.1 s to build
H, 6.5 s for float32 ``eigvalsh``) and are deliberately rounded up. The default budget fits
that machine: 12 GiB and 10 minutes. Override with ``$HESSIAN_MAX_GIB`` and
``$HESSIAN_MAX_SECONDS`` or by passing a :class:`Budget`.

Matrix-free methods are estimated as (curvature-vector products) x (seconds per product,
proportional to N P) plus the memory of the vectors they keep (:func:`estimate_method`), with
the products an upper bound from their options (Lanczos stops at ``max_products``). Measured
here on the MNIST default (N = 1,000, P = 6,370): 2.9 ms per single-vector product
(4.5e-10 s per N P) inside Lanczos; the constants below are rounded up.

Other architectures (:class:`Work`): a product costs in proportion to N times the multiply-adds
of one forward pass per example (for an MLP that is about P), times a factor for how the
products are taken (:data:`PATH_FACTORS`, measured on this machine with N = 1,000: a
BatchNorm MLP on 28x28 MNIST, P = 4,786, and a one-convolution CNN with 8 channels on 14x14
MNIST, P = 4,010, against the plain MLP of the default).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

#: seconds per (N * P^2) for one dense curvature build (measured 5.2e-11, rounded up)
BUILD_SECONDS_PER_NP2 = 7e-11
#: seconds per P^3 for float32 eigvalsh (measured 2.5e-11, rounded up)
EIGH_SECONDS_PER_P3 = 3e-11
#: live P x P float32 matrices at peak: H, G, and the solver's working copy
DENSE_MATRICES_AT_PEAK = 3
#: seconds per (N * P) for one curvature-vector product applied alone (measured 4.5e-10)
PRODUCT_SECONDS_PER_NP = 1e-9
#: a library's own product (PyHessian's double backward, BackPACK's extended backward) against ours
LIBRARY_PRODUCT_FACTOR = 4.0


#: product path -> (factor on one product, factor on one column of a dense build), against the
#: hand-written MLP R-operator per (N x forward multiply-adds). Measured: single products
#: 2.7e-10 s (fast MLP), 4.0e-10 (BatchNorm MLP, torch.func), 7.6e-10 (CNN, reverse-over-reverse),
#: so 1.5x and 2.9x; PRODUCT_SECONDS_PER_NP already holds 3.7x headroom over the fast 2.7e-10,
#: so 1.5 and 2 keep at least 2.6x. Dense build per column 5.4e-11, 1.1e-10 (vmap) and 1.6e-11 x
#: N x macs on the CNN (63.5 s for P = 4,010, N = 1,000, 21,168 multiply-adds), rounded up.
PATH_FACTORS = {"fast": (1.0, 1.0), "batched": (1.5, 2.5), "single": (2.0, 15.0)}
#: the generic products batch with ``vmap`` while one vector's activations over the batch
#: (N x activations per example, in floats) stay under this; above it reverse-over-reverse
#: products one vector at a time are faster (measured: 4M floats, CNN on 14x14 MNIST: 16 ms a
#: vector against 30-40 ms with vmap; 70k floats, CNN on 8x8 digits: 0.34 ms against 1.1 ms)
VMAP_MAX_FLOATS = 2**20


def product_path(fast: bool, batch_size: int, activations: int) -> str:
    """How curvature products are taken: ``fast`` (the MLP R-operator), ``batched``
    (``vmap(jvp(grad))``) or ``single`` (a kept gradient graph, one vector at a time).

    >>> product_path(False, 1000, 3932), product_path(False, 100, 700), product_path(True, 1000, 28)
    ('single', 'batched', 'fast')
    """
    if fast:
        return "fast"
    return "batched" if batch_size * activations <= VMAP_MAX_FLOATS else "single"


@dataclass(frozen=True)
class Work:
    """What one curvature-vector product costs: the forward multiply-adds per example and the
    product path (:func:`product_path`). ``None`` in the functions below means a plain MLP
    (multiply-adds = P, fast path)."""

    macs: float
    path: str = "fast"

    def single(self) -> float:
        return self.macs * PATH_FACTORS[self.path][0]

    def column(self) -> float:
        return self.macs * PATH_FACTORS[self.path][1]


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


@dataclass(frozen=True)
class Budget:
    """The resource budget: memory in GiB and wall time in seconds (from the environment)."""

    max_gib: float = field(default_factory=lambda: _budget_value("HESSIAN_MAX_GIB", 12))
    max_seconds: float = field(default_factory=lambda: _budget_value("HESSIAN_MAX_SECONDS", 600))


@dataclass(frozen=True)
class Estimate:
    num_params: int
    batch_size: int
    gib: float
    seconds: float

    def describe(self) -> str:
        return f"P = {self.num_params:,}: about {self.gib:.2f} GiB and {self.seconds:.0f} s"


def estimate_dense(num_params: int, batch_size: int, num_layers: int = 2, bytes_per_entry: int = 4,
                   matrices: int = DENSE_MATRICES_AT_PEAK, work: Work | None = None) -> Estimate:
    """Memory and time of building dense P x P curvature matrices and a spectrum.

    Args:
        bytes_per_entry: 4 for float32, 8 for float64.
        matrices: P x P matrices alive at the peak (3 for a spectrum; 4 for the H-vs-GGN
            block report, which holds H, G and float64 copies of blocks).
    """
    p = float(num_params)
    gib = matrices * bytes_per_entry * p * p / 2**30
    per_column = work.column() if work is not None else p
    build = BUILD_SECONDS_PER_NP2 * batch_size * p * per_column * max(1, num_layers - 1)
    seconds = build + EIGH_SECONDS_PER_P3 * p**3
    return Estimate(num_params, batch_size, gib, seconds)


def largest_admitted_params(batch_size: int, budget: Budget | None = None, bytes_per_entry: int = 4,
                            matrices: int = DENSE_MATRICES_AT_PEAK, work: Work | None = None,
                            num_params: int | None = None) -> int:
    """The largest P whose dense spectrum the budget admits (bisection on the estimate; the
    forward cost per example scales with P as it does for the configured network)."""
    budget = budget or Budget()
    low, high = 1, 10_000_000
    while low < high:
        mid = (low + high + 1) // 2
        scaled = Work(work.macs * mid / num_params, work.path) if work is not None and num_params else None
        e = estimate_dense(mid, batch_size, 2, bytes_per_entry, matrices, scaled)
        if e.gib <= budget.max_gib and e.seconds <= budget.max_seconds:
            low = mid
        else:
            high = mid - 1
    return low


def check_dense(num_params: int, batch_size: int, num_layers: int = 2,
                budget: Budget | None = None, hint: str = "", bytes_per_entry: int = 4,
                matrices: int = DENSE_MATRICES_AT_PEAK, work: Work | None = None) -> Estimate:
    """Return the estimate, or raise :class:`BudgetExceeded` with it and what to change."""
    budget = budget or Budget()
    e = estimate_dense(num_params, batch_size, num_layers, bytes_per_entry, matrices, work)
    if e.gib > budget.max_gib or e.seconds > budget.max_seconds:
        limit = largest_admitted_params(batch_size, budget, bytes_per_entry, matrices, work, num_params)
        raise BudgetExceeded(
            f"The exact Hessian is refused: {e.describe()}, over the budget of "
            f"{budget.max_gib:g} GiB and {budget.max_seconds:g} s (largest P admitted: about "
            f"{limit:,}). Make the network narrower (fewer channels), use a smaller MNIST input size (14 or 7 "
            f"pixels a side) or a smaller Hessian batch{hint}; or raise the budget with "
            "$HESSIAN_MAX_GIB / $HESSIAN_MAX_SECONDS. The approximations still run.")
    return e


def estimate_method(name: str, opts: dict, num_params: int, batch_size: int, num_layers: int = 2,
                    work: Work | None = None) -> Estimate:
    """Memory and time of running method ``name`` with ``opts`` on a problem of this size.

    Products are upper bounds read from the options; the memory counts the P-vectors the method
    keeps (float64 for our Lanczos and SLQ, float32 elsewhere) and, for the batched products, one
    chunk of up to 256 of them (rough: the chunk's activations, N x width each, are not counted).

    >>> estimate_method("hutchinson", {"samples": 100}, 6370, 1000).seconds < 5
    True
    """
    p, n = float(num_params), float(batch_size)
    per_product = PRODUCT_SECONDS_PER_NP * n * (work.single() if work is not None else p)
    vector = 4 * p
    if name in ("exact_hessian", "exact_ggn"):
        return estimate_dense(num_params, batch_size, num_layers, 8 if opts.get("float64") else 4, work=work)
    if name == "lanczos":
        products = opts["max_products"] * (2 if opts["bottom"] else 1)
        seconds, gib = products * per_product, 8 * p * 4 * opts["k"] / 2**30
    elif name in ("hutchinson", "hutchpp", "xtrace"):
        products = opts["samples"]
        seconds = products * per_product / 4  # batched products are about 4x cheaper each
        gib = (3 * products + min(products, 256)) * vector / 2**30  # the vectors, their products, one chunk
    elif name == "pyhessian_top_k":
        products = opts["k"] * opts["max_iter"]
        seconds, gib = products * per_product * LIBRARY_PRODUCT_FACTOR, 2 * opts["k"] * vector / 2**30
    elif name == "pyhessian_hutchinson":
        products = opts["samples"]
        seconds, gib = products * per_product * LIBRARY_PRODUCT_FACTOR, 4 * vector / 2**30
    elif name in ("pyhessian_density", "slq"):
        steps = min(opts["iterations"], num_params) * opts["runs"]
        seconds = steps * (per_product * (LIBRARY_PRODUCT_FACTOR if name.startswith("pyhessian") else 1)
                           + 2e-9 * p * min(opts["iterations"], num_params))  # re-orthogonalisation
        gib = 2 * min(opts["iterations"], num_params) * 8 * p / 2**30
    else:  # BackPACK and EKFAC: a few extended backward passes; diagonal or Kronecker factors
        seconds = 20 * per_product * LIBRARY_PRODUCT_FACTOR  # a rough bound: measured 3-9 backward passes
        gib = 16 * vector / 2**30
    return Estimate(num_params, batch_size, gib, seconds)


#: seconds per (epoch x training example x forward multiply-adds) of training with its per-epoch
#: evaluation; measured 4e-10 to 1e-9 (MLP 28x28 widths 8-64, BatchNorm MLP, CNNs on 14x14 and
#: 28x28 MNIST, 8,000 examples), rounded up
TRAIN_SECONDS_PER_MAC = 2e-9
#: seconds of overhead per optimizer step (measured 1.2-1.3 ms on small models), rounded up
TRAIN_SECONDS_PER_STEP = 3e-3


def estimate_training(epochs: int, examples: int, macs: float, steps: int, snapshots: int = 0) -> Estimate:
    """Time of training: every epoch passes each example forward and backward and evaluates the
    training set once, every step pays a fixed overhead, every kept snapshot evaluates the training
    set again. Memory is small next to the curvature (weights, one batch's activations).

    >>> round(estimate_training(10, 8000, 6360, 1250).seconds, 1)
    4.8
    """
    seconds = (TRAIN_SECONDS_PER_MAC * macs * examples * (epochs + snapshots / 3)
               + TRAIN_SECONDS_PER_STEP * steps)
    return Estimate(0, examples, 0.0, seconds)


def check_training(epochs: int, examples: int, macs: float, steps: int, snapshots: int = 0,
                   budget: Budget | None = None) -> Estimate:
    """Return :func:`estimate_training`'s estimate, or raise :class:`BudgetExceeded` saying what to change."""
    budget = budget or Budget()
    e = estimate_training(epochs, examples, macs, steps, snapshots)
    if e.seconds > budget.max_seconds:
        raise BudgetExceeded(
            f"Training is refused: about {e.seconds:.0f} s for {epochs} epochs over {examples:,} examples "
            f"({macs:,.0f} multiply-adds each, {steps:,} steps), over the budget of {budget.max_seconds:g} s. Train "
            "fewer epochs, on a smaller training subset, a larger mini-batch or a smaller network; or raise the "
            "budget with $HESSIAN_MAX_SECONDS.")
    return e


def check_method(name: str, label: str, opts: dict, num_params: int, batch_size: int, num_layers: int = 2,
                 budget: Budget | None = None, work: Work | None = None) -> Estimate:
    """Return :func:`estimate_method`'s estimate, or raise :class:`BudgetExceeded` saying what to change."""
    if name in ("exact_hessian", "exact_ggn"):
        return check_dense(num_params, batch_size, num_layers, budget,
                           bytes_per_entry=8 if opts.get("float64") else 4, work=work)
    budget = budget or Budget()
    e = estimate_method(name, opts, num_params, batch_size, num_layers, work)
    if e.gib > budget.max_gib or e.seconds > budget.max_seconds:
        low, high = 1, 100_000_000
        while low < high:  # the largest P this method admits with these options
            mid = (low + high + 1) // 2
            scaled = Work(work.macs * mid / num_params, work.path) if work is not None else None
            m = estimate_method(name, opts, mid, batch_size, num_layers, scaled)
            low, high = (mid, high) if m.gib <= budget.max_gib and m.seconds <= budget.max_seconds else (low, mid - 1)
        raise BudgetExceeded(
            f"{label} is refused: {e.describe()} (an upper bound from its options), over the budget of "
            f"{budget.max_gib:g} GiB and {budget.max_seconds:g} s (largest P admitted with these options: "
            f"about {low:,}). Use a smaller network or Hessian batch, fewer samples or products; or raise "
            "the budget with $HESSIAN_MAX_GIB / $HESSIAN_MAX_SECONDS.")
    return e
