"""Resource guard: estimate the cost of dense P x P work and refuse it before it starts.

Dense curvature needs about ``P**2`` floats per matrix and two costs dominate its time:
building it from ``P`` batched Hessian-vector products, O(N P^2) for an MLP, and the
symmetric eigensolver, O(P^3). The constants below were measured on this project's
reference machine (2 cores, 24 GiB; MNIST 28x28, width 8, N = 1000, P = 6,370: 2.1 s to build
H, 6.5 s for float32 ``eigvalsh``) and are deliberately rounded up. The default budget fits
that machine: 12 GiB and 10 minutes. Override with ``$HESSIAN_MAX_GIB`` and
``$HESSIAN_MAX_SECONDS`` or by passing a :class:`Budget`.
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


class BudgetExceeded(RuntimeError):
    """Dense work that would not fit the budget; the message says what to change."""


@dataclass(frozen=True)
class Budget:
    max_gib: float = field(default_factory=lambda: float(os.environ.get("HESSIAN_MAX_GIB", 12)))
    max_seconds: float = field(default_factory=lambda: float(os.environ.get("HESSIAN_MAX_SECONDS", 600)))


@dataclass(frozen=True)
class Estimate:
    num_params: int
    batch_size: int
    gib: float
    seconds: float

    def describe(self) -> str:
        return f"P = {self.num_params:,}: about {self.gib:.2f} GiB and {self.seconds:.0f} s"


def estimate_dense(num_params: int, batch_size: int, num_layers: int = 2) -> Estimate:
    """Memory and time of building one dense P x P curvature matrix and its spectrum."""
    p = float(num_params)
    gib = DENSE_MATRICES_AT_PEAK * 4 * p * p / 2**30
    build = BUILD_SECONDS_PER_NP2 * batch_size * p * p * max(1, num_layers - 1)
    seconds = build + EIGH_SECONDS_PER_P3 * p**3
    return Estimate(num_params, batch_size, gib, seconds)


def largest_admitted_params(batch_size: int, budget: Budget | None = None) -> int:
    """The largest P whose dense spectrum the budget admits (bisection on the estimate)."""
    budget = budget or Budget()
    low, high = 1, 10_000_000
    while low < high:
        mid = (low + high + 1) // 2
        e = estimate_dense(mid, batch_size)
        if e.gib <= budget.max_gib and e.seconds <= budget.max_seconds:
            low = mid
        else:
            high = mid - 1
    return low


def check_dense(num_params: int, batch_size: int, num_layers: int = 2,
                budget: Budget | None = None, hint: str = "") -> Estimate:
    """Return the estimate, or raise :class:`BudgetExceeded` with it and what to change."""
    budget = budget or Budget()
    e = estimate_dense(num_params, batch_size, num_layers)
    if e.gib > budget.max_gib or e.seconds > budget.max_seconds:
        limit = largest_admitted_params(batch_size, budget)
        raise BudgetExceeded(
            f"The exact Hessian is refused: {e.describe()}, over the budget of "
            f"{budget.max_gib:g} GiB and {budget.max_seconds:g} s (largest P admitted: about "
            f"{limit:,}). Make the network narrower, use a smaller MNIST input size (14 or 7 "
            f"pixels a side) or a smaller Hessian batch{hint}; or raise the budget with "
            "$HESSIAN_MAX_GIB / $HESSIAN_MAX_SECONDS. The approximations still run.")
    return e
