"""The method registry: name -> how to compute a :class:`~core.results.Result` from a problem.

The contract (after BackPACK's extension table and curvlinops' checked contracts):

* a method is a function ``(problem, options) -> Estimate`` that returns only what it
  estimated (:class:`~core.results.Estimate`);
* its catalogue line (:class:`MethodSpec`, in :mod:`core.methods.catalogue`) is everything
  else there is to know about it: who it is (label, family and so its colour, the matrix it
  approximates), its option defaults and their rules against P, its cost model
  (:mod:`core.budget`), where it runs (the caller or a worker process), whether it runs on a
  GPU, what it yields and which layers it handles. Nothing outside the catalogue lists methods
  by name; a test fails when a line leaves a fact unset;
* :func:`compute_result` validates the options, checks the budget, times the call, measures
  memory, counts products and builds the :class:`~core.results.Result`.

Method functions are named as ``"module:function"`` and imported when first run, so the
registry can be listed (by the app's sidebar, the CLI) without importing torch.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Callable

from ..budget import Budget, BudgetExceeded, Cost, DenseCost, ProductCost, check, spending
from ..memory import peak_memory
from ..results import Estimate, Result
from ..shapes import Size

if TYPE_CHECKING:  # pragma: no cover
    from ..problem import Problem

#: the Hutchinson sample count (and product budget of Hutch++ / XTrace) unless one is chosen
DEFAULT_SAMPLES = 100


#: what a failed Result's error says between the method's label and why it cannot run on this problem
CANNOT_RUN = "cannot run here: "


def cannot_run_reason(error: str | None) -> str | None:
    """Why a method cannot run on this problem (a layer it has no rule for, non-finite parameters,
    ...), or None when ``error`` is something else (a budget refusal, no error).

    >>> cannot_run_reason("BackPACK KFLR cannot run here: no rule for BatchNorm1d layers (bn1)")
    'no rule for BatchNorm1d layers (bn1)'
    """
    return error.split(CANNOT_RUN, 1)[1] if error and CANNOT_RUN in error else None


#: the largest count any option may ask for (samples, iterations, products, k)
MAX_COUNT = 100_000


class MethodError(ValueError):
    """Unknown method or bad option; the message says what is allowed."""


@dataclass(frozen=True)
class Family:
    """A family of methods: who makes them, and the hues its members are drawn in (Okabe & Ito
    2008 colour-blind safe hues, shaded within a family), given out in registration order."""

    name: str
    label: str
    hues: tuple[str, ...]


@dataclass(frozen=True)
class SizeRule:
    """An option's upper limit given P, and what to say when it is passed."""

    option: str
    limit: Callable[[int], int]
    words: str


@dataclass(frozen=True, kw_only=True)
class MethodSpec:
    """One registered method: every fact about it.

    Attributes:
        name: registry key (CLI and cache key); ``label``: what people read.
        family: a key of :data:`FAMILIES` (its colour is the family's next free hue).
        matrix: ``hessian`` or ``ggn``: what it approximates.
        function: ``"module:function"`` relative to :mod:`core.methods`.
        defaults: option name -> default (the type of the default is the option's type).
        cost: its cost model (:class:`~core.budget.DenseCost` or :class:`~core.budget.ProductCost`),
            checked against the budget before it starts.
        runs_in: ``caller`` (in the calling process: the dense methods, whose eigensolver uses
            every core and whose matrices the block report reuses) or ``worker`` (a worker
            process may take it when cores are free, :mod:`core.parallel`).
        gpu: its code keeps its tensors on the problem's device; else it runs on the CPU only.
        size_rules: limits on its options given P (:class:`SizeRule`).
        yields: what it estimates, among ``top``, ``bottom``, ``trace``, ``spectrum``, ``density``,
            ``vectors`` (its top eigenvectors; a page computes only the methods that yield what it shows).
        reference: the paper (and library) it comes from.
        handles: the layers it works on (on others it says "cannot run here" and why).
        stochastic: draws random vectors or labels (seeded by its ``seed`` option).
        budget_multiple: ``samples`` is rounded to a multiple of this (at least one multiple).
        finds_largest_magnitude: its "top" eigenvalues are those of largest |λ| (power
            iteration), so it is scored against the exact eigenvalues of largest magnitude.
        first_answer: options that make a cheaper answer a page can show first while its full
            options compute in the background (:func:`core.pipeline.split_first_answers`); empty:
            none.
        colour: set by :func:`register` from the family.
    """

    name: str
    label: str
    family: str
    matrix: str
    function: str
    cost: DenseCost | ProductCost
    runs_in: str
    gpu: bool
    size_rules: tuple[SizeRule, ...]
    yields: tuple[str, ...]
    reference: str
    handles: str
    defaults: dict = field(default_factory=dict)
    stochastic: bool = False
    budget_multiple: int = 1
    finds_largest_magnitude: bool = False
    first_answer: dict = field(default_factory=dict)
    colour: str = ""

    def load(self) -> Callable:
        module, function = self.function.split(":")
        return getattr(importlib.import_module(f"{__package__}.{module}"), function)

    @property
    def dense(self) -> bool:
        """Whether it builds P x P matrices."""
        return isinstance(self.cost, DenseCost)


#: the families, in the order they are listed (filled by :func:`register_family`)
FAMILIES: dict[str, Family] = {}
REGISTRY: dict[str, MethodSpec] = {}
#: the registry's values every catalogue line must set (a test checks none is empty)
RUNS_IN = ("caller", "worker")
MATRICES = ("hessian", "ggn")
QUANTITIES = ("top", "bottom", "trace", "spectrum", "density", "vectors")


def register_family(name: str, label: str, hues: tuple[str, ...]) -> Family:
    """Add a :class:`Family` (one line per family in :mod:`core.methods.catalogue`)."""
    FAMILIES[name] = Family(name, label, tuple(hues))
    return FAMILIES[name]


def register(spec: MethodSpec) -> MethodSpec:
    """Add ``spec`` to :data:`REGISTRY` (one line per method in :mod:`core.methods.catalogue`),
    checked: a known family with a hue left, a known matrix, place and quantities."""
    if spec.name in REGISTRY:
        raise ValueError(f"method {spec.name!r} registered twice")
    if spec.family not in FAMILIES:
        raise ValueError(f"method {spec.name!r}: unknown family {spec.family!r}; register it first")
    if spec.runs_in not in RUNS_IN or spec.matrix not in MATRICES or not set(spec.yields) <= set(QUANTITIES):
        raise ValueError(f"method {spec.name!r}: runs_in one of {RUNS_IN}, matrix one of {MATRICES}, "
                         f"yields among {QUANTITIES}")
    if not set(spec.first_answer) <= set(spec.defaults):
        raise ValueError(f"method {spec.name!r}: its first_answer sets options it does not have: "
                         f"{sorted(set(spec.first_answer) - set(spec.defaults))}")
    used = sum(1 for s in REGISTRY.values() if s.family == spec.family)
    hues = FAMILIES[spec.family].hues
    if used >= len(hues):
        raise ValueError(f"family {spec.family!r} has no hue left for {spec.name!r}: add one to its line")
    REGISTRY[spec.name] = replace(spec, colour=hues[used])
    return REGISTRY[spec.name]


def get_spec(name: str) -> MethodSpec:
    """The spec of ``name``, or :class:`MethodError` listing the registered names."""
    if name not in REGISTRY:
        raise MethodError(f"unknown method {name!r}; choose from: {', '.join(REGISTRY)}")
    return REGISTRY[name]


def yielding(methods, quantity: str) -> list[str]:
    """The ``methods`` that estimate ``quantity`` (``top``, ``trace``, ``spectrum``, ...).

    >>> yielding(["lanczos", "hutchinson", "kfac"], "trace")
    ['hutchinson', 'kfac']
    """
    return [m for m in methods if quantity in get_spec(m).yields]


def round_to_multiple(value: int, multiple: int) -> int:
    """``value`` to the nearest multiple of ``multiple``, at least ``multiple``.

    >>> round_to_multiple(100, 3), round_to_multiple(1, 3), round_to_multiple(100, 1)
    (99, 3, 100)
    """
    return max(multiple, multiple * round(value / multiple))


def options_for(name: str, samples: int | None = None) -> dict:
    """The options a user's Hutchinson sample count sets for ``name`` (empty if none).

    >>> options_for("hutchpp", 100), options_for("lanczos", 100)
    ({'samples': 99}, {})
    """
    spec = get_spec(name)
    if samples is None or "samples" not in spec.defaults:
        return {}
    return {"samples": round_to_multiple(int(samples), spec.budget_multiple)}


def _coerce(name: str, key: str, value, kind: type):
    try:
        if kind is bool:  # True/False, 1/0 or their words; any other number is not a switch
            if isinstance(value, bool):
                return value
            if str(value).strip().lower() not in ("true", "false", "0", "1"):
                raise ValueError
            return str(value).strip().lower() in ("true", "1")
        if kind is int:
            if float(value) != int(float(value)):
                raise ValueError
            return int(float(value))
        if kind is float:
            return float(value)
        return str(value)
    except (TypeError, ValueError, OverflowError):
        raise MethodError(f"{name}: option {key}={value!r} must be a {kind.__name__}") from None


#: the largest seed a method option takes (the configuration's own seed has the same bound)
MAX_SEED = 2**31 - 1


def resolve_options(name: str, options: dict | None = None) -> dict:
    """The method's defaults updated with ``options``, each checked for name, type and sign.

    ``samples`` is rounded to the method's ``budget_multiple``. The result is sorted by key
    (it is part of the cache key).

    >>> resolve_options("hutchpp", {"samples": "100"})
    {'samples': 99, 'seed': 0}
    """
    spec = get_spec(name)
    resolved = dict(spec.defaults)
    for key, value in (options or {}).items():
        if key not in spec.defaults:
            allowed = ", ".join(spec.defaults) or "none"
            raise MethodError(f"{name}: unknown option {key!r}; options are: {allowed}")
        kind = type(spec.defaults[key])
        value = _coerce(name, key, value, kind)
        if kind in (int, float) and not (value > 0 or (key in ("tol", "seed") and value >= 0)):
            raise MethodError(f"{name}: option {key}={value!r} must be positive")
        if kind is int and key != "seed" and value > MAX_COUNT:
            raise MethodError(f"{name}: option {key}={value!r} must be at most {MAX_COUNT:,}")
        if key == "seed" and value > MAX_SEED:  # torch and numpy take 32 bits of a seed or fail on 64
            raise MethodError(f"{name}: option seed={value!r} must be at most {MAX_SEED:,}")
        if kind is float and not value < float("inf"):
            raise MethodError(f"{name}: option {key}={value!r} must be finite")
        resolved[key] = value
    if "samples" in resolved:
        resolved["samples"] = round_to_multiple(resolved["samples"], spec.budget_multiple)
    return dict(sorted(resolved.items()))


def check_for_size(name: str, opts: dict, num_params: int) -> None:
    """Refuse options that make no sense for a problem with ``num_params`` parameters.

    >>> check_for_size("lanczos", {"k": 10}, 8)
    Traceback (most recent call last):
    ...
    core.methods.registry.MethodError: lanczos: option k=10 is not allowed here: fewer than P (P = 8)
    """
    for rule in get_spec(name).size_rules:
        if rule.option in opts and opts[rule.option] > rule.limit(num_params):
            raise MethodError(f"{name}: option {rule.option}={opts[rule.option]} is not allowed here: {rule.words} "
                              f"(P = {num_params:,})")


def estimate(name: str, opts: dict, size: Size) -> Cost:
    """The cost of running ``name`` with resolved ``opts`` on a problem of ``size`` (its catalogue
    line's cost model).

    >>> estimate("hutchinson", resolve_options("hutchinson"), Size(6370, 1000)).seconds < 5
    True
    """
    return get_spec(name).cost.estimate(opts, size)


def check_budget(name: str, opts: dict, size: Size, budget=None, label: str | None = None) -> Cost:
    """:func:`estimate`, or :class:`~core.budget.BudgetExceeded` saying what to change."""
    spec = get_spec(name)
    return check(spec.cost, label or spec.label, opts, size, budget)


def _numerical_failures() -> tuple[type[BaseException], ...]:
    """The errors a linear-algebra routine raises when it does not converge (torch's and numpy's
    ``LinAlgError``, ARPACK's): a method that meets one on a problem could not run there."""
    import numpy as np
    import torch
    from scipy.sparse.linalg import ArpackError

    return torch.linalg.LinAlgError, np.linalg.LinAlgError, ArpackError


def compute_result(name: str, problem: "Problem", options: dict | None = None, raise_refusal: bool = False) -> Result:
    """Run a registered method on ``problem``: validated, budget-checked, timed, measured.

    A budget refusal (unless ``raise_refusal``: then :class:`BudgetExceeded` propagates, so a
    cache does not keep it), a layer the method cannot handle, or a library's eigensolver that
    does not converge on this problem becomes a failed :class:`Result` that says why; any other
    error propagates (it is a bug). The method runs within the
    budget's time (:func:`core.budget.spending`): one that spends the budget stops there.
    """
    spec = get_spec(name)
    opts = resolve_options(name, options)
    check_for_size(name, opts, problem.num_params)
    if problem.device.type != "cpu" and not spec.gpu:
        ready = ", ".join(s.name for s in REGISTRY.values() if s.gpu)
        return Result.failed(name, spec.family, f"{spec.label} {CANNOT_RUN}it runs on the CPU only "
                             f"(GPU-ready: {ready}); use device=cpu for it", opts)
    if not problem.finite:
        return Result.failed(name, spec.family, f"{spec.label} {CANNOT_RUN}the loss or its gradient is not "
                             "finite at these parameters (training diverged: lower the learning rate)", opts)
    try:
        budget = Budget()
        check(spec.cost, spec.label, opts, problem.size, budget)
        function = spec.load()
        start_count = problem.hvp_count
        start = time.perf_counter()
        with peak_memory() as memory, spending(budget.max_seconds):
            estimate: Estimate = function(problem, opts)
        seconds = time.perf_counter() - start
    except BudgetExceeded as refusal:
        if raise_refusal:
            raise
        return Result.failed(name, spec.family, str(refusal), opts)
    except NotImplementedError as unsupported:
        return Result.failed(name, spec.family, f"{spec.label} {CANNOT_RUN}{unsupported}", opts)
    except _numerical_failures() as failure:  # a library's solver that gives up: that method's line, not the page's
        return Result.failed(name, spec.family, f"{spec.label} {CANNOT_RUN}its eigensolver failed on this problem "
                             f"({type(failure).__name__}: {str(failure).splitlines()[0][:160]})", opts)
    if estimate.matvecs is None:
        estimate.matvecs = problem.hvp_count - start_count
    return Result.from_estimate(estimate, method=name, family=spec.family, matrix=spec.matrix,
                                seconds=seconds, peak_memory_bytes=memory["bytes"], options=opts)
